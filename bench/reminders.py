"""One scheduled-reminder pass at national size, beside the same number of reminders written by hand in the run.

On a fresh real redis-server (AOF, appendfsync always while measuring): every unit registered straight through the
append script (bench/national.py's units: the 77 Bangkok units and synthetic local administrations, ``--units``,
default 7,927); a tenth of them report the round first. Then, in one process:

- **the pass**: ``ReminderScheduler.run_once`` for a national rule due now: one append per unit that has not
  reported, each with its rule's Idempotency-Key checked in the append script, the others decided against;
- **the pass again**: the same rule not yet marked done (as after a crash): every unit answered from its
  idempotency record or decided against, nothing appended;
- **baseline**: the same number of reminders sent by hand through ``SubmissionService.execute`` (no key), to
  other units' streams of the same size.

- **nothing to send**: the pass once every rule of the round is done;
- **the day's escalation digests**: the units put under bench/hierarchy.py's three-level tree (878 district offices,
  each supervisor with an address), one digest pass three days after the due date (every unit's state read to see
  whether it reported, one digest per supervisor into the outbox), beside reading the same units' states alone.

Run: .venv/bin/python -m bench.reminders [--units 7927] | tee docs/benchmarks/reminders-7927.txt
"""
from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import redis as redis_lib

from bench import hierarchy, national
from services.submission import handlers
from services.submission.app import create_app
from services.submission.digests import EscalationDigests
from services.submission.reminders import ReminderScheduler
from services.submission.service import fingerprint
from shared.embedded import EmbeddedRedis
from shared.fiscal import BANGKOK
from shared.auth import Accounts
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM


