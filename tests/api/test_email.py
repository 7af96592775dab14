"""An account's e-mail address: set by the person and confirmed by a signed link, or set by an operator; bad
addresses refused with nothing written; every change a security event; the outbox seen by operators."""
from __future__ import annotations

import re

import pytest

from services.submission import handlers
from services.submission.service import fingerprint
from shared.keys import REGISTRY_STREAM, security_stream
from shared.outbox import address_of
from shared.streams import read_events
from tests.conftest import dump_log

UNIT = {"X-Actor": "unit:3100100"}
OPERATOR = {"X-Actor": "operator:op1"}


@pytest.fixture
def app(app_factory, fake_redis):
    app = app_factory(fake_redis)
    service = app.extensions["ncc"]["service"]
    for username, role in (("3100100", "unit"), ("3100200", "unit")):
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, r=role: handlers.create_account(
            s, {"username": u, "role": r, "name": "สำนักงานเขตพระนคร" if u == "3100100" else None, "demo": False},
            ctx), actor={"username": "op1", "role": "operator"}, fp=fingerprint("TEST", username, {}))
    return app


def _outbox(app):
    return app.extensions["ncc"]["outbox"]


def _link_token(app, to):
    box = _outbox(app)
    ids = [i.decode() for i in box.redis.zrange(box.keys.outbox_pending, 0, -1)]
    mails = [box.get(i) for i in ids if box.get(i)["to"] == to]
    assert mails, f"no mail to {to}"
    return re.search(r"/account/email/confirm\?token=(\S+)", mails[-1]["body"]).group(1), mails[-1]


def _security_types(app, username="3100100"):
    service = app.extensions["ncc"]["service"]
    return [(e.type, e.payload.get("email"), e.actor["username"])
            for e in read_events(service.redis, service.keys, security_stream(username))]


@pytest.mark.parametrize("address, why", [
    ("not-an-address", "@-sign"), ("clerk@", "after the @"), ("clerk@@example.go.th", "@"),
    ("a b@example.go.th", "invalid characters"), ("clerk@example", "period"), ("", "Length")], ids=[
    "no-at", "no-domain", "two-ats", "space", "no-dot", "empty"])
def test_an_address_that_does_not_parse_is_422_naming_the_field_and_writes_nothing(app, fake_redis, address, why):
    """422 with the reason on ``email``; no key in the store changes, no mail is queued."""
    client = app.test_client()
    before = dump_log(fake_redis)
    for path, headers in (("/api/v1/auth/me/email", UNIT), ("/api/v1/accounts/3100100/email", OPERATOR)):
        rv = client.put(path, json={"email": address}, headers=headers)
        assert rv.status_code == 422, rv.json
        assert why.casefold() in rv.json["errors"]["json"]["email"][0].casefold(), rv.json
    assert dump_log(fake_redis) == before


def test_a_thai_domain_is_kept_in_ascii_and_a_thai_name_before_the_at_is_refused(app, fake_redis):
    """``saraban@ตัวอย่าง.ไทย`` is kept as IDNA (any SMTP server takes it); a Thai local part is 422, nothing written."""
    client = app.test_client()
    rv = client.put("/api/v1/auth/me/email", json={"email": "saraban@ตัวอย่าง.ไทย"}, headers=UNIT)
    assert rv.status_code == 200 and rv.json["email_pending"] == "saraban@xn--72c1a1bt4awk9o.xn--o3cw4h"
    before = dump_log(fake_redis)
    rv = client.put("/api/v1/auth/me/email", json={"email": "สารบรรณ@ตัวอย่าง.ไทย"}, headers=UNIT)
    assert rv.status_code == 422 and "email" in rv.json["errors"]["json"]
    assert dump_log(fake_redis) == before


def test_a_person_sets_an_address_and_confirms_it_by_the_link(app, fake_redis, keys, clock):
    """PUT: the address waits for confirmation and a Thai e-mail with the link goes to it; POST the link's token:
    confirmed, and mail goes there; the same link again changes nothing; each change is a security event."""
    client = app.test_client()
    rv = client.put("/api/v1/auth/me/email", json={"email": "Clerk@PhraNakhon.Example.go.th"}, headers=UNIT)
    assert rv.status_code == 200, rv.json
    assert rv.json == {"username": "3100100", "email": None, "email_pending": "Clerk@phranakhon.example.go.th",
                       "confirmed": False}
    assert address_of(fake_redis, keys, "3100100") is None                 # not before it is confirmed
    token, mail = _link_token(app, "Clerk@phranakhon.example.go.th")
    assert mail["subject"] == "โปรดยืนยันที่อยู่อีเมลสำหรับระบบแผนปฏิบัติการป้องกันการทุจริต"
    assert mail["body"].startswith("เรียน สำนักงานเขตพระนคร") and "http://127.0.0.1:8002/account/email/confirm?token=" \
        in mail["body"] and "4 พฤษภาคม 2564" in mail["body"]                # 72 hours from 1 May, in Thai
    me = client.get("/api/v1/auth/me", headers=UNIT).json
    assert me["email_pending"] == "Clerk@phranakhon.example.go.th" and me["role"] == "unit"
    rv = client.post("/api/v1/auth/email/confirm", json={"token": token})
    assert rv.status_code == 200 and rv.json["confirmed"] and rv.json["email"] == "Clerk@phranakhon.example.go.th"
    assert address_of(fake_redis, keys, "3100100") == "Clerk@phranakhon.example.go.th"
    assert client.post("/api/v1/auth/email/confirm", json={"token": token}).status_code == 200
    assert _security_types(app) == [("EmailAddressChangeRequested", "Clerk@phranakhon.example.go.th", "3100100"),
                                    ("EmailAddressConfirmed", "Clerk@phranakhon.example.go.th", "3100100")]


