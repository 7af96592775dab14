"""The web app over the real write side (in process, fakeredis) with two-factor sign-in required: a supervisor without
it is taken through enrolment at sign-in and comes out signed in; next time the code is asked as a second step."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pyotp
import pytest

from services.web.app import create_app as create_web
from services.web.client import Api
from tests.api.test_auth import GOOD, activate, env  # noqa: F401  (env: the fixture)


class Forwarded:
    """A requests-like session that hands the web app's API calls to the submission app's test client."""

    def __init__(self, client):
        self.client = client

    def request(self, method, url, json=None, params=None, headers=None, timeout=None, data=None, files=None):
        parts = urlsplit(url)
        rv = self.client.open(parts.path, method=method, json=json, query_string=params, headers=headers or {})

        class Response:
            status_code, headers, content, reason = rv.status_code, dict(rv.headers), rv.data, rv.status

            @staticmethod
            def json():
                return rv.get_json()
        return Response


@pytest.fixture
def web(env, clock):  # noqa: F811
    ext = env["app"].extensions["ncc"]
    ext["settings"] = ext["settings"].but(two_factor_required=True)
    api = Api("http://submission", "http://tracker", session=Forwarded(env["client"]))
    app = create_web(env["settings"], api=api, clock=clock, config={"WTF_CSRF_ENABLED": False})
    return app.test_client()


def test_required_enrolment_through_the_web_app(web, env, clock):  # noqa: F811
    """Password right, no 2FA: the enrolment page (QR code), a wrong code refused beside the field, the right one
    shows the recovery codes and signs in; then the sign-in asks for the code as its second step."""
    activate(env, "sup01")
    first = web.post("/signin", data={"username": "sup01", "password": GOOD})
    assert first.status_code == 302 and first.headers["Location"].endswith("/signin/enrol")
    page = web.get("/signin/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and "บทบาทของท่านต้องเข้าสู่ระบบด้วยวิธีนี้" in page
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    refused = web.post("/signin/enrol", data={"code": "12345"}).get_data(as_text=True)
    assert "ไม่ใช่รหัสปัจจุบันของแอป" in refused and 'value="12345"' in refused
    codes_page = web.post("/signin/enrol", data={"code": pyotp.TOTP(secret).at(clock().timestamp())})
    assert codes_page.headers["Cache-Control"] == "no-store"
    assert len(re.findall(r"<li><code>[A-Z0-9]{5}-[A-Z0-9]{5}</code></li>", codes_page.get_data(as_text=True))) == 10
    assert web.get("/account/2fa").status_code == 200                     # signed in
    web.post("/signout")
    clock.advance(seconds=30)
    second = web.post("/signin", data={"username": "sup01", "password": GOOD})
    assert second.headers["Location"].endswith("/signin/code")
    assert "sup01" in web.get("/signin/code").get_data(as_text=True)
    done = web.post("/signin/code", data={"code": pyotp.TOTP(secret).at(clock().timestamp())})
    assert done.status_code == 302 and "/signin" not in done.headers["Location"]
    history = web.get("/account/security").get_data(as_text=True)
    assert history.count("ด้วยรหัสยืนยันตัวตนสองขั้นตอน") == 2 and "ยังไม่ได้ตั้งค่าการยืนยันตัวตนสองขั้นตอน" in history


def test_a_unit_turns_it_on_and_off_on_the_account_page(web, env, clock):  # noqa: F811
    """A unit (optional for it) sets it up on /account/2fa and turns it off again: a wrong password is refused beside
    its field, the right one with a current code turns it off."""
    activate(env, "3100100")
    assert web.post("/signin", data={"username": "3100100", "password": GOOD}).headers["Location"].endswith("/")
    assert "ปิดอยู่" in web.get("/account/2fa").get_data(as_text=True)
    web.post("/account/2fa/start")
    page = web.get("/account/2fa").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    assert web.post("/account/2fa", data={"code": pyotp.TOTP(secret).at(clock().timestamp())}).status_code == 200
    on = web.get("/account/2fa").get_data(as_text=True)
    assert "เปิดใช้อยู่" in on and "ปิดการยืนยันตัวตนสองขั้นตอน" in on
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock().timestamp())
    refused = web.post("/account/2fa/off", data={"password": "not the password", "code": code}).get_data(as_text=True)
    assert "รหัสผ่านไม่ถูกต้อง" in refused and f'value="{code}"' in refused
    off = web.post("/account/2fa/off", data={"password": GOOD, "code": code})
    assert off.status_code == 302
    assert "ปิดอยู่" in web.get("/account/2fa").get_data(as_text=True)
    history = web.get("/account/security").get_data(as_text=True)
    assert "ปิดการยืนยันตัวตนสองขั้นตอน" in history and "รหัสผ่านไม่ถูกต้อง ขณะปิดการยืนยันตัวตนสองขั้นตอน" in history
