"""Reading a stream's events and head from Redis (the write side and the tracker both read)."""
from __future__ import annotations

import json

from .events import GENESIS_HASH, Event, decode
from .keys import Keys


def entry_id(version: int) -> str:
    """The Redis Stream entry id of the event at a version: ``<version>-0``."""
    return f"{version}-0"


def read_entries(redis, keys: Keys, stream: str, first: int = 1, last: int | None = None, batch: int = 1000):
    """The raw stream entries ``(entry id, value)`` from version ``first`` to ``last`` (None = the end)."""
    start = entry_id(first)
    end = entry_id(last) if last is not None else "+"
    key = keys.events(stream)
    while True:
        chunk = redis.xrange(key, start, end, count=batch)
        for entry, fields in chunk:
            yield entry.decode(), fields.get(b"e")
        if len(chunk) < batch:
            return
        start = "(" + chunk[-1][0].decode()


def read_events(redis, keys: Keys, stream: str, first: int = 1, last: int | None = None,
                batch: int = 1000) -> list[Event]:
    """The events of a stream from version ``first`` to ``last`` (inclusive; None = the end)."""
    return [decode(raw) for _entry, raw in read_entries(redis, keys, stream, first, last, batch)]


def version_of(redis, keys: Keys, stream: str) -> int:
    """A stream's version: its length (streams are never trimmed)."""
    return int(redis.xlen(keys.events(stream)))


def head_of(redis, keys: Keys, stream: str) -> tuple[int, str]:
    """A stream's version and chain head hash, read together.

    Plain reads, not MULTI: Redis refuses MULTI at its memory limit and reads must go on there. The head
    changes with every append (each hash is new), so the same head before and after XLEN means the
    length belongs to it; otherwise an append came in between and the reads are repeated."""
    head_key, events_key = keys.head(stream), keys.events(stream)
    while True:
        pipe = redis.pipeline(transaction=False)
        pipe.get(head_key)
        pipe.xlen(events_key)
        pipe.get(head_key)
        before, length, head = pipe.execute()
        if before == head:
            return int(length), (head.decode() if head else GENESIS_HASH)


def idempotency_record(redis, keys: Keys, stream: str, key: str, fiscal_years) -> dict | None:
    """What an Idempotency-Key answered the first time, or None: looked for where ``Keys.idempotency_keys``
    says, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for name in keys.idempotency_keys(stream, fiscal_years):
        pipe.hget(name, key)
    raw = next((found for found in pipe.execute() if found is not None), None)
    return None if raw is None else json.loads(raw)


def verify_stream(redis, keys: Keys, stream: str, evidence=None) -> dict:
    """Walk a stream's raw entries: ids in order, each readable, chained and hashing to itself, and the
    stored head equal to the last hash; with an evidence store, every attached file there and hashing to the
    SHA-256 its event recorded. Names the first bad version and why."""
    from .events import ChainCheck, verify_chain

    events, check = [], None
    for position, (entry, raw) in enumerate(read_entries(redis, keys, stream), start=1):
        why = None
        if entry != entry_id(position):
            why = f"entry {position} has id {entry}: an entry was deleted, moved or inserted"
        else:
            try:
                events.append(decode(raw))
            except (ValueError, TypeError, KeyError) as exc:
                why = f"entry {position} cannot be read: {type(exc).__name__}"
        if why:
            prefix = verify_chain(events, stream)
            check = prefix if not prefix.ok else ChainCheck(False, prefix.events_checked, prefix.head_hash,
                                                            position, why)
            break
    if check is None:
        check = verify_chain(events, stream)
    if check.ok:
        version, head = head_of(redis, keys, stream)
        if head != check.head_hash:
            check = ChainCheck(False, check.events_checked, check.head_hash, version,
                               "the stored chain head does not match the last event's hash")
    if check.ok and evidence is not None:
        from .evidence import check_files
        bad = check_files(events, evidence)
        if bad:
            check = ChainCheck(False, check.events_checked, check.head_hash, bad["version"], bad["reason"])
    return {"ok": check.ok, "events_checked": check.events_checked, "head_hash": check.head_hash,
            "first_bad_version": check.first_bad_version, "reason": check.reason}
