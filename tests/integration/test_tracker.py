"""Projection jobs on fakeredis and a real redis-server: idempotent, race-free, batch-independent, parking."""
import json
import os
import threading
from datetime import datetime, timezone

import pytest
from rq import Queue, SimpleWorker

from services.tracker.jobs import Tracker
from shared.events import new_event
from shared.nudge import Nudger
from shared.streams import head_of
from tests.conftest import assert_read_model_is_fold, bulk_history, dump_log

UNIT = {"X-Actor": "unit:3100100"}
PLAN = {"title": "แผน", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
BASE = "/api/v1"


def item_body(n):
    return {"name": f"โครงการที่ {n}", "kind": "measure", "dimension": 3, "sub_dimension": "3.2",
            "fiscal_years": [2563, 2564], "budgets": {"2564": f"{n}000.00"}}


def history(client, unit="3100100", items=3):
    """A plan, some items, an edit, a re-budget, a report and its amendment."""
    h = {"X-Actor": f"unit:{unit}"}
    assert client.put(f"{BASE}/units/{unit}/plan", json=PLAN, headers=h).status_code == 201
    ids = [client.post(f"{BASE}/units/{unit}/plan/items", json=item_body(n), headers=h).json["item_id"]
           for n in range(items)]
    client.patch(f"{BASE}/units/{unit}/plan/items/{ids[0]}", json={"responsible": "กองคลัง", "reason": "ระบุ"},
                 headers=h)
    client.put(f"{BASE}/units/{unit}/plan/items/{ids[1]}/budgets/2563", json={"amount": "5", "reason": "x"}, headers=h)
    entries = [{"item_id": i, "status": "completed"} for i in ids[:2]]
    client.put(f"{BASE}/units/{unit}/reports/2564/6", json={"entries": entries}, headers=h)
    client.put(f"{BASE}/units/{unit}/reports/2564/6", json={"entries": entries[:1]}, headers=h)
    return ids


@pytest.fixture
def writer(app_factory, any_redis):
    return app_factory(any_redis).test_client()


def test_projection_equals_fold_and_rerun_changes_nothing(writer, any_redis, settings):
    """After a job the read model is the fold of the log; running the job again writes nothing."""
    history(writer)
    tracker = Tracker(any_redis, settings)
    result = tracker.project("3100100")
    assert result["applied"] == 8
    assert_read_model_is_fold(any_redis, settings, "3100100")
    p = tracker.keys.partition_of("3100100")
    assert any_redis.zscore(tracker.keys.unprojected(p), "3100100") is None     # caught up: marker cleared
    before = dump_log(any_redis)
    assert tracker.project("3100100")["applied"] == 0
    assert dump_log(any_redis) == before


def test_small_batches_give_the_same_bytes(writer, any_redis, settings):
    """Projecting two events at a time gives exactly what one big batch gives."""
    history(writer)
    Tracker(any_redis, settings.but(tracker_batch=2)).project("3100100")
    assert_read_model_is_fold(any_redis, settings, "3100100")


def test_incremental_after_new_writes(writer, any_redis, settings):
    """Events appended after a projection are folded onto the snapshot, same as from scratch."""
    ids = history(writer)
    tracker = Tracker(any_redis, settings)
    tracker.project("3100100")
    writer.delete(f"{BASE}/units/3100100/plan/items/{ids[2]}", json={"reason": "ยกเลิก"}, headers=UNIT)
    assert tracker.project("3100100")["applied"] == 1
    assert_read_model_is_fold(any_redis, settings, "3100100")


def test_concurrent_jobs_on_one_stream(app_factory, real_redis, settings):
    """Four workers projecting the same stream at once: the read model is the fold, no entry doubled."""
    history(app_factory(real_redis).test_client(), items=20)
    trackers = [Tracker(real_redis, settings.but(tracker_batch=3)) for _ in range(4)]
    barrier = threading.Barrier(4)

    def run(t):
        barrier.wait()
        t.project("3100100")

    threads = [threading.Thread(target=run, args=(t,)) for t in trackers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_read_model_is_fold(real_redis, settings, "3100100")


def _poison(redis, keys, stream, payload_type="ItemEdited", payload=None, schema_version=1):
    """Append an event the tracker cannot apply, directly (as a bug or a newer writer might)."""
    version, head = head_of(redis, keys, stream)
    event = new_event(stream=stream, version=version + 1, type_="ReminderSent",
                      payload={"fiscal_year": 2564, "round": 6, "message": "x", "channel": "in_app", "rule": None},
                      actor={"username": "x", "role": "nacc"}, recorded_at=datetime.now(timezone.utc),
                      prev_hash=head)
    raw = event.to_dict()
    raw.update(type=payload_type, schema_version=schema_version, payload=payload or {"item_id": "ghost",
                                                                                    "changes": {}, "reason": "x"})
    redis.xadd(keys.events(stream), {"e": json.dumps(raw)}, id=f"{version + 1}-0")
    redis.set(keys.head(stream), "f" * 64)
    return version + 1


@pytest.mark.parametrize("kind", ["unknown-item", "unknown-schema-version"])
def test_poison_event_parks_only_its_unit(writer, any_redis, settings, keys, kind):
    """A bad event parks its unit at that version (earlier events projected, error kept); others go on."""
    history(writer)
    history(writer, unit="3100200")
    bad = _poison(any_redis, keys, "3100100", schema_version=1 if kind == "unknown-item" else 99)
    tracker = Tracker(any_redis, settings)
    tracker.project("registry")
    result = tracker.project("3100100")
    assert result["parked"]["version"] == bad == 9
    assert ("KeyError" if kind == "unknown-item" else "UnknownSchemaVersionError") in result["parked"]["error"]
    assert tracker.models.checkpoint("3100100")[0] == 8
    assert tracker.project("3100200")["applied"] == 8
    assert_read_model_is_fold(any_redis, settings, "3100200")
    lag = tracker.models.lag()
    assert lag["parked_streams"] == 1 and lag["streams_behind"] == 1 and lag["events_behind"] == 1
    assert tracker.project("3100100")["parked"]["version"] == 9        # stays parked, changes nothing
    assert tracker.sweep(nudge=lambda s: pytest.fail("a parked unit must not be nudged"))["behind"] == 0


def test_lost_nudge_caught_by_sweep_and_nudges_coalesce(app_factory, real_redis, settings, keys, nudges):
    """Writes whose nudges were lost are found by the sweep; repeated nudges queue one job; a worker catches up."""
    writer = app_factory(real_redis).test_client()
    history(writer)
    history(writer, unit="3100200")
    assert nudges                                   # the app's nudges went to a list, not to RQ: all lost
    nudger = Nudger(real_redis, keys, settings.tracker_queue)
    tracker = Tracker(real_redis, settings)
    assert tracker.sweep(nudge=nudger) == {"behind": 3, "queued": 3}     # two units and the registry
    assert tracker.sweep(nudge=nudger) == {"behind": 3, "queued": 0}     # already queued: coalesced
    queue = Queue(settings.tracker_queue, connection=real_redis)
    assert len(queue) == 3
    import services.tracker.jobs as jobs
    jobs._TRACKERS[os.getpid()] = tracker                 # this process's tracker: these settings
    try:
        SimpleWorker([queue], connection=real_redis).work(burst=True)
    finally:
        jobs._TRACKERS.clear()
    for unit in ("3100100", "3100200"):
        assert_read_model_is_fold(real_redis, settings, unit)
    assert tracker.models.lag() == {"streams_behind": 0, "events_behind": 0, "oldest_unprojected_ms": None,
                                    "parked_streams": 0}


def test_one_job_drains_a_partition(real_redis, settings, keys):
    """Nudges for streams of one partition queue one job, which projects every one of them."""
    same = [c for c in (f"{3200000 + n:07d}" for n in range(300)) if keys.partition_of(c) == 6][:3]
    for code in same:
        bulk_history(real_redis, keys, code, 5)
    nudger = Nudger(real_redis, keys, settings.tracker_queue)
    assert [nudger(code) for code in same] == [True, False, False]
    queue = Queue(settings.tracker_queue, connection=real_redis)
    assert [job.args for job in queue.jobs] == [(6,)]
    import services.tracker.jobs as jobs
    jobs._TRACKERS[os.getpid()] = Tracker(real_redis, settings)
    try:
        SimpleWorker([queue], connection=real_redis).work(burst=True)
    finally:
        jobs._TRACKERS.clear()
    for code in same:
        assert_read_model_is_fold(real_redis, settings, code)
    assert not real_redis.exists(keys.nudge_flag(6)) and nudger(same[0]) is True     # the next write queues again


def test_read_models_hold_no_report_text_and_the_audit_trail_still_shows_it(writer, any_redis, settings, clock):
    """Once projected, a report's texts are in the log and nowhere else in the store (no audit list, no text in
    the snapshot or the facts), yet the audit trail shows the amendment's old and new text and the Thai
    summary, and the status still counts the reported items."""
    from services.tracker.app import create_app as create_reader
    from shared.identity import actor_from_header

    assert writer.put(f"{BASE}/units/3100100/plan", json=PLAN, headers=UNIT).status_code == 201
    item = writer.post(f"{BASE}/units/3100100/plan/items", json={
        **item_body(1), "objectives": "วัตถุประสงค์เฉพาะของโครงการ"}, headers=UNIT).json["item_id"]
    report = f"{BASE}/units/3100100/reports/2564/6"
    for outputs in ("ผลผลิตรอบแรกที่จำได้", "ผลผลิตฉบับแก้ไขที่จำได้"):
        assert writer.put(report, json={"entries": [{"item_id": item, "status": "completed", "outputs": outputs}]},
                          headers=UNIT).status_code == 201
    tracker = Tracker(any_redis, settings)
    for stream in ("3100100", "registry"):
        tracker.project(stream)
    texts = [repr(t.encode())[2:-1] for t in ("ผลผลิตรอบแรก", "ผลผลิตฉบับแก้ไข", "วัตถุประสงค์เฉพาะ")]
    stored = {key: repr(content) for key, (_kind, content) in dump_log(any_redis).items()}
    assert any(t in stored[tracker.keys.events("3100100").encode()] for t in texts)
    assert [key for key, content in stored.items() if not key.endswith(b":events") and
            any(t in content for t in texts)] == []
    reader = create_reader(settings, redis=any_redis, clock=clock, identify=actor_from_header).test_client()
    trail = reader.get(f"{BASE}/units/3100100/audit", headers=UNIT).json["entries"]
    amended = trail[-1]
    assert amended["type"] == "ReportAmended" and "แก้ไขรายงานผล" in amended["summary_th"]
    assert {"field": f"entries.{item}.outputs", "old": "ผลผลิตรอบแรกที่จำได้",
            "new": "ผลผลิตฉบับแก้ไขที่จำได้"} in amended["changes"]
    assert trail[1]["changes"][[c["field"] for c in trail[1]["changes"]].index("objectives")]["new"] == \
        "วัตถุประสงค์เฉพาะของโครงการ"
    status = reader.get(f"{BASE}/units/3100100/status", headers=UNIT).json
    r6 = next(r for r in status["rounds"] if (r["fiscal_year"], r["round"]) == (2564, 6))
    assert r6["implementation_rate"] == "1.0000" and r6["amendments"] == 1 and r6["complete"] is True
