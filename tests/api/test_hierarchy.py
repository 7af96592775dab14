"""The supervision hierarchy: the tree as registry events, refusals that write nothing, scope over a subtree, and
rollups at every level that add up to the level above."""
import pytest

from services.submission import handlers
from services.submission.service import fingerprint
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM
from tests.conftest import dump_log

BASE = "/api/v1"
OPERATOR = {"X-Actor": "operator:op01"}
NACC = {"X-Actor": "nacc:nacc01"}
PLAN = {"title": "แผนปฏิบัติการ", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
# region -> two provinces -> three districts -> units; p1 also oversees a unit of its own
TREE = {"p1": "region", "p2": "region", "d1": "p1", "d2": "p1", "d3": "p2"}
UNITS = {"d1": ["3200101", "3200102"], "d2": ["3200201"], "d3": ["3200301", "3200302"], "p1": ["3200001"]}


def sup(name):
    return {"X-Actor": f"supervisor:{name}"}


@pytest.fixture
def tree(app_factory, fake_redis, settings, clock):
    clock.now = clock.now.replace(month=4, day=20)
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]

    def operate(decide, cmd):
        service.execute(REGISTRY_STREAM, lambda s, ctx: decide(s, cmd, ctx),
                        actor={"username": "op01", "role": "operator"}, fp=fingerprint("TEST", decide.__name__, cmd))

    for name in ["region", *TREE]:
        operate(handlers.create_account, {"username": name, "role": "supervisor", "name": f"หน่วยกำกับ {name}"})
    for code in [c for codes in UNITS.values() for c in codes]:
        operate(handlers.register_unit, {"code": code, "name_th": f"อบต. {code}", "kind": "subdistrict_administration",
                                         "province": "ขอนแก่น"})
    for child, parent in TREE.items():
        assert writer.put(f"{BASE}/supervisors/{child}/parent", json={"parent": parent, "reason": "โครงสร้าง"},
                          headers=OPERATOR).status_code == 201
    for name, codes in UNITS.items():
        operate(handlers.assign_units, {"supervisor": name, "units": codes})
    for code in ("3200101", "3200201", "3200301", "3200001"):          # four of the six report on time
        h = {"X-Actor": f"unit:{code}"}
        writer.put(f"{BASE}/units/{code}/plan", json=PLAN, headers=h)
        writer.put(f"{BASE}/units/{code}/reports/2564/6", json={"entries": []}, headers=h)
    tracker = Tracker(fake_redis, settings)
    for stream in [REGISTRY_STREAM, *[c for codes in UNITS.values() for c in codes]]:
        tracker.project(stream)
    reader = create_reader(settings, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()
    return {"writer": writer, "reader": reader, "service": service, "redis": fake_redis, "tracker": tracker}


def overview(tree, name, headers=None):
    rv = tree["reader"].get(f"{BASE}/supervisors/{name}/overview?fiscal_year=2564&round=6",
                            headers=headers or sup(name))
    assert rv.status_code == 200, rv.json
    return rv.json


def test_each_level_sees_its_whole_subtree_and_its_parts_add_up(tree):
    """The region's overview has every unit of the tree; each level's figures are its own units' plus its
    children's, at every level, and NACC's list of top supervisors holds the region with the same figures."""
    region = overview(tree, "region")
    assert sorted(r["unit"] for r in region["rows"]) == sorted(c for codes in UNITS.values() for c in codes)
    assert [c["supervisor"] for c in region["children"]] == ["p1", "p2"]
    for name in ("region", "p1", "p2", "d1"):
        doc = overview(tree, name)
        parts = [doc["own"], *doc["children"]]
        for key in ("expected", "submitted", "on_time"):
            assert doc[key] == sum(p[key] for p in parts), (name, key)
        for state, count in doc["counts"].items():
            assert count == sum(p["counts"][state] for p in parts), (name, state)
        for child in doc["children"]:            # a child's line is the child's own overview's figures
            below = overview(tree, child["supervisor"], sup(name))
            assert {k: below[k] for k in ("expected", "submitted", "on_time", "counts", "reporting_rate")} == {
                k: child[k] for k in ("expected", "submitted", "on_time", "counts", "reporting_rate")}
    assert (region["expected"], region["submitted"]) == (6, 4)
    assert overview(tree, "p1")["own"]["expected"] == 1 and overview(tree, "p1")["above"] == ["region"]
    assert overview(tree, "d1")["above"] == ["p1", "region"]
    top = tree["reader"].get(f"{BASE}/rounds/2564/6/supervisors", headers=NACC).json
    assert [c["supervisor"] for c in top["children"]] == ["region"]
    assert top["children"][0]["expected"] == 6 and top["children"][0]["submitted"] == 4 and top["rows"] == []


@pytest.mark.parametrize("who, path, status", [
    ("d1", "/units/3200101/status", 200),
    ("d1", "/units/3200201/status", 403),          # another district's unit
    ("d1", "/units/3200001/status", 403),          # its parent's own unit
    ("p1", "/units/3200101/status", 200),          # a unit of a district under it
    ("p1", "/units/3200301/status", 403),          # the other province's
    ("region", "/units/3200302/audit", 200),
    ("d1", "/supervisors/p1/overview", 403),       # its parent's rollup
    ("d1", "/supervisors/d2/overview", 403),       # a sibling's
    ("p1", "/supervisors/d2/overview", 200),
    ("p2", "/supervisors/d1/overview", 403),
    ("d1", "/rounds/2564/6/supervisors", 403),
])
def test_scope_is_the_subtree(tree, who, path, status):
    rv = tree["reader"].get(BASE + path, headers=sup(who))
    assert rv.status_code == status, rv.json


def test_reminding_and_exporting_reach_the_subtree_only(tree):
    body = {"fiscal_year": 2564, "round": 6, "message": "กรุณารายงานผล", "channel": "in_app"}
    assert tree["writer"].post(f"{BASE}/units/3200102/reminders", json=body, headers=sup("p1")).status_code == 201
    refused = tree["writer"].post(f"{BASE}/units/3200302/reminders", json=body, headers=sup("d1"))
    assert refused.status_code == 403 and "3200302" in refused.json["message"]
    csv = tree["reader"].get(f"{BASE}/rounds/2564/6/export.csv", headers=sup("p1")).get_data(as_text=True)
    assert all(code in csv for code in ("3200101", "3200102", "3200201", "3200001"))
    assert "3200301" not in csv


@pytest.mark.parametrize("who, body, status, words", [
    ("region", {"parent": "d1"}, 409, "cycle"),       # under its own grandchild
    ("p1", {"parent": "p1"}, 409, "cycle"),
    ("d1", {"parent": "nobody"}, 422, "nobody"),      # a parent that does not exist
    ("d1", {"parent": "3200101"}, 422, "3200101"),    # a unit is no supervisor
    ("ghost", {"parent": "p1"}, 404, "ghost"),
    ("d1", {"parent": "p1"}, 409, "already"),
    ("d1", {"parent": "not a name!"}, 422, "parent"),
    ("d1", {}, 422, "parent"),
])
def test_a_bad_tree_change_names_the_problem_and_writes_nothing(tree, who, body, status, words):
    before = dump_log(tree["redis"])
    rv = tree["writer"].put(f"{BASE}/supervisors/{who}/parent", json=body, headers=OPERATOR)
    assert rv.status_code == status and words in str(rv.json), rv.json
    assert dump_log(tree["redis"]) == before


def test_tree_changes_are_registry_events_with_their_history(tree):
    """Moving a district to the other province: one SupervisorParentSet event; the scopes follow at once, and
    putting a province directly under NACC takes it out of the region's reach."""
    assert tree["writer"].put(f"{BASE}/supervisors/d1/parent", json={"parent": "p2", "reason": "ย้ายสังกัด"},
                              headers=NACC).status_code == 201
    assert tree["writer"].put(f"{BASE}/supervisors/p1/parent", json={"parent": None}, headers=OPERATOR).status_code == 201
    assert tree["writer"].put(f"{BASE}/supervisors/p1/parent", json={"parent": "d1"},
                              headers=sup("p1")).status_code == 403
    tree["tracker"].project(REGISTRY_STREAM)
    registry = tree["service"].load(REGISTRY_STREAM)
    assert registry.scope_of("p2") == {"3200101", "3200102", "3200301", "3200302"}
    assert registry.scope_of("region") == registry.scope_of("p2") and registry.children_of(None) == ["p1", "region"]
    assert tree["reader"].get(f"{BASE}/units/3200201/status", headers=sup("region")).status_code == 403
    events = tree["reader"].get(f"{BASE}/units/3200101/status", headers=sup("p2"))
    assert events.status_code == 200
    from shared.streams import read_events
    moves = [e for e in read_events(tree["redis"], tree["service"].keys, REGISTRY_STREAM)
             if e.type == "SupervisorParentSet"]
    assert [(e.payload["supervisor"], e.payload["parent"]) for e in moves][-2:] == [("d1", "p2"), ("p1", None)]
    assert moves[-2].payload["reason"] == "ย้ายสังกัด" and moves[-2].actor["role"] == "nacc"


def test_escalations_reach_the_supervisor_then_the_level_above(tree, clock):
    """By the default escalation rule: 3 days after the due date a unit not reported is listed for the supervisor it
    is assigned to; 7 days later also for the supervisor above that; never further up, and never a unit that
    reported; nothing once the round locks."""
    from datetime import datetime
    from shared.fiscal import BANGKOK

    def escalated(name):
        return [(e["unit"], e["level"]) for e in overview(tree, name)["escalated"]]
    clock.now = datetime(2021, 5, 3, 8, 0, tzinfo=BANGKOK)          # due 30 April; the rule's instant is 3 May 09:00
    assert escalated("d1") == []
    clock.now = datetime(2021, 5, 3, 9, 30, tzinfo=BANGKOK)
    assert escalated("d1") == [("3200102", 1)] and escalated("d3") == [("3200302", 1)]
    assert escalated("p1") == [] and escalated("d2") == []
    clock.now = datetime(2021, 5, 10, 9, 30, tzinfo=BANGKOK)        # 7 days more: the level above
    assert escalated("p1") == [("3200102", 2)] and escalated("p2") == [("3200302", 2)]
    assert escalated("d1") == [("3200102", 1)] and escalated("region") == []
    assert overview(tree, "p1")["escalated"][0]["since"].startswith("2021-05-10T09:00")
    clock.now = datetime(2021, 5, 16, 9, 30, tzinfo=BANGKOK)        # locked on 15 May
    assert escalated("d1") == [] and escalated("p1") == []


def test_a_unit_has_one_supervisor(tree):
    """Assigning a unit that another supervisor oversees is refused naming both, nothing written: each level's
    figures stay the sum of its parts."""
    before = dump_log(tree["redis"])
    with pytest.raises(Exception) as refusal:
        tree["service"].execute(REGISTRY_STREAM, lambda s, ctx: handlers.assign_units(
            s, {"supervisor": "p1", "units": ["3200101"]}, ctx), actor={"username": "op01", "role": "operator"},
            fp=fingerprint("TEST", "twice", {}))
    assert getattr(refusal.value, "rule", None) == "already_supervised" and "d1" in str(refusal.value)
    assert dump_log(tree["redis"]) == before
