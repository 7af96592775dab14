"""Identity and access: activation, tokens, revocation, throttling, security events, the role matrix."""
import hashlib
import io
import json
import logging
import re

import pytest

from services.submission import handlers
from services.submission.cli import issue
from services.submission.service import fingerprint
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.keys import REGISTRY_STREAM, security_stream
from shared.streams import read_events
from tests.conftest import dump_log

BASE = "/api/v1"
GOOD = "ทดสอบ-รหัสผ่าน-ยาวพอ-42"
OTHER_GOOD = "another Long passphrase 2564"


@pytest.fixture
def env(app_factory, fake_redis, settings, clock, tmp_path):
    """Token identity (the default) on both services; accounts for every role with activation codes."""
    app = app_factory(fake_redis, identify=None)
    service = app.extensions["ncc"]["service"]
    op = {"username": "op-test", "role": "operator"}
    for username, role in [("3100100", "unit"), ("3100200", "unit"), ("sup01", "supervisor"),
                           ("sup02", "supervisor"), ("nacc01", "nacc"), ("aud01", "auditor"), ("op01", "operator")]:
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, r=role: handlers.create_account(
            s, {"username": u, "role": r, "demo": False}, ctx), actor=op, fp=fingerprint("T", username, {}))
    with app.app_context():
        codes = {row["username"]: row["activation_code"] for row in issue(
            ["3100100", "3100200", "sup01", "sup02", "nacc01", "aud01", "op01"], "op-test", tmp_path / "codes.csv")}
    reader = create_reader(settings, redis=fake_redis, clock=clock)
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    return {"app": app, "client": app.test_client(), "reader": reader.test_client(), "codes": codes,
            "redis": fake_redis, "settings": settings}


def activate(env, username, password=GOOD, code=None):
    return env["client"].post(f"{BASE}/auth/activate", json={
        "username": username, "activation_code": code or env["codes"][username], "password": password})


def sign_in(env, username, password=GOOD):
    return env["client"].post(f"{BASE}/auth/token", json={"username": username, "password": password})


def bearer(env, username):
    assert activate(env, username).status_code == 201
    rv = sign_in(env, username)
    assert rv.status_code == 200, rv.json
    return {"Authorization": f"Bearer {rv.json['access_token']}"}


def test_activation_then_sign_in(env):
    """A code activates once, sets the password, and the account signs in to a Bearer token."""
    rv = activate(env, "3100100")
    assert rv.status_code == 201 and rv.json["role"] == "unit" and rv.json["unit"] == "3100100"
    again = activate(env, "3100100")
    assert again.status_code == 401 and "already used" in again.json["message"]
    token = sign_in(env, "3100100").json
    assert token["token_type"] == "Bearer" and token["role"] == "unit" and token["expires_in"] == 8 * 3600
    assert "name" in token                                 # the account's display name (none given here)
    status = env["reader"].get(f"{BASE}/units/3100100/status",
                               headers={"Authorization": f"Bearer {token['access_token']}"})
    assert status.status_code == 200


def test_no_sign_in_before_activation_nor_with_the_unit_code(env):
    """The old system's credentials (username = code = password) never work."""
    assert sign_in(env, "3100100", "3100100").status_code == 401
    assert sign_in(env, "3100100", "").status_code == 422


@pytest.mark.parametrize("username, code_of, expected", [
    ("3100100", "3100200", 401), ("3100100", None, 401), ("nobody", "3100100", 401)],
    ids=["someone-elses-code", "made-up-code", "unknown-user"])
def test_wrong_codes_do_not_reveal_accounts(env, username, code_of, expected):
    """Wrong code, made-up code, unknown user: the same 401 and message."""
    code = env["codes"][code_of] if code_of else "AAAAA-BBBBB-CCCCC-DDDDD"
    rv = activate(env, username, code=code)
    assert rv.status_code == expected and rv.json["message"] == (
        "the username or activation code is wrong, has expired or was already used")


def test_expired_code(env, clock):
    """A code older than its lifetime (7 days) is refused."""
    clock.advance(days=8)
    assert activate(env, "sup01").status_code == 401


@pytest.mark.parametrize("password, why", [
    ("short", "at least 10"), ("password1234", "common passwords"), ("x3100100yyyy", "username"),
    ("aaaaaaaaaaaa", "too easy")], ids=["short", "common", "contains-code", "repetitive"])
def test_password_policy(env, password, why):
    """Weak passwords are refused with the rule; the code still works afterwards."""
    rv = activate(env, "3100100", password)
    assert rv.status_code == 422 and why in rv.json["message"]
    assert activate(env, "3100100").status_code == 201


def test_wrong_password_same_answer_as_unknown_user(env):
    """Wrong password and unknown user: one 401, one message."""
    activate(env, "3100100")
    a, b = sign_in(env, "3100100", "wrong password!!"), sign_in(env, "ghost", "wrong password!!")
    assert a.status_code == b.status_code == 401 and a.json["message"] == b.json["message"]


