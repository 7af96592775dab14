"""A person's e-mail address through the web app and the run command's mail sink: a bad address is refused beside
the field with what was typed kept; a good one gets a Thai confirmation e-mail whose link confirms it."""
from __future__ import annotations

import re

CODE = "3105000"                 # สำนักงานเขตบางกะปิ: no other browser test uses it


def test_a_person_sets_an_address_and_confirms_it_from_the_mail(browser, stack):
    """Set an address on the account page, read the confirmation mail the sink received, open its link, press the
    button: the address is confirmed, and the account page (at 375 px too) says so."""
    stack.activate(CODE)
    browser.sign_in(CODE)
    browser.go("/account/email", shot="email-empty")
    assert "ยังไม่มี" in browser.text()
    browser.fill("ที่อยู่อีเมล", "saraban bangkapi@example")
    browser.submit("main form[method=post] button.primary", shot="email-refused")
    error = browser.find(".field.has-error .field-error").text
    assert "ที่อยู่อีเมลมีอักขระที่ใช้ไม่ได้" in error, error
    assert browser.field("ที่อยู่อีเมล").get_attribute("value") == "saraban bangkapi@example"   # kept as typed
    address = "saraban.bangkapi@example.go.th"
    browser.fill("ที่อยู่อีเมล", address)
    browser.submit("main form[method=post] button.primary", shot="email-pending")
    assert f"ส่งลิงก์ยืนยันไปที่ {address} แล้ว" in browser.text()
    assert "รอการยืนยัน" in browser.find("#email-status").text
    [mail] = stack.mail(address)
    assert mail["Subject"] == "โปรดยืนยันที่อยู่อีเมลสำหรับระบบแผนปฏิบัติการป้องกันการทุจริต"
    body = mail.get_content()
    assert body.startswith("เรียน สำนักงานเขตบางกะปิ") and CODE in body
    link = re.search(r"http://\S+/account/email/confirm\?token=\S+", body).group(0)
    assert link.startswith(stack.web)
    browser.sign_out()                          # the link works without being signed in
    browser.go(link, shot="email-confirm")
    browser.press("ยืนยันที่อยู่อีเมลนี้", shot="email-confirmed")
    assert f"ยืนยันที่อยู่อีเมล {address} เรียบร้อยแล้ว" in browser.find("#email-confirmed").text
    browser.sign_in(CODE)
    browser.width(375)
    browser.go("/account/email", shot="email-confirmed-375")
    status = browser.find("#email-status").text
    assert address in status and "ยืนยันแล้ว" in status and "รอการยืนยัน" not in status
    assert browser.driver.execute_script("return document.documentElement.scrollWidth") <= 375
    status, me, _ = stack.api("GET", "submission", "/auth/me", CODE)
    assert status == 200 and me["email"] == address and me["confirmed"]
