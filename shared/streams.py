"""Reading a stream's events and head from Redis (the write side and the tracker both read)."""
from __future__ import annotations

import json

from .events import GENESIS_HASH, Event, decode
from .keys import Keys


def entry_id(version: int) -> str:
    """The Redis Stream entry id of the event at a version: ``<version>-0``."""
    return f"{version}-0"


def version_of_entry(entry) -> int:
    """The version an entry id names."""
    return int((entry.decode() if isinstance(entry, bytes) else entry).split("-", 1)[0])


# A stream's version in a script: its last entry's (the entries of archived versions are no longer in the Redis
# Stream, but the event that sealed them always follows them there). Scripts include it.
VERSION_LUA = """
local function version_of(events)
  local last = redis.call('XREVRANGE', events, '+', '-', 'COUNT', 1)[1]
  if not last then return 0 end
  return tonumber(string.match(last[1], '^(%d+)'))
end
"""


def read_entries(redis, keys: Keys, stream: str, first: int = 1, last: int | None = None, batch: int = 1000,
                 *, fresh: bool = False):
    """The raw stream entries ``(entry id, value)`` from version ``first`` to ``last`` (None = the end): from the
    Redis Stream, and the archived ones from their segments (``shared.archive``; ``fresh``: each segment read
    again from its store). A version neither holds is left out (verification names the gap)."""
    from .archive import archived_entries

    expected, start = first, entry_id(first)
    end = entry_id(last) if last is not None else "+"
    key = keys.events(stream)
    while True:
        chunk = redis.xrange(key, start, end, count=batch)
        here = version_of_entry(chunk[0][0]) if chunk else None
        if here is None or here > expected:
            # entries missing at the front: archived (or trimmed by the archive meanwhile), or lost
            gap_end = here - 1 if here is not None else last
            for entry, raw in archived_entries(redis, keys, stream, expected, gap_end, fresh=fresh):
                yield entry, raw
                expected = version_of_entry(entry) + 1
        for entry, fields in chunk:
            yield entry.decode(), fields.get(b"e")
        if len(chunk) < batch:
            return
        expected = version_of_entry(chunk[-1][0]) + 1
        start = "(" + chunk[-1][0].decode()


def all_streams(redis, keys: Keys) -> list[str]:
    """Every stream of every partition (the streams set each append adds to), sorted."""
    return sorted(s.decode() for p in range(keys.partitions) for s in redis.smembers(keys.streams(p)))


def read_events(redis, keys: Keys, stream: str, first: int = 1, last: int | None = None,
                batch: int = 1000) -> list[Event]:
    """The events of a stream from version ``first`` to ``last`` (inclusive; None = the end), archived or live."""
    return [decode(raw) for _entry, raw in read_entries(redis, keys, stream, first, last, batch)]


def last_entry(redis, keys: Keys, stream: str, client=None):
    """Queue or run the read of a stream's last entry (``client``: a pipeline); ``parse_version`` reads it."""
    return (client or redis).xrevrange(keys.events(stream), "+", "-", count=1)


def parse_version(answer) -> int:
    """A stream's version from its last entry (``last_entry``'s answer): 0 for a stream with none."""
    return version_of_entry(answer[0][0]) if answer else 0


def version_of(redis, keys: Keys, stream: str) -> int:
    """A stream's version: its last entry's (entries are never deleted except archived ones, which the event that
    sealed them follows)."""
    return parse_version(last_entry(redis, keys, stream))


def head_of(redis, keys: Keys, stream: str) -> tuple[int, str]:
    """A stream's version and chain head hash, read together.

    Plain reads, not MULTI: Redis refuses MULTI at its memory limit and reads must go on there. The head
    changes with every append (each hash is new), so the same head before and after the last entry means the
    version belongs to it; otherwise an append came in between and the reads are repeated."""
    head_key = keys.head(stream)
    while True:
        pipe = redis.pipeline(transaction=False)
        pipe.get(head_key)
        last_entry(redis, keys, stream, pipe)
        pipe.get(head_key)
        before, last, head = pipe.execute()
        if before == head:
            return parse_version(last), (head.decode() if head else GENESIS_HASH)


def idempotency_record(redis, keys: Keys, stream: str, key: str, fiscal_years) -> dict | None:
    """What an Idempotency-Key answered the first time, or None: looked for where ``Keys.idempotency_keys``
    says, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for name in keys.idempotency_keys(stream, fiscal_years):
        pipe.hget(name, key)
    raw = next((found for found in pipe.execute() if found is not None), None)
    return None if raw is None else json.loads(raw)


def verify_stream(redis, keys: Keys, stream: str, evidence=None) -> dict:
    """Walk a stream's raw entries, archived and live: ids in order, each readable, chained and hashing to itself,
    and the stored head equal to the last hash; every archived segment read again from its store and matching the
    SHA-256 both the archive hash and the event that sealed it recorded; with an evidence store, every attached
    file there and hashing to the SHA-256 its event recorded. Names the first bad version and why."""
    from .archive import ArchiveError
    from .events import ChainCheck, verify_chain

    events, check = [], None
    entries = read_entries(redis, keys, stream, fresh=True)
    position = 0
    while check is None:
        position += 1
        try:
            entry, raw = next(entries)
        except StopIteration:
            break
        except ArchiveError as exc:
            prefix = verify_chain(events, stream)
            check = prefix if not prefix.ok else ChainCheck(False, prefix.events_checked, prefix.head_hash,
                                                            exc.first, exc.message)
            break
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
    if check is None:
        check = verify_chain(events, stream)
    if check.ok:
        version, head = head_of(redis, keys, stream)
        if head != check.head_hash:
            check = ChainCheck(False, check.events_checked, check.head_hash, version,
                               "the stored chain head does not match the last event's hash")
    if check.ok:
        bad = _sealed_as_recorded(redis, keys, stream, events)
        if bad:
            check = ChainCheck(False, check.events_checked, check.head_hash, *bad)
    if check.ok and evidence is not None:
        from .evidence import check_files
        bad = check_files(events, evidence)
        if bad:
            check = ChainCheck(False, check.events_checked, check.head_hash, bad["version"], bad["reason"])
    return {"ok": check.ok, "events_checked": check.events_checked, "head_hash": check.head_hash,
            "first_bad_version": check.first_bad_version, "reason": check.reason}


def _sealed_as_recorded(redis, keys: Keys, stream: str, events) -> tuple[int, str] | None:
    """Whether the archive hash lists exactly the segments the stream's ArchiveSealed events sealed, with their
    SHA-256 (the chain covers the events; the hash says where the segments are): (version, why) when not."""
    from .archive import manifest

    upto, segments = manifest(redis, keys, stream)
    listed = {(s.first, s.last): s for s in segments}
    sealed = [e for e in events if e.type == "ArchiveSealed"]
    for seal in sealed:
        p = seal.payload
        segment = listed.get((p["first_version"], p["last_version"]))
        if segment is None:
            continue                    # sealed, not yet trimmed: its events are still in the Redis Stream
        if (segment.sha256, segment.name) != (p["sha256"], p["segment"]):
            return seal.version, (f"the archive lists segment {segment.name} with SHA-256 {segment.sha256}, but "
                                  f"version {seal.version} sealed {p['segment']} with {p['sha256']}")
    ranges = {(e.payload["first_version"], e.payload["last_version"]) for e in sealed}
    for (first, last), segment in listed.items():
        if (first, last) not in ranges:
            return first, f"the archive lists segment {segment.name}, which no ArchiveSealed event sealed"
    return None
