"""The names a person reads for the API's codes: round states, item kinds and statuses, reasons, rounds."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from shared import labels as shared_labels

STATES = {
    "not_open": _l("Not open yet"), "open": _l("Open"), "submitted": _l("Submitted"),
    "submitted_late": _l("Submitted late"), "overdue": _l("Overdue"), "returned": _l("Returned for correction"),
    "accepted": _l("Accepted"), "locked": _l("Not reported (closed)"),
}
KINDS = {code: _l(english) for code, english in shared_labels.KINDS.items()}
ITEM_STATUSES = {code: _l(english) for code, english in shared_labels.ITEM_STATUSES.items()}
REASONS = {code: _l(english) for code, english in shared_labels.REASONS.items()}
ROUNDS = {code: _l(english) for code, english in shared_labels.ROUNDS.items()}
DECISIONS = {"accepted": _l("Accept"), "returned": _l("Return for correction")}
TARGET_GROUPS = {code: _l(english) for code, english in shared_labels.TARGET_GROUPS.items()}
LIGHTS = {"green": _l("Green"), "orange": _l("Orange"), "red": _l("Red")}

# the unit log's event types and the fields their changes name, as the history and the auditor show them
EVENT_TYPES = {code: _l(english) for code, english in shared_labels.EVENT_TYPES.items()}
FIELD_NAMES = {
    "title": _l("Title of the plan"), "first_fiscal_year": _l("First fiscal year"),
    "last_fiscal_year": _l("Last fiscal year"), "framework": _l("Framework of the plan"),
    "name": _l("Name"), "kind": _l("Kind"), "dimension": _l("Dimension"), "sub_dimension": _l("Sub-dimension"),
    "fiscal_years": _l("Fiscal years"), "budgets": _l("Budget per fiscal year"),
    "responsible": _l("Responsible division"), "objectives": _l("Objectives"), "target_groups": _l("Target groups"),
    "indicators": _l("Indicators"), "targets": _l("Targets"), "remarks": _l("Remarks"),
    "status": _l("Status"), "reason": _l("Reason"), "reason_text": _l("The reason in words"),
    "budget_planned": _l("Budget in the plan"), "budget_ordinance": _l("Budget in the budget ordinance"),
    "spent": _l("Amount disbursed"), "outputs": _l("Outputs"), "outcomes": _l("Outcomes"),
    "problems": _l("Problems and obstacles"), "suggestions": _l("Suggestions"), "note": _l("Note"),
    "review": _l("Review"), "exception_until": _l("Reports accepted until"),
    "review_comment": _l("What to correct (the review)"), "response": _l("The unit's answer to the review"),
    "archive": _l("Archive file"),
}


# kinds of reporting unit (the registry's ``kind``)
UNIT_KINDS = {code: _l(english) for code, english in shared_labels.UNIT_KINDS.items()}


def name(table: dict, code) -> str:
    """The name of ``code`` in ``table``, or the code itself when the table does not know it."""
    return str(table.get(code, code if code is not None else ""))


def unit_kind_name(code) -> str:
    """The name of a kind of unit (the registry's ``kind``)."""
    return name(UNIT_KINDS, code)


def install(app) -> None:
    """Make the tables and ``state_name`` etc. available to every template."""
    app.jinja_env.globals.update(
        state_name=lambda c: name(STATES, c), kind_name=lambda c: name(KINDS, c),
        item_status_name=lambda c: name(ITEM_STATUSES, c), reason_name=lambda c: name(REASONS, c),
        round_name=lambda c: name(ROUNDS, int(c) if str(c).isdigit() else c),
        decision_name=lambda c: name(DECISIONS, c), target_group_name=lambda c: name(TARGET_GROUPS, c),
        light_name=lambda c: name(LIGHTS, c), unit_kind_name=unit_kind_name,
        event_type_name=lambda c: name(EVENT_TYPES, c),
        STATES=STATES, KINDS=KINDS, ITEM_STATUSES=ITEM_STATUSES, REASONS=REASONS, ROUNDS=ROUNDS,
        TARGET_GROUPS=TARGET_GROUPS)
