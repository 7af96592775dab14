"""The public pages in a real browser, signed in as nobody: the unit directory, a unit's ITA documents for a year,
earlier versions, the print layout and a phone's width, the signed PDF rendered to PNG, the check of a document
against the log, and the unit's own receipts."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from conftest import ROOT, SHOTS, http

UNIT = "3107000"            # สำนักงานเขตบางซื่อ: no other browser test writes to it
NAME = "สำนักงานเขตบางซื่อ"
FY = 2569
ITEM = "โครงการส่งเสริมคุณธรรมผู้นำชุมชน น้ำใจใสสะอาด"
MEASURE = "มาตรการป้องกันผลประโยชน์ทับซ้อนในการจัดซื้อจัดจ้าง"
SECRET = "เหตุผลที่ไม่เผยแพร่ของกรณียกเว้น"


@pytest.fixture(scope="module")
def published(stack):
    """A plan, both rounds reported (the 6-month one corrected once) under NACC's exceptions, fully projected."""
    def ok(answer):
        status, body, _ = answer
        assert status in (200, 201), body
        return body

    ok(stack.api("PUT", "submission", f"/units/{UNIT}/plan", UNIT, {
        "title": "แผนปฏิบัติการป้องกันการทุจริต เขตบางซื่อ", "first_fiscal_year": 2566, "last_fiscal_year": 2570}))
    item = ok(stack.api("POST", "submission", f"/units/{UNIT}/plan/items", UNIT, {
        "name": ITEM, "kind": "project", "dimension": 1, "sub_dimension": "1.1", "fiscal_years": [2569, 2570],
        "budgets": {"2569": "45000", "2570": "50000"}, "responsible": "ฝ่ายปกครอง",
        "indicators": "ร้อยละของผู้เข้าร่วมที่ผ่านการประเมิน", "targets": "ผู้นำชุมชน 120 คน"}))["item_id"]
    measure = ok(stack.api("POST", "submission", f"/units/{UNIT}/plan/items", UNIT, {
        "name": MEASURE, "kind": "measure", "dimension": 2, "sub_dimension": "2.2", "fiscal_years": [2569],
        "budgets": {"2569": "0"}, "responsible": "ฝ่ายการคลัง"}))["item_id"]
    until = (datetime.now(timezone.utc) + timedelta(days=10)).astimezone(timezone(timedelta(hours=7)))
    for round_ in (6, 12):
        ok(stack.api("POST", "submission", f"/units/{UNIT}/reports/{FY}/{round_}/exceptions", "demo-nacc", {
            "until": until.replace(microsecond=0).isoformat(), "reason": SECRET}))
    first = ok(stack.api("PUT", "submission", f"/units/{UNIT}/reports/{FY}/6", UNIT, {"entries": [
        {"item_id": item, "status": "in_progress", "spent": "10000", "outputs": "อบรมแล้ว 1 รุ่น"},
        {"item_id": measure, "status": "not_started"}]}))
    amended = ok(stack.api("PUT", "submission", f"/units/{UNIT}/reports/{FY}/6", UNIT, {"entries": [
        {"item_id": item, "status": "in_progress", "budget_planned": "45000", "spent": "22500.50",
         "outputs": "อบรมแล้ว 2 รุ่น 120 คน", "problems": "ผู้เข้าร่วมติดภารกิจ", "suggestions": "จัดวันหยุด"},
        {"item_id": measure, "status": "completed", "outputs": "ประกาศแนวปฏิบัติแล้ว"}], "note": "แก้ไขตัวเลข"}))
    annual = ok(stack.api("PUT", "submission", f"/units/{UNIT}/reports/{FY}/12", UNIT, {"entries": [
        {"item_id": item, "status": "completed", "spent": "44000", "outcomes": "ผู้นำชุมชนตระหนักรู้"},
        {"item_id": measure, "status": "completed"}]}))
    stack.projected(UNIT)
    status, doc, _ = http("GET", f"{stack.tracker}/api/v1/public/units/{UNIT}/disclosure/{FY}")
    assert status == 200, doc
    return {"first": first, "amended": amended, "annual": annual, "doc": doc, "item": item, "measure": measure}


