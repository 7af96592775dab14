"""/metrics under gunicorn with two workers: one scrape sums every worker, and figures read from Redis are not summed."""
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from shared.embedded import free_port
from shared.keys import Keys
from shared.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]


def get(port, path):
    """One request on a connection of its own (no keep-alive: each may land on either worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    except (ConnectionError, OSError):
        return None, b""
    finally:
        conn.close()


def scrape(port) -> dict:
    status, body = get(port, "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def served_by(log: Path, route: str) -> Counter:
    """How many requests for ``route`` each worker process served, from the access lines."""
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines() if line.startswith("{")]
    return Counter(line["pid"] for line in lines if line.get("logger") == "ncc.access" and line["route"] == route)


HEALTHZ = (("method", "GET"), ("route", "/healthz"), ("service", "submission"), ("status", "200"))


def test_one_scrape_sums_both_workers(redis_server, real_redis, settings, tmp_path):
    """Requests spread over two workers until both served some; one scrape counts them all (counter and histogram),
    the outbox figure read from Redis once (not once per worker); after a worker is killed and replaced, its
    requests stay counted and the folder holds only this service's files."""
    port, metrics_dir = free_port(), tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier run")     # emptied as the master starts
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_ENV": "development", "NCC_DATA_DIR": str(tmp_path),
           "NCC_PARTITIONS": str(settings.partitions), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:services.gunicorn_conf",
                                 "--workers", "2", "--threads", "2", "--bind", f"127.0.0.1:{port}",
                                 "services.submission.app:create_app()"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while get(port, "/readyz")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        outbox = Outbox.from_settings(real_redis, Keys(settings.key_prefix, settings.partitions),
                                      lambda: datetime.now(timezone.utc), settings)
        for n in range(3):
            outbox.enqueue(f"test-{n}", f"unit{n}@example.go.th", "เรื่อง", "ข้อความ")
        sent = 0
        while len(served_by(log, "/healthz")) < 2 or sent < 20:
            assert sent < 400, f"every request went to one worker: {served_by(log, '/healthz')}"
            assert get(port, "/healthz")[0] == 200
            sent += 1
        per_worker = served_by(log, "/healthz")
        assert sum(per_worker.values()) == sent and all(0 < n < sent for n in per_worker.values())
        got = scrape(port)
        assert got[("ncc_http_requests_total", HEALTHZ)] == sent
        assert got[("ncc_http_request_seconds_count", HEALTHZ[:3])] == sent
        assert got[("ncc_http_request_seconds_bucket", (("le", "+Inf"),) + HEALTHZ[:3])] == sent
        assert got[("ncc_outbox_pending", ())] == 3
        assert not (metrics_dir / "counter_1.db").exists()

        workers = psutil.Process(proc.pid).children()
        assert {w.pid for w in workers} == set(per_worker)
        os.kill(workers[0].pid, signal.SIGKILL)            # gunicorn starts another in its place
        deadline = time.monotonic() + 30
        while {w.pid for w in psutil.Process(proc.pid).children()} & {workers[0].pid} or len(
                psutil.Process(proc.pid).children()) < 2:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        for _ in range(10):
            assert get(port, "/healthz")[0] == 200
        assert scrape(port)[("ncc_http_requests_total", HEALTHZ)] == sent + 10     # the dead worker's part kept
        assert {p.name for p in metrics_dir.iterdir()} <= {f"{kind}_{pid}.db" for kind in ("counter", "histogram")
                                                          for pid in set(per_worker) | {
                                                              w.pid for w in psutil.Process(proc.pid).children()}}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-3000:]
