"""Two-factor sign-in (TOTP, RFC 6238): enrolment, codes at sign-in, recovery codes, reset, required roles, and the
account's own sign-in history."""
import logging
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from services.tracker.jobs import Tracker
from shared.keys import security_stream
from shared.streams import read_events
from tests.api.test_auth import BASE, GOOD, activate, bearer, env, sign_in  # noqa: F401  (env: the fixture)
from tests.conftest import dump_log


def otp_at(secret, clock, steps=0):
    """The app's code at the clock's time, ``steps`` 30-second steps away."""
    return pyotp.TOTP(secret).at(clock().timestamp() + 30 * steps)


def enrol(env, username, headers=None):
    """Enrol an authenticator app for the account: (secret, recovery codes, headers)."""
    headers = headers or bearer(env, username)
    started = env["client"].post(f"{BASE}/auth/me/2fa", headers=headers, json={})
    assert started.status_code == 201, started.json
    secret = started.json["secret"]
    assert parse_qs(urlsplit(started.json["otpauth_uri"]).query)["secret"] == [secret]
    assert started.json["qr_svg"].startswith("data:image/svg+xml")
    clock = env["app"].extensions["ncc"]["service"].clock
    confirmed = env["client"].post(f"{BASE}/auth/me/2fa/confirm", headers=headers, json={"code": otp_at(secret, clock)})
    assert confirmed.status_code == 200, confirmed.json
    return secret, confirmed.json["recovery_codes"], headers


def with_code(env, username, otp, password=GOOD):
    return env["client"].post(f"{BASE}/auth/token", json={"username": username, "password": password, "otp": otp})


def types(env, username):
    return [e.type for e in read_events(env["redis"], env["app"].extensions["ncc"]["service"].keys,
                                        security_stream(username))]


def test_enrolment_then_sign_in_needs_the_code(env, clock):
    """After enrolment the password alone gives no token (401 otp_required with a ticket); the code with it does,
    and the ticket with the code does too."""
    secret, codes, _ = enrol(env, "sup01")
    assert len(codes) == 10 and len(set(codes)) == 10
    bare = sign_in(env, "sup01")
    assert bare.status_code == 401 and bare.json["rule"] == "otp_required" and "access_token" not in bare.json
    clock.advance(seconds=30)
    assert with_code(env, "sup01", otp_at(secret, clock)).status_code == 200
    clock.advance(seconds=30)
    by_ticket = env["client"].post(f"{BASE}/auth/token", json={
        "username": "sup01", "otp_ticket": bare.json["otp_ticket"], "otp": otp_at(secret, clock)})
    assert by_ticket.status_code == 200 and by_ticket.json["role"] == "supervisor"
    status = env["client"].get(f"{BASE}/auth/me/2fa", headers={
        "Authorization": f"Bearer {by_ticket.json['access_token']}"}).json
    assert status["enabled"] and status["recovery_codes_left"] == 10 and "secret" not in status


def test_wrong_reused_and_expired_codes_are_refused(env, clock):
    """A wrong code, the code of a step already used (and an earlier one), and a code two steps old: 401 each,
    counted as failed attempts; a code of the step before or after is taken."""
    secret, _, _ = enrol(env, "nacc01")                  # confirming used the current step
    wrong = with_code(env, "nacc01", "000000" if otp_at(secret, clock) != "000000" else "111111")
    assert wrong.status_code == 401 and "otp" in wrong.json["errors"]["json"]
    assert with_code(env, "nacc01", otp_at(secret, clock)).status_code == 401          # reused (same step)
    assert with_code(env, "nacc01", otp_at(secret, clock, -1)).status_code == 401      # earlier than the last used
    clock.advance(seconds=30)
    assert with_code(env, "nacc01", otp_at(secret, clock, +1)).status_code == 200      # the next step: clock skew
    assert with_code(env, "nacc01", otp_at(secret, clock)).status_code == 401          # before the one just used
    clock.advance(minutes=5)
    expired = otp_at(secret, clock, -2)                                                 # a minute old
    assert with_code(env, "nacc01", expired).status_code == 401
    failures = [e for e in read_events(env["redis"], env["app"].extensions["ncc"]["service"].keys,
                                       security_stream("nacc01")) if e.type == "SignInFailed"]
    assert [e.payload["reason"] for e in failures] == ["wrong two-factor code"] * 5


