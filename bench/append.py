"""Appends per second through the append script, and Redis bytes per event, against a plain XADD baseline.

Both run in the same process against the same real redis-server (AOF, appendfsync always), with the
same payload: a typical report of 20 entries. Run: .venv/bin/python -m bench.append [--events N]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import datetime, timezone

import redis as redis_lib

from services.submission.appender import Appender
from shared.embedded import EmbeddedRedis
from shared.events import GENESIS_HASH, encode, new_event
from shared.keys import Keys

NOW = datetime(2021, 4, 20, 3, 0, tzinfo=timezone.utc)


def report_payload(entries: int = 20) -> dict:
    """A typical round-6 report: 20 items with Thai outputs, outcomes and problems."""
    return {"fiscal_year": 2564, "round": 6, "note": "รายงานผลการดำเนินงานรอบ 6 เดือน", "late": False,
            "due_at": "2021-04-30T23:59:59+07:00", "locks_at": "2021-05-15T23:59:59+07:00",
            "under_exception": False,
            "entries": [{"item_id": f"{n:016x}", "status": "in_progress", "budget_planned": "50000.00",
                         "budget_ordinance": "45000.00", "spent": "12500.50",
                         "outputs": "จัดอบรมบุคลากร 2 รุ่น ผู้เข้าร่วม 120 คน",
                         "outcomes": "บุคลากรมีความรู้ความเข้าใจเรื่องผลประโยชน์ทับซ้อนเพิ่มขึ้น",
                         "problems": "งบประมาณล่าช้า", "suggestions": "ควรจัดสรรงบประมาณให้เร็วขึ้น"}
                        for n in range(entries)]}


def make_events(streams: int, per_stream: int) -> list:
    """Chains of report events, one chain per stream, ready to append in order."""
    out = []
    payload = report_payload()
    for s in range(streams):
        prev = GENESIS_HASH
        for v in range(1, per_stream + 1):
            e = new_event(stream=f"{3100000 + s:07d}", version=v, type_="ReportAmended" if v > 1 else "ReportSubmitted",
                          payload={**payload, **({"amendment": v - 1} if v > 1 else {})},
                          actor={"username": f"{3100000 + s:07d}", "role": "unit"}, recorded_at=NOW, prev_hash=prev)
            out.append(e)
            prev = e.hash
    return out


def run_threads(n_threads: int, chunks: list, work) -> float:
    """Run work(chunk) in threads; the seconds it took."""
    threads = [threading.Thread(target=work, args=(c,)) for c in chunks[:n_threads]]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    streams = args.threads * 10
    per_stream = max(1, args.events // streams)
    events = make_events(streams, per_stream)
    by_thread = [[e for e in events if int(e.stream) % args.threads == t] for t in range(args.threads)]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp) as server:
        r = redis_lib.Redis.from_url(server.url)
        keys = Keys("ncc", 16)

        def plain(chunk):
            c = redis_lib.Redis.from_url(server.url)
            for e in chunk:
                c.xadd(keys.events(e.stream), {"e": encode(e)}, id=f"{e.version}-0")

        def scripted(chunk):
            appender = Appender(redis_lib.Redis.from_url(server.url), keys)
            for e in chunk:
                outcome = appender.append(e, idempotency_key=e.event_id,
                                          idempotency_record={"fingerprint": "x" * 64, "answer": {
                                              "event_id": e.event_id, "unit": e.stream, "stream": e.stream,
                                              "version": e.version, "recorded_at": e.recorded_at, "type": e.type}},
                                          recorded_ms=1)
                assert outcome.status == "ok", outcome

        figures = {}
        for name, work in (("plain XADD", plain), ("append script", scripted)):
            r.flushall()
            base = int(r.info("memory")["used_memory"])
            seconds = run_threads(args.threads, by_thread, work)
            used = int(r.info("memory")["used_memory"]) - base
            assert sum(r.xlen(keys.events(f"{3100000 + s:07d}")) for s in range(streams)) == len(events)
            figures[name] = (len(events) / seconds, used / len(events))
        r.flushall()
        base = int(r.info("memory")["used_memory"])
        without_idem = run_threads(args.threads, by_thread, lambda chunk: [
            Appender(r, keys).append(e) for e in chunk])
        mem_no_idem = (int(r.info("memory")["used_memory"]) - base) / len(events)

    size = len(encode(events[0]))
    print(f"events: {len(events)} in {streams} streams, {args.threads} client threads, "
          f"event size {size} bytes (20-entry report), redis-server AOF appendfsync always")
    print(f"{'':16}{'events/s':>12}{'bytes/event':>14}")
    for name, (rate, per) in figures.items():
        print(f"{name:16}{rate:12.0f}{per:14.0f}")
    (base_rate, base_mem), (rate, mem) = figures["plain XADD"], figures["append script"]
    print(f"ratio script/plain: throughput {rate / base_rate:.2f}x, memory {mem / base_mem:.2f}x "
          f"(with an Idempotency-Key on every event)")
    print(f"without Idempotency-Keys: {len(events) / without_idem:.0f} events/s, "
          f"{mem_no_idem:.0f} bytes/event, {mem_no_idem / base_mem:.2f}x plain")


if __name__ == "__main__":
    main()
