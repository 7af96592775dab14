"""RQ jobs: project a stream's new events into its read models, and sweep for streams left behind."""
from __future__ import annotations

import json
import logging
import os
import time
import traceback


from shared.connections import is_cluster, queue_client, store_client
from shared import logs
from shared.config import Settings, from_env

from shared.errors import UnknownSchemaVersionError
from shared.keys import Keys, is_unit_stream
from shared.nudge import Nudger
from shared.plan import UnitState, fold_onto, from_dict
from shared.events import decode, upcast
from shared.streams import read_entries

from .projector import audit_entry, round_facts, snapshot_of
from .store import ReadModels

log = logging.getLogger(__name__)


class Tracker:
    """Projects streams; every step is one compare-and-set write, so reruns and races change nothing."""

    def __init__(self, redis, settings: Settings, *, rq_redis=None):
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix, settings.partitions)
        self.models = ReadModels(redis, self.keys)
        self.rq_redis = rq_redis if rq_redis is not None else redis
        self.batch = settings.tracker_batch

    def project(self, stream: str) -> dict:
        """Bring a stream's read models up to its log, a batch at a time; park it on a bad event."""
        applied = 0
        while True:
            checkpoint, snapshot = self.models.checkpoint(stream)
            parked = self.models.parked(stream)
            if parked and parked["version"] == checkpoint + 1:
                return {"stream": stream, "applied": applied, "parked": parked}
            events, bad = self._read(stream, checkpoint + 1, checkpoint + self.batch)
            if not events and bad is None:
                return {"stream": stream, "applied": applied, "checkpoint": checkpoint}
            step = self._fold(stream, snapshot, events)
            if bad is not None and step["park"] is None:
                step["park"] = self._park_info(checkpoint + len(events) + 1, bad)
            status, value = self.models.write(stream, expected=checkpoint, new_checkpoint=step["checkpoint"],
                                              snapshot=step["snapshot"], rounds=step["rounds"], before=step["before"],
                                              parked=step["park"])
            if status == 1:
                applied += step["folded"]
                if step["folded"]:
                    log.info("projected %s v%s..v%s", stream, checkpoint + 1, step["checkpoint"],
                             extra={"stream": stream, "from_version": checkpoint + 1, "to_version": step["checkpoint"],
                                    "request_ids": sorted({e.meta["request_id"] for e in events[:step["folded"]]
                                                           if e.meta.get("request_id")})})
                if step["park"]:
                    log.error("stream %s parked at version %s: %s", stream, step["park"]["version"],
                              step["park"]["error"])
                    return {"stream": stream, "applied": applied, "parked": step["park"]}
            # status 0: another worker moved the checkpoint; read again and go on from there

    def _read(self, stream: str, first: int, last: int) -> tuple[list, Exception | None]:
        """Decode entries one by one up to the first that cannot be read (returned as the error)."""
        return self._decode(raw for _entry, raw in read_entries(self.redis, self.keys, stream, first, last))

    @staticmethod
    def _decode(raws) -> tuple[list, Exception | None]:
        events = []
        for raw in raws:
            try:
                events.append(decode(raw))
            except (UnknownSchemaVersionError, ValueError, KeyError, TypeError) as exc:
                return events, exc
        return events, None

    @staticmethod
    def _park_info(version: int, exc: Exception) -> dict:
        return {"version": version, "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exception_only(type(exc), exc)[-1].strip()}

    def _fold(self, stream: str, snapshot: dict | None, events: list) -> dict:
        """Pure part of a step: fold the events onto the snapshot; stop at the first that fails. Each event's
        audit entry is made too, though not kept (the audit trail is folded from the log when read): an event
        that cannot have one parks its stream here, rather than failing its readers later."""
        state = from_dict(stream, snapshot)
        is_unit = isinstance(state, UnitState)
        before = round_facts(state) if is_unit else {}
        folded, park = 0, None
        for n, e in enumerate(events):
            try:
                audit_entry(state, upcast(e))
                state = fold_onto(state, [e])
            except Exception as exc:  # noqa: BLE001 - a poison event parks its stream only
                park = self._park_info(e.version, exc)
                state = fold_onto(from_dict(stream, snapshot), events[:n])   # undo a half-applied event
                break
            folded += 1
        after = round_facts(state) if is_unit else {}
        rounds = {k: v for k, v in after.items() if before.get(k) != v}
        rounds.update({k: None for k in before if k not in after})
        return {"checkpoint": state.version, "snapshot": snapshot_of(state), "folded": folded,
                "rounds": rounds, "before": {k: before.get(k) for k in rounds}, "park": park}

    def rebuild_streams(self, streams: list[str]) -> int:
        """Rebuild several streams together: their logs and old snapshots read in one pipelined round trip, each
        stream's replacement one atomic script, the scripts sent in one pipeline (one by one on a Redis Cluster);
        events folded."""
        read = self.redis.pipeline(transaction=False)
        for stream in streams:
            read.xrange(self.keys.events(stream))
        for stream in streams:
            read.hget(self.keys.read_model(stream), "snapshot")
        answers = read.execute()
        # one pipeline of scripts on one Redis; a Redis Cluster runs no script in a pipeline, so one at a time there
        write = None if is_cluster(self.redis) else self.redis.pipeline(transaction=False)
        folded, now_ms = 0, int(time.time() * 1000)
        for stream, entries, old in zip(streams, answers[:len(streams)], answers[len(streams):]):
            raws = [fields.get(b"e") for _id, fields in entries]
            if not entries or entries[0][0] != b"1-0":      # archived versions first: read through the segments
                raws = [raw for _entry, raw in read_entries(self.redis, self.keys, stream)]
            events, bad = self._decode(raws)
            step = self._fold(stream, None, events)
            if bad is not None and step["park"] is None:
                step["park"] = self._park_info(len(events) + 1, bad)
            before = self._stored_rounds(stream, old)
            rounds = {**{k: None for k in (before or {})}, **step["rounds"]}
            self.models.replace(stream, checkpoint=step["checkpoint"], snapshot=step["snapshot"], rounds=rounds,
                                before=before, parked=step["park"], now_ms=now_ms, client=write)
            folded += step["folded"]
        if write is not None:
            write.execute()
        return folded

    @staticmethod
    def _stored_rounds(stream: str, snapshot: bytes | None) -> dict | None:
        """The round facts a stored snapshot implies; None when it is missing or damaged (then nothing is known
        of what was written, and the rebuild clears every score the new facts do not give)."""
        if not is_unit_stream(stream):
            return {}
        if not snapshot:
            return None
        try:
            return round_facts(from_dict(stream, json.loads(snapshot)))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def rebuild(self, streams=None, progress=lambda done, total: None, batch: int = 100) -> dict:
        """Rebuild the read models of ``streams`` (None: every stream) from the log, one atomic step each,
        ``batch`` streams per round trip."""
        names = self.models.streams() if streams is None else list(streams)
        events = 0
        for first in range(0, len(names), batch):
            events += self.rebuild_streams(names[first:first + batch])
            progress(min(first + batch, len(names)), len(names))
        return {"streams": len(names), "events": events}

    def behind(self, partition: int) -> list[str]:
        """The partition's streams whose log is ahead of their projection, parked ones left out."""
        parked = {s.decode() for s in self.redis.hkeys(self.keys.parked(partition))}
        return [s.decode() for s in self.redis.zrange(self.keys.unprojected(partition), 0, -1)
                if s.decode() not in parked]

    def project_partition(self, partition: int) -> dict:
        """Project every stream of the partition that is behind: under load one job serves many writes.

        The partition's nudge flag is cleared first, so a write landing meanwhile queues the next job."""
        self.rq_redis.delete(self.keys.nudge_flag(partition))
        streams = self.behind(partition)
        applied = sum(self.project(stream)["applied"] for stream in streams)
        return {"partition": partition, "streams": len(streams), "applied": applied}

    def sweep(self, nudge=None) -> dict:
        """Nudge every stream whose log is ahead of its projection and is not parked (nudges of one
        partition coalesce into one job)."""
        nudge = nudge or Nudger(self.rq_redis, self.keys, self.settings.tracker_queue)
        found, queued = 0, 0
        for p in range(self.keys.partitions):
            for stream in self.behind(p):
                found += 1
                queued += bool(nudge(stream))
        return {"behind": found, "queued": queued}

    def unpark(self, stream: str) -> None:
        """Let a parked stream be projected again (after a fix), and nudge it."""
        self.redis.hdel(self.keys.parked(self.keys.partition_of(stream)), stream)


_TRACKERS: dict[int, Tracker] = {}


def tracker() -> Tracker:
    """This process's tracker, built from the environment on first use (never at import)."""
    pid = os.getpid()
    if pid not in _TRACKERS:
        settings = from_env()
        redis = store_client(settings)
        rq_redis = queue_client(settings, redis)
        _TRACKERS.clear()
        _TRACKERS[pid] = Tracker(redis, settings, rq_redis=rq_redis)
    return _TRACKERS[pid]


def _as_queued_by_its_request(work):
    """Run ``work`` with the request id of the write whose nudge queued this job, for its log lines."""
    from rq import get_current_job
    job = get_current_job()
    token = logs.request_id.set((job.meta.get("request_id") if job is not None else None))
    try:
        return work()
    finally:
        logs.request_id.reset(token)


def project_partition(partition: int) -> dict:
    """RQ job: project every stream of a partition that is behind (enqueued by nudges and the sweep)."""
    return _as_queued_by_its_request(lambda: tracker().project_partition(partition))


def project_stream(stream: str) -> dict:
    """RQ job: project one stream (operators' and tests' direct use)."""
    return _as_queued_by_its_request(lambda: tracker().project(stream))


def rebuild(unit: str | None = None) -> dict:
    """RQ job: rebuild one unit's read models, or every stream's; progress in the job's meta."""
    from rq import get_current_job
    job = get_current_job()

    def progress(done, total):
        if job is not None and (done == total or done % 50 == 0):
            job.meta["progress"] = {"done": done, "total": total}
            job.save_meta()

    return tracker().rebuild([unit] if unit else None, progress)


def sweep() -> dict:
    """RQ job: nudge every stream the tracker is behind on (run periodically by the scheduler)."""
    return tracker().sweep()
