"""The outbox's logic on fakeredis: idempotent enqueue, leases, exponential backoff, giving up, retrying."""
from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from shared.outbox import FAILED, PENDING, SENDING, Outbox, address_of, build_message, message_id_header

SUBJECT = "แจ้งเตือน: ส่งรายงานผลรอบ 6 เดือน ปีงบประมาณ 2564"
BODY = "เรียน หน่วยงาน\n\nขอให้ส่งรายงานภายใน 30 เมษายน 2564\n"


@pytest.fixture
def outbox(fake_redis, keys, clock):
    return Outbox(fake_redis, keys, clock, retry_base=30, retry_max=600, max_attempts=4, lease_seconds=120)


def test_enqueue_is_idempotent_by_message_id_even_after_sending(outbox):
    """The same message id a second time writes nothing and answers False, before and after it was sent."""
    assert outbox.enqueue("m1", "clerk@example.go.th", SUBJECT, BODY) is True
    assert outbox.enqueue("m1", "other@example.go.th", "another", "another") is False
    assert outbox.get("m1")["to"] == "clerk@example.go.th"
    [claimed] = outbox.claim("a")
    assert outbox.mark_sent(claimed.message_id) is True
    assert outbox.mark_sent(claimed.message_id) is False
    assert outbox.enqueue("m1", "clerk@example.go.th", SUBJECT, BODY) is False
    assert outbox.claim("a") == [] and outbox.stats()["sent_total"] == 1
    assert "body" not in outbox.get("m1")            # a sent message keeps no body


def test_a_claimed_message_is_leased_to_one_sender_until_the_lease_ends(outbox, clock):
    """Two senders: the first holds the message; the second gets nothing until the lease has run out."""
    outbox.enqueue("m1", "a@example.org", SUBJECT, BODY)
    [first] = outbox.claim("sender-1")
    assert first.attempts == 1 and first.subject == SUBJECT and first.body == BODY
    assert outbox.claim("sender-2") == []
    clock.advance(seconds=119)
    assert outbox.claim("sender-2") == []
    clock.advance(seconds=2)                        # sender-1 died holding it
    [again] = outbox.claim("sender-2")
    assert again.attempts == 2 and outbox.get("m1")["lease_owner"] == "sender-2"
    # the first sender's late report of a failure changes nothing: it lost the lease
    assert outbox.mark_failed_attempt(first, "sender-1", "timeout") == SENDING
    assert outbox.get("m1")["lease_owner"] == "sender-2"


def test_failures_back_off_exponentially_up_to_the_cap_then_the_message_is_kept_as_failed(outbox, clock):
    """30 s, 60 s, 120 s between attempts; after the fourth the message is failed, visible, and sent nowhere."""
    outbox.enqueue("m1", "a@example.org", SUBJECT, BODY)
    waits = []
    for attempt in range(1, 5):
        [m] = outbox.claim("s")
        assert m.attempts == attempt
        state = outbox.mark_failed_attempt(m, "s", "421 try later")
        if attempt < 4:
            assert state == PENDING
            waits.append(round(outbox.redis.zscore(outbox.keys.outbox_due, "m1") - clock.now.timestamp()))
            clock.advance(seconds=waits[-1] - 1)
            assert outbox.claim("s") == []          # not a second early
            clock.advance(seconds=1)
    assert waits == [30, 60, 120]
    assert state == FAILED and outbox.get("m1")["state"] == FAILED
    assert outbox.get("m1")["last_error"] == "421 try later"
    clock.advance(days=1)
    assert outbox.claim("s") == []
    stats = outbox.stats()
    assert stats["failed"] == 1 and stats["pending"] == 0 and stats["failed_attempts_total"] == 4
    assert [m["message_id"] for m in outbox.failed_messages()] == ["m1"]
    assert outbox.delay(10) == 600                  # capped


def test_a_permanent_refusal_fails_at_once_and_an_operator_can_retry_it(outbox):
    """A 5xx gives up on the first attempt; retry_failed puts it back with its attempts counted anew."""
    outbox.enqueue("m1", "nobody@example.org", SUBJECT, BODY)
    [m] = outbox.claim("s")
    assert outbox.mark_failed_attempt(m, "s", "550 no such user", permanent=True) == FAILED
    assert outbox.retry_failed() == 1
    assert outbox.stats()["failed"] == 0 and outbox.stats()["pending"] == 1
    [again] = outbox.claim("s")
    assert again.attempts == 1 and again.message_id == "m1"


def test_oldest_pending_age_comes_from_the_clock(outbox, clock):
    """The oldest waiting message's age is measured from its enqueueing, and is 0 with nothing waiting."""
    assert outbox.stats()["oldest_pending_seconds"] == 0
    outbox.enqueue("m1", "a@example.org", SUBJECT, BODY)
    clock.advance(minutes=5)
    outbox.enqueue("m2", "a@example.org", SUBJECT, BODY)
    assert outbox.stats()["oldest_pending_seconds"] == 300 and outbox.stats()["pending"] == 2


def test_bad_messages_are_refused_before_anything_is_written(outbox, fake_redis):
    """A header-injecting address, a Thai local part (no server would deliver what the standard library writes of
    it), an empty id or one with spaces is a ValueError and no key is written."""
    for mid, to in (("m1", "a@example.org\r\nBcc: x@evil.test"), ("", "a@example.org"), ("a b", "a@example.org"),
                    ("m2", ""), ("m3", "สารบรรณ@example.go.th")):
        with pytest.raises(ValueError):
            outbox.enqueue(mid, to, SUBJECT, BODY)
    assert fake_redis.keys("*") == []


def test_the_message_has_a_thai_subject_and_body_and_a_message_id_from_its_id_alone():
    """Encoded for the wire (RFC 2047 subject, UTF-8 body) and decoded back exactly; the same id gives the same
    Message-ID at any time."""
    at = datetime(2021, 4, 16, 2, 0, tzinfo=timezone.utc)
    msg = build_message("reminder-2564-6-national-due-minus-14:3100100", "clerk@example.go.th", SUBJECT, BODY,
                        "ระบบแผน ป.ป.ช. <no-reply@plans.example.go.th>", at)
    wire = msg.as_bytes()
    assert wire.isascii()                          # every header and the body encoded for any server
    back = message_from_bytes(wire, policy=policy.default)
    assert back["Subject"] == SUBJECT and back.get_content().replace("\r\n", "\n") == BODY
    assert back["Message-ID"] == message_id_header("reminder-2564-6-national-due-minus-14:3100100",
                                                   "no-reply@plans.example.go.th")
    assert back["Message-ID"].endswith("@plans.example.go.th>")
    assert build_message("reminder-2564-6-national-due-minus-14:3100100", "x@example.org", "s", "b",
                         "no-reply@plans.example.go.th", datetime.now(timezone.utc))["Message-ID"] == back["Message-ID"]


def test_address_of_is_the_confirmed_address_only(fake_redis, keys):
    """A pending address is not an address to send to; a confirmed one is."""
    assert address_of(fake_redis, keys, "3100100") is None
    fake_redis.hset(keys.account("3100100"), mapping={"email_pending": "new@example.org"})
    assert address_of(fake_redis, keys, "3100100") is None
    fake_redis.hset(keys.account("3100100"), mapping={"email": "clerk@example.org"})
    assert address_of(fake_redis, keys, "3100100") == "clerk@example.org"

