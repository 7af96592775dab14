"""What a client gets while the event store's cluster fails over or moves slots: redis-py's cluster errors, raised
before the write is decided or by the append itself, are a 503 naming what the cluster is doing, with Retry-After,
never a 500."""
import pytest
from redis import exceptions as rex


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
