"""The auditor's pages in a real browser: find a unit, its event history, its state at a version or an instant,
the hash chain's verification, and the JSON Lines export that the offline verifier accepts."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ROOT, http
from shared.events import canonical

UNIT = "3108800"            # สำนักงานเขตทุ่งครุ: a history with a plan, items, an edit, an exception and a report
EMPTY = "3108400"           # สำนักงานเขตบางนา: registered, nothing recorded (3108900 is a supervision test's)
FY, ROUND = 2569, 12


@pytest.fixture(scope="module")
def history(stack):
    """The unit's history, written through the APIs as the unit (and NACC for the exception), fully projected."""
    def ok(answer):
        status, body, _ = answer
        assert status in (200, 201), body
        return body

    ok(stack.api("PUT", "submission", f"/units/{UNIT}/plan", UNIT, {
        "title": "แผนปฏิบัติการป้องกันการทุจริต เขตทุ่งครุ", "first_fiscal_year": 2566, "last_fiscal_year": 2570}))
    first = ok(stack.api("POST", "submission", f"/units/{UNIT}/plan/items", UNIT, {
        "name": "โครงการอบรมคุณธรรมจริยธรรมบุคลากร", "kind": "project", "dimension": 1, "sub_dimension": "1.1",
        "fiscal_years": [2569, 2570], "budgets": {"2569": "45000", "2570": "50000"},
        "responsible": "ฝ่ายปกครอง", "target_groups": ["staff"], "objectives": "ให้บุคลากรมีจิตสำนึกสุจริต"}))["item_id"]
    ok(stack.api("POST", "submission", f"/units/{UNIT}/plan/items", UNIT, {
        "name": "มาตรการเปิดเผยข้อมูลการจัดซื้อจัดจ้าง", "kind": "measure", "dimension": 2, "sub_dimension": "2.1",
        "fiscal_years": [2570]}))
    ok(stack.api("PATCH", "submission", f"/units/{UNIT}/plan/items/{first}", UNIT, {
        "responsible": "ฝ่ายปกครองและฝ่ายทะเบียน", "reason": "เพิ่มผู้รับผิดชอบร่วม"}))
    until = (datetime.now(timezone.utc) + timedelta(days=10)).astimezone(timezone(timedelta(hours=7)))
    ok(stack.api("POST", "submission", f"/units/{UNIT}/reports/{FY}/{ROUND}/exceptions", "demo-nacc", {
        "until": until.replace(microsecond=0).isoformat(), "reason": "ระบบสารสนเทศของเขตขัดข้อง"}))
    ok(stack.api("PUT", "submission", f"/units/{UNIT}/reports/{FY}/{ROUND}", UNIT, {
        "entries": [{"item_id": first, "status": "in_progress", "spent": "12500.50",
                     "outputs": "อบรมแล้ว 2 รุ่น 120 คน"}], "note": "รายงานรอบ 12 เดือน"}))
    stack.projected(UNIT)
    stack.activate("demo-auditor")
    return {"item": first, "events": stack.events(UNIT)}


def test_auditor_finds_unit_by_name_and_reads_its_history(browser, stack, history):
    """The auditor searches a Thai name, opens the unit and sees every event: version, Thai type, BE time, actor,
    a short hash with the full one in its title."""
    browser.sign_in("demo-auditor")
    assert browser.path == "/audit"
    browser.shot("auditor-find-empty")
    browser.fill("รหัสหรือชื่อหน่วยงาน", "ทุ่งครุ").press("ค้นหา", shot="auditor-find-result")
    rows = browser.all("table.units-found tbody tr")
    assert len(rows) == 1 and UNIT in rows[0].text and "สำนักงานเขตทุ่งครุ" in rows[0].text
    rows[0].find_element("link text", "สำนักงานเขตทุ่งครุ").click()
    assert browser.path == f"/audit/units/{UNIT}"
    browser.shot("auditor-history")
    events = history["events"]
    lines = browser.all("table.events tbody tr")
    assert len(lines) == len(events) == 6
    text = browser.text()
    assert "ประวัติเหตุการณ์" in text and "จัดทำแผน" in text and "ส่งรายงาน" in text
    assert "ขยายเวลารายงานเป็นกรณีพิเศษ" in text and "กรณียกเว้น" not in text
    codes = [c.text for c in browser.all(".event-code code")]            # the code only small, labelled
    assert codes[0] == "PlanDeclared" and "รหัสเหตุการณ์" in browser.find(".event-code").text
    first = lines[0]
    assert first.find_element("css selector", "td").text == "1"
    assert str(datetime.now().year + 543) in first.text and "น." in first.text        # Buddhist Era, Thai time
    assert UNIT in first.find_elements("css selector", "td")[3].text                    # the actor: the unit
    for line, event in zip(lines, events):
        code = line.find_element("css selector", "code.hash")
        assert code.get_attribute("title") == event["hash"]
        assert code.text.rstrip("…") == event["hash"][:12]
    assert "demo-nacc" in lines[4].text                                               # who granted the exception


