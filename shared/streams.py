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
    """A stream's version and chain head hash, read together."""
    pipe = redis.pipeline(transaction=True)
    pipe.xlen(keys.events(stream))
    pipe.get(keys.head(stream))
    length, head = pipe.execute()
    return int(length), (head.decode() if head else GENESIS_HASH)


def idempotency_record(redis, keys: Keys, stream: str, key: str) -> dict | None:
    """What an Idempotency-Key answered the first time, or None."""
    raw = redis.hget(keys.idempotency(stream), key)
    return None if raw is None else json.loads(raw)
