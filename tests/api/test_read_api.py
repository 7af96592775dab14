"""The tracker's read API: status, audit paging and filters, overviews, compliance, exports, lag, access."""
import csv
import io

import pytest
from openpyxl import load_workbook

from services.submission import handlers
from services.submission.service import fingerprint
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM

BASE = "/api/v1"
NACC = {"X-Actor": "nacc:nacc01"}
AUDITOR = {"X-Actor": "auditor:aud01"}
SUP = {"X-Actor": "supervisor:sup01"}
PLAN = {"title": "แผนปฏิบัติการ", "first_fiscal_year": 2561, "last_fiscal_year": 2564}


def unit_headers(code):
    return {"X-Actor": f"unit:{code}"}


@pytest.fixture
def world(app_factory, fake_redis, settings, clock):
    """Three units (two supervised by sup01), reports in various states, everything projected."""
    clock.now = clock.now.replace(month=4, day=20)
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.assign_units(
        s, {"supervisor": "sup01", "units": ["3100100", "3100200"]}, ctx),
        actor={"username": "op1", "role": "operator"}, fp=fingerprint("CLI", "x", {}))
    for code in ("3100100", "3100200", "3100300"):
        h = unit_headers(code)
        writer.put(f"{BASE}/units/{code}/plan", json=PLAN, headers=h)
        writer.post(f"{BASE}/units/{code}/plan/items", json={
            "name": "โครงการปลูกจิตสำนึก", "kind": "project", "dimension": 1, "sub_dimension": "1.2",
            "fiscal_years": [2564], "budgets": {"2564": "10000"}}, headers=h)
    item = lambda code: handlers_item(writer, code)  # noqa: E731
    clock.now = clock.now.replace(month=4, day=25)           # on time for 3100100
    writer.put(f"{BASE}/units/3100100/reports/2564/6", json={"entries": [
        {"item_id": item("3100100"), "status": "completed"}]}, headers=unit_headers("3100100"))
    clock.now = clock.now.replace(month=5, day=3)            # late for 3100300
    writer.put(f"{BASE}/units/3100300/reports/2564/6", json={"entries": []}, headers=unit_headers("3100300"))
    tracker = Tracker(fake_redis, settings)
    for stream in ("3100100", "3100200", "3100300", REGISTRY_STREAM):
        tracker.project(stream)
    return {"writer": writer, "reader": create_reader(settings, redis=fake_redis, clock=clock,
                                           identify=actor_from_header).test_client(),
            "tracker": tracker}


def handlers_item(writer, code):
    service = writer.application.extensions["ncc"]["service"]
    state = service.load(code)
    return next(iter(state.items))


def test_status_shows_plan_and_rounds(world):
    """The unit sees its plan summary and each round's state, dates and completeness."""
    status = world["reader"].get(f"{BASE}/units/3100100/status", headers=unit_headers("3100100")).json
    assert status["plan"]["budget_by_year"]["2564"] == "10000.00" and status["plan"]["items"] == 1
    assert (status["name_th"], status["province"]) == ("หน่วยงานทดสอบ 3100100", "กรุงเทพมหานคร")
    r6 = next(r for r in status["rounds"] if (r["fiscal_year"], r["round"]) == (2564, 6))
    assert r6["state"] == "submitted" and r6["complete"] is True and r6["implementation_rate"] == "1.0000"
    assert r6["due_at"] == "2021-04-30T23:59:59+07:00" and r6["locks_at"] == "2021-05-15T23:59:59+07:00"
    r12 = next(r for r in status["rounds"] if (r["fiscal_year"], r["round"]) == (2564, 12))
    assert r12["state"] == "not_open"
    other = world["reader"].get(f"{BASE}/units/3100200/status", headers=SUP).json
    assert next(r for r in other["rounds"] if (r["fiscal_year"], r["round"]) == (2564, 6))["state"] == "overdue"


def test_status_shows_lag_until_projected(world):
    """A write not yet projected shows as lag on the unit and in the total."""
    world["writer"].post(f"{BASE}/units/3100100/reminders", json={"fiscal_year": 2564, "round": 12,
                                                                  "message": "เตือน"}, headers=NACC)
    status = world["reader"].get(f"{BASE}/units/3100100/status", headers=NACC).json
    assert status["lag"] == 1 and status["log_version"] == status["version"] + 1
    lag = world["reader"].get(f"{BASE}/lag", headers=NACC).json
    assert lag["events_behind"] == 1 and lag["streams_behind"] == 1 and lag["oldest_unprojected_age_seconds"] >= 0


