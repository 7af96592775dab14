"""The atomic append: one Lua script checks idempotency, expected version and chain head, then writes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from shared import fiscal
from shared.connections import is_cluster
from shared.errors import StoreUnavailableError
from shared.events import GENESIS_HASH, Event, encode
from shared.keys import Keys
from shared.streams import VERSION_LUA

# Every check comes before the first write: Redis scripts do not roll back, so a refused
# append must leave no trace; running the script twice with the same event appends it once.
# XADD is the first write and names its id (<version>-0), so a
# stream whose entries were deleted or reordered refuses it before anything is written.
APPEND_LUA = VERSION_LUA + """
local events, head_key, streams, unprojected = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local stream, expected, prev_hash = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local idem_key, idem_record, entry, new_hash, recorded_ms = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local keep_seconds, cycle = tonumber(ARGV[9]), tonumber(ARGV[10])
if idem_key ~= '' then
  for k = 5, #KEYS do
    local seen = redis.call('HGET', KEYS[k], idem_key)
    if seen then return {'seen', seen} end
  end
end
local version = version_of(events)
local head = redis.call('GET', head_key)
if not head then
  if version ~= 0 then return {'broken', tostring(version)} end
  head = '""" + GENESIS_HASH + """'
end
if version ~= expected then
  -- the client may be re-sending this very script after losing its reply (redis-py retries on a
  -- dropped connection): the event already at the expected place is then this one, so say ok
  local mine = redis.call('XRANGE', events, tostring(expected + 1) .. '-0', tostring(expected + 1) .. '-0')
  if mine[1] and mine[1][2][2] == entry then return {'ok', tostring(expected + 1)} end
  return {'conflict', tostring(version)}
end
if head ~= prev_hash then return {'broken', tostring(version)} end
redis.call('XADD', events, tostring(version + 1) .. '-0', 'e', entry)
redis.call('SET', head_key, new_hash)
if idem_key ~= '' then
  redis.call('HSET', KEYS[#KEYS], idem_key, idem_record)
  -- the cycle's records so far (the last KEYS) live until a fiscal year after the cycle's end (a plan extended
  -- since moves that end later: the earlier years' records follow)
  for k = #KEYS - cycle + 1, #KEYS do
    if redis.call('TTL', KEYS[k]) < keep_seconds then redis.call('EXPIRE', KEYS[k], keep_seconds) end
  end
end
redis.call('SADD', streams, stream)
redis.call('ZADD', unprojected, 'NX', recorded_ms, stream)
return {'ok', tostring(version + 1)}
"""


@dataclass(frozen=True)
class Retention:
    """Where an idempotency record goes, where earlier ones are looked for, and how long they are kept.

    ``fiscal_years``: every year a record of this stream may still live in, the current one last (the record goes
    there): the last ten years (a plan cycle is at most ten) and the write's cycle so far. ``cycle``: how many of
    the last of them belong to the write's plan cycle; those live ``keep_seconds`` from the write, until a fiscal
    year after the cycle ends (the last year's 12-month report, its lock and any extension). Relative, so an
    injected clock and the store's own agree."""

    fiscal_years: list
    cycle: int
    keep_seconds: int

    LOOK_BACK = 10

    @classmethod
    def of_cycle(cls, first_fiscal_year: int, last_fiscal_year: int, now: datetime) -> "Retention":
        """A write to a unit whose plan covers ``first``..``last``: while the cycle runs, and in the year after
        it (its last 12-month report), the cycle's; later, a write outside any cycle."""
        year = fiscal.fiscal_year_of(now)
        if year > last_fiscal_year + 1:
            return cls.of_year(now)
        start = min(first_fiscal_year, year) - 1          # a plan is often declared in the year before its first
        end = fiscal.fiscal_year_end(last_fiscal_year + 1)
        return cls(list(range(min(start, year - cls.LOOK_BACK), year + 1)), year + 1 - start,
                   max(1, int((end - now).total_seconds()) + 1))

    @classmethod
    def of_year(cls, now: datetime) -> "Retention":
        """A write outside any plan cycle (national and security streams, a unit without a plan in force): kept
        a fiscal year after its own."""
        year = fiscal.fiscal_year_of(now)
        return cls(list(range(year - cls.LOOK_BACK, year + 1)), 1,
                   max(1, int((fiscal.fiscal_year_end(year + 1) - now).total_seconds()) + 1))


@dataclass(frozen=True)
class AppendOutcome:
    """What the script answered: ``ok`` (value = new version), ``seen`` (value = the stored
    idempotency record), ``conflict`` (value = current version) or ``broken`` (value = version)."""

    status: str
    value: object


class Appender:
    """Appends events to streams through the script; one per Redis client.

    With ``wait_replicas`` (``NCC_WAIT_REPLICAS``), an append (or the replay of one) is confirmed only once that many
    replicas of the node holding the stream have it (Redis's ``WAIT``, at most ``wait_timeout_ms``); fewer is
    StoreUnavailableError, a 503: the event is in the log on the master, and a re-send with the same
    Idempotency-Key waits for the replicas again rather than writing twice."""

    def __init__(self, redis, keys: Keys, *, wait_replicas: int = 0, wait_timeout_ms: int = 1000):
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(APPEND_LUA)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    def replicated(self, stream: str) -> int:
        """How many replicas have every write this connection made to the stream's node (``WAIT``)."""
        if is_cluster(self.redis):
            node = self.redis.get_node_from_key(self.keys.events(stream))
            return int(self.redis.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms, target_nodes=node))
        return int(self.redis.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms))

    def confirm(self, stream: str) -> None:
        """StoreUnavailableError unless ``wait_replicas`` replicas have the stream's writes (nothing without)."""
        if not self.wait_replicas:
            return
        acked = self.replicated(stream)
        if acked < self.wait_replicas:
            raise StoreUnavailableError(
                f"the write is on the event store's master but {acked} of the {self.wait_replicas} replicas "
                f"required confirmed it within {self.wait_timeout_ms} ms; send it again with the same "
                "Idempotency-Key (it will not be written twice)")

    def append(self, event: Event, *, idempotency_key: str = "", idempotency_record: dict | None = None,
               recorded_ms: int = 0, retention: Retention | None = None) -> AppendOutcome:
        """Append ``event`` if its stream is at ``event.version - 1`` with head ``event.prev_hash``; its
        idempotency record goes with the fiscal years and expiry of ``retention`` (default: the year of
        the event's alone)."""
        record = json.dumps(idempotency_record, ensure_ascii=False) if idempotency_key else ""
        retention = retention or Retention.of_year(fiscal.parse_instant(event.recorded_at))
        status, value = self._script(
            keys=self.keys.append_keys(event.stream, retention.fiscal_years),
            args=[event.stream, event.version - 1, event.prev_hash, idempotency_key, record,
                  encode(event), event.hash, recorded_ms, retention.keep_seconds, retention.cycle])
        status = status.decode() if isinstance(status, bytes) else status
        value = value.decode() if isinstance(value, bytes) else value
        if status in ("ok", "seen"):
            self.confirm(event.stream)
        if status == "seen":
            return AppendOutcome(status, json.loads(value))
        return AppendOutcome(status, int(value))
