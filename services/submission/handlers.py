"""Command handlers: pure functions that turn (state, command, context) into one event or a refusal."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from shared import fiscal, reminders
from shared.errors import InvalidError, NotFoundError, RuleError
from shared.framework import FrameworkRegistry
from shared.plan import Item, RegistryState, UnitState, WindowsState
from shared.schemas import money_text

MAX_CYCLE_YEARS = 10


@dataclass(frozen=True)
class Context:
    """What a handler may know besides the stream's state: the time, the calendar and the framework."""

    now: datetime
    frameworks: FrameworkRegistry
    grace_days: int
    windows: WindowsState = field(default_factory=WindowsState)
    new_id: Callable[[], str] = lambda: ""


@dataclass(frozen=True)
class Decision:
    """The event a command becomes, and what the answer adds to the envelope fields."""

    type: str
    payload: dict
    answer: dict = field(default_factory=dict)


def _require_plan(state: UnitState) -> dict:
    if state.plan is None:
        raise RuleError("plan_required", "the unit has no plan yet: declare it first with PUT /units/{code}/plan")
    return state.plan


def _item(state: UnitState, item_id: str, *, active: bool = True) -> Item:
    item = state.items.get(item_id)
    if item is None:
        raise NotFoundError(f"unit {state.stream} has no plan item {item_id!r}")
    if active and item.removed:
        raise RuleError("item_removed", f"item {item_id} was removed at version {item.removed_version}; "
                                        "a removed item cannot be changed")
    return item


def _years_in_cycle(plan: dict, years, field_name: str) -> None:
    outside = sorted(y for y in years if not plan["first_fiscal_year"] <= y <= plan["last_fiscal_year"])
    if outside:
        raise InvalidError(
            f"fiscal years {outside} are outside the plan cycle "
            f"{plan['first_fiscal_year']}-{plan['last_fiscal_year']}",
            field_errors={field_name: [f"Must lie within {plan['first_fiscal_year']}-{plan['last_fiscal_year']}."]})


def _check_framework(ctx: Context, plan: dict, dimension: int, sub_dimension: str) -> None:
    framework = ctx.frameworks.get(plan["framework"])
    if framework is None:
        raise RuleError("framework_missing", f"the plan's framework {plan['framework']} is not loaded; "
                                             "ask an operator to load it")
    why = framework.check(dimension, sub_dimension)
    if why:
        field_name = "sub_dimension" if dimension in framework.dimensions else "dimension"
        raise InvalidError(why, field_errors={field_name: [why]})


def _details_json(details: dict) -> dict:
    """Item details as stored: lists of years sorted, everything JSON-native."""
    out = dict(details)
    if "fiscal_years" in out:
        out["fiscal_years"] = sorted(out["fiscal_years"])
    return out


# ---- the plan -----------------------------------------------------------------------------

def declare_plan(state: UnitState, cmd: dict, ctx: Context) -> Decision:
    """PUT plan: declare the plan for a cycle, or change its title or years."""
    first, last = cmd["first_fiscal_year"], cmd["last_fiscal_year"]
    if first > last:
        raise InvalidError("the plan cycle ends before it starts",
                           field_errors={"last_fiscal_year": ["Must not be before first_fiscal_year."]})
    if last - first + 1 > MAX_CYCLE_YEARS:
        raise InvalidError(f"a plan cycle spans at most {MAX_CYCLE_YEARS} fiscal years",
                           field_errors={"last_fiscal_year": [f"At most {MAX_CYCLE_YEARS} years after first."]})
    if state.plan is None:
        framework = ctx.frameworks.for_cycle(first, last)
        return Decision("PlanDeclared", {"title": cmd["title"], "first_fiscal_year": first,
                                         "last_fiscal_year": last, "framework": framework.ref})
    plan = state.plan
    new = {"title": cmd["title"], "first_fiscal_year": first, "last_fiscal_year": last,
           "framework": plan["framework"]}
    if new == plan:
        raise RuleError("no_change", "the plan already has this title and these years; nothing to record")
    stranded = [i.item_id for i in state.active_items()
                if any(not first <= y <= last for y in i.details["fiscal_years"])]
    if stranded:
        raise RuleError("items_outside_cycle", f"items {stranded} run in years outside {first}-{last}; "
                                               "edit or remove them first")
    reported = sorted({fy for fy, _ in state.reports if not first <= fy <= last})
    if reported:
        raise RuleError("reports_outside_cycle", f"the unit has reports for fiscal years {reported}, "
                                                 f"outside {first}-{last}")
    return Decision("PlanPeriodChanged", {**new, "reason": cmd.get("reason")})


