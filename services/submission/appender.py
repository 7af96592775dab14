"""The atomic append: one Lua script checks idempotency, expected version and chain head, then writes."""
from __future__ import annotations

import json
from dataclasses import dataclass

from shared.events import GENESIS_HASH, Event, encode
from shared.keys import Keys

# Every check comes before the first write: Redis scripts do not roll back, so a refused
# append must leave no trace; running the script twice with the same event appends it once.
# XADD is the first write and names its id (<version>-0), so a
# stream whose entries were deleted or reordered refuses it before anything is written.
APPEND_LUA = """
local events, head_key, idem, streams, unprojected = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local stream, expected, prev_hash = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local idem_key, idem_record, entry, new_hash, recorded_ms = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if idem_key ~= '' then
  local seen = redis.call('HGET', idem, idem_key)
  if seen then return {'seen', seen} end
end
local version = redis.call('XLEN', events)
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
if idem_key ~= '' then redis.call('HSET', idem, idem_key, idem_record) end
redis.call('SADD', streams, stream)
redis.call('ZADD', unprojected, 'NX', recorded_ms, stream)
return {'ok', tostring(version + 1)}
"""


@dataclass(frozen=True)
class AppendOutcome:
    """What the script answered: ``ok`` (value = new version), ``seen`` (value = the stored
    idempotency record), ``conflict`` (value = current version) or ``broken`` (value = version)."""

    status: str
    value: object


class Appender:
    """Appends events to streams through the script; one per Redis client."""

    def __init__(self, redis, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(APPEND_LUA)

    def append(self, event: Event, *, idempotency_key: str = "", idempotency_record: dict | None = None,
               recorded_ms: int = 0) -> AppendOutcome:
        """Append ``event`` if its stream is at ``event.version - 1`` with head ``event.prev_hash``."""
        record = json.dumps(idempotency_record, ensure_ascii=False) if idempotency_key else ""
        status, value = self._script(
            keys=self.keys.append_keys(event.stream),
            args=[event.stream, event.version - 1, event.prev_hash, idempotency_key, record,
                  encode(event), event.hash, recorded_ms])
        status = status.decode() if isinstance(status, bytes) else status
        value = value.decode() if isinstance(value, bytes) else value
        if status == "seen":
            return AppendOutcome(status, json.loads(value))
        return AppendOutcome(status, int(value))
