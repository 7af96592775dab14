"""The public ITA documents: JSON, CSV and signed PDF folded from the log at a stated version; verification; keys;
receipts; ETag/304; the rate limit; and that no private field ever reaches a public answer."""
import copy
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from services.tracker.app import create_app as create_reader
from services.tracker.disclosure import disclosure as fold_disclosure
from services.tracker.jobs import Tracker
from shared.framework import FrameworkRegistry
from shared.identity import actor_from_header
from shared.plan import WindowsState
from shared.signing import verify_receipt
from shared.streams import read_events

BASE = "/api/v1"
UNIT = "3100100"
H_UNIT = {"X-Actor": f"unit:{UNIT}"}
H_SUP = {"X-Actor": "supervisor:sup01"}
H_NACC = {"X-Actor": "nacc:nacc01"}
ITEM_A = "โครงการส่งเสริมคุณธรรมผู้นำชุมชน น้ำใจใสสะอาด"
ITEM_B = "มาตรการป้องกันการรับสินบนและผลประโยชน์ทับซ้อน"
ITEM_B_NEW = "มาตรการป้องกันการรับสินบน ฉบับปรับปรุง"
# what must never appear in a public answer
PRIVATE = ["ความเห็นผู้ตรวจลับเฉพาะ", "ข้อความเตือนลับเฉพาะ", "เหตุผลข้อยกเว้นลับเฉพาะ", "sup01", "nacc01",
           "ชื่อบัญชีลับ", "127.0.0.1", "request_id", "actor", "security:"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "screenshots"          # the PDFs are kept beside the browser tests' screenshots


def keep(name: str, data: bytes) -> None:
    """Keep a PDF the test made, to be rendered to PNG and looked at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(data)


@pytest.fixture
def history(app_factory, fake_redis, settings, clock, ids):
    """A unit's log with every kind of event, public and private, and amendments in between; the versions."""
    from services.submission import handlers
    from services.submission.service import fingerprint
    from shared.keys import REGISTRY_STREAM

    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.create_account(
        s, {"username": UNIT, "role": "unit", "name": "ชื่อบัญชีลับ", "demo": False}, ctx),
        actor={"username": "op-test", "role": "operator"}, fp=fingerprint("TEST", "acct", {}))
    answers = []

    def write(method, path, body, headers=H_UNIT):
        answer = writer.open(f"{BASE}{path}", method=method, json=body, headers=headers)
        assert answer.status_code == 201, answer.json
        answers.append(answer.json)
        return answer.json

    clock.now = clock.now.replace(month=3, day=1)
    write("PUT", f"/units/{UNIT}/plan", {"title": "แผนปฏิบัติการป้องกันการทุจริต 4 ปี", "first_fiscal_year": 2561,
                                         "last_fiscal_year": 2564})
    a = write("POST", f"/units/{UNIT}/plan/items", {
        "name": ITEM_A, "kind": "project", "dimension": 1, "sub_dimension": "1.2", "fiscal_years": [2563, 2564],
        "budgets": {"2563": "10000", "2564": "50000"}, "responsible": "สำนักปลัด", "indicators": "ร้อยละผู้เข้าร่วม",
        "targets": "ผู้นำชุมชน 100 คน"})["item_id"]
    b = write("POST", f"/units/{UNIT}/plan/items", {
        "name": ITEM_B, "kind": "measure", "dimension": 2, "sub_dimension": "2.1", "fiscal_years": [2564],
        "budgets": {"2564": "0"}, "responsible": "กองคลัง"})["item_id"]
    write("POST", f"/units/{UNIT}/plan/items", {
        "name": "กิจกรรมปีก่อน", "kind": "activity", "dimension": 3, "sub_dimension": "3.1", "fiscal_years": [2562],
        "budgets": {"2562": "5000"}})
    write("PUT", f"/units/{UNIT}/plan/items/{a}/budgets/2564", {"amount": "75000", "reason": "เพิ่มกลุ่มเป้าหมาย"})
    write("POST", f"/units/{UNIT}/reminders", {"fiscal_year": 2564, "round": 6, "message": "ข้อความเตือนลับเฉพาะ"},
          headers=H_SUP)
    clock.now = clock.now.replace(month=4, day=20)
    first = write("PUT", f"/units/{UNIT}/reports/2564/6", {"entries": [
        {"item_id": a, "status": "in_progress", "budget_planned": "75000", "spent": "20000",
         "outputs": "อบรมแล้ว 40 คน", "problems": "", "suggestions": ""},
        {"item_id": b, "status": "not_feasible", "reason": "no_budget"}], "note": "รายงานรอบแรก"})
    write("POST", f"/units/{UNIT}/reports/2564/6/review", {"decision": "returned",
                                                          "comment": "ความเห็นผู้ตรวจลับเฉพาะ"}, headers=H_SUP)
    clock.now = clock.now.replace(month=5, day=2)
    amended = write("PUT", f"/units/{UNIT}/reports/2564/6", {"entries": [
        {"item_id": a, "status": "completed", "budget_planned": "75000", "budget_ordinance": "70000",
         "spent": "68000.50", "outputs": "อบรมแล้ว 100 คน", "outcomes": "ผู้นำชุมชนตระหนักรู้",
         "problems": "ฝนตก", "suggestions": "จัดในฤดูแล้ง"},
        {"item_id": b, "status": "not_feasible", "reason": "other", "reason_text": "รอระเบียบใหม่"}]})
    write("POST", f"/units/{UNIT}/reports/2564/12/exceptions",
          {"until": "2021-12-31T23:59:00+07:00", "reason": "เหตุผลข้อยกเว้นลับเฉพาะ"}, headers=H_NACC)
    edited = write("PATCH", f"/units/{UNIT}/plan/items/{b}", {"name": ITEM_B_NEW, "reason": "ปรับชื่อให้ชัด"})
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    Tracker(fake_redis, settings).project(UNIT)
    public = settings.but(public_url="https://ita.example.go.th")
    reader = create_reader(public, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()
    return {"reader": reader, "redis": fake_redis, "answers": answers, "first": first, "amended": amended,
            "edited": edited, "items": (a, b), "settings": settings}


def squashed(text: str) -> str:
    """Text with every run of white space taken out: a table cell wraps long names and hashes over lines."""
    return "".join(text.split())


def pdf_text(data: bytes) -> str:
    return squashed("".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages))


