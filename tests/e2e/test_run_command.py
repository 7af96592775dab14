"""The README's run command, from a clean folder: ready, usable, stops cleanly on Ctrl-C, keeps its data."""
import csv
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from shared.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long demo passphrase 2564"


def call(method, url, body=None, token=None):
    """(status, JSON answer) of an HTTP request to a local service."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as rv:
            return rv.status, json.loads(rv.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
    except (urllib.error.URLError, ConnectionError):
        return None, None


def wait_for(check, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def start(env, log):
    return subprocess.Popen([str(ROOT / "scripts" / "run")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc):
    """Ctrl-C the run command; it must exit 0 and leave none of its processes behind."""
    family = psutil.Process(proc.pid).children(recursive=True)
    assert len(family) >= 6                          # redis, 3 gunicorn masters, a worker, the scheduler
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], [p.info if hasattr(p, "info") else p.pid for p in alive]


def test_run_command_end_to_end(tmp_path):
    """Start, sign in with a demo code, write, see it in the tracker, Ctrl-C; start again: the data is there."""
    ports = {"NCC_REDIS_PORT": free_port(), "NCC_SUBMISSION_PORT": free_port(), "NCC_TRACKER_PORT": free_port(),
             "NCC_WEB_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "NCC_DATA_DIR": str(tmp_path / "data"),
           "NCC_SWEEP_SECONDS": "1", "NCC_WEB_WORKERS": "1"}
    env.pop("REDIS_URL", None)
    sub = f"http://127.0.0.1:{ports['NCC_SUBMISSION_PORT']}"
    trk = f"http://127.0.0.1:{ports['NCC_TRACKER_PORT']}"
    with open(tmp_path / "first.log", "wb") as log:
        proc = start(env, log)
        try:
            wait_for(lambda: call("GET", f"{sub}/readyz")[0] == 200 and call("GET", f"{trk}/readyz")[0] == 200)
            web = f"http://127.0.0.1:{ports['NCC_WEB_PORT']}"
            wait_for(lambda: call("GET", f"{web}/healthz")[0] == 200)
            first_line = (tmp_path / "first.log").read_text(encoding="utf-8").splitlines()[0]
            assert first_line.startswith(f"web application {web}"), first_line   # the person's URL comes first
            with open(tmp_path / "data" / "demo-activation-codes.csv", encoding="utf-8-sig") as f:
                code = next(r for r in csv.DictReader(f) if r["username"] == "demo-nacc")["activation_code"]
            assert call("POST", f"{sub}/api/v1/auth/activate", {"username": "demo-nacc", "activation_code": code,
                                                                 "password": PASSWORD})[0] == 201
            token = call("POST", f"{sub}/api/v1/auth/token", {"username": "demo-nacc", "password": PASSWORD})[1][
                "access_token"]
            status, answer = call("POST", f"{sub}/api/v1/units/3100100/reminders",
                                  {"fiscal_year": 2570, "round": 6, "message": "โปรดส่งแผน"}, token)
            assert status == 201, answer
            wait_for(lambda: (call("GET", f"{trk}/api/v1/units/3100100/audit", token=token)[1] or {}).get("entries"),
                     30)
            # each gunicorn service writes its workers' metrics to a folder of its own, which its scrape sums
            metrics = tmp_path / "data" / "metrics"
            assert {p.name for p in metrics.iterdir()} == {"web", "submission", "tracker-api"}
            assert any((metrics / "submission").glob("counter_*.db"))
            with urllib.request.urlopen(f"{sub}/metrics", timeout=10) as rv:
                scraped = rv.read().decode()
            assert ('ncc_http_requests_total{method="POST",route="/api/v1/auth/token",service="submission",'
                    'status="200"} 1.0') in scraped
        finally:
            stop(proc)
    with open(tmp_path / "second.log", "wb") as log:
        proc = start(env, log)
        try:
            wait_for(lambda: call("GET", f"{trk}/readyz")[0] == 200 and call("GET", f"{sub}/readyz")[0] == 200)
            token = call("POST", f"{sub}/api/v1/auth/token", {"username": "demo-nacc", "password": PASSWORD})[1][
                "access_token"]
            entries = call("GET", f"{trk}/api/v1/units/3100100/audit", token=token)[1]["entries"]
            assert [e["summary_th"] for e in entries] == ["แจ้งเตือนให้รายงานผลปีงบประมาณ 2570 รอบ 6 เดือน: โปรดส่งแผน"]
        finally:
            stop(proc)
    assert b"demo data already loaded" in (tmp_path / "second.log").read_bytes()
