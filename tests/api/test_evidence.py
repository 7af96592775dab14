"""Evidence files: checked by content, kept under their SHA-256, recorded in the unit's chain, served to the unit
and (when public) to anyone, and caught by verification when changed or missing; refusals keep nothing."""
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import segno
from fpdf import FPDF
from pypdf import PdfReader

from tests.conftest import dump_log
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.evidence import sha256_of
from shared.identity import actor_from_header
from shared.streams import read_events
from tests.api.test_write_api import ITEM, PLAN

BASE = "/api/v1"
UNIT = "3100100"
H = {"X-Actor": f"unit:{UNIT}"}


def a_pdf(text: str = "evidence") -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, text)
    return bytes(pdf.output())


def a_png() -> bytes:
    out = io.BytesIO()
    segno.make("หลักฐาน").save(out, kind="png", scale=3)
    return out.getvalue()


def a_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.fixture
def world(app_factory, fake_redis, settings, clock):
    """A unit with a plan and an item; the write and read apps on one store."""
    writer = app_factory(fake_redis).test_client()
    assert writer.put(f"{BASE}/units/{UNIT}/plan", json=PLAN, headers=H).status_code == 201
    item = writer.post(f"{BASE}/units/{UNIT}/plan/items", json=ITEM, headers=H).json["item_id"]
    Tracker(fake_redis, settings).project("registry")
    reader = create_reader(settings, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()
    store = Path(settings.evidence_store_url.removeprefix("file://"))
    return {"writer": writer, "reader": reader, "item": item, "redis": fake_redis, "store": store,
            "settings": settings}


def upload(world, data: bytes, name: str, *, content_type=None, headers=None, **form):
    fields = {"item_id": form.pop("item_id", world["item"]), **{k: str(v) for k, v in form.items()}}
    fields["file"] = (io.BytesIO(data), name) if content_type is None else (io.BytesIO(data), name, content_type)
    return world["writer"].post(f"{BASE}/units/{UNIT}/evidence", data=fields, content_type="multipart/form-data",
                                headers={**H, **(headers or {})})


def stored(world) -> list:
    return sorted(p.name for p in world["store"].rglob("*") if p.is_file()) if world["store"].exists() else []


def test_upload_records_the_hash_and_serves_the_file(world):
    """A PDF, a PNG and a DOCX are accepted by their content; each event records SHA-256, name, type and size;
    the unit downloads each file back byte for byte; the receipt covers the event."""
    for data, name, mime in ((a_pdf(), "รายงานการประชุม.pdf", "application/pdf"), (a_png(), "ภาพกิจกรรม.png", "image/png"),
                             (a_docx(), "บันทึก.docx",
                              "application/vnd.openxmlformats-officedocument.wordprocessingml.document")):
        answer = upload(world, data, name, public="true")
        assert answer.status_code == 201, answer.json
        assert answer.json["sha256"] == sha256_of(data) and answer.json["receipt"]["type"] == "EvidenceAttached"
        event = read_events(world["redis"], Tracker(world["redis"], world["settings"]).keys, UNIT)[-1]
        assert event.payload == {"sha256": sha256_of(data), "name": name, "content_type": mime, "size": len(data),
                                 "item_id": world["item"], "fiscal_year": None, "round": None, "public": True,
                                 "description": None}
        assert event.hash == answer.json["receipt"]["hash"]
        got = world["reader"].get(f"{BASE}/units/{UNIT}/evidence/{sha256_of(data)}", headers=H)
        assert got.status_code == 200 and got.data == data and got.mimetype == mime
        assert "attachment" in got.headers["Content-Disposition"] and got.headers["ETag"] == f'"{sha256_of(data)}"'
    assert len(stored(world)) == 3


def test_public_files_are_listed_and_served_to_anyone_private_ones_are_not(world, fake_redis, settings):
    """A public file shows on the item in the disclosure and anyone downloads it; a private one shows nowhere
    public and its public address is 404, while the unit still gets it; a file on a report entry shows there."""
    public, private = a_pdf("public"), a_pdf("private")
    assert upload(world, public, "สาธารณะ.pdf", public="true", description="ภาพถ่าย").status_code == 201
    assert upload(world, private, "ภายใน.pdf").status_code == 201
    doc = world["reader"].get(f"{BASE}/public/units/{UNIT}/disclosure/2564").json
    files = doc["plan"]["items"][0]["evidence"]
    assert [f["sha256"] for f in files] == [sha256_of(public)] and files[0]["description"] == "ภาพถ่าย"
    assert "ภายใน.pdf" not in str(doc) and doc["versions"][0]["type"] == "EvidenceAttached"
    anyone = world["reader"].get(f"{BASE}/public/units/{UNIT}/evidence/{sha256_of(public)}")
    assert anyone.status_code == 200 and anyone.data == public
    assert world["reader"].get(f"{BASE}/public/units/{UNIT}/evidence/{sha256_of(private)}").status_code == 404
    assert world["reader"].get(f"{BASE}/units/{UNIT}/evidence/{sha256_of(private)}", headers=H).data == private
    assert world["reader"].get(f"{BASE}/units/{UNIT}/evidence/{sha256_of(private)}",
                               headers={"X-Actor": "unit:3100200"}).status_code == 403
    report = world["writer"].put(f"{BASE}/units/{UNIT}/reports/2564/6", headers=H, json={"entries": [
        {"item_id": world["item"], "status": "completed"}]})
    assert report.status_code == 201, report.json
    before = world["reader"].get(f"{BASE}/public/units/{UNIT}/disclosure/2564/report-6.pdf")
    png = a_png()
    assert upload(world, png, "ภาพ.png", public="true", fiscal_year=2564, round=6).status_code == 201
    doc = world["reader"].get(f"{BASE}/public/units/{UNIT}/disclosure/2564").json
    assert [f["name"] for f in doc["reports"]["6"]["entries"][0]["evidence"]] == ["ภาพ.png"]
    assert doc["reports"]["6"]["version"] == doc["version"]          # the file is a new version of the report
    after = world["reader"].get(f"{BASE}/public/units/{UNIT}/disclosure/2564/report-6.pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(after.data)).pages)
    assert "ภาพ.png" in text and "ภาพ.png" not in "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(before.data)).pages)
    assert [f["name"] for f in doc["plan"]["items"][0]["evidence"]] == ["สาธารณะ.pdf"]


@pytest.mark.parametrize("data,name,content_type,why", [
    (b"just some text, not a PDF at all", "หลักฐาน.pdf", None, "ไม่ใช่ชนิดที่แนบได้"),
    (b"MZ\x90\x00\x03\x00\x00\x00 an executable", "setup.exe", None, "ไม่ใช่ชนิดที่แนบได้"),
    ("png", "ภาพ.pdf", None, "ไม่ตรงกับชื่อไฟล์"),
    ("pdf", "เอกสาร.pdf", "image/png", "ไม่ตรงกับชนิดที่ระบุ"),
], ids=["text-named-pdf", "executable", "png-named-pdf", "pdf-declared-png"])
def test_a_file_whose_content_is_not_its_claimed_type_is_refused_and_nothing_kept(world, data, name, content_type,
                                                                                   why):
    """415 with the reason in Thai; the log and the store are as before."""
    data = {"png": a_png(), "pdf": a_pdf()}.get(data, data)
    before, files = dump_log(world["redis"]), stored(world)
    answer = upload(world, data, name, content_type=content_type)
    assert answer.status_code == 415 and why in answer.json["message"], answer.json
    assert dump_log(world["redis"]) == before and stored(world) == files


def test_oversized_unknown_item_and_bad_form_keep_nothing(world, app_factory, fake_redis, settings, clock):
    """Over the limit: 413 naming it; an item the plan does not have: 404; a round without its year, or JSON
    instead of a file: 4xx; in every case the log and the store are unchanged."""
    small = settings.but(evidence_max_bytes=2000)
    from services.submission.app import create_app
    writer = create_app(small, redis=fake_redis, clock=clock, nudge=lambda s: None,
                        identify=actor_from_header).test_client()
    before, files = dump_log(world["redis"]), stored(world)
    big = a_pdf("x" * 10) + b"%" * 5000
    answer = writer.post(f"{BASE}/units/{UNIT}/evidence", data={"item_id": world["item"], "file": (io.BytesIO(big),
                                                                                                 "ใหญ่.pdf")},
                         content_type="multipart/form-data", headers=H)
    assert answer.status_code == 413 and "2,000" in answer.json["message"]
    assert upload(world, a_pdf(), "a.pdf", item_id="no-such-item").status_code == 404
    assert upload(world, a_pdf(), "a.pdf", round=6).status_code == 422
    assert upload(world, b"", "empty.pdf").status_code == 422
    as_json = world["writer"].post(f"{BASE}/units/{UNIT}/evidence", json={"item_id": world["item"]}, headers=H)
    assert as_json.status_code == 415
    assert world["writer"].post(f"{BASE}/units/{UNIT}/evidence", data={"item_id": world["item"]},
                                content_type="multipart/form-data", headers=H).status_code == 422
    other = world["writer"].post(f"{BASE}/units/{UNIT}/evidence", data={"item_id": world["item"], "file": (
        io.BytesIO(a_pdf()), "a.pdf")}, content_type="multipart/form-data", headers={"X-Actor": "unit:3100200"})
    assert other.status_code == 403
    assert dump_log(world["redis"]) == before and stored(world) == files


def test_same_request_again_records_once(world):
    """With the same Idempotency-Key the upload answers the first answer (200) and appends nothing more; the same
    file attached again to the same item is 409 no_change."""
    data = a_pdf("once")
    first = upload(world, data, "ครั้งเดียว.pdf", headers={"Idempotency-Key": "evidence-1"})
    again = upload(world, data, "ครั้งเดียว.pdf", headers={"Idempotency-Key": "evidence-1"})
    assert (first.status_code, again.status_code) == (201, 200) and again.json == first.json
    assert upload(world, data, "ครั้งเดียว.pdf").json["rule"] == "no_change"


def test_verify_names_a_changed_or_missing_file(world):
    """/verify is ok while every file hashes to its event; a file changed on disk, then one deleted, makes it
    name the attaching version and why."""
    first, second = a_pdf("one"), a_png()
    v1 = upload(world, first, "หนึ่ง.pdf").json["version"]
    v2 = upload(world, second, "สอง.png").json["version"]
    nacc = {"X-Actor": "nacc:nacc01"}
    assert world["reader"].get(f"{BASE}/units/{UNIT}/verify", headers=nacc).json["ok"] is True
    path = next(p for p in world["store"].rglob(sha256_of(second)))
    path.write_bytes(second + b"changed")
    bad = world["reader"].get(f"{BASE}/units/{UNIT}/verify", headers=nacc).json
    assert bad["ok"] is False and bad["first_bad_version"] == v2 and "was changed" in bad["reason"]
    next(p for p in world["store"].rglob(sha256_of(first))).unlink()
    bad = world["reader"].get(f"{BASE}/units/{UNIT}/verify", headers=nacc).json
    assert bad["first_bad_version"] == v1 and "missing" in bad["reason"]


def test_verify_all_catches_a_file_changed_on_disk(app_factory, real_redis, redis_server, settings, tmp_path):
    """On a real redis-server, verify-all passes while the files are whole and names the unit and version once a
    file in the store is changed."""
    writer = app_factory(real_redis).test_client()
    writer.put(f"{BASE}/units/{UNIT}/plan", json=PLAN, headers=H)
    item = writer.post(f"{BASE}/units/{UNIT}/plan/items", json=ITEM, headers=H).json["item_id"]
    data = a_pdf("all")
    answer = writer.post(f"{BASE}/units/{UNIT}/evidence", data={"item_id": item, "file": (io.BytesIO(data), "a.pdf")},
                         content_type="multipart/form-data", headers=H)
    assert answer.status_code == 201, answer.json
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": "8",
           "NCC_EVIDENCE_URL": settings.evidence_store_url}
    run = lambda: subprocess.run([sys.executable, "-m", "services.tracker.cli", "verify-all", "--jobs", "1"],  # noqa: E731
                                 env=env, capture_output=True, text=True, timeout=60)
    ok = run()
    assert ok.returncode == 0 and "0 bad" in ok.stdout, ok.stdout + ok.stderr
    stored_file = next(Path(settings.evidence_store_url.removeprefix("file://")).rglob(sha256_of(data)))
    stored_file.write_bytes(data[:-1] + b"X")
    bad = run()
    assert bad.returncode == 1 and f"BAD {UNIT}: version {answer.json['version']}" in bad.stdout
    assert "was changed" in bad.stdout


def test_the_store_is_any_fsspec_filesystem():
    """The same store code on fsspec's in-memory filesystem (as on S3 through s3fs): kept once under its hash,
    read back, and a changed or lost file told apart."""
    from shared.evidence import EvidenceStore
    store = EvidenceStore("memory://evidence-test")
    data = a_pdf("memory")
    sha = store.put(data)
    assert sha == sha256_of(data) and store.put(data) == sha and store.get(sha) == data and store.check(sha) is None
    assert store.path(sha) == f"/evidence-test/{sha[:2]}/{sha}"
    with store.fs.open(store.path(sha), "wb") as f:
        f.write(b"changed")
    assert store.check(sha) == "changed"
    store.fs.rm(store.path(sha))
    assert store.check(sha) == "missing" and store.get(sha) is None


def test_a_file_that_only_starts_like_its_kind_is_refused(world):
    """'%PDF' followed by a web page, a JPEG header over a script, a zip that is not a Word document: 415, and
    nothing kept."""
    files = stored(world)
    fake_docx = io.BytesIO()
    with zipfile.ZipFile(fake_docx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("evil.html", "<script>alert(1)</script>")
    for data, name in ((b"%PDF-1.7\n<html><script>alert(1)</script></html>", "a.pdf"),
                       (b"\xff\xd8\xff\xe0<script>alert(1)</script>", "a.jpg"),
                       (fake_docx.getvalue(), "a.docx")):
        answer = upload(world, data, name)
        assert answer.status_code == 415, (name, answer.json)
    assert stored(world) == files


def test_a_refusal_after_the_file_was_kept_writes_nothing_and_serves_nothing(world):
    """A stale If-Match (412) and an Idempotency-Key of another request (422) are decided after the file is kept:
    the log is unchanged, and the file, which no event names, is served to no one."""
    first = upload(world, a_pdf("first"), "first.pdf", headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    before = dump_log(world["redis"])
    stale_file, other_file = a_pdf("stale"), a_pdf("other")
    assert upload(world, stale_file, "stale.pdf", headers={"If-Match": '"1"'}).status_code == 412
    assert upload(world, other_file, "other.pdf", headers={"Idempotency-Key": "k-1"}).status_code == 422
    assert dump_log(world["redis"]) == before
    for data in (stale_file, other_file):
        assert world["reader"].get(f"{BASE}/units/{UNIT}/evidence/{sha256_of(data)}", headers=H).status_code == 404
        assert world["reader"].get(f"{BASE}/public/units/{UNIT}/evidence/{sha256_of(data)}").status_code == 404


def test_files_go_only_on_reports_that_may_still_be_corrected(world, app_factory, fake_redis, clock):
    """A file for a round with no report yet is 409 report_required; once the round has locked, 409 round_locked;
    nothing is kept either way."""
    files = stored(world)
    early = upload(world, a_pdf("early"), "early.pdf", fiscal_year=2564, round=6)
    assert early.status_code == 409 and early.json["rule"] == "report_required"
    assert world["writer"].put(f"{BASE}/units/{UNIT}/reports/2564/6", headers=H, json={"entries": [
        {"item_id": world["item"], "status": "completed"}]}).status_code == 201
    clock.advance(days=60)
    late = upload(world, a_pdf("late"), "late.pdf", fiscal_year=2564, round=6)
    assert late.status_code == 409 and late.json["rule"] == "round_locked"
    assert stored(world) == files


def test_a_published_file_can_be_withdrawn_and_published_again(world, clock):
    """Taking a file off the public pages (with a reason) hides it from the disclosure and its public address, and
    is a new published version; the unit still gets it; the same state again is 409; a report's file cannot be
    published again once the report has locked, but can always be withdrawn."""
    data = a_pdf("withdraw")
    attached = upload(world, data, "ข้อมูลส่วนบุคคล.pdf", public="true").json["version"]
    public_url = f"{BASE}/public/units/{UNIT}/evidence/{sha256_of(data)}"
    assert world["reader"].get(public_url).status_code == 200
    change = lambda public, reason="มีข้อมูลส่วนบุคคล": world["writer"].put(  # noqa: E731
        f"{BASE}/units/{UNIT}/evidence/{attached}/publicity", json={"public": public, "reason": reason}, headers=H)
    withdrawn = change(False)
    assert withdrawn.status_code == 201 and withdrawn.json["type"] == "EvidencePublicityChanged"
    doc = world["reader"].get(f"{BASE}/public/units/{UNIT}/disclosure/2564").json
    assert doc["plan"]["items"][0]["evidence"] == [] and doc["versions"][0]["version"] == withdrawn.json["version"]
    assert "ข้อมูลส่วนบุคคล.pdf" not in str(doc) and world["reader"].get(public_url).status_code == 404
    assert world["reader"].get(f"{BASE}/units/{UNIT}/evidence/{sha256_of(data)}", headers=H).data == data
    assert change(False).json["rule"] == "no_change"
    assert change(True).status_code == 201 and world["reader"].get(public_url).status_code == 200
    assert world["writer"].put(f"{BASE}/units/{UNIT}/evidence/999/publicity", json={"public": False, "reason": "x"},
                               headers=H).status_code == 404
    assert world["writer"].put(f"{BASE}/units/{UNIT}/reports/2564/6", headers=H, json={"entries": [
        {"item_id": world["item"], "status": "completed"}]}).status_code == 201
    on_report = upload(world, a_png(), "ภาพ.png", public="true", fiscal_year=2564, round=6).json["version"]
    clock.advance(days=60)
    url = f"{BASE}/units/{UNIT}/evidence/{on_report}/publicity"
    assert world["writer"].put(url, json={"public": False, "reason": "ผิดไฟล์"}, headers=H).status_code == 201
    locked = world["writer"].put(url, json={"public": True, "reason": "ขอเผยแพร่"}, headers=H)
    assert locked.status_code == 409 and locked.json["rule"] == "round_locked"