def test_wrong_codes_are_throttled_like_passwords(env, clock):
    """Wrong codes count in the username's throttle: past 5 the right password and code get 429."""
    secret, _, _ = enrol(env, "aud01")
    for _ in range(6):
        assert with_code(env, "aud01", "12345x").status_code == 401
    locked = with_code(env, "aud01", otp_at(secret, clock, +1))           # locked for 1 s after the 6th
    assert locked.status_code == 429 and locked.headers["Retry-After"]


def test_recovery_codes_are_single_use(env, clock):
    """A recovery code signs in once (typed in any case, with or without its dash); the second time it is refused;
    the event says how many are left."""
    _, codes, _ = enrol(env, "op01")
    assert with_code(env, "op01", codes[0].lower().replace("-", " ")).status_code == 200
    assert with_code(env, "op01", codes[0]).status_code == 401
    assert with_code(env, "op01", codes[1]).status_code == 200
    assert with_code(env, "op01", "ABCDE-FGHJK").status_code == 401
    used = [e for e in read_events(env["redis"], env["app"].extensions["ncc"]["service"].keys,
                                   security_stream("op01")) if e.type == "RecoveryCodeUsed"]
    assert [e.payload["reason"] for e in used] == ["9 recovery codes left", "8 recovery codes left"]


@pytest.fixture
def required(env):
    """NCC_2FA_REQUIRED=1 on the write side."""
    ext = env["app"].extensions["ncc"]
    ext["settings"] = ext["settings"].but(two_factor_required=True)
    return env


def test_privileged_account_without_2fa_gets_no_token_once_required(required, clock):
    """Required: a supervisor's right password is 403 2fa_enrolment_required with an enrolment token that opens
    the enrolment routes only; confirming through it signs in; a unit still signs in with its password."""
    env = required
    assert activate(env, "sup01").status_code == 201
    refused = sign_in(env, "sup01")
    assert refused.status_code == 403 and refused.json["rule"] == "2fa_enrolment_required"
    assert "access_token" not in refused.json
    enrolment = {"Authorization": f"Bearer {refused.json['enrolment_token']}"}
    assert env["client"].get(f"{BASE}/auth/me", headers=enrolment).status_code == 401
    assert env["reader"].get(f"{BASE}/supervisors/sup01/overview", headers=enrolment).status_code == 401
    assert env["client"].get(f"{BASE}/auth/me/2fa", headers=enrolment).json["required"] is True
    secret = env["client"].post(f"{BASE}/auth/me/2fa", headers=enrolment, json={}).json["secret"]
    done = env["client"].post(f"{BASE}/auth/me/2fa/confirm", headers=enrolment,
                              json={"code": otp_at(secret, clock)})
    assert done.status_code == 200 and len(done.json["recovery_codes"]) == 10 and done.json["access_token"]
    again = env["client"].post(f"{BASE}/auth/me/2fa", headers=enrolment, json={})
    assert again.status_code == 401                          # done its work: cannot replace the secret now
    me = env["client"].get(f"{BASE}/auth/me", headers={"Authorization": f"Bearer {done.json['access_token']}"})
    assert me.status_code == 200 and me.json["role"] == "supervisor"
    clock.advance(seconds=30)
    assert with_code(env, "sup01", otp_at(secret, clock)).status_code == 200
    assert bearer(env, "3100100")                             # units: optional
    clock.advance(minutes=16)                                 # the enrolment token lasts 15 minutes
    assert env["client"].post(f"{BASE}/auth/me/2fa", headers=enrolment, json={}).status_code == 401


