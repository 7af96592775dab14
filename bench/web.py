"""The web application's page times with every unit of the country registered, beside the APIs' own answers.

Seeds a real redis-server with 7,927 registered units (the 77 Bangkok offices and 7,850 synthetic local
administrations over 76 provinces; UnitRegistered events through the append script), plus plans and a report for round
2564/6 in some of them (appended through the script and projected in process), and two accounts (NACC, an
auditor) with passwords. Then starts the three HTTP services under gunicorn with the run command's settings
(2 workers x 4 threads each) and measures, one client, N requests per page, the page and its baseline in turn:

- time to first page: from starting the web app's gunicorn to its first sign-in page (baseline: the tracker
  API's gunicorn to its first /readyz, same run);
- the sign-in page, warm (baseline: the web app's /healthz: same process, no template, no API call);
- each role's signed-in home: the auditor's (``/`` -> ``/audit``, the first page of the unit directory)
  beside the tracker's ``/public/units`` it calls, and NACC's (``/`` -> ``/nacc``);
- NACC's national compliance page ``/nacc?fiscal_year=2564&round=6`` beside the tracker's
  ``/rounds/2564/6/compliance`` with the same token.

Seeding uses appendfsync everysec to be quick; the measured requests only read (a sign-in writes one event).
Not part of the test suite. Run: .venv/bin/python -m bench.web [--requests 30] [--reported 3000]
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import redis as redis_lib
import requests

from bench.projection import seed as seed_reports
from services.submission import handlers
from services.submission.app import create_app
from services.submission.appender import Appender
from services.submission.service import fingerprint
from services.tracker.jobs import Tracker
from shared.auth import Accounts
from shared import signing
from shared.config import Settings
from bench.national import UNLIMITED
from shared.embedded import EmbeddedRedis, free_port
from shared.events import GENESIS_HASH, new_event
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, Keys
from shared.schemas import UnitRegisteredV1

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-web-secret-of-its-own-0123456789"
SETTINGS = Settings(partitions=16, secret_key=SECRET, argon2_time_cost=1, argon2_memory_kib=8192)
PASSWORD = "ม้าลายวิ่งเร็ว bench 2569 ทุ่งกว้าง"
UNITS = 7_927
KINDS = ([("provincial_administration", 76), ("city_municipality", 30), ("town_municipality", 195),
          ("subdistrict_municipality", 2_247)])        # the rest: subdistrict administrative organisations


def units() -> list[dict]:
    """The 77 Bangkok units and synthetic local administrations up to 7,927, codes 3200000 upwards."""
    with resources.files("shared.data").joinpath("bma_units.csv").open(encoding="utf-8") as f:
        out = [{"code": r["code"], "name_th": r["name_th"], "kind": r["kind"], "province": "กรุงเทพมหานคร"}
               for r in csv.DictReader(f)]
    kinds = [k for k, n in KINDS for _ in range(n)]
    for n in range(UNITS - len(out)):
        kind = kinds[n] if n < len(kinds) else "subdistrict_administration"
        out.append({"code": f"{3200000 + n:07d}", "name_th": f"หน่วยงานท้องถิ่นทดสอบที่ {n + 1}", "kind": kind,
                    "province": f"จังหวัดทดสอบ {n % 76 + 1:02d}"})
    return out


def seed(redis, reported: int) -> None:
    """Register every unit and the two accounts through the write service; plans and reports; project all."""
    keys = Keys(SETTINGS.key_prefix, SETTINGS.partitions)
    operator = {"username": "bench", "role": "operator"}
    start = time.perf_counter()
    # UnitRegistered events appended straight through the append script, as import-units would write them
    # (bench/national.py times the operator commands themselves)
    appender, prev, now = Appender(redis, keys), GENESIS_HASH, datetime.now(timezone.utc)
    for version, unit in enumerate(units(), start=1):
        assert not UnitRegisteredV1().validate(unit), unit
        event = new_event(stream=REGISTRY_STREAM, version=version, type_="UnitRegistered", actor=operator,
                          payload=unit, recorded_at=now, prev_hash=prev)
        assert appender.append(event).status == "ok"
        prev = event.hash
    app = create_app(SETTINGS, redis=redis, identify=actor_from_header, nudge=lambda stream: None)
    service = app.extensions["ncc"]["service"]
    accounts = Accounts(redis, Keys(SETTINGS.key_prefix, SETTINGS.partitions), SETTINGS)
    now = datetime.now(timezone.utc)
    for username, role in (("bench-nacc", "nacc"), ("bench-auditor", "auditor")):
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, r=role: handlers.create_account(
            s, {"username": u, "role": r, "name": u, "demo": False}, ctx), actor=operator,
            fp=fingerprint("BENCH", username, {}))
        code, _expires = accounts.issue_code(username, role, now)
        assert accounts.activate(username, code, PASSWORD, now)
    registered = time.perf_counter() - start
    events = seed_reports(redis, keys, reported, 4)          # plan, an item, a report and one amendment each
    tracker = Tracker(redis, SETTINGS)
    for stream in [REGISTRY_STREAM] + [f"{3200000 + u:07d}" for u in range(reported)]:
        tracker.project(stream)
    print(f"seeded: {UNITS} units registered in {registered:.0f}s through the append script; {reported} of them "
          f"with a plan and a report for 2564/6 ({events} events), all projected")


def gunicorn(name: str, app_spec: str, port: int, env: dict, ready: str) -> tuple[subprocess.Popen, float]:
    """Start one service as the run command does; (process, seconds from start to its first 200 on ``ready``)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:services.gunicorn_conf",
                             "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}", app_spec],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = start + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}{ready}", timeout=5).status_code == 200:
                return proc, time.perf_counter() - start
        except requests.RequestException:
            pass
        if time.perf_counter() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.02)


