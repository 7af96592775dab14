"""Scheduled reminders: which rules a round has, when each fires, and which units it is for. Pure, no I/O.

A rule names an anchor of the round's window (``opens_at``, ``due_at``, ``locks_at``), an offset in days and a
target (units that have not reported; units whose report was returned and not yet corrected). It fires at 09:00
Bangkok time on the anchor's day plus the offset, so a window NACC moves moves its pending reminders with it.
NACC's rules for a round replace the default ones; a supervisor's rules go to the units of its subtree besides.

A rule's audience is the unit (a reminder), or its supervisors (an escalation): from the rule's instant, each day
until the round locks, every unit the rule targets is listed in a digest to the supervisors it is assigned to,
and ``above_after_days`` later also to the supervisors above those.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from .fiscal import BANGKOK, bangkok_iso

SEND_AT = time(9, 0)
# the default national rules (as DHIS2 schedules notifications relative to a period's due date)
DEFAULT_RULES = (
    ("due-minus-14", "due_at", -14, "not_submitted"),
    ("due-minus-3", "due_at", -3, "not_submitted"),
    ("due-day", "due_at", 0, "not_submitted"),
    ("due-plus-1", "due_at", 1, "not_submitted"),
    ("lock-minus-3", "locks_at", -3, "not_submitted"),
)
# the default escalation: 3 days after the due date to the unit's supervisors, 7 days more to the level above
DEFAULT_ESCALATIONS = (("escalate-due-plus-3", "due_at", 3, "not_submitted", 7),)
AUDIENCES = ("unit", "supervisors")


@dataclass(frozen=True)
class Rule:
    """One reminder rule of a round, national (``scope`` None) or a supervisor's."""

    rule_id: str
    fiscal_year: int
    round: int
    anchor: str
    offset_days: int
    target: str
    scope: str | None = None
    message: str | None = None
    audience: str = "unit"
    above_after_days: int | None = None       # an escalation's days from its instant to the level above
    active: bool = True

    @property
    def key(self) -> str:
        """What makes the reminder it sends unique for a unit: the round, the scope and the rule."""
        return f"reminder-{self.fiscal_year}-{self.round}-{self.scope or 'national'}-{self.rule_id}"

    def fires_at(self, window) -> datetime:
        """09:00 Bangkok on the day of the window's anchor plus the offset."""
        day = getattr(window, self.anchor).astimezone(BANGKOK).date() + timedelta(days=self.offset_days)
        return datetime.combine(day, SEND_AT, BANGKOK)

    def above_at(self, window) -> datetime | None:
        """When an escalation also reaches the level above (None: never)."""
        if self.audience != "supervisors" or self.above_after_days is None:
            return None
        return self.fires_at(window) + timedelta(days=self.above_after_days)


def rules_of(windows, fiscal_year: int, round_: int) -> list[Rule]:
    """The round's rules in force: per audience, NACC's active national ones if NACC set any of that audience for
    the round (else the defaults: reminders and escalation apart), then every supervisor's active ones."""
    set_ = windows.rules.get((fiscal_year, round_), {})
    national = [_rule(p) for (scope, _id), p in sorted(set_.items()) if not scope]
    defaults = [Rule(rule_id, fiscal_year, round_, anchor, offset, target)
                for rule_id, anchor, offset, target in DEFAULT_RULES]
    defaults += [Rule(rule_id, fiscal_year, round_, anchor, offset, target, audience="supervisors",
                      above_after_days=above) for rule_id, anchor, offset, target, above in DEFAULT_ESCALATIONS]
    rules = []
    for audience in AUDIENCES:
        set_by_nacc = [r for r in national if r.audience == audience]
        rules += ([r for r in set_by_nacc if r.active] if set_by_nacc
                  else [r for r in defaults if r.audience == audience])
    rules += [_rule(p) for (scope, _id), p in sorted(set_.items()) if scope and p["active"]]
    return rules


def _rule(p: dict) -> Rule:
    return Rule(p["rule_id"], p["fiscal_year"], p["round"], p["anchor"], p["offset_days"], p["target"],
                p["scope"], p.get("message"), p.get("audience", "unit"), p.get("above_after_days"), p["active"])


