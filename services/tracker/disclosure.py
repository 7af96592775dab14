"""The ITA documents of a unit for a fiscal year, folded from its log: the plan in force and both rounds' reports.

Pure: events, the registry's public details of the unit, the windows and the frameworks in; JSON-native documents
out. Only public fields ever leave: the plan's items and the reports' entries as the unit wrote them, when each
was recorded and whether on time. Never an actor, a review, a reminder, an exception or its reason, nor a file the unit did not make public.

A fiscal year's *published versions* are the events that changed one of its documents: a plan event touching an
item scheduled that year (before or after the change) or the plan's period, and every report of that year.
Any other event (a review, a reminder) changes no document, so a document's version and hash stay those of the
event that last changed it, and ``verify`` of them answers with that event.
"""
from __future__ import annotations

from decimal import Decimal

from shared import plan as plan_fold
from shared.fiscal import parse_instant
from shared.events import Event
from shared.framework import FrameworkRegistry
from shared.plan import UnitState, WindowsState
from shared.schemas import money_text

DOCUMENTS = ("plan", "report-6", "report-12")
PLAN_EVENTS = {"PlanDeclared", "PlanPeriodChanged", "ItemAdded", "ItemEdited", "ItemBudgetChanged", "ItemRemoved"}
REPORT_EVENTS = {"ReportSubmitted", "ReportAmended"}
ITEM_FIELDS = ("name", "kind", "dimension", "sub_dimension", "fiscal_years", "responsible", "objectives",
               "target_groups", "indicators", "targets", "remarks")
EVIDENCE_FIELDS = ("sha256", "name", "content_type", "size", "description", "version", "recorded_at")
ENTRY_FIELDS = ("status", "reason", "reason_text", "budget_planned", "budget_ordinance", "spent", "outputs",
                "outcomes", "problems", "suggestions")


def _in_cycle(plan: dict | None, fiscal_year: int) -> bool:
    return bool(plan) and plan["first_fiscal_year"] <= fiscal_year <= plan["last_fiscal_year"]


def _scheduled(state: UnitState, item_id: str | None, fiscal_year: int) -> bool:
    item = state.items.get(item_id) if item_id else None
    return item is not None and not item.removed and item.scheduled_in(fiscal_year)


def document_of(event: Event, before: UnitState, after: UnitState, fiscal_year: int) -> str | None:
    """Which of the year's documents an event changed (``plan``, ``report-6``, ``report-12``), if any."""
    p = event.payload
    if event.type == "EvidencePublicityChanged":
        attached = next((f for f in after.evidence if f["version"] == p["attached_version"]), None)
        if attached is None:
            return None
        if attached.get("round") is not None:
            return f"report-{attached['round']}" if attached["fiscal_year"] == fiscal_year else None
        return "plan" if _scheduled(after, attached["item_id"], fiscal_year) else None
    if event.type == "EvidenceAttached":
        if not p["public"]:
            return None
        if p.get("round") is not None:
            return f"report-{p['round']}" if p["fiscal_year"] == fiscal_year else None
        return "plan" if _scheduled(after, p["item_id"], fiscal_year) else None
    if event.type in REPORT_EVENTS:
        return f"report-{p['round']}" if p["fiscal_year"] == fiscal_year else None
    if event.type not in PLAN_EVENTS:
        return None
    if event.type in ("PlanDeclared", "PlanPeriodChanged"):
        changed = _in_cycle(before.plan, fiscal_year) or _in_cycle(after.plan, fiscal_year)
    elif event.type == "ItemBudgetChanged":
        changed = p["fiscal_year"] == fiscal_year and _scheduled(after, p["item_id"], fiscal_year)
    else:
        item_id = p.get("item_id")
        changed = _scheduled(before, item_id, fiscal_year) or _scheduled(after, item_id, fiscal_year)
    return "plan" if changed else None


def fold_published(events, fiscal_year: int, until_version: int | None = None):
    """Fold the log up to ``until_version`` (all of it when None); the state there and every published version
    of the year up to it, oldest first: ``{version, type, recorded_at, hash, document}``."""
    state, published = UnitState(events[0].stream if events else ""), []
    for event in events:
        if until_version is not None and event.version > until_version:
            break
        before = plan_fold.fork(state) if event.type in PLAN_EVENTS else state
        plan_fold.apply(state, event)
        document = document_of(event, before, state, fiscal_year)
        if document:
            published.append({"version": event.version, "type": event.type, "recorded_at": event.recorded_at,
                              "hash": event.hash, "document": document})
    return state, published


def _names(frameworks: FrameworkRegistry, plan: dict | None, dimension: int, sub_dimension: str) -> dict:
    fw = frameworks.get(plan["framework"]) if plan and plan.get("framework") else None
    dim = fw.dimensions.get(dimension) if fw else None
    sub = dim["sub_dimensions"].get(sub_dimension) if dim else None
    return {"dimension_name_th": dim["name_th"] if dim else None,
            "sub_dimension_name_th": sub["name_th"] if sub else None}