def timed(*targets: tuple[requests.Session, str], n: int) -> list[tuple[list[float], requests.Response]]:
    """Each (session, url) requested n times, in turn (so drift on a shared machine hits all alike), after one
    warm-up request each; per target its sorted times (s) and last answer."""
    times: list[list[float]] = [[] for _ in targets]
    answers = []
    for session, url in targets:
        answer = session.get(url, timeout=120)
        answer.raise_for_status()
        answers.append(answer)
    for _ in range(n):
        for k, (session, url) in enumerate(targets):
            start = time.perf_counter()
            answer = session.get(url, timeout=120)
            times[k].append(time.perf_counter() - start)
            answer.raise_for_status()
            answers[k] = answer
    return [(sorted(t), a) for t, a in zip(times, answers)]


def p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def line(name: str, times: list[float], answer: requests.Response | None = None) -> str:
    size = f"{len(answer.content) / 1024:8.0f} kB" if answer is not None else ""
    return f"  {name:<50} p50 {p(times, .5):7.1f} ms   p95 {p(times, .95):7.1f} ms {size}"


def web_sign_in(base: str, username: str) -> requests.Session:
    """Sign in through the web app's form (with its CSRF token), as a person does."""
    session = requests.Session()
    page = session.get(f"{base}/signin", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{base}/signin", data={"csrf_token": token, "username": username,
                                                  "password": PASSWORD}, timeout=60, allow_redirects=False)
    assert answer.status_code == 302 and "/signin" not in answer.headers["Location"], answer.text[:500]
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (after one warm-up)")
    parser.add_argument("--reported", type=int, default=3000, help="units with a plan and a 2564/6 report")
    args = parser.parse_args()
    procs = []
    with tempfile.TemporaryDirectory() as tmp, \
            EmbeddedRedis(Path(tmp) / "redis", extra_args=("--appendfsync", "everysec")) as server:
        redis = redis_lib.Redis.from_url(server.url)
        seed(redis, args.reported)
        ports = {name: free_port() for name in ("submission", "tracker", "web")}
        signing.ensure(Path(tmp) / "keys")           # production refuses to start without its signing keys
        env = {**os.environ, **UNLIMITED, "REDIS_URL": server.url, "NCC_SECRET_KEY": SECRET, "NCC_PARTITIONS": "16",
               "NCC_KEY_DIR": str(Path(tmp) / "keys"), "NCC_DATA_DIR": tmp,
               "NCC_LOG_LEVEL": "WARNING", "NCC_ARGON2_TIME_COST": "1", "NCC_ARGON2_MEMORY_KIB": "8192",
               "NCC_SUBMISSION_URL": f"http://127.0.0.1:{ports['submission']}",
               "NCC_TRACKER_URL": f"http://127.0.0.1:{ports['tracker']}", "NCC_FORWARDED_HOPS": "1",
               "NCC_2FA_REQUIRED": "0"}        # the pages are measured, not the sign-in: passwords alone
        try:
            sub, _ = gunicorn("submission", "services.submission.app:create_app()", ports["submission"], env, "/readyz")
            procs.append(sub)
            trk, tracker_start = gunicorn("tracker", "services.tracker.app:create_app()", ports["tracker"], env,
                                          "/readyz")
            procs.append(trk)
            web_proc, web_start = gunicorn("web", "services.web.app:create_app()", ports["web"], env, "/signin")
            procs.append(web_proc)
            web, tracker = f"http://127.0.0.1:{ports['web']}", f"http://127.0.0.1:{ports['tracker']}/api/v1"
            n = args.requests

            anonymous = requests.Session()
            (sign_in_page, sign_in_answer), (healthz, _) = timed(
                (anonymous, f"{web}/signin"), (anonymous, f"{web}/healthz"), n=n)

            auditor = web_sign_in(web, "bench-auditor")
            (auditor_home, auditor_answer), (directory, directory_answer) = timed(
                (auditor, f"{web}/"), (requests.Session(), f"{tracker}/public/units?limit=50"), n=n)
            assert auditor_answer.url.endswith("/audit"), auditor_answer.url

            nacc = web_sign_in(web, "bench-nacc")
            token = requests.post(f"http://127.0.0.1:{ports['submission']}/api/v1/auth/token", json={
                "username": "bench-nacc", "password": PASSWORD}, timeout=60).json()["access_token"]
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {token}"
            (nacc_page, nacc_answer), (compliance_api, compliance_answer), (nacc_home, _) = timed(
                (nacc, f"{web}/nacc?fiscal_year=2564&round=6"), (api, f"{tracker}/rounds/2564/6/compliance"),
                (nacc, f"{web}/"), n=n)
            doc = compliance_answer.json()
            assert doc["expected"] == UNITS, doc["expected"]
            assert nacc_answer.url.endswith("/nacc?fiscal_year=2564&round=6") and nacc_answer.status_code == 200
            app_ms = statistics.median(
                float(re.search(r"dur=([\d.]+)", nacc.get(f"{web}/nacc?fiscal_year=2564&round=6", timeout=120)
                                .headers.get("Server-Timing", "dur=nan")).group(1)) for _ in range(5))
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"\n{UNITS} units registered, {doc['submitted']} submitted for 2564/6; {n} requests per line, "
          "each page and its baseline in turn, one client; gunicorn 2 workers x 4 threads per service\n")
    print("time to first page (process start -> first 200)")
    print(f"  web app: first sign-in page                        {web_start * 1000:7.0f} ms")
    print(f"  baseline: tracker API, first /readyz               {tracker_start * 1000:7.0f} ms")
    print("sign-in page, warm")
    print(line("web /signin", sign_in_page, sign_in_answer))
    print(line("baseline: web /healthz (no template, no API call)", healthz))
    print("signed-in home")
    print(line("auditor: web / -> /audit (directory, first 50)", auditor_home, auditor_answer))
    print(line("baseline: tracker /public/units?limit=50", directory, directory_answer))
    print(line("NACC: web / -> /nacc (current round)", nacc_home))
    print("NACC national compliance, 2564/6, all units")
    print(line("web /nacc?fiscal_year=2564&round=6", nacc_page, nacc_answer))
    print(line("baseline: tracker /rounds/2564/6/compliance", compliance_api, compliance_answer))
    print(f"  web page / API answer, p50: {p(nacc_page, .5) / p(compliance_api, .5):.1f}x; the web app's own "
          f"Server-Timing (includes its API call), median of 5: {app_ms:.0f} ms")


if __name__ == "__main__":
    main()
