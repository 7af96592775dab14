"""Fault injection on real redis-servers with AOF (fsync always): each test states its invariant and checks it.

The other faults the design promises to survive are tested beside the code they exercise: a worker SIGKILLed
mid-batch, duplicate and concurrent projection jobs and the scheduler's sweep (test_worker_processes.py),
concurrent writers on one unit and one Idempotency-Key sent at once (integration/test_concurrency.py), a
poison event parking only its unit (integration/test_tracker.py).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis as redis_lib
from rq import Queue

from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.embedded import EmbeddedRedis
from shared.identity import actor_from_header
from shared.streams import read_events, verify_stream
from tests.conftest import TEST_UNITS, assert_read_model_is_fold
from tests.e2e.test_worker_processes import finish, scheduler_queues_a_sweep, worker

ROOT = Path(__file__).resolve().parents[2]
PLAN = {"title": "แผนปฏิบัติการป้องกันการทุจริต", "first_fiscal_year": 2561, "last_fiscal_year": 2564}


def unit(code):
    return {"X-Actor": f"unit:{code}"}


def item(name, filler=0):
    return {"name": name + (" " + "ก" * filler if filler else ""), "kind": "project", "dimension": 2, "sub_dimension": "2.2",
            "fiscal_years": [2564], "budgets": {"2564": "1000.00"}}


@pytest.fixture
def own_server(tmp_path):
    """A redis-server of this test's own, so it can be killed, truncated and restarted."""
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def assert_store_consistent(redis, keys):
    """Every index agrees with the streams: each indexed stream's chain verifies and its head is its last hash;
    each idempotency record names the event at its version; every stream with entries is indexed."""
    indexed = set()
    for p in range(keys.partitions):
        for raw in redis.smembers(keys.streams(p)):
            stream = raw.decode()
            indexed.add(stream)
            check = verify_stream(redis, keys, stream)
            assert check["ok"], (stream, check)
            events = read_events(redis, keys, stream)
            records = {}
            for idem in redis.scan_iter(match=keys.idempotency(stream, 0).replace(":idem:0", ":idem:*")):
                records.update(redis.hgetall(idem))
            for key, record in records.items():
                answer = json.loads(record)["answer"]
                assert events[answer["version"] - 1].event_id == answer["event_id"], (stream, key)
    with_entries = {k.decode().split(":s:", 1)[1].rsplit(":events", 1)[0]
                    for k in redis.scan_iter(match=f"{keys.prefix}:*:s:*:events") if redis.xlen(k)}
    assert with_entries == indexed


def item_names(redis, keys, code):
    return [e.payload["name"] for e in read_events(redis, keys, code) if e.type == "ItemAdded"]


def test_redis_killed_under_write_load(app_factory, own_server, keys):
    """Invariant: after SIGKILL and restart of Redis mid-load, every acknowledged write is in the log at the
    version it was acknowledged with; re-sending every request with its Idempotency-Key adds each missing one
    once and repeats none; every index agrees with the streams. Answers are 201, 200 (replay) or 503."""
    client = redis_lib.Redis.from_url(own_server.url)
    app = app_factory(client)
    for code in TEST_UNITS:
        assert app.test_client().put(f"/api/v1/units/{code}/plan", json=PLAN, headers=unit(code)).status_code == 201
    sent, lock, stop = [], threading.Lock(), threading.Event()

    def write(w):
        code, http = TEST_UNITS[w % len(TEST_UNITS)], app.test_client()
        n = 0
        while not stop.is_set():
            key = f"w{w}-{n}"
            rv = http.post(f"/api/v1/units/{code}/plan/items", json=item(key),
                           headers={**unit(code), "Idempotency-Key": key})
            with lock:
                sent.append((code, key, rv.status_code, rv.get_json()))
            n += 1

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    own_server.kill()
    killed_at = len(sent)
    time.sleep(0.3)
    own_server.start()
    time.sleep(0.7)
    stop.set()
    for t in threads:
        t.join()

    assert {status for *_, status, _body in sent} <= {201, 200, 503}
    acked = [(code, key, body) for code, key, status, body in sent if status in (200, 201)]
    assert killed_at > 10 and len(acked) > killed_at, "writes before the kill and after the restart"
    for code, _key, body in acked:
        at = read_events(client, keys, code, first=body["version"], last=body["version"])
        assert at and at[0].event_id == body["event_id"]
    refused = [body for *_, status, body in sent if status == 503]
    assert all("Idempotency-Key" in body["message"] for body in refused)

    http = app.test_client()
    for code, key, status, body in sent:
        again = http.post(f"/api/v1/units/{code}/plan/items", json=item(key),
                          headers={**unit(code), "Idempotency-Key": key})
        assert again.status_code in (200, 201)
        if status in (200, 201):
            assert (again.status_code, again.json["event_id"]) == (200, body["event_id"])
    for code in TEST_UNITS:
        names = item_names(client, keys, code)
        assert len(names) == len(set(names)) == len({k for c, k, *_ in sent if c == code})
    assert_store_consistent(client, keys)


