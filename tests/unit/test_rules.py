"""Every domain rule of the write side, on pure handlers folded in memory (no Redis)."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from services.submission import handlers as h
from services.submission.schemas import (BudgetRequest, ExceptionRequest, ItemAddRequest, ItemEditRequest,
                                         PlanRequest, ReportRequest, WindowRequest)
from shared.errors import InvalidError, NotFoundError, RuleError
from shared.events import new_event, verify_chain
from shared.fiscal import BANGKOK
from shared.framework import FrameworkRegistry
from shared.plan import UnitState, WindowsState, apply, fold_onto

FRAMEWORKS = FrameworkRegistry.load()
UNIT = {"username": "3100100", "role": "unit"}
MAY_1 = datetime(2021, 5, 1, 10, 0, tzinfo=BANGKOK)


class History:
    """A unit's stream kept in memory: run handlers, record their events, fold them."""

    def __init__(self, now=MAY_1, windows=None):
        self.state = UnitState("3100100")
        self.events = []
        self.now = now
        self.windows = windows or WindowsState()
        self._n = 0

    def _id(self):
        self._n += 1
        return f"i{self._n}"

    def do(self, handler, *args, actor=UNIT):
        ctx = h.Context(now=self.now, frameworks=FRAMEWORKS, grace_days=15, windows=self.windows, new_id=self._id)
        decision = handler(self.state, *args, ctx)
        event = new_event(stream="3100100", version=self.state.version + 1, type_=decision.type,
                          payload=decision.payload, actor=actor, recorded_at=self.now,
                          prev_hash=self.state.head_hash)
        apply(self.state, event)
        self.events.append(event)
        return event


def plan(first=2561, last=2564, title="แผนปฏิบัติการป้องกันการทุจริต"):
    return PlanRequest().load({"title": title, "first_fiscal_year": first, "last_fiscal_year": last})


def item(**over):
    body = {"name": "โครงการอบรมคุณธรรม", "kind": "project", "dimension": 1, "sub_dimension": "1.1",
            "fiscal_years": [2563, 2564], "budgets": {"2564": "50000.00"}}
    body.update(over)
    return ItemAddRequest().load(body)


def report(*entries, note=None):
    return ReportRequest().load({"entries": list(entries), "note": note})


@pytest.fixture
def planned():
    """A unit with a 2561-2564 plan and one item in 2563-2564."""
    hist = History()
    hist.do(h.declare_plan, plan())
    hist.do(h.add_item, item())
    return hist


def test_declare_then_change_period(planned):
    """The first PUT declares the plan (with the cycle's framework); a later one changes it."""
    first = planned.events[0]
    assert first.type == "PlanDeclared" and first.payload["framework"] == "2561-2564@1"
    changed = planned.do(h.declare_plan, plan(2561, 2565))
    assert changed.type == "PlanPeriodChanged"
    assert planned.state.plan["last_fiscal_year"] == 2565


def test_later_cycles_use_the_default_framework():
    """A 2566-2570 plan works today with the shipped 2561-2564 framework."""
    hist = History()
    assert hist.do(h.declare_plan, plan(2566, 2570)).payload["framework"] == "2561-2564@1"


def test_identical_plan_is_no_change(planned):
    """Re-declaring the same plan records nothing."""
    with pytest.raises(RuleError) as err:
        planned.do(h.declare_plan, plan())
    assert err.value.rule == "no_change"


@pytest.mark.parametrize("first, last, field", [(2565, 2561, "last_fiscal_year"), (2561, 2575, "last_fiscal_year")],
                         ids=["reversed", "too-long"])
def test_plan_years_checked(first, last, field):
    """A cycle must run forwards and span at most ten years."""
    with pytest.raises(InvalidError) as err:
        History().do(h.declare_plan, plan(first, last))
    assert field in err.value.errors["json"]


def test_period_change_cannot_strand_items(planned):
    """Shrinking the cycle below an active item's years is refused."""
    with pytest.raises(RuleError) as err:
        planned.do(h.declare_plan, plan(2561, 2563))
    assert err.value.rule == "items_outside_cycle"


def test_items_need_a_plan():
    """No item before the plan is declared."""
    with pytest.raises(RuleError) as err:
        History().do(h.add_item, item())
    assert err.value.rule == "plan_required"


def test_item_years_bound_by_cycle(planned):
    """An item's fiscal years must lie within the plan cycle."""
    with pytest.raises(InvalidError) as err:
        planned.do(h.add_item, item(fiscal_years=[2564, 2565], budgets={}))
    assert "fiscal_years" in err.value.errors["json"]