def add_item(state: UnitState, cmd: dict, ctx: Context) -> Decision:
    """POST items: add an item, with a budget per scheduled year (0.00 where none is given)."""
    plan = _require_plan(state)
    details = {k: v for k, v in cmd.items() if k != "budgets"}
    _years_in_cycle(plan, details["fiscal_years"], "fiscal_years")
    _check_framework(ctx, plan, details["dimension"], details["sub_dimension"])
    budgets = cmd.get("budgets") or {}
    unscheduled = sorted(set(budgets) - {str(y) for y in details["fiscal_years"]})
    if unscheduled:
        raise InvalidError(f"budgets for years the item is not scheduled in: {unscheduled}",
                           field_errors={"budgets": [f"Years {unscheduled} are not in fiscal_years."]})
    item_id = ctx.new_id()
    payload = {**_details_json(details), "item_id": item_id,
               "budgets": {str(y): money_text(budgets.get(str(y), 0)) for y in sorted(details["fiscal_years"])}}
    return Decision("ItemAdded", payload, {"item_id": item_id})


def edit_item(state: UnitState, item_id: str, cmd: dict, ctx: Context) -> Decision:
    """PATCH item: change some details, with a reason; only what really changes is recorded."""
    plan = _require_plan(state)
    item = _item(state, item_id)
    proposed = {k: v for k, v in _details_json(cmd).items() if k != "reason"}
    changes = {k: v for k, v in proposed.items() if item.details.get(k) != v}
    if not changes:
        raise RuleError("no_change", "these values are what the item already has; nothing to record")
    merged = {**item.details, **changes}
    if "fiscal_years" in changes:
        _years_in_cycle(plan, merged["fiscal_years"], "fiscal_years")
    if "dimension" in changes or "sub_dimension" in changes:
        _check_framework(ctx, plan, merged["dimension"], merged["sub_dimension"])
    return Decision("ItemEdited", {"item_id": item_id, "changes": changes, "reason": cmd["reason"]},
                    {"item_id": item_id})


def change_budget(state: UnitState, item_id: str, fiscal_year: int, cmd: dict, ctx: Context) -> Decision:
    """PUT budgets/{fy}: raise or lower one year's budget, with a reason."""
    _require_plan(state)
    item = _item(state, item_id)
    if not item.scheduled_in(fiscal_year):
        raise RuleError("year_not_scheduled", f"item {item_id} is not scheduled in fiscal year {fiscal_year} "
                                              f"(it runs in {item.details['fiscal_years']}); edit its fiscal_years first")
    amount = money_text(cmd["amount"])
    if item.budgets.get(str(fiscal_year)) == amount:
        raise RuleError("no_change", f"the {fiscal_year} budget is already {amount}; nothing to record")
    return Decision("ItemBudgetChanged", {"item_id": item_id, "fiscal_year": fiscal_year, "amount": amount,
                                          "reason": cmd["reason"]}, {"item_id": item_id})


def remove_item(state: UnitState, item_id: str, cmd: dict, ctx: Context) -> Decision:
    """DELETE item: remove it from the plan, with a reason (it stays in the history)."""
    _require_plan(state)
    _item(state, item_id)
    return Decision("ItemRemoved", {"item_id": item_id, "reason": cmd["reason"]}, {"item_id": item_id})


# ---- reports ------------------------------------------------------------------------------

def _round_in_cycle(state: UnitState, fiscal_year: int) -> dict:
    plan = _require_plan(state)
    if not plan["first_fiscal_year"] <= fiscal_year <= plan["last_fiscal_year"]:
        raise RuleError("year_outside_cycle", f"fiscal year {fiscal_year} is outside the plan cycle "
                                              f"{plan['first_fiscal_year']}-{plan['last_fiscal_year']}")
    return plan


