"""Archiving the national dataset's closed cycle: Redis memory, verification, rebuild and a unit's history read,
before archiving (the baseline) and after, in the same run on the same server.

On a fresh real redis-server (AOF, appendfsync everysec while seeding, always from the measurements on):

- **the dataset** (``--units``, default 7,927: the 77 Bangkok units and synthetic local administrations, as
  ``bench/national.py`` makes them): the registry appended straight through the append script; ``--templates``
  units (default 200) seeded through the write API (plan 2566-2570, 15 items, the 2567/6 report, as
  ``bench/national.py`` seeds every unit); every other unit gets one template's events, re-addressed to its own
  stream and actor and chained again (same types, payloads and sizes, new hashes), through the append script;
  every stream projected;
- the idempotency records are deleted before the baseline: by the time a cycle is archived (a year after it
  closed) they have expired (they live a fiscal year after the cycle's end);
- **before**: ``used_memory`` less the empty server's, the ``:events`` streams' own bytes, ``verify-all`` and
  ``rebuild`` as subprocesses (``--jobs 2``), and a unit's whole history read in process (p50 of 50 units);
- **archiving**: the operator command ``archive --as-of 2029-10-01`` (the cycle closed 30 September 2028, a year
  before) as a subprocess, timed, every unit archived; the archive folder's size;
- **after**: the same figures; the history read cold (each unit's segment read once from disk) and warm (again).

Not part of the test suite; loopback only. About ten minutes at the defaults on 2 cores.
Run: .venv/bin/python -m bench.archive [--units 7927] [--templates 200]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import redis as redis_lib

from bench import national
from services.submission.appender import Appender
from services.tracker.jobs import Tracker
from shared.archive import manifest
from shared.embedded import EmbeddedRedis
from shared.events import GENESIS_HASH
from shared.streams import read_entries, read_events

AS_OF = "2029-10-01T00:00:00+07:00"
KEYS, SETTINGS = national.KEYS, national.SETTINGS


def clone(redis, template: str, code: str) -> int:
    """The template unit's events, as the unit ``code``'s: its stream and actor, chained again; appended."""
    appender, prev, count = Appender(redis, KEYS), GENESIS_HASH, 0
    for event in read_events(redis, KEYS, template):
        actor = {**event.actor, "username": code} if event.actor.get("username") == template else event.actor
        unhashed = replace(event, stream=code, actor=actor, prev_hash=prev, hash="",
                           event_id=f"{code}-{event.version}")
        mine = replace(unhashed, hash=unhashed.expected_hash())
        assert appender.append(mine).status == "ok"
        prev, count = mine.hash, count + 1
    return count


def events_bytes(redis, streams) -> int:
    pipe = redis.pipeline(transaction=False)
    for stream in streams:
        pipe.memory_usage(KEYS.events(stream), samples=0)
    return sum(used or 0 for used in pipe.execute())


def used(redis, empty: int) -> int:
    return int(redis.info("memory")["used_memory"]) - empty


def history_reads(redis, codes) -> list[float]:
    """Seconds to read each unit's whole history (decoded), sorted."""
    out = []
    for code in codes:
        start = time.perf_counter()
        assert read_events(redis, KEYS, code)
        out.append(time.perf_counter() - start)
    return sorted(out)


