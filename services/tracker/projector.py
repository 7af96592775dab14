"""Pure projections of a unit's state: audit entries, per-round facts and the time-aware status.

Nothing here reads Redis or the wall clock: the jobs pass in states, events and ``now``.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared import fiscal
from shared.events import Event, upcast
from shared.plan import UnitState, WindowsState, empty_state, fold_onto, to_dict
from shared.schemas import money_text

KIND_TH = {"project": "โครงการ", "activity": "กิจกรรม", "measure": "มาตรการ", "guideline": "แนวปฏิบัติ"}
DECISION_TH = {"accepted": "รับรองรายงาน", "returned": "ส่งรายงานกลับให้แก้ไข"}
SECURITY_SUMMARIES = {
    "ActivationCodeIssued": ("Activation code issued", "ออกรหัสเปิดใช้งาน"),
    "AccountActivated": ("Account activated", "เปิดใช้งานบัญชี"),
    "SignInSucceeded": ("Signed in", "เข้าสู่ระบบ"),
    "SignInFailed": ("Sign-in failed", "เข้าสู่ระบบไม่สำเร็จ"),
    "PasswordChanged": ("Password changed", "เปลี่ยนรหัสผ่าน"),
    "EmailAddressChangeRequested": ("E-mail address given, waiting for confirmation", "แจ้งที่อยู่อีเมล รอการยืนยัน"),
    "EmailAddressConfirmed": ("E-mail address confirmed", "ยืนยันที่อยู่อีเมลแล้ว"),
    "EmailAddressRemoved": ("E-mail address removed", "ลบที่อยู่อีเมล"),
    "TwoFactorEnrolmentStarted": ("Two-factor sign-in enrolment started", "เริ่มตั้งค่าการยืนยันตัวตนสองขั้นตอน"),
    "TwoFactorEnabled": ("Two-factor sign-in turned on", "เปิดใช้การยืนยันตัวตนสองขั้นตอน"),
    "TwoFactorDisabled": ("Two-factor sign-in turned off", "ปิดการยืนยันตัวตนสองขั้นตอน"),
    "TwoFactorReset": ("Two-factor sign-in reset by an operator", "ผู้ดูแลระบบรีเซ็ตการยืนยันตัวตนสองขั้นตอน"),
    "RecoveryCodeUsed": ("Recovery code used to sign in", "ใช้รหัสกู้คืนเข้าสู่ระบบ"),
}
STATES = ("not_open", "open", "submitted", "submitted_late", "overdue", "returned", "accepted", "locked")
SUBMITTED_STATES = ("submitted", "submitted_late", "returned", "accepted")
# Implementation traffic light (share of items completed), as the national system showed it.
LIGHTS = {6: (Decimal("0.5"), Decimal("0.2")), 12: (Decimal("0.8"), Decimal("0.5"))}


def _round_en(fy: int, round_: int) -> str:
    return f"FY {fy} {round_}-month round"


def _round_th(fy: int, round_: int) -> str:
    return f"ปีงบประมาณ {fy} รอบ {round_} เดือน"


def _changes(old: dict, new: dict, prefix: str = "") -> list[dict]:
    return [{"field": f"{prefix}{k}", "old": old.get(k), "new": new.get(k)}
            for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def _entry_changes(old_entries: list, new_entries: list) -> list[dict]:
    """A report's entries old -> new: an entry first reported or dropped is one change holding the whole
    entry; an entry reported again lists the fields that changed."""
    old = {e["item_id"]: e for e in old_entries}
    out = []
    for entry in new_entries:
        before = old.pop(entry["item_id"], None)
        if before is None:
            out.append({"field": f"entries.{entry['item_id']}", "old": None, "new": entry})
        elif before != entry:
            out += _changes(before, entry, f"entries.{entry['item_id']}.")
    for item_id, before in old.items():
        out.append({"field": f"entries.{item_id}", "old": before, "new": None})
    return out


AUDIT_REFERENCES = ("item_id", "fiscal_year", "round", "reason", "decision", "amendment")


def audit_entry(before: UnitState, e: Event) -> dict:
    """The audit trail's line for ``e``, given the unit's state just before it."""
    p, summary, summary_th, changes = e.payload, "", "", []
    t = e.type
    if t == "PlanDeclared":
        summary = f"Plan declared: {p['title']} (FY {p['first_fiscal_year']}-{p['last_fiscal_year']})"
        summary_th = f"จัดทำแผน: {p['title']} (ปีงบประมาณ {p['first_fiscal_year']}-{p['last_fiscal_year']})"
        changes = _changes({}, {k: p[k] for k in ("title", "first_fiscal_year", "last_fiscal_year", "framework")})
    elif t == "PlanPeriodChanged":
        summary = f"Plan changed: {p['title']} (FY {p['first_fiscal_year']}-{p['last_fiscal_year']})"
        summary_th = f"ปรับปรุงแผน: {p['title']} (ปีงบประมาณ {p['first_fiscal_year']}-{p['last_fiscal_year']})"
        changes = _changes(before.plan or {}, {k: p[k] for k in ("title", "first_fiscal_year",
                                                                 "last_fiscal_year", "framework")})
    elif t == "ItemAdded":
        summary = f"{p['kind'].capitalize()} added: {p['name']} (dimension {p['sub_dimension']})"
        summary_th = f"เพิ่ม{KIND_TH[p['kind']]}: {p['name']} (มิติที่ {p['sub_dimension']})"
        changes = _changes({}, {k: v for k, v in p.items() if k != "item_id"})
    elif t == "ItemEdited":
        item = before.items[p["item_id"]]
        name = p["changes"].get("name", item.details["name"])
        summary = f"Item edited: {name} ({', '.join(sorted(p['changes']))}); reason: {p['reason']}"
        summary_th = f"แก้ไขรายละเอียด{KIND_TH[item.details['kind']]}: {name} เหตุผล: {p['reason']}"
        changes = _changes({k: item.details.get(k) for k in p["changes"]}, p["changes"])
    elif t == "ItemBudgetChanged":
        item = before.items[p["item_id"]]
        fy, old = str(p["fiscal_year"]), item.budgets.get(str(p["fiscal_year"]))
        summary = (f"Budget FY {fy} of {item.details['name']}: {old} -> {p['amount']} baht; "
                   f"reason: {p['reason']}")
        summary_th = (f"ปรับงบประมาณปี {fy} ของ{KIND_TH[item.details['kind']]} {item.details['name']}: "
                      f"{old} -> {p['amount']} บาท เหตุผล: {p['reason']}")
        changes = [{"field": f"budgets.{fy}", "old": old, "new": p["amount"]}]
    elif t == "ItemRemoved":
        item = before.items[p["item_id"]]
        summary = f"Item removed: {item.details['name']}; reason: {p['reason']}"
        summary_th = f"ยกเลิก{KIND_TH[item.details['kind']]}: {item.details['name']} เหตุผล: {p['reason']}"
        changes = [{"field": "status", "old": "active", "new": "removed"}]
    elif t in ("ReportSubmitted", "ReportAmended"):
        fy, r = p["fiscal_year"], p["round"]
        late_en, late_th = (", late", " ล่าช้า") if p["late"] else ("", "")
        previous = before.reports.get((fy, r))
        if t == "ReportSubmitted":
            summary = f"Report {_round_en(fy, r)} submitted ({len(p['entries'])} entries{late_en})"
            summary_th = f"ส่งรายงานผล{_round_th(fy, r)} ({len(p['entries'])} รายการ{late_th})"
        else:
            summary = f"Report {_round_en(fy, r)} amended (amendment {p['amendment']}{late_en})"
            summary_th = f"แก้ไขรายงานผล{_round_th(fy, r)} (ครั้งที่ {p['amendment']}{late_th})"
        changes = _entry_changes(previous.entries if previous else [], p["entries"])
        if (previous.note if previous else None) != p.get("note"):
            changes.append({"field": "note", "old": previous.note if previous else None, "new": p.get("note")})
    elif t == "ReportReviewed":
        fy, r = p["fiscal_year"], p["round"]
        summary = f"Report {_round_en(fy, r)} {p['decision']} by {e.actor['username']}" + (
            f": {p['comment']}" if p.get("comment") else "")
        summary_th = f"{DECISION_TH[p['decision']]} {_round_th(fy, r)} โดย {e.actor['username']}" + (
            f" ความเห็น: {p['comment']}" if p.get("comment") else "")
        changes = [{"field": "review", "old": None, "new": p["decision"]}] + [
            {"field": f"entries.{c['item_id']}.review_comment", "old": None, "new": c["comment"]}
            for c in p.get("entries") or []]
        if p.get("entries"):
            summary += f" ({len(p['entries'])} entries to correct)"
            summary_th += f" ({len(p['entries'])} รายการที่ต้องแก้ไข)"
    elif t == "ReminderSent":
        summary = f"Reminder ({p['channel']}) for {_round_en(p['fiscal_year'], p['round'])}: {p['message']}"
        summary_th = f"แจ้งเตือนให้รายงานผล{_round_th(p['fiscal_year'], p['round'])}: {p['message']}"
    elif t == "ReportingExceptionGranted":
        summary = (f"Exception: {_round_en(p['fiscal_year'], p['round'])} reopened until {p['until']}; "
                   f"reason: {p['reason']}")
        summary_th = (f"อนุญาตให้รายงานผล{_round_th(p['fiscal_year'], p['round'])} ได้ถึง {p['until']} "
                      f"เหตุผล: {p['reason']}")
        changes = [{"field": "exception_until", "old": None, "new": p["until"]}]
    elif t == "EvidenceAttached":
        item = before.items.get(p["item_id"])
        name = item.details["name"] if item else p["item_id"]
        where_en = f" ({_round_en(p['fiscal_year'], p['round'])} report)" if p.get("round") else ""
        where_th = f" (รายงานผล{_round_th(p['fiscal_year'], p['round'])})" if p.get("round") else ""
        public_en, public_th = (", public", " เผยแพร่ต่อสาธารณะ") if p["public"] else (", not public", " ไม่เผยแพร่")
        summary = f"Evidence {p['name']} attached to {name}{where_en}{public_en}"
        summary_th = f"แนบหลักฐาน {p['name']} กับ{name}{where_th}{public_th}"
        changes = [{"field": "evidence", "old": None, "new": {k: p.get(k) for k in (
            "name", "content_type", "size", "sha256", "public")}}]
    elif t == "EvidencePublicityChanged":
        attached = next((f for f in before.evidence if f["version"] == p["attached_version"]), {})
        name = attached.get("name", f"version {p['attached_version']}")
        summary = f"Evidence {name} {'published' if p['public'] else 'taken off the public pages'}; reason: {p['reason']}"
        summary_th = (f"{'เผยแพร่' if p['public'] else 'เลิกเผยแพร่'}หลักฐาน {name} เหตุผล: {p['reason']}")
        changes = [{"field": "evidence.public", "old": attached.get("public"), "new": p["public"]}]
    elif t == "ReminderRuleSet":
        who, who_th = (f"supervisor {p['scope']}", f"หน่วยกำกับดูแล {p['scope']}") if p["scope"] else ("NACC", "สำนักงาน ป.ป.ช.")
        state_en, state_th = ("", "") if p["active"] else (" (off)", " (ปิดใช้งาน)")
        escalation = p.get("audience") == "supervisors"
        kind, kind_th = ("Escalation rule", "กำหนดการรายงานหน่วยกำกับดูแล") if escalation else (
            "Reminder rule", "กำหนดการแจ้งเตือน")
        summary = (f"{kind} {p['rule_id']} of {_round_en(p['fiscal_year'], p['round'])} by {who}: "
                   f"{p['offset_days']:+d} days from {p['anchor']}, to units {p['target']}{state_en}")
        summary_th = (f"{who_th} {kind_th} {p['rule_id']} {_round_th(p['fiscal_year'], p['round'])}: "
                      f"{p['offset_days']:+d} วันจาก {p['anchor']}{state_th}")
        changes = _changes({}, {k: p.get(k) for k in ("anchor", "offset_days", "target", "scope", "active",
                                                       "audience", "above_after_days")})
    elif t == "ReportingWindowSet":
        summary = (f"Window {_round_en(p['fiscal_year'], p['round'])}: opens {p['opens_at']}, due {p['due_at']}, "
                   f"locks {p['locks_at']}")
        summary_th = (f"กำหนดช่วงรายงานผล{_round_th(p['fiscal_year'], p['round'])}: เปิด {p['opens_at']} "
                      f"กำหนดส่ง {p['due_at']} ปิดระบบ {p['locks_at']}")
        changes = _changes({}, {k: p[k] for k in ("opens_at", "due_at", "locks_at")})
    elif t in ("SupervisorAssigned", "SupervisorUnassigned"):
        verb, verb_th = ("assigned to", "มอบหมายหน่วยงานให้") if t == "SupervisorAssigned" else (
            "taken from", "ยกเลิกการกำกับดูแลหน่วยงานของ")
        units = ", ".join(p["units"])
        summary = f"Units {units} {verb} supervisor {p['supervisor']}"
        summary_th = f"{verb_th}หน่วยกำกับดูแล {p['supervisor']}: {units}"
        changes = [{"field": "units", "old": None, "new": p["units"]}]
    elif t == "SupervisorParentSet":
        summary = f"Supervisor {p['supervisor']} put under {p['parent'] or 'NACC'}"
        summary_th = f"กำหนดให้หน่วยกำกับดูแล {p['supervisor']} อยู่ภายใต้ {p['parent'] or 'สำนักงาน ป.ป.ช.'}"
        changes = [{"field": "parent", "old": None, "new": p["parent"]}]
    elif t == "ArchiveSealed":
        summary = (f"Versions {p['first_version']}-{p['last_version']} (plan cycle {p['first_fiscal_year']}-"
                   f"{p['last_fiscal_year']}) archived in segment {p['segment']}, SHA-256 {p['sha256']}")
        summary_th = (f"ย้ายประวัติลำดับที่ {p['first_version']}-{p['last_version']} (แผนรอบปี {p['first_fiscal_year']}-"
                      f"{p['last_fiscal_year']}) ไปเก็บในแฟ้มถาวร {p['segment']} ค่า SHA-256 {p['sha256']}")
        changes = [{"field": "archive", "old": None, "new": {k: p[k] for k in (
            "segment", "first_version", "last_version", "sha256")}}]
    elif t == "UnitRegistered":
        summary = f"Unit {p['code']} registered: {p['name_th']} ({p['kind']})"
        summary_th = f"ลงทะเบียนหน่วยงาน {p['code']}: {p['name_th']}"
        changes = _changes({}, {k: p.get(k) for k in ("name_th", "kind", "province")})
    elif t == "AccountCreated":
        demo, demo_th = (" (demo)", " (ข้อมูลสาธิต)") if p["demo"] else ("", "")
        summary = f"Account {p['username']} created, role {p['role']}{demo}"
        summary_th = f"สร้างบัญชีผู้ใช้ {p['username']} บทบาท {p['role']}{demo_th}"
        changes = [{"field": "role", "old": None, "new": p["role"]}]
    elif t in SECURITY_SUMMARIES:
        en, th = SECURITY_SUMMARIES[t]
        extra = f" ({p['reason']})" if p.get("reason") else ""
        summary = f"{en}: {p['username']}{extra}" + (f" from {p['client']}" if p.get("client") else "")
        summary_th = f"{th}: {p['username']}{extra}"
    else:
        raise ValueError(f"no audit summary for {t}")
    entry = {"position": e.version, "event_id": e.event_id, "type": t, "at": e.recorded_at, "actor": e.actor,
             "summary": summary, "summary_th": summary_th, "changes": changes}
    # what the entry is about, as data, so a reader never has to parse a summary to find it
    entry.update({key: p[key] for key in AUDIT_REFERENCES if p.get(key) is not None})
    return entry


def audit_trail(stream: str, events, first: int = 1):
    """The audit entries of a stream's events (given from its first), from position ``first`` on, each made
    from the state just before its event: the audit trail, folded from the log."""
    state = empty_state(stream)
    for e in events:
        if e.version >= first:
            yield audit_entry(state, upcast(e))
        state = fold_onto(state, [e])


KEPT_DETAILS = ("name", "kind", "dimension", "sub_dimension", "fiscal_years")


def snapshot_of(state) -> dict:
    """What the tracker keeps of a stream's fold: all of a national or security state; of a unit's, what its
    status, its rounds' facts and the folding of its next events need. An item keeps its name, kind, place in the
    framework, schedule and budgets; a report its entries' items and statuses and its dates, counts and review;
    the texts (objectives, indicators, outputs, problems ...) and the reminders stay in the log, and what shows
    them folds it (``GET /state``, the audit trail)."""
    data = to_dict(state)
    if not isinstance(state, UnitState):
        return data
    for item in data["items"]:
        item["details"] = {k: item["details"][k] for k in KEPT_DETAILS if k in item["details"]}
    for report in data["reports"].values():
        report["entries"] = [{"item_id": e["item_id"], "status": e["status"]} for e in report["entries"]]
    data["reminders"] = []
    data["evidence"] = []            # what is attached is read from the log, like the texts
    return data


def round_facts(state: UnitState) -> dict:
    """Per (fiscal_year, round) of the plan cycle, what the log says (nothing time-dependent)."""
    if state.plan is None:
        return {}
    out = {}
    for fy in range(state.plan["first_fiscal_year"], state.plan["last_fiscal_year"] + 1):
        scheduled = state.active_items(fy)
        for round_ in fiscal.ROUNDS:
            report = state.reports.get((fy, round_))
            exceptions = state.exceptions.get((fy, round_), [])
            facts = {"fiscal_year": fy, "round": round_, "scheduled_items": len(scheduled),
                     "first_submitted_at": None, "submitted_at": None, "amendments": 0, "review": None,
                     "complete": None, "missing_items": [], "implementation_rate": None,
                     "exception_until": max((x["until"] for x in exceptions),
                                            key=fiscal.parse_instant, default=None)}
            if report is not None:
                reported = {entry["item_id"]: entry for entry in report.entries}
                missing = [{"item_id": i.item_id, "name": i.details["name"]}
                           for i in scheduled if i.item_id not in reported]
                completed = sum(1 for i in scheduled if reported.get(i.item_id, {}).get("status") == "completed")
                facts.update(first_submitted_at=report.first_submitted_at, submitted_at=report.submitted_at,
                             amendments=report.amendments, complete=not missing, missing_items=missing,
                             review=report.review["decision"] if report.review else None,
                             implementation_rate=(str((Decimal(completed) / len(scheduled)).quantize(
                                 Decimal("0.0001"))) if scheduled else None))
            out[(fy, round_)] = facts
    return out


DECIDED = {"accepted": 1, "returned": 2}      # scores in a round's ``decided`` sorted set


def round_marks(facts: dict | None) -> tuple:
    """A unit's scores in its round's sorted sets (``shared.keys.ROUND_MARKS`` order), None where it is not in
    one: what ``classify`` and ``on_time`` need of the facts, except the window and the instant."""
    if not facts:
        return (None, None, None, None)
    if facts["submitted_at"]:
        first = fiscal.epoch_micros(fiscal.parse_instant(facts["first_submitted_at"]))
        decided = DECIDED.get(facts["review"])
        return (first, None if decided else first, decided, None)
    until = facts["exception_until"]
    return (None, None, None, fiscal.epoch_micros(fiscal.parse_instant(until)) if until else None)


# What ReadModels.round_tallies counts in a round's sorted sets.
TALLIES = ("submitted", "submitted_by_due", "unreviewed", "unreviewed_by_due", "accepted", "returned",
           "excepted_open")


def tallies_of(marks, due: int, now: int) -> dict:
    """What ``ReadModels.round_tallies`` counts, over given units' scores (``round_marks`` of their facts), with
    the due date and the instant in microseconds."""
    out = dict.fromkeys(TALLIES, 0)
    for submitted, unreviewed, decided, excepted in marks:
        out["submitted"] += submitted is not None
        out["submitted_by_due"] += submitted is not None and submitted <= due
        out["unreviewed"] += unreviewed is not None
        out["unreviewed_by_due"] += unreviewed is not None and unreviewed <= due
        out["accepted"] += decided == 1
        out["returned"] += decided == 2
        out["excepted_open"] += excepted is not None and excepted >= now
    return out


def tally(expected: int, marks: dict, window: fiscal.Window, now: datetime) -> dict:
    """Counts per state and the submitted and on-time totals of ``expected`` units, from the round's sorted
    sets counted at the window's due date and at ``now`` (``ReadModels.round_tallies``); the same numbers as
    ``classify`` and ``on_time`` over every unit's facts."""
    counts = dict.fromkeys(STATES, 0)
    counts.update(accepted=marks["accepted"], returned=marks["returned"], submitted=marks["unreviewed_by_due"],
                  submitted_late=marks["unreviewed"] - marks["unreviewed_by_due"])
    unreported = expected - marks["submitted"]
    phase = window.phase(now)
    if phase == "locked":
        counts["overdue"] = marks["excepted_open"]
        counts["locked"] = unreported - marks["excepted_open"]
    else:
        counts[{"not_open": "not_open", "open": "open", "late": "overdue"}[phase]] = unreported
    return {"counts": counts, "submitted": marks["submitted"], "on_time": marks["submitted_by_due"]}