def _entries(state: UnitState, fiscal_year: int, entries: list) -> list:
    scheduled = {i.item_id: i for i in state.active_items(fiscal_year)}
    errors, seen, out = {}, set(), []
    for n, entry in enumerate(entries):
        item_id = entry["item_id"]
        item = state.items.get(item_id)
        if item_id in seen:
            errors[n] = {"item_id": [f"Item {item_id} already has an entry in this report."]}
        elif item is None:
            errors[n] = {"item_id": [f"The plan has no item {item_id}."]}
        elif item.removed:
            errors[n] = {"item_id": [f"Item {item_id} was removed from the plan."]}
        elif item_id not in scheduled:
            errors[n] = {"item_id": [f"Item {item_id} is not scheduled in fiscal year {fiscal_year}."]}
        seen.add(item_id)
        if n in errors:
            continue
        line = {k: v for k, v in entry.items() if v is not None}
        for money in ("budget_planned", "budget_ordinance", "spent"):
            if money in line:
                line[money] = money_text(line[money])
        line.setdefault("budget_planned", item.budgets.get(str(fiscal_year), "0.00"))
        out.append(line)
    if errors:
        raise InvalidError("some report entries do not name an item scheduled this fiscal year",
                           field_errors={"entries": errors})
    return out


def _writable_round(state: UnitState, fiscal_year: int, round_: int, ctx: Context):
    """The round's window, its phase now and the exception that reopens it, or a refusal when the unit may not
    report in it now (not open yet; locked without an open exception)."""
    window = ctx.windows.window(fiscal_year, round_, ctx.grace_days)
    phase = window.phase(ctx.now)
    exception = None
    if phase == "not_open":
        raise RuleError("round_not_open", f"reporting for fiscal year {fiscal_year} round {round_} opens at "
                                          f"{fiscal.bangkok_iso(window.opens_at)}",
                        opens_at=fiscal.bangkok_iso(window.opens_at))
    if phase == "locked":
        exception = state.exception_open(fiscal_year, round_, ctx.now)
        if exception is None:
            raise RuleError(
                "round_locked",
                f"fiscal year {fiscal_year} round {round_} was due {fiscal.bangkok_iso(window.due_at)} and locked "
                f"at {fiscal.bangkok_iso(window.locks_at)}; ask your supervisor or NACC for an exception "
                "(POST .../exceptions) to report now",
                due_at=fiscal.bangkok_iso(window.due_at), locks_at=fiscal.bangkok_iso(window.locks_at))
    return window, phase, exception


def submit_report(state: UnitState, fiscal_year: int, round_: int, cmd: dict, ctx: Context) -> Decision:
    """PUT reports/{fy}/{round}: the round's report (first) or a correction of it (amendment)."""
    _round_in_cycle(state, fiscal_year)
    window, phase, exception = _writable_round(state, fiscal_year, round_, ctx)
    payload = {"fiscal_year": fiscal_year, "round": round_, "entries": _entries(state, fiscal_year, cmd["entries"]),
               "note": cmd.get("note"), "late": phase in ("late", "locked"),
               "due_at": fiscal.bangkok_iso(window.due_at), "locks_at": fiscal.bangkok_iso(window.locks_at),
               "under_exception": exception is not None}
    previous = state.reports.get((fiscal_year, round_))
    if previous is None:
        return Decision("ReportSubmitted", payload, {"late": payload["late"], "amendment": 0})
    amendment = previous.amendments + 1
    return Decision("ReportAmended", {**payload, "amendment": amendment},
                    {"late": payload["late"], "amendment": amendment})


def review_report(state: UnitState, fiscal_year: int, round_: int, cmd: dict, ctx: Context) -> Decision:
    """POST review: accept or return the round's latest report."""
    report = state.reports.get((fiscal_year, round_))
    if report is None:
        raise RuleError("no_report", f"unit {state.stream} has not reported fiscal year {fiscal_year} "
                                     f"round {round_}; there is nothing to review")
    if report.review is not None:
        raise RuleError("already_reviewed", f"the report at version {report.version} was already "
                                            f"{report.review['decision']}; a new review needs an amended report")
    entries = cmd.get("entries") or []
    if cmd["decision"] == "returned" and not (cmd.get("comment") or "").strip() and not entries:
        raise InvalidError("a returned report needs a comment saying what to correct, overall or per entry",
                           field_errors={"comment": ["Required when the decision is returned (or comment entries)."]})
    reported = {e["item_id"] for e in report.entries}
    errors, seen = {}, set()
    for n, entry in enumerate(entries):
        if entry["item_id"] not in reported:
            errors[n] = {"item_id": [f"The report has no entry for item {entry['item_id']}."]}
        elif entry["item_id"] in seen:
            errors[n] = {"item_id": [f"Item {entry['item_id']} is commented on twice."]}
        seen.add(entry["item_id"])
    if errors:
        raise InvalidError("some entry comments do not name an entry of the report", field_errors={"entries": errors})
    if entries and cmd["decision"] == "accepted":
        raise InvalidError("entry comments say what needs work: they come with a returned report",
                           field_errors={"entries": ["Only when the decision is returned."]})
    return Decision("ReportReviewed", {"fiscal_year": fiscal_year, "round": round_, "decision": cmd["decision"],
                                       "comment": cmd.get("comment"), "report_version": report.version,
                                       "entries": [{"item_id": e["item_id"], "comment": e["comment"]}
                                                   for e in entries]})