def _public(history, path, **kw):
    answer = history["reader"].get(f"{BASE}/public{path}", **kw)
    return answer


def test_disclosure_is_the_fold_of_the_log_at_each_version(history, settings):
    """The JSON at the latest version and at earlier ones equals a fresh fold of the log's prefix; reports show
    the amendment, the plan the budget change and the edit; the versions list only document-changing events."""
    doc = _public(history, f"/units/{UNIT}/disclosure/2564").json
    events = read_events(history["redis"], Tracker(history["redis"], settings).keys, UNIT)
    unit = {"code": UNIT, "name_th": f"หน่วยงานทดสอบ {UNIT}", "kind": "district_office", "province": "กรุงเทพมหานคร"}
    frameworks = FrameworkRegistry.load()
    assert doc == json.loads(json.dumps(fold_disclosure(events, unit, 2564, frameworks, WindowsState(), 15)))
    assert doc["version"] == history["edited"]["version"] == len(events) - 0
    assert doc["head_hash"] == events[-1].hash
    names = [i["name"] for i in doc["plan"]["items"]]
    assert names == [ITEM_A, ITEM_B_NEW]                    # by dimension; the 2562-only activity is not in 2564
    assert doc["plan"]["items"][0]["budget"] == "75000.00" and doc["plan"]["total_budget"] == "75000.00"
    assert doc["plan"]["items"][0]["dimension_name_th"] == "การสร้างสังคมที่ไม่ทนต่อการทุจริต"
    report = doc["reports"]["6"]
    assert report["version"] == history["amended"]["version"] and report["amendments"] == 1
    assert report["entries"][0]["spent"] == "68000.50" and report["entries"][1]["reason_text"] == "รอระเบียบใหม่"
    assert report["on_time"] is True and report["first_submitted_at"] == history["first"]["recorded_at"]
    assert [e["name"] for e in report["entries"]] == [ITEM_A, ITEM_B]     # as they stood when it was recorded
    assert doc["reports"]["12"] is None
    kinds = [v["type"] for v in doc["versions"]]
    assert "ReminderSent" not in kinds and "ReportReviewed" not in kinds and "ReportingExceptionGranted" not in kinds
    assert kinds[0] == "ItemEdited" and doc["versions"][0]["document"] == "plan"
    # earlier versions stay reachable, each the fold of the log up to it
    before_amendment = _public(history, f"/units/{UNIT}/disclosure/2564?version={history['amended']['version'] - 1}").json
    assert before_amendment["reports"]["6"]["version"] == history["first"]["version"]
    assert before_amendment["reports"]["6"]["entries"][0]["status"] == "in_progress"
    assert [i["name"] for i in before_amendment["plan"]["items"]] == [ITEM_A, ITEM_B]
    assert before_amendment["version"] == history["first"]["version"]     # the review after it is no document
    for version in range(1, len(events) + 1):
        at = _public(history, f"/units/{UNIT}/disclosure/2564?version={version}").json
        expected = fold_disclosure(events[:version], unit, 2564, frameworks, WindowsState(), 15, version)
        assert at == json.loads(json.dumps(expected)), version


