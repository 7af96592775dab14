"""End to end with real `rq worker` processes on a real redis-server: write -> nudge -> worker -> read API."""
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from rq import Queue

from services.submission.app import create_app as create_writer
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from services.tracker.worker import WORKER_CLASS
from services.tracker.worker import argv as worker_argv
from shared.nudge import PROJECT_JOB
from shared.identity import actor_from_header
from tests.conftest import assert_read_model_is_fold, bulk_history, register_units

UNIT = {"X-Actor": "unit:3100100"}
BASE = "/api/v1"


def worker(redis_server, settings, *, burst=True, batch=None, worker_class=WORKER_CLASS):
    """A real `rq worker` process for the tracker queue (the run command's), configured through the environment."""
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": str(settings.partitions),
           "NCC_TRACKER_BATCH": str(batch or settings.tracker_batch)}
    argv = worker_argv(burst=burst, worker_class=worker_class)
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def crash(proc):
    """SIGKILL a worker and every process it forked (RQ's work-horse runs in a process group of its own)."""
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in family:
        p.kill()
    psutil.wait_procs(family, timeout=10)
    proc.wait()


def finish(proc, timeout=60) -> str:
    """Wait for a burst worker; its stderr (JSON log lines)."""
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-2000:]
    return err.decode()


def test_request_id_follows_the_write_into_the_worker_log(redis_server, real_redis, settings, clock):
    """The worker logs JSON; its projection line carries the request id of the write that queued the job, and
    lists it among the projected events' request ids."""
    app = create_writer(settings, redis=real_redis, clock=clock, identify=actor_from_header)
    register_units(app.extensions["ncc"]["service"])
    rv = app.test_client().put(f"{BASE}/units/3100100/plan", json={
        "title": "แผน 2561-2564", "first_fiscal_year": 2561, "last_fiscal_year": 2564},
        headers={**UNIT, "X-Request-Id": "deadline-day-0042"})
    assert rv.status_code == 201
    lines = [json.loads(line) for line in finish(worker(redis_server, settings)).splitlines()]
    projected = [line for line in lines if line.get("stream") == "3100100"]
    assert projected and projected[0]["logger"] == "services.tracker.jobs"
    assert projected[0]["request_id"] == "deadline-day-0042"
    assert projected[0]["request_ids"] == ["deadline-day-0042"] and projected[0]["to_version"] == 1


def test_write_is_projected_by_a_worker_process(redis_server, real_redis, settings, clock):
    """A plan change and a report through the write API show up in status and audit after a real worker ran."""
    app = create_writer(settings, redis=real_redis, clock=clock, identify=actor_from_header)
    register_units(app.extensions["ncc"]["service"])
    writer = app.test_client()
    writer.put(f"{BASE}/units/3100100/plan", json={"title": "แผน 2561-2564", "first_fiscal_year": 2561,
                                                  "last_fiscal_year": 2564}, headers=UNIT)
    item_id = writer.post(f"{BASE}/units/3100100/plan/items", json={
        "name": "มาตรการเปิดเผยข้อมูลจัดซื้อจัดจ้าง", "kind": "measure", "dimension": 2, "sub_dimension": "2.2",
        "fiscal_years": [2564]}, headers=UNIT).json["item_id"]
    assert writer.put(f"{BASE}/units/3100100/reports/2564/6", json={"entries": [
        {"item_id": item_id, "status": "completed"}]}, headers=UNIT).status_code == 201
    assert len(Queue(settings.tracker_queue, connection=real_redis)) == 2     # registry; three unit nudges, one job
    finish(worker(redis_server, settings))
    reader = create_reader(settings, redis=real_redis, clock=clock, identify=actor_from_header).test_client()
    status = reader.get(f"{BASE}/units/3100100/status", headers=UNIT).json
    assert status["version"] == status["log_version"] == 3 and status["lag"] == 0
    line = next(r for r in status["rounds"] if (r["fiscal_year"], r["round"]) == (2564, 6))
    assert line["state"] == "submitted_late" and line["complete"] is True and line["traffic_light"] == "green"
    audit = reader.get(f"{BASE}/units/3100100/audit", headers=UNIT).json
    assert [e["type"] for e in audit["entries"]] == ["PlanDeclared", "ItemAdded", "ReportSubmitted"]
    assert "มาตรการเปิดเผยข้อมูลจัดซื้อจัดจ้าง" in audit["entries"][1]["summary_th"]


def test_same_job_twice_run_by_two_workers_at_once(redis_server, real_redis, settings, keys):
    """The same projection job enqueued twice and run concurrently by two worker processes: no effect doubled."""
    bulk_history(real_redis, keys, "3100100", 400)
    queue = Queue(settings.tracker_queue, connection=real_redis)
    queue.enqueue(PROJECT_JOB, "3100100")
    queue.enqueue(PROJECT_JOB, "3100100")
    procs = [worker(redis_server, settings, batch=7) for _ in range(2)]
    for p in procs:
        finish(p)
    assert_read_model_is_fold(real_redis, settings, "3100100")


@pytest.mark.parametrize("worker_class", [WORKER_CLASS, "rq.worker.Worker"], ids=["simple", "forking"])
def test_worker_killed_mid_batch_then_a_new_one_finishes(redis_server, real_redis, settings, keys, worker_class):
    """SIGKILL a worker mid-way; the sweep and a new worker bring the read model to the fold of the log."""
    total = 3000
    bulk_history(real_redis, keys, "3100100", total)
    queue = Queue(settings.tracker_queue, connection=real_redis)
    queue.enqueue(PROJECT_JOB, "3100100")
    proc = worker(redis_server, settings, burst=False, batch=5, worker_class=worker_class)
    tracker = Tracker(real_redis, settings)
    deadline = time.monotonic() + 60
    while tracker.models.checkpoint("3100100")[0] < 200:
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.01)
    crash(proc)
    stopped_at = tracker.models.checkpoint("3100100")[0]
    time.sleep(0.3)
    assert tracker.models.checkpoint("3100100")[0] == stopped_at      # nothing is projecting any more
    assert 0 < stopped_at < total
    assert tracker.models.checkpoint("3100100")[1]["version"] == stopped_at   # every step atomic: no torn write
    assert tracker.sweep()["queued"] == 1
    finish(worker(redis_server, settings, batch=500))
    assert_read_model_is_fold(real_redis, settings, "3100100")


def scheduler_queues_a_sweep(env, queue):
    """Run the real scheduler (``python -m services.tracker.scheduler``) until it has queued a job; stop it."""
    scheduler = subprocess.Popen([sys.executable, "-m", "services.tracker.scheduler"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while len(queue) == 0:
            assert time.monotonic() < deadline, "the scheduler enqueued no sweep"
            time.sleep(0.05)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(10)


def test_scheduler_sweeps_up_a_lost_nudge(redis_server, real_redis, settings, keys):
    """Events whose nudge never came are projected after the real scheduler's sweep and a worker."""
    bulk_history(real_redis, keys, "3100100", 5)        # appended without any nudge
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": str(settings.partitions),
           "NCC_SWEEP_SECONDS": "1"}
    scheduler_queues_a_sweep(env, Queue(settings.tracker_queue, connection=real_redis))
    finish(worker(redis_server, settings))              # runs the sweep, which queues the projection, then it
    assert_read_model_is_fold(real_redis, settings, "3100100")
