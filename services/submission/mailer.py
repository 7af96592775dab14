"""The mailer: hands the outbox's e-mails to the SMTP server, each once, retrying with backoff.

Run: ``python -m services.submission.mailer`` (a pass every ``NCC_MAIL_POLL_SECONDS``; ``--once``: send what is
due now, then exit).
Any number may run at once: each message is leased to one of them (see ``shared.outbox``). Without
``NCC_SMTP_URL`` it sends nothing and says so; the messages wait in the outbox (the run command starts a local
sink and points ``NCC_SMTP_URL`` at it).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from datetime import datetime, timezone

import redis as redis_lib

from shared import logs
from shared.config import from_env
from shared.keys import Keys
from shared.outbox import Mailer, Outbox

log = logging.getLogger(__name__)
BATCH = 100


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def main(argv=None) -> int:
    """Run passes until stopped, or one pass with --once."""
    parser = argparse.ArgumentParser(prog="python -m services.submission.mailer", description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = from_env()
    logs.configure(settings.log_level)
    redis = redis_lib.Redis.from_url(settings.redis_url)
    outbox = Outbox.from_settings(redis, Keys(settings.key_prefix, settings.partitions), _wall_clock, settings)
    mailer = Mailer(outbox, settings.smtp, settings.mail_from, timeout=settings.smtp_timeout_seconds)
    if settings.smtp is None:
        log.warning("NCC_SMTP_URL is not set: no e-mail is sent, they wait in the outbox")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    while True:
        counts = {}
        try:
            counts = mailer.run_once(BATCH)
        except redis_lib.RedisError as exc:          # the store is away: nothing is lost, try again next pass
            log.warning("mailer pass: %s", exc)
        if any(counts.values()):
            log.info("mail: %s", counts)
        if stopping:
            return 0
        if sum(counts.values()) >= BATCH:            # more may be due: no pause
            continue
        if args.once:
            return 0
        for _ in range(settings.mail_poll_seconds * 10):
            if stopping:
                return 0
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
