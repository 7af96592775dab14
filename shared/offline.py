"""Verify an exported history, or a receipt, without Redis or the services.

Run: ``python -m shared.offline FILE.jsonl`` (one event per line): exit 0 when every stream's chain holds, 1
otherwise. With ``--archive DIR`` (a copy of the archive's folder, ``NCC_ARCHIVE_URL``), every segment an
``ArchiveSealed`` event in the file names is read from DIR and must hash to the SHA-256 the seal recorded; its
events fill the versions the file leaves out and must equal those it holds, so the live events alone and the
archive check a whole stream end to end. ``python -m shared.offline RECEIPT.json --key KEYS.json`` (KEYS: what ``GET /api/v1/public/keys``
answers): exit 0 when the receipt's signature holds under the key it names, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict

from .events import Event, verify_chain
from .signing import verify_receipt


def verify_lines(lines, archive: str | None = None) -> dict:
    """Per stream in the file: the chain check (each stream's events in version order, from its first), with the
    segments its seals name read from the folder ``archive``."""
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
        if archive is not None:
            events, bad = _with_segments(events, archive)
            if bad:
                results[stream] = {"ok": False, "events_checked": 0, "head_hash": None,
                                   "first_bad_version": bad[0], "reason": bad[1]}
                continue
        check = verify_chain(events, stream)
        results[stream] = {"ok": check.ok, "events_checked": check.events_checked, "head_hash": check.head_hash,
                           "first_bad_version": check.first_bad_version, "reason": check.reason}
    results.update(broken)
    return results


def _with_segments(events: list, archive: str) -> tuple[list, tuple | None]:
    """A stream's events with those of the segments its seals name (read from the folder ``archive``), in version
    order; (version, why) when a segment is missing, not as sealed, or disagrees with the file."""
    from .archive import sha256_of, unpack

    by_version = {}
    for event in events:
        if by_version.setdefault(event.version, event) != event:
            return [], (event.version, f"the file holds two different events at version {event.version}")
    for seal in [e for e in events if e.type == "ArchiveSealed"]:
        p = seal.payload
        path = os.path.join(archive, *p["segment"].split("/"))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return [], (p["first_version"], f"the segment {p['segment']} that version {seal.version} sealed is "
                                            f"missing from {archive}")
        if sha256_of(data) != p["sha256"]:
            return [], (p["first_version"], f"the segment {p['segment']} has SHA-256 {sha256_of(data)}, not the "
                                            f"{p['sha256']} version {seal.version} sealed it with")
        try:
            sealed = [Event(**json.loads(raw)) for raw in unpack(data)]
        except (ValueError, TypeError) as exc:
            return [], (p["first_version"], f"the segment {p['segment']} cannot be read: {exc}")
        if [e.version for e in sealed] != list(range(p["first_version"], p["last_version"] + 1)):
            return [], (p["first_version"], f"the segment {p['segment']} does not hold versions "
                                            f"{p['first_version']}-{p['last_version']}")
        for event in sealed:
            if by_version.setdefault(event.version, event) != event:
                return [], (event.version, f"version {event.version} in the file differs from the segment "
                                           f"{p['segment']}")
    return [by_version[v] for v in sorted(by_version)], None


def check_receipt(receipt_path: str, keys_path: str) -> int:
    """Print whether the receipt holds under the published keys; 0 when it does, 1 when not."""
    try:
        with open(receipt_path, encoding="utf-8") as f:
            receipt = json.load(f)
        with open(keys_path, encoding="utf-8") as f:
            published = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"cannot read: {exc}", file=sys.stderr)
        return 1
    keys = published.get("keys", []) if isinstance(published, dict) else published
    ok, reason = verify_receipt(receipt, keys if isinstance(keys, list) else [])
    if ok:
        print(f"receipt ok: {receipt.get('type')} of {receipt.get('stream')} at version {receipt.get('version')}, "
              f"recorded {receipt.get('recorded_at')}, hash {str(receipt.get('hash'))[:16]}, key {receipt.get('key_id')}")
    else:
        print(f"receipt BAD: {reason}")
    return 0 if ok else 1


def main(argv=None) -> int:
    """Print one line per stream and a summary (or the receipt's check); exit 1 when anything is wrong."""
    parser = argparse.ArgumentParser(prog="python -m shared.offline",
                                     description="Verify an exported history (JSON Lines) or, with --key, a receipt")
    parser.add_argument("file", help="FILE.jsonl, or RECEIPT.json with --key")
    parser.add_argument("--key", help="the published keys (GET /api/v1/public/keys) to check a receipt against")
    parser.add_argument("--archive", help="a folder holding the archived segments the history's seals name")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.key:
        return check_receipt(args.file, args.key)
    with open(args.file, encoding="utf-8") as f:
        results = verify_lines(f, args.archive)
    bad = {s: r for s, r in results.items() if not r["ok"]}
    for stream, r in results.items():
        print(f"{stream}: " + ("ok, " + f"{r['events_checked']} events, head {r['head_hash'][:16]}" if r["ok"]
                                else f"BAD at version {r['first_bad_version']}: {r['reason']}"))
    print(f"{len(results)} streams, {len(bad)} bad")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
