"""The atomic append: one Lua script checks idempotency, expected version and chain head, then writes."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

import redis as redis_lib

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
local keep_seconds, cycle, confirming = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11] == '1'
-- answering with a write made earlier (maybe by another connection), a client that then WAITs on this connection
-- needs a write of this connection's own after it, or WAIT would not cover it: the head set to itself
local function after_earlier_writes()
  if confirming then
    local head = redis.call('GET', head_key)
    if head then redis.call('SET', head_key, head) end
  end
end
if idem_key ~= '' then
  for k = 5, #KEYS do
    local seen = redis.call('HGET', KEYS[k], idem_key)
    if seen then
      after_earlier_writes()
      return {'seen', seen}
    end
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
  if mine[1] and mine[1][2][2] == entry then
    after_earlier_writes()
    return {'ok', tostring(expected + 1)}
  end
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

# Before a replay found by reading (no script run) is answered: a write of the connection's own after the first
# answer's (the head set to itself), for the WAIT that follows on the same connection to cover it.
TOUCH_HEAD_LUA = """
local head = redis.call('GET', KEYS[1])
if head then redis.call('SET', KEYS[1], head) end
return 1
"""

# How long a script may be sent again while the cluster redirects it (a slot being moved answers TRYAGAIN until
# its keys are all on their new node) or fails over (CLUSTERDOWN, a master gone), before the write is a 503.
REDIRECT_SECONDS = 2.0


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
    Idempotency-Key waits for the replicas again rather than writing twice.

    ``WAIT`` counts the replicas that have the writes of the connection it is sent on, so it goes on the script's
    own connection, right behind it in one round trip; a script answering with an earlier write (a replay) makes a
    write of its own first (the head set to itself), which comes after the earlier one, wherever that was made.
    On a Redis Cluster the script is sent to the node serving its partition's slot, following the cluster: a slot
    that moved (MOVED), is moving (ASK, then TRYAGAIN until its keys are all on their new node), a master being
    replaced (CLUSTERDOWN, a node that does not answer): sent again, the slot table read again, for up to
    ``REDIRECT_SECONDS``; sending the script again is safe (it appends an event once)."""

    def __init__(self, redis, keys: Keys, *, wait_replicas: int = 0, wait_timeout_ms: int = 1000):
        self.redis = redis
        self.keys = keys
        self._script = redis.register_script(APPEND_LUA)
        self._touch = redis.register_script(TOUCH_HEAD_LUA)
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.cluster = is_cluster(redis)

    def _check(self, acked: int) -> None:
        if acked < self.wait_replicas:
            raise StoreUnavailableError(
                f"the write is on the event store's master but {acked} of the {self.wait_replicas} replicas "
                f"required confirmed it within {self.wait_timeout_ms} ms; send it again with the same "
                "Idempotency-Key (it will not be written twice)")

    def _run(self, script, keys: list, args: list):
        """Run ``script`` and, when waiting for replicas, ``WAIT`` on the same connection: (its answer, how many
        replicas have it, or None)."""
        if not self.cluster and not self.wait_replicas:
            return script(keys=keys, args=args), None
        commands = [("EVALSHA", script.sha, len(keys), *keys, *args)]
        if self.wait_replicas:
            commands.append(("WAIT", self.wait_replicas, self.wait_timeout_ms))
        if self.cluster:
            replies = self._on_slot_node(keys[0], commands, script.script)
        else:
            replies = self._on_connection(self.redis, commands, script.script)
        return replies[0], (int(replies[1]) if self.wait_replicas else None)

    @staticmethod
    def _send(client, commands, asking: bool = False) -> list:
        """The commands on one connection of ``client``, in one round trip; their replies (errors as values)."""
        pipe = client.pipeline(transaction=False)
        if asking:
            pipe.execute_command("ASKING")
        for command in commands:
            pipe.execute_command(*command)
        replies = pipe.execute(raise_on_error=False)
        return replies[1:] if asking else replies

    def _on_connection(self, client, commands, source: str) -> list:
        """One Redis: the commands together; a script that Redis does not know yet is loaded and they go again."""
        for _ in range(2):
            replies = self._send(client, commands)
            if not isinstance(replies[0], redis_lib.exceptions.NoScriptError):
                break
            client.script_load(source)
        return _raise_first(replies)

    def _on_slot_node(self, key: str, commands, source: str) -> list:
        """A Redis Cluster: the commands together on the node serving ``key``'s slot, following its redirections."""
        from redis import exceptions as e
        from redis.cluster import ClusterNode
        deadline = time.monotonic() + REDIRECT_SECONDS
        node, asking = None, False
        while True:
            try:
                node = node or self.redis.get_node_from_key(key)
                replies = self._send(self.redis.get_redis_connection(node), commands, asking)
            except (e.ConnectionError, e.TimeoutError, e.SlotNotCoveredError):
                # the node is gone (killed, its replica not promoted yet), or the table names none for the slot
                if time.monotonic() > deadline:
                    raise
                self._refresh(pause=0.1)
                node, asking = None, False
                continue
            first, asking = replies[0], False
            if not isinstance(first, (e.NoScriptError, e.AskError, e.TryAgainError, e.ClusterDownError)):
                return _raise_first(replies)
            if time.monotonic() > deadline:
                raise first
            if isinstance(first, e.NoScriptError):           # a node that has not run it yet (a promoted replica)
                self.redis.get_redis_connection(node).script_load(source)
            elif isinstance(first, e.MovedError):            # the slot is served elsewhere now (an AskError too)
                self.redis.nodes_manager.move_slot(first)
                node = None
            elif isinstance(first, e.AskError):              # the slot is moving and its keys are not all here
                # to a node that may serve no slot yet (a master just added), so not in the client's table
                node = self.redis.get_node(host=first.host, port=first.port) or ClusterNode(first.host, first.port)
                asking = True
            elif isinstance(first, e.TryAgainError):         # moving, some of the keys on either side
                time.sleep(0.02)
                node = None
            else:                                            # CLUSTERDOWN: a master is being replaced
                self._refresh(pause=0.1)
                node = None

    def _refresh(self, pause: float = 0.0) -> None:
        """The slot table read again from the cluster (after ``pause`` seconds); a cluster that does not answer
        yet is asked again next time."""
        from redis import exceptions as e
        time.sleep(pause)
        try:
            self.redis.nodes_manager.initialize()
        except (e.RedisError, e.RedisClusterException):
            pass

    def confirm_replay(self, stream: str) -> None:
        """Before a replay found by reading is answered: StoreUnavailableError unless ``wait_replicas`` replicas
        have every write to the stream so far (the first answer's among them); nothing without."""
        if not self.wait_replicas:
            return
        _answer, acked = self._run(self._touch, [self.keys.head(stream)], [])
        self._check(acked)

    def append(self, event: Event, *, idempotency_key: str = "", idempotency_record: dict | None = None,
               recorded_ms: int = 0, retention: Retention | None = None) -> AppendOutcome:
        """Append ``event`` if its stream is at ``event.version - 1`` with head ``event.prev_hash``; its
        idempotency record goes with the fiscal years and expiry of ``retention`` (default: the year of
        the event's alone)."""
        record = json.dumps(idempotency_record, ensure_ascii=False) if idempotency_key else ""
        retention = retention or Retention.of_year(fiscal.parse_instant(event.recorded_at))
        (status, value), acked = self._run(
            self._script, self.keys.append_keys(event.stream, retention.fiscal_years),
            [event.stream, event.version - 1, event.prev_hash, idempotency_key, record,
             encode(event), event.hash, recorded_ms, retention.keep_seconds, retention.cycle,
             "1" if self.wait_replicas else ""])
        status = status.decode() if isinstance(status, bytes) else status
        value = value.decode() if isinstance(value, bytes) else value
        if status in ("ok", "seen") and self.wait_replicas:
            self._check(acked)
        if status == "seen":
            return AppendOutcome(status, json.loads(value))
        return AppendOutcome(status, int(value))


def _raise_first(replies: list) -> list:
    """The replies, or the first error among them raised."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
