"""The supervisor's and NACC's pages in a real browser: the round's units, reviews, reminders, exceptions,
exports, national compliance with its charts, reporting windows, hostile text and narrow screens.

Writes go to three units of demo-sup-02 only (the last three of its share of the 77 Bangkok units), except
the one-click reminder, which by design reaches every unit of demo-sup-02 that has not reported.
"""
from __future__ import annotations

import base64
import csv
import io
import time
from datetime import datetime, timedelta, timezone
from importlib import resources

import pytest
import requests
from openpyxl import load_workbook

from shared import fiscal

SUPERVISOR = "demo-sup-02"
NACC = "demo-nacc"
REPORTED = ("submitted", "submitted_late", "returned", "accepted")
NOT_REPORTED = ("open", "overdue", "locked")


def _bma_codes() -> list[str]:
    with resources.files("shared.data").joinpath("bma_units.csv").open(encoding="utf-8") as f:
        return [row["code"] for row in csv.DictReader(f)]


SUP02_UNITS = _bma_codes()[1::3]                 # services/submission/cli.py demo_data: codes[n::3]
REVIEWED, HOSTILE, LATECOMER = SUP02_UNITS[-3:]


@pytest.fixture(scope="module")
def current(stack):
    """The round the supervisor's overview shows by default (the tracker's current round)."""
    status, body, _ = stack.api("GET", "tracker", f"/supervisors/{SUPERVISOR}/overview", SUPERVISOR)
    assert status == 200, body
    return body["fiscal_year"], body["round"]


def round_of(stack, code: str, fy: int, rnd: int) -> dict:
    """The unit's line for the round in its status, once everything it wrote is projected."""
    return next(r for r in stack.projected(code)["rounds"] if (r["fiscal_year"], r["round"]) == (fy, rnd))


def file_report(stack, code: str, fy: int, rnd: int, outputs: str) -> None:
    """Set up through the API: a plan with one item for ``fy`` and the unit's report for the round (the
    supervisor reopens the round first when it is locked)."""
    overview = stack.api("GET", "tracker", f"/supervisors/{SUPERVISOR}/overview?fiscal_year={fy}&round={rnd}",
                         SUPERVISOR)[1]
    row = next(r for r in overview["rows"] if r["unit"] == code)
    if row["state"] in REPORTED:
        return
    if row["state"] == "locked":
        until = (datetime.now(fiscal.BANGKOK) + timedelta(days=30)).isoformat()
        status, body, _ = stack.api("POST", "submission", f"/units/{code}/reports/{fy}/{rnd}/exceptions",
                                    SUPERVISOR, {"until": until, "reason": "ตั้งค่าการทดสอบ"})
        assert status == 201, body
    status, body, _ = stack.api("PUT", "submission", f"/units/{code}/plan", code,
                                {"title": "แผนปฏิบัติการป้องกันการทุจริต", "first_fiscal_year": fy - 1,
                                 "last_fiscal_year": fy + 3})
    assert status in (200, 201), body
    status, body, _ = stack.api("POST", "submission", f"/units/{code}/plan/items", code, {
        "name": "โครงการอบรมคุณธรรมจริยธรรม", "kind": "project", "dimension": 1, "sub_dimension": "1.1",
        "fiscal_years": [fy], "budgets": {str(fy): "25000"}})
    assert status == 201, body
    status, body, _ = stack.api("PUT", "submission", f"/units/{code}/reports/{fy}/{rnd}", code, {
        "entries": [{"item_id": body["item_id"], "status": "completed", "spent": "24000", "outputs": outputs}],
        "note": "รายงานตามแผน"})
    assert status == 201, body
    stack.projected(code)


def set_date(browser, name: str, instant: datetime):
    """Fill a Thai date field (forms.ThaiDateTimeField): day, Thai month, Buddhist Era year, 24-hour time."""
    local = instant.astimezone(fiscal.BANGKOK)
    browser.choose(f"#{name}-day", str(local.day)).choose(f"#{name}-month", str(local.month))
    browser.type(f"#{name}-year", str(local.year + 543)).type(f"#{name}-time", local.strftime("%H:%M"))


def date_shown(browser, name: str) -> tuple[str, str, str, str]:
    """What a Thai date field holds: (day, month, BE year, time)."""
    return tuple(browser.find(f"#{name}-{part}").get_attribute("value") for part in ("day", "month", "year", "time"))