def test_truncated_aof_tail(app_factory, own_server, keys):
    """Invariant: an AOF whose last transaction was cut short loads as the log without that write, whole (no
    stream entry without its head, idempotency record or index); the next write follows on from it."""
    client = redis_lib.Redis.from_url(own_server.url)
    app = app_factory(client)
    http = app.test_client()
    http.put("/api/v1/units/3100100/plan", json=PLAN, headers=unit("3100100"))
    for n in range(1, 21):
        assert http.post("/api/v1/units/3100100/plan/items", json=item(f"item-{n}"),
                         headers={**unit("3100100"), "Idempotency-Key": f"item-{n}"}).status_code == 201
    own_server.stop()
    aof = own_server.data_dir / "appendonly.aof"
    data = aof.read_bytes()
    last = data.rindex(b"*1\r\n$5\r\nMULTI\r\n")
    assert b"item-20" in data[last:]
    aof.write_bytes(data[:last + (len(data) - last) // 2])       # the crash cut the last transaction in two
    own_server.start()

    assert item_names(client, keys, "3100100") == [f"item-{n}" for n in range(1, 20)]
    assert not any(client.hexists(k, "item-20") for k in client.scan_iter(match="*:s:3100100:idem:*"))
    assert_store_consistent(client, keys)
    again = http.post("/api/v1/units/3100100/plan/items", json=item("item-20"),
                      headers={**unit("3100100"), "Idempotency-Key": "item-20"})
    assert (again.status_code, again.json["version"]) == (201, 21)
    assert_store_consistent(client, keys)


CRASH_AFTER_APPEND = """
import os, signal
from services.submission.app import create_app
from shared.identity import actor_from_header
app = create_app(identify=actor_from_header)
app.extensions["ncc"]["service"].on_append = lambda event: os.kill(os.getpid(), signal.SIGKILL)
app.test_client().put("/api/v1/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                      "last_fiscal_year": 2564}, headers={"X-Actor": "unit:3100100"})
"""


def test_crash_between_append_and_nudge(app_factory, redis_server, real_redis, settings, keys):
    """Invariant: a write process killed after its append and before its nudge leaves the event in the log and
    no job queued; the scheduler's sweep and a worker then project it."""
    app_factory(real_redis)                          # registers the units (their nudges go to a list)
    Tracker(real_redis, settings).project("registry")
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": str(settings.partitions),
           "NCC_ENV": "development", "NCC_SWEEP_SECONDS": "1"}
    crashed = subprocess.run([sys.executable, "-c", CRASH_AFTER_APPEND], cwd=ROOT, env=env, capture_output=True)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    assert [e.type for e in read_events(real_redis, keys, "3100100")] == ["PlanDeclared"]
    queue = Queue(settings.tracker_queue, connection=real_redis)
    assert len(queue) == 0 and not real_redis.exists(keys.nudge_flag(keys.partition_of("3100100")))

    scheduler_queues_a_sweep(env, queue)
    finish(worker(redis_server, settings))
    assert_read_model_is_fold(real_redis, settings, "3100100")


def test_memory_limit(app_factory, own_server, keys, settings, clock):
    """Invariant: at its memory limit (noeviction) Redis refuses writes; the API answers 503 with Retry-After,
    every write acknowledged before is there, no key is lost or half-written, reads go on; once memory is
    raised the refused request lands with its Idempotency-Key."""
    client = redis_lib.Redis.from_url(own_server.url)
    app = app_factory(client)
    http = app.test_client()
    http.put("/api/v1/units/3100100/plan", json=PLAN, headers=unit("3100100"))
    Tracker(client, settings).project("registry")       # the read side knows the units
    used = client.info("memory")["used_memory"]
    client.config_set("maxmemory", used + 600_000)
    acked, refused = [], None
    for n in range(2000):
        rv = http.post("/api/v1/units/3100100/plan/items", json=item(f"item-{n}", filler=450),
                       headers={**unit("3100100"), "Idempotency-Key": f"item-{n}"})
        if rv.status_code == 503:
            refused = (n, rv)
            break
        assert rv.status_code == 201, rv.json
        acked.append(rv.json)
    assert refused is not None and len(acked) > 10, "the limit was reached after some writes"
    n, rv = refused
    assert rv.headers["Retry-After"] and rv.json["code"] == 503 and rv.json["message"]
    before = {k: client.type(k) for k in client.scan_iter()}
    assert http.post("/api/v1/units/3100100/plan/items", json=item(f"item-{n}", filler=450),
                     headers={**unit("3100100"), "Idempotency-Key": f"item-{n}"}).status_code == 503
    assert {k: client.type(k) for k in client.scan_iter()} == before           # refused twice, nothing written
    reader = create_reader(settings, redis=client, clock=clock, identify=actor_from_header).test_client()
    auditor = {"X-Actor": "auditor:a1"}
    assert reader.get("/api/v1/units/3100100/events", headers=auditor).status_code == 200
    assert reader.get("/api/v1/units/3100100/verify", headers=auditor).json["ok"] is True
    events = read_events(client, keys, "3100100")
    assert [e.event_id for e in events[1:]] == [a["event_id"] for a in acked]
    assert_store_consistent(client, keys)

    client.config_set("maxmemory", 0)
    landed = http.post("/api/v1/units/3100100/plan/items", json=item(f"item-{n}", filler=450),
                       headers={**unit("3100100"), "Idempotency-Key": f"item-{n}"})
    assert (landed.status_code, landed.json["version"]) == (201, len(acked) + 2)
    assert_store_consistent(client, keys)
