"""The tracker's pure projections: audit entries for every event type, and every time-driven state."""
from datetime import datetime, timedelta

import pytest

from services.submission import handlers as h
from services.submission.schemas import BudgetRequest, ExceptionRequest, ItemEditRequest, WindowRequest
from services.tracker.projector import (audit_entry, classify, plan_summary, round_facts, traffic_light,
                                        unit_status)
from shared.events import new_event
from shared.fiscal import BANGKOK, Window
from shared.plan import RegistryState, UnitState, WindowsState, fold_onto, fold_registry, fold_windows
from tests.unit.test_rules import FRAMEWORKS, History, entry, item, plan, report

SUP = {"username": "sup01", "role": "supervisor"}
NACC = {"username": "nacc01", "role": "nacc"}


def audited(hist: History, handler, *args, actor=None):
    """Run a handler and return the audit entry of its event, made from the state before it."""
    before = UnitState("3100100")
    fold_onto(before, hist.events)
    event = hist.do(handler, *args, **({"actor": actor} if actor else {}))
    return audit_entry(before, event)


@pytest.fixture
def hist():
    return History(now=datetime(2021, 4, 20, 9, 0, tzinfo=BANGKOK))


def test_audit_entry_for_every_unit_event_type(hist):
    """Each unit event type has an English and a Thai summary and its changes as old -> new."""
    declared = audited(hist, h.declare_plan, plan())
    assert declared["summary_th"].startswith("จัดทำแผน") and declared["position"] == 1
    added = audited(hist, h.add_item, item())
    assert "โครงการอบรมคุณธรรม" in added["summary_th"] and added["actor"]["username"] == "3100100"
    edited = audited(hist, h.edit_item, "i1", ItemEditRequest().load({"name": "โครงการใหม่", "reason": "เปลี่ยนชื่อ"}))
    assert edited["changes"] == [{"field": "name", "old": "โครงการอบรมคุณธรรม", "new": "โครงการใหม่"}]
    assert "เหตุผล: เปลี่ยนชื่อ" in edited["summary_th"]
    budget = audited(hist, h.change_budget, "i1", 2564, BudgetRequest().load({"amount": "60000", "reason": "เพิ่ม"}))
    assert budget["changes"] == [{"field": "budgets.2564", "old": "50000.00", "new": "60000.00"}]
    assert "50000.00 -> 60000.00 บาท" in budget["summary_th"]
    submitted = audited(hist, h.submit_report, 2564, 6, report(entry(status="in_progress")))
    assert "ส่งรายงานผลปีงบประมาณ 2564 รอบ 6 เดือน" in submitted["summary_th"]
    [first] = submitted["changes"]                  # an entry reported for the first time: one change, whole
    assert first["field"] == "entries.i1" and first["old"] is None and first["new"]["status"] == "in_progress"
    amended = audited(hist, h.submit_report, 2564, 6, report(entry(status="completed")))
    assert amended["changes"] == [{"field": "entries.i1.status", "old": "in_progress", "new": "completed"}]
    assert "ครั้งที่ 1" in amended["summary_th"]
    reviewed = audited(hist, h.review_report, 2564, 6, {"decision": "returned", "comment": "แก้"}, actor=SUP)
    assert "ส่งรายงานกลับให้แก้ไข" in reviewed["summary_th"] and reviewed["actor"] == SUP
    reminded = audited(hist, h.send_reminder, {"fiscal_year": 2564, "round": 12, "message": "โปรดรายงาน"}, actor=NACC)
    assert "โปรดรายงาน" in reminded["summary_th"]
    exception = audited(hist, h.grant_exception, 2564, 12, ExceptionRequest().load(
        {"until": "2021-12-31T23:59:59+07:00", "reason": "น้ำท่วม"}), actor=NACC)
    assert exception["changes"][0]["new"] == "2021-12-31T23:59:59+07:00"
    changed = audited(hist, h.declare_plan, plan(2561, 2565))
    assert {"field": "last_fiscal_year", "old": 2564, "new": 2565} in changed["changes"]
    removed = audited(hist, h.remove_item, "i1", {"reason": "ยกเลิก"})
    assert removed["summary_th"].startswith("ยกเลิกโครงการ") and removed["changes"][0]["new"] == "removed"
    assert [a["position"] for a in (declared, added, edited, budget, submitted, amended, reviewed, reminded,
                                    exception, changed, removed)] == list(range(1, 12))