def test_no_public_answer_carries_a_private_field(history):
    """Every public answer (JSON, CSV, PDF text, verify, keys, directory) on a history holding review comments,
    reminders, exception reasons, account names and actors shows none of them."""
    reader = history["reader"]
    texts = []
    for path in ["/units", f"/units/{UNIT}/disclosure/2564", f"/units/{UNIT}/disclosure/2564?version=7",
                 f"/units/{UNIT}/disclosure/2564/plan.csv", f"/units/{UNIT}/disclosure/2564/report-6.csv",
                 f"/verify/{UNIT}/8/{history['answers'][7]['receipt']['hash']}", "/keys"]:
        answer = reader.get(f"{BASE}/public{path}")
        assert answer.status_code == 200, (path, answer.json)
        texts.append(answer.get_data(as_text=True))
    for document in ("plan", "report-6"):
        pdf = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564/{document}.pdf")
        assert pdf.status_code == 200
        texts.append("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages))
    for text in texts:
        for secret in PRIVATE:
            assert secret not in text, secret


def test_csv_and_pdf_at_each_report_version_are_the_fold_there(history, settings):
    """At the first report, at its amendment and after the plan's last edit, the CSV's rows and the PDF's text are
    those of the log's fold up to that version."""
    events = read_events(history["redis"], Tracker(history["redis"], settings).keys, UNIT)
    unit = {"code": UNIT, "name_th": f"หน่วยงานทดสอบ {UNIT}", "kind": "district_office", "province": "กรุงเทพมหานคร"}
    for version in (history["first"]["version"], history["amended"]["version"], history["edited"]["version"]):
        folded = fold_disclosure(events[:version], unit, 2564, FrameworkRegistry.load(), WindowsState(), 15, version)
        for document, part, rows in (("plan", folded["plan"], folded["plan"]["items"]),
                                     ("report-6", folded["reports"]["6"], folded["reports"]["6"]["entries"])):
            got = _public(history, f"/units/{UNIT}/disclosure/2564/{document}.csv?version={version}")
            table = list(csv.reader(io.StringIO(got.get_data(as_text=True).lstrip("\ufeff"))))
            assert [r[3] for r in table[1:]] == [row["name"] for row in rows], (document, version)
            assert {tuple(r[-2:]) for r in table[1:]} == {(str(part["version"]), part["hash"])}
            pdf = pdf_text(_public(history, f"/units/{UNIT}/disclosure/2564/{document}.pdf?version={version}").data)
            for row in rows:
                assert squashed(row["name"]) in pdf, (document, version, row["name"])
                for field in ("outputs", "problems"):
                    if row.get(field):
                        assert squashed(row[field]) in pdf
            assert part["hash"] in pdf and f"ฉบับที่{part['version']}" in pdf


def test_csv_rows_are_the_documents_items(history):
    """The CSV of the plan and of the report has one row per item, the same values as the JSON, and the version
    and hash on every row."""
    doc = _public(history, f"/units/{UNIT}/disclosure/2564").json
    plan = list(csv.reader(io.StringIO(_public(history, f"/units/{UNIT}/disclosure/2564/plan.csv")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert [r[3] for r in plan[1:]] == [ITEM_A, ITEM_B_NEW]
    assert plan[1][5] == "75000.00" and plan[1][-2:] == [str(doc["plan"]["version"]), doc["plan"]["hash"]]
    report = list(csv.reader(io.StringIO(_public(history, f"/units/{UNIT}/disclosure/2564/report-6.csv")
                                         .get_data(as_text=True).lstrip("\ufeff"))))
    assert report[1][9] == "68000.50" and report[1][-1] == doc["reports"]["6"]["hash"]
    assert "(spent)" in report[0][9]


def _verify_pdf(data: bytes, cert_pem: str):
    from pyhanko.keys import load_certs_from_pemder_data
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data))
    status = validate_pdf_signature(reader.embedded_signatures[0],
                                    ValidationContext(trust_roots=list(load_certs_from_pemder_data(cert_pem.encode()))))
    return status


def test_pdf_text_is_the_fold_and_its_signature_holds(history):
    """The PDF's extracted text holds the Thai item names byte for byte, the version and hash; pyHanko validates
    its signature against the published certificate, and one changed byte fails it."""
    reader = history["reader"]
    doc = _public(history, f"/units/{UNIT}/disclosure/2564").json
    cert = reader.get(f"{BASE}/public/keys").json["document_certificate"]
    for document, names, stamp in (("plan", [ITEM_A, ITEM_B_NEW], doc["plan"]),
                                   ("report-6", [ITEM_A, ITEM_B, "ฝนตก", "จัดในฤดูแล้ง"], doc["reports"]["6"])):
        answer = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564/{document}.pdf")
        assert answer.status_code == 200 and answer.mimetype == "application/pdf"
        keep(f"public-{document}.pdf", answer.data)
        text = pdf_text(answer.data)
        for name in names:
            assert squashed(name) in text, (document, name)
        assert stamp["hash"] in text and f"ฉบับที่{stamp['version']}" in text
        status = _verify_pdf(answer.data, cert)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.signing_cert.subject.native["organization_name"] == "NACC action plans"
        tampered = bytearray(answer.data)
        at = tampered.index(b"/Type /Page") + 2           # a byte inside the signed revision
        tampered[at] = ord("X") if tampered[at] != ord("X") else ord("Y")
        broken = _verify_pdf(bytes(tampered), cert)
        assert not broken.intact and not broken.bottom_line
    earlier = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564/report-6.pdf?version={history['first']['version']}")
    text = pdf_text(earlier.data)
    assert "อบรมแล้ว40คน" in text and "อบรมแล้ว100คน" not in text


def test_etag_gives_304_and_changes_with_the_log(history, app_factory, clock):
    """A repeat with If-None-Match is 304 with no body; a new event in the log gives a new ETag."""
    reader = history["reader"]
    for path in (f"/units/{UNIT}/disclosure/2564", f"/units/{UNIT}/disclosure/2564/plan.pdf",
                 f"/units/{UNIT}/disclosure/2564/plan.csv"):
        first = reader.get(f"{BASE}/public{path}")
        assert first.status_code == 200 and first.headers["ETag"]
        again = reader.get(f"{BASE}/public{path}", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == first.headers["ETag"]
    tag = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564").headers["ETag"]
    writer = app_factory(history["redis"]).test_client()
    assert writer.post(f"{BASE}/units/{UNIT}/reminders", json={"fiscal_year": 2564, "round": 12, "message": "อีกครั้ง"},
                       headers=H_SUP).status_code == 201
    fresh = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564", headers={"If-None-Match": tag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != tag


def test_verify_answers_true_for_the_log_and_false_otherwise(history):
    """A real (version, hash) is ok with its type and instant; a made-up hash, a wrong version or an unknown
    unit is not (404 for the unit)."""
    receipt = history["amended"]["receipt"]
    ok = _public(history, f"/verify/{UNIT}/{receipt['version']}/{receipt['hash']}").json
    assert ok == {"ok": True, "unit": UNIT, "version": receipt["version"], "type": "ReportAmended",
                  "recorded_at": receipt["recorded_at"]}
    made_up = _public(history, f"/verify/{UNIT}/{receipt['version']}/{'ab' * 32}").json
    assert made_up["ok"] is False and made_up["type"] is None
    wrong_version = _public(history, f"/verify/{UNIT}/{receipt['version'] - 1}/{receipt['hash']}").json
    assert wrong_version["ok"] is False
    assert _public(history, f"/verify/{UNIT}/999/{receipt['hash']}").json["ok"] is False
    assert _public(history, f"/verify/9999999/1/{receipt['hash']}").status_code == 404


def test_unknown_unit_year_or_unreported_document_is_a_thai_404(history):
    """An unregistered unit, a year outside the calendar, a report not sent yet: 404 with the reason in Thai."""
    unknown = _public(history, "/units/9999999/disclosure/2564")
    assert unknown.status_code == 404 and "ไม่พบหน่วยงาน" in unknown.json["message"]
    year = _public(history, f"/units/{UNIT}/disclosure/1999")
    assert year.status_code == 404 and "ปีงบประมาณ" in year.json["message"]
    missing = _public(history, f"/units/{UNIT}/disclosure/2564/report-12.pdf")
    assert missing.status_code == 404 and "ยังไม่ได้เผยแพร่" in missing.json["message"]
    assert _public(history, f"/units/{UNIT}/disclosure/2564/report-7.pdf").status_code == 404
    no_plan = _public(history, f"/units/{UNIT}/disclosure/2570").json
    assert no_plan["plan"] is None and no_plan["reports"] == {"6": None, "12": None} and no_plan["version"] == 0


def test_every_write_answer_carries_a_receipt_that_verifies_offline(history, tmp_path):
    """Each accepted write's receipt verifies under the published keys, offline too; a changed field, a wrong key
    and another key's signature do not."""
    keys = _public(history, "/keys").json
    for answer in history["answers"]:
        receipt = answer["receipt"]
        assert {receipt[k] for k in ("version", "event_id", "recorded_at")} == \
            {answer["version"], answer["event_id"], answer["recorded_at"]}
        assert verify_receipt(receipt, keys["keys"]) == (True, "the signature holds")
    receipt = history["amended"]["receipt"]
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    (tmp_path / "receipt.json").write_text(json.dumps(receipt, ensure_ascii=False))
    run = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "receipt.json"), "--key",
                          str(tmp_path / "keys.json")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "receipt ok" in run.stdout, run.stdout + run.stderr
    changed = dict(receipt, recorded_at=receipt["recorded_at"].replace("2021", "2020"))
    assert verify_receipt(changed, keys["keys"])[0] is False
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    run = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "changed.json"), "--key",
                          str(tmp_path / "keys.json")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1 and "BAD" in run.stdout
    other = history["first"]["receipt"]
    assert verify_receipt(dict(receipt, signature=other["signature"]), keys["keys"])[0] is False
    wrong_key = copy.deepcopy(keys["keys"])
    wrong_key[0]["public_key"] = keys["keys"][0]["public_key"][:-4] + "AAA="
    assert verify_receipt(receipt, wrong_key)[0] is False


def test_key_rotation_keeps_old_receipts_valid(app_factory, fake_redis, settings, clock, tmp_path):
    """After a rotation new receipts name the new key, both keys are published and the old receipts still verify."""
    from shared import signing
    key_dir = tmp_path / "keys"
    mine = settings.but(key_dir=str(key_dir))
    signing.ensure(key_dir)
    from services.submission.app import create_app
    writer = create_app(mine, redis=fake_redis, clock=clock, nudge=lambda s: None,
                        identify=actor_from_header).test_client()
    from tests.conftest import register_units
    register_units(writer.application.extensions["ncc"]["service"])
    plan = {"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
    old = writer.put(f"{BASE}/units/{UNIT}/plan", json=plan, headers=H_UNIT).json["receipt"]
    signing.rotate(key_dir)
    writer = create_app(mine, redis=fake_redis, clock=clock, nudge=lambda s: None,
                        identify=actor_from_header).test_client()
    new = writer.put(f"{BASE}/units/{UNIT}/plan", json=dict(plan, title="แผนใหม่"), headers=H_UNIT).json["receipt"]
    published = create_reader(mine, redis=fake_redis, clock=clock).test_client().get(f"{BASE}/public/keys").json
    assert new["key_id"] != old["key_id"] and len(published["keys"]) == 2
    assert published["keys"][0]["key_id"] == new["key_id"] and published["keys"][0]["current"]
    assert verify_receipt(old, published["keys"])[0] and verify_receipt(new, published["keys"])[0]
    assert (key_dir / "keys.json").stat().st_mode & 0o777 == 0o600


def test_receipt_of_an_earlier_write_is_the_same_again(history):
    """The unit reads the receipt of each report it filed, as JSON (the very one its write got) and a one-page
    signed PDF; someone else's unit is refused."""
    reader = history["reader"]
    for write in (history["first"], history["amended"]):
        again = reader.get(f"{BASE}/units/{UNIT}/receipts/{write['version']}", headers=H_UNIT)
        assert again.status_code == 200 and again.json == write["receipt"]
        pdf = reader.get(f"{BASE}/units/{UNIT}/receipts/{write['version']}.pdf", headers=H_UNIT)
        assert pdf.status_code == 200 and len(PdfReader(io.BytesIO(pdf.data)).pages) == 1
        keep("receipt.pdf", pdf.data)
        text = pdf_text(pdf.data)
        assert write["receipt"]["hash"] in text and write["receipt"]["signature"] in text
        cert = reader.get(f"{BASE}/public/keys").json["document_certificate"]
        assert _verify_pdf(pdf.data, cert).intact
    assert reader.get(f"{BASE}/units/{UNIT}/receipts/1", headers={"X-Actor": "unit:3100200"}).status_code == 403
    assert reader.get(f"{BASE}/units/{UNIT}/receipts/999", headers=H_UNIT).status_code == 404


def test_public_answers_are_rate_limited_per_client(app_factory, fake_redis, settings, clock):
    """Past the limit a client gets 429 with Retry-After; another client is still answered."""
    limited = settings.but(public_rate_limit="3 per minute")
    app_factory(fake_redis)
    Tracker(fake_redis, settings).project("registry")
    reader = create_reader(limited, redis=fake_redis, clock=clock).test_client()
    codes = [reader.get(f"{BASE}/public/units", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = reader.get(f"{BASE}/public/units", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["code"] == 429 and refused.json["message"]
    assert reader.get(f"{BASE}/public/units", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200


def test_public_pdfs_have_their_own_lower_limit_and_one_render_per_document(history, fake_redis, settings, clock):
    """Past the PDF limit a client gets 429 on PDFs while the JSON still answers; a write that changes none of the
    year's documents gives a new ETag but the same signed PDF (no second render)."""
    reader = create_reader(settings.but(public_pdf_rate_limit="2 per minute"), redis=fake_redis,
                           clock=clock).test_client()
    path = f"{BASE}/public/units/{UNIT}/disclosure/2564/plan.pdf"
    first = reader.get(path, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    reader.get(path, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    refused = reader.get(path, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert first.status_code == 200 and refused.status_code == 429 and refused.headers["Retry-After"]
    assert reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564",
                      environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 200
    from services.submission.app import create_app
    create_app(settings, redis=fake_redis, clock=clock, nudge=lambda s: None,
               identify=actor_from_header).test_client().post(
        f"{BASE}/units/{UNIT}/reminders", json={"fiscal_year": 2564, "round": 12, "message": "เตือน"}, headers=H_SUP)
    again = history["reader"].get(path)
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    assert again.data == first.data          # the same signed bytes: a second render would sign at another instant


def test_no_stale_304_when_the_unit_or_the_windows_change(history, app_factory, fake_redis, settings, clock):
    """The documents print the unit's registered name and the round's due date: re-registering the unit or NACC
    moving a window gives a new ETag (200 with the new text), not a 304 for the old one; If-None-Match: * is no
    way around a 404."""
    from services.submission import handlers
    from services.submission.service import fingerprint
    from shared.keys import REGISTRY_STREAM
    reader = history["reader"]
    path = f"{BASE}/public/units/{UNIT}/disclosure/2564/report-6.pdf"
    first = reader.get(path)
    json_tag = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564").headers["ETag"]
    writer = app_factory(fake_redis)
    writer.extensions["ncc"]["service"].execute(REGISTRY_STREAM, lambda s, ctx: handlers.register_unit(
        s, {"code": UNIT, "name_th": "สำนักงานที่เปลี่ยนชื่อใหม่", "kind": "district_office",
            "province": "กรุงเทพมหานคร"}, ctx), actor={"username": "op", "role": "operator"}, fp=fingerprint("T", "r", {}))
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    renamed = reader.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert renamed.status_code == 200 and "สำนักงานที่เปลี่ยนชื่อใหม่" in pdf_text(renamed.data)
    moved = writer.test_client().put(f"{BASE}/windows/2564/6", headers=H_NACC, json={
        "due_at": "2021-05-10T23:59:00+07:00", "locks_at": "2021-05-25T23:59:00+07:00"})
    assert moved.status_code == 201, moved.json
    Tracker(fake_redis, settings).project("windows")
    again = reader.get(f"{BASE}/public/units/{UNIT}/disclosure/2564", headers={"If-None-Match": json_tag})
    assert again.status_code == 200 and again.json["reports"]["6"]["due_at"].startswith("2021-05-10")
    assert again.json["reports"]["6"]["on_time"] is True            # by the due date in force, as compliance counts
    for missing in (f"/units/{UNIT}/disclosure/2564/report-12.pdf", f"/units/{UNIT}/disclosure/2570/plan.csv"):
        assert _public(history, missing, headers={"If-None-Match": "*"}).status_code == 404


def test_receipt_checks_refuse_missing_fields_and_malformed_keys(history, tmp_path):
    """A receipt without one of its fields is not valid (not read as null); a keys file of the wrong shape makes
    the offline check say BAD, never crash; a keys file others can read is refused at start."""
    from shared import signing
    keys = _public(history, "/keys").json
    receipt = dict(history["amended"]["receipt"])
    del receipt["stream"]
    assert verify_receipt(receipt, keys["keys"]) == (False, "the receipt lacks fields the signature covers: stream")
    (tmp_path / "receipt.json").write_text(json.dumps(history["amended"]["receipt"]))
    for shape in (["a", "b"], {"keys": [{"key_id": history["amended"]["receipt"]["key_id"]}]}, {"keys": [1, None]}):
        (tmp_path / "keys.json").write_text(json.dumps(shape))
        run = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "receipt.json"), "--key",
                              str(tmp_path / "keys.json")], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 1 and "receipt BAD" in run.stdout and "Traceback" not in run.stderr, run.stderr
    signing.ensure(tmp_path / "k")
    (tmp_path / "k" / "keys.json").chmod(0o644)
    with pytest.raises(signing.KeysMissingError, match="chmod 600"):
        signing.load(tmp_path / "k")


def test_only_the_web_app_may_say_whose_request_it_forwards(app_factory, fake_redis, settings, clock):
    """With no proxy configured in front of the API, a forwarded address counts only with the web app's token: a
    client that reaches the API directly and forges X-Forwarded-For is still limited as itself; the web app's
    readers are counted each on their own."""
    from shared.web import PROXY_HEADER, proxy_token
    app_factory(fake_redis)
    Tracker(fake_redis, settings).project("registry")
    reader = create_reader(settings.but(public_rate_limit="2 per minute", forwarded_hops=0), redis=fake_redis,
                           clock=clock).test_client()
    me = {"REMOTE_ADDR": "10.0.0.7"}
    forged = [reader.get(f"{BASE}/public/units", environ_base=me,
                         headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code for n in range(3)]
    assert forged == [200, 200, 429]
    token = {PROXY_HEADER: proxy_token(settings.secret_key)}
    readers = [reader.get(f"{BASE}/public/units", environ_base={"REMOTE_ADDR": "10.0.0.8"},
                          headers={"X-Forwarded-For": f"198.51.100.{n}", **token}).status_code for n in range(3)]
    assert readers == [200, 200, 200]
    wrong = reader.get(f"{BASE}/public/units", environ_base=me,
                       headers={"X-Forwarded-For": "203.0.113.1", PROXY_HEADER: "0" * 64})
    assert wrong.status_code == 429