def attach_evidence(state: UnitState, cmd: dict, ctx: Context) -> Decision:
    """POST evidence: a file (already checked and kept under its SHA-256) attached to a plan item, or to its entry
    in a round's report; the same file attached twice to the same place is nothing new."""
    _require_plan(state)
    item = _item(state, cmd["item_id"])
    fy, round_ = cmd.get("fiscal_year"), cmd.get("round")
    if (fy is None) != (round_ is None):
        raise InvalidError("a report's evidence names both fiscal_year and round; a plan item's, neither",
                           field_errors={"round" if fy is not None else "fiscal_year": ["Give both or neither."]})
    if fy is not None:
        _round_in_cycle(state, fy)
        if not item.scheduled_in(fy):
            raise InvalidError(f"item {item.item_id} is not scheduled in fiscal year {fy}",
                               field_errors={"fiscal_year": [f"The item is not scheduled in {fy}."]})
        if (fy, round_) not in state.reports:
            raise RuleError("report_required", f"fiscal year {fy} round {round_} has no report yet: send the report "
                                               "first, then attach files to its entries")
        _writable_round(state, fy, round_, ctx)      # a report's files change it: only while it may be corrected
    for earlier in state.evidence:
        if (earlier["sha256"], earlier["item_id"], earlier.get("fiscal_year"), earlier.get("round")) == (
                cmd["sha256"], item.item_id, fy, round_):
            raise RuleError("no_change", f"this file is already attached there (version {earlier['version']})")
    payload = {k: cmd.get(k) for k in ("sha256", "name", "content_type", "size", "item_id", "fiscal_year", "round",
                                       "public", "description")}
    return Decision("EvidenceAttached", payload, {"sha256": cmd["sha256"]})


def change_evidence_publicity(state: UnitState, attached_version: int, cmd: dict, ctx: Context) -> Decision:
    """PUT evidence/{version}/publicity: publish a file attached at that version, or take it off the public pages
    (always possible: a file published by mistake must be withdrawable); publishing a report's file only while
    the report may be corrected."""
    attached = next((e for e in state.evidence if e["version"] == attached_version), None)
    if attached is None:
        raise NotFoundError(f"unit {state.stream} attached no file at version {attached_version}")
    if attached["public"] == cmd["public"]:
        raise RuleError("no_change", f"the file is already {'public' if cmd['public'] else 'not public'}")
    if cmd["public"] and attached.get("round") is not None:
        _writable_round(state, attached["fiscal_year"], attached["round"], ctx)
    return Decision("EvidencePublicityChanged", {"attached_version": attached_version, "public": cmd["public"],
                                                 "reason": cmd["reason"]}, {"sha256": attached["sha256"]})


def send_reminder(state: UnitState, cmd: dict, ctx: Context) -> Decision:
    """POST reminders: chase the unit for a round."""
    return Decision("ReminderSent", {"fiscal_year": cmd["fiscal_year"], "round": cmd["round"],
                                     "message": cmd["message"], "channel": cmd.get("channel", "in_app"),
                                     "rule": None})


def scheduled_reminder(state: UnitState, rule, message: str, ctx: Context) -> Decision:
    """A reminder rule's reminder for this unit, unless the unit is not (or no longer) one the rule is for."""
    if not reminders.targeted(state, rule):
        raise RuleError("not_targeted", f"unit {state.stream} is not one rule {rule.key} is for now")
    return Decision("ReminderSent", {"fiscal_year": rule.fiscal_year, "round": rule.round, "message": message,
                                     "channel": "in_app", "rule": rule.key})


