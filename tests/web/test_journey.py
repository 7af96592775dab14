"""The whole journey of one report through the real stack in Chromium, as the people who do it see it: a district
clerk activates, builds a plan, reports and amends; the supervisor returns the report with a comment; the clerk
corrects it; NACC sees the national reporting rate move; an auditor verifies the unit's chain. Every page visited
is kept as a screenshot (the README shows some of them)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from selenium.webdriver.common.action_chains import ActionChains

from conftest import PASSWORD
from shared.fiscal import BANGKOK

CLERK = "3104300"                 # สำนักงานเขตบางรัก, overseen by demo-sup-01
SUPERVISOR, NACC, AUDITOR = "demo-sup-01", "demo-nacc", "demo-auditor"
FY, ROUND = 2569, 6
YEARS = range(2569, 2571)                 # the plan's fiscal years
REPORTS = ("ReportSubmitted", "ReportAmended")






def events(stack, types=REPORTS):
    return [e for e in stack.events(CLERK) if e["type"] in types]


def national_rate(browser, stack) -> tuple[int, str]:
    """Units submitted and the reporting rate NACC's compliance page shows for the round (tracker caught up)."""
    stack.projected(CLERK)
    browser.go(f"/nacc?fiscal_year={FY}&round={ROUND}")
    return int(browser.find("#submitted-count").text), browser.find("#reporting-rate").text



