"""A whole round over a three-level supervision tree, driven by an injected clock every six hours from opening to
lock: every unit gets exactly the reminders its rules say (in the log and by e-mail), none after it reports; each
supervisor gets one digest a day with exactly the units escalated to its level; rollups at every level are the sum
of the level below."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from services.submission import handlers
from services.submission.digests import EscalationDigests
from services.submission.reminders import ReminderScheduler
from services.submission.service import fingerprint
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.fiscal import BANGKOK
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.outbox import Outbox
from shared.streams import read_events
from tests.api.test_write_api import ITEM, PLAN

OPERATOR = {"X-Actor": "operator:op01"}
TREE = {"p1": "region", "p2": "region", "d1": "p1", "d2": "p1", "d3": "p2"}
UNITS = {"d1": ["3300101", "3300102"], "d2": ["3300201"], "d3": ["3300301", "3300302"], "p1": ["3300001"]}
DEFAULTS = ["due-minus-14", "due-minus-3", "due-day", "due-plus-1", "lock-minus-3"]
# when each unit reports (Bangkok), None: never
REPORTS = {"3300101": datetime(2021, 4, 20, 10, 0), "3300201": datetime(2021, 5, 5, 8, 0),
           "3300302": datetime(2021, 4, 30, 8, 0), "3300102": None, "3300301": None, "3300001": None}


def days(first: date, last: date) -> list[str]:
    return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]


def test_a_whole_round_over_three_levels(app_factory, fake_redis, clock, keys, settings):
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]

    def operate(decide, cmd):
        service.execute(REGISTRY_STREAM, lambda s, ctx: decide(s, cmd, ctx),
                        actor={"username": "op01", "role": "operator"}, fp=fingerprint("TEST", decide.__name__, cmd))

    clock.now = datetime(2021, 3, 31, 0, 0, tzinfo=BANGKOK)
    every = [c for codes in UNITS.values() for c in codes]
    for name in ["region", *TREE]:
        operate(handlers.create_account, {"username": name, "role": "supervisor", "name": f"หน่วยกำกับ {name}"})
    for code in every:
        operate(handlers.register_unit, {"code": code, "name_th": f"อบต.ทดสอบ {code}",
                                         "kind": "subdistrict_administration", "province": "ขอนแก่น"})
        operate(handlers.create_account, {"username": code, "role": "unit", "name": f"อบต.ทดสอบ {code}"})
    for child, parent in TREE.items():
        assert writer.put(f"/api/v1/supervisors/{child}/parent", json={"parent": parent},
                          headers=OPERATOR).status_code == 201
    for name, codes in UNITS.items():
        operate(handlers.assign_units, {"supervisor": name, "units": codes})
    for username in ["region", *TREE, *every]:          # every account has a confirmed address
        assert writer.put(f"/api/v1/accounts/{username}/email", json={"email": f"{username}@example.go.th"},
                          headers=OPERATOR).status_code == 200, username
    # the province office over d3 adds a rule of its own: a week before the due date, to its subtree
    assert writer.put("/api/v1/reminder-rules/2564/6/week-before", headers={"X-Actor": "supervisor:p2"}, json={
        "anchor": "due_at", "offset_days": -7, "target": "not_submitted"}).status_code == 201
    items = {}
    for code in every:
        h = {"X-Actor": f"unit:{code}"}
        assert writer.put(f"/api/v1/units/{code}/plan", json=PLAN, headers=h).status_code == 201
        items[code] = writer.post(f"/api/v1/units/{code}/plan/items", json=ITEM, headers=h).json["item_id"]

    scheduler = ReminderScheduler(service, fake_redis, clock=clock)
    digests = EscalationDigests(service, fake_redis, clock=clock)
    while clock.now < datetime(2021, 5, 17, tzinfo=BANGKOK):
        for code, at in REPORTS.items():
            if at is not None and clock.now <= at.replace(tzinfo=BANGKOK) < clock.now + timedelta(hours=6):
                clock.now = at.replace(tzinfo=BANGKOK)
                assert writer.put(f"/api/v1/units/{code}/reports/2564/6", headers={"X-Actor": f"unit:{code}"}, json={
                    "entries": [{"item_id": items[code], "status": "completed", "spent": "900"}]}).status_code == 201
        for _ in range(2):                  # a second pass at the same instant sends nothing more
            scheduler.run_once()
            digests.run_once()
        clock.now = clock.now.replace(minute=0) + timedelta(hours=6) - timedelta(hours=clock.now.hour % 6)

    def sent(code):
        return [e.payload["rule"] for e in read_events(fake_redis, keys, code) if e.type == "ReminderSent"]
    short = lambda key: key.split("-national-")[-1] if "-national-" in key else key  # noqa: E731
    week = "reminder-2564-6-p2-week-before"
    assert [short(r) for r in sent("3300101")] == ["due-minus-14"]                     # reported 20 April
    assert [short(r) for r in sent("3300102")] == DEFAULTS
    assert [short(r) for r in sent("3300201")] == DEFAULTS[:4]                         # reported 5 May
    assert [short(r) for r in sent("3300301")] == ["due-minus-14", week] + DEFAULTS[1:]
    assert [short(r) for r in sent("3300302")] == ["due-minus-14", week, "due-minus-3"]  # reported 30 April 08:00
    assert [short(r) for r in sent("3300001")] == DEFAULTS                             # p1's own, outside p2's rule

    outbox = Outbox(fake_redis, keys, clock)
    for code in every:                       # one e-mail per reminder, to the unit's address, in Thai
        for key in sent(code):
            mail = outbox.get(f"{key}:{code}")
            assert mail and mail["to"] == f"{code}@example.go.th" and "ปีงบประมาณ 2564" in mail["subject"], (code, key)

    def digest(supervisor, day):
        mail = outbox.get(f"digest-{day}-{supervisor}")
        if mail is None:
            return None
        assert mail["to"] == f"{supervisor}@example.go.th"
        return sorted(code for code in every if code in mail["body"])
    window = (date(2021, 5, 3), date(2021, 5, 15))          # 3 days after the due date, until the lock
    expected = {s: {} for s in ["region", *TREE]}
    for day in days(*window):
        expected["d1"][day] = ["3300102"]
        expected["d3"][day] = ["3300301"]
        expected["p1"][day] = ["3300001"] + (["3300102"] if day >= "2021-05-10" else [])   # level 2 after 7 days
        if day >= "2021-05-10":
            expected["p2"][day] = ["3300301"]
            expected["region"][day] = ["3300001"]            # p1's own unit, one level up: never d1's units
    expected["d2"] = {"2021-05-03": ["3300201"], "2021-05-04": ["3300201"]}        # reported 5 May, 08:00
    for supervisor, by_day in expected.items():
        got = {day: digest(supervisor, day) for day in days(date(2021, 4, 1), date(2021, 5, 17))}
        assert {d: v for d, v in got.items() if v is not None} == by_day, supervisor
    assert "ยังไม่รายงานผล" in outbox.get("digest-2021-05-10-p1")["subject"]
    # a pass cut off before it marked its day done, run again: every digest is already queued, none twice
    fake_redis.srem(keys.reminders_done, "digest@2021-05-10")
    clock.now = datetime(2021, 5, 10, 12, 0, tzinfo=BANGKOK)
    again = digests.run_once()
    # (the sixth digest is sup01's, the test fixtures' supervisor of 3100100, which has no address: in the app only)
    assert again == {"digests": 6, "queued": 0, "already_queued": 5, "no_address": 1}

    tracker = Tracker(fake_redis, settings)
    for stream in [REGISTRY_STREAM, WINDOWS_STREAM, *every]:
        tracker.project(stream)
    reader = create_reader(settings, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()

    def overview(name):
        return reader.get(f"/api/v1/supervisors/{name}/overview?fiscal_year=2564&round=6",
                          headers={"X-Actor": f"supervisor:{name}"}).json
    for name in ["region", *TREE]:
        doc = overview(name)
        parts = [doc["own"], *doc["children"]]
        for key in ("expected", "submitted", "on_time"):
            assert doc[key] == sum(p[key] for p in parts), (name, key)
        assert doc["counts"] == {k: sum(p["counts"][k] for p in parts) for k in doc["counts"]}, name
        for child in doc["children"]:
            assert {k: child[k] for k in ("expected", "submitted", "counts")} == {
                k: overview(child["supervisor"])[k] for k in ("expected", "submitted", "counts")}
    region = overview("region")
    assert (region["expected"], region["submitted"], region["on_time"]) == (6, 3, 2)
