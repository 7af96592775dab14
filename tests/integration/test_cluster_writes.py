"""On a Redis Cluster with NCC_WAIT_REPLICAS=1: a write is acknowledged once the replica of its stream's master has
it; with that replica down, the write is a 503 (on the master, in the log once), and the same request sent again
with its Idempotency-Key once the replica is back answers the first answer and writes nothing more."""
from shared.keys import Keys
from shared.streams import read_events

PLAN = {"title": "แผนปฏิบัติการ", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
UNIT = {"X-Actor": "unit:3100100", "Idempotency-Key": "plan-once"}


def test_a_write_waits_for_a_replica_and_a_resend_completes_it(app_factory, redis_cluster, cluster_redis, settings):
    waiting = settings.but(wait_replicas=1, wait_timeout_ms=300)
    writer = app_factory(cluster_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    service.appender.wait_replicas, service.appender.wait_timeout_ms = waiting.wait_replicas, waiting.wait_timeout_ms
    keys = Keys(settings.key_prefix, settings.partitions)
    item = {"X-Actor": "unit:3100100"}
    assert writer.put("/api/v1/units/3100100/plan", json={**PLAN, "title": "แผนฉบับแรก"}, headers=item).status_code == 201
    master = cluster_redis.get_node_from_key(keys.events("3100100")).port
    replica = redis_cluster.replicas_of(master)[0]
    replica.stop()
    try:
        refused = writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
        assert refused.status_code == 503 and "0 of the 1 replicas" in refused.json["message"], refused.json
        assert refused.headers["Retry-After"]
        assert [e.payload["title"] for e in read_events(cluster_redis, keys, "3100100")] == ["แผนฉบับแรก", "แผนปฏิบัติการ"]
    finally:
        replica.start()
    for _ in range(100):                                    # the replica catches up with its master
        again = writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
        if again.status_code != 503:
            break
    assert again.status_code == 200, again.json            # the first answer, replayed: nothing written twice
    assert len(read_events(cluster_redis, keys, "3100100")) == 2