def test_state_at_a_version_and_at_an_instant(browser, stack, history):
    """State at version 2 holds the plan and its first item only; the latest holds both items and the report,
    shown readably; before the first event there was nothing; version and instant together are refused."""
    browser.sign_in("demo-auditor")
    browser.go(f"/audit/units/{UNIT}")
    browser.find("tr#v2 a").click()
    assert browser.path == f"/audit/units/{UNIT}/state?version=2"
    browser.shot("auditor-state-v2")
    text = browser.text()
    assert "สถานะ ณ ฉบับที่ 2" in text and "แผนปฏิบัติการป้องกันการทุจริต เขตทุ่งครุ" in text
    assert "โครงการอบรมคุณธรรมจริยธรรมบุคลากร" in text and "มาตรการเปิดเผยข้อมูล" not in text
    assert "ขณะนั้นยังไม่มีการส่งรายงาน" in text
    assert history["events"][1]["hash"] in text                                        # the hash of that version
    browser.fill("ฉบับที่", "6").press("แสดงสถานะ", shot="auditor-state-v6")
    text = browser.text()
    assert "สถานะ ณ ฉบับที่ 6" in text and "มาตรการเปิดเผยข้อมูลการจัดซื้อจัดจ้าง" in text
    assert "ปีงบประมาณ 2569 รอบ 12 เดือน" in text and "12,500.50" in text and "อบรมแล้ว 2 รุ่น 120 คน" in text
    assert "ฝ่ายปกครองและฝ่ายทะเบียน" in browser.driver.page_source                    # the edit, in the details
    assert "45,000.00" in text and "ส่งภายใต้การขยายเวลารายงานเป็นกรณีพิเศษ" in text
    browser.go(f"/audit/units/{UNIT}/state?as_of=2020-01-01T00:00:00%2B07:00", shot="auditor-state-before")
    assert "ขณะนั้นยังไม่มีการบันทึกใดของหน่วยงานนี้" in browser.text()
    later = (datetime.now(timezone.utc) + timedelta(days=1)).astimezone(timezone(timedelta(hours=7)))
    browser.go(f"/audit/units/{UNIT}/state")
    assert not browser.all("input[type=datetime-local]") and "ค.ศ." not in browser.text()
    browser.choose("#as_of-day", str(later.day)).choose("#as_of-month", str(later.month))
    browser.type("#as_of-year", str(later.year + 543)).type("#as_of-time", "08:15")
    browser.press("แสดงสถานะ", shot="auditor-state-instant")
    assert "สถานะ ณ วันที่" in browser.text() and "มาตรการเปิดเผยข้อมูลการจัดซื้อจัดจ้าง" in browser.text()
    assert f"{later.year + 543} 08:15" in browser.find("#moment-heading").text
    assert browser.find("#as_of-year").get_attribute("value") == str(later.year + 543)
    assert browser.find("#as_of-time").get_attribute("value") == "08:15"
    browser.type("#as_of-year", str(later.year)).press("แสดงสถานะ")              # a Common Era year: said in Thai
    assert "ปีเป็นพุทธศักราช" in browser.text()
    typed_be = f"{later.year + 543}{later.strftime('-%m-%dT%H:%M:%S')}"          # a link with a BE year still works
    browser.go(f"/audit/units/{UNIT}/state?as_of={typed_be}")
    assert "สถานะ ณ วันที่" in browser.text() and "มาตรการเปิดเผยข้อมูลการจัดซื้อจัดจ้าง" in browser.text()
    assert browser.find("#as_of-year").get_attribute("value") == str(later.year + 543)
    browser.go(f"/audit/units/{UNIT}/state?version=2&as_of=2020-01-01T00:00", shot="auditor-state-both")
    assert "อย่างใดอย่างหนึ่งเท่านั้น" in browser.text()
    browser.go(f"/audit/units/{UNIT}/state?version=abc")
    assert "ฉบับที่ต้องเป็นจำนวนเต็ม" in browser.text()


