"""Submission throughput and latency over HTTP against a bare Flask endpoint on the same server settings, and
projection lag under half the maximum load.

Both apps run under gunicorn with the run command's settings (``-c python:services.gunicorn_conf``, 2 workers,
4 threads each) on the same machine as the clients; the submission service writes to a real redis-server
(AOF, appendfsync always) and signs every request in with a Bearer token. The bare endpoint parses the same
JSON body and answers 201.

(a) closed loop: C client processes, each on one keep-alive connection, send as fast as answers come back;
    throughput and latency of each, and the ratio. Then an open loop at half the submission's maximum:
    requests leave on a fixed schedule and latency is counted from the scheduled moment (no coordinated
    omission).
(b) during that half-load run a real tracker worker (``python -m services.tracker.worker``) projects; lag is
    the time from the write's answer to the read model holding its version.

``--queues-apart`` puts RQ's queues on a second redis-server without fsync-always (RQ_REDIS_URL): queue
entries can be lost in a crash without losing anything (the unprojected marker and the sweep re-nudge).

Run: .venv/bin/python -m bench.submission [--clients 16] [--seconds 10] [--units 400] [--queues-apart]
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import redis as redis_lib

from services.submission import handlers
from services.submission.app import create_app
from services.submission.service import fingerprint
from services.tracker.worker import argv as worker_argv
from shared.auth import Tokens
from shared import signing
from shared.config import Settings
from shared.embedded import EmbeddedRedis, free_port
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, Keys

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-of-its-own-0123456789"
SETTINGS = Settings(partitions=16, secret_key=SECRET)
BODY = {"name": "โครงการเสริมสร้างวัฒนธรรมองค์กรต่อต้านการทุจริต", "kind": "project", "dimension": 1,
        "sub_dimension": "1.1", "fiscal_years": [2564], "budgets": {"2564": "50000.00"},
        "responsible": "สำนักปลัด", "objectives": "ปลูกจิตสำนึกให้บุคลากรปฏิบัติงานด้วยความซื่อสัตย์สุจริต"}

BARE_APP = '''
from flask import Flask, request
app = Flask(__name__)
@app.post("/api/v1/units/<code>/plan/items")
def add_item(code):
    body = request.get_json()
    return {"unit": code, "fields": len(body)}, 201
'''


def seed(redis, units: list[str]) -> dict[str, str]:
    """Register the units, give each an active account and a plan; a Bearer token per unit."""
    app = create_app(SETTINGS, redis=redis, identify=actor_from_header, nudge=lambda stream: None)
    service, keys = app.extensions["ncc"]["service"], Keys(SETTINGS.key_prefix, SETTINGS.partitions)
    operator = {"username": "bench", "role": "operator"}
    client = app.test_client()
    for code in units:
        service.execute(REGISTRY_STREAM, lambda s, ctx, c=code: handlers.register_unit(
            s, {"code": c, "name_th": f"หน่วยงาน {c}", "kind": "other"}, ctx), actor=operator,
            fp=fingerprint("BENCH", code, {}))
        redis.hset(keys.account(code), mapping={"role": "unit", "status": "active", "epoch": 1})
        assert client.put(f"/api/v1/units/{code}/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                              "last_fiscal_year": 2564},
                          headers={"X-Actor": f"unit:{code}"}).status_code == 201
    tokens = Tokens(SECRET, 24 * 3600, lambda: datetime.now(timezone.utc))
    return {code: tokens.issue(code, "unit", 1) for code in units}


def gunicorn(app_spec: str, port: int, env: dict, cwd: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:services.gunicorn_conf",
                             "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}", app_spec],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc                       # answers (the bare app has no /healthz: 404 is an answer)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{app_spec} did not start")
            time.sleep(0.1)


def closed_loop(port: int, jobs: list[tuple[str, str]], seconds: float, out) -> None:
    """One client: one keep-alive connection, next request when the answer is in."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body, latencies, n = json.dumps(BODY).encode(), [], 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        code, token = jobs[n % len(jobs)]
        start = time.perf_counter()
        conn.request("POST", f"/api/v1/units/{code}/plan/items", body=body,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        rv = conn.getresponse()
        rv.read()
        if rv.status != 201:
            raise RuntimeError(f"answer {rv.status}")
        latencies.append(time.perf_counter() - start)
        n += 1
    out.put(latencies)


def run_closed(port: int, tokens: dict, clients: int, seconds: float) -> tuple[float, list[float]]:
    """Throughput (requests/s) and every latency, C processes for ``seconds``."""
    codes = sorted(tokens)
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=closed_loop, args=(
        port, [(c, tokens[c]) for c in codes[i::clients]], seconds, out)) for i in range(clients)]
    for p in procs:
        p.start()
    latencies = [x for _ in procs for x in out.get()]
    for p in procs:
        p.join()
    return len(latencies) / seconds, sorted(latencies)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def describe(name: str, rate: float, latencies: list[float]) -> str:
    return (f"{name:<22} {rate:8.0f} req/s   p50 {pct(latencies, .5):6.1f} ms   p99 {pct(latencies, .99):6.1f} ms")