def set_reminder_rule(state: WindowsState, fiscal_year: int, round_: int, rule_id: str, scope: str | None,
                      cmd: dict, ctx: Context) -> Decision:
    """PUT reminder-rules/{fy}/{round}/{rule_id}: NACC's national rule (``scope`` None) or a supervisor's own."""
    audience = cmd.get("audience", "unit")
    above = cmd.get("above_after_days") if audience == "supervisors" else None
    payload = {"rule_id": rule_id, "fiscal_year": fiscal_year, "round": round_, "anchor": cmd["anchor"],
               "offset_days": cmd["offset_days"], "target": cmd["target"], "scope": scope,
               "message": cmd.get("message"), "active": cmd["active"], "audience": audience,
               "above_after_days": above}
    window = state.window(fiscal_year, round_, ctx.grace_days)
    rule = reminders.Rule(rule_id, fiscal_year, round_, cmd["anchor"], cmd["offset_days"], cmd["target"], scope,
                          audience=audience, above_after_days=above)
    at, last = rule.fires_at(window), rule.above_at(window) or rule.fires_at(window)
    # a rule switched off may lie anywhere (a window moved later may have left it outside)
    if cmd["active"] and (not reminders.within(at, window) or not reminders.within(last, window)):
        where = ("offset_days", f"It would fire at {fiscal.bangkok_iso(at)}") if not reminders.within(at, window) \
            else ("above_after_days", f"It would reach the level above at {fiscal.bangkok_iso(last)}")
        raise InvalidError(
            f"the rule would fire outside the round's window: {where[1]}, but the window opens at "
            f"{fiscal.bangkok_iso(window.opens_at)} and locks at {fiscal.bangkok_iso(window.locks_at)}",
            field_errors={where[0]: [f"{where[1]}; it must lie between {fiscal.bangkok_iso(window.opens_at)} and "
                                     f"{fiscal.bangkok_iso(window.locks_at)}."]})
    if state.rules.get((fiscal_year, round_), {}).get((scope or "", rule_id)) == payload:
        raise RuleError("no_change", f"reminder rule {rule_id} of fiscal year {fiscal_year} round {round_} "
                                     "already reads like this")
    return Decision("ReminderRuleSet", payload)


def grant_exception(state: UnitState, fiscal_year: int, round_: int, cmd: dict, ctx: Context) -> Decision:
    """POST exceptions: reopen a round for this unit until a given instant."""
    if cmd["until"] <= ctx.now:
        raise InvalidError("an exception must end in the future",
                           field_errors={"until": [f"Must be after now ({fiscal.bangkok_iso(ctx.now)})."]})
    return Decision("ReportingExceptionGranted", {"fiscal_year": fiscal_year, "round": round_,
                                                  "until": fiscal.bangkok_iso(cmd["until"]), "reason": cmd["reason"]})


def seal_archive(state: UnitState, cmd: dict, ctx: Context) -> Decision:
    """The archive command: versions ``first_version``..``last_version`` (every event so far after those already
    archived) are in the sealed segment the command wrote; the seal is the next event of the chain."""
    plan = _require_plan(state)
    if cmd["last_version"] != state.version or cmd["first_version"] > cmd["last_version"]:
        raise RuleError("archive_moved", f"the segment ends at version {cmd['last_version']}, the stream is at "
                                         f"{state.version}")
    if (cmd["first_fiscal_year"], cmd["last_fiscal_year"]) != (plan["first_fiscal_year"], plan["last_fiscal_year"]):
        raise RuleError("archive_cycle", "the segment names another plan cycle than the unit's")
    return Decision("ArchiveSealed", dict(cmd))


def set_window(state: WindowsState, fiscal_year: int, round_: int, cmd: dict, ctx: Context) -> Decision:
    """PUT windows/{fy}/{round}: NACC sets when a round opens, is due and locks."""
    default = fiscal.default_window(fiscal_year, round_, ctx.grace_days)
    opens, due, locks = cmd.get("opens_at") or default.opens_at, cmd["due_at"], cmd["locks_at"]
    errors = {}
    if due < opens:
        errors["due_at"] = [f"Must not be before opens_at ({fiscal.bangkok_iso(opens)})."]
    if locks < due:
        errors["locks_at"] = ["Must not be before due_at."]
    if errors:
        raise InvalidError("the window's dates are out of order", field_errors=errors)
    return Decision("ReportingWindowSet", {"fiscal_year": fiscal_year, "round": round_,
                                           "opens_at": fiscal.bangkok_iso(opens), "due_at": fiscal.bangkok_iso(due),
                                           "locks_at": fiscal.bangkok_iso(locks)})


