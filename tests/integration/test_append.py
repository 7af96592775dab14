"""The append script on fakeredis and on a real redis-server: checks before writes, nothing half-written."""
from datetime import datetime, timezone

import pytest

from services.submission.appender import Appender
from shared.events import GENESIS_HASH, decode, new_event, verify_chain
from shared.streams import head_of, read_events
from tests.conftest import dump_log

T0 = datetime(2021, 4, 20, 3, 0, tzinfo=timezone.utc)
ACTOR = {"username": "3100100", "role": "unit"}


def event(version, prev_hash, stream="3100100", reminder="กรุณารายงาน"):
    return new_event(stream=stream, version=version, type_="ReminderSent", actor=ACTOR, recorded_at=T0,
                     payload={"fiscal_year": 2564, "round": 6, "message": reminder, "channel": "in_app", "rule": None}, prev_hash=prev_hash)


@pytest.fixture
def appender(any_redis, keys):
    return Appender(any_redis, keys)


def test_append_writes_entry_head_and_indexes(any_redis, keys, appender):
    """An append writes the entry at <version>-0, the head, the stream index and the unprojected marker."""
    first = event(1, GENESIS_HASH)
    assert appender.append(first, recorded_ms=1000).status == "ok"
    second = event(2, first.hash)
    outcome = appender.append(second, recorded_ms=2000)
    assert (outcome.status, outcome.value) == ("ok", 2)
    entries = any_redis.xrange(keys.events("3100100"))
    assert [e[0] for e in entries] == [b"1-0", b"2-0"]
    assert decode(entries[1][1][b"e"]) == second
    assert head_of(any_redis, keys, "3100100") == (2, second.hash)
    p = keys.partition_of("3100100")
    assert any_redis.smembers(keys.streams(p)) == {b"3100100"}
    assert any_redis.zscore(keys.unprojected(p), "3100100") == 1000   # oldest unprojected kept (NX)
    assert verify_chain(read_events(any_redis, keys, "3100100"), "3100100").ok


def test_wrong_expected_version_is_a_conflict_and_writes_nothing(any_redis, keys, appender):
    """A stale expected version is refused before any write."""
    first = event(1, GENESIS_HASH)
    appender.append(first)
    before = dump_log(any_redis)
    outcome = appender.append(event(1, GENESIS_HASH, reminder="อีกครั้ง"))
    assert (outcome.status, outcome.value) == ("conflict", 1)
    assert dump_log(any_redis) == before


def test_same_event_sent_twice_is_appended_once(any_redis, keys, appender):
    """A client re-sending the script after losing its reply (redis-py retries a dropped connection) gets
    ok for the event already there, even after another writer appended behind it; nothing is written twice."""
    first = event(1, GENESIS_HASH)
    assert (appender.append(first).status, appender.append(first).status) == ("ok", "ok")
    second = event(2, first.hash)
    appender.append(second)
    before = dump_log(any_redis)
    again = appender.append(first)
    assert (again.status, again.value) == ("ok", 1)
    assert dump_log(any_redis) == before and any_redis.xlen(keys.events("3100100")) == 2


def test_wrong_chain_head_is_refused_and_writes_nothing(any_redis, keys, appender):
    """An event not linked to the current head is refused."""
    appender.append(event(1, GENESIS_HASH))
    before = dump_log(any_redis)
    outcome = appender.append(event(2, "f" * 64))
    assert outcome.status == "broken"
    assert dump_log(any_redis) == before


def test_idempotency_key_returns_first_record(any_redis, keys, appender):
    """A seen key answers the stored record and appends nothing, even at another version."""
    first = event(1, GENESIS_HASH)
    record = {"fingerprint": "abc", "answer": {"event_id": first.event_id, "version": 1}}
    assert appender.append(first, idempotency_key="k1", idempotency_record=record).status == "ok"
    before = dump_log(any_redis)
    outcome = appender.append(event(2, first.hash), idempotency_key="k1", idempotency_record={"other": 1})
    assert outcome.status == "seen" and outcome.value == record
    assert dump_log(any_redis) == before


def test_deleted_entry_stops_appends(any_redis, keys, appender):
    """A stream whose entry was deleted behind our back refuses further appends, writing nothing."""
    first = event(1, GENESIS_HASH)
    appender.append(first)
    second = event(2, first.hash)
    appender.append(second)
    any_redis.xdel(keys.events("3100100"), "2-0")
    before = dump_log(any_redis)
    outcome = appender.append(event(2, first.hash))
    assert outcome.status == "broken"
    assert dump_log(any_redis) == before


def test_streams_land_in_their_partition(any_redis, keys, appender):
    """Every key of one append shares one hash tag."""
    for code in ("3100100", "3100200", "3101700"):
        appender.append(event(1, GENESIS_HASH, stream=code))
        tags = {k.split(":")[1] for k in keys.append_keys(code, [2566, 2567])}
        assert tags == {keys.tag(keys.partition_of(code))}
    assert sum(any_redis.scard(keys.streams(p)) for p in range(keys.partitions)) == 3
