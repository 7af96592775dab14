"""Rebuilding read models from the log: byte-identical, atomic per stream, no live write lost."""
import json
import os
import threading

from rq import Queue, SimpleWorker

import services.tracker.jobs as jobs
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM
from tests.conftest import assert_read_model_is_fold, dump_log
from tests.integration.test_tracker import history, item_body

OPERATOR = {"X-Actor": "operator:op01"}


def read_models(redis):
    """Every read-model key (not the log) with its content."""
    return {k: v for k, v in dump_log(redis).items() if any(t in k for t in (b":rm", b":audit", b":rounds:"))}


def test_rebuild_is_byte_identical_and_repairs(app_factory, any_redis, settings):
    """A rebuild writes exactly what live projection wrote; after damage to the read models it restores them."""
    writer = app_factory(any_redis).test_client()
    history(writer)
    history(writer, unit="3100200")
    tracker = Tracker(any_redis, settings)
    for stream in tracker.models.streams():
        tracker.project(stream)
    live = read_models(any_redis)
    assert tracker.rebuild() == {"streams": 3, "events": 20}      # two units (8 each) and the registry (4)
    assert read_models(any_redis) == live
    any_redis.delete(tracker.keys.audit("3100100"))
    any_redis.hset(tracker.keys.read_model("3100200"), "snapshot", "{}")
    decided = tracker.keys.round_marks(tracker.keys.partition_of("3100200"), 2564, 6)[2]
    any_redis.zadd(decided, {"3100200": 2})            # a stale "returned" beside the damaged snapshot
    tracker.rebuild(["3100100", "3100200"])
    assert read_models(any_redis) == live


def test_writes_during_a_rebuild_are_not_lost(app_factory, real_redis, settings):
    """Rebuilds running while a writer appends: afterwards the jobs catch up and the read model is the fold."""
    writer = app_factory(real_redis).test_client()
    history(writer)
    tracker = Tracker(real_redis, settings)
    stop = threading.Event()

    def rebuild_loop():
        while not stop.is_set():
            tracker.rebuild(["3100100"])

    rebuilder = threading.Thread(target=rebuild_loop)
    rebuilder.start()
    for n in range(30):
        assert writer.post("/api/v1/units/3100100/plan/items", json=item_body(n),
                           headers={"X-Actor": "unit:3100100"}).status_code == 201
    stop.set()
    rebuilder.join()
    tracker.sweep(nudge=lambda stream: tracker.project(stream) and True)
    assert_read_model_is_fold(real_redis, settings, "3100100")


def test_replay_endpoint_runs_a_job_with_progress(app_factory, real_redis, settings, clock):
    """POST /replay answers 202 with a job; a worker runs it; GET /jobs/{id} shows it finished with its result."""
    writer = app_factory(real_redis).test_client()
    history(writer)
    tracker = Tracker(real_redis, settings)
    tracker.project(REGISTRY_STREAM)
    reader = create_reader(settings, redis=real_redis, clock=clock, identify=actor_from_header).test_client()
    started = reader.post("/api/v1/replay", json={"unit": "3100100"}, headers=OPERATOR)
    assert started.status_code == 202
    job_id = started.json["job_id"]
    assert reader.get(f"/api/v1/jobs/{job_id}", headers=OPERATOR).json["status"] == "queued"
    jobs._TRACKERS[os.getpid()] = tracker
    try:
        SimpleWorker([Queue(settings.tracker_queue, connection=real_redis)], connection=real_redis).work(burst=True)
    finally:
        jobs._TRACKERS.clear()
    done = reader.get(f"/api/v1/jobs/{job_id}", headers=OPERATOR).json
    assert done["status"] == "finished" and done["result"] == {"streams": 1, "events": 8}
    assert done["progress"] == {"done": 1, "total": 1} and done["requested_by"] == "op01"
    assert_read_model_is_fold(real_redis, settings, "3100100")
    assert reader.post("/api/v1/replay", json={"unit": "3100900"}, headers=OPERATOR).status_code == 404
    assert reader.get("/api/v1/jobs/nope", headers=OPERATOR).status_code == 404


