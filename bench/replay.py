"""Rebuild and verification speed on a large log, against the raw read speed of the same streams.

Seeds N events (default 200,000) in unit streams through the append script, then measures in the
same run: a raw XRANGE of every stream, a full rebuild of every read model (one process), and a
hash-chain verification of every stream. Seeding uses appendfsync everysec to be quick; the
measured steps only read (and the rebuild writes read models), fsync does not bound them.
Run: .venv/bin/python -m bench.replay [--events N] [--units U]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import redis as redis_lib

from bench.projection import SETTINGS, seed
from services.tracker.jobs import Tracker
from shared.embedded import EmbeddedRedis
from shared.keys import Keys
from shared.streams import verify_stream


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--units", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp, extra_args=("--appendfsync", "everysec")) as server:
        r = redis_lib.Redis.from_url(server.url)
        keys = Keys(SETTINGS.key_prefix, SETTINGS.partitions)
        start = time.perf_counter()
        total = seed(r, keys, args.units, args.events // args.units)
        print(f"seeded {total} events in {args.units} unit streams in {time.perf_counter() - start:.0f}s")
        tracker = Tracker(r, SETTINGS)
        streams = tracker.models.streams()
        start = time.perf_counter()
        assert sum(len(r.xrange(keys.events(s))) for s in streams) == total
        raw = time.perf_counter() - start
        start = time.perf_counter()
        result = tracker.rebuild(streams)
        rebuild = time.perf_counter() - start
        assert result["events"] == total
        start = time.perf_counter()
        checks = [verify_stream(r, keys, s) for s in streams]
        verify = time.perf_counter() - start
        assert all(c["ok"] for c in checks) and sum(c["events_checked"] for c in checks) == total
    print(f"{'':28}{'events/s':>12}{'x raw read time':>18}")
    print(f"{'raw XRANGE read':28}{total / raw:12.0f}{1:18.1f}")
    print(f"{'rebuild (one process)':28}{total / rebuild:12.0f}{rebuild / raw:18.1f}")
    print(f"{'verify hash chains':28}{total / verify:12.0f}{verify / raw:18.1f}")


if __name__ == "__main__":
    main()
