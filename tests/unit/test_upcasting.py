"""Event schema versioning: a history with v1 and v2 ReminderSent events replays like one with only v3 events."""
import uuid
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from services.tracker.projector import audit_trail
from shared.errors import UnknownSchemaVersionError
from shared.events import GENESIS_HASH, Event, decode, encode, new_event, upcast, verify_chain
from shared.fiscal import utc_iso
from shared.plan import UnitState, fold_onto, to_dict

AT = datetime(2021, 4, 20, 3, 0, tzinfo=timezone.utc)
NACC = {"username": "nacc1", "role": "nacc"}
PLAN = {"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564, "framework": "2561-2564@1"}


def stored(type_, version, schema_version, payload, prev):
    """An event as some version of this code wrote it (hash over what was written)."""
    body = Event("3100100", version, str(uuid.UUID(int=version)), type_, schema_version, NACC, utc_iso(AT),
                 payload, prev, "", {})
    return replace(body, hash=body.expected_hash())


def history(reminder_versions):
    """A plan, then one reminder per entry of ``reminder_versions`` (1, 2: older shapes; 3: the current one)."""
    events = [stored("PlanDeclared", 1, 1, PLAN, GENESIS_HASH)]
    for n, schema_version in enumerate(reminder_versions, start=2):
        payload = {"fiscal_year": 2564, "round": 6, "message": f"เตือนครั้งที่ {n}"}
        if schema_version >= 2:
            payload["channel"] = "in_app"
        if schema_version >= 3:
            payload["rule"] = None
        events.append(stored("ReminderSent", n, schema_version, payload, events[-1].hash))
    return events


def comparable(events):
    state = to_dict(fold_onto(UnitState("3100100"), events))
    del state["head_hash"]                  # the stored bytes differ, so the hashes do
    return state


def test_mixed_history_replays_like_current_only():
    """v1, v2 and v3 reminders fold to the same state, and the same audit lines, as v3 only."""
    mixed, current = history([1, 2, 3]), history([3, 3, 3])
    assert comparable(mixed) == comparable(current)
    assert all(r["channel"] == "in_app" and r["rule"] is None
               for r in fold_onto(UnitState("3100100"), mixed).reminders)
    audit_mixed = [a["summary_th"] for a in audit_trail("3100100", mixed)]
    audit_current = [a["summary_th"] for a in audit_trail("3100100", current)]
    assert audit_mixed == audit_current


def test_old_events_still_verify_as_written():
    """Upcasting never rewrites: v1 events round-trip through the log bytes and their chain verifies."""
    mixed = history([1, 2, 1])
    read_back = [decode(encode(e)) for e in mixed]
    assert read_back == mixed and read_back[1].schema_version == 1
    assert verify_chain(read_back, "3100100").ok
    assert upcast(read_back[1]).schema_version == 3 and read_back[1].payload.get("channel") is None


def test_new_events_are_written_at_the_current_version():
    """The write side writes v3."""
    e = new_event(stream="3100100", version=1, type_="ReminderSent", actor=NACC, recorded_at=AT,
                  payload={"fiscal_year": 2564, "round": 6, "message": "x", "channel": "letter", "rule": None},
                  prev_hash=GENESIS_HASH)
    assert e.schema_version == 3


def test_unknown_version_fails_loudly():
    """A version this code cannot read raises, in decode and in upcast; nothing is skipped."""
    plan = history([])[0]
    future = stored("ReminderSent", 2, 4, {"fiscal_year": 2564, "round": 6, "message": "x"}, plan.hash)
    with pytest.raises(UnknownSchemaVersionError):
        decode(encode(future))
    with pytest.raises(UnknownSchemaVersionError):
        upcast(future)
    with pytest.raises(UnknownSchemaVersionError):
        fold_onto(UnitState("3100100"), [plan, future])
