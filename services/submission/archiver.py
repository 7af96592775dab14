"""Archiving closed plan cycles: a unit's events moved out of Redis into a sealed segment (``shared.archive``).

For one stream, in an order that any crash and any second run leave whole:

1. the live events after the last archived version are written to their segment (the same events give the same
   bytes), and read back and checked;
2. ``ArchiveSealed`` is appended through the write service, with If-Match on the version the segment ends at (a
   write that came in meanwhile makes it a 412: the stream waits for the next run);
3. one script lists the segment in the stream's archive hash and trims the Redis Stream up to it (the entries
   after it rewritten into a fresh stream, so the archived ones' bytes are freed), only when the entry after it is
   that very seal.

A run that stopped after 1 leaves a file no seal names (written again the same next time); after 2, the next run
finds the seal last in the stream and does 3; after 3, there is nothing to do until the stream grows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import fiscal
from shared.archive import ArchiveStore, Segment, fetch, manifest, pack, segment_name, sha256_of, unpack
from shared.errors import PreconditionFailedError
from shared.events import decode
from shared.keys import is_unit_stream
from shared.plan import UnitState
from shared.streams import all_streams, read_entries

from . import handlers
from .service import fingerprint

log = logging.getLogger("ncc.archive")

# Checks first, then writes: the segment must continue the archive where it ends (nothing archived twice, no gap)
# and the entry after it must be the seal the archive command appended; then the listing and the trim, together
# (one script: a reader sees the entries in the stream or the segment listed, never neither).
TRIM_LUA = """
local events, archive = KEYS[1], KEYS[2]
local first, last, seal_entry, field, segment = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local upto = tonumber(redis.call('HGET', archive, 'upto') or '0')
if upto >= last then return {'done', tostring(upto)} end
if upto ~= first - 1 then return {'gap', tostring(upto)} end
local id = tostring(last + 1) .. '-0'
local seal = redis.call('XRANGE', events, id, id)[1]
if not seal or seal[2][2] ~= seal_entry then return {'unsealed', tostring(upto)} end
redis.call('HSET', archive, field, segment, 'upto', tostring(last))
-- the entries after the segment (the seal, and any written since) into a stream of their own: trimming alone
-- leaves the archived entries' bytes in the stream's last node (a listpack frees only whole nodes)
local rest = redis.call('XRANGE', events, id, '+')
redis.call('DEL', events)
for _, entry in ipairs(rest) do redis.call('XADD', events, entry[1], unpack(entry[2])) end
return {'ok', tostring(last)}
"""


@dataclass(frozen=True)
class Outcome:
    """What archiving one stream did: ``archived`` (sealed and trimmed now), ``finished`` (a seal an earlier run
    appended, trimmed now), ``current`` (nothing since the last seal), ``open`` (its cycle is not closed long
    enough), ``moved`` (written to meanwhile: next run)."""

    stream: str
    status: str
    first: int = 0
    last: int = 0
    segment: str = ""


def closed_at(state: UnitState, windows, grace_days: int) -> datetime | None:
    """When a unit's plan cycle closed, or None without a plan: the end of the fiscal year after its last (the last
    year's 12-month report is due in it), or later if that report's window, or an exception for it, runs on."""
    if state.plan is None:
        return None
    last = state.plan["last_fiscal_year"]
    ends = [fiscal.fiscal_year_end(last + 1), windows.window(last, 12, grace_days).locks_at]
    ends += [fiscal.parse_instant(e["until"]) for e in state.exceptions.get((last, 12), [])]
    return max(ends)


class Archiver:
    """Archives the closed cycles of unit streams through the write service, into one archive store."""

    def __init__(self, service, store: ArchiveStore, operator: str):
        self.service, self.store, self.operator = service, store, operator
        self.redis, self.keys = service.redis, service.keys
        self._trim = self.redis.register_script(TRIM_LUA)

    def streams(self) -> list[str]:
        """Every unit stream, sorted."""
        return [stream for stream in all_streams(self.redis, self.keys) if is_unit_stream(stream)]

    def due(self, state: UnitState, now: datetime, after_days: int) -> bool:
        """Whether a unit's plan cycle has been closed ``after_days`` days at ``now``."""
        closed = closed_at(state, self.service.load("windows"), self.service.settings.lock_grace_days)
        return closed is not None and now >= closed + timedelta(days=after_days)

    def archive(self, stream: str, now: datetime, after_days: int) -> Outcome:
        """Archive a stream's live events if its plan cycle has been closed ``after_days`` at ``now`` (or finish the
        archiving an earlier run sealed)."""
        state = self.service.load(stream)
        upto, _segments = manifest(self.redis, self.keys, stream)
        live = list(read_entries(self.redis, self.keys, stream, upto + 1, state.version))
        if not live:
            return Outcome(stream, "current")
        last_event = decode(live[-1][1])
        if last_event.type == "ArchiveSealed":
            sealed = last_event.payload
            if sealed["last_version"] > upto:
                return self.finish(stream, (last_event, live[-1][1]), "finished")
            if len(live) == 1:
                return Outcome(stream, "current")
        if not self.due(state, now, after_days):
            return Outcome(stream, "open")
        payload = self.write_segment(stream, state, upto, [raw for _entry, raw in live])
        seal = self.seal(stream, payload)
        if seal is None:
            return Outcome(stream, "moved", payload["first_version"], payload["last_version"], payload["segment"])
        return self.finish(stream, seal, "archived", read_back=True)

    def write_segment(self, stream: str, state: UnitState, upto: int, raws: list) -> dict:
        """Step 1: the segment of the live events after ``upto`` written and read back; the seal's payload."""
        first, last, plan = upto + 1, state.version, state.plan
        name = segment_name(stream, plan["first_fiscal_year"], plan["last_fiscal_year"], first, last)
        data = pack(raws)
        digest = sha256_of(data)
        url = self.store.put(name, data)
        stored = fetch(url)
        if stored is None or sha256_of(stored) != digest or unpack(stored) != raws:
            raise RuntimeError(f"the segment {name} did not read back as written at {url}")
        return {"segment": name, "first_version": first, "last_version": last, "events": len(raws),
                "bytes": len(data), "sha256": digest, "first_fiscal_year": plan["first_fiscal_year"],
                "last_fiscal_year": plan["last_fiscal_year"]}

    def seal(self, stream: str, payload: dict) -> tuple | None:
        """Step 2: ``ArchiveSealed`` appended right after the segment's last version (None: the stream moved on);
        the seal and its stored entry."""
        try:
            answer = self.service.execute(
                stream, lambda s, ctx: handlers.seal_archive(s, payload, ctx),
                actor={"username": self.operator, "role": "operator"},
                fp=fingerprint("CLI", "archive", payload), if_match=payload["last_version"]).body
        except PreconditionFailedError:
            return None
        entry = f"{answer['version']}-0"
        raw = self.redis.xrange(self.keys.events(stream), entry, entry)[0][1][b"e"]
        return decode(raw), raw

    def finish(self, stream: str, sealed: tuple, status: str, *, read_back: bool = False) -> Outcome:
        """Step 3: the sealed segment listed and the stream trimmed up to it. The file is checked first against the
        seal, unless this run wrote it and read it back (``read_back``) just before sealing it."""
        seal, seal_raw = sealed
        p = seal.payload
        url = self.store.url_of(p["segment"])
        data = None if read_back else fetch(url)
        if not read_back and (data is None or sha256_of(data) != p["sha256"]):
            raise RuntimeError(f"the segment {p['segment']} that version {seal.version} of {stream} sealed is "
                               f"{'missing' if data is None else 'not as sealed'} at {url}; it was not trimmed")
        segment = Segment(name=p["segment"], url=url, sha256=p["sha256"], first=p["first_version"],
                          last=p["last_version"], events=p["events"], bytes=p["bytes"])
        status_, value = self._trim(keys=[self.keys.events(stream), self.keys.archive(stream)],
                                    args=[segment.first, segment.last, seal_raw, segment.field, segment.to_json()])
        status_ = status_.decode() if isinstance(status_, bytes) else status_
        if status_ not in ("ok", "done"):
            raise RuntimeError(f"{stream}: the archive could not list {p['segment']} ({status_}, archived up to "
                               f"{int(value)})")
        log.info("archived %s v%s..v%s in %s", stream, segment.first, segment.last, p["segment"],
                 extra={"stream": stream, "from_version": segment.first, "to_version": segment.last,
                        "segment": p["segment"], "sha256": p["sha256"]})
        return Outcome(stream, status if status_ == "ok" else "current", segment.first, segment.last, p["segment"])

    def run(self, now: datetime, after_days: int, streams=None, progress=lambda outcome: None) -> dict:
        """Archive every due stream (or those named); the count of each outcome."""
        counts: dict = {}
        for stream in (self.streams() if streams is None else streams):
            outcome = self.archive(stream, now, after_days)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            progress(outcome)
        return counts
