"""A master of the event store's cluster SIGKILLed under a write load, with NCC_WAIT_REPLICAS=1: the cluster promotes
a replica of its own (node timeout), the clients go on. Invariant: every acknowledged write is in the log at the
version its answer named, with its body; no request is in the log twice; every chain verifies; every answer is 2xx
or a 503 with Retry-After naming what failed (never a 500); re-sending every request with its Idempotency-Key
completes the rest, the acknowledged ones replayed, one event per request in the end.

The cluster is this module's own (three masters, two replicas each: with one, the promoted replica would have no
replica left to confirm the writes of its slots until the killed node came back). Below it, each of redis-py's
cluster errors, raised before the write is decided or by the append itself, is a 503 naming what the cluster is
doing."""
import collections

import pytest
from redis import exceptions as rex

from bench.cluster_load import Load, kill_a_master, lost_and_doubled
from shared.embedded import EmbeddedCluster
from shared.streams import read_events, verify_stream
from tests.e2e.test_faults import assert_store_consistent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("failover-cluster"), masters=3, replicas=2).start()
    yield cluster
    cluster.stop()


def check_log(load: Load) -> None:
    """Every acknowledged write at its version with its body; no request twice; every chain verifies."""
    lost, doubled = lost_and_doubled(load)
    assert not lost and not doubled, (lost[:3], doubled[:3])
    for code in load.units:
        assert verify_stream(load.redis, load.keys, code)["ok"], code


def check_answers(sent) -> None:
    """2xx, or 503 with Retry-After and a reason; nothing raised, no 500."""
    answers = collections.Counter(s.status for s in sent)
    assert set(answers) <= {200, 201, 503}, answers
    for refused in (s for s in sent if s.status == 503):
        assert refused.retry_after and "Idempotency-Key" in refused.answer["message"], refused.answer


def check_resend_completes(load: Load) -> None:
    """Every request sent again: 2xx, the acknowledged ones the first answer again (200); then one event each."""
    for first, again in load.resend_all():
        assert again.acknowledged, (first.key, again.status, again.answer)
        if first.acknowledged:
            assert (again.status, again.answer["event_id"]) == (200, first.answer["event_id"])
    for code in load.units:
        names = sorted(e.payload["name"] for e in read_events(load.redis, load.keys, code) if e.type == "ItemAdded")
        assert names == sorted(s.body["name"] for s in load.sent if s.code == code), code
    assert_store_consistent(load.redis, load.keys)


def test_a_master_killed_under_write_load(cluster, tmp_path, capsys):
    run = kill_a_master(cluster, tmp_path)
    load = run.load
    assert run.orphaned and len(run.orphaned) < len(load.units)
    assert run.seen is not None, "no write to the killed master's streams was acknowledged after the failover"
    not_acked = [s for s in load.sent if not s.acknowledged]
    with capsys.disabled():
        print(f"\n  failover seen by the clients: {run.seen:.2f} s from the kill to the first acknowledged write to "
              f"the killed master's streams; {len(load.sent)} writes, {len(load.acknowledged())} acknowledged, "
              f"{len(not_acked)} not ({load.refused()}), to {len({s.code for s in not_acked})} of the "
              f"{len(load.units)} units")
    assert run.seen < 30                                # a sanity bound, not a speed requirement
    assert load.master_of(next(iter(run.orphaned))) != run.victim

    check_answers(load.sent)
    check_log(load)
    check_resend_completes(load)


# what redis-py's cluster client raises while a master fails over or a slot moves, and the reason the 503 gives
CLUSTER_ERRORS = [
    (rex.ClusterDownError("The cluster is down"), "cluster is down while a failed master is replaced"),
    (rex.MasterDownError("Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
     "cluster is down while a failed master is replaced"),
    (rex.TryAgainError("Multiple keys request during rehashing of slot"), "moving this request's data"),
    (rex.AskError("3999 127.0.0.1:6381"), "moving this request's data"),
    (rex.MovedError("3999 127.0.0.1:6381"), "moving this request's data"),
    (rex.ClusterError("TTL exhausted."), "kept redirecting this request"),
    (rex.SlotNotCoveredError('Slot "3999" is not covered by the cluster.'), "serves this request's data"),
    (rex.RedisClusterException("Redis Cluster cannot be connected. Please provide at least one reachable node"),
     "no node of the event store's cluster answers"),
    (rex.ConnectionError("Error 111 connecting to 127.0.0.1:6381. Connection refused."), "cannot be reached"),
]
ITEM = {"name": "โครงการ", "kind": "project", "dimension": 2, "sub_dimension": "2.2", "fiscal_years": [2564]}


@pytest.mark.parametrize("where", ["reading", "appending"])
@pytest.mark.parametrize("error,reason", CLUSTER_ERRORS, ids=lambda v: type(v).__name__ if isinstance(v, Exception)
                         else None)
def test_cluster_errors_are_503_with_the_reason_and_retry_after(app_factory, fake_redis, monkeypatch, where, error,
                                                                 reason):
    """Raised before the write is decided (reading the registry, the stream) or by the append itself: a 503 naming
    what the cluster is doing, with Retry-After, never a 500."""
    app = app_factory(fake_redis)
    http, service = app.test_client(), app.extensions["ncc"]["service"]
    assert http.put("/api/v1/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                        "last_fiscal_year": 2564},
                    headers={"X-Actor": "unit:3100100"}).status_code == 201

    def fail(*args, **kwargs):
        raise error
    if where == "reading":
        monkeypatch.setattr(service, "load", fail)
    else:
        monkeypatch.setattr(service.appender, "append", fail)
    answer = http.post("/api/v1/units/3100100/plan/items", json=ITEM,
                       headers={"X-Actor": "unit:3100100", "Idempotency-Key": "k1"})
    assert answer.status_code == 503, answer.get_json()
    assert reason in answer.json["message"] and type(error).__name__ in answer.json["message"]
    assert "Idempotency-Key" in answer.json["message"] and answer.headers["Retry-After"] == "1"


def test_a_cluster_client_refusing_what_it_was_given_stays_a_500(app_factory, fake_redis, monkeypatch):
    """A RedisClusterException that is no outage (keys of several slots in one command: a bug) is not hidden as 503."""
    app = app_factory(fake_redis)

    def fail(*args, **kwargs):
        raise rex.RedisClusterException("Keys in request don't hash to the same slot")
    monkeypatch.setattr(app.extensions["ncc"]["service"], "load", fail)
    answer = app.test_client().post("/api/v1/units/3100100/plan/items", json=ITEM, headers={"X-Actor": "unit:3100100"})
    assert answer.status_code == 500