def test_budgets_only_for_scheduled_years(planned):
    """A budget for a year the item does not run in is refused."""
    with pytest.raises(InvalidError) as err:
        planned.do(h.add_item, item(fiscal_years=[2563], budgets={"2564": "1.00"}))
    assert "budgets" in err.value.errors["json"]


def test_missing_budget_years_are_zero(planned):
    """Scheduled years without a budget get 0.00 (many measures use none)."""
    event = planned.events[1]
    assert event.payload["budgets"] == {"2563": "0.00", "2564": "50000.00"}


@pytest.mark.parametrize("dimension, sub, field", [(5, "5.1", "dimension"), (1, "1.9", "sub_dimension"),
                                                   (2, "1.1", "sub_dimension")],
                         ids=["no-dimension-5", "no-sub-1.9", "sub-of-other-dimension"])
def test_dimension_must_exist_in_framework(planned, dimension, sub, field):
    """Dimension and sub-dimension must be a pair of the plan's framework."""
    with pytest.raises(InvalidError) as err:
        planned.do(h.add_item, item(dimension=dimension, sub_dimension=sub))
    assert field in err.value.errors["json"]


def test_edit_records_only_changes(planned):
    """An edit stores the fields that really change, with the reason."""
    edit = ItemEditRequest().load({"name": "โครงการอบรมคุณธรรม", "responsible": "กองกลาง", "reason": "ระบุผู้รับผิดชอบ"})
    event = planned.do(h.edit_item, "i1", edit)
    assert event.payload["changes"] == {"responsible": "กองกลาง"}
    assert planned.state.items["i1"].details["responsible"] == "กองกลาง"


def test_edit_years_rebalances_budgets(planned):
    """Dropping a year drops its budget; a new year starts at 0.00."""
    planned.do(h.edit_item, "i1", ItemEditRequest().load({"fiscal_years": [2564, 2562], "reason": "เลื่อน"}))
    assert planned.state.items["i1"].budgets == {"2562": "0.00", "2564": "50000.00"}


def test_edit_without_change_refused(planned):
    """An edit that changes nothing records nothing."""
    with pytest.raises(RuleError) as err:
        planned.do(h.edit_item, "i1", ItemEditRequest().load({"kind": "project", "reason": "x"}))
    assert err.value.rule == "no_change"


def test_edit_needs_reason_and_a_field():
    """PATCH needs a reason and at least one detail; budgets are not edited here."""
    with pytest.raises(ValidationError) as err:
        ItemEditRequest().load({"name": "x"})
    assert "reason" in err.value.messages
    with pytest.raises(ValidationError) as err:
        ItemEditRequest().load({"reason": "x"})
    assert "_schema" in err.value.messages
    with pytest.raises(ValidationError) as err:
        ItemEditRequest().load({"budgets": {"2564": "1"}, "reason": "x"})
    assert "budgets" in err.value.messages


def test_budget_change(planned):
    """Re-budgeting one year records the new amount as text with two decimals."""
    event = planned.do(h.change_budget, "i1", 2563, BudgetRequest().load({"amount": 1200.5, "reason": "เพิ่ม"}))
    assert event.payload["amount"] == "1200.50"
    assert planned.state.items["i1"].budgets["2563"] == "1200.50"


def test_budget_for_unscheduled_year_refused(planned):
    """Only scheduled years have budgets."""
    with pytest.raises(RuleError) as err:
        planned.do(h.change_budget, "i1", 2561, BudgetRequest().load({"amount": "1", "reason": "x"}))
    assert err.value.rule == "year_not_scheduled"


def test_same_budget_is_no_change(planned):
    """Setting the amount it already has records nothing."""
    with pytest.raises(RuleError):
        planned.do(h.change_budget, "i1", 2564, BudgetRequest().load({"amount": "50000", "reason": "x"}))


def test_removed_item_cannot_change(planned):
    """Editing, re-budgeting or removing again a removed item is refused."""
    planned.do(h.remove_item, "i1", {"reason": "ยกเลิก"})
    with pytest.raises(RuleError):
        planned.do(h.edit_item, "i1", ItemEditRequest().load({"name": "y", "reason": "x"}))
    with pytest.raises(RuleError):
        planned.do(h.change_budget, "i1", 2564, BudgetRequest().load({"amount": "1", "reason": "x"}))
    with pytest.raises(RuleError) as err:
        planned.do(h.remove_item, "i1", {"reason": "x"})
    assert err.value.rule == "item_removed"


def test_unknown_item_is_not_found(planned):
    """A path naming no item is a 404."""
    with pytest.raises(NotFoundError):
        planned.do(h.remove_item, "nope", {"reason": "x"})


