"""The tracker's scheduler: RQ's CronScheduler enqueues the sweep every NCC_SWEEP_SECONDS.

Run: ``python -m services.tracker.scheduler`` (one per deployment is enough; more are harmless).
"""
from __future__ import annotations

from rq.cron import CronScheduler

from shared.connections import queue_client
from shared import logs
from shared.config import from_env

from .jobs import sweep


def main() -> None:
    """Register the sweep and run until stopped (SIGTERM or Ctrl-C)."""
    settings = from_env()
    logs.configure(settings.log_level)
    scheduler = CronScheduler(connection=queue_client(settings), name="ncc-tracker-sweep")
    scheduler.register(sweep, queue_name=settings.tracker_queue, interval=settings.sweep_seconds,
                       job_timeout=300, result_ttl=60)
    scheduler.start()


if __name__ == "__main__":
    main()