def test_audit_entry_names_what_it_is_about(hist):
    """Entries carry the item, fiscal year, round, reason, decision and amendment as data, not only in summaries."""
    audited(hist, h.declare_plan, plan())
    added = audited(hist, h.add_item, item())
    assert added["item_id"] == "i1" and "fiscal_year" not in added
    budget = audited(hist, h.change_budget, "i1", 2564, BudgetRequest().load({"amount": "60000", "reason": "เพิ่ม"}))
    assert (budget["item_id"], budget["fiscal_year"], budget["reason"]) == ("i1", 2564, "เพิ่ม")
    audited(hist, h.submit_report, 2564, 6, report(entry(status="in_progress")))
    amended = audited(hist, h.submit_report, 2564, 6, report(entry(status="completed")))
    assert (amended["fiscal_year"], amended["round"], amended["amendment"]) == (2564, 6, 1)
    reviewed = audited(hist, h.review_report, 2564, 6, {"decision": "returned", "comment": "แก้"}, actor=SUP)
    assert (reviewed["fiscal_year"], reviewed["round"], reviewed["decision"]) == (2564, 6, "returned")


def test_audit_entry_for_national_streams():
    """Window and registry events have summaries too."""
    ctx = h.Context(now=datetime(2021, 4, 1, tzinfo=BANGKOK), frameworks=FRAMEWORKS, grace_days=15)
    d = h.set_window(WindowsState(), 2564, 6, WindowRequest().load(
        {"due_at": "2021-05-31T23:59:59+07:00", "locks_at": "2021-06-15T23:59:59+07:00"}), ctx)
    e = new_event(stream="windows", version=1, type_=d.type, payload=d.payload, actor=NACC,
                  recorded_at=ctx.now, prev_hash="0" * 64)
    assert "กำหนดส่ง 2021-05-31T23:59:59+07:00" in audit_entry(WindowsState(), e)["summary_th"]
    d = h.assign_units(RegistryState(), {"supervisor": "sup01", "units": ["3100100"]}, ctx)
    e = new_event(stream="registry", version=1, type_=d.type, payload=d.payload, actor={"username": "op", "role":
                  "operator"}, recorded_at=ctx.now, prev_hash="0" * 64)
    assert "sup01" in audit_entry(RegistryState(), e)["summary_th"]
    assert fold_registry([e]).units_of("sup01") == ["3100100"]


def facts_of(hist, fy=2564, round_=6):
    return round_facts(hist.state)[(fy, round_)]


def at(*args):
    return datetime(*args, tzinfo=BANGKOK)


def test_states_move_with_time_alone():
    """With no report: not_open -> open -> overdue -> locked, at the window's instants, without new events."""
    hist = History()
    hist.do(h.declare_plan, plan())
    facts, window = facts_of(hist), WindowsState().window(2564, 6, 15)
    assert classify(facts, window, at(2021, 3, 31, 23, 59, 59)) == "not_open"
    assert classify(facts, window, at(2021, 4, 1)) == "open"
    assert classify(facts, window, at(2021, 4, 30, 23, 59, 59)) == "open"
    assert classify(facts, window, at(2021, 5, 1)) == "overdue"
    assert classify(facts, window, at(2021, 5, 15, 23, 59, 59)) == "overdue"
    assert classify(facts, window, at(2021, 5, 16)) == "locked"


def test_exception_turns_locked_back_to_overdue_until_it_ends():
    """An open exception makes a locked round reportable (overdue) until it expires."""
    hist = History(now=at(2021, 5, 20))
    hist.do(h.declare_plan, plan())
    hist.do(h.grant_exception, 2564, 6, ExceptionRequest().load({"until": "2021-05-31T23:59:59+07:00",
                                                                 "reason": "x"}), actor=SUP)
    facts, window = facts_of(hist), WindowsState().window(2564, 6, 15)
    assert classify(facts, window, at(2021, 5, 31, 23, 0)) == "overdue"
    assert classify(facts, window, at(2021, 6, 1)) == "locked"