def test_verification_shows_ok(browser, stack, history):
    """The tracker walks the chain: the page says in Thai that it is intact, how many events, and the head hash."""
    browser.sign_in("demo-auditor")
    browser.go(f"/audit/units/{UNIT}")
    browser.find("nav.tabs").find_element("link text", "ตรวจสอบความถูกต้องของห่วงโซ่แฮช").click()
    browser.shot("auditor-verify-ok")
    text = browser.text()
    assert "ห่วงโซ่แฮชถูกต้อง" in text and "ไม่ถูกต้อง" not in text
    assert history["events"][-1]["hash"] in text and "6" in browser.find("dl.facts").text
    main = browser.find("main").text                 # the technical help is folded away, under a Thai summary
    assert "JSON Lines" not in main and "shared.offline" not in main and "shared/events.py" not in main
    help_ = browser.find("details.technical")
    assert help_.find_element("css selector", "summary").text == "สำหรับผู้ตรวจสอบทางเทคนิค"
    assert "python -m shared.offline" in help_.get_attribute("textContent")


def _session_cookie(browser) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in browser.driver.get_cookies())


def test_json_lines_download_verifies_offline(browser, stack, history, tmp_path):
    """The download is one canonical event per line, exactly as GET /events answers them, and
    ``python -m shared.offline`` accepts it; one changed byte in a payload makes it fail."""
    browser.sign_in("demo-auditor")
    browser.go(f"/audit/units/{UNIT}")
    link = browser.find("nav.tabs a[download]")
    assert link.get_attribute("href").endswith(f"/audit/units/{UNIT}/events.jsonl")
    request = urllib.request.Request(link.get_attribute("href"), headers={"Cookie": _session_cookie(browser)})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("application/jsonl")
        assert f'filename="{UNIT}-events-v6.jsonl"' in answer.headers["Content-Disposition"]
        body = answer.read()
    lines = body.decode("utf-8").splitlines()
    assert lines == [canonical(e).decode("utf-8") for e in stack.events(UNIT)]
    exported = tmp_path / f"{UNIT}.jsonl"
    exported.write_bytes(body)
    run = subprocess.run([sys.executable, "-m", "shared.offline", str(exported)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{UNIT}: ok, 6 events" in run.stdout and "1 streams, 0 bad" in run.stdout
    tampered = [json.loads(line) for line in lines]
    tampered[3]["payload"]["reason"] = "แก้ไขภายหลัง"
    (tmp_path / "tampered.jsonl").write_bytes(b"".join(canonical(e) + b"\n" for e in tampered))
    run = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "tampered.jsonl")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "BAD at version 4" in run.stdout


def test_find_pages_through_many_units_and_filters_by_kind(browser, stack, history):
    """Searching "สำนักงาน" finds its 60 Bangkok units 50 to a page with a next-page link and no repeats; the
    kind filter keeps only district offices; a code finds its unit."""
    browser.sign_in("demo-auditor")
    browser.go("/audit?q=สำนักงาน", shot="auditor-find-page1")
    first = [r.find_element("css selector", "td").text for r in browser.all("table.units-found tbody tr")]
    assert len(first) == 50 and first == sorted(first)
    assert browser.find("#page-number").text.startswith("หน้า 1 ")
    browser.driver.find_element("link text", "หน้าถัดไป").click()
    assert browser.find("#page-number").text.startswith("หน้า 2 ") and "51–60" in browser.find("#page-number").text
    second = [r.find_element("css selector", "td").text for r in browser.all("table.units-found tbody tr")]
    assert len(second) == 10 and second == sorted(second) and second[0] > first[-1] and EMPTY in second
    assert all("สำนักงาน" in r.text for r in browser.all("table.units-found tbody tr"))
    assert not browser.all("a.button") and browser.driver.find_element("link text", "กลับไปหน้าแรกของผลการค้นหา")
    browser.go("/audit").fill("ประเภทหน่วยงาน", "district_office").press("ค้นหา")
    kinds = {r.find_elements("css selector", "td")[2].text for r in browser.all("table.units-found tbody tr")}
    assert kinds == {"สำนักงานเขต"}
    browser.go("/audit")
    assert browser.find("#province").tag_name == "select"                     # provinces as a list
    browser.fill("จังหวัด", "กรุงเทพมหานคร").fill("รหัสหรือชื่อหน่วยงาน", "บางนา").press("ค้นหา")
    found = browser.all("table.units-found tbody tr")
    assert found and all("กรุงเทพมหานคร" in r.text for r in found)
    assert browser.find("#province").get_attribute("value") == "กรุงเทพมหานคร"
    browser.go("/audit").fill("รหัสหรือชื่อหน่วยงาน", EMPTY).press("ค้นหา")
    assert [r.find_element("css selector", "td").text for r in browser.all("table.units-found tbody tr")] == [EMPTY]
    browser.go("/audit?q=ไม่มีหน่วยงานชื่อนี้")
    assert "ไม่พบหน่วยงานที่ลงทะเบียนตรงกับคำค้น" in browser.text()


def test_unit_without_events(browser, stack, history):
    """A registered unit that recorded nothing: an empty history said in words, a chain of 0 events that is OK,
    and an empty (but valid) download."""
    browser.sign_in("demo-auditor")
    browser.go(f"/audit?q={EMPTY}")
    browser.find("table.units-found a").click()
    browser.shot("auditor-history-empty")
    assert "ยังไม่มีเหตุการณ์ใด" in browser.text()
    browser.go(f"/audit/units/{EMPTY}/verify")
    assert "ห่วงโซ่แฮชถูกต้อง" in browser.text()
    status, body, _ = http("GET", f"{stack.web}/audit/units/{EMPTY}/events.jsonl",
                           headers={"Cookie": _session_cookie(browser)})
    assert status == 200 and body == b""


def test_phone_width_and_every_control_labelled(browser, stack, history):
    """At 375 px the pages do not scroll sideways; every form control has a label and every link and button a name."""
    browser.sign_in("demo-auditor")
    browser.width(375)
    for path, shot in [("/audit?q=เขต", "auditor-find-375"), (f"/audit/units/{UNIT}", "auditor-history-375"),
                       (f"/audit/units/{UNIT}/state?version=6", "auditor-state-375"),
                       (f"/audit/units/{UNIT}/verify", "auditor-verify-375")]:
        browser.go(path, shot=shot)
        overflow = browser.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (path, overflow)
        unlabelled = browser.driver.execute_script("""
            return Array.from(document.querySelectorAll('input, select, textarea'))
              .filter(e => e.type !== 'hidden')
              .filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.getAttribute('aria-label')
                           && !e.closest('label'))
              .map(e => e.outerHTML);""")
        assert unlabelled == [], (path, unlabelled)
        nameless = browser.driver.execute_script("""
            return Array.from(document.querySelectorAll('a, button'))
              .filter(e => !(e.textContent.trim() || e.getAttribute('aria-label')))
              .map(e => e.outerHTML);""")
        assert nameless == [], (path, nameless)
    browser.width(1280)


def test_only_auditors_and_nacc(browser, stack, history):
    """A unit is refused the auditor's pages (403 page); an unknown or malformed code is a Thai 404 page."""
    browser.sign_in(UNIT, stack.activate(UNIT))
    browser.go(f"/audit/units/{UNIT}")
    assert "ไม่" in browser.text() and "ประวัติเหตุการณ์" not in browser.find("main").text
    status, _, _ = http("GET", f"{stack.web}/audit/units/{UNIT}/events.jsonl",
                        headers={"Cookie": _session_cookie(browser)})
    assert status == 403
    browser.sign_out().sign_in("demo-nacc", stack.activate("demo-nacc"))
    browser.go(f"/audit/units/{UNIT}/verify")
    assert "ห่วงโซ่แฮชถูกต้อง" in browser.text()
    for code in ("9999999", "abc"):
        status, body, _ = http("GET", f"{stack.web}/audit/units/{code}", headers={"Cookie": _session_cookie(browser)})
        assert status == 404, code


TAMPERED = "3108700"        # สำนักงานเขตบางแค: no other web test uses it; its log is broken on purpose below


def test_broken_chain_is_explained_in_thai(browser, stack):
    """A payload changed in Redis after it was recorded (as a tamperer with access to the store would) breaks the
    chain: the tracker finds it, and the auditor's page says in Thai that the chain is broken, names the first
    bad version and the reason; the events before it are counted as intact."""
    import redis

    from shared.keys import Keys

    def ok(answer):
        status, body, _ = answer
        assert status in (200, 201), body
        return body

    ok(stack.api("PUT", "submission", f"/units/{TAMPERED}/plan", TAMPERED, {
        "title": "แผนปฏิบัติการป้องกันการทุจริต เขตบางแค", "first_fiscal_year": 2567, "last_fiscal_year": 2570}))
    for name in ("โครงการบางแคโปร่งใส", "กิจกรรมเยาวชนต้านทุจริต", "มาตรการเปิดเผยข้อมูลสาธารณะ"):
        ok(stack.api("POST", "submission", f"/units/{TAMPERED}/plan/items", TAMPERED, {
            "name": name, "kind": "project", "dimension": 1, "sub_dimension": "1.1", "fiscal_years": [2569],
            "budgets": {"2569": "10000"}}))
    stack.projected(TAMPERED)
    stack.activate("demo-auditor")
    browser.sign_in("demo-auditor")
    browser.go(f"/audit/units/{TAMPERED}/verify")
    assert "ห่วงโซ่แฮชถูกต้อง" in browser.text()

    # the stream entries' ids are versions: a stream entry cannot be rewritten in place, so the whole stream is
    # rewritten in one transaction, every entry as stored except version 3, whose payload names another project
    store = redis.Redis.from_url(stack.redis_url)
    key = Keys(prefix="ncc", partitions=16).events(TAMPERED)
    entries = [(i.decode(), f[b"e"]) for i, f in store.xrange(key)]
    assert [i for i, _ in entries] == ["1-0", "2-0", "3-0", "4-0"], key
    event = json.loads(entries[2][1])
    assert event["version"] == 3 and event["payload"]["name"] == "กิจกรรมเยาวชนต้านทุจริต"
    event["payload"]["name"] = "กิจกรรมที่แก้ไขย้อนหลัง"
    entries[2] = (entries[2][0], canonical(event))
    with store.pipeline(transaction=True) as tx:
        tx.delete(key)
        for entry_id, raw in entries:
            tx.xadd(key, {"e": raw}, id=entry_id)
        tx.execute()
    status, answer, _ = stack.api("GET", "tracker", f"/units/{TAMPERED}/verify", "demo-auditor")
    assert status == 200 and answer["ok"] is False and answer["first_bad_version"] == 3, answer

    browser.go(f"/audit/units/{TAMPERED}")
    browser.find("nav.tabs").find_element("link text", "ตรวจสอบความถูกต้องของห่วงโซ่แฮช").click()
    browser.shot("auditor-verify-broken")
    verdict = browser.find(".verdict").text
    assert "ห่วงโซ่แฮชไม่ถูกต้อง" in verdict and "ฉบับแรกที่ไม่ถูกต้องคือฉบับที่ 3" in verdict
    assert "ค่าแฮชไม่ตรงกับเนื้อหา แสดงว่าเหตุการณ์ถูกแก้ไขภายหลังการบันทึก" in verdict
    assert "ห่วงโซ่แฮชถูกต้อง" not in verdict
    facts = browser.find("dl.facts").text
    assert "ไม่ถูกต้อง" in facts and answer["head_hash"] in facts
    assert answer["reason"] not in browser.find("main").text                  # the English reason only folded away
    assert browser.find("details.technical code.reason").get_attribute("textContent") == answer["reason"]
    assert str(answer["events_checked"]) in verdict


def test_chain_reasons_in_thai():
    """Each of the tracker's reasons for a broken chain reads in Thai; one the page does not know is shown as
    the tracker said it, after a Thai sentence."""
    from services.web.app import create_app
    from shared.config import Settings

    app = create_app(Settings(secret_key="test-secret-for-web"))
    with app.test_request_context():
        from services.web.auditor import chain_reason
        assert "รายการที่ 5 มีรหัส 7-0" in chain_reason("entry 5 has id 7-0: an entry was deleted, moved or inserted")
        assert chain_reason("something new") == "ระบบแจ้งเหตุผลดังนี้: something new"
        for reason in ("entry 3 has id 4-0: an entry was deleted, moved or inserted",      # shared/streams.py
                       "entry 2 cannot be read: ValueError", "event belongs to stream 3100100, not 3100200",
                       "entry 4 carries version 5", "prev_hash does not match the previous event's hash",
                       "hash does not match the event's content",
                       "the stored chain head does not match the last event's hash"):
            said = chain_reason(reason)
            assert not said.startswith("ระบบแจ้ง") and not any(word in said for word in ("hash", "entry", "stream")), said


ARCHIVED = "3107800"        # สำนักงานเขตหลักสี่ (demo-sup-03): a plan whose cycle is archived (no other test uses it)


def test_an_archived_history_reads_and_verifies_as_before(browser, stack):
    """The operator archives a unit's closed cycle: the auditor still sees every event, now followed by the seal
    named in Thai, and the verification reads the archive file; with the file gone, the page says so in Thai."""
    import os
    assert stack.api("PUT", "submission", f"/units/{ARCHIVED}/plan", ARCHIVED, {
        "title": "แผนปฏิบัติการป้องกันการทุจริต เขตหลักสี่", "first_fiscal_year": 2566, "last_fiscal_year": 2570})[0] == 201
    assert stack.api("POST", "submission", f"/units/{ARCHIVED}/plan/items", ARCHIVED, {
        "name": "มาตรการประกาศเจตจำนงสุจริตของผู้บริหาร", "kind": "measure", "dimension": 2, "sub_dimension": "2.1",
        "fiscal_years": [2566]})[0] == 201
    before = stack.events(ARCHIVED)
    env = {**os.environ, "REDIS_URL": stack.redis_url, "NCC_DATA_DIR": str(stack.data_dir), "NCC_ENV": "development",
           "NCC_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "services.submission.app:create_app", "archive",
                           ARCHIVED, "--operator", "demo-operator", "--as-of", "2030-01-01T00:00:00+07:00"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "1 archived" in done.stdout, done.stdout + done.stderr
    stack.projected(ARCHIVED)
    after = stack.events(ARCHIVED)
    assert after[:-1] == before and after[-1]["type"] == "ArchiveSealed"
    browser.sign_in("demo-auditor")
    browser.go(f"/audit/units/{ARCHIVED}", shot="auditor-history-archived")
    lines = browser.all("table.events tbody tr")
    assert len(lines) == 3
    assert "ย้ายประวัติช่วงก่อนหน้าไปเก็บในแฟ้มจัดเก็บถาวร" in lines[2].text and "ฉบับที่ 1–2" in lines[2].text
    browser.go(f"/audit/units/{ARCHIVED}/state?version=2")
    assert "มาตรการประกาศเจตจำนงสุจริตของผู้บริหาร" in browser.text()
    browser.go(f"/audit/units/{ARCHIVED}/verify", shot="auditor-verify-archived")
    assert "ห่วงโซ่แฮชถูกต้อง" in browser.text() and after[-1]["hash"] in browser.text()
    segment = stack.data_dir / "archive" / after[-1]["payload"]["segment"]
    aside = segment.with_name("aside")
    segment.rename(aside)
    try:
        browser.go(f"/audit/units/{ARCHIVED}/verify", shot="auditor-verify-archive-missing")
        text = browser.text()
        assert "ไม่พบแฟ้มจัดเก็บถาวร" in text and "ฉบับที่ 1–2" in text and "ระบบแจ้ง" not in text
    finally:
        aside.rename(segment)