def _public_files(state: UnitState, item_id: str, fiscal_year: int | None = None, round_: int | None = None) -> list:
    """The files the unit published with an item (or with its entry in a round's report), oldest first."""
    return [{k: e.get(k) for k in EVIDENCE_FIELDS} for e in state.evidence
            if e["public"] and e["item_id"] == item_id and e.get("fiscal_year") == fiscal_year
            and e.get("round") == round_]


def _stamp(entry: dict | None) -> dict:
    return {k: entry[k] for k in ("version", "hash", "recorded_at")} if entry else \
        {"version": None, "hash": None, "recorded_at": None}


def _order(row: dict) -> tuple:
    sub = tuple(int(part) for part in row["sub_dimension"].split("."))
    return row["dimension"], sub


def plan_document(state: UnitState, fiscal_year: int, frameworks: FrameworkRegistry, stamp: dict | None) -> dict | None:
    """The plan in force for the year (None when the unit's plan does not cover it): items by dimension and
    sub-dimension, each with its budget for the year."""
    if not _in_cycle(state.plan, fiscal_year):
        return None
    items = []
    for item in state.active_items(fiscal_year):
        row = {"item_id": item.item_id, **{k: item.details.get(k) for k in ITEM_FIELDS},
               "budget": item.budgets.get(str(fiscal_year), "0.00"), "budgets": dict(item.budgets),
               "evidence": _public_files(state, item.item_id)}
        row.update(_names(frameworks, state.plan, row["dimension"], row["sub_dimension"]))
        items.append(row)
    items.sort(key=_order)
    total = sum((Decimal(i["budget"]) for i in items), Decimal("0"))
    return {"title": state.plan["title"], "first_fiscal_year": state.plan["first_fiscal_year"],
            "last_fiscal_year": state.plan["last_fiscal_year"], "framework": state.plan.get("framework"),
            "items": items, "total_budget": money_text(total), **_stamp(stamp)}


def report_document(state: UnitState, fiscal_year: int, round_: int, frameworks: FrameworkRegistry,
                    windows: WindowsState, grace_days: int, stamp: dict | None) -> dict | None:
    """The round's latest report as recorded (None when not reported yet): per entry what was done, money,
    problems and suggestions; when it was first sent and last corrected, and whether on time."""
    report = state.reports.get((fiscal_year, round_))
    if report is None:
        return None
    entries = []
    for entry in report.entries:
        item = state.items.get(entry["item_id"])
        details = item.details if item else {}
        row = {"item_id": entry["item_id"], "name": details.get("name"), "kind": details.get("kind"),
               "dimension": details.get("dimension"), "sub_dimension": details.get("sub_dimension"),
               **{k: entry.get(k) for k in ENTRY_FIELDS},
               "evidence": _public_files(state, entry["item_id"], fiscal_year, round_)}
        if row["dimension"] is not None:
            row.update(_names(frameworks, state.plan, row["dimension"], row["sub_dimension"]))
        entries.append(row)
    entries.sort(key=lambda r: _order(r) if r["dimension"] is not None else (999, ()))
    completed = sum(1 for e in entries if e["status"] == "completed")
    window = windows.window(fiscal_year, round_, grace_days)
    return {"round": round_, "note": report.note, "entries": entries,
            "first_submitted_at": report.first_submitted_at, "due_at": window.due_at.isoformat(),
            # by the due date in force, as the national rates count it (NACC may move a window after the report)
            "on_time": parse_instant(report.first_submitted_at) <= window.due_at, "amendments": report.amendments,
            "completed_items": completed, "submitted_at": report.submitted_at, **_stamp(stamp)}


def disclosure(events, unit: dict, fiscal_year: int, frameworks: FrameworkRegistry, windows: WindowsState,
               grace_days: int, until_version: int | None = None) -> dict:
    """The year's three documents as of ``until_version`` (the latest published one when None), with the version
    and hash of the latest published event they stand at, and every published version up to it."""
    state, published = fold_published(events, fiscal_year, until_version)
    last = published[-1] if published else None
    stamps = {p["document"]: p for p in published}          # each document's last published event

    def at(document: str) -> UnitState:
        """The fold at the document's own last event: a document is a function of its version and hash alone
        (a report keeps its items' names as they stood when it was recorded or its files attached)."""
        version = stamps[document]["version"] if document in stamps else state.version
        return state if version == state.version else fold_published(events, fiscal_year, version)[0]

    return {
        "unit": unit["code"], "name_th": unit.get("name_th"), "kind": unit.get("kind"),
        "province": unit.get("province"), "fiscal_year": fiscal_year,
        "version": last["version"] if last else 0, "head_hash": last["hash"] if last else None,
        "recorded_at": last["recorded_at"] if last else None,
        "plan": plan_document(at("plan"), fiscal_year, frameworks, stamps.get("plan")),
        "reports": {str(r): report_document(at(f"report-{r}"), fiscal_year, r, frameworks, windows, grace_days,
                                            stamps.get(f"report-{r}")) for r in (6, 12)},
        "due_at": {str(r): windows.window(fiscal_year, r, grace_days).due_at.isoformat() for r in (6, 12)},
        "versions": list(reversed(published)),
    }
