"""Auditors: raw events, state at a version or an instant (the same fold), hash-chain verification vs tampering."""
import json

import pytest

from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.events import chain_hash
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM
from shared.plan import UnitState, fold_onto, to_dict
from shared.streams import read_events

BASE = "/api/v1"
AUD = {"X-Actor": "auditor:aud01"}
UNIT = {"X-Actor": "unit:3100100"}


@pytest.fixture
def world(app_factory, fake_redis, settings, clock):
    """A unit with seven events written a day apart; the registry projected; a reader for auditors."""
    clock.now = clock.now.replace(month=4, day=10)
    writer = app_factory(fake_redis).test_client()
    writer.put(f"{BASE}/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                  "last_fiscal_year": 2564}, headers=UNIT)
    for n in range(5):
        clock.advance(days=1)
        writer.post(f"{BASE}/units/3100100/plan/items", json={
            "name": f"รายการ {n}", "kind": "measure", "dimension": 2, "sub_dimension": "2.3",
            "fiscal_years": [2564], "budgets": {"2564": f"{n}00"}}, headers=UNIT)
    clock.advance(days=1)
    writer.post(f"{BASE}/units/3100100/reminders", json={"fiscal_year": 2564, "round": 6, "message": "ส่ง"},
                headers={"X-Actor": "nacc:nacc01"})
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    service = writer.application.extensions["ncc"]["service"]
    return {"redis": fake_redis, "keys": service.keys,
            "reader": create_reader(settings, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()}


def test_events_with_envelope_and_limits(world):
    """Raw events with prev_hash and hash; until_version and until cut the history."""
    doc = world["reader"].get(f"{BASE}/units/3100100/events", headers=AUD).json
    assert doc["count"] == 7 and doc["events"][1]["prev_hash"] == doc["events"][0]["hash"]
    assert world["reader"].get(f"{BASE}/units/3100100/events?until_version=3", headers=AUD).json["count"] == 3
    cut = world["reader"].get(f"{BASE}/units/3100100/events?until=2021-04-12T23:00:00%2B07:00", headers=AUD).json
    assert [e["version"] for e in cut["events"]] == [1, 2, 3]


def test_state_at_version_is_the_fold_of_the_prefix(world):
    """State at version k equals folding the first k events; as_of picks the prefix recorded by then."""
    events = read_events(world["redis"], world["keys"], "3100100")
    for k in range(len(events) + 1):
        doc = world["reader"].get(f"{BASE}/units/3100100/state?version={k}", headers=AUD).json
        assert doc["version"] == k and doc["state"] == to_dict(fold_onto(UnitState("3100100"), events[:k]))
    then = world["reader"].get(f"{BASE}/units/3100100/state?as_of=2021-04-12T23:00:00%2B07:00", headers=UNIT).json
    assert then["version"] == 3 and len(then["state"]["items"]) == 2
    assert then["status"]["plan"]["budget_by_year"]["2564"] == "100.00"
    both = world["reader"].get(f"{BASE}/units/3100100/state?version=1&as_of=2021-04-12T00:00:00Z", headers=AUD)
    assert both.status_code == 422


def rewrite(redis, keys, change):
    """Rewrite the unit's stream entry by entry through ``change(list of [id, dict])`` (a tamperer's edit)."""
    key = keys.events("3100100")
    entries = [[i.decode(), json.loads(f[b"e"])] for i, f in redis.xrange(key)]
    entries = change(entries)
    redis.delete(key)
    for entry_id, data in entries:
        redis.xadd(key, {"e": json.dumps(data) if isinstance(data, dict) else data}, id=entry_id)


def edit_payload(entries):
    entries[3][1]["payload"]["name"] = "แก้ไขย้อนหลัง"
    return entries


def edit_and_rehash(entries):
    e = entries[3][1]
    e["payload"]["name"] = "แก้ไขย้อนหลัง"
    e["hash"] = chain_hash(e["prev_hash"], {k: v for k, v in e.items() if k not in ("hash", "prev_hash")})
    return entries


def delete_entry(entries):
    return entries[:3] + entries[4:]


def swap_entries(entries):
    entries[3][1], entries[4][1] = entries[4][1], entries[3][1]
    return entries


def garbage(entries):
    entries[3][1] = "{not json"
    return entries


def edit_actor(entries):
    entries[3][1]["actor"] = {"username": "someone-else", "role": "unit"}
    return entries


@pytest.mark.parametrize("change, bad, why", [
    (edit_payload, 4, "hash does not match"),
    (edit_and_rehash, 5, "prev_hash"),
    (delete_entry, 4, "deleted"),
    (swap_entries, 4, "version"),
    (garbage, 4, "cannot be read"),
    (edit_actor, 4, "hash does not match"),
], ids=["payload-edited", "edited-and-rehashed", "entry-deleted", "entries-swapped", "entry-garbled",
        "actor-edited"])
def test_verify_names_the_first_bad_version(world, change, bad, why):
    """Any single-entry change made directly in Redis is reported with the first bad version and why."""
    reader = world["reader"]
    assert reader.get(f"{BASE}/units/3100100/verify", headers=AUD).json["ok"] is True
    rewrite(world["redis"], world["keys"], change)
    doc = reader.get(f"{BASE}/units/3100100/verify", headers=AUD).json
    assert doc["ok"] is False and doc["first_bad_version"] == bad and why in doc["reason"], doc
    assert doc["events_checked"] == bad - 1


def test_verify_catches_a_moved_head(world):
    """A head that no longer matches the last event is reported too."""
    world["redis"].set(world["keys"].head("3100100"), "0" * 64)
    doc = world["reader"].get(f"{BASE}/units/3100100/verify", headers=AUD).json
    assert doc["ok"] is False and "head" in doc["reason"] and doc["events_checked"] == 7