def parts(instant: datetime) -> tuple[str, str, str, str]:
    local = instant.astimezone(fiscal.BANGKOK)
    return str(local.day), str(local.month), str(local.year + 543), local.strftime("%H:%M")


def row_codes(browser) -> list[str]:
    return [tr.get_attribute("id").removeprefix("unit-") for tr in browser.all("table.units tbody tr[id^=unit-]")]


def cookies_session(browser) -> requests.Session:
    session = requests.Session()
    for cookie in browser.driver.get_cookies():
        session.cookies.set(cookie["name"], cookie["value"])
    return session


def test_supervisor_sees_units_and_filters(browser, stack, current):
    """The supervisor sees every unit it oversees for the current round with names; a unit that submitted shows
    as submitted, and the state filter lists only that state."""
    fy, rnd = current
    file_report(stack, REVIEWED, fy, rnd, "อบรมเจ้าหน้าที่ 40 คน")
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go("/supervisor", shot="supervisor-overview")
    answer = stack.api("GET", "tracker", f"/supervisors/{SUPERVISOR}/overview", SUPERVISOR)[1]
    assert sorted(row_codes(browser)) == sorted(SUP02_UNITS) == sorted(r["unit"] for r in answer["rows"])
    row = browser.find(f"#unit-{REVIEWED}")
    state = row.get_attribute("data-state")
    assert state in ("submitted", "submitted_late")
    names = {r["unit"]: r["name_th"] for r in answer["rows"]}
    assert names[REVIEWED] in row.text and ("ส่งรายงานแล้ว" in row.text or "ส่งรายงานล่าช้า" in row.text)
    assert browser.find("#submitted-count").text == str(answer["submitted"])
    browser.fill("สถานะการรายงาน", state)
    browser.submit("form.picker button[type=submit]", shot="supervisor-filtered")
    codes = row_codes(browser)
    assert REVIEWED in codes and len(codes) == answer["counts"][state]
    # the cards and charts still count every unit, and the page says that the state filters the table only
    assert "ไม่ใช้ตัวกรอง" in browser.find("#figures-scope").text
    assert browser.find("#submitted-count").text == str(answer["submitted"])
    assert {tr.get_attribute("data-state") for tr in browser.all("table.units tbody tr[id^=unit-]")} == {state}
    browser.fill("สถานะการรายงาน", "locked" if answer["counts"]["locked"] else "overdue")
    browser.submit("form.picker button[type=submit]")
    assert REVIEWED not in row_codes(browser)


def test_return_report_with_comment(browser, stack, current):
    """The supervisor reads the report from the review queue and returns it with a comment: the unit's status is
    returned and its audit trail carries the comment."""
    fy, rnd = current
    file_report(stack, REVIEWED, fy, rnd, "อบรมเจ้าหน้าที่ 40 คน")
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go("/supervisor")
    queue = browser.find("#queue + .table-wrap")
    assert REVIEWED in queue.text
    browser.driver.get(browser.find(f"a[href$='/supervisor/units/{REVIEWED}/{fy}/{rnd}/review']")
                       .get_attribute("href"))
    browser.shot("supervisor-review")
    assert "อบรมเจ้าหน้าที่ 40 คน" in browser.text() and "24,000.00" in browser.text()
    entries = browser.all("table.report-entries tbody tr")            # read from the unit's state, item by name
    assert len(entries) == 1 and "โครงการอบรมคุณธรรมจริยธรรม" in entries[0].text
    assert "ดำเนินการแล้วเสร็จ" in entries[0].text
    assert "รายงานตามแผน" in browser.find("p.note").text
    assert len(browser.all("ul.history li")) >= 1
    browser.find("input[value=returned]").click()
    browser.submit("main form button[type=submit]", shot="supervisor-review-refused")         # returning needs a comment: said in Thai, nothing sent
    assert "กรุณาระบุสิ่งที่หน่วยงานต้องแก้ไข" in browser.text()
    assert round_of(stack, REVIEWED, fy, rnd)["state"] in ("submitted", "submitted_late")
    comment = "กรุณาระบุงบประมาณตามข้อบัญญัติให้ครบ"
    browser.find("input[value=returned]").click()
    browser.fill("ความเห็นถึงหน่วยงาน", comment)
    browser.submit("main form button[type=submit]", shot="supervisor-after-review")
    assert browser.path.startswith("/supervisor?") and "ส่งรายงานของ" in browser.find(".notice").text
    assert round_of(stack, REVIEWED, fy, rnd)["state"] == "returned"
    audit = stack.api("GET", "tracker", f"/units/{REVIEWED}/audit?type=ReportReviewed", SUPERVISOR)[1]
    assert comment in audit["entries"][-1]["summary"]
    browser.go("/supervisor")
    assert browser.find(f"#unit-{REVIEWED}").get_attribute("data-state") == "returned"


