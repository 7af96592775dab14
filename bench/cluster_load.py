"""A write load on a Redis Cluster through the real submission app, for the failover and resharding tests and
bench/failover.py.

Writer threads, each with its own Flask test client of one app (the app's one cluster client shared, as the threads
of a gunicorn worker share it), add plan items to a few dozen units spread over the masters. Every request has its
own Idempotency-Key and body, and every answer is kept: the time it was sent and answered, its status, its body and
its Retry-After. A write is acknowledged when it is answered 2xx; anything else (a 503, an exception) is not.
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from services.submission import handlers
from services.submission.app import create_app
from services.submission.service import fingerprint
from shared.config import Settings
from shared.fiscal import BANGKOK
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM, Keys

PLAN = {"title": "แผนปฏิบัติการป้องกันการทุจริต", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
NOW = datetime(2021, 5, 1, 10, 0, tzinfo=BANGKOK)
OPERATOR = {"username": "op-load", "role": "operator"}


def item(key: str) -> dict:
    """The body of one request: an item named after its Idempotency-Key (so an event names its request)."""
    return {"name": f"โครงการ {key}", "kind": "project", "dimension": 2, "sub_dimension": "2.2",
            "fiscal_years": [2564], "budgets": {"2564": "1000.00"}}


def unit_headers(code: str, key: str | None = None) -> dict:
    headers = {"X-Actor": f"unit:{code}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


@dataclass
class Sent:
    """One request and what it was answered (``status`` 0: it raised, ``error`` says what)."""

    code: str
    key: str
    body: dict
    sent_at: float
    answered_at: float = 0.0
    status: int = 0
    answer: dict | None = None
    retry_after: str | None = None
    error: str = ""

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300

    @property
    def why(self) -> str:
        """What a write not acknowledged met: the error its 503 names (``ClusterDownError``, ...) or raised."""
        if self.error:
            return self.error.split(":", 1)[0]
        found = re.search(r"\((\w+Error)|(\d+) of the \d+ replicas", (self.answer or {}).get("message", ""))
        if not found:
            return str(self.status)
        return found.group(1) or "replicas did not confirm"


@dataclass
class Load:
    """The app on a cluster client, its units (each with a plan), and what the writers sent."""

    redis: object
    settings: Settings
    units: list
    app: object = None
    sent: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list = field(default_factory=list)

    def __post_init__(self):
        self.keys = Keys(self.settings.key_prefix, self.settings.partitions)
        self.app = create_app(self.settings, redis=self.redis, clock=lambda: NOW, nudge=lambda stream: None,
                              identify=actor_from_header)
        self.service = self.app.extensions["ncc"]["service"]

    def prepare(self) -> "Load":
        """Register the units and declare each one's plan (the items go into it)."""
        registry = self.service.load(REGISTRY_STREAM)
        for code in self.units:
            if code not in registry.units:
                self.service.execute(REGISTRY_STREAM, lambda s, ctx, c=code: handlers.register_unit(
                    s, {"code": c, "name_th": f"หน่วยงาน {c}", "kind": "district_office",
                        "province": "กรุงเทพมหานคร"}, ctx), actor=OPERATOR, fp=fingerprint("LOAD", code, {}))
        http = self.app.test_client()
        for code in self.units:
            answer = http.put(f"/api/v1/units/{code}/plan", json=PLAN, headers=unit_headers(code, f"plan-{code}"))
            assert answer.status_code in (200, 201), answer.get_json()
        return self

    def partition_slot(self, code: str) -> int:
        return self.redis.keyslot(self.keys.events(code))

    def master_of(self, code: str) -> int:
        """The port of the master serving a unit's stream, as the client's table says."""
        return self.redis.get_node_from_key(self.keys.events(code)).port

    def send(self, http, code: str, key: str) -> Sent:
        """One request through the app; its answer kept."""
        body = item(key)
        record = Sent(code, key, body, time.monotonic())
        try:
            answer = http.post(f"/api/v1/units/{code}/plan/items", json=body, headers=unit_headers(code, key))
            record.status, record.answer = answer.status_code, answer.get_json()
            record.retry_after = answer.headers.get("Retry-After")
        except Exception as exc:                        # noqa: BLE001 - kept as "not acknowledged", with its name
            record.error = f"{type(exc).__name__}: {exc}"
        record.answered_at = time.monotonic()
        with self.lock:
            self.sent.append(record)
        return record

    def start(self, writers: int = 6, backoff: float = 0.05) -> "Load":
        """Writer threads, each going round the units from a place of its own until stopped, each request a new one
        (what was not acknowledged is sent again at the end, ``resend_all``), pausing ``backoff`` seconds after an
        answer that is not 2xx (a client would wait its Retry-After; shorter here, to keep the run short)."""
        def write(w):
            http, n = self.app.test_client(), 0
            while not self.stop.is_set():
                code = self.units[(w * 7 + n) % len(self.units)]
                if not self.send(http, code, f"w{w}-{n}").acknowledged:
                    time.sleep(backoff)
                n += 1

        self.threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def acknowledged(self) -> list:
        return [s for s in self.sent if s.acknowledged]

    def refused(self) -> dict:
        """The writes not acknowledged, counted by what they met."""
        return dict(Counter(s.why for s in self.sent if not s.acknowledged).most_common())

    def wait_for(self, condition, timeout: float) -> bool:
        """Poll ``condition(sent so far)`` until true or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                snapshot = list(self.sent)
            if condition(snapshot):
                return True
            time.sleep(0.02)
        return False

    def resend_all(self) -> list:
        """Every request sent again with its Idempotency-Key and body (a client completing what it sent): the
        records of the re-sends, in the order of the first sends."""
        http, again = self.app.test_client(), []
        for first in list(self.sent):
            for _ in range(50):
                record = Sent(first.code, first.key, first.body, time.monotonic())
                answer = http.post(f"/api/v1/units/{first.code}/plan/items", json=first.body,
                                   headers=unit_headers(first.code, first.key))
                record.status, record.answer = answer.status_code, answer.get_json()
                record.answered_at = time.monotonic()
                if answer.status_code != 503:
                    break
                time.sleep(0.1)
            again.append((first, record))
        return again


def unit_codes(count: int) -> list:
    return [f"{3100100 + 100 * n:07d}" for n in range(count)]


def load_settings(data_dir, partitions: int = 16, **changes) -> Settings:
    """The app's settings: NCC_WAIT_REPLICAS=1 unless ``changes`` say otherwise."""
    return Settings(partitions=partitions, lock_grace_days=15, argon2_time_cost=1, argon2_memory_kib=8192,
                    secret_key="load-secret", data_dir=str(data_dir), evidence_url=f"file://{data_dir}/evidence",
                    wait_replicas=1, wait_timeout_ms=1000).but(**changes)