def traffic_light(round_: int, rate: str | None) -> str | None:
    """green / orange / red for an implementation rate, by the round's thresholds."""
    if rate is None:
        return None
    green, orange = LIGHTS[round_]
    value = Decimal(rate)
    return "green" if value >= green else "orange" if value >= orange else "red"


def classify(facts: dict, window: fiscal.Window, now: datetime) -> str:
    """The round's state at ``now``: from the facts and the window, so time alone moves it on."""
    if facts["submitted_at"]:
        if facts["review"] in ("returned", "accepted"):
            return facts["review"]
        on_time = fiscal.parse_instant(facts["first_submitted_at"]) <= window.due_at
        return "submitted" if on_time else "submitted_late"
    phase = window.phase(now)
    if phase == "locked":
        until = facts["exception_until"]
        return "overdue" if until and fiscal.parse_instant(until) >= now else "locked"
    return {"not_open": "not_open", "open": "open", "late": "overdue"}[phase]


def on_time(facts: dict, window: fiscal.Window) -> bool:
    """Whether the first report came by the due date."""
    return bool(facts["first_submitted_at"]) and fiscal.parse_instant(facts["first_submitted_at"]) <= window.due_at


def round_status(facts: dict, window: fiscal.Window, now: datetime) -> dict:
    """One round's line in a unit's status."""
    return {**facts, "state": classify(facts, window, now), "opens_at": fiscal.bangkok_iso(window.opens_at),
            "due_at": fiscal.bangkok_iso(window.due_at), "locks_at": fiscal.bangkok_iso(window.locks_at),
            "window_set_by_nacc": window.set_by_nacc,
            "traffic_light": traffic_light(facts["round"], facts["implementation_rate"])}