def test_national_states_are_parsed_once_until_they_change(app_factory, fake_redis, settings):
    """The read side reuses the parsed registry while it is unchanged, and sees a new projection or a repair."""
    from services.submission import handlers
    from services.submission.service import fingerprint

    app = app_factory(fake_redis)
    tracker = Tracker(fake_redis, settings)
    tracker.project(REGISTRY_STREAM)
    models = tracker.models
    first = models.national(REGISTRY_STREAM)
    assert models.national(REGISTRY_STREAM) is first and "3100300" not in first.supervisors.get("sup01", [])
    app.extensions["ncc"]["service"].execute(REGISTRY_STREAM, lambda s, ctx: handlers.assign_units(
        s, {"supervisor": "sup01", "units": ["3100300"]}, ctx), actor={"username": "op", "role": "operator"},
        fp=fingerprint("T", "x", {}))
    tracker.project(REGISTRY_STREAM)
    assert "3100300" in models.national(REGISTRY_STREAM).supervisors["sup01"]
    damaged = json.loads(fake_redis.hget(models.keys.read_model(REGISTRY_STREAM), "snapshot"))
    damaged["units"] = {}
    fake_redis.hset(models.keys.read_model(REGISTRY_STREAM), "snapshot", json.dumps(damaged))
    stale = models.national(REGISTRY_STREAM)                     # same checkpoint: the parsed copy is kept
    tracker.rebuild([REGISTRY_STREAM])                           # the repair bumps the rebuild counter
    repaired = models.national(REGISTRY_STREAM)
    assert repaired is not stale and "3100100" in repaired.units


def test_rebuild_and_verify_in_parallel_processes_match_one_process(app_factory, real_redis, redis_server, settings,
                                                                   monkeypatch):
    """rebuild --jobs 2 (two spawned processes sharing the streams by partition) writes byte for byte what live
    projection and one process write, from damaged or missing read models; verify-all --jobs 2 names the same bad
    stream as one process, with the same counts."""
    from click.testing import CliRunner

    from services.tracker import cli
    from shared.events import canonical
    from tests.conftest import register_units

    units = [f"31{n:03d}00" for n in range(1, 13)]
    writer = app_factory(real_redis).test_client()
    register_units(writer.application.extensions["ncc"]["service"], codes=units[3:], supervised=())
    for unit in units:
        history(writer, unit=unit, items=2)
    tracker = Tracker(real_redis, settings)
    assert len({tracker.keys.partition_of(u) for u in units}) > 2
    for stream in tracker.models.streams():
        tracker.project(stream)
    live = read_models(real_redis)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("NCC_PARTITIONS", str(settings.partitions))
    runner = CliRunner()
    for jobs in ("2", "1"):
        real_redis.delete(*[k for k in read_models(real_redis) if b":audit" in k or b":rounds:" in k])
        real_redis.hset(tracker.keys.read_model(units[5]), "snapshot", "{}")
        done = runner.invoke(cli.main, ["rebuild", "--jobs", jobs])
        assert done.exit_code == 0, done.output
        events = sum(real_redis.xlen(tracker.keys.events(s)) for s in tracker.models.streams())
        assert f"{len(units) + 1} streams rebuilt, {events} events folded" in done.output
        assert read_models(real_redis) == live
    key = tracker.keys.events(units[7])
    entries = real_redis.xrange(key)
    tampered = json.loads(entries[2][1][b"e"])
    tampered["payload"]["name"] += " (แก้)"
    real_redis.delete(key)
    for n, (entry_id, fields) in enumerate(entries):
        real_redis.xadd(key, {b"e": canonical(tampered) if n == 2 else fields[b"e"]}, id=entry_id)
    outputs = [runner.invoke(cli.main, ["verify-all", "--jobs", jobs]) for jobs in ("1", "2")]
    assert [o.exit_code for o in outputs] == [1, 1]
    assert outputs[0].output.splitlines()[-2:] == outputs[1].output.splitlines()[-2:]
    assert f"BAD {units[7]}: version 3" in outputs[1].output and "1 bad" in outputs[1].output