def test_hostile_review_comment_is_text(browser, stack, current):
    """A review comment with markup is stored as typed and shown as text: no script runs, no element appears."""
    fy, rnd = current
    file_report(stack, HOSTILE, fy, rnd, "<b>ผลผลิต</b>")
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> แก้ไข'
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor/units/{HOSTILE}/{fy}/{rnd}/review")
    browser.find("input[value=returned]").click()
    browser.fill("ความเห็นถึงหน่วยงาน", hostile)
    browser.submit("main form button[type=submit]")
    assert browser.no_dialog()
    browser.go(f"/supervisor/units/{HOSTILE}/{fy}/{rnd}/review", shot="supervisor-review-hostile")
    assert browser.no_dialog()
    assert hostile in browser.text() and "<b>ผลผลิต</b>" in browser.text()
    assert not browser.all("main img[src=x]") and not browser.all("main b")
    assert "ส่งกลับให้แก้ไข" in browser.find("dl.facts").text


def test_remind_all_not_reported(browser, stack, current):
    """One click sends one ReminderSent to each unit of the supervisor that has not reported, none to the others."""
    fy, rnd = current
    answer = stack.api("GET", "tracker", f"/supervisors/{SUPERVISOR}/overview", SUPERVISOR)[1]
    targets = [r["unit"] for r in answer["rows"] if r["state"] in NOT_REPORTED]
    others = [r["unit"] for r in answer["rows"] if r["state"] not in NOT_REPORTED]
    assert targets
    reminders = lambda code: [e for e in stack.events(code) if e["type"] == "ReminderSent"]  # noqa: E731
    before = {code: len(reminders(code)) for code in targets + others}
    planless = {r["unit"] for r in answer["rows"] if r["state"] in NOT_REPORTED and not r["has_plan"]}
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go("/supervisor", shot="supervisor-remind")
    mixed = bool(planless) and len(planless) < len(targets)
    message = browser.find("#message").get_attribute("value")
    locked = fiscal.parse_instant(answer["locks_at"]) <= datetime.now(fiscal.BANGKOK)
    if locked:              # the round is closed: no "report soon", but how to ask for an extension
        assert "ปิดรับรายงานแล้ว" in message and "ขยายเวลารายงานเป็นกรณีพิเศษ" in message
        assert "โดยเร็ว" not in message
    elif mixed or not planless:
        assert "ยังไม่ได้รายงานผล" in message and "โดยเร็ว" in message
    typed, typed_no_plan = "ขอให้รายงานผลการดำเนินงานภายในสัปดาห์นี้", "ขอให้บันทึกแผนปฏิบัติการก่อนรายงานผล"
    browser.type("#message", typed)
    if mixed:               # the units with no plan for the year get their own message (declare the plan first)
        assert "ยังไม่ได้บันทึกแผน" in browser.find("#message_no_plan").get_attribute("value")
        browser.type("#message_no_plan", typed_no_plan)
    browser.submit("form.remind-all button[type=submit]", shot="supervisor-reminded")
    assert f"{len(targets)} แห่ง" in browser.find(".notice").text
    for code in targets:
        sent = reminders(code)
        assert len(sent) == before[code] + 1, code
        expected = typed_no_plan if mixed and code in planless else typed
        assert sent[-1]["payload"] == {"fiscal_year": fy, "round": rnd, "channel": "in_app",
                                       "message": expected, "rule": None}
        assert sent[-1]["actor"]["username"] == SUPERVISOR
    for code in others:
        assert len(reminders(code)) == before[code], code


