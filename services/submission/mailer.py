"""The mailer: hands the outbox's e-mails to the SMTP server, each once, retrying with backoff.

Run: ``python -m services.submission.mailer`` (a pass every ``NCC_MAIL_POLL_SECONDS``; ``--once``: send what is
due now, then exit).
Any number may run at once: each message is leased to one of them (see ``shared.outbox``). Without
``NCC_SMTP_URL`` it sends nothing and says so; the messages wait in the outbox (the run command starts a local
sink and points ``NCC_SMTP_URL`` at it).
"""
from __future__ import annotations

import logging
import sys


from shared.connections import STORE_ERRORS, store_client
from shared import logs, periodic
from shared.config import from_env
from shared.keys import Keys
from shared.outbox import Mailer, Outbox

log = logging.getLogger(__name__)
BATCH = 100


def main(argv=None) -> int:
    """Run passes until stopped, or until nothing is due with --once."""
    args = periodic.arguments("python -m services.submission.mailer", __doc__, "send what is due now, then exit", argv)
    settings = from_env()
    logs.configure(settings.log_level)
    redis = store_client(settings)
    outbox = Outbox.from_settings(redis, Keys(settings.key_prefix, settings.partitions), periodic.wall_clock, settings)
    mailer = Mailer(outbox, settings.smtp, settings.mail_from, timeout=settings.smtp_timeout_seconds)
    if settings.smtp is None:
        log.warning("NCC_SMTP_URL is not set: no e-mail is sent, they wait in the outbox")

    def one_pass() -> bool:
        try:
            counts = mailer.run_once(BATCH)
        except STORE_ERRORS as exc:                  # the store is away: nothing is lost, try again next pass
            log.warning("mailer pass: %s", exc)
            return False
        if any(counts.values()):
            log.info("mail: %s", counts)
        return sum(counts.values()) >= BATCH         # a full batch: more may be due, no pause

    return periodic.run(one_pass, settings.mail_poll_seconds, once=args.once)


if __name__ == "__main__":
    sys.exit(main())