@pytest.mark.parametrize("amount", ["-1", "1.005", "abc", "1e3", True, "", "1,000"],
                         ids=["negative", "three-decimals", "text", "exponent", "bool", "empty", "comma"])
def test_money_format(amount):
    """Money is >= 0 with at most two decimals."""
    with pytest.raises(ValidationError):
        BudgetRequest().load({"amount": amount, "reason": "x"})


def test_money_accepts_strings_numbers_and_decimals():
    """"50000", 50000, 50000.5 and Decimal all load exactly."""
    for value, expected in [("50000", Decimal("50000")), (50000, Decimal("50000")), (0.1, Decimal("0.1")),
                            (Decimal("12.34"), Decimal("12.34"))]:
        assert BudgetRequest().load({"amount": value, "reason": "x"})["amount"] == expected


def entry(item_id="i1", status="completed", **over):
    return {"item_id": item_id, "status": status, **over}


def test_report_on_time_then_amended():
    """A report within the window is on time; the second one for the round is an amendment."""
    hist = History(now=datetime(2021, 4, 20, tzinfo=BANGKOK))
    hist.do(h.declare_plan, plan())
    hist.do(h.add_item, item())
    first = hist.do(h.submit_report, 2564, 6, report(entry(spent="100.00")))
    assert first.type == "ReportSubmitted" and first.payload["late"] is False
    assert first.payload["entries"][0]["budget_planned"] == "50000.00"
    second = hist.do(h.submit_report, 2564, 6, report(entry(status="in_progress")))
    assert second.type == "ReportAmended" and second.payload["amendment"] == 1
    assert hist.state.reports[(2564, 6)].amendments == 1


def test_report_after_due_is_late(planned):
    """After the due date and before the lock the report is accepted and marked late."""
    event = planned.do(h.submit_report, 2564, 6, report(entry()))
    assert event.payload["late"] is True and event.payload["due_at"] == "2021-04-30T23:59:59+07:00"


def test_report_before_window_opens_refused():
    """A round cannot be reported before its period ends (unless NACC opens it earlier)."""
    hist = History(now=datetime(2021, 3, 31, 23, 0, tzinfo=BANGKOK))
    hist.do(h.declare_plan, plan())
    with pytest.raises(RuleError) as err:
        hist.do(h.submit_report, 2564, 6, report())
    assert err.value.rule == "round_not_open"


def test_report_after_lock_refused_until_exception(planned):
    """After the lock: 409 naming the dates and the way out; an open exception lets it in."""
    planned.now = datetime(2021, 5, 16, 0, 0, 1, tzinfo=BANGKOK)
    with pytest.raises(RuleError) as err:
        planned.do(h.submit_report, 2564, 6, report(entry()))
    assert err.value.rule == "round_locked"
    assert "exception" in err.value.message and err.value.extra["locks_at"] == "2021-05-15T23:59:59+07:00"
    until = planned.now + timedelta(days=3)
    planned.do(h.grant_exception, 2564, 6, ExceptionRequest().load({"until": until.isoformat(), "reason": "ระบบล่ม"}),
               actor={"username": "sup01", "role": "supervisor"})
    event = planned.do(h.submit_report, 2564, 6, report(entry()))
    assert event.payload["under_exception"] is True and event.payload["late"] is True
    planned.now = until + timedelta(seconds=1)
    with pytest.raises(RuleError):
        planned.do(h.submit_report, 2564, 6, report(entry()))


def test_exception_must_end_in_future(planned):
    """An exception that has already expired is refused."""
    with pytest.raises(InvalidError):
        planned.do(h.grant_exception, 2564, 6, ExceptionRequest().load(
            {"until": (MAY_1 - timedelta(days=1)).isoformat(), "reason": "x"}))


def test_window_set_by_nacc_moves_dates():
    """NACC's window replaces the default: the same instant can become on time."""
    windows_hist = History()
    nacc_window = h.set_window(WindowsState(), 2564, 6, WindowRequest().load(
        {"due_at": "2021-05-31T23:59:59+07:00", "locks_at": "2021-06-15T23:59:59+07:00"}),
        h.Context(now=MAY_1, frameworks=FRAMEWORKS, grace_days=15))
    assert nacc_window.payload["opens_at"] == "2021-04-01T00:00:00+07:00"
    event = new_event(stream="windows", version=1, type_=nacc_window.type, payload=nacc_window.payload,
                      actor={"username": "nacc1", "role": "nacc"}, recorded_at=MAY_1, prev_hash="0" * 64)
    from shared.plan import fold_windows
    windows_hist.windows = fold_windows([event])
    windows_hist.do(h.declare_plan, plan())
    windows_hist.do(h.add_item, item())
    assert windows_hist.do(h.submit_report, 2564, 6, report(entry())).payload["late"] is False


