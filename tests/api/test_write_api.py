"""The write API against ../shared/API.md: every endpoint's success, and each refusal leaving the log untouched."""
import json
import unicodedata

import pytest
import redis as redis_lib

from shared.embedded import free_port
from shared.streams import read_events
from tests.conftest import dump_log

UNIT = {"X-Actor": "unit:3100100"}
OTHER_UNIT = {"X-Actor": "unit:3100200"}
SUP = {"X-Actor": "supervisor:sup01"}
NACC = {"X-Actor": "nacc:nacc01"}
AUDITOR = {"X-Actor": "auditor:aud01"}
BASE = "/api/v1"
PLAN = {"title": "แผนปฏิบัติการป้องกันการทุจริต 2561-2564", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
ITEM = {"name": "โครงการส่งเสริมคุณธรรมจริยธรรม", "kind": "project", "dimension": 1, "sub_dimension": "1.1",
        "fiscal_years": [2563, 2564], "budgets": {"2563": "20000", "2564": 35000.5},
        "responsible": "สำนักงานเลขานุการ", "target_groups": ["staff", "executives"]}


def redis_of(client):
    return client.application.extensions["ncc"]["service"].redis


def setup_plan(client):
    """A declared plan with one item; returns the item's id."""
    assert client.put(f"{BASE}/units/3100100/plan", json=PLAN, headers=UNIT).status_code == 201
    rv = client.post(f"{BASE}/units/3100100/plan/items", json=ITEM, headers=UNIT)
    assert rv.status_code == 201, rv.json
    return rv.json["item_id"]


def test_plan_changes_each_one_event(client, nudges):
    """PUT plan, add, edit, re-budget, remove: 201 each, version and ETag step by one, one nudge each."""
    item_id = setup_plan(client)
    steps = [
        client.patch(f"{BASE}/units/3100100/plan/items/{item_id}",
                     json={"objectives": "ให้บุคลากรมีคุณธรรม", "reason": "เพิ่มวัตถุประสงค์"}, headers=UNIT),
        client.put(f"{BASE}/units/3100100/plan/items/{item_id}/budgets/2564",
                   json={"amount": "40000.00", "reason": "ได้รับจัดสรรเพิ่ม"}, headers=UNIT),
        client.delete(f"{BASE}/units/3100100/plan/items/{item_id}", json={"reason": "ยกเลิกโครงการ"}, headers=UNIT),
        client.put(f"{BASE}/units/3100100/plan", json={**PLAN, "last_fiscal_year": 2565}, headers=UNIT),
    ]
    for version, rv in enumerate(steps, start=3):
        assert rv.status_code == 201, rv.json
        assert rv.json["version"] == version and rv.headers["ETag"] == f'"{version}"'
        assert rv.json["unit"] == "3100100" and rv.json["event_id"] and rv.json["recorded_at"].endswith("Z")
    events = read_events(redis_of(client), client.application.extensions["ncc"]["service"].keys, "3100100")
    assert [e.type for e in events] == ["PlanDeclared", "ItemAdded", "ItemEdited", "ItemBudgetChanged",
                                        "ItemRemoved", "PlanPeriodChanged"]
    assert events[1].payload["budgets"] == {"2563": "20000.00", "2564": "35000.50"}
    assert events[2].actor == {"username": "3100100", "role": "unit"}
    assert nudges == ["3100100"] * 6


def test_reports_reviews_reminders_exceptions_windows(client, clock):
    """Report (late), amendment, review, reminder, exception and window: each accepted as API.md says."""
    item_id = setup_plan(client)
    url = f"{BASE}/units/3100100/reports/2564/6"
    entry = {"item_id": item_id, "status": "in_progress", "spent": "1000.00", "outputs": "อบรม 2 รุ่น"}
    first = client.put(url, json={"entries": [entry], "note": "รายงานรอบ 6 เดือน"}, headers=UNIT)
    assert first.status_code == 201 and first.json["type"] == "ReportSubmitted" and first.json["late"] is True
    amended = client.put(url, json={"entries": [{**entry, "status": "completed"}]}, headers=UNIT)
    assert amended.json["type"] == "ReportAmended" and amended.json["amendment"] == 1
    review = client.post(f"{url}/review", json={"decision": "accepted", "comment": "ครบถ้วน"}, headers=SUP)
    assert review.status_code == 201 and review.json["type"] == "ReportReviewed"
    for who in (SUP, NACC):
        reminder = client.post(f"{BASE}/units/3100100/reminders",
                               json={"fiscal_year": 2564, "round": 12, "message": "โปรดรายงานผล"}, headers=who)
        assert reminder.status_code == 201 and reminder.json["type"] == "ReminderSent"
    exception = client.post(f"{url}/exceptions", json={"until": "2021-06-30T23:59:59+07:00", "reason": "ระบบขัดข้อง"},
                            headers=NACC)
    assert exception.status_code == 201 and exception.json["type"] == "ReportingExceptionGranted"
    window = client.put(f"{BASE}/windows/2564/12", json={"due_at": "2021-11-15T23:59:59+07:00",
                                                         "locks_at": "2021-11-30T23:59:59+07:00"}, headers=NACC)
    assert window.status_code == 201 and window.json["unit"] is None and window.json["stream"] == "windows"


def test_thai_text_round_trips_exactly_nfc(fast_client):
    """Thai text comes back as sent; a decomposed sequence is stored NFC-normalised."""
    setup_plan(fast_client)
    name = "โครงการ ประชาคมหมู่บ้าน ๒๕๖๔ — cafe\u0301"
    rv = fast_client.post(f"{BASE}/units/3100100/plan/items", json={**ITEM, "name": name}, headers=UNIT)
    service = fast_client.application.extensions["ncc"]["service"]
    stored = read_events(service.redis, service.keys, "3100100")[-1].payload["name"]
    assert rv.status_code == 201
    assert stored == unicodedata.normalize("NFC", name) and stored.endswith("café")
    raw = service.redis.xrange(service.keys.events("3100100"))[-1][1][b"e"]
    assert "ประชาคมหมู่บ้าน ๒๕๖๔".encode("utf-8") in raw


def test_idempotent_replay_and_mismatch(fast_client):
    """Same key and body: 200 with the first answer; same key, other body: 422; nothing written either time."""
    setup_plan(fast_client)
    headers = {**UNIT, "Idempotency-Key": "k-2564-1"}
    first = fast_client.post(f"{BASE}/units/3100100/plan/items", json=ITEM, headers=headers)
    before = dump_log(redis_of(fast_client))
    replay = fast_client.post(f"{BASE}/units/3100100/plan/items", json=ITEM, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json == first.json and replay.headers["ETag"] == first.headers["ETag"]
    other = fast_client.post(f"{BASE}/units/3100100/plan/items", json={**ITEM, "name": "อื่น"}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json["message"]
    assert dump_log(redis_of(fast_client)) == before


BIG = "ก" * (1024 * 1024)
REFUSALS = [
    # (id, method, path, body or raw, headers, status, words in message)
    ("no-identity", "post", "/units/3100100/plan/items", ITEM, {}, 401, "identity"),
    ("other-unit", "post", "/units/3100100/plan/items", ITEM, OTHER_UNIT, 403, "own"),
    ("auditor-writes", "put", "/units/3100100/plan", PLAN, AUDITOR, 403, "role auditor"),
    ("unit-sets-window", "put", "/windows/2564/6", {"due_at": "2021-05-01T00:00:00+07:00",
                                                     "locks_at": "2021-05-02T00:00:00+07:00"}, UNIT, 403, "role unit"),
    ("unit-reviews", "post", "/units/3100100/reports/2564/6/review", {"decision": "accepted"}, UNIT, 403, "role"),
    ("bad-unit-code", "put", "/units/31001/plan", PLAN, UNIT, 404, "7 digits"),
    ("unregistered-unit", "post", "/units/3100900/reminders", {"fiscal_year": 2564, "round": 6, "message": "x"},
     NACC, 404, "registered"),
    ("supervisor-other-unit", "post", "/units/3100200/reminders", {"fiscal_year": 2564, "round": 6, "message": "x"},
     SUP, 403, "oversees"),
    ("unknown-item", "patch", "/units/3100100/plan/items/nope", {"name": "x", "reason": "y"}, UNIT, 404, "no plan item"),
    ("round-7", "put", "/units/3100100/reports/2564/7", {"entries": []}, UNIT, 404, "round"),
    ("year-1999", "put", "/units/3100100/reports/1999/6", {"entries": []}, UNIT, 404, "fiscal year"),
    ("text-plain", "post", "/units/3100100/plan/items", "raw:name=x", {**UNIT, "Content-Type": "text/plain"}, 415,
     "Content-Type"),
    ("malformed-json", "post", "/units/3100100/plan/items", "raw:{\"name\": ", {**UNIT, "Content-Type": "application/json"},
     400, "not valid JSON"),
    ("nan", "post", "/units/3100100/plan/items", 'raw:{"budgets": {"2564": NaN}}',
     {**UNIT, "Content-Type": "application/json"}, 400, "not valid JSON"),
    ("bad-utf8", "post", "/units/3100100/plan/items", b"raw:{\"name\": \"\xff\"}",
     {**UNIT, "Content-Type": "application/json"}, 400, "UTF-8"),
    ("over-1mib", "post", "/units/3100100/plan/items", {**ITEM, "remarks": BIG}, UNIT, 413, ""),
    ("bad-if-match", "post", "/units/3100100/plan/items", ITEM, {**UNIT, "If-Match": "yesterday"}, 400, "If-Match"),
    ("bad-idem-key", "post", "/units/3100100/plan/items", ITEM, {**UNIT, "Idempotency-Key": "has space"}, 400,
     "Idempotency-Key"),
    ("unknown-field", "post", "/units/3100100/plan/items", {**ITEM, "colour": "red"}, UNIT, 422, "colour"),
    ("wrong-type", "post", "/units/3100100/plan/items", {**ITEM, "dimension": "one"}, UNIT, 422, "dimension"),
    ("float-year", "post", "/units/3100100/plan/items", {**ITEM, "fiscal_years": [2564.0]}, UNIT, 422, "fiscal_years"),
    ("missing-name", "post", "/units/3100100/plan/items", {k: v for k, v in ITEM.items() if k != "name"}, UNIT, 422,
     "name"),
    ("blank-name", "post", "/units/3100100/plan/items", {**ITEM, "name": "   "}, UNIT, 422, "blank"),
    ("lone-surrogate", "post", "/units/3100100/plan/items", 'raw:{"name": "\\ud800"}',
     {**UNIT, "Content-Type": "application/json"}, 422, "name"),
    ("control-char", "post", "/units/3100100/plan/items", {**ITEM, "name": "a\u0000b"}, UNIT, 422, "control"),
    ("not-an-object", "post", "/units/3100100/plan/items", [1, 2], UNIT, 422, "Invalid input type"),
    ("money-3dp", "put", "/units/3100100/plan/items/item001/budgets/2564", {"amount": "1.005", "reason": "x"}, UNIT,
     422, "amount"),
    ("negative-spent", "put", "/units/3100100/reports/2564/6",
     {"entries": [{"item_id": "item001", "status": "completed", "spent": -1}]}, UNIT, 422, "spent"),
    ("no-reason", "delete", "/units/3100100/plan/items/item001", {}, UNIT, 422, "reason"),
    ("not-feasible-no-reason", "put", "/units/3100100/reports/2564/6",
     {"entries": [{"item_id": "item001", "status": "not_feasible"}]}, UNIT, 422, "reason"),
    ("outside-cycle", "post", "/units/3100100/plan/items", {**ITEM, "fiscal_years": [2565], "budgets": {}}, UNIT, 422,
     "outside the plan cycle"),
    ("bad-sub-dimension", "post", "/units/3100100/plan/items", {**ITEM, "sub_dimension": "1.7"}, UNIT, 422,
     "sub-dimension"),
    ("round-not-open", "put", "/units/3100100/reports/2564/12", {"entries": []}, UNIT, 409, "opens at"),
    ("review-nothing", "post", "/units/3100100/reports/2564/6/review", {"decision": "accepted"}, SUP, 409,
     "nothing to review"),
    ("stale-if-match", "post", "/units/3100100/plan/items", ITEM, {**UNIT, "If-Match": '"1"'}, 412, "version 2"),
    ("budget-no-change", "put", "/units/3100100/plan/items/item001/budgets/2564", {"amount": "35000.50", "reason": "x"},
     UNIT, 409, "nothing to record"),
    ("window-out-of-order", "put", "/windows/2565/6", {"due_at": "2022-05-01T00:00:00+07:00",
                                                        "locks_at": "2022-04-01T00:00:00+07:00"}, NACC, 422, "order"),
    ("naive-instant", "post", "/units/3100100/reports/2564/6/exceptions", {"until": "2021-06-01T00:00:00",
                                                                           "reason": "x"}, SUP, 422, "until"),
]


@pytest.mark.parametrize("method, path, body, headers, status, words", [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_refusals_answer_4xx_with_reason_and_leave_log_untouched(fast_client, method, path, body, headers, status,
                                                                 words):
    """Each bad request gets its 4xx in API.md's error shape, naming why, and the store is byte-for-byte unchanged."""
    setup_plan(fast_client)
    before = dump_log(redis_of(fast_client))
    call = getattr(fast_client, method)
    if isinstance(body, (str, bytes)) and body[:4] in ("raw:", b"raw:"):
        rv = call(BASE + path, data=body[4:], headers=headers)
    else:
        rv = call(BASE + path, json=body, headers=headers)
    assert rv.status_code == status, rv.json
    assert rv.json["code"] == status and rv.json["status"] and rv.json["message"]
    assert words in rv.json["message"] + json.dumps(rv.json.get("errors", {}), ensure_ascii=False)
    assert dump_log(redis_of(fast_client)) == before


def test_locked_round_says_until_when_and_how(fast_client, clock):
    """After the lock the 409 names the lock time and the exception route."""
    setup_plan(fast_client)
    clock.advance(days=30)
    rv = fast_client.put(f"{BASE}/units/3100100/reports/2564/6", json={"entries": []}, headers=UNIT)
    assert rv.status_code == 409 and rv.json["rule"] == "round_locked"
    assert rv.json["locks_at"] == "2021-05-15T23:59:59+07:00" and "exceptions" in rv.json["message"]


def test_idempotency_records_last_the_plan_cycle_then_expire(client, clock):
    """A key used in the cycle's first year still replays in its last; the records live until a fiscal year after
    the plan cycle ends (30 September 2566 for 2561-2564), and extending the plan moves every year's record."""
    redis = redis_of(client)
    clock.now = clock.now.replace(year=2018, month=11)                        # fiscal year 2562
    assert client.put(f"{BASE}/units/3100100/plan", json=PLAN, headers={**UNIT, "Idempotency-Key": "p"}
                      ).status_code == 201
    first = client.post(f"{BASE}/units/3100100/plan/items", json=ITEM, headers={**UNIT, "Idempotency-Key": "k1"})
    assert first.status_code == 201
    clock.now = clock.now.replace(year=2021, month=5)                         # fiscal year 2564, three years on
    again = client.post(f"{BASE}/units/3100100/plan/items", json=ITEM, headers={**UNIT, "Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json["event_id"] == first.json["event_id"]
    item = {**ITEM, "name": "โครงการที่สอง"}
    assert client.post(f"{BASE}/units/3100100/plan/items", json=item, headers={**UNIT, "Idempotency-Key": "k2"}
                       ).status_code == 201
    keys = client.application.extensions["ncc"]["service"].keys
    ends = clock.now.replace(year=2022, month=9, day=30, hour=23, minute=59, second=59)   # end of FY 2565
    left = (ends - clock.now).total_seconds()
    assert abs(redis.ttl(keys.idempotency("3100100", 2564)) - left) < 5
    assert redis.ttl(keys.idempotency("3100100", 2562)) >= left - 5       # set in 2562 for longer (the store's
    extended = {**PLAN, "last_fiscal_year": 2566, "reason": "ขยายแผน"}      # clock, not this one, counts it down)
    assert client.put(f"{BASE}/units/3100100/plan", json=extended, headers={**UNIT, "Idempotency-Key": "p2"}
                      ).status_code == 201
    assert client.post(f"{BASE}/units/3100100/plan/items", json={**ITEM, "name": "โครงการที่สาม"},
                       headers={**UNIT, "Idempotency-Key": "k3"}).status_code == 201     # under the extended plan
    later = (ends.replace(year=2024) - clock.now).total_seconds()               # end of FY 2567
    assert redis.ttl(keys.idempotency("3100100", 2562)) >= later - 5
    assert abs(redis.ttl(keys.idempotency("3100100", 2564)) - later) < 5


def test_idempotency_keys_outlive_plan_changes_and_old_records_are_honoured(client, clock):
    """A key used before the plan's start was moved later still replays; after a cycle has ended a write keeps
    its record a year and leaves the old cycle's records to expire; a record kept by an earlier version (one hash
    per stream) is still honoured."""
    redis = redis_of(client)
    keys = client.application.extensions["ncc"]["service"].keys
    reminder = {"fiscal_year": 2562, "round": 6, "message": "โปรดจัดทำแผน"}
    clock.now = clock.now.replace(year=2018, month=11)                        # fiscal year 2562
    assert client.put(f"{BASE}/units/3100100/plan", json=PLAN, headers=UNIT).status_code == 201
    first = client.post(f"{BASE}/units/3100100/reminders", json=reminder, headers={**NACC, "Idempotency-Key": "r1"})
    assert first.status_code == 201
    clock.now = clock.now.replace(year=2021, month=5)                         # fiscal year 2564
    moved = {**PLAN, "first_fiscal_year": 2564, "last_fiscal_year": 2567, "reason": "เลื่อนแผน"}
    assert client.put(f"{BASE}/units/3100100/plan", json=moved, headers=UNIT).status_code == 201
    again = client.post(f"{BASE}/units/3100100/reminders", json=reminder, headers={**NACC, "Idempotency-Key": "r1"})
    assert again.status_code == 200 and again.json["event_id"] == first.json["event_id"]
    clock.now = clock.now.replace(year=2027, month=5)                         # fiscal year 2570, the cycle over
    cycle_ttl = redis.ttl(keys.idempotency("3100100", 2562))
    late = {"fiscal_year": 2567, "round": 12, "message": "ขอติดตามรายงาน"}
    assert client.post(f"{BASE}/units/3100100/reminders", json=late, headers={**NACC, "Idempotency-Key": "r2"}
                       ).status_code == 201
    year_ends = clock.now.replace(year=2028, month=9, day=30, hour=23, minute=59, second=59)   # end of FY 2571
    assert abs(redis.ttl(keys.idempotency("3100100", 2570)) - (year_ends - clock.now).total_seconds()) < 5
    assert redis.ttl(keys.idempotency("3100100", 2562)) <= cycle_ttl        # not moved on
    earlier = {"fiscal_year": 2567, "round": 6, "message": "บันทึกก่อนปรับรุ่น"}
    assert client.post(f"{BASE}/units/3100100/reminders", json=earlier, headers={**NACC, "Idempotency-Key": "r3"}
                       ).status_code == 201                    # the same request's fingerprint, as the write side makes it
    fp = json.loads(redis.hget(keys.idempotency("3100100", 2570), "r3"))["fingerprint"]
    redis.hset(keys.earlier_idempotency("3100100"), "r0", json.dumps(
        {"fingerprint": fp, "answer": {"event_id": "from-before", "unit": "3100100", "version": 1}}))
    replay = client.post(f"{BASE}/units/3100100/reminders", json=earlier, headers={**NACC, "Idempotency-Key": "r0"})
    assert replay.status_code == 200 and replay.json["event_id"] == "from-before"


def test_redis_down_is_503_and_readyz_says_so(app_factory):
    """With Redis unreachable, writes answer 503 (re-send with the same Idempotency-Key) and /readyz 503;
    /healthz stays 200."""
    dead = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    client = app_factory(dead, register=False).test_client()
    rv = client.put(f"{BASE}/units/3100100/plan", json=PLAN, headers=UNIT)
    assert rv.status_code == 503 and "Idempotency-Key" in rv.json["message"] and rv.headers["Retry-After"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_openapi_and_docs_served(fast_client):
    """OpenAPI 3 at /api/v1/openapi.json lists every write path; the docs page is served."""
    spec = fast_client.get(f"{BASE}/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert {"/api/v1/units/{code}/plan", "/api/v1/windows/{fiscal_year}/{round}",
            "/api/v1/units/{code}/reports/{fiscal_year}/{round}/exceptions"} <= set(spec["paths"])
    assert fast_client.get(f"{BASE}/docs").status_code == 200


def test_refused_write_is_not_nudged(fast_client, nudges):
    """Only accepted writes nudge the tracker."""
    fast_client.post(f"{BASE}/units/3100100/plan/items", json=ITEM, headers=UNIT)
    assert nudges == []


def test_a_review_names_the_entries_that_need_work_and_the_amendment_answers_them(app_factory, fake_redis,
                                                                                  settings, clock):
    """A returned report names entries with a comment each (one event); the unit's correction answers each entry;
    the audit trail shows the comments and the answers; a comment on an entry the report has not is 422, and an
    accepted report takes no entry comments."""
    from services.tracker.app import create_app as create_reader
    from services.tracker.jobs import Tracker
    from shared.identity import actor_from_header
    client = app_factory(fake_redis).test_client()
    unit, sup = {"X-Actor": "unit:3100100"}, {"X-Actor": "supervisor:sup01"}
    client.put("/api/v1/units/3100100/plan", json=PLAN, headers=unit)
    first = client.post("/api/v1/units/3100100/plan/items", json=ITEM, headers=unit).json["item_id"]
    second = client.post("/api/v1/units/3100100/plan/items", json={**ITEM, "name": "มาตรการที่สอง"},
                         headers=unit).json["item_id"]
    assert client.put("/api/v1/units/3100100/reports/2564/6", headers=unit, json={"entries": [
        {"item_id": first, "status": "in_progress"}, {"item_id": second, "status": "completed"}]}).status_code == 201
    review = "/api/v1/units/3100100/reports/2564/6/review"
    bad = client.post(review, headers=sup, json={"decision": "returned", "entries": [
        {"item_id": "nope", "comment": "x"}]})
    assert bad.status_code == 422 and "entries" in bad.json["errors"]["json"], bad.json
    assert client.post(review, headers=sup, json={"decision": "accepted", "entries": [
        {"item_id": first, "comment": "x"}]}).status_code == 422
    returned = client.post(review, headers=sup, json={"decision": "returned", "entries": [
        {"item_id": first, "comment": "ใส่งบที่เบิกจ่ายด้วย"}]})
    assert returned.status_code == 201, returned.json
    amended = client.put("/api/v1/units/3100100/reports/2564/6", headers=unit, json={"entries": [
        {"item_id": first, "status": "in_progress", "spent": "1200", "response": "เพิ่มยอดเบิกจ่ายแล้ว"},
        {"item_id": second, "status": "completed"}]})
    assert amended.status_code == 201, amended.json
    for stream in ("registry", "3100100"):
        Tracker(fake_redis, settings).project(stream)
    reader = create_reader(settings, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()
    audit = reader.get("/api/v1/units/3100100/audit", headers=unit)
    assert audit.status_code == 200, audit.json
    trail = audit.json["entries"]
    reviewed = next(e for e in trail if e["type"] == "ReportReviewed")
    assert {"field": f"entries.{first}.review_comment", "old": None, "new": "ใส่งบที่เบิกจ่ายด้วย"} in reviewed["changes"]
    corrected = next(e for e in trail if e["type"] == "ReportAmended")
    assert {"field": f"entries.{first}.response", "old": None, "new": "เพิ่มยอดเบิกจ่ายแล้ว"} in corrected["changes"]
    state = reader.get("/api/v1/units/3100100/state", headers=unit).json["state"]
    assert state["reports"]["2564:6"]["review"] is None            # the correction opens it again
    at_review = reader.get(f"/api/v1/units/3100100/state?version={returned.json['version']}", headers=unit).json
    assert at_review["state"]["reports"]["2564:6"]["review"]["entries"] == [
        {"item_id": first, "comment": "ใส่งบที่เบิกจ่ายด้วย"}]
