"""A unit's status while two clients loop on exports, with the per-account limits on expensive reads and without
them, in the same run.

On a fresh real redis-server (appendfsync always): bench/national.py's 7,927 units registered and projected, one
unit with a plan and a report. The tracker API under gunicorn (2 workers x 4 threads, as the run command starts
it), twice: once with the default limits (10 exports a minute per account), once with them raised out of reach.
Each time: the unit's status p50/p99 for --seconds with nothing else running (the baseline), then again while two
processes, each with its own NACC account, loop on export.csv and export.xlsx without pausing (a refused export is
counted and the loop goes straight on, as a careless or hostile client would), from when each has asked more than
its minute's allowance.

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


def loop(url: str, bearer: str, stop, done, refused, asked) -> None:
    """Ask for the export again and again until told to stop; count answers and refusals."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bearer}"
    while not stop.is_set():
        answer = session.get(url, timeout=300)
        with asked.get_lock():
            asked.value += 1
        counter = refused if answer.status_code == 429 else done
        if answer.status_code not in (200, 429):
            answer.raise_for_status()
        with counter.get_lock():
            counter.value += 1


def statuses(session, url: str, n: int = 0, seconds: float = 0) -> list[float]:
    """The status ``n`` times, or for ``seconds``; sorted times."""
    out, end = [], time.monotonic() + seconds
    while len(out) < n or time.monotonic() < end:
        started = time.perf_counter()
        session.get(url, timeout=60).raise_for_status()
        out.append(time.perf_counter() - started)
    return sorted(out)


def phase(redis, env: dict, unit: str, bearers: list[str], seconds: float, tmp: Path, name: str) -> dict:
    """One tracker under gunicorn with ``env``: status alone, then beside the two export loops once each has asked
    more than its minute's allowance (so that, with the limits, they are being refused while status is timed)."""
    port = national.free_port()
    proc = national.gunicorn(port, env, tmp / f"tracker-{name}.log")
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {bearers[0]}"
        status = f"{api}/units/{unit}/status"
        statuses(session, status, 10)
        quiet = statuses(session, status, seconds=seconds)
        ctx = multiprocessing.get_context("fork")
        stop = ctx.Event()
        counts = [[ctx.Value("i", 0) for _ in range(3)] for _ in range(2)]    # done, refused, asked per client
        loopers = [ctx.Process(target=loop, args=(f"{api}/rounds/{FY}/{ROUND}/{path}", bearer, stop, *count))
                   for path, bearer, count in zip(("export.csv", "export.xlsx"), bearers[1:], counts)]
        for looper in loopers:
            looper.start()
        deadline = time.monotonic() + 120
        while min(c[2].value for c in counts) <= 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = [(c[0].value, c[1].value) for c in counts]
        loaded = statuses(session, status, seconds=seconds)
        after = [(c[0].value, c[1].value) for c in counts]
        stop.set()
        for looper in loopers:
            looper.join(300)
        return {"quiet": quiet, "loaded": loaded, "seconds": seconds,
                "done": sum(a[0] - b[0] for a, b in zip(after, before)),
                "refused": sum(a[1] - b[1] for a, b in zip(after, before))}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927)
    parser.add_argument("--seconds", type=float, default=20, help="how long status is timed, alone and loaded")
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
            limited = phase(redis, env, unit, bearers, args.seconds, tmp, "limited")
            free = phase(redis, {**env, "NCC_EXPORT_LIMIT": "1000000 per minute"}, unit, bearers,
                         args.seconds, tmp, "unlimited")
    p = national.p
    print(f"{args.units:,} units; the tracker API under gunicorn, 2 workers x 4 threads; unit {unit}'s status timed "
          f"for {args.seconds:.0f} s in each line; two clients (two NACC accounts) loop on export.csv and export.xlsx, "
          "timed once each has asked more than 12 times")
    print(f"  baseline, status with nothing else running: p50 {p(limited['quiet'], .5):.1f} ms, "
          f"p99 {p(limited['quiet'], .99):.1f} ms (the second tracker: p50 {p(free['quiet'], .5):.1f}, "
          f"p99 {p(free['quiet'], .99):.1f} ms)")
    for name, run in (("with the limits (10 exports a minute per account)", limited),
                      ("without them (limit raised out of reach)", free)):
        print(f"  {name}: status p50 {p(run['loaded'], .5):.1f} ms, p99 {p(run['loaded'], .99):.1f} ms "
              f"({len(run['loaded'])} calls); meanwhile {run['done']} exports answered and {run['refused']} refused "
              "(429)")


if __name__ == "__main__":
    main()
