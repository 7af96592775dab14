"""Property: for random command histories, live projection == rebuild (byte for byte), state at k == fold of k."""
from datetime import datetime

import fakeredis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from services.submission.app import create_app as create_writer
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.config import Settings
from shared.fiscal import BANGKOK
from shared.identity import actor_from_header
from shared.plan import UnitState, fold_onto, to_dict
from shared.streams import read_events
from tests.conftest import Clock, register_units
from tests.integration.test_rebuild import read_models

UNIT = {"X-Actor": "unit:3100100"}
SUP = {"X-Actor": "supervisor:sup01"}
NACC = {"X-Actor": "nacc:nacc01"}
B = "/api/v1/units/3100100"

op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from([[2563], [2564], [2563, 2564]]), st.integers(0, 99999)),
    st.tuples(st.just("edit"), st.integers(0, 9), st.sampled_from(["กองคลัง", "สำนักปลัด", "กองช่าง"])),
    st.tuples(st.just("budget"), st.integers(0, 9), st.integers(0, 5000)),
    st.tuples(st.just("remove"), st.integers(0, 9)),
    st.tuples(st.just("report"), st.sampled_from([6, 12]), st.lists(st.integers(0, 9), max_size=4),
              st.sampled_from(["not_started", "in_progress", "completed"])),
    st.tuples(st.just("review"), st.sampled_from([6, 12]), st.sampled_from(["accepted", "returned"])),
    st.tuples(st.just("exception"), st.sampled_from([6, 12])),
    st.tuples(st.just("advance"), st.integers(1, 120)),
    st.tuples(st.just("project"), st.integers(1, 7)),
)


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_live_projection_equals_rebuild_and_prefix_folds(ops):
    """Whatever the history and however projection is interleaved, the read models equal a rebuild from the log,
    and the state at every version equals the fold of that prefix; no request ever answers 5xx."""
    redis = fakeredis.FakeRedis()
    cfg = Settings(partitions=4, argon2_time_cost=1, argon2_memory_kib=8192)
    clock = Clock(datetime(2021, 3, 20, 9, 0, tzinfo=BANGKOK))
    writer_app = create_writer(cfg, redis=redis, clock=clock, identify=actor_from_header, nudge=lambda s: None)
    register_units(writer_app.extensions["ncc"]["service"])
    w = writer_app.test_client()
    assert w.put(f"{B}/plan", json={"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564},
                 headers=UNIT).status_code == 201
    items = []
    for kind, *args in ops:
        if kind == "add":
            rv = w.post(f"{B}/plan/items", json={"name": f"รายการ {len(items)}", "kind": "activity", "dimension": 3,
                                                 "sub_dimension": "3.1", "fiscal_years": args[0],
                                                 "budgets": {str(args[0][0]): f"{args[1]}.50"}}, headers=UNIT)
            if rv.status_code == 201:
                items.append(rv.json["item_id"])
        elif kind in ("edit", "budget", "remove") and items:
            item = items[args[0] % len(items)]
            if kind == "edit":
                rv = w.patch(f"{B}/plan/items/{item}", json={"responsible": args[1], "reason": "ปรับ"}, headers=UNIT)
            elif kind == "budget":
                rv = w.put(f"{B}/plan/items/{item}/budgets/2564", json={"amount": args[1], "reason": "ปรับ"},
                           headers=UNIT)
            else:
                rv = w.delete(f"{B}/plan/items/{item}", json={"reason": "ยกเลิก"}, headers=UNIT)
        elif kind == "report":
            chosen = {items[i % len(items)] for i in args[1]} if items else set()
            rv = w.put(f"{B}/reports/2564/{args[0]}", json={"entries": [
                {"item_id": i, "status": args[2]} for i in sorted(chosen)]}, headers=UNIT)
        elif kind == "review":
            rv = w.post(f"{B}/reports/2564/{args[0]}/review", json={"decision": args[1], "comment": "ตรวจแล้ว"},
                        headers=SUP)
        elif kind == "exception":
            until = clock.now.replace(microsecond=0).isoformat()
            rv = w.post(f"{B}/reports/2564/{args[0]}/exceptions", json={"until": until.replace(
                str(clock.now.year), str(clock.now.year + 1), 1), "reason": "เหตุจำเป็น"}, headers=NACC)
        elif kind == "advance":
            clock.advance(days=args[0])
            continue
        elif kind == "project":
            Tracker(redis, cfg.but(tracker_batch=args[0])).project("3100100")
            continue
        else:
            continue
        assert rv.status_code < 500, rv.json
    live = Tracker(redis, cfg.but(tracker_batch=3))
    live.project("3100100")
    live_models = read_models(redis)
    live.rebuild(["3100100"])
    assert read_models(redis) == live_models
    events = read_events(redis, live.keys, "3100100")
    live.project("registry")
    reader = create_reader(cfg, redis=redis, clock=clock, identify=actor_from_header).test_client()
    for k in sorted({0, 1, len(events) // 2, len(events)}):
        doc = reader.get(f"{B}/state?version={k}", headers=NACC)
        assert doc.status_code == 200, doc.json
        assert doc.json["state"] == to_dict(fold_onto(UnitState("3100100"), events[:k]))