def targeted(state, rule: Rule) -> bool:
    """Whether the rule's reminder is for this unit now: it has not reported the round, or its report was returned
    and not corrected since (a correction clears the review)."""
    report = state.reports.get((rule.fiscal_year, rule.round))
    if rule.target == "not_submitted":
        return report is None
    return report is not None and bool(report.review) and report.review["decision"] == "returned"


def due_rules(windows, now: datetime, grace_days: int, catch_up: timedelta, done: set) -> list[tuple[Rule, datetime]]:
    """The rules whose instant has come (at most ``catch_up`` ago: a reminder later than that is stale, a later
    rule covers it) and that are not ``done``, for the rounds of the fiscal years around ``now``."""
    from .fiscal import fiscal_year_of
    out = []
    current = fiscal_year_of(now)
    for fiscal_year in (current - 1, current, current + 1):
        for round_ in (6, 12):
            window = windows.window(fiscal_year, round_, grace_days)
            for rule in rules_of(windows, fiscal_year, round_):
                at = rule.fires_at(window)
                if rule.audience == "unit" and within(at, window) and at <= now and now - at <= catch_up \
                        and done_key(rule, at) not in done:
                    out.append((rule, at))
    return sorted(out, key=lambda pair: pair[1])


def within(at: datetime, window) -> bool:
    """Whether an instant lies in the round's window (a window moved after a rule was set may leave it outside:
    such a rule does not fire)."""
    return window.opens_at <= at <= window.locks_at


def escalating(windows, now: datetime, grace_days: int) -> list[tuple[Rule, object]]:
    """The escalation rules in force now (their instant come, the round not locked yet), with their windows."""
    from .fiscal import fiscal_year_of
    out = []
    current = fiscal_year_of(now)
    for fiscal_year in (current - 1, current, current + 1):
        for round_ in (6, 12):
            window = windows.window(fiscal_year, round_, grace_days)
            out += [(rule, window) for rule in rules_of(windows, fiscal_year, round_)
                    if rule.audience == "supervisors" and within(rule.fires_at(window), window)
                    and rule.fires_at(window) <= now < window.locks_at]
    return out


def escalations(rules, registry, now: datetime, pending) -> dict[str, list[dict]]:
    """Who gets which units in today's digest: supervisor -> [{unit, fiscal_year, round, rule, level, since, due_at}],
    for
    the escalation rules in force (``escalating``) and the units each targets, ``pending(code, rule)`` (not yet
    reported, or returned and not corrected). Level 1 goes to the supervisors the unit is assigned to, level 2
    (``above_after_days`` after the rule's instant) to the supervisors directly above those."""
    digests: dict[str, dict] = {}
    decided: dict[tuple, bool] = {}              # (unit, round, target) -> pending: each unit's state read once
    for rule, window in rules:
        units = sorted(registry.units) if rule.scope is None else sorted(registry.scope_of(rule.scope))
        at, above = rule.fires_at(window), rule.above_at(window)
        for code in units:
            if not registry.overseers_of(code):    # no supervisor to tell
                continue
            key = (code, rule.fiscal_year, rule.round, rule.target)
            if key not in decided:
                decided[key] = pending(code, rule)
            if not decided[key]:
                continue
            for level, since, recipients in _levels(registry, code, at, above, now):
                for supervisor in recipients:
                    line = {"unit": code, "fiscal_year": rule.fiscal_year, "round": rule.round, "rule": rule.key,
                            "level": level, "since": bangkok_iso(since), "due_at": bangkok_iso(window.due_at)}
                    # one line per unit and round: the first rule, at the highest level reached
                    key = (code, rule.fiscal_year, rule.round)
                    known = digests.setdefault(supervisor, {}).get(key)
                    if known is None or known["level"] < level:
                        digests[supervisor][key] = line
    return {s: sorted(lines.values(), key=lambda l: (l["fiscal_year"], l["round"], l["unit"]))
            for s, lines in sorted(digests.items())}


def _levels(registry, code: str, at: datetime, above: datetime | None, now: datetime):
    overseers = registry.overseers_of(code)
    yield 1, at, overseers
    if above is not None and above <= now:
        yield 2, above, sorted({registry.parents[s] for s in overseers if s in registry.parents})


def done_key(rule: Rule, at: datetime) -> str:
    """The marker of a rule whose every unit has been handled at that instant."""
    return f"{rule.key}@{bangkok_iso(at)}"
