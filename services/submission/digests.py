"""Escalation digests: once a day, each supervisor gets one message listing the units an escalation rule lists for
it (shared/reminders.py ``escalations``): the units assigned to it that have still not reported N days after the
due date, and, M days later, those of the supervisors directly under it.

The digest of a day goes out from 09:00 Bangkok time, by e-mail to the supervisor's confirmed address (the outbox
keeps each message id, ``digest-<date>-<supervisor>``, so a second pass, a second process or a pass cut off and run
again sends no digest twice); the same list is on the supervisor's page, read from the tracker, with or without an
address. A day whose digests have all been handed to the outbox is marked done, so later passes skip it.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from shared import labels, reminders
from shared.fiscal import BANGKOK
from shared.i18n import be_date, translator
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.outbox import Outbox, address_of

from .service import SubmissionService

log = logging.getLogger(__name__)


class EscalationDigests:
    """One pass hands today's digests to the outbox (from 09:00, once per supervisor and day)."""

    def __init__(self, service: SubmissionService, redis, *, clock: Callable[[], datetime],
                 outbox: Outbox | None = None):
        self.service = service
        self.redis = redis
        self.keys = service.keys
        self.clock = clock
        self.outbox = outbox or Outbox.from_settings(redis, service.keys, clock, service.settings)

    def today(self, now: datetime) -> dict[str, list[dict]]:
        """Today's digests: supervisor -> lines (unit, round, rule, level, since)."""
        windows = self.service.load(WINDOWS_STREAM)
        rules = reminders.escalating(windows, now, self.service.settings.lock_grace_days)
        if not rules:
            return {}
        registry = self.service.load(REGISTRY_STREAM)
        return reminders.escalations(rules, registry, now,
                                     lambda code, rule: reminders.targeted(self.service.load(code), rule))

    def run_once(self) -> dict:
        """Hand today's digests to the outbox; counts of digests queued, already queued, and without an address."""
        now = self.clock()
        local = now.astimezone(BANGKOK)
        counts = {"digests": 0, "queued": 0, "already_queued": 0, "no_address": 0}
        marker = f"digest@{local.date().isoformat()}"
        if local.time() < reminders.SEND_AT or self.redis.sismember(self.keys.reminders_done, marker):
            return counts
        registry = self.service.load(REGISTRY_STREAM)
        for supervisor, lines in self.today(now).items():
            counts["digests"] += 1
            to = address_of(self.redis, self.keys, supervisor)
            if to is None:
                counts["no_address"] += 1
                continue
            subject, body = digest_mail(supervisor, lines, registry, local, self.service.settings.public_url)
            queued = self.outbox.enqueue(f"digest-{local.date().isoformat()}-{supervisor}", to, subject, body)
            counts["queued" if queued else "already_queued"] += 1
        self.redis.sadd(self.keys.reminders_done, marker)
        if counts["digests"]:
            log.info("escalation digests of %s: %s", local.date().isoformat(), counts)
        return counts


def digest_mail(supervisor: str, lines: list[dict], registry, today: datetime, web_url: str) -> tuple[str, str]:
    """The digest in Thai: the day in the subject; one line per unit with its round, level and since when."""
    t = translator()
    name = (registry.accounts.get(supervisor) or {}).get("name") or supervisor
    subject = t("Units that have not reported, %(date)s: %(count)s", date=be_date(today, long=True), count=len(lines))
    rows = []
    for line in lines:
        unit, round_ = registry.units.get(line["unit"]) or {}, line["round"]
        round_name = t(labels.ROUNDS[round_])
        where = (t("assigned to you") if line["level"] == 1 else
                 t("under %(supervisor)s", supervisor=", ".join(
                     (registry.accounts.get(s) or {}).get("name") or s
                     for s in registry.overseers_of(line["unit"]) if registry.parents.get(s) == supervisor)))
        rows.append(t("- %(code)s %(name)s: fiscal year %(fy)s, %(round)s, due %(due)s (%(where)s; listed for you "
                      "since %(since)s)", code=line["unit"], name=unit.get("name_th") or "", fy=line["fiscal_year"],
                      round=round_name, due=be_date(datetime.fromisoformat(line["due_at"]), long=True), where=where,
                      since=be_date(datetime.fromisoformat(line["since"]), long=True)))
    body = t("Dear %(name)s,\n\nThese units have still not reported past the due date:\n\n%(rows)s\n\nYour units: "
             "%(link)s\n\nThis message was sent by the anti-corruption action plan system; please do not reply to it.",
             name=name, rows="\n".join(rows), link=f"{web_url}/supervisor")
    return subject, body
