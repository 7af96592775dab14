"""Verify an exported history (JSON Lines, one event per line) without Redis or the services.

Run: ``python -m shared.offline FILE.jsonl`` — exit 0 when every stream's chain holds, 1 otherwise.
"""
from __future__ import annotations

import json
import sys
from collections import OrderedDict

from .events import Event, verify_chain


def verify_lines(lines) -> dict:
    """Per stream in the file: the chain check (each stream's lines in order, from its first version)."""
    streams: OrderedDict = OrderedDict()
    broken: dict = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            event = Event(**data)
        except (ValueError, TypeError) as exc:
            broken.setdefault("?", {"ok": False, "first_bad_version": None,
                                    "reason": f"line {number} cannot be read: {type(exc).__name__}"})
            continue
        streams.setdefault(event.stream, []).append(event)
    results = {}
    for stream, events in streams.items():
        check = verify_chain(events, stream)
        results[stream] = {"ok": check.ok, "events_checked": check.events_checked, "head_hash": check.head_hash,
                           "first_bad_version": check.first_bad_version, "reason": check.reason}
    results.update(broken)
    return results


def main(argv=None) -> int:
    """Print one line per stream and a summary; exit 1 when anything is wrong."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m shared.offline FILE.jsonl", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        results = verify_lines(f)
    bad = {s: r for s, r in results.items() if not r["ok"]}
    for stream, r in results.items():
        print(f"{stream}: " + ("ok, " + f"{r['events_checked']} events, head {r['head_hash'][:16]}" if r["ok"]
                                else f"BAD at version {r['first_bad_version']}: {r['reason']}"))
    print(f"{len(results)} streams, {len(bad)} bad")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