def test_a_link_tampered_with_expired_or_overtaken_is_refused(app, fake_redis, keys, clock):
    """A changed token: 422 on ``token``; 72 hours later: 422 saying it expired; a link for an address that a
    newer one replaced: 409; the confirmed address stays what it was."""
    client = app.test_client()
    client.put("/api/v1/auth/me/email", json={"email": "first@example.go.th"}, headers=UNIT)
    first, _ = _link_token(app, "first@example.go.th")
    rv = client.post("/api/v1/auth/email/confirm", json={"token": first[:-2] + ("AA" if first[-2:] != "AA" else "BB")})
    assert rv.status_code == 422 and "token" in rv.json["errors"]["json"]
    client.put("/api/v1/auth/me/email", json={"email": "second@example.go.th"}, headers=UNIT)
    rv = client.post("/api/v1/auth/email/confirm", json={"token": first})
    assert rv.status_code == 409 and rv.json["rule"] == "email_not_pending"
    second, _ = _link_token(app, "second@example.go.th")
    clock.advance(hours=72, seconds=1)
    rv = client.post("/api/v1/auth/email/confirm", json={"token": second})
    assert rv.status_code == 422 and "expired" in rv.json["errors"]["json"]["token"][0]
    assert address_of(fake_redis, keys, "3100100") is None


def test_an_operator_sets_an_address_confirmed_at_once_and_others_may_not(app, fake_redis, keys):
    """Operators only (403 otherwise, 404 for no such account); the address is confirmed at once, recorded with
    the operator as actor; null removes it."""
    client = app.test_client()
    body = {"email": "saraban@example.go.th"}
    assert client.put("/api/v1/accounts/3100100/email", json=body, headers=UNIT).status_code == 403
    assert client.put("/api/v1/accounts/3100100/email", json=body,
                      headers={"X-Actor": "nacc:nacc01"}).status_code == 403
    assert client.put("/api/v1/accounts/9999999/email", json=body, headers=OPERATOR).status_code == 404
    rv = client.put("/api/v1/accounts/3100100/email", json=body, headers=OPERATOR)
    assert rv.status_code == 200 and rv.json["confirmed"] and address_of(fake_redis, keys, "3100100") == body["email"]
    assert client.put("/api/v1/auth/me/email", json={"email": None}, headers=UNIT).json["email"] is None
    assert _security_types(app) == [("EmailAddressConfirmed", "saraban@example.go.th", "op1"),
                                    ("EmailAddressRemoved", None, "3100100")]


def test_confirmation_mails_are_limited_per_account_and_hour(app, clock):
    """Five confirmation e-mails an hour; the sixth is 429 with Retry-After and queues nothing; an hour on, again."""
    client = app.test_client()
    for n in range(5):
        assert client.put("/api/v1/auth/me/email", json={"email": f"a{n}@example.go.th"}, headers=UNIT).status_code == 200
    rv = client.put("/api/v1/auth/me/email", json={"email": "a5@example.go.th"}, headers=UNIT)
    assert rv.status_code == 429 and int(rv.headers["Retry-After"]) > 0
    assert _outbox(app).stats()["pending"] == 5


def test_operators_see_the_outbox_in_metrics_and_the_command(app):
    """/metrics has the outbox's gauges and counters; ``outbox`` lists counts and failed messages and
    ``--retry-failed`` puts them back; ``set-email`` sets an address as the operator."""
    client, box = app.test_client(), _outbox(app)
    box.enqueue("m1", "a@example.go.th", "s", "b")
    box.enqueue("m2", "b@example.go.th", "s", "b")
    [m1, m2] = box.claim("test-sender")
    box.mark_sent(m1.message_id)
    box.mark_failed_attempt(m2, "test-sender", "550 5.1.1 no such mailbox", permanent=True)
    text = client.get("/metrics").get_data(as_text=True)
    for line in ("ncc_outbox_pending 0.0", "ncc_outbox_failed 1.0", "ncc_outbox_sent_total 1.0",
                 "ncc_outbox_failed_attempts_total 1.0", "ncc_outbox_oldest_pending_seconds 0.0"):
        assert line in text, line
    runner = app.test_cli_runner()
    context = app.app_context()
    context.push()                            # as `flask --app ...` runs the commands
    out = runner.invoke(args=["outbox"])
    assert out.exit_code == 0 and "failed: 1" in out.output and "m2  to b@example.go.th" in out.output
    assert "550 5.1.1 no such mailbox" in out.output
    out = runner.invoke(args=["outbox", "--retry-failed"])
    assert "1 failed messages put back in line" in out.output and "failed: 0" in out.output
    out = runner.invoke(args=["set-email", "3100200", "saraban@example.go.th", "--operator", "op2"])
    assert out.exit_code == 0, out.output
    assert address_of(box.redis, box.keys, "3100200") == "saraban@example.go.th"
    out = runner.invoke(args=["set-email", "3100200", "not an address", "--operator", "op2"])
    assert out.exit_code != 0 and "not acceptable" in out.output
    context.pop()