def test_directory_search_leads_to_the_units_documents(browser, published):
    """Anyone searches the directory by Thai name, opens the unit and reads the plan and both reports of the year,
    each naming the version and hash it stands at; nothing private shows."""
    browser.go("/public", shot="public-directory")
    assert "แผนและรายงานการป้องกันการทุจริตของหน่วยงานภาครัฐ" in browser.text()
    browser.fill("รหัสหรือชื่อหน่วยงาน", "บางซื่อ").press("ค้นหา", shot="public-directory-found")
    rows = browser.all("table.units-found tbody tr")
    assert len(rows) == 1 and UNIT in rows[0].text and NAME in rows[0].text
    browser.go(f"/public/units/{UNIT}/{FY}", shot="public-disclosure")
    text = browser.text()
    assert NAME in text and "แผนปฏิบัติการป้องกันการทุจริต ประจำปีงบประมาณ พ.ศ. 2569" in text
    names = [cell.text for cell in browser.all("table.plan-items td.name")]
    assert names == [ITEM, MEASURE]
    doc = published["doc"]
    hashes = [code.get_attribute("title") for code in browser.all(".provenance .hash code")]
    assert hashes == [doc["plan"]["hash"], doc["reports"]["6"]["hash"], doc["reports"]["12"]["hash"]]
    assert doc["reports"]["6"]["hash"] == published["amended"]["receipt"]["hash"]
    report = browser.find("#report-6").text
    assert "22,500.50" in report and "อบรมแล้ว 2 รุ่น 120 คน" in report and "แก้ไขแล้ว 1 ครั้ง" in report
    assert "ผลลัพธ์" in browser.find("#report-12").text and "ผู้นำชุมชนตระหนักรู้" in browser.find("#report-12").text
    for private in (SECRET, "demo-nacc", "sup"):
        assert private not in text
    assert browser.no_dialog()


def test_earlier_version_shows_the_documents_as_they_stood(browser, published):
    """The versions list links each published version; the one before the correction shows the first figures
    and says it is not the latest."""
    browser.go(f"/public/units/{UNIT}/{FY}")
    versions = [a.text for a in browser.all("#versions tbody td:first-child a")]
    assert str(published["first"]["version"]) in versions and str(published["amended"]["version"]) in versions
    browser.go(f"/public/units/{UNIT}/{FY}?version={published['first']['version']}", shot="public-earlier-version")
    assert "ท่านกำลังดูฉบับวันที่" in browser.find(".notice").text
    report = browser.find("#report-6").text
    assert "อบรมแล้ว 1 รุ่น" in report and "22,500.50" not in report
    assert "ยังไม่ได้ส่งรายงานผลประจำปี" in browser.find("#report-12").text


def test_phone_width_and_print_layout(browser, published):
    """At 375 px the documents fit the screen (tables become cards); printed, the page drops its navigation."""
    browser.width(375, 800).go(f"/public/units/{UNIT}/{FY}", shot="public-disclosure-375")
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375, width
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        browser.width(1000, 1400).go(f"/public/units/{UNIT}/{FY}", shot="public-disclosure-print")
        assert not browser.find("header.top").is_displayed()
        assert not browser.find("#versions").is_displayed() and browser.find("#plan").is_displayed()
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_pdf_through_the_web_app_is_signed_thai_and_cached(stack, published):
    """The PDF link answers the tracker's signed PDF with its ETag (304 when asked again); its text holds the
    Thai item names; its first page is rendered to PNG to be looked at."""
    url = f"{stack.web}/public/units/{UNIT}/{FY}/report-6.pdf"
    status, pdf, headers = http("GET", url)
    assert status == 200 and pdf[:5] == b"%PDF-" and headers["ETag"]
    again, body, _ = http("GET", url, headers={"If-None-Match": headers["ETag"]})
    assert again == 304 and not body
    text = "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    for name in (ITEM, MEASURE, "ผู้เข้าร่วมติดภารกิจ"):
        assert "".join(name.split()) in text
    assert published["amended"]["receipt"]["hash"] in text
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "public-report-6-web.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", str(SHOTS / "public-report-6-web.pdf"),
                    str(SHOTS / "public-report-6-web")], check=True)
    assert (SHOTS / "public-report-6-web-1.png").stat().st_size > 10_000
    page = f"{stack.web}/public/units/{UNIT}/{FY}"
    status, _, headers = http("GET", page)
    assert status == 200 and headers["ETag"]
    assert http("GET", page, headers={"If-None-Match": headers["ETag"]})[0] == 304
    csv_status, csv_body, _ = http("GET", f"{stack.web}/public/units/{UNIT}/{FY}/plan.csv")
    assert csv_status == 200 and ITEM in csv_body.decode("utf-8-sig")


def test_verification_page_says_genuine_or_not(browser, published):
    """The document's check link (what its QR code opens) says the hash is the unit's event; a changed hash is
    not confirmed."""
    browser.go(f"/public/units/{UNIT}/{FY}")
    link = browser.all("#report-6 .provenance a")[-1].get_attribute("href")
    browser.go(link, shot="public-verify-ok")
    assert "ถูกต้อง" in browser.find(".verdict.ok").text and "แก้ไขรายงานผล" in browser.text()
    receipt = published["amended"]["receipt"]
    forged = receipt["hash"][:-1] + ("0" if receipt["hash"][-1] != "0" else "1")
    browser.go(f"/public/verify/{UNIT}/{receipt['version']}/{forged}", shot="public-verify-bad")
    assert "ตรวจสอบไม่ผ่าน" in browser.find(".verdict.bad").text
    browser.go("/public/units/9999999/2569", shot="public-unknown-unit")
    assert "ไม่พบหน่วยงาน" in browser.text()