def measure(redis, env: dict, empty: int, streams: list[str], sample: list[str]) -> dict:
    out = {"used": used(redis, empty), "events_bytes": events_bytes(redis, streams),
           "events_in_redis": sum(redis.xlen(KEYS.events(s)) for s in streams)}
    for sub in ("verify-all", "rebuild"):
        out[sub], said = national.command([national.PYTHON, "-m", "services.tracker.cli", sub, "--jobs", "2"], env)
        out[f"{sub} said"] = said
        print(f"  {sub}: {out[sub]:.1f} s ({said})", flush=True)
    out["history cold"] = history_reads(redis, sample)
    out["history warm"] = history_reads(redis, sample)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927)
    parser.add_argument("--templates", type=int, default=200, help="units seeded through the write API")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
        tmp = Path(tmp)
        redis = redis_lib.Redis.from_url(server.url)
        empty = int(redis.info("memory")["used_memory"])
        version = redis.info("server")["redis_version"]
        env = {**os.environ, "REDIS_URL": server.url, "NCC_ENV": "development", "NCC_PARTITIONS": "16",
               "NCC_SECRET_KEY": national.SECRET, "NCC_LOG_LEVEL": "WARNING", "NCC_DATA_DIR": str(tmp),
               "NCC_ARCHIVE_URL": f"file://{tmp}/archive", **national.UNLIMITED}
        rows = national.units(args.units)
        codes = [row["code"] for row in rows]
        redis.config_set("appendfsync", "everysec")
        national.registry_direct(redis, rows)
        templates = codes[:args.templates]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            parts = pool.starmap(national.seed_part, [(server.url, templates[k::2], k + 1) for k in range(2)])
        seeded = sum(events for events, _s in parts)
        print(f"  {len(templates)} template units seeded through the write API: {seeded:,} writes", flush=True)
        start = time.perf_counter()
        cloned = sum(clone(redis, templates[n % len(templates)], code)
                     for n, code in enumerate(codes[len(templates):]))
        print(f"  {len(codes) - len(templates):,} units from the templates: {cloned:,} events in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        tracker = Tracker(redis, SETTINGS)
        streams = tracker.models.streams()
        projected = sum(tracker.project(stream)["applied"] for stream in streams)
        idem = [key for key in redis.scan_iter(match="*:idem*", count=1000)]
        for first in range(0, len(idem), 1000):
            redis.delete(*idem[first:first + 1000])
        redis.config_set("appendfsync", "always")
        redis.config_set("auto-aof-rewrite-percentage", 0)
        units = [s for s in streams if s in set(codes)]
        sample = units[::max(1, len(units) // 50)][:50]
        total = sum(redis.xlen(KEYS.events(s)) for s in streams)
        print(f"  {len(streams):,} streams, {total:,} events, {projected:,} projected; "
              f"{len(idem):,} idempotency hashes dropped (expired by then)", flush=True)

        print("before archiving:", flush=True)
        before = measure(redis, env, empty, streams, sample)
        archive_seconds, said = national.command(
            [national.FLASK, "--app", "services.submission.app:create_app", "archive", "--operator", "bench",
             "--as-of", AS_OF], env)
        print(f"  archive: {archive_seconds:.1f} s ({said})", flush=True)
        assert f"{len(units)} archived" in said, said
        for stream in streams:
            tracker.project(stream)          # the seals (the workers would, nudged)
        folder = sum(f.stat().st_size for f in (tmp / "archive").rglob("*.zst"))
        files = len(list((tmp / "archive").rglob("*.zst")))
        raw = sum(len(b) for s in sample for _e, b in read_entries(redis, KEYS, s))
        assert all(manifest(redis, KEYS, s)[0] for s in units)
        redis.execute_command("MEMORY", "PURGE")
        print("after archiving:", flush=True)
        after = measure(redis, env, empty, streams, sample)

    def mb(n):
        return f"{n / 1e6:,.1f} MB"

    def ms(values, q=.5):
        return f"{national.p(values, q):.2f} ms"

    rows = [
        ("Redis used_memory (less the empty server's)", mb(before["used"]), mb(after["used"])),
        ("  per unit", f"{before['used'] / len(units) / 1e3:.1f} kB", f"{after['used'] / len(units) / 1e3:.1f} kB"),
        ("the :events streams' own bytes (MEMORY USAGE)", mb(before["events_bytes"]), mb(after["events_bytes"])),
        ("entries in Redis Streams", f"{before['events_in_redis']:,}", f"{after['events_in_redis']:,}"),
        ("verify-all --jobs 2", f"{before['verify-all']:.1f} s", f"{after['verify-all']:.1f} s"),
        ("rebuild --jobs 2", f"{before['rebuild']:.1f} s", f"{after['rebuild']:.1f} s"),
        ("a unit's whole history, read (p50 of 50; after: each segment from disk)", ms(before["history cold"]),
         ms(after["history cold"])),
        ("the same again (p50; after: segments cached in the process)", ms(before["history warm"]),
         ms(after["history warm"])),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{len(units):,} units, {total:,} events; redis-server {version}, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'':{width}}  {'before (baseline)':>20}  {'after archiving':>20}")
    for name, a, b in rows:
        print(f"{name:{width}}  {a:>20}  {b:>20}")
    print(f"\narchive command: {archive_seconds:.1f} s for {len(units):,} units ({said})")
    print(f"segments: {files:,} files, {mb(folder)} on disk (zstd level 10); the sample's raw JSON "
          f"{raw / len(sample) / 1e3:.1f} kB per unit")
    print(f"verify-all before: {before['verify-all said']}; after: {after['verify-all said']}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    print(json.dumps({"before": {k: v for k, v in before.items() if not k.startswith("history")},
                      "after": {k: v for k, v in after.items() if not k.startswith("history")}}))


if __name__ == "__main__":
    main()