def test_tampered_expired_and_revoked_tokens(env, clock):
    """A changed token, an expired one, and one from before a password change: 401 each."""
    headers = bearer(env, "3100100")
    url = f"{BASE}/units/3100100/status"
    tampered = headers["Authorization"][:-3] + ("AAA" if not headers["Authorization"].endswith("AAA") else "BBB")
    assert env["reader"].get(url, headers={"Authorization": tampered}).status_code == 401
    assert env["reader"].get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    rv = env["client"].post(f"{BASE}/auth/password", json={"current_password": GOOD, "new_password": OTHER_GOOD},
                            headers=headers)
    assert rv.status_code == 204
    revoked = env["reader"].get(url, headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json["message"]
    fresh = {"Authorization": "Bearer " + sign_in(env, "3100100", OTHER_GOOD).json["access_token"]}
    assert env["reader"].get(url, headers=fresh).status_code == 200
    assert sign_in(env, "3100100", GOOD).status_code == 401
    clock.advance(hours=8, seconds=1)
    expired = env["reader"].get(url, headers=fresh)
    assert expired.status_code == 401 and "expired" in expired.json["message"]


def test_password_change_checks(env):
    """Changing the password needs the token, the right current password and a good new one."""
    headers = bearer(env, "sup01")
    post = lambda body, h=headers: env["client"].post(f"{BASE}/auth/password", json=body, headers=h)  # noqa: E731
    assert post({"current_password": GOOD, "new_password": OTHER_GOOD}, {}).status_code == 401
    assert post({"current_password": "not it at all", "new_password": OTHER_GOOD}).status_code == 401
    assert post({"current_password": GOOD, "new_password": "password1234"}).status_code == 422
    assert post({"current_password": GOOD, "new_password": GOOD}).status_code == 422


def test_reissued_code_resets_the_account(env, tmp_path):
    """Re-issuing a code (a reset) stops the old password and tokens until the new code is used."""
    headers = bearer(env, "nacc01")
    with env["app"].app_context():
        new_code = issue(["nacc01"], "op-test", tmp_path / "again.csv")[0]["activation_code"]
    assert env["reader"].get(f"{BASE}/rounds/2564/6/compliance", headers=headers).status_code == 401
    assert sign_in(env, "nacc01").status_code == 401
    assert activate(env, "nacc01", OTHER_GOOD, code=new_code).status_code == 201
    assert sign_in(env, "nacc01", OTHER_GOOD).status_code == 200


def test_throttled_per_username_with_backoff(env, clock):
    """After 5 failures the username is locked with a growing delay (429 + Retry-After), even for the right password."""
    activate(env, "3100100")
    for _ in range(5):
        assert sign_in(env, "3100100", "wrong password!!").status_code == 401
    assert sign_in(env, "3100100", "wrong password!!").status_code == 401          # 6th: locks for 1 s
    locked = sign_in(env, "3100100")
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "1"
    clock.advance(seconds=2)
    assert sign_in(env, "3100100", "wrong password!!").status_code == 401          # 7th: locks for 2 s
    assert sign_in(env, "3100100").headers.get("Retry-After") == "2"
    clock.advance(seconds=3)
    assert sign_in(env, "3100100").status_code == 200


def test_throttled_per_client_address(env):
    """Many usernames from one address: the address is locked after 20 failures."""
    for n in range(20):
        env["client"].post(f"{BASE}/auth/token", json={"username": f"user{n}", "password": "x" * 12},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    rv = env["client"].post(f"{BASE}/auth/token", json={"username": "user99", "password": "x" * 12},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert rv.status_code == 401
    rv = env["client"].post(f"{BASE}/auth/token", json={"username": "user100", "password": "x" * 12},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert rv.status_code == 429
    other = env["client"].post(f"{BASE}/auth/token", json={"username": "user100", "password": "x" * 12},
                               environ_base={"REMOTE_ADDR": "10.9.9.8"})
    assert other.status_code == 401


def test_security_events_and_no_secret_anywhere(env, caplog):
    """Code issued, activation, sign-in ok and failed, password changed: all recorded; no password, code or
    hash in any event, read model, log line or answer."""
    caplog.set_level(logging.DEBUG)
    answers = [activate(env, "3100100", "password1234"), activate(env, "3100100"), sign_in(env, "3100100", "bad!!")]
    token = sign_in(env, "3100100")
    answers.append(token)
    answers.append(env["client"].post(f"{BASE}/auth/password", json={"current_password": GOOD,
                                                                       "new_password": OTHER_GOOD},
                                      headers={"Authorization": f"Bearer {token.json['access_token']}"}))
    service = env["app"].extensions["ncc"]["service"]
    types = [e.type for e in read_events(env["redis"], service.keys, security_stream("3100100"))]
    assert types == ["ActivationCodeIssued", "AccountActivated", "SignInFailed", "SignInSucceeded", "PasswordChanged"]
    tracker = Tracker(env["redis"], env["settings"])
    tracker.project(security_stream("3100100"))
    account = env["app"].extensions["ncc"]["accounts"].get("3100100")
    secrets = [GOOD, OTHER_GOOD, "password1234", env["codes"]["3100100"],
               env["codes"]["3100100"].replace("-", ""), account["password_hash"]]
    secrets += [v.get("code_hash") for v in [env["app"].extensions["ncc"]["accounts"].get(u) for u in env["codes"]]
                if v.get("code_hash")]
    dumped = {k: v for k, v in dump_log(env["redis"]).items() if b":acct:" not in k}   # all but the credentials
    haystacks = [repr(dumped), caplog.text] + [a.get_data(as_text=True) for a in answers]
    for secret in secrets:
        for hay in haystacks:
            assert secret not in hay


# ---- the role matrix over both OpenAPI documents ------------------------------------------------------

# API.md's "who" column, per (method, path template). "own"/"other" is the unit in the path (for
# supervisors: one they oversee / one they do not); "self" a supervisor's own overview.
WHO = {
    ("put", "/units/{code}/plan"): {"unit": "own"},
    ("post", "/units/{code}/plan/items"): {"unit": "own"},
    ("patch", "/units/{code}/plan/items/{item_id}"): {"unit": "own"},
    ("put", "/units/{code}/plan/items/{item_id}/budgets/{fiscal_year}"): {"unit": "own"},
    ("delete", "/units/{code}/plan/items/{item_id}"): {"unit": "own"},
    ("put", "/units/{code}/reports/{fiscal_year}/{round}"): {"unit": "own"},
    ("post", "/units/{code}/reports/{fiscal_year}/{round}/review"): {"supervisor": "own"},
    ("post", "/units/{code}/reminders"): {"supervisor": "own", "nacc": "any"},
    ("post", "/units/{code}/reports/{fiscal_year}/{round}/exceptions"): {"supervisor": "own", "nacc": "any"},
    ("put", "/windows/{fiscal_year}/{round}"): {"nacc": "any"},
    ("put", "/reminder-rules/{fiscal_year}/{round}/{rule_id}"): {"nacc": "any", "supervisor": "any"},
    ("put", "/supervisors/{username}/parent"): {"operator": "any", "nacc": "any"},
    ("get", "/rounds/{fiscal_year}/{round}/supervisors"): {"nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/status"): {"unit": "own", "supervisor": "own", "nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/audit"): {"unit": "own", "supervisor": "own", "nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/events"): {"nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/state"): {"unit": "own", "supervisor": "own", "nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/verify"): {"nacc": "any", "auditor": "any"},
    ("get", "/supervisors/{username}/overview"): {"supervisor": "self", "nacc": "any", "auditor": "any"},
    ("get", "/rounds/{fiscal_year}/{round}/compliance"): {"nacc": "any", "auditor": "any"},
    ("get", "/rounds/{fiscal_year}/{round}/export.csv"): {"supervisor": "any", "nacc": "any", "auditor": "any"},
    ("get", "/rounds/{fiscal_year}/{round}/export.xlsx"): {"supervisor": "any", "nacc": "any", "auditor": "any"},
    ("get", "/lag"): {"nacc": "any", "auditor": "any", "operator": "any"},
    ("post", "/replay"): {"operator": "any", "auditor": "any"},
    ("get", "/jobs/{job_id}"): {"operator": "any", "auditor": "any"},
    ("post", "/units/{code}/evidence"): {"unit": "own"},
    ("put", "/units/{code}/evidence/{version}/publicity"): {"unit": "own"},
    ("get", "/units/{code}/evidence/{sha256}"): {"unit": "own", "supervisor": "own", "nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/receipts/{version}"): {"unit": "own", "supervisor": "own", "nacc": "any", "auditor": "any"},
    ("get", "/units/{code}/receipts/{version}.pdf"): {"unit": "own", "supervisor": "own", "nacc": "any",
                                                      "auditor": "any"},
    ("get", "/auth/me"): {role: "any" for role in ("unit", "supervisor", "nacc", "auditor", "operator")},
    ("get", "/auth/me/read"): {role: "any" for role in ("unit", "supervisor", "nacc", "auditor", "operator")},
    ("put", "/accounts/{username}/email"): {"operator": "any"},
    ("get", "/auth/me/2fa"): {role: "any" for role in ("unit", "supervisor", "nacc", "auditor", "operator")},
    ("post", "/auth/me/2fa"): {role: "any" for role in ("unit", "supervisor", "nacc", "auditor", "operator")},
    ("delete", "/auth/me/2fa"): {"unit": "any"},          # optional only for units; 403 before the body otherwise
    ("delete", "/accounts/{username}/2fa"): {"operator": "any"},
    ("get", "/auth/me/security"): {role: "any" for role in ("unit", "supervisor", "nacc", "auditor", "operator")},
}
PUBLIC = {("post", "/auth/activate"), ("post", "/auth/token"), ("get", "/public/units"),   # no token needed
          ("get", "/public/units/{code}/disclosure/{fiscal_year}"), ("get", "/public/keys"),
          ("get", "/public/units/{code}/disclosure/{fiscal_year}/{document}.pdf"),
          ("get", "/public/units/{code}/disclosure/{fiscal_year}/{document}.csv"),
          ("get", "/public/verify/{code}/{version}/{hash_}"), ("get", "/public/units/{code}/evidence/{sha256}"),
          ("post", "/auth/email/confirm")}
SELF_SERVICE = {("post", "/auth/password"), ("put", "/auth/me/email"),   # any signed-in account, for itself
                ("post", "/auth/me/read"), ("post", "/auth/me/2fa/confirm")}
ACTORS = {"unit": "3100100", "supervisor": "sup01", "nacc": "nacc01", "auditor": "aud01", "operator": "op01"}


def routes(env):
    for client in (env["client"], env["reader"]):
        for path, ops in client.get(f"{BASE}/openapi.json").json["paths"].items():
            for method in set(ops) & {"get", "put", "post", "patch", "delete"}:
                yield client, method, path[len(BASE):]


def test_role_matrix(env):
    """Every route of both OpenAPI documents x every role x own/other unit: 401 without a token, 403 where API.md
    does not allow the role or scope, and not 401/403 (200 for reads) where it does."""
    register = env["app"].extensions["ncc"]["service"]
    register.execute(REGISTRY_STREAM, lambda s, ctx: handlers.assign_units(
        s, {"supervisor": "sup01", "units": ["3100100"]}, ctx), actor={"username": "op", "role": "operator"},
        fp="x") if "3100100" not in register.load(REGISTRY_STREAM).units_of("sup01") else None
    Tracker(env["redis"], env["settings"]).project(REGISTRY_STREAM)
    headers = {role: bearer(env, username) for role, username in ACTORS.items()}
    job_id = env["reader"].post(f"{BASE}/replay", json={}, headers=headers["operator"]).json["job_id"]
    from tests.api.test_evidence import a_pdf
    from tests.api.test_write_api import ITEM
    evidence = a_pdf("matrix")
    for code, auth in (("3100100", headers["unit"]), ("3100200", bearer(env, "3100200"))):   # events and a file
        assert env["client"].put(f"{BASE}/units/{code}/plan", headers=auth, json={
            "title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564}).status_code == 201
        item = env["client"].post(f"{BASE}/units/{code}/plan/items", headers=auth, json=ITEM).json["item_id"]
        assert env["client"].post(f"{BASE}/units/{code}/evidence", headers=auth, content_type="multipart/form-data",
                                  data={"item_id": item, "file": (io.BytesIO(evidence), "e.pdf")}).status_code == 201
    sha256 = hashlib.sha256(evidence).hexdigest()
    seen = set()
    for client, method, template in routes(env):
        seen.add((method, template))
        if (method, template) in PUBLIC:
            continue
        for scope in ("own", "other"):
            path = template.replace("{fiscal_year}", "2564").replace("{round}", "6").replace("{item_id}", "item001")
            path = path.replace("{job_id}", job_id).replace("{version}", "1").replace("{sha256}", sha256)
            path = path.replace("{rule_id}", "rule-1")
            path = path.replace("{code}", "3100100" if scope == "own" else "3100200")
            path = path.replace("{username}", "sup01" if scope == "own" else "sup02")
            body = ({"data": {"item_id": "x"}, "content_type": "multipart/form-data"} if template.endswith("/evidence")
                    else {"json": {}})
            call = getattr(client, method)
            assert call(BASE + path, **body).status_code == 401, (method, path)
            for role in ACTORS:
                rv = call(BASE + path, headers=headers[role], **body)
                if (method, template) in SELF_SERVICE:
                    assert rv.status_code == 422, (role, method, path, rv.json)     # authorised, body empty
                    continue
                rule = WHO[(method, template)].get(role)
                allowed = rule == "any" or (rule in ("own", "self") and scope == "own")
                if allowed:
                    assert rv.status_code not in (401, 403), (role, method, path, rv.status_code, rv.json)
                    if method == "get":
                        assert rv.status_code == 200, (role, method, path, rv.json)
                else:
                    assert rv.status_code == 403, (role, method, path, rv.status_code)
    assert {(m, t) for m, t in WHO} | PUBLIC | SELF_SERVICE == seen     # a new route must get a row here
