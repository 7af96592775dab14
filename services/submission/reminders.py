"""The reminder scheduler: at each rule's instant, one ``ReminderSent`` to every unit the rule is for.

Run: ``python -m services.submission.reminders`` (every ``NCC_REMINDER_SECONDS``; ``--once`` for one pass).

Exactly once per (unit, round, rule), whatever happens: each reminder is an append with the Idempotency-Key of
its rule (``Rule.key``), checked in the append script itself, so two schedulers at once, a restart, or a pass cut
off half-way and run again append each reminder once. A unit that has reported (or corrected its returned report)
is decided against inside the same append, on the log as it stands. A rule whose every unit has been handled is
marked done at its instant, so later passes skip it; a window moved by NACC gives the rule a new instant, and the
idempotency key still lets no unit have it twice. A rule whose instant is more than ``catch_up`` ago (a scheduler
that was down, a clock that jumped) is not sent late: a later rule of the round covers it.
"""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta
from typing import Callable

from shared import labels, logs, periodic, reminders
from shared.errors import RuleError
from shared.i18n import be_date, translator
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.outbox import Outbox, address_of

from . import handlers
from .service import SubmissionService, fingerprint

log = logging.getLogger(__name__)
ACTOR = {"username": "reminder-scheduler", "role": "system"}


def message_of(rule: reminders.Rule, window) -> str:
    """The reminder's text: the rule's own, else the standard Thai one naming the round and its date."""
    if rule.message:
        return rule.message
    t = translator()
    round_name = t(labels.ROUNDS[rule.round])
    if rule.target == "returned":
        return t("Your report for fiscal year %(fy)s, %(round)s, was returned for correction: please send the "
                 "corrected report by %(date)s.", fy=rule.fiscal_year, round=round_name,
                 date=be_date(window.locks_at, time=True, long=True))
    return t("Please send the report on your anti-corruption action plan for fiscal year %(fy)s, %(round)s, "
             "by %(date)s.", fy=rule.fiscal_year, round=round_name, date=be_date(window.due_at, time=True, long=True))


class ReminderScheduler:
    """One pass sends every reminder that is due; run it as often as you like, from as many processes."""

    def __init__(self, service: SubmissionService, redis, *, clock: Callable[[], datetime],
                 catch_up: timedelta = timedelta(days=3), on_unit: Callable[[str], None] = lambda code: None):
        self.service = service
        self.redis = redis
        self.keys = service.keys
        self.clock = clock
        self.catch_up = catch_up
        self.on_unit = on_unit          # called after each unit is handled (tests stop a pass there)
        self.outbox = Outbox.from_settings(redis, self.keys, clock, service.settings)

    def due(self, now: datetime) -> list:
        """The rules whose instant has come and that are not done."""
        done = {m.decode() for m in self.redis.smembers(self.keys.reminders_done)}
        windows = self.service.load(WINDOWS_STREAM)
        return reminders.due_rules(windows, now, self.service.settings.lock_grace_days, self.catch_up, done)

    def units_of(self, rule: reminders.Rule) -> list[str]:
        """The units a rule goes to: every registered unit, or those of the supervisor's subtree."""
        registry = self.service.load(REGISTRY_STREAM)
        return sorted(registry.units) if rule.scope is None else sorted(registry.scope_of(rule.scope))

    def run_once(self) -> dict:
        """Send what is due now; counts of reminders sent, already sent and not needed, per rule."""
        now = self.clock()
        counts = {"rules": 0, "sent": 0, "already_sent": 0, "not_needed": 0}
        windows = self.service.load(WINDOWS_STREAM)
        for rule, at in self.due(now):
            window = windows.window(rule.fiscal_year, rule.round, self.service.settings.lock_grace_days)
            text = message_of(rule, window)
            for code in self.units_of(rule):
                try:
                    outcome = self.service.execute(
                        code, lambda s, ctx: handlers.scheduled_reminder(s, rule, text, ctx), actor=ACTOR,
                        fp=fingerprint("REMIND", rule.key, {"message": text}), idempotency_key=rule.key)
                    counts["sent" if outcome.status == 201 else "already_sent"] += 1
                    self.mail(rule, window, code, text)      # a replay too: the pass before may have died here
                except RuleError as refusal:
                    if refusal.rule != "not_targeted":
                        raise
                    counts["not_needed"] += 1
                self.on_unit(code)
            self.redis.sadd(self.keys.reminders_done, reminders.done_key(rule, at))
            counts["rules"] += 1
            log.info("reminder rule %s at %s: done", rule.key, at.isoformat())
        return counts


    def mail(self, rule: reminders.Rule, window, code: str, text: str) -> bool:
        """The reminder by e-mail to the unit's confirmed address, if it has one (once: the outbox keeps the id)."""
        to = address_of(self.redis, self.keys, code)
        if to is None:
            return False
        subject, body = reminder_mail(rule, window, text, self.service.load(REGISTRY_STREAM).units.get(code, {}),
                                      code, self.service.settings.public_url)
        return self.outbox.enqueue(f"{rule.key}:{code}", to, subject, body)


def reminder_mail(rule: reminders.Rule, window, text: str, unit: dict, code: str, web_url: str) -> tuple[str, str]:
    """The reminder's e-mail, in Thai: the round in the subject; the message, the due date and the form's link."""
    t = translator()
    round_name = t(labels.ROUNDS[rule.round])
    subject = t("Reminder: report for fiscal year %(fy)s, %(round)s", fy=rule.fiscal_year, round=round_name)
    body = t("Dear %(name)s,\n\n%(text)s\n\nDue date: %(due)s\nReport form: %(link)s\n\nThis message was sent "
             "by the anti-corruption action plan system; please do not reply to it.",
             name=unit.get("name_th") or code, text=text, due=be_date(window.due_at, time=True, long=True),
             link=f"{web_url}/units/{code}/reports/{rule.fiscal_year}/{rule.round}")
    return subject, body


def main(argv=None) -> int:
    """Run passes every NCC_REMINDER_SECONDS until stopped, or one pass with --once."""
    args = periodic.arguments("python -m services.submission.reminders", __doc__, "one pass, then exit", argv)
    from .app import create_app
    app = create_app()
    logs.configure(app.extensions["ncc"]["settings"].log_level)
    service = app.extensions["ncc"]["service"]
    scheduler = ReminderScheduler(service, service.redis, clock=periodic.wall_clock)
    from .digests import EscalationDigests
    digests = EscalationDigests(service, service.redis, clock=periodic.wall_clock, outbox=scheduler.outbox)

    def one_pass() -> bool:
        counts = scheduler.run_once()
        if counts["rules"]:
            log.info("reminders: %s", counts)
        digests.run_once()                  # the day's escalation digests, once the reminders are out
        return False

    return periodic.run(one_pass, app.extensions["ncc"]["settings"].reminder_seconds, once=args.once)


if __name__ == "__main__":
    sys.exit(main())
