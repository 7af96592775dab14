"""Property: for random command histories, live projection == rebuild (byte for byte), state at k == fold of k,
and rollups (national from the sorted sets, per supervisor from the facts) == a rollup folded from the log."""
from datetime import datetime, timedelta

import fakeredis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from services.submission.app import create_app as create_writer
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from services.tracker.projector import STATES, SUBMITTED_STATES, classify, on_time, round_facts
from services.tracker.queries import EMPTY_FACTS, Queries
from shared import fiscal
from shared.config import Settings
from shared.fiscal import BANGKOK
from shared.identity import actor_from_header
from shared.plan import UnitState, fold_onto, to_dict
from shared.streams import read_events
from tests.conftest import TEST_UNITS, Clock, register_units
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
    st.tuples(st.just("window"), st.sampled_from([6, 12]), st.integers(-40, 40), st.integers(0, 20)),
    st.tuples(st.just("other"), st.sampled_from(["3100200", "3100300"]), st.sampled_from([6, 12])),
)


def rollup_figures(doc: dict) -> dict:
    """What a rollup counts: expected, submitted, on time, per state, and each unit's state and on-time flag."""
    return {"expected": doc["expected"], "submitted": doc["submitted"], "on_time": doc["on_time"],
            "counts": doc["counts"], "rows": [(r["unit"], r["state"], r["on_time"]) for r in doc["rows"]]}


def folded_rollup(redis, keys, window, now) -> dict:
    """The same figures computed from the log alone: each registered unit's stream folded, its facts for the
    round classified at ``now``."""
    counts, rows = dict.fromkeys(STATES, 0), []
    for unit in TEST_UNITS:
        state = fold_onto(UnitState(unit), read_events(redis, keys, unit))
        facts = round_facts(state).get((window.fiscal_year, window.round)) or {
            **EMPTY_FACTS, "fiscal_year": window.fiscal_year, "round": window.round}
        rows.append((unit, classify(facts, window, now), on_time(facts, window)))
        counts[rows[-1][1]] += 1
    return {"expected": len(rows), "submitted": sum(r[1] in SUBMITTED_STATES for r in rows),
            "on_time": sum(r[2] for r in rows), "counts": counts, "rows": rows}


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25))
def test_live_projection_equals_rebuild_and_prefix_folds(ops):
    """Whatever the history and however projection is interleaved, the read models equal a rebuild from the log,
    the state at every version equals the fold of that prefix, and the national rollup (counted from the round's
    sorted sets) and a supervisor's (from the facts) equal a rollup folded from the log at every instant around
    the round's dates; no request ever answers 5xx."""
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
        elif kind == "window":
            due = fiscal.default_window(2564, args[0], 15).due_at + timedelta(days=args[1])
            rv = w.put(f"/api/v1/windows/2564/{args[0]}", json={
                "due_at": due.isoformat(), "locks_at": (due + timedelta(days=args[2])).isoformat()}, headers=NACC)
        elif kind == "other":          # another unit reports (with a plan of one item), so rollups see several
            other = f"/api/v1/units/{args[0]}"
            head = {"X-Actor": f"unit:{args[0]}"}
            if w.put(f"{other}/plan", json={"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564},
                     headers=head).status_code == 201:
                w.post(f"{other}/plan/items", json={"name": "รายการ", "kind": "activity", "dimension": 1,
                                                    "sub_dimension": "1.1", "fiscal_years": [2564]}, headers=head)
            rv = w.put(f"{other}/reports/2564/{args[1]}", json={"entries": []}, headers=head)
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
    for stream in live.models.streams():
        live.project(stream)
    live_models = read_models(redis)
    live.rebuild()
    assert read_models(redis) == live_models
    queries = Queries(live.models, cfg.lock_grace_days)
    windows = queries.windows()
    for round_ in (6, 12):
        window = windows.window(2564, round_, cfg.lock_grace_days)
        tick = timedelta(microseconds=1)
        for now in (clock.now, window.opens_at - tick, window.due_at, window.due_at + tick, window.locks_at,
                    window.locks_at + tick, clock.now + timedelta(days=400)):
            assert rollup_figures(queries.rollup(2564, round_, now)) == folded_rollup(redis, live.keys, window, now)
            assert rollup_figures(queries.rollup(2564, round_, now, list(TEST_UNITS))) == \
                folded_rollup(redis, live.keys, window, now)
    events = read_events(redis, live.keys, "3100100")
    live.project("registry")
    reader = create_reader(cfg, redis=redis, clock=clock, identify=actor_from_header).test_client()
    for k in sorted({0, 1, len(events) // 2, len(events)}):
        doc = reader.get(f"{B}/state?version={k}", headers=NACC)
        assert doc.status_code == 200, doc.json
        assert doc.json["state"] == to_dict(fold_onto(UnitState("3100100"), events[:k]))
