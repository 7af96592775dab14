"""Sessions in a real browser: activation with the policy explained, sign-in, refusals in Thai, CSRF, headers."""
from __future__ import annotations

from conftest import PASSWORD, http


def test_activation_then_home(browser, stack):
    """A district clerk activates with the operator's code, chooses a password and lands on the unit's home."""
    code = "3100408"
    browser.go(f"/activate?username={code}", shot="activate-empty")
    browser.fill("รหัสเปิดใช้งาน", stack.codes[code]).fill("รหัสผ่านใหม่", "short")
    browser.fill("รหัสผ่านใหม่อีกครั้ง", "short")
    browser.submit()
    browser.shot("activate-refused")
    assert "อย่างน้อย 10 ตัวอักษร" in browser.text()               # the reason next to the field, in Thai
    assert browser.field("ชื่อผู้ใช้").get_attribute("value") == code    # what was typed is kept
    browser.fill("รหัสเปิดใช้งาน", stack.codes[code]).fill("รหัสผ่านใหม่", PASSWORD).fill("รหัสผ่านใหม่อีกครั้ง", PASSWORD)
    browser.submit()
    browser.shot("unit-home-first")
    assert browser.path == f"/units/{code}"
    stack.passwords[code] = PASSWORD


def test_wrong_password_in_thai(browser, stack):
    """A wrong password gets one Thai sentence, not a status code, and the username stays typed."""
    stack.activate("3100500")
    browser.go("/signin").fill("ชื่อผู้ใช้", "3100500").fill("รหัสผ่าน", "not the password at all")
    browser.submit()
    browser.shot("signin-wrong")
    assert "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in browser.text()
    assert browser.field("ชื่อผู้ใช้").get_attribute("value") == "3100500"


def test_csrf_refused_and_nothing_written(stack):
    """A form post without its CSRF token is refused with a Thai page and no event is written."""
    before = len(stack.events("3100800"))
    status, body, _ = http("POST", f"{stack.web}/signin", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400
    assert "ไม่ได้บันทึก" in body.decode()
    assert len(stack.events("3100800")) == before


def test_security_headers(stack):
    """Every page carries a Content-Security-Policy without any outside origin, and the usual headers."""
    status, body, headers = http("GET", f"{stack.web}/signin")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "https://" not in body.decode() and "http://" not in body.decode().replace(stack.web, "")


def test_weak_password_reason_from_the_api_in_thai(browser, stack):
    """The API's reason for refusing a guessable password is shown in Thai next to the field; the code stays typed."""
    code = "3101200"
    browser.go(f"/activate?username={code}")
    browser.fill("รหัสเปิดใช้งาน", stack.codes[code]).fill("รหัสผ่านใหม่", "password12345")
    browser.fill("รหัสผ่านใหม่อีกครั้ง", "password12345")
    browser.submit()
    browser.shot("activate-weak-password")
    field = browser.find(".field.has-error")
    assert "รหัสผ่าน" in field.text and ("ใช้กันทั่วไป" in field.text or "เดาได้ง่าย" in field.text)
    assert browser.field("รหัสเปิดใช้งาน").get_attribute("value") == stack.codes[code]
    assert browser.path.startswith("/activate")


def test_throttled_sign_in_says_when_to_retry_in_thai(browser, stack):
    """After five wrong passwords the API throttles the username; the page says in Thai how many seconds to wait."""
    stack.activate("3101300")
    for _ in range(12):
        browser.go("/signin").fill("ชื่อผู้ใช้", "3101300").fill("รหัสผ่าน", "wrong password again")
        browser.submit()
        if "วินาที" in browser.text():
            break
    browser.shot("signin-throttled")
    assert "กรุณาลองใหม่อีกครั้งใน" in browser.text() and "วินาที" in browser.text()


def test_password_change_and_sign_out(browser, stack):
    """A person changes the password (the old one stops working), signs out, and signs in with the new one."""
    stack.activate("3101400")
    browser.sign_in("3101400")
    browser.go("/account/password", shot="password-change")
    new = "ต้นมะม่วง riverside 2568 ลมหนาว"
    browser.fill("รหัสผ่านปัจจุบัน", PASSWORD).fill("รหัสผ่านใหม่", new).fill("รหัสผ่านใหม่อีกครั้ง", new)
    browser.submit()
    assert "เปลี่ยนรหัสผ่านเรียบร้อยแล้ว" in browser.text()
    browser.press("ออกจากระบบ")
    assert browser.path.startswith("/signin") and "ออกจากระบบเรียบร้อยแล้ว" in browser.text()
    status, _, _ = http("POST", f"{stack.submission}/api/v1/auth/token", {"username": "3101400", "password": PASSWORD})
    assert status == 401
    browser.sign_in("3101400", new)
    assert browser.path == "/units/3101400"
    assert browser.find(".person").text.startswith("สำนักเทศกิจ (3101400)")     # the account's name from sign-in


def test_language_switch(browser, stack):
    """The English switch turns the page to English and back; Thai is the default."""
    browser.go("/signin")
    assert "เข้าสู่ระบบ" in browser.find("h1").text
    browser.driver.find_element("link text", "English").click()
    assert browser.find("h1").text == "Sign in" and browser.path.startswith("/signin")
    browser.driver.find_element("link text", "ภาษาไทย").click()
    assert browser.find("h1").text == "เข้าสู่ระบบ"


def test_expired_session_says_so(stack):
    """When the token's lifetime has passed, the next page sends the person to sign in with a Thai notice."""
    from datetime import datetime, timedelta, timezone

    from services.web.app import create_app
    from shared.config import Settings

    class Clock:
        now = datetime.now(timezone.utc)

        def __call__(self):
            return self.now

    clock = Clock()
    stack.activate("3101500")
    app = create_app(Settings(submission_url=stack.submission, tracker_url=stack.tracker),
                     clock=clock, config={"WTF_CSRF_ENABLED": False})
    client = app.test_client()
    answer = client.post("/signin", data={"username": "3101500", "password": PASSWORD})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/")
    assert client.get("/units/3101500").status_code == 200
    clock.now += timedelta(hours=9)                                 # past the 8-hour token
    answer = client.get("/units/3101500")
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "หมดเวลาการใช้งานแล้ว" in page


def test_session_cookie_flags(stack):
    """The session cookie (holding the API token) is HttpOnly and SameSite=Lax always, and Secure over HTTPS."""
    from services.web.app import create_app
    from shared.config import Settings

    app = create_app(Settings(submission_url=stack.submission, tracker_url=stack.tracker),
                     config={"WTF_CSRF_ENABLED": False})
    stack.activate("3101600")
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        client = app.test_client()
        answer = client.post("/signin", data={"username": "3101600", "password": PASSWORD}, base_url=base)
        cookie = answer.headers["Set-Cookie"]
        assert answer.status_code == 302 and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
