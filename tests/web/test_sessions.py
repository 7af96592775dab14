"""Sessions in a real browser: activation with the policy explained, sign-in, refusals in Thai, CSRF, headers."""
from __future__ import annotations

from conftest import PASSWORD, http


def test_activation_then_home(browser, stack):
    """A district clerk activates with the operator's code, chooses a password and lands on the unit's home."""
    code = "1000010"
    browser.go(f"/activate?username={code}", shot="activate-empty")
    browser.fill("รหัสเปิดใช้งาน", stack.codes[code]).fill("รหัสผ่านใหม่", "short")
    browser.fill("รหัสผ่านใหม่อีกครั้ง", "short")
    browser.find("main form button[type=submit]").click()
    browser.shot("activate-refused")
    assert "อย่างน้อย 10 ตัวอักษร" in browser.text()               # the reason next to the field, in Thai
    assert browser.field("ชื่อผู้ใช้").get_attribute("value") == code    # what was typed is kept
    browser.fill("รหัสเปิดใช้งาน", stack.codes[code]).fill("รหัสผ่านใหม่", PASSWORD).fill("รหัสผ่านใหม่อีกครั้ง", PASSWORD)
    browser.find("main form button[type=submit]").click()
    browser.shot("unit-home-first")
    assert browser.path == f"/units/{code}"
    stack.passwords[code] = PASSWORD


def test_wrong_password_in_thai(browser, stack):
    """A wrong password gets one Thai sentence, not a status code, and the username stays typed."""
    stack.activate("1000020")
    browser.go("/signin").fill("ชื่อผู้ใช้", "1000020").fill("รหัสผ่าน", "not the password at all")
    browser.find("main form button[type=submit]").click()
    browser.shot("signin-wrong")
    assert "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in browser.text()
    assert browser.field("ชื่อผู้ใช้").get_attribute("value") == "1000020"


def test_csrf_refused_and_nothing_written(stack):
    """A form post without its CSRF token is refused with a Thai page and no event is written."""
    before = len(stack.events("1000030"))
    status, body, _ = http("POST", f"{stack.web}/signin", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400
    assert "ไม่ได้บันทึก" in body.decode()
    assert len(stack.events("1000030")) == before


def test_security_headers(stack):
    """Every page carries a Content-Security-Policy without any outside origin, and the usual headers."""
    status, body, headers = http("GET", f"{stack.web}/signin")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "https://" not in body.decode() and "http://" not in body.decode().replace(stack.web, "")