def test_confirm_refusals_change_nothing(env, clock):
    """Confirming with nothing started is 409; a wrong code 422 on code, and the account stays without 2FA."""
    headers = bearer(env, "sup02")
    assert env["client"].post(f"{BASE}/auth/me/2fa/confirm", headers=headers,
                              json={"code": "123456"}).json["rule"] == "2fa_not_started"
    secret = env["client"].post(f"{BASE}/auth/me/2fa", headers=headers, json={}).json["secret"]
    wrong = "000000" if otp_at(secret, clock) != "000000" else "111111"
    for code in (wrong, "abc", "1" * 64, otp_at(secret, clock, -2)):
        rv = env["client"].post(f"{BASE}/auth/me/2fa/confirm", headers=headers, json={"code": code})
        assert rv.status_code == 422 and "code" in rv.json["errors"]["json"], rv.json
    assert env["client"].post(f"{BASE}/auth/me/2fa/confirm", headers=headers, json={"code": ""}).status_code == 422
    assert sign_in(env, "sup02").status_code == 200           # not enabled
    assert env["client"].get(f"{BASE}/auth/me/2fa", headers=headers).json["pending"] is True


def test_units_may_turn_it_off_others_ask_an_operator(env, clock):
    """A unit turns 2FA off with its password and a code; a supervisor gets 403 before the body; an operator's reset
    (operators only, a reason) lets the supervisor sign in with the password again, recorded with the operator."""
    secret, _, unit = enrol(env, "3100100")
    delete = lambda body, h: env["client"].delete(f"{BASE}/auth/me/2fa", headers=h, json=body)  # noqa: E731
    assert delete({"password": "not the password", "code": "000000"}, unit).status_code == 401
    clock.advance(seconds=30)
    assert delete({"password": GOOD, "code": otp_at(secret, clock)}, unit).status_code == 204
    assert sign_in(env, "3100100").status_code == 200
    _, _, sup = enrol(env, "sup01")
    assert delete({}, sup).status_code == 403
    op = bearer(env, "op01")
    reset = lambda who, h, body={"reason": "lost phone"}: env["client"].delete(  # noqa: E731
        f"{BASE}/accounts/{who}/2fa", headers=h, json=body)
    assert reset("sup01", sup).status_code == 403
    assert reset("sup01", op, {}).status_code == 422
    assert reset("nobody", op).status_code == 404
    ticket = sign_in(env, "sup01").json["otp_ticket"]
    assert reset("sup01", op).status_code == 204
    stale = env["client"].post(f"{BASE}/auth/token", json={"username": "sup01", "otp_ticket": ticket, "otp": "1"})
    assert stale.status_code == 401 and stale.json["rule"] == "otp_ticket_invalid"      # only for accounts with 2FA
    assert reset("sup01", op).json["rule"] == "no_change"
    assert sign_in(env, "sup01").status_code == 200
    stream = read_events(env["redis"], env["app"].extensions["ncc"]["service"].keys, security_stream("sup01"))
    last = [e for e in stream if e.type == "TwoFactorReset"][-1]
    assert last.actor["username"] == "op01" and last.payload["reason"] == "lost phone"


