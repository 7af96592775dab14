"""The tracker worker: RQ's SimpleWorker on the tracker queue, logging JSON.

Run: ``python -m services.tracker.worker [--burst]`` (Redis and queue from the environment, as everywhere).

SimpleWorker runs each job in the worker process instead of forking a work-horse per job: projection
jobs are short, pure and idempotent, and the fork cost dominated their latency (bench/projection.py:
lag p50 462 ms forking vs 50 ms simple at 50 writes/s).
"""
from __future__ import annotations

import sys

from shared import logs
from shared.config import from_env

WORKER_CLASS = "rq.worker.SimpleWorker"


def argv(*, burst: bool = False, worker_class: str = WORKER_CLASS) -> list[str]:
    """The command that runs one tracker worker (it reads RQ_REDIS_URL / REDIS_URL and the queue name)."""
    return [sys.executable, "-m", "services.tracker.worker", *(["--burst"] if burst else []),
            *(["--worker-class", worker_class] if worker_class != WORKER_CLASS else [])]


def rq_args(settings, extra: list[str]) -> list[str]:
    """The ``rq worker`` arguments for this deployment's settings plus ``extra``."""
    return ["worker", "--url", settings.rq_url, "--quiet", *extra,
            *([] if "--worker-class" in extra else ["--worker-class", WORKER_CLASS]), settings.tracker_queue]


def main(extra: list[str] | None = None) -> None:
    """Configure JSON logs (RQ then keeps its own records on them too) and run RQ's worker command."""
    from rq.cli import main as rq_main
    settings = from_env()
    logs.configure(settings.log_level)
    rq_main(rq_args(settings, sys.argv[1:] if extra is None else extra), prog_name="rq")


if __name__ == "__main__":
    main()
