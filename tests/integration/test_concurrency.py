"""Concurrent writers and idempotency across a restart, on a real redis-server with AOF."""
import threading

import pytest
import redis as redis_lib

from shared.embedded import EmbeddedRedis
from shared.streams import read_events, version_of
from shared.events import verify_chain

UNIT = {"X-Actor": "unit:3100100"}
PLAN = {"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564}


def item_body(n):
    return {"name": f"โครงการที่ {n}", "kind": "project", "dimension": 2, "sub_dimension": "2.2",
            "fiscal_years": [2564], "budgets": {"2564": "1000.00"}}


def run_together(n, work):
    """Run work(i) in n threads released at the same instant; return their results by i."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_eight_writers_with_if_match(app_factory, real_backend, keys):
    """8 writers pinning the same version: one wins each round, losers get 412, versions are contiguous."""
    app = app_factory(real_backend)
    assert app.test_client().put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT).status_code == 201
    refused = []

    def writer(i):
        client, version, versions = app.test_client(), 1, []
        while True:
            rv = client.post("/api/v1/units/3100100/plan/items", json=item_body(i),
                             headers={**UNIT, "If-Match": f'"{version}"'})
            if rv.status_code == 201:
                return rv.json["version"]
            assert rv.status_code == 412, rv.json
            assert rv.headers["ETag"] == f'"{rv.json["current_version"]}"'
            refused.append(i)
            version = rv.json["current_version"]

    won = run_together(8, writer)
    assert sorted(won) == list(range(2, 10))
    assert len(refused) >= 7          # every first attempt but one pinned a version that moved on
    events = read_events(real_backend, keys, "3100100")
    assert [e.version for e in events] == list(range(1, 10))
    assert verify_chain(events, "3100100").ok


def test_eight_writers_without_if_match_all_land(app_factory, real_backend, keys):
    """Without If-Match the service re-decides on conflict: every write lands once, in a valid chain."""
    app = app_factory(real_backend)
    app.test_client().put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
    codes = run_together(8, lambda i: app.test_client().post(
        "/api/v1/units/3100100/plan/items", json=item_body(i), headers=UNIT).status_code)
    assert codes == [201] * 8
    events = read_events(real_backend, keys, "3100100")
    assert sorted(e.payload["name"] for e in events[1:]) == sorted(f"โครงการที่ {i}" for i in range(8))
    assert verify_chain(events, "3100100").ok


@pytest.fixture
def own_server(tmp_path):
    """A redis-server of this test's own, so it can be killed and restarted."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def test_same_idempotency_key_concurrently_and_after_restart(app_factory, own_server, keys):
    """One key sent 8 times at once, then again after Redis is killed and restarted: exactly one event."""
    client_redis = redis_lib.Redis.from_url(own_server.url)
    app = app_factory(client_redis)
    app.test_client().put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
    headers = {**UNIT, "Idempotency-Key": "add-item-7"}

    answers = run_together(8, lambda i: app.test_client().post(
        "/api/v1/units/3100100/plan/items", json=item_body(7), headers=headers))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json["event_id"] for a in answers}) == 1
    assert version_of(client_redis, keys, "3100100") == 2

    own_server.kill()                  # SIGKILL: only what fsync'd AOF holds survives
    own_server.start()
    again = app.test_client().post("/api/v1/units/3100100/plan/items", json=item_body(7), headers=headers)
    assert again.status_code == 200 and again.json["event_id"] == answers[0].json["event_id"]
    assert version_of(client_redis, keys, "3100100") == 2
    other = app.test_client().post("/api/v1/units/3100100/plan/items", json=item_body(8), headers=headers)
    assert other.status_code == 422
    assert version_of(client_redis, keys, "3100100") == 2


def test_two_processes_see_each_others_writes(app_factory, real_backend, keys):
    """Two write services (as two gunicorn workers) on one Redis: each decides on the other's latest events."""
    first, second = app_factory(real_backend).test_client(), app_factory(real_backend).test_client()
    assert first.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT).status_code == 201
    item = second.post("/api/v1/units/3100100/plan/items", json=item_body(1), headers=UNIT)
    assert item.status_code == 201                       # the second saw the plan the first declared
    removed = first.delete(f"/api/v1/units/3100100/plan/items/{item.json['item_id']}", json={"reason": "x"},
                           headers=UNIT)
    assert removed.status_code == 201                    # the first saw the item the second added
    again = second.delete(f"/api/v1/units/3100100/plan/items/{item.json['item_id']}", json={"reason": "x"},
                          headers=UNIT)
    assert again.status_code == 409 and again.json["rule"] == "item_removed"
    assert verify_chain(read_events(real_backend, keys, "3100100"), "3100100").ok
