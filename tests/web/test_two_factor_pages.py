"""Two-factor sign-in through the web app: enrolment with the QR code and its recovery codes, the code asked as the
sign-in's second step (a wrong one refused beside the field with what was typed kept), and the sign-in history."""
from __future__ import annotations

import time

import pyotp

from tests.web.conftest import PASSWORD

CODE = "3105200"                 # สำนักงานเขตมีนบุรี: no other browser test signs it in (its 2FA stays on)
CODE_LABEL = "รหัสจากแอปยืนยันตัวตน"


def _wrong(secret: str) -> str:
    """A 6-digit code that is none of the codes the app could show around now."""
    near = {pyotp.TOTP(secret).at(time.time() + 30 * n) for n in range(-2, 3)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in near)


def _fits(browser) -> None:
    assert browser.driver.execute_script("return document.documentElement.scrollWidth") <= 375


def test_enrol_sign_in_with_the_code_and_see_the_history(browser, stack):
    """A unit sets up two-factor sign-in (QR code, a wrong code refused, the app's code accepted, ten recovery codes
    shown once), signs out, signs in with the password and the app's code, then with a recovery code at 375 px, and
    its sign-in history lists those sign-ins, the failed code and the enrolment."""
    stack.activate(CODE)
    browser.sign_in(CODE)
    browser.go("/account/2fa", shot="2fa-off")
    assert "ปิดอยู่" in browser.find("#two-factor-status").text
    browser.press("ตั้งค่าการยืนยันตัวตนสองขั้นตอน", shot="2fa-scan")
    assert browser.find(".qr img").get_attribute("src").startswith("data:image/svg+xml")
    secret = browser.find("code.secret").text.replace(" ", "")             # shown in groups of four
    browser.width(375).shot("2fa-scan-375")
    _fits(browser)
    browser.width(1280)
    wrong = _wrong(secret)
    browser.fill(CODE_LABEL, wrong).submit(shot="2fa-wrong-code")
    assert "ไม่ใช่รหัสปัจจุบันของแอป" in browser.find(".field.has-error .field-error").text
    assert browser.field(CODE_LABEL).get_attribute("value") == wrong               # kept as typed
    browser.fill(CODE_LABEL, pyotp.TOTP(secret).now()).submit(shot="2fa-recovery-codes")
    codes = [c.text.strip() for c in browser.all("#recovery-codes code")]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "แสดงรหัสเพียงครั้งเดียว" in browser.text()
    browser.width(375).shot("2fa-recovery-codes-375")
    _fits(browser)
    browser.width(1280)

    browser.sign_out().go("/signin")
    browser.fill("ชื่อผู้ใช้", CODE).fill("รหัสผ่าน", PASSWORD).submit(shot="2fa-second-step")
    assert browser.path.startswith("/signin/code") and CODE in browser.text()
    browser.fill(CODE_LABEL, wrong).submit(shot="2fa-second-step-refused")
    assert "รหัสไม่ถูกต้อง หมดอายุแล้ว หรือเคยใช้ไปแล้ว" in browser.find(".field.has-error .field-error").text
    assert browser.field(CODE_LABEL).get_attribute("value") == wrong
    # the next step's code: inside the window of one step, and after the step the enrolment used
    browser.fill(CODE_LABEL, pyotp.TOTP(secret).at(time.time() + 30)).submit()
    assert "/signin" not in browser.path, browser.text()

    browser.sign_out().width(375).go("/signin")
    browser.fill("ชื่อผู้ใช้", CODE).fill("รหัสผ่าน", PASSWORD).submit(shot="2fa-second-step-375")
    _fits(browser)
    browser.fill(CODE_LABEL, codes[0].lower()).submit()
    assert "/signin" not in browser.path, browser.text()
    browser.go("/account/security", shot="2fa-history-375")
    _fits(browser)
    browser.width(1280).go("/account/security", shot="2fa-history")
    rows = [r.text for r in browser.all("#history tbody tr")]
    assert "เข้าสู่ระบบ" in rows[0] and "ด้วยรหัสยืนยันตัวตนสองขั้นตอน" in rows[0]
    assert "ใช้รหัสกู้คืนเข้าสู่ระบบ" in rows[1] and "เหลือรหัสกู้คืน 9 รหัส" in rows[1]
    assert sum("เข้าสู่ระบบไม่สำเร็จ" in r and "รหัสยืนยันตัวตนไม่ถูกต้อง" in r for r in rows) == 1
    assert any("เปิดใช้การยืนยันตัวตนสองขั้นตอน" in r for r in rows)
    assert any("127.0.0.1" in r for r in rows)
    browser.go("/account/2fa")
    status = browser.find("#two-factor-status").text
    assert "เปิดใช้อยู่" in status and "9" in status                             # one recovery code used
