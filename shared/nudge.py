"""Nudging the tracker through RQ: one queued projection job per partition at most (nudges coalesce).

A job projects every stream of its partition that is behind, so under load one job serves many writes:
RQ's own bookkeeping costs several fsync'd Redis writes per job, more than projecting a write does.
"""
from __future__ import annotations

import logging

import redis as redis_lib

from . import logs
from .keys import Keys

log = logging.getLogger(__name__)

# The tracker's jobs, named by dotted path: the write side never imports tracker code.
PROJECT_JOB = "services.tracker.jobs.project_stream"
PARTITION_JOB = "services.tracker.jobs.project_partition"
SWEEP_JOB = "services.tracker.jobs.sweep"
FLAG_TTL_SECONDS = 60   # a queued job lost with its queue is re-nudged by the sweep after this


class Nudger:
    """Enqueues the projection job for a stream's partition unless one is already queued.

    The flag is set here and cleared by the job when it starts, so a nudge that arrives while a
    job runs queues the next one; a job lost before starting frees its flag after the TTL.
    """

    def __init__(self, rq_redis, keys: Keys, queue_name: str):
        from rq import Queue
        self.rq_redis = rq_redis
        self.keys = keys
        self.queue = Queue(queue_name, connection=rq_redis)

    def __call__(self, stream: str) -> bool:
        """True when a job was queued; never raises (the unprojected marker backs every nudge).

        The job carries the request id of the write that queued it, for its log lines."""
        try:
            partition = self.keys.partition_of(stream)
            if not self.rq_redis.set(self.keys.nudge_flag(partition), "1", nx=True, ex=FLAG_TTL_SECONDS):
                return False
            rid = logs.request_id.get()
            self.queue.enqueue(PARTITION_JOB, partition, job_timeout=600, result_ttl=0, failure_ttl=3600,
                               meta={"request_id": rid} if rid else {})
            return True
        except redis_lib.RedisError:
            log.warning("tracker nudge for %s not enqueued; the sweep will pick it up", stream, exc_info=True)
            return False
