"""The tracker's read models in Redis: one atomic compare-and-set write per projection step, and reads."""
from __future__ import annotations

import json

from shared import fiscal
from shared.events import canonical
from shared.keys import Keys
from shared.plan import UnitState, fold_onto, fork, from_dict, state_from_dict
from shared.streams import VERSION_LUA, all_streams, last_entry, parse_version, read_events, version_of

from .projector import TALLIES, round_marks, tallies_of

# The rollups' inputs: ARGV[6] says per key from KEYS[7] on whether it is a round's facts hash ('h': the unit's
# facts, '' = none any more) or one of a round's sorted sets ('z': the unit's score, '' = not a member), and the
# values follow from ARGV[7] in the same order.
ROUNDS_LUA = """
local kinds = ARGV[6]
for i = 1, #kinds do
  local key, v = KEYS[6 + i], ARGV[6 + i]
  if string.sub(kinds, i, i) == 'h' then
    if v == '' then redis.call('HDEL', key, stream) else redis.call('HSET', key, stream, v) end
  elseif v == '' then redis.call('ZREM', key, stream)
  else redis.call('ZADD', key, v, stream) end
end
"""

# Checks first, then writes: the checkpoint must still be the one the job started from. The unprojected marker
# is cleared only when the projection reached the end of the log *as it is now* (appends are scripts too).
PROJECT_LUA = VERSION_LUA + """
local rm, events, unprojected, parked = KEYS[1], KEYS[3], KEYS[4], KEYS[5]
local stream, expected, new_cp, snapshot, park = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local cp = tonumber(redis.call('HGET', rm, 'checkpoint') or '0')
if cp ~= expected then return {0, cp} end
redis.call('HSET', rm, 'checkpoint', new_cp, 'snapshot', snapshot)
redis.call('DEL', KEYS[2])    -- an audit list earlier versions kept
""" + ROUNDS_LUA + """if park == '' then redis.call('HDEL', parked, stream) else redis.call('HSET', parked, stream, park) end
if version_of(events) <= tonumber(new_cp) then redis.call('ZREM', unprojected, stream) end
return {1, tonumber(new_cp)}
"""


# A rebuild replaces a stream's read models whole, in one step (and drops the audit list that earlier versions
# kept: audit entries are now folded from the log when read). If the log grew meanwhile, the stream is marked
# unprojected again so the normal jobs fold the rest (a concurrent job's CAS sees the new checkpoint and goes on
# from there). ARGV[5] is the time in ms, for that mark.
REPLACE_LUA = VERSION_LUA + """
local rm, audit, events, unprojected, parked = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local stream, new_cp, snapshot, park, now_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
redis.call('DEL', audit)
redis.call('HSET', rm, 'checkpoint', new_cp, 'snapshot', snapshot)
redis.call('INCR', KEYS[6])
""" + ROUNDS_LUA + """if park == '' then redis.call('HDEL', parked, stream) else redis.call('HSET', parked, stream, park) end
if version_of(events) > tonumber(new_cp) then
  redis.call('ZADD', unprojected, 'NX', now_ms, stream)
else
  redis.call('ZREM', unprojected, stream)
end
return tonumber(new_cp)
"""


def dumps(obj) -> str:
    """Read models are stored as canonical JSON, so a rebuild gives byte-identical values."""
    return canonical(obj).decode("utf-8")


def round_writes(keys: Keys, stream: str, rounds: dict, before: dict | None, *, repair: bool = False):
    """What the projection writes for the rounds whose facts changed (``rounds``: new facts, None = gone; ``before``:
    their facts as last written, None = not known): each round's facts, and the unit's scores in the round's sorted
    sets where they changed (``repair``, as a rebuild does: every score it has, so sets made before they existed
    get filled, and with ``before`` unknown every score it has not removed too).
    Returns the keys, their kinds ('h' hash, 'z' sorted set) and the values, in the scripts' order."""
    p = keys.partition_of(stream)
    out_keys, kinds, values = [], [], []
    for (fy, r), facts in rounds.items():
        out_keys.append(keys.rounds(p, fy, r))
        kinds.append("h")
        values.append(dumps(facts) if facts is not None else "")
        old_marks = round_marks((before or {}).get((fy, r)))
        for key, old, new in zip(keys.round_marks(p, fy, r), old_marks, round_marks(facts)):
            if old != new or (repair and (new is not None or before is None)):
                out_keys.append(key)
                kinds.append("z")
                values.append("" if new is None else new)
    return out_keys, "".join(kinds), values