def test_grant_exception(browser, stack, current):
    """The supervisor reopens the round for one unit until a time, with a reason; a missing reason is refused in
    Thai next to the field with the time kept; the event is recorded with both."""
    fy, rnd = current
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor/units/{LATECOMER}/{fy}/{rnd}/exception", shot="supervisor-exception")
    text = browser.text()
    assert "ขยายเวลารายงานเป็นกรณีพิเศษ" in browser.find("h1").text and "ค.ศ." not in text
    assert not browser.all("input[type=datetime-local]")        # day, Thai month, BE year, 24-hour time
    assert browser.find("#until-month option[value='4']").text == "เมษายน"
    until = (datetime.now(fiscal.BANGKOK) + timedelta(days=20)).replace(hour=16, minute=30, second=0, microsecond=0)
    set_date(browser, "until", until)
    browser.submit("main form button[type=submit]", shot="supervisor-exception-refused")
    assert "กรุณากรอกช่องนี้" in browser.find(".field.has-error").text
    assert date_shown(browser, "until") == parts(until)
    browser.type("#until-year", str(until.year))            # a Common Era year is refused in Thai, kept as typed
    browser.fill("เหตุผลในการขยายเวลารายงานเป็นกรณีพิเศษ", "ระบบเครือข่ายของสำนักงานเขตขัดข้อง")
    browser.submit("main form button[type=submit]")
    assert "ปีเป็นพุทธศักราช" in browser.find(".date-field.has-error").text
    assert browser.find("#until-year").get_attribute("value") == str(until.year)
    browser.type("#until-year", str(until.year + 543))
    browser.submit("main form button[type=submit]", shot="supervisor-exception-granted")
    assert "รายงานผลได้ถึง" in browser.find(".notice").text
    granted = [e for e in stack.events(LATECOMER) if e["type"] == "ReportingExceptionGranted"]
    assert granted and granted[-1]["payload"]["reason"] == "ระบบเครือข่ายของสำนักงานเขตขัดข้อง"
    assert fiscal.parse_instant(granted[-1]["payload"]["until"]) == until
    assert (granted[-1]["payload"]["fiscal_year"], granted[-1]["payload"]["round"]) == (fy, rnd)


def test_nacc_opens_one_units_exception_page(browser, stack, current):
    """NACC reaches a unit's exception page from the national compliance (read as the one row after the code
    before it): the unit's name and state as the API gives them; a code no unit has is refused, not another
    unit's page."""
    fy, rnd = current
    browser.sign_in(NACC, stack.activate(NACC))
    browser.go(f"/supervisor/units/{LATECOMER}/{fy}/{rnd}/exception", shot="nacc-exception")
    row = next(r for r in stack.api("GET", "tracker", f"/rounds/{fy}/{rnd}/compliance", NACC)[1]["rows"]
               if r["unit"] == LATECOMER)
    assert row["name_th"] in browser.find("h1").text and browser.find("main form")
    gap = f"{int(LATECOMER) + 1:07d}"                   # no unit has this code: the next row is another unit's
    assert gap not in {r["unit"] for r in stack.api("GET", "tracker", f"/rounds/{fy}/{rnd}/compliance", NACC)[1]["rows"]}
    browser.go(f"/supervisor/units/{gap}/{fy}/{rnd}/exception")
    assert not browser.all("main form") and row["name_th"] not in browser.text()