def open_loop(port: int, tokens: dict, rate: float, seconds: float, redis, keys: Keys, threads: int = 32):
    """Requests on a fixed schedule at ``rate``; latency from the scheduled moment; lag to projection."""
    codes = sorted(tokens)
    latencies, lags, pending, lock = [], [], {}, threading.Lock()
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)
    done = threading.Event()

    def client(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps(BODY).encode()
        for n in range(t, total, threads):
            due = start + n / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            code = codes[n % len(codes)]
            conn.request("POST", f"/api/v1/units/{code}/plan/items", body=body, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {tokens[code]}"})
            rv = conn.getresponse()
            answer = json.loads(rv.read())
            answered = time.perf_counter()
            if rv.status != 201:
                raise RuntimeError(f"answer {rv.status}: {answer}")
            with lock:
                latencies.append(answered - due)
                pending[(code, answer["version"])] = answered

    def watch() -> None:
        while not done.is_set() or pending:
            with lock:
                waiting = list(pending.items())
            for (code, version), answered in waiting:
                if int(redis.hget(keys.read_model(code), "checkpoint") or 0) >= version:
                    seen = time.perf_counter()
                    with lock:
                        lags.append(seen - answered)
                        del pending[(code, version)]
            time.sleep(0.002)

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    watcher = threading.Thread(target=watch)
    for t in workers + [watcher]:
        t.start()
    for t in workers:
        t.join()
    done.set()
    watcher.join(timeout=60)
    return sorted(latencies), sorted(lags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--queues-apart", action="store_true", help="RQ's queues on a Redis of their own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as server, \
            EmbeddedRedis(Path(tmp) / "rq", extra_args=("--appendfsync", "everysec")) as queues:
        redis = redis_lib.Redis.from_url(server.url)
        rq_url = queues.url if args.queues_apart else server.url
        units = [f"{3500000 + n:07d}" for n in range(args.units)]
        tokens = seed(redis, units)
        keys = Keys(SETTINGS.key_prefix, SETTINGS.partitions)
        signing.ensure(Path(tmp) / "keys")           # production refuses to start without its signing keys
        env = {**os.environ, "REDIS_URL": server.url, "NCC_PARTITIONS": str(SETTINGS.partitions),
               "NCC_SECRET_KEY": SECRET, "NCC_ENV": "production", "PYTHONPATH": str(ROOT), "RQ_REDIS_URL": rq_url,
               "NCC_KEY_DIR": str(Path(tmp) / "keys"), "NCC_DATA_DIR": tmp}
        Path(tmp, "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        bare_port, sub_port = free_port(), free_port()
        bare = gunicorn("bare_app:app", bare_port, {**env, "PYTHONPATH": f"{tmp}:{ROOT}"}, str(ROOT))
        sub = gunicorn("services.submission.app:create_app()", sub_port, env, str(ROOT))
        try:
            print(f"{os.cpu_count()} cores; gunicorn 2 workers x 4 threads each; {args.clients} client processes on "
                  f"the same machine; redis-server AOF appendfsync always; RQ's queues "
                  f"{'on a second redis-server (appendfsync everysec)' if args.queues_apart else 'on the same server'}")
            print(f"(a) closed loop, {args.seconds:.0f} s each, POST /units/{{code}}/plan/items "
                  f"({len(json.dumps(BODY, ensure_ascii=False).encode())} bytes of JSON)")
            bare_rate, bare_lat = run_closed(bare_port, tokens, args.clients, args.seconds)
            print("    " + describe("bare Flask endpoint", bare_rate, bare_lat))
            sub_rate, sub_lat = run_closed(sub_port, tokens, args.clients, args.seconds)
            print("    " + describe("submission service", sub_rate, sub_lat))
            print(f"    submission / bare throughput: {sub_rate / bare_rate:.2f}")
            rq_redis = redis_lib.Redis.from_url(rq_url)
            rq_redis.delete("rq:queue:tracker")       # the closed loop's nudges: not this run's work
            for key in rq_redis.scan_iter(match="ncc:nudge:*"):
                rq_redis.delete(key)
            worker = subprocess.Popen(worker_argv(), cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                from services.tracker.jobs import Tracker
                tracker = Tracker(redis, SETTINGS)
                for code in units:                    # catch up on the closed loop's writes first
                    tracker.project(code)
                half = sub_rate / 2
                lat, lags = open_loop(sub_port, tokens, half, args.seconds, redis, keys)
                print(f"    open loop at half the maximum ({half:.0f} req/s, {len(lat)} writes): "
                      f"p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms, max {lat[-1] * 1000:.1f} ms")
                print(f"(b) lag answer -> projected at {half:.0f} writes/s, one tracker worker: p50 {pct(lags, .5):.0f} ms, "
                      f"p99 {pct(lags, .99):.0f} ms, max {lags[-1] * 1000:.0f} ms, mean {statistics.mean(lags) * 1000:.0f} ms")
            finally:
                worker.terminate()
                worker.wait(10)
        finally:
            for proc in (bare, sub):
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