def plan_summary(state: UnitState) -> dict | None:
    """Items by dimension and sub-dimension, and the budget per fiscal year, of the active items."""
    if state.plan is None:
        return None
    by_dimension: dict = {}
    budgets: dict = {str(fy): Decimal(0) for fy in range(state.plan["first_fiscal_year"],
                                                         state.plan["last_fiscal_year"] + 1)}
    active = state.active_items()
    for item in active:
        dim = by_dimension.setdefault(str(item.details["dimension"]), {"items": 0, "sub_dimensions": {}})
        dim["items"] += 1
        sub = item.details["sub_dimension"]
        dim["sub_dimensions"][sub] = dim["sub_dimensions"].get(sub, 0) + 1
        for fy, amount in item.budgets.items():
            budgets[fy] = budgets.get(fy, Decimal(0)) + Decimal(amount)
    return {**state.plan, "items": len(active), "removed_items": len(state.items) - len(active),
            "items_by_dimension": dict(sorted(by_dimension.items())),
            "budget_by_year": {fy: money_text(v) for fy, v in sorted(budgets.items())},
            "budget_total": money_text(sum(budgets.values(), Decimal(0)))}


def unit_status(state: UnitState, windows: WindowsState, now: datetime, grace_days: int) -> dict:
    """What ``GET /units/{code}/status`` shows (before lag and parking are added)."""
    rounds = [round_status(f, windows.window(fy, r, grace_days), now)
              for (fy, r), f in sorted(round_facts(state).items())]
    return {"unit": state.stream, "version": state.version, "plan": plan_summary(state), "rounds": rounds}
