"""A unit's status while two clients loop on exports, with the per-account limits on expensive reads and without
them, in the same run.

On a fresh real redis-server (appendfsync always): bench/national.py's 7,927 units registered and projected, one
unit with a plan and a report. The tracker API under gunicorn (2 workers x 4 threads, as the run command starts
it), twice: once with the default limits (10 exports a minute per account), once with them raised out of reach.
Each time: the unit's status p50/p99 over --status-requests calls with nothing else running (the baseline), then
again while two processes, each with its own NACC account, loop on export.csv and export.xlsx without pausing (a
refused export is counted and the loop goes straight on, as a careless or hostile client would).

Run: .venv/bin/python -m bench.limits [--units 7927] | tee docs/benchmarks/limits-7927.txt
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import redis as redis_lib
import requests

from bench import national
from services.submission import handlers
from services.submission.app import create_app
from services.submission.service import fingerprint
from services.tracker.jobs import Tracker
from shared.embedded import EmbeddedRedis
from shared.fiscal import BANGKOK
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM

FY, ROUND = 2567, 6


def loop(url: str, bearer: str, stop, done, refused) -> None:
    """Ask for the export again and again until told to stop; count answers and refusals."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bearer}"
    while not stop.is_set():
        answer = session.get(url, timeout=300)
        counter = refused if answer.status_code == 429 else done
        if answer.status_code not in (200, 429):
            answer.raise_for_status()
        with counter.get_lock():
            counter.value += 1


def statuses(session, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        session.get(url, timeout=60).raise_for_status()
        out.append(time.perf_counter() - started)
    return sorted(out)


def phase(redis, env: dict, unit: str, bearers: list[str], n: int, tmp: Path, name: str) -> dict:
    """One tracker under gunicorn with ``env``: status alone, then beside the two export loops."""
    port = national.free_port()
    proc = national.gunicorn(port, env, tmp / f"tracker-{name}.log")
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {bearers[0]}"
        status = f"{api}/units/{unit}/status"
        statuses(session, status, 10)
        quiet = statuses(session, status, n)
        ctx = multiprocessing.get_context("fork")
        stop, done, refused = ctx.Event(), ctx.Value("i", 0), ctx.Value("i", 0)
        loopers = [ctx.Process(target=loop, args=(f"{api}/rounds/{FY}/{ROUND}/{path}", bearer, stop, done, refused))
                   for path, bearer in zip(("export.csv", "export.xlsx"), bearers[1:])]
        for looper in loopers:
            looper.start()
        while done.value + refused.value < 2:
            time.sleep(0.05)
        started = time.perf_counter()
        loaded = statuses(session, status, n)
        seconds = time.perf_counter() - started
        stop.set()
        for looper in loopers:
            looper.join(300)
        return {"quiet": quiet, "loaded": loaded, "seconds": seconds, "done": done.value, "refused": refused.value}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927)
    parser.add_argument("--status-requests", type=int, default=300)
    args = parser.parse_args()
    rows = national.units(args.units)
    unit = rows[len(rows) // 3]["code"]
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp_name:
        tmp = Path(tmp_name)
        with EmbeddedRedis(tmp / "redis", extra_args=("--appendfsync", "always")) as server:
            redis = redis_lib.Redis.from_url(server.url)
            national.registry_direct(redis, rows)
            now = datetime(2024, 4, 20, 10, 0, tzinfo=BANGKOK)
            app = create_app(national.SETTINGS, redis=redis, clock=lambda: now, nudge=lambda stream: None)
            service = app.extensions["ncc"]["service"]
            for username in ("bench-nacc", "bench-nacc-2", "bench-nacc-3"):
                service.execute(REGISTRY_STREAM, lambda s, ctx, u=username: handlers.create_account(
                    s, {"username": u, "role": "nacc", "name": u, "demo": False}, ctx), actor=national.OPERATOR,
                    fp=fingerprint("BENCH", username, {}))
            actor = {"username": unit, "role": "unit"}
            service.execute(unit, lambda s, ctx: handlers.declare_plan(s, {
                "title": "แผน", "first_fiscal_year": 2566, "last_fiscal_year": 2570}, ctx), actor=actor,
                fp=fingerprint("BENCH", "plan", {}))
            service.execute(unit, lambda s, ctx: handlers.submit_report(s, FY, ROUND, {"entries": []}, ctx),
                            actor=actor, fp=fingerprint("BENCH", "report", {}), needs_windows=True)
            tracker = Tracker(redis, national.SETTINGS)
            for stream in (REGISTRY_STREAM, WINDOWS_STREAM, unit):
                tracker.project(stream)
            bearers = [national.token(redis, unit, "unit")] + [
                national.token(redis, u, "nacc") for u in ("bench-nacc-2", "bench-nacc-3")]
            env = {**os.environ, "REDIS_URL": server.url, "NCC_ENV": "development", "NCC_PARTITIONS": "16",
                   "NCC_SECRET_KEY": national.SECRET, "NCC_DATA_DIR": str(tmp), "NCC_LOG_LEVEL": "WARNING"}
            limited = phase(redis, env, unit, bearers, args.status_requests, tmp, "limited")
            free = phase(redis, {**env, "NCC_EXPORT_LIMIT": "1000000 per minute"}, unit, bearers,
                         args.status_requests, tmp, "unlimited")
    p = national.p
    print(f"{args.units:,} units; the tracker API under gunicorn, 2 workers x 4 threads; {args.status_requests} status "
          f"calls of unit {unit} in each line; two clients (two NACC accounts) loop on export.csv and export.xlsx")
    print(f"  baseline, status with nothing else running: p50 {p(limited['quiet'], .5):.1f} ms, "
          f"p99 {p(limited['quiet'], .99):.1f} ms (the second tracker: p50 {p(free['quiet'], .5):.1f}, "
          f"p99 {p(free['quiet'], .99):.1f} ms)")
    for name, run in (("with the limits (10 exports a minute per account)", limited),
                      ("without them (limit raised out of reach)", free)):
        print(f"  {name}: status p50 {p(run['loaded'], .5):.1f} ms, p99 {p(run['loaded'], .99):.1f} ms, over "
              f"{run['seconds']:.1f} s; meanwhile {run['done']} exports answered and {run['refused']} refused (429)")


if __name__ == "__main__":
    main()