def test_audit_paging_and_filters(world):
    """Oldest first, cursor paging that neither skips nor repeats, filters by type and time."""
    reader = world["reader"]
    page1 = reader.get(f"{BASE}/units/3100100/audit?limit=2", headers=AUDITOR).json
    assert [e["position"] for e in page1["entries"]] == [1, 2] and page1["next_cursor"] == "3"
    page2 = reader.get(f"{BASE}/units/3100100/audit?limit=2&cursor={page1['next_cursor']}", headers=AUDITOR).json
    assert [e["position"] for e in page2["entries"]] == [3] and page2["next_cursor"] is None
    typed = reader.get(f"{BASE}/units/3100100/audit?type=ReportSubmitted,ItemAdded", headers=AUDITOR).json
    assert [e["type"] for e in typed["entries"]] == ["ItemAdded", "ReportSubmitted"]
    since = reader.get(f"{BASE}/units/3100100/audit?since=2021-04-25T00:00:00%2B07:00", headers=AUDITOR).json
    assert [e["type"] for e in since["entries"]] == ["ReportSubmitted"]
    until = reader.get(f"{BASE}/units/3100100/audit?until=2021-04-24T00:00:00Z", headers=AUDITOR).json
    assert [e["position"] for e in until["entries"]] == [1, 2]
    bad = reader.get(f"{BASE}/units/3100100/audit?limit=0", headers=AUDITOR)
    assert bad.status_code == 422 and "limit" in bad.json["message"]


def test_supervisor_overview_counts_and_rates(world):
    """Counts per state, reporting and on-time rates over the supervisor's units, one row each."""
    doc = world["reader"].get(f"{BASE}/supervisors/sup01/overview?fiscal_year=2564&round=6", headers=SUP).json
    assert doc.get("expected") == 2, doc
    assert [r["unit"] for r in doc["rows"]] == ["3100100", "3100200"]
    assert doc["counts"]["submitted"] == 1 and doc["counts"]["overdue"] == 1
    assert {(r["name_th"], r["province"], r["kind"]) for r in doc["rows"]} == {
        (f"หน่วยงานทดสอบ {c}", "กรุงเทพมหานคร", "district_office") for c in ("3100100", "3100200")}
    assert doc["reporting_rate"] == 0.5 and doc["on_time_rate"] == 0.5
    default = world["reader"].get(f"{BASE}/supervisors/sup01/overview", headers=SUP).json
    assert (default["fiscal_year"], default["round"]) == (2564, 6)


def test_national_compliance(world):
    """Every unit with a plan for the year: submitted 2 of 3, on time 1 of 3."""
    doc = world["reader"].get(f"{BASE}/rounds/2564/6/compliance", headers=NACC).json
    assert doc["expected"] == 3 and doc["submitted"] == 2 and doc["on_time"] == 1
    assert doc["counts"]["submitted_late"] == 1
    assert doc["reporting_rate"] == 0.6667 and doc["on_time_rate"] == 0.3333
    row = next(r for r in doc["rows"] if r["unit"] == "3100300")
    assert (row["name_th"], row["province"], row["kind"]) == ("หน่วยงานทดสอบ 3100300", "กรุงเทพมหานคร",
                                                             "district_office")


def test_window_extension_changes_on_time_rate(world, settings):
    """NACC moving the due date makes an earlier late report on time, without touching the unit's log."""
    world["writer"].put(f"{BASE}/windows/2564/6", json={"due_at": "2021-05-10T23:59:59+07:00",
                                                        "locks_at": "2021-05-31T23:59:59+07:00"}, headers=NACC)
    world["tracker"].project(WINDOWS_STREAM)
    doc = world["reader"].get(f"{BASE}/rounds/2564/6/compliance", headers=NACC).json
    assert doc["on_time"] == 2 and doc["due_at"] == "2021-05-10T23:59:59+07:00"