# ---- the registry ------------------------------------------------------------------------

def assign_units(state: RegistryState, cmd: dict, ctx: Context) -> Decision:
    """Put units under a supervisor's oversight (only those not already theirs are recorded)."""
    current = set(state.units_of(cmd["supervisor"]) or [])
    new = sorted(set(cmd["units"]) - current)
    if not new:
        raise RuleError("no_change", f"supervisor {cmd['supervisor']} already oversees all these units")
    # one supervisor per unit, so that each level's figures are its parts' sum
    taken = {code: others for code in new if (others := [s for s in state.overseers_of(code)
                                                         if s != cmd["supervisor"]])}
    if taken:
        named = "; ".join(f"{code} by {', '.join(others)}" for code, others in sorted(taken.items())[:10])
        raise RuleError("already_supervised", f"units already have a supervisor ({named}): take them from it first "
                                              "(assign-supervisor --unassign), or move them with import-units")
    return Decision("SupervisorAssigned", {"supervisor": cmd["supervisor"], "units": new,
                                           "reason": cmd.get("reason")})


def unassign_units(state: RegistryState, cmd: dict, ctx: Context) -> Decision:
    """Take units from a supervisor; every unit named must be theirs now."""
    current = set(state.units_of(cmd["supervisor"]) or [])
    strangers = sorted(set(cmd["units"]) - current)
    if strangers:
        raise RuleError("not_assigned", f"supervisor {cmd['supervisor']} does not oversee {strangers}")
    return Decision("SupervisorUnassigned", {"supervisor": cmd["supervisor"], "units": sorted(set(cmd["units"])),
                                             "reason": cmd.get("reason")})


def set_parent(state: RegistryState, cmd: dict, ctx: Context) -> Decision:
    """Put a supervisor under another one (``parent``), or directly under NACC (``parent`` None); never into its
    own subtree."""
    supervisor, parent = cmd["supervisor"], cmd.get("parent")
    if not state.is_supervisor(supervisor):
        raise NotFoundError(f"no supervisor {supervisor!r}: create its account (role supervisor) first")
    if parent is not None:
        if not state.is_supervisor(parent):
            raise InvalidError(f"there is no supervisor {parent!r} to put {supervisor} under",
                               field_errors={"parent": [f"No supervisor {parent!r}."]})
        if parent == supervisor or parent in state.below(supervisor):
            raise RuleError("cycle", f"{parent} is {supervisor} itself or under it: putting {supervisor} under "
                                     f"{parent} would make a cycle")
    if state.parents.get(supervisor) == parent:
        raise RuleError("no_change", f"supervisor {supervisor} is already under {parent or 'NACC'}")
    return Decision("SupervisorParentSet", {"supervisor": supervisor, "parent": parent, "reason": cmd.get("reason")})


def register_unit(state: RegistryState, cmd: dict, ctx: Context) -> Decision:
    """Register a unit, or record its changed details."""
    details = {"code": cmd["code"], "name_th": cmd["name_th"], "kind": cmd["kind"], "province": cmd.get("province")}
    known = state.units.get(cmd["code"])
    if known is not None and {**known, "code": cmd["code"]} == details:
        raise RuleError("no_change", f"unit {cmd['code']} is already registered with these details")
    return Decision("UnitRegistered", details)


def create_account(state: RegistryState, cmd: dict, ctx: Context) -> Decision:
    """Give someone access in a role; a unit's account is its registered 7-digit code."""
    if cmd["username"] in state.accounts:
        raise RuleError("account_exists", f"there is already an account {cmd['username']!r}")
    if (cmd["role"] == "unit") != (cmd["username"] in state.units):
        raise RuleError("unit_account", "a unit's account is named by its registered code, and only units' are")
    return Decision("AccountCreated", {"username": cmd["username"], "role": cmd["role"], "name": cmd.get("name"),
                                       "demo": bool(cmd.get("demo"))})