def test_submitted_on_time_late_returned_accepted():
    """Submitted by the due date is submitted, after it submitted_late; reviews set returned / accepted."""
    hist = History(now=at(2021, 4, 30, 23, 59, 59))
    hist.do(h.declare_plan, plan())
    hist.do(h.add_item, item())
    hist.do(h.submit_report, 2564, 6, report(entry()))
    window = WindowsState().window(2564, 6, 15)
    assert classify(facts_of(hist), window, at(2021, 6, 1)) == "submitted"
    hist.now = at(2021, 5, 2)
    late = History(now=at(2021, 5, 1))
    late.do(h.declare_plan, plan())
    late.do(h.submit_report, 2564, 6, report())
    assert classify(facts_of(late), window, at(2021, 5, 2)) == "submitted_late"
    extended = Window(2564, 6, window.opens_at, at(2021, 5, 31), at(2021, 6, 15), set_by_nacc=True)
    assert classify(facts_of(late), extended, at(2021, 5, 2)) == "submitted"   # NACC moved the deadline
    hist.do(h.review_report, 2564, 6, {"decision": "returned", "comment": "แก้"}, actor=SUP)
    assert classify(facts_of(hist), window, at(2021, 5, 2)) == "returned"
    hist.do(h.submit_report, 2564, 6, report(entry(spent="1")))
    assert classify(facts_of(hist), window, at(2021, 5, 3)) == "submitted"   # judged by the first submission
    hist.do(h.review_report, 2564, 6, {"decision": "accepted"}, actor=SUP)
    assert classify(facts_of(hist), window, at(2021, 5, 3)) == "accepted"


def test_completeness_rate_and_light():
    """Complete when every active scheduled item has an entry; rate = completed / scheduled; light by round."""
    hist = History()
    hist.do(h.declare_plan, plan())
    for _ in range(4):
        hist.do(h.add_item, item())
    hist.do(h.add_item, item(fiscal_years=[2562], budgets={}))      # not scheduled in 2564
    hist.do(h.submit_report, 2564, 6, report(entry("i1"), entry("i2", status="in_progress"), entry("i3")))
    facts = facts_of(hist)
    assert facts["complete"] is False and facts["missing_items"] == [{"item_id": "i4", "name": "โครงการอบรมคุณธรรม"}]
    assert facts["implementation_rate"] == "0.5000" and facts["scheduled_items"] == 4
    hist.do(h.remove_item, "i4", {"reason": "ยกเลิก"})
    facts = facts_of(hist)
    assert facts["complete"] is True and facts["implementation_rate"] == "0.6667"


@pytest.mark.parametrize("round_, rate, light", [
    (6, "0.5", "green"), (6, "0.4999", "orange"), (6, "0.2", "orange"), (6, "0.1999", "red"),
    (12, "0.8", "green"), (12, "0.79", "orange"), (12, "0.5", "orange"), (12, "0.49", "red"), (6, None, None),
], ids=lambda v: str(v))
def test_traffic_light_thresholds(round_, rate, light):
    """6-month: green >= 50 %, orange 20-49 %, red < 20 %; 12-month: green >= 80 %, orange 50-79 %, red < 50 %."""
    assert traffic_light(round_, rate) == light


def test_plan_summary_and_status_document():
    """Items by dimension and sub-dimension, budget per year over active items; one line per round of the cycle."""
    hist = History()
    hist.do(h.declare_plan, plan())
    hist.do(h.add_item, item())
    hist.do(h.add_item, item(dimension=2, sub_dimension="2.2", budgets={"2563": "100.25"}))
    summary = plan_summary(hist.state)
    assert summary["items_by_dimension"] == {"1": {"items": 1, "sub_dimensions": {"1.1": 1}},
                                             "2": {"items": 1, "sub_dimensions": {"2.2": 1}}}
    assert summary["budget_by_year"] == {"2561": "0.00", "2562": "0.00", "2563": "100.25", "2564": "50000.00"}
    status = unit_status(hist.state, WindowsState(), at(2021, 5, 1), 15)
    assert [(r["fiscal_year"], r["round"]) for r in status["rounds"]] == [
        (fy, r) for fy in range(2561, 2565) for r in (6, 12)]
    line = status["rounds"][6]
    assert line["state"] == "overdue" and line["due_at"] == "2021-04-30T23:59:59+07:00"


def test_round_facts_ignore_time():
    """Facts depend only on the log: the same history gives the same facts at any clock."""
    early, later = History(now=at(2021, 4, 20)), History(now=at(2021, 4, 20))
    for hist in (early, later):
        hist.do(h.declare_plan, plan())
    assert round_facts(early.state) == round_facts(later.state)
    assert fold_windows([]).window(2564, 6, 15).due_at == at(2021, 4, 30, 23, 59, 59)
    assert timedelta(days=15) == WindowsState().window(2564, 6, 15).locks_at - at(2021, 4, 30, 23, 59, 59)