def main() -> None:
    """Register the units, time the pass, the pass again and the baseline, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927, help="units registered")
    args = parser.parse_args()
    rows = national.units(args.units)
    codes = [row["code"] for row in rows]
    now = datetime(2024, 4, 20, 10, 0, tzinfo=BANGKOK)              # FY 2567, round 6 open, due 30 April
    with tempfile.TemporaryDirectory(prefix="bench-reminders-") as tmp_name:
        tmp = Path(tmp_name)
        settings = national.SETTINGS.but(data_dir=str(tmp))
        with EmbeddedRedis(tmp / "redis", extra_args=("--appendfsync", "everysec")) as server:
            redis = redis_lib.Redis.from_url(server.url)
            started = time.perf_counter()
            national.registry_direct(redis, rows)
            print(f"registry of {len(codes):,} units: {time.perf_counter() - started:.1f} s", flush=True)
            app = create_app(settings, redis=redis, clock=lambda: now, nudge=lambda stream: None)
            service = app.extensions["ncc"]["service"]
            nacc = {"username": "nacc-bench", "role": "nacc"}
            service.execute(WINDOWS_STREAM, lambda s, ctx: handlers.set_reminder_rule(
                s, 2567, 6, "bench", None, {"anchor": "opens_at", "offset_days": 19, "target": "not_submitted",
                                            "message": None, "active": True}, ctx), actor=nacc,
                fp=fingerprint("BENCH", "rule", {}))
            reporters = codes[::10]
            for code in reporters:           # a tenth report first (a plan, then the round's report)
                unit = {"username": code, "role": "unit"}
                service.execute(code, lambda s, ctx: handlers.declare_plan(s, {
                    "title": "แผน", "first_fiscal_year": 2566, "last_fiscal_year": 2570}, ctx), actor=unit,
                    fp=fingerprint("BENCH", code, {}))
                service.execute(code, lambda s, ctx: handlers.submit_report(s, 2567, 6, {"entries": []}, ctx),
                                actor=unit, fp=fingerprint("BENCH", code, {"r": 1}), needs_windows=True)
            redis.config_set("appendfsync", "always")
            scheduler = ReminderScheduler(service, redis, clock=lambda: now, catch_up=timedelta(days=3))
            started = time.perf_counter()
            first = scheduler.run_once()
            first_seconds = time.perf_counter() - started
            redis.delete(service.keys.reminders_done)              # as if the pass had been cut off before its end
            started = time.perf_counter()
            again = scheduler.run_once()
            again_seconds = time.perf_counter() - started
            targets = [c for c in codes if c not in set(reporters)][:first["sent"]]
            started = time.perf_counter()
            for code in targets:
                service.execute(code, lambda s, ctx: handlers.send_reminder(s, {
                    "fiscal_year": 2567, "round": 6, "message": "เตือนด้วยมือ"}, ctx), actor=nacc,
                    fp=fingerprint("BENCH", code, {"hand": 1}))
            hand_seconds = time.perf_counter() - started
            started = time.perf_counter()
            idle = scheduler.run_once()                              # every rule done: nothing to send
            idle_seconds = time.perf_counter() - started
            digest, digest_seconds, plain_seconds = digest_pass(service, redis, codes, nacc)
    n = first["sent"]
    print(f"\n{len(codes):,} units registered, {len(reporters):,} reported first; redis appendfsync always; one process")
    print(f"  the pass: {first['sent']:,} reminders sent, {first['not_needed']:,} units decided against, "
          f"in {first_seconds:.1f} s ({n / first_seconds:,.0f} reminders/s)")
    print(f"  the pass again (not marked done): {again['sent']} sent, {again['already_sent']:,} answered from the "
          f"idempotency record, {again['not_needed']:,} decided against, in {again_seconds:.1f} s")
    print(f"  baseline, {len(targets):,} reminders by hand (no key) to the same streams: {hand_seconds:.1f} s "
          f"({len(targets) / hand_seconds:,.0f}/s); the pass takes {first_seconds / hand_seconds:.2f}x its time")
    print(f"  a pass with nothing to send (every rule of the round done): {idle['sent']} sent, "
          f"in {idle_seconds * 1000:.1f} ms")
    print(f"  the day's escalation digests, 3 days after the due date, over {len(codes):,} units under "
          f"{hierarchy.DISTRICTS} district offices: {digest['queued']:,} digests queued in {digest_seconds:.1f} s; "
          f"baseline, reading the same {len(codes):,} units' states and nothing else: {plain_seconds:.1f} s")


def digest_pass(service, redis, codes: list[str], nacc: dict):
    """Put the units under bench/hierarchy.py's three-level tree (each supervisor with an address), add NACC's
    escalation rule, then time one digest pass three days after the due date, and the same units' states read alone
    by a fresh service."""
    operator = {"username": "bench", "role": "operator"}
    supervisors = hierarchy.tree()
    for username, name, _parent in supervisors:
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, n=name: handlers.create_account(
            s, {"username": u, "role": "supervisor", "name": n}, ctx), actor=operator, fp=fingerprint("B", username, {}))
    for username, _name, parent in supervisors:
        if parent:
            service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, p=parent: handlers.set_parent(
                s, {"supervisor": u, "parent": p}, ctx), actor=operator, fp=fingerprint("B", "p" + username, {}))
    districts = [s[0] for s in supervisors if s[0].startswith("stha-")]
    for n, district in enumerate(districts[:len(codes)]):
        service.execute(REGISTRY_STREAM, lambda s, ctx, d=district, u=codes[n::len(districts)]: handlers.assign_units(
            s, {"supervisor": d, "units": u}, ctx), actor=operator, fp=fingerprint("B", "a" + district, {}))
    accounts = Accounts(redis, service.keys, service.settings)
    for username, _name, _parent in supervisors:
        accounts.set_email(username, f"{username}@example.go.th", datetime.now(BANGKOK))
    service.execute(WINDOWS_STREAM, lambda s, ctx: handlers.set_reminder_rule(
        s, 2567, 6, "bench-escalate", None, {"anchor": "due_at", "offset_days": 3, "target": "not_submitted",
                                             "message": None, "active": True, "audience": "supervisors",
                                             "above_after_days": 7}, ctx), actor=nacc,
        fp=fingerprint("BENCH", "escalate", {}))
    later = datetime(2024, 5, 3, 10, 0, tzinfo=BANGKOK)
    fresh = create_app(service.settings, redis=redis, clock=lambda: later, nudge=lambda stream: None)
    started = time.perf_counter()
    counts = EscalationDigests(fresh.extensions["ncc"]["service"], redis, clock=lambda: later).run_once()
    digest_seconds = time.perf_counter() - started
    plain = create_app(service.settings, redis=redis, clock=lambda: later, nudge=lambda stream: None)
    started = time.perf_counter()
    for code in codes:
        plain.extensions["ncc"]["service"].load(code)
    return counts, digest_seconds, time.perf_counter() - started


if __name__ == "__main__":
    main()