def test_exports_download(browser, stack, current):
    """The overview's CSV and XLSX links download the supervisor's units with name and province columns."""
    fy, rnd = current
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor?fiscal_year={fy}&round={rnd}")
    links = {a.text: a.get_attribute("href") for a in browser.all(".exports a")}
    http = cookies_session(browser)
    answer = http.get(links["ดาวน์โหลด CSV"], timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["รหัสหน่วยงาน (unit)", "ชื่อหน่วยงาน (name_th)", "จังหวัด (province)"]
    assert sorted(r[0] for r in rows[1:]) == sorted(SUP02_UNITS)
    assert all(r[2] == "กรุงเทพมหานคร" and r[1] for r in rows[1:])
    answer = http.get(links["ดาวน์โหลด Excel (XLSX)"], timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    values = list(load_workbook(io.BytesIO(answer.content)).active.values)
    assert len(values) == len(SUP02_UNITS) + 1 and values[0][1] == "ชื่อหน่วยงาน (name_th)"
    assert http.get(f"{stack.web}/nacc/export/{fy}/{rnd}.csv", timeout=30, allow_redirects=False).status_code == 403


def test_nacc_compliance_and_charts(browser, stack, current):
    """NACC's page shows the API's expected and submitted counts, four SVG charts (rendered, no script) with
    tables, filters by kind, and its reporting rate moves when another unit submits."""
    fy, rnd = current
    browser.sign_in(NACC, stack.activate(NACC))
    path = f"/nacc?fiscal_year={fy}&round={rnd}"
    browser.go(path, shot="nacc-compliance")
    answer = stack.api("GET", "tracker", f"/rounds/{fy}/{rnd}/compliance", NACC)[1]
    cards = browser.find(".cards.rates").text
    assert str(answer["expected"]) in cards
    assert browser.find("#submitted-count").text == str(answer["submitted"])
    assert len(row_codes(browser)) == min(answer["expected"], 100)
    images = browser.all("figure.chart img")
    assert len(images) == 4
    for image in images:
        src = image.get_attribute("src")
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode()
        assert "<script" not in svg and "<svg" in svg
        assert browser.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
        assert image.get_attribute("alt")
    assert "กรุงเทพมหานคร" in browser.find(".charts").text            # the table beside the province chart
    browser.go(f"{path}&kind=district_office", shot="nacc-compliance-district")
    district = [r for r in answer["rows"] if r["kind"] == "district_office"]
    assert len(row_codes(browser)) == min(len(district), 100) > 0
    # the kind narrows the cards and the charts too (expected: the district offices; submitted among them)
    assert browser.find(".cards.rates .card .figure").text == str(len(district))
    assert browser.find("#submitted-count").text == str(sum(r["state"] in REPORTED for r in district))
    assert "สำนักงานเขต" in browser.find("#figures-scope").text
    state = next(s for s in REPORTED + NOT_REPORTED if answer["counts"][s])
    browser.go(f"{path}&state={state}")                # the state filter: the table only, and the page says so
    assert browser.find(".cards.rates .card .figure").text == str(answer["expected"])
    assert "ใช้กับตารางรายชื่อหน่วยงานเท่านั้น" in browser.find("#figures-scope").text
    assert len(row_codes(browser)) == min(answer["counts"][state], 100)
    browser.go(path)
    before_count, before_rate = int(browser.find("#submitted-count").text), browser.find("#reporting-rate").text
    file_report(stack, LATECOMER, fy, rnd, "ดำเนินการแล้ว")
    browser.go(path, shot="nacc-compliance-after")
    assert int(browser.find("#submitted-count").text) == before_count + 1
    assert browser.find("#reporting-rate").text != before_rate
    assert browser.find(f"#unit-{LATECOMER}").get_attribute("data-state") in REPORTED
    link = browser.find(f"#unit-{LATECOMER} a").get_attribute("href")
    assert link.endswith(f"/units/{LATECOMER}")


def test_reminder_for_a_closed_round_and_for_no_plan(browser, stack, current):
    """For a locked round the default reminder says the round is closed and how to ask for an extension (no
    "report soon", no due date); a unit with no plan for the year is asked to declare it first."""
    fy = current[0] - 1
    answer = stack.api("GET", "tracker", f"/supervisors/{SUPERVISOR}/overview?fiscal_year={fy}&round=6",
                       SUPERVISOR)[1]
    row = next(r for r in answer["rows"] if r["state"] == "locked")
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor/units/{row['unit']}/{fy}/6/remind", shot="supervisor-remind-locked")
    message = browser.find("#message").get_attribute("value")
    assert "ปิดรับรายงานแล้ว" in message and "ขอขยายเวลารายงานเป็นกรณีพิเศษ" in message, message
    assert "โดยเร็ว" not in message and "กำหนดส่งคือ" not in message
    if not row["has_plan"]:
        assert "บันทึกแผนปฏิบัติการ" in message
    browser.go(f"/supervisor?fiscal_year={fy}&round=6")
    assert "ปิดรับรายงานแล้ว" in browser.find("#message").get_attribute("value")
    now = stack.api("GET", "tracker", f"/supervisors/{SUPERVISOR}/overview", SUPERVISOR)[1]
    planless = [r for r in now["rows"] if r["state"] in ("open", "overdue") and not r["has_plan"]]
    if planless:
        browser.go(f"/supervisor/units/{planless[0]['unit']}/{current[0]}/{current[1]}/remind")
        message = browser.find("#message").get_attribute("value")
        assert "ยังไม่ได้บันทึกแผนปฏิบัติการ" in message and "ปิดรับรายงานแล้ว" not in message


def test_nacc_sets_window(browser, stack, current):
    """NACC sets a round's window: out-of-order dates are refused in Thai with what was typed kept; then the
    window is recorded and the compliance answer carries the new due date."""
    fy = current[0] - 4
    browser.sign_in(NACC, stack.activate(NACC))
    browser.go("/nacc/windows")                         # opens on the current round, not the oldest year
    moment = datetime.now(fiscal.BANGKOK)
    year = fiscal.fiscal_year_of(moment)
    latest = next(c for c in ((year, 12), (year, 6), (year - 1, 12), (year - 1, 6))
                  if fiscal.default_opens(*c) <= moment)
    assert (browser.find("#fiscal_year").get_attribute("value"), browser.find("#round").get_attribute("value")) \
        == tuple(map(str, latest))
    browser.go(f"/nacc/windows?fiscal_year={fy}&round=6", shot="nacc-windows")
    default = fiscal.default_window(fy, 6, 15)
    due = (default.due_at + timedelta(days=7)).replace(hour=16, minute=30, second=0, microsecond=0)
    locks = due - timedelta(days=1)
    assert not browser.all("input[type=datetime-local]") and "ค.ศ." not in browser.text()
    assert date_shown(browser, "opens_at")[:3] == ("1", "4", str(fy))      # 1 April of the fiscal year, in BE
    set_date(browser, "due_at", due)
    set_date(browser, "locks_at", locks)
    browser.submit("main form[method=post] button[type=submit]", shot="nacc-windows-refused")
    assert "วันปิดรับรายงานต้องไม่ก่อนวันกำหนดส่ง" in browser.find(".field.has-error").text
    assert date_shown(browser, "due_at") == parts(due)
    locks = due + timedelta(days=14)
    set_date(browser, "locks_at", locks)
    browser.submit("main form[method=post] button[type=submit]", shot="nacc-windows-set")
    assert "เรียบร้อยแล้ว" in browser.find(".notice").text
    # the page read the window again until it showed the write (or says that the data is being updated)
    if not browser.all(".updating"):
        facts = browser.find(".round-facts").text
        for instant in (due, locks):
            assert f"{instant.day} " in facts and f"{instant.year + 543} 16:30" in facts, facts
    assert date_shown(browser, "due_at") == parts(due) and date_shown(browser, "locks_at") == parts(locks)
    deadline = time.monotonic() + 30
    while True:
        answer = stack.api("GET", "tracker", f"/rounds/{fy}/6/compliance", NACC)[1]
        if fiscal.parse_instant(answer["due_at"]) == due or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert fiscal.parse_instant(answer["due_at"]) == due and fiscal.parse_instant(answer["locks_at"]) == locks


@pytest.mark.parametrize("username, path, name", [
    (SUPERVISOR, "/supervisor", "supervisor-375"), (NACC, "/nacc", "nacc-375")])
def test_narrow_screen(browser, stack, username, path, name):
    """At 375 px the overview and the compliance page fit: the body never scrolls sideways."""
    browser.sign_in(username, stack.activate(username))
    browser.width(375)
    browser.go(path, shot=name)
    overflow = browser.driver.execute_script(
        "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(overflow[:2]) <= overflow[2], overflow
    for image in browser.all("figure.chart img"):
        assert image.size["width"] <= 375


ENTRY_REVIEWED = SUP02_UNITS[-4]


def test_return_names_an_entry_and_the_unit_answers_it(browser, stack, current):
    """The supervisor returns the report with a comment on its entry only; the unit sees it beside that entry in
    its form, answers it and sends the correction; the audit trail carries the comment and the answer."""
    fy, rnd = current
    file_report(stack, ENTRY_REVIEWED, fy, rnd, "อบรมแล้ว 1 รุ่น")
    browser.sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor/units/{ENTRY_REVIEWED}/{fy}/{rnd}/review")
    item_id = next(e["payload"]["item_id"] for e in stack.events(ENTRY_REVIEWED) if e["type"] == "ItemAdded")
    browser.find("input[value=returned]").click()
    browser.type(f"#entry-comment-{item_id}", "ระบุจำนวนผู้เข้าอบรมให้ชัดเจน")
    browser.submit("main form#review-form button[type=submit]", shot="supervisor-review-entry")
    assert round_of(stack, ENTRY_REVIEWED, fy, rnd)["state"] == "returned"
    review = stack.events(ENTRY_REVIEWED)[-1]
    assert review["type"] == "ReportReviewed" and review["payload"]["entries"] == [
        {"item_id": item_id, "comment": "ระบุจำนวนผู้เข้าอบรมให้ชัดเจน"}]
    browser.sign_out().sign_in(ENTRY_REVIEWED, stack.activate(ENTRY_REVIEWED))
    browser.go(f"/units/{ENTRY_REVIEWED}/reports/{fy}/{rnd}", shot="unit-report-entry-comment")
    assert "ระบุจำนวนผู้เข้าอบรมให้ชัดเจน" in browser.find("#entry-0 .entry-review").text
    browser.type("#entries-0-outputs", "อบรมแล้ว 1 รุ่น 45 คน")
    browser.type("#entries-0-response", "เพิ่มจำนวนผู้เข้าอบรมแล้ว")
    browser.submit("form.report-form button[type=submit]")
    corrected = stack.events(ENTRY_REVIEWED)[-1]
    assert corrected["type"] == "ReportAmended"
    assert corrected["payload"]["entries"][0]["response"] == "เพิ่มจำนวนผู้เข้าอบรมแล้ว"
    stack.projected(ENTRY_REVIEWED)
    audit = stack.api("GET", "tracker", f"/units/{ENTRY_REVIEWED}/audit", ENTRY_REVIEWED)[1]["entries"]
    fields = {c["field"]: c["new"] for e in audit for c in e["changes"]}
    assert fields[f"entries.{item_id}.review_comment"] == "ระบุจำนวนผู้เข้าอบรมให้ชัดเจน"
    assert fields[f"entries.{item_id}.response"] == "เพิ่มจำนวนผู้เข้าอบรมแล้ว"


CHASED = SUP02_UNITS[-5]


def test_the_unit_sees_its_reminders_on_its_home(browser, stack, current):
    """A reminder for a round the unit still has to report on shows as a banner on its home, with the message and
    a link to the form, and in its list of reminders; once it has reported the banner goes."""
    fy, rnd = current
    status, body, _ = stack.api("PUT", "submission", f"/units/{CHASED}/plan", CHASED, {
        "title": "แผนฉบับร่างของหน่วยงาน", "first_fiscal_year": fy - 1, "last_fiscal_year": fy + 3})
    assert status == 201, body
    line = round_of(stack, CHASED, fy, rnd)
    if line["state"] == "locked":
        until = (datetime.now(timezone.utc) + timedelta(days=5)).replace(microsecond=0).isoformat()
        assert stack.api("POST", "submission", f"/units/{CHASED}/reports/{fy}/{rnd}/exceptions", SUPERVISOR,
                         {"until": until, "reason": "ขยายเวลาให้รายงาน"})[0] == 201
    message = "กรุณาส่งรายงานผลภายในสัปดาห์นี้"
    assert stack.api("POST", "submission", f"/units/{CHASED}/reminders", SUPERVISOR,
                     {"fiscal_year": fy, "round": rnd, "message": message})[0] == 201
    stack.projected(CHASED)
    browser.sign_in(CHASED, stack.activate(CHASED))
    browser.go(f"/units/{CHASED}", shot="unit-home-reminder")
    banner = browser.find(".reminder-banner")
    assert message in banner.text and "แจ้งเตือนการรายงานผล" in banner.text
    assert banner.find_element("link text", "เปิดแบบรายงานผล").get_attribute("href").endswith(
        f"/units/{CHASED}/reports/{fy}/{rnd}")
    assert message in browser.find("ul.reminder-list").text and SUPERVISOR in browser.find("ul.reminder-list").text
    # unread until the unit marks it read, per account: the list shows it new, the mark is kept by the API
    newest = browser.find("ul.reminder-list li")
    assert "ใหม่" in newest.text and "unread" in newest.get_attribute("class")
    old = browser.find("html")
    browser.find("#notifications-link").click()
    browser.wait_gone(old)
    browser.shot("unit-notifications")
    version = max(r["version"] for r in stack.api("GET", "tracker", f"/units/{CHASED}/state", CHASED)[1]["state"]["reminders"])
    item = browser.find(f"#n-{version}")
    assert message in item.text and "ใหม่" in item.text
    old = browser.find("html")
    item.find_element("css selector", "button").click()
    browser.wait_gone(old)
    assert "ทำเครื่องหมายว่าอ่านแล้ว 1 รายการ" in browser.find(".notice").text
    assert "read" == browser.find(f"#n-{version}").get_attribute("class") and "ใหม่" not in browser.find(f"#n-{version}").text
    assert f"{CHASED}:{version}" in stack.api("GET", "submission", "/auth/me/read", CHASED)[1]["read"]
    assert f"{CHASED}:{version}" not in stack.api("GET", "submission", "/auth/me/read", SUPERVISOR)[1]["read"]
    if browser.all("form.mark-all button"):
        browser.press("ทำเครื่องหมายว่าอ่านแล้วทั้งหมด")
    assert not browser.all(".notification-list li.unread")
    browser.go(f"/units/{CHASED}")
    assert "unread" not in (browser.find("ul.reminder-list li").get_attribute("class") or "")
    file_report(stack, CHASED, fy, rnd, "ส่งรายงานแล้ว")
    browser.go(f"/units/{CHASED}")
    assert browser.all(".reminder-banner") == [] and message in browser.find("ul.reminder-list").text


TOP = "demo-sup-bma"                              # the demo tree: demo-sup-bma over demo-sup-01..03


def test_the_supervision_tree_rolls_up_and_drills_down(browser, stack, current):
    """The supervisor over the three demo supervisors sees one line per supervisor with its subtree's figures
    (as the API gives them, adding up to its own), opens one and sees that supervisor's units under a trail back
    to its own level; a supervisor under it cannot open the level above; NACC's page lists the top of the tree."""
    fy, rnd = current
    browser.sign_in(TOP, stack.activate(TOP))
    browser.go(f"/supervisor?fiscal_year={fy}&round={rnd}", shot="supervisor-tree")
    top = stack.api("GET", "tracker", f"/supervisors/{TOP}/overview?fiscal_year={fy}&round={rnd}", TOP)[1]
    assert [c["supervisor"] for c in top["children"]] == ["demo-sup-01", "demo-sup-02", "demo-sup-03"]
    assert top["expected"] == 77 == sum(c["expected"] for c in top["children"])
    assert top["submitted"] == sum(c["submitted"] for c in top["children"])
    line = browser.find(f"#sup-{SUPERVISOR}")
    child = next(c for c in top["children"] if c["supervisor"] == SUPERVISOR)
    assert child["name"] in line.text and str(child["expected"]) in line.text and str(child["submitted"]) in line.text
    assert "หน่วยกำกับดูแลในระดับถัดลงไป" in browser.text()
    old = browser.find("html")
    line.find_element("css selector", "a").click()
    browser.wait_gone(old)
    browser.shot("supervisor-tree-child")
    assert f"of={SUPERVISOR}" in browser.path and child["name"] in browser.find("h1").text
    assert [a.text for a in browser.all("nav.levels a")] == [TOP]
    assert sorted(row_codes(browser)) == sorted(SUP02_UNITS)
    browser.width(375)
    browser.go(f"/supervisor?fiscal_year={fy}&round={rnd}", shot="supervisor-tree-375")
    overflow = browser.driver.execute_script(
        "return [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]")
    assert max(overflow[:2]) <= overflow[2], overflow
    browser.width(1280)
    browser.sign_out().sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor?of={TOP}")
    assert "demo-sup-01" not in browser.text() and not browser.all("#tree")
    assert stack.api("GET", "tracker", f"/supervisors/{TOP}/overview", SUPERVISOR)[0] == 403
    browser.sign_out().sign_in(NACC, stack.activate(NACC))
    browser.go(f"/nacc?fiscal_year={fy}&round={rnd}")
    assert TOP in browser.find("#sup-" + TOP).text
    old = browser.find("html")
    browser.find(f"#sup-{TOP} a").click()
    browser.wait_gone(old)
    assert [c.get_attribute("id") for c in browser.all("table.tree tbody tr[id]")] == [
        "sup-demo-sup-01", "sup-demo-sup-02", "sup-demo-sup-03"]
    assert not browser.all("#queue") and not browser.all("form.remind-all")      # NACC reads here, reviews nothing