def shared_partitions(keys: Keys) -> set:
    """The partitions every write reads besides its unit's (the registry; the calendar)."""
    return {keys.partition_of(REGISTRY_STREAM), keys.partition_of(WINDOWS_STREAM)}


def node_id(port: int) -> str:
    import redis as redis_lib
    return redis_lib.Redis(port=port).execute_command("CLUSTER", "MYID").decode()


def move_slot(slot: int, source: int, target: int, *, batch: int = 5, pause: float = 0.005, midway=None) -> int:
    """Move one slot from the master on port ``source`` to the one on ``target`` as ``redis-cli --cluster reshard``
    does (CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE its keys ``batch`` at a time, SETSLOT NODE on both), with
    ``pause`` seconds between batches so that writes meet the slot half moved, and ``midway()`` called once after
    the first batch; the keys moved."""
    import redis as redis_lib
    src, dst = redis_lib.Redis(port=source), redis_lib.Redis(port=target)
    src_id, dst_id = node_id(source), node_id(target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    moved = 0
    while True:
        names = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
        if not names:
            break
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *names)
        moved += len(names)
        if midway is not None and moved == len(names):
            midway()
        time.sleep(pause)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return moved


@dataclass
class Failover:
    """One run of the failover scenario: the load, the killed master's port and units, when it was killed, and
    how long after that the first write to one of its units was acknowledged (None: none was)."""

    load: Load
    victim: int
    orphaned: set
    killed_at: float
    seen: float | None


def kill_a_master(cluster, data_dir, *, units: int = 30, writers: int = 6, warm_up: int = 60,
                  after: float = 0.5, timeout: float = 60) -> Failover:
    """The load on ``cluster`` (an EmbeddedCluster); once ``warm_up`` writes are acknowledged, the master serving
    the most units but neither the registry nor the calendar (which every write reads) SIGKILLed; the load goes on
    until a write to one of its units is acknowledged, and ``after`` seconds more."""
    load = Load(cluster.client(), load_settings(data_dir), unit_codes(units)).prepare()
    spared = {load.master_of(REGISTRY_STREAM), load.master_of(WINDOWS_STREAM)}
    by_master: dict = {}
    for code in load.units:
        by_master.setdefault(load.master_of(code), set()).add(code)
    victim = max((port for port in by_master if port not in spared), key=lambda port: len(by_master[port]))
    orphaned = by_master[victim]
    load.start(writers=writers)
    try:
        if not load.wait_for(lambda sent: sum(s.acknowledged for s in sent) >= warm_up, timeout):
            raise RuntimeError("the load did not get going")
        killed_at = time.monotonic()
        cluster.node_of(victim).kill()
        load.wait_for(lambda sent: any(s.acknowledged and s.code in orphaned and s.sent_at > killed_at
                                       for s in sent), timeout)
        time.sleep(after)
    finally:
        load.finish()
    back = [s.answered_at for s in load.acknowledged() if s.code in orphaned and s.sent_at > killed_at]
    return Failover(load, victim, orphaned, killed_at, min(back) - killed_at if back else None)


def lost_and_doubled(load: Load) -> tuple[list, list]:
    """The acknowledged writes not in the log at their version with their body, and the requests in the log more
    than once."""
    from shared.streams import read_events
    lost = []
    for sent in load.acknowledged():
        version = sent.answer["version"]
        at = read_events(load.redis, load.keys, sent.code, first=version, last=version)
        if not at or at[0].event_id != sent.answer["event_id"] or at[0].payload["name"] != sent.body["name"]:
            lost.append(sent)
    doubled = []
    for code in load.units:
        names = Counter(e.payload["name"] for e in read_events(load.redis, load.keys, code) if e.type == "ItemAdded")
        doubled += [(code, name) for name, times in names.items() if times > 1]
    return lost, doubled