def test_one_report_from_activation_to_verification(browser, stack):
    """Activation, plan, report (double-clicked: one event), amendment, return with comment, correction, national
    rate, verification: each step through the pages, each checked against the log."""
    # NACC's figure before the clerk reports
    browser.sign_in(NACC, stack.activate(NACC))
    before = national_rate(browser, stack)
    browser.shot("journey-00-nacc-before")
    browser.sign_out()

    # 1. the clerk activates with the operator's code and lands on the unit's home
    browser.go(f"/activate?username={CLERK}", shot="journey-01-activate")
    browser.fill("รหัสเปิดใช้งาน", stack.codes[CLERK]).fill("รหัสผ่านใหม่", PASSWORD)
    browser.fill("รหัสผ่านใหม่อีกครั้ง", PASSWORD)
    browser.submit(shot="journey-02-home-no-plan")
    stack.passwords[CLERK] = PASSWORD
    assert browser.path == f"/units/{CLERK}" and "เปิดใช้งานบัญชีเรียบร้อยแล้ว" in browser.text()

    # 2. a plan of three items in two dimensions with budgets for two years
    browser.type("#title", "แผนปฏิบัติการป้องกันการทุจริต สำนักงานเขตบางรัก พ.ศ. 2569-2570")
    browser.type("#first_fiscal_year", "2569").type("#last_fiscal_year", "2570")
    browser.submit(shot="journey-03-plan-declared")
    for name, dimension, sub_dimension, budgets in (
            ("โครงการอบรมคุณธรรมจริยธรรมบุคลากร", 1, "1.1", {"2569": "50,000", "2570": "55,000"}),
            ("กิจกรรมส่งเสริมเด็กและเยาวชนต้านทุจริต", 1, "1.3", {"2569": "12,500.50", "2570": "15,000"}),
            ("มาตรการเผยแพร่ข้อมูลการจัดซื้อจัดจ้าง", 2, "2.2", {"2569": "0", "2570": "0"})):
        browser.add_item(CLERK, name, dimension, sub_dimension, budgets, YEARS,
                         shot=f"journey-04-item-{sub_dimension}")
    browser.go(f"/units/{CLERK}/plan", shot="journey-05-plan")
    plan_text = browser.text()
    assert "62,500.50" in plan_text and "70,000.00" in plan_text                 # each year's total
    added = [e for e in stack.events(CLERK) if e["type"] == "ItemAdded"]
    assert [e["payload"]["budgets"] for e in added] == [
        {"2569": "50000.00", "2570": "55000.00"}, {"2569": "12500.50", "2570": "15000.00"},
        {"2569": "0.00", "2570": "0.00"}]
    assert {e["payload"]["dimension"] for e in added} == {1, 2}

    # the 6-month round of FY 2569 is locked by now: the home page says so, the supervisor reopens it
    browser.go(f"/units/{CLERK}", shot="journey-06-home-locked")
    assert "ไม่ได้ส่งรายงาน (ปิดรับแล้ว)" in browser.find(f"#round-{FY}-{ROUND}").text
    browser.sign_out().sign_in(SUPERVISOR, stack.activate(SUPERVISOR))
    browser.go(f"/supervisor/units/{CLERK}/{FY}/{ROUND}/exception", shot="journey-07-exception-form")
    until = datetime.now(BANGKOK) + timedelta(days=14)                 # typed as day, Thai month, BE year, time
    browser.choose("#until-day", str(until.day)).choose("#until-month", str(until.month))
    browser.type("#until-year", str(until.year + 543)).type("#until-time", "23:59")
    browser.fill("เหตุผล", "หน่วยงานเพิ่งได้รับบัญชีผู้ใช้ในระบบใหม่")
    browser.submit(shot="journey-08-exception-granted")
    assert [e["type"] for e in stack.events(CLERK)][-1] == "ReportingExceptionGranted"

    # 3. the clerk reports; the button is double-clicked: one event
    browser.sign_out().sign_in(CLERK)
    browser.go(f"/units/{CLERK}/reports/{FY}/{ROUND}", shot="journey-09-report-form")
    browser.width(375, 800).shot("journey-09-report-form-375", full=False)
    browser.width(1280)
    browser.choose("#entries-0-status", "completed")
    browser.type("#entries-0-budget_planned", "50,000").type("#entries-0-spent", "48,250.75")
    browser.type("#entries-0-outputs", "อบรมบุคลากร 2 รุ่น รวม 120 คน")
    browser.choose("#entries-1-status", "in_progress")
    browser.type("#entries-1-problems", "กิจกรรมบางส่วนต้องเลื่อนเพราะฝนตกหนัก")
    browser.choose("#entries-2-status", "not_feasible")
    browser.choose("#entries-2-reason", "other")
    browser.type("#entries-2-reason_text", "รอประกาศระเบียบใหม่ของกรุงเทพมหานคร")
    page = browser.find("html")
    ActionChains(browser.driver).double_click(browser.find("form[data-draft] button[type=submit]")).perform()
    browser.wait_gone(page)
    browser.shot("journey-10-report-recorded")
    time.sleep(1)                                      # a second request, had one been sent, would have landed
    assert [e["type"] for e in events(stack)] == ["ReportSubmitted"]
    entries = events(stack)[0]["payload"]["entries"]
    assert entries[0]["spent"] == "48250.75" and entries[2]["reason_text"] == "รอประกาศระเบียบใหม่ของกรุงเทพมหานคร"

    # ... and amends it
    browser.go(f"/units/{CLERK}/reports/{FY}/{ROUND}")
    browser.choose("#entries-1-status", "completed")
    browser.submit("form[data-draft] button[type=submit]")
    stack.projected(CLERK)
    browser.go(f"/units/{CLERK}/reports/{FY}/{ROUND}", shot="journey-11-report-amended")
    assert [e["type"] for e in events(stack)] == ["ReportSubmitted", "ReportAmended"]

    # 4. the supervisor sees the unit as submitted and returns the report with a comment
    browser.sign_out().sign_in(SUPERVISOR)
    browser.go(f"/supervisor?fiscal_year={FY}&round={ROUND}", shot="journey-12-supervisor-overview")
    browser.shot("journey-12-supervisor-overview-top", full=False)
    row = browser.find(f"#unit-{CLERK}")
    assert row.get_attribute("data-state") in ("submitted", "submitted_late") and "ส่งรายงาน" in row.text
    browser.go(f"/supervisor/units/{CLERK}/{FY}/{ROUND}/review", shot="journey-13-review")
    assert "48,250.75" in browser.text()
    comment = "กรุณาระบุงบประมาณตามข้อบัญญัติของกิจกรรมเด็กและเยาวชนให้ครบถ้วน"
    browser.find("input[value=returned]").click()
    browser.fill("ความเห็นถึงหน่วยงาน", comment)
    browser.submit(shot="journey-14-returned")
    review = [e for e in stack.events(CLERK) if e["type"] == "ReportReviewed"]
    assert [(e["payload"]["decision"], e["payload"]["comment"]) for e in review] == [("returned", comment)]

    # 5. the clerk sees the comment and amends
    browser.sign_out().sign_in(CLERK)
    stack.projected(CLERK)
    browser.go(f"/units/{CLERK}", shot="journey-15-home-returned")
    card = browser.find(f"#round-{FY}-{ROUND}").text
    assert "ส่งกลับให้แก้ไข" in card and comment in card
    browser.go(f"/units/{CLERK}/reports/{FY}/{ROUND}")
    browser.type("#entries-1-budget_ordinance", "12,500.50")
    browser.submit("form[data-draft] button[type=submit]", shot="journey-16-corrected")
    assert [e["type"] for e in events(stack)] == ["ReportSubmitted", "ReportAmended", "ReportAmended"]

    # 6. NACC sees the national reporting rate move
    browser.sign_out().sign_in(NACC)
    after = national_rate(browser, stack)
    browser.shot("journey-17-nacc-after")
    browser.shot("journey-17-nacc-after-top", full=False)
    assert after[0] > before[0] and after[1] != before[1], (before, after)

    # 7. an auditor finds the unit and verifies its chain
    browser.sign_out().sign_in(AUDITOR, stack.activate(AUDITOR))
    browser.go("/audit?q=บางรัก", shot="journey-18-auditor-find")
    assert CLERK in browser.text()
    browser.go(f"/audit/units/{CLERK}", shot="journey-19-auditor-events")
    browser.go(f"/audit/units/{CLERK}/verify", shot="journey-20-auditor-verified")
    assert "ห่วงโซ่แฮชถูกต้อง" in browser.text()
    assert str(len(stack.events(CLERK))) in browser.text()