def test_exports_csv_and_xlsx(world):
    """CSV (UTF-8 with BOM) and a real XLSX, Thai headers, one row per unit; supervisors get their units."""
    reader = world["reader"]
    raw = reader.get(f"{BASE}/rounds/2564/6/export.csv", headers=NACC)
    assert raw.status_code == 200 and raw.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(raw.data.decode("utf-8-sig"))))
    assert rows[0][0] == "รหัสหน่วยงาน (unit)" and [r[0] for r in rows[1:]] == ["3100100", "3100200", "3100300"]
    assert rows[0][1:3] == ["ชื่อหน่วยงาน (name_th)", "จังหวัด (province)"]
    assert rows[1][1:3] == ["หน่วยงานทดสอบ 3100100", "กรุงเทพมหานคร"]
    xlsx = reader.get(f"{BASE}/rounds/2564/6/export.xlsx", headers=SUP)
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = list(sheet.values)
    assert values[0][3] == "สถานะการรายงาน (state)" and [v[0] for v in values[1:]] == ["3100100", "3100200"]
    assert values[1][1:3] == ("หน่วยงานทดสอบ 3100100", "กรุงเทพมหานคร") and values[1][7] == "ใช่"


def test_compliance_pages_by_unit_code_and_streams_every_row(world):
    """limit and cursor page the rows by unit code, neither skipping nor repeating; limit=0 gives the figures
    alone; without limit every row comes (streamed), and every page carries the same national figures."""
    reader = world["reader"]
    every = reader.get(f"{BASE}/rounds/2564/6/compliance", headers=NACC).json
    first = reader.get(f"{BASE}/rounds/2564/6/compliance?limit=2", headers=NACC).json
    assert [r["unit"] for r in first["rows"]] == ["3100100", "3100200"] and first["next_cursor"] == "3100200"
    second = reader.get(f"{BASE}/rounds/2564/6/compliance?limit=2&cursor=3100200", headers=NACC).json
    assert [r["unit"] for r in second["rows"]] == ["3100300"] and second["next_cursor"] is None
    assert first["rows"] + second["rows"] == every["rows"] and every["next_cursor"] is None
    figures = reader.get(f"{BASE}/rounds/2564/6/compliance?limit=0", headers=NACC).json
    assert figures["rows"] == [] and figures["next_cursor"] is None
    for doc in (first, second, figures):
        assert {k: doc[k] for k in ("expected", "submitted", "on_time", "counts", "reporting_rate")} == {
            k: every[k] for k in ("expected", "submitted", "on_time", "counts", "reporting_rate")}
    page = reader.get(f"{BASE}/supervisors/sup01/overview?fiscal_year=2564&round=6&limit=1", headers=SUP).json
    assert [r["unit"] for r in page["rows"]] == ["3100100"] and page["next_cursor"] == "3100100"
    assert page["expected"] == 2 and page["submitted"] == 1
    assert reader.get(f"{BASE}/rounds/2564/6/compliance?limit=1001", headers=NACC).status_code == 422
    assert reader.get(f"{BASE}/rounds/2564/6/compliance?cursor=31", headers=NACC).status_code == 422


def test_a_report_projected_before_its_units_registration_is_not_counted_yet(world):
    """A unit registered and reporting whose registration the tracker has not projected yet (the registry is
    another stream) is neither expected nor counted nationally; once it is, it is both."""
    service = world["writer"].application.extensions["ncc"]["service"]
    service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.register_unit(
        s, {"code": "3100400", "name_th": "หน่วยงานใหม่", "kind": "district_office", "province": "กรุงเทพมหานคร"},
        ctx), actor={"username": "op1", "role": "operator"}, fp=fingerprint("CLI", "3100400", {}))
    writer, h = world["writer"], unit_headers("3100400")
    writer.put(f"{BASE}/units/3100400/plan", json=PLAN, headers=h)
    assert writer.put(f"{BASE}/units/3100400/reports/2564/6", json={"entries": []}, headers=h).status_code == 201
    world["tracker"].project("3100400")
    doc = world["reader"].get(f"{BASE}/rounds/2564/6/compliance", headers=NACC).json
    assert (doc["expected"], doc["submitted"], doc["on_time"], sum(doc["counts"].values())) == (3, 2, 1, 3)
    assert min(doc["counts"].values()) >= 0 and [r["unit"] for r in doc["rows"]] == ["3100100", "3100200", "3100300"]
    world["tracker"].project(REGISTRY_STREAM)
    doc = world["reader"].get(f"{BASE}/rounds/2564/6/compliance", headers=NACC).json
    assert (doc["expected"], doc["submitted"], sum(doc["counts"].values())) == (4, 3, 4)


