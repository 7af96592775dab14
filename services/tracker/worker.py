"""The tracker worker's command line: RQ's SimpleWorker on the tracker queue.

SimpleWorker runs each job in the worker process instead of forking a work-horse per job: projection
jobs are short, pure and idempotent, and the fork cost dominated their latency (bench/projection.py:
lag p50 462 ms forking vs 50 ms simple at 50 writes/s).
"""
from __future__ import annotations

import sys
from pathlib import Path

WORKER_CLASS = "rq.worker.SimpleWorker"


def argv(rq_url: str, queue: str, *, burst: bool = False, worker_class: str = WORKER_CLASS) -> list[str]:
    """The command that runs one tracker worker."""
    return [str(Path(sys.executable).with_name("rq")), "worker", "--url", rq_url, "--quiet",
            "--worker-class", worker_class, *(["--burst"] if burst else []), queue]