def test_my_sign_in_history(env, clock):
    """GET /auth/me/security: the account's own events newest first, with address and reason, limited; the tracker
    summarises the new events in Thai and English; no secret anywhere."""
    secret, codes, headers = enrol(env, "sup01")
    env["client"].post(f"{BASE}/auth/token", json={"username": "sup01", "password": "wrong wrong"},
                       environ_base={"REMOTE_ADDR": "10.1.2.3"})
    clock.advance(seconds=30)
    answer = with_code(env, "sup01", otp_at(secret, clock))
    history = env["client"].get(f"{BASE}/auth/me/security?limit=4", headers=headers)
    assert history.status_code == 200
    entries = history.json["entries"]
    assert [e["type"] for e in entries] == ["SignInSucceeded", "SignInFailed", "TwoFactorEnabled",
                                            "TwoFactorEnrolmentStarted"]
    assert entries[1]["client"] == "10.1.2.3" and entries[1]["reason"] == "wrong password or inactive account"
    assert entries[0]["version"] > entries[1]["version"]
    assert env["client"].get(f"{BASE}/auth/me/security?limit=0", headers=headers).status_code == 422
    assert env["client"].get(f"{BASE}/auth/me/security?limit=x", headers=headers).status_code == 422
    other = env["client"].get(f"{BASE}/auth/me/security", headers=bearer(env, "sup02")).json["entries"]
    assert {e["type"] for e in other} <= {"ActivationCodeIssued", "AccountActivated", "SignInSucceeded"}
    tracker = Tracker(env["redis"], env["settings"])
    tracker.project(security_stream("sup01"))
    account = env["app"].extensions["ncc"]["accounts"].get("sup01")
    dumped = repr({k: v for k, v in dump_log(env["redis"]).items() if b":acct:" not in k})
    for secret_ in [secret, account["totp_secret"], *codes, *(n for n in account if n.startswith("rc:"))]:
        assert secret_ not in dumped and secret_ not in history.get_data(as_text=True)
        assert secret_ not in answer.get_data(as_text=True)
    assert secret not in account["totp_secret"]                  # encrypted at rest
    assert types(env, "sup01")[:4] == ["ActivationCodeIssued", "AccountActivated", "SignInSucceeded",
                                       "TwoFactorEnrolmentStarted"]


def test_bad_bodies_never_5xx(env, caplog):
    """Odd bodies to the new routes are 4xx, never 5xx, and nothing is written."""
    caplog.set_level(logging.WARNING)
    headers = bearer(env, "3100200")
    before = types(env, "3100200")
    for method, path, body in [("post", "/auth/me/2fa/confirm", {"code": 5}),
                               ("post", "/auth/me/2fa/confirm", {"code": None}),
                               ("post", "/auth/me/2fa/confirm", ["x"]),
                               ("delete", "/auth/me/2fa", {"password": GOOD}),
                               ("delete", "/auth/me/2fa", {"password": GOOD, "code": "123456"}),
                               ("post", "/auth/token", {"username": "3100200", "otp": "123456"}),
                               ("post", "/auth/token", {"username": "3100200", "otp_ticket": "junk", "otp": "1"}),
                               ("post", "/auth/token", {"username": "3100200", "password": GOOD, "otp": 7})]:
        rv = getattr(env["client"], method)(BASE + path, headers=headers, json=body)
        assert 400 <= rv.status_code < 500, (path, body, rv.status_code)
    assert types(env, "3100200") == before


def test_the_operator_command_resets_it(env, clock):
    """``reset-2fa`` (for the last operator, who cannot sign in to use the API) removes it, recorded with the
    operator, the reason and the command line as the address; an account without it is refused, nothing written."""
    enrol(env, "op01")
    runner = env["app"].test_cli_runner()
    with env["app"].app_context():
        out = runner.invoke(args=["reset-2fa", "op01", "--reason", "lost phone and codes", "--operator", "op-test"])
        assert out.exit_code == 0 and "reset" in out.output, out.output
        before = types(env, "op01")
        again = runner.invoke(args=["reset-2fa", "op01", "--reason", "again", "--operator", "op-test"])
        assert again.exit_code != 0 and "no two-factor" in again.output
    assert types(env, "op01") == before
    last = read_events(env["redis"], env["app"].extensions["ncc"]["service"].keys, security_stream("op01"))[-1]
    assert (last.type, last.actor["username"], last.payload["client"]) == ("TwoFactorReset", "op-test", "operator-cli")
    assert sign_in(env, "op01").status_code == 200