def test_unit_downloads_its_receipts_and_they_verify_offline(browser, stack, published, tmp_path):
    """The unit's history offers each report's receipt; the JSON is the one its write got and verifies offline
    with the published keys; the PDF is one signed page, rendered to PNG to be looked at."""
    browser.sign_in(UNIT)
    browser.go(f"/units/{UNIT}/history", shot="unit-history-receipts")
    links = browser.all(".receipt-links a")
    assert len(links) == 6                  # three reports, a PDF and a JSON each
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in browser.driver.get_cookies())
    receipt = published["amended"]["receipt"]

    def fetch(path):
        request = urllib.request.Request(stack.web + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read(), answer.headers

    body, headers = fetch(f"/units/{UNIT}/receipts/{receipt['version']}.json")
    assert json.loads(body) == receipt and "attachment" in headers["Content-Disposition"]
    (tmp_path / "receipt.json").write_bytes(body)
    keys, _ = fetch("/public/keys")
    (tmp_path / "keys.json").write_bytes(keys)
    run = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "receipt.json"), "--key",
                          str(tmp_path / "keys.json")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "receipt ok" in run.stdout, run.stdout + run.stderr
    pdf, _ = fetch(f"/units/{UNIT}/receipts/{receipt['version']}.pdf")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    (SHOTS / "receipt-web.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-singlefile", str(SHOTS / "receipt-web.pdf"),
                    str(SHOTS / "receipt-web")], check=True)
    assert (SHOTS / "receipt-web.png").stat().st_size > 10_000


def test_unit_attaches_evidence_and_the_public_sees_only_what_it_published(browser, stack, published, tmp_path):
    """On its item's page the unit attaches a public PDF and a private picture; a text file named .pdf is refused
    beside the field and nothing is attached; the public page lists the public file only, and it downloads whole."""
    from tests.api.test_evidence import a_pdf, a_png
    pdf, png = tmp_path / "ภาพรวมการอบรม.pdf", tmp_path / "ภาพภายใน.png"
    pdf.write_bytes(a_pdf("training"))
    png.write_bytes(a_png())
    fake = tmp_path / "ไม่ใช่พีดีเอฟ.pdf"
    fake.write_text("only text, not a PDF", "utf-8")
    browser.sign_in(UNIT)
    item_page = f"/units/{UNIT}/plan/items/{published['item']}"
    before = len(stack.events(UNIT))
    browser.go(item_page).find("#evidence-file").send_keys(str(fake))
    browser.submit("#evidence-form button[type=submit]", shot="evidence-refused")
    assert "แนบได้เฉพาะไฟล์ PDF" in browser.find("#evidence-form .field-error").text
    assert len(stack.events(UNIT)) == before
    browser.find("#evidence-file").send_keys(str(pdf))
    browser.type("#evidence-description", "ภาพถ่ายการอบรมรุ่นที่ 1")
    browser.tick("#evidence-public")
    browser.submit("#evidence-form button[type=submit]")
    assert "แนบไฟล์ “ภาพรวมการอบรม.pdf” แล้ว" in browser.find(".notice").text
    browser.find("#evidence-file").send_keys(str(png))
    browser.choose("#evidence-attach_to", f"{FY}-6")
    browser.submit("#evidence-form button[type=submit]", shot="evidence-attached")
    rows = browser.all("table.evidence-files tbody tr")
    assert len(rows) == 2 and "ไม่เผยแพร่" in rows[0].text and "รายงานผลรอบ 6 เดือน" in rows[0].text
    assert "เผยแพร่" in rows[1].text and "ภาพรวมการอบรม.pdf" in rows[1].text
    events = stack.events(UNIT)
    assert [e["type"] for e in events[before:]] == ["EvidenceAttached", "EvidenceAttached"]
    stack.projected(UNIT)
    browser.sign_out().go(f"/public/units/{UNIT}/{FY}", shot="public-disclosure-evidence")
    links = browser.all("ul.files a")
    assert [a.text for a in links] == ["ภาพรวมการอบรม.pdf"]
    links_url = links[0].get_attribute("href")
    status, body, headers = http("GET", links_url)
    assert status == 200 and body == pdf.read_bytes() and headers["Content-Type"] == "application/pdf"
    private = events[-1]["payload"]["sha256"]
    assert http("GET", f"{stack.web}/public/units/{UNIT}/evidence/{private}")[0] == 404
    # published by mistake: the unit takes it off the public page, with its reason
    browser.sign_in(UNIT).go(item_page)
    attached = events[before]["version"]
    browser.type(f"#publicity-reason-{attached}", "มีภาพบุคคลที่ไม่ได้ขออนุญาต")
    browser.submit(f"#publicity-{attached} button[type=submit]", shot="evidence-withdrawn")
    assert "นำไฟล์ออกจากหน้าเผยแพร่ของหน่วยงานแล้ว" in browser.find(".notice").text
    assert stack.events(UNIT)[-1]["type"] == "EvidencePublicityChanged"
    stack.projected(UNIT)
    browser.sign_out().go(f"/public/units/{UNIT}/{FY}")
    assert browser.all("ul.files a") == []
    assert http("GET", links_url)[0] == 404