HOSTILE = ["=HYPERLINK(\"http://example.invalid\",\"คลิก\")", "+1+1", "-2+3", "@SUM(A1:A2)"]


def test_exports_write_formula_like_text_as_text(world):
    """Names that a spreadsheet would run as formulas (=, +, -, @) are exported as text: an apostrophe before
    them in the CSV, string cells in the XLSX; nothing else is changed."""
    service = world["writer"].application.extensions["ncc"]["service"]
    for n, name in enumerate(HOSTILE):
        service.execute(REGISTRY_STREAM, lambda s, ctx, n=n, name=name: handlers.register_unit(
            s, {"code": f"310090{n}", "name_th": name, "kind": "district_office", "province": name}, ctx),
            actor={"username": "op1", "role": "operator"}, fp=fingerprint("CLI", name, {}))
    world["tracker"].project(REGISTRY_STREAM)
    reader = world["reader"]
    rows = list(csv.reader(io.StringIO(reader.get(f"{BASE}/rounds/2564/6/export.csv", headers=NACC)
                                       .data.decode("utf-8-sig"))))
    exported = {r[0]: r for r in rows[1:]}
    for n, name in enumerate(HOSTILE):
        assert exported[f"310090{n}"][1:3] == ["'" + name, "'" + name]
    assert exported["3100100"][1] == "หน่วยงานทดสอบ 3100100"
    sheet = load_workbook(io.BytesIO(reader.get(f"{BASE}/rounds/2564/6/export.xlsx", headers=NACC).data)).active
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for n, name in enumerate(HOSTILE):
        assert [(c.value, c.data_type) for c in cells[f"310090{n}"][1:3]] == [(name, "s"), (name, "s")]
    assert cells["3100100"][8].data_type == "n"          # amendments stay a number


@pytest.mark.parametrize("path, headers, status", [
    ("/units/3100100/status", {}, 401),
    ("/units/3100100/audit?limit=0", {}, 401),
    ("/units/3100100/status", unit_headers("3100200"), 403),
    ("/units/3100300/status", SUP, 403),
    ("/units/3100300/audit", SUP, 403),
    ("/supervisors/sup01/overview", {"X-Actor": "supervisor:sup02"}, 403),
    ("/supervisors/sup01/overview", unit_headers("3100100"), 403),
    ("/rounds/2564/6/compliance", SUP, 403),
    ("/rounds/2564/6/export.csv", unit_headers("3100100"), 403),
    ("/lag", unit_headers("3100100"), 403),
    ("/units/31001/status", NACC, 404),
    ("/units/3100900/status", NACC, 404),
    ("/supervisors/nobody/overview", NACC, 404),
    ("/rounds/2564/7/compliance", NACC, 404),
    ("/supervisors/sup01/overview?fiscal_year=2564", NACC, 422),
    ("/units/3100100/audit?cursor=20456947372149428224", NACC, 422),
    ("/units/3100100/state?version=99999999999999999999", NACC, 422),
    ("/units/3100100/events?until_version=99999999999999999999", NACC, 422),
], ids=["no-identity", "no-identity-before-query", "other-unit", "unsupervised-unit", "unsupervised-audit", "other-supervisor",
        "unit-overview", "supervisor-compliance", "unit-export", "unit-lag", "bad-code", "unregistered", "unknown-supervisor",
        "bad-round", "half-a-round", "cursor-beyond-redis", "version-beyond-redis", "until-beyond-redis"])
def test_read_refusals(world, path, headers, status):
    """Who may read what, per role and scope; bad paths and queries are 4xx with a reason."""
    rv = world["reader"].get(BASE + path, headers=headers)
    assert rv.status_code == status and rv.json["message"]


def test_read_openapi_health(world):
    """The tracker serves its OpenAPI document, docs page, /healthz and /readyz."""
    reader = world["reader"]
    assert "/api/v1/units/{code}/audit" in reader.get(f"{BASE}/openapi.json").json["paths"]
    assert reader.get(f"{BASE}/docs").status_code == 200
    assert reader.get("/healthz").status_code == 200 and reader.get("/readyz").status_code == 200
