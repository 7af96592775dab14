"""Projection speed of one worker, and projection lag under a steady write load.

(a) N events in M unit streams are projected by one tracker (the job body, in process), next to the
    raw speed of reading the same streams with XRANGE, measured in the same run.
(b) Writers send plan changes and reports through the write API at a steady rate while a real
    `rq worker` process projects them; lag = time from the write's answer to the projection holding it.
Run: .venv/bin/python -m bench.projection [--events N] [--rate R] [--seconds S]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone

import redis as redis_lib

from services.submission import handlers
from services.submission.app import create_app
from services.submission.appender import Appender
from services.tracker.jobs import Tracker
from services.tracker.worker import WORKER_CLASS
from services.tracker.worker import argv as worker_argv
from shared.config import Settings
from shared.embedded import EmbeddedRedis
from shared.events import GENESIS_HASH, new_event
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, Keys

SETTINGS = Settings(partitions=16)
ACTOR = {"username": "nacc1", "role": "nacc"}


def seed(redis, keys: Keys, units: int, per_unit: int) -> int:
    """Per unit: a plan, items, a report and amendments; appended through the script."""
    appender, now, total = Appender(redis, keys), datetime(2021, 4, 20, tzinfo=timezone.utc), 0
    for u in range(units):
        stream, prev, version = f"{3200000 + u:07d}", GENESIS_HASH, 0

        def add(type_, payload, actor):
            nonlocal prev, version
            version += 1
            e = new_event(stream=stream, version=version, type_=type_, payload=payload, actor=actor,
                          recorded_at=now, prev_hash=prev)
            assert appender.append(e).status == "ok"
            prev = e.hash

        unit = {"username": stream, "role": "unit"}
        add("PlanDeclared", {"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564,
                             "framework": "2561-2564@1"}, unit)
        items = max(1, per_unit // 3)
        for i in range(items):
            add("ItemAdded", {"item_id": f"i{i}", "name": f"โครงการที่ {i}", "kind": "project", "dimension": 1,
                              "sub_dimension": "1.1", "fiscal_years": [2564], "budgets": {"2564": "1000.00"}}, unit)
        entries = [{"item_id": f"i{i}", "status": "completed", "budget_planned": "1000.00"} for i in range(items)]
        first = True
        while version < per_unit:
            payload = {"fiscal_year": 2564, "round": 6, "entries": entries, "note": None, "late": False,
                       "due_at": "2021-04-30T23:59:59+07:00", "locks_at": "2021-05-15T23:59:59+07:00",
                       "under_exception": False}
            if first:
                add("ReportSubmitted", payload, unit)
                first = False
            else:
                add("ReportAmended", {**payload, "amendment": version - items - 1}, unit)
        total += version
    return total


def speed(server, events: int, units: int) -> None:
    """(a): events/s projected by one tracker vs raw XRANGE of the same streams."""
    r = redis_lib.Redis.from_url(server.url)
    r.flushall()
    keys = Keys(SETTINGS.key_prefix, SETTINGS.partitions)
    total = seed(r, keys, units, events // units)
    streams = [f"{3200000 + u:07d}" for u in range(units)]
    start = time.perf_counter()
    for s in streams:
        assert len(r.xrange(keys.events(s))) > 0
    raw = time.perf_counter() - start
    tracker = Tracker(r, SETTINGS)
    start = time.perf_counter()
    applied = sum(tracker.project(s)["applied"] for s in streams)
    projected = time.perf_counter() - start
    assert applied == total
    print(f"(a) {total} events in {units} streams (plan, items, a report and its amendments)")
    print(f"    raw XRANGE read      {total / raw:10.0f} events/s")
    print(f"    projected, 1 worker  {total / projected:10.0f} events/s   ({projected / raw:.1f}x the raw read time)")


def lag(server, rate: float, seconds: float, writers: int) -> None:
    """(b): lag from the write's answer to its projection, under a steady write rate."""
    r = redis_lib.Redis.from_url(server.url)
    r.flushall()
    keys = Keys(SETTINGS.key_prefix, SETTINGS.partitions)
    env = {**os.environ, "REDIS_URL": server.url, "NCC_PARTITIONS": str(SETTINGS.partitions)}
    worker = subprocess.Popen(worker_argv(worker_class=os.environ.get("NCC_WORKER_CLASS", WORKER_CLASS)),
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = create_app(SETTINGS, redis=r, clock=lambda: datetime(2021, 4, 20, tzinfo=timezone.utc),
                     identify=actor_from_header)
    service = app.extensions["ncc"]["service"]
    for n in range(writers):
        code = f"{3300000 + n:07d}"
        service.execute(REGISTRY_STREAM, lambda s, ctx, c=code: handlers.register_unit(
            s, {"code": c, "name_th": f"หน่วยงาน {c}", "kind": "other"}, ctx),
            actor={"username": "bench", "role": "operator"}, fp=code)
    pending, lags, lock, stop = {}, [], threading.Lock(), threading.Event()

    def write(n: int, code: str) -> None:
        client, h = app.test_client(), {"X-Actor": f"unit:{code}"}
        client.put(f"/api/v1/units/{code}/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                      "last_fiscal_year": 2564}, headers=h)
        interval, next_at, i = writers / rate, time.perf_counter(), 0
        while not stop.is_set():
            rv = client.post(f"/api/v1/units/{code}/plan/items", json={
                "name": f"รายการ {i}", "kind": "measure", "dimension": 4, "sub_dimension": "4.1",
                "fiscal_years": [2564]}, headers=h)
            assert rv.status_code == 201, rv.json
            with lock:
                pending[(code, rv.json["version"])] = time.perf_counter()
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))

    def watch() -> None:
        while not stop.is_set() or pending:
            with lock:
                waiting = list(pending.items())
            for (code, version), at in waiting:
                cp = int(r.hget(keys.read_model(code), "checkpoint") or 0)
                if cp >= version:
                    with lock:
                        lags.append(time.perf_counter() - at)
                        del pending[(code, version)]
            time.sleep(0.002)

    threads = [threading.Thread(target=write, args=(n, f"{3300000 + n:07d}")) for n in range(writers)]
    watcher = threading.Thread(target=watch)
    for t in threads + [watcher]:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    watcher.join(timeout=30)
    worker.terminate()
    worker.wait(10)
    lags.sort()
    p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] * 1000  # noqa: E731
    print(f"(b) {len(lags)} writes at ~{rate:.0f}/s from {writers} writers for {seconds:.0f}s, one rq worker process")
    print(f"    lag answer -> projected: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {lags[-1] * 1000:.0f} ms, "
          f"mean {statistics.mean(lags) * 1000:.0f} ms")


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        speed(server, args.events, args.units)
        lag(server, args.rate, args.seconds, args.writers)


if __name__ == "__main__":
    main()