def test_window_dates_in_order():
    """Opens <= due <= locks."""
    with pytest.raises(InvalidError) as err:
        h.set_window(WindowsState(), 2564, 6, WindowRequest().load(
            {"due_at": "2021-05-31T23:59:59+07:00", "locks_at": "2021-05-01T00:00:00+07:00"}),
            h.Context(now=MAY_1, frameworks=FRAMEWORKS, grace_days=15))
    assert "locks_at" in err.value.errors["json"]


def test_report_outside_cycle_refused(planned):
    """Reports are for fiscal years of the plan cycle."""
    with pytest.raises(RuleError) as err:
        planned.do(h.submit_report, 2560, 6, report())
    assert err.value.rule == "year_outside_cycle"


@pytest.mark.parametrize("entries, why", [
    ([entry(), entry()], "already has an entry"),
    ([entry("ghost")], "has no item"),
], ids=["twice", "unknown"])
def test_report_entries_name_scheduled_items_once(planned, entries, why):
    """Each entry names a scheduled, active item, at most once."""
    with pytest.raises(InvalidError) as err:
        planned.do(h.submit_report, 2564, 6, report(*entries))
    assert why in str(err.value.errors)


def test_report_entry_for_unscheduled_or_removed_item(planned):
    """Items not scheduled that year, or removed, cannot be reported on."""
    planned.do(h.add_item, item(fiscal_years=[2561], budgets={}))
    with pytest.raises(InvalidError) as err:
        planned.do(h.submit_report, 2564, 6, report(entry("i2")))
    assert "not scheduled" in str(err.value.errors)
    planned.do(h.remove_item, "i1", {"reason": "x"})
    with pytest.raises(InvalidError) as err:
        planned.do(h.submit_report, 2564, 6, report(entry("i1")))
    assert "removed" in str(err.value.errors)


@pytest.mark.parametrize("line, field", [
    (entry(status="not_feasible"), "reason"),
    (entry(status="not_feasible", reason="other"), "reason_text"),
    (entry(status="completed", reason="no_budget"), "reason"),
    (entry(spent="-5"), "spent"),
    (entry(spent="1.234"), "spent"),
    (entry(status="done"), "status"),
], ids=["not-feasible-needs-reason", "other-needs-text", "reason-only-when-not-feasible",
        "negative-spent", "three-decimals", "unknown-status"])
def test_report_entry_rules(line, field):
    """Entry-level rules name the field."""
    with pytest.raises(ValidationError) as err:
        ReportRequest().load({"entries": [line]})
    assert field in err.value.messages["entries"][0]


def test_not_feasible_with_reason_accepted(planned):
    """not_feasible with reason other and its text is fine."""
    event = planned.do(h.submit_report, 2564, 6, report(entry(status="not_feasible", reason="other",
                                                              reason_text="น้ำท่วม")))
    assert event.payload["entries"][0]["reason_text"] == "น้ำท่วม"


def test_review_rules(planned):
    """Reviews need a report, a comment when returned, and happen once per report version."""
    sup = {"username": "sup01", "role": "supervisor"}
    with pytest.raises(RuleError):
        planned.do(h.review_report, 2564, 6, {"decision": "accepted"}, actor=sup)
    planned.do(h.submit_report, 2564, 6, report(entry()))
    with pytest.raises(InvalidError):
        planned.do(h.review_report, 2564, 6, {"decision": "returned", "comment": " "}, actor=sup)
    planned.do(h.review_report, 2564, 6, {"decision": "returned", "comment": "แก้ไขตัวเลข"}, actor=sup)
    with pytest.raises(RuleError) as err:
        planned.do(h.review_report, 2564, 6, {"decision": "accepted"}, actor=sup)
    assert err.value.rule == "already_reviewed"
    planned.do(h.submit_report, 2564, 6, report(entry(spent="10")))
    accepted = planned.do(h.review_report, 2564, 6, {"decision": "accepted"}, actor=sup)
    assert accepted.payload["report_version"] == planned.state.reports[(2564, 6)].version


def test_history_folds_and_verifies(planned):
    """The events made by the handlers form a valid chain and refold to the same state."""
    planned.do(h.send_reminder, {"fiscal_year": 2564, "round": 12, "message": "กรุณารายงาน"},
               actor={"username": "nacc1", "role": "nacc"})
    assert verify_chain(planned.events, "3100100").ok
    again = fold_onto(UnitState("3100100"), planned.events)
    assert again == planned.state