class ReadModels:
    """Reads and writes the read models of one keyspace."""

    def __init__(self, redis, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._project = redis.register_script(PROJECT_LUA)
        self._replace = redis.register_script(REPLACE_LUA)
        self._national: dict = {}

    def checkpoint(self, stream: str) -> tuple[int, dict | None]:
        """The last projected version and the snapshot folded up to it."""
        cp, snap = self.redis.hmget(self.keys.read_model(stream), "checkpoint", "snapshot")
        return int(cp or 0), (json.loads(snap) if snap else None)

    def unit_reads(self, stream: str) -> tuple[UnitState, int, dict | None]:
        """A unit's projected state, its log's version and why it is parked (or None), in one round trip."""
        p = self.keys.partition_of(stream)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(self.keys.read_model(stream), "snapshot")
        last_entry(self.redis, self.keys, stream, pipe)
        pipe.hget(self.keys.parked(p), stream)
        snap, last, parked = pipe.execute()
        return (state_from_dict(json.loads(snap)) if snap else UnitState(stream)), parse_version(last), \
            (json.loads(parked) if parked else None)

    def national(self, stream: str):
        """The projected state of a national stream (windows, registry), parsed again only when its
        checkpoint moved: every read request consults them, and the registry's snapshot is megabytes
        nationally. The states returned are shared; readers never change them."""
        return self.nationals(stream)[0]

    def nationals(self, *streams: str) -> list:
        """The projected states of national streams, their checkpoints checked in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for stream in streams:
            pipe.hget(self.keys.read_model(stream), "checkpoint")
            pipe.get(self.keys.rebuilt(stream))
        answers = pipe.execute()
        return [self._national_at(stream, tuple(answers[2 * n:2 * n + 2])) for n, stream in enumerate(streams)]

    def _national_at(self, stream: str, mark: tuple):
        cached = self._national.get(stream)          # a rebuild may repair a snapshot at the same checkpoint
        if cached is not None and cached[0] == mark:
            return cached[1]
        state = None
        if cached is not None and cached[0][1] == mark[1] and cached[1].version < int(mark[0] or 0):
            # only the events projected since: the same fold the snapshot holds, without parsing megabytes
            try:
                state = fold_onto(fork(cached[1]), read_events(self.redis, self.keys, stream,
                                                                cached[1].version + 1, int(mark[0])))
            except ValueError:
                state = None
        if state is None:
            checkpoint, snap = self.redis.hmget(self.keys.read_model(stream), "checkpoint", "snapshot")
            state = from_dict(stream, json.loads(snap) if snap else None)
            mark = (checkpoint, mark[1])
        self._national[stream] = (mark, state)
        return state

    def write(self, stream: str, *, expected: int, new_checkpoint: int, snapshot: dict, rounds: dict, before: dict,
              parked: dict | None) -> tuple[int, int]:
        """The compare-and-set write: (1, new) done; (0, current) someone else moved the checkpoint."""
        round_keys, kinds, values = round_writes(self.keys, stream, rounds, before)
        args = [stream, expected, new_checkpoint, dumps(snapshot), dumps(parked) if parked else "", kinds, *values]
        status, value = self._project(keys=self._keys(stream) + round_keys, args=args)
        return int(status), int(value)

    def _keys(self, stream: str) -> list[str]:
        p = self.keys.partition_of(stream)
        return [self.keys.read_model(stream), self.keys.audit(stream), self.keys.events(stream),
                self.keys.unprojected(p), self.keys.parked(p), self.keys.rebuilt(stream)]

    def replace(self, stream: str, *, checkpoint: int, snapshot: dict, rounds: dict, before: dict,
                parked: dict | None, now_ms: int, client=None) -> int:
        """Replace a stream's read models whole (a rebuild), atomically (``client``: a pipeline to queue it on)."""
        round_keys, kinds, values = round_writes(self.keys, stream, rounds, before, repair=True)
        args = [stream, checkpoint, dumps(snapshot), dumps(parked) if parked else "", now_ms, kinds, *values]
        answer = self._replace(keys=self._keys(stream) + round_keys, args=args, client=client)
        return answer if client is not None else int(answer)

    def streams(self) -> list[str]:
        """Every stream of every partition, sorted."""
        return all_streams(self.redis, self.keys)

    def parked(self, stream: str) -> dict | None:
        """Why a stream's projection is parked, or None."""
        raw = self.redis.hget(self.keys.parked(self.keys.partition_of(stream)), stream)
        return json.loads(raw) if raw else None

    def round_facts(self, fiscal_year: int, round_: int, units) -> dict:
        """unit -> facts for one round, of the units given (those without facts left out): one HMGET per
        partition, pipelined, a constant number of round trips however many units."""
        out = {}
        groups: dict[int, list[str]] = {}
        for unit in units:
            groups.setdefault(self.keys.partition_of(unit), []).append(unit)
        pipe = self.redis.pipeline(transaction=False)
        for p, group in groups.items():
            pipe.hmget(self.keys.rounds(p, fiscal_year, round_), group)
        for group, values in zip(groups.values(), pipe.execute()):
            for unit, raw in zip(group, values):
                if raw:
                    out[unit] = json.loads(raw)
        return out

    def round_tallies(self, fiscal_year: int, round_: int, due_at, now, registered) -> dict:
        """The round's sorted sets counted at the due date and at ``now``, every partition in one pipelined
        round trip: units with a report, of them first reported by the due date, unreviewed ones (and of them by
        the due date), accepted, returned, and units without a report whose exception is still open.

        Only units in ``registered`` count: a unit's report can be projected before its registration is (the
        registry is another stream), and such a unit is taken out again, from its own facts."""
        due, instant = fiscal.epoch_micros(due_at), fiscal.epoch_micros(now)
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.keys.partitions):
            submitted, unreviewed, decided, excepted = self.keys.round_marks(p, fiscal_year, round_)
            pipe.zcard(submitted)
            pipe.zcount(submitted, "-inf", due)
            pipe.zcard(unreviewed)
            pipe.zcount(unreviewed, "-inf", due)
            pipe.zcount(decided, 1, 1)
            pipe.zcount(decided, 2, 2)
            pipe.zcount(excepted, instant, "+inf")
            pipe.zrange(submitted, 0, -1)
            pipe.zrange(excepted, 0, -1)
        values = pipe.execute()
        width = len(TALLIES) + 2
        counted = {name: sum(values[i::width]) for i, name in enumerate(TALLIES)}
        members = {m.decode() for i in (width - 2, width - 1) for part in values[i::width] for m in part}
        strays = sorted(unit for unit in members if unit not in registered)
        if strays:
            facts = self.round_facts(fiscal_year, round_, strays)
            for name, n in tallies_of((round_marks(f) for f in facts.values()), due, instant).items():
                counted[name] -= n
        return counted

    def lag(self) -> dict:
        """Streams and events the tracker has not projected yet, the oldest waiting, and parked streams."""
        streams, events, oldest, parked = 0, 0, None, 0
        for p in range(self.keys.partitions):
            waiting = self.redis.zrange(self.keys.unprojected(p), 0, -1, withscores=True)
            for stream, since in waiting:
                stream = stream.decode()
                log = version_of(self.redis, self.keys, stream)
                cp = self.redis.hget(self.keys.read_model(stream), "checkpoint")
                streams += 1
                events += max(0, log - int(cp or 0))
                oldest = since if oldest is None else min(oldest, since)
            parked += self.redis.hlen(self.keys.parked(p))
        return {"streams_behind": streams, "events_behind": events, "oldest_unprojected_ms": oldest,
                "parked_streams": parked}
