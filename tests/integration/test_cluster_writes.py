"""On a Redis Cluster with NCC_WAIT_REPLICAS=1: a write is acknowledged once the replica of its stream's master has
it; with that replica down, the write is a 503 (on the master, in the log once), and the same request sent again
with its Idempotency-Key is a 503 too until the replica has it, then answers the first answer and writes nothing
more."""
import threading
import time

import redis as redis_lib

from shared.keys import Keys
from shared.streams import read_events

PLAN = {"title": "แผนปฏิบัติการ", "first_fiscal_year": 2561, "last_fiscal_year": 2564}
UNIT = {"X-Actor": "unit:3100100", "Idempotency-Key": "plan-once"}


def resend_until_confirmed(writer, redis, keys):
    """The refused request sent again with its Idempotency-Key until the replica has caught up: the first answer,
    replayed (200), and nothing written twice (the unit's two plan events)."""
    for _ in range(100):
        again = writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
        if again.status_code != 503:
            break
    assert again.status_code == 200, again.json
    assert len(read_events(redis, keys, "3100100")) == 2


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
        still = writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
        assert still.status_code == 503, still.json        # a replay too waits for a replica to have the write
    finally:
        replica.start()
    resend_until_confirmed(writer, cluster_redis, keys)


def test_a_write_is_confirmed_by_the_connection_that_wrote_it(app_factory, redis_cluster, cluster_redis, settings):
    """WAIT counts the replicas that have the writes of the connection it is sent on: sent on another connection
    than the script's (the threads of a worker share the client's connections), it may confirm a write no replica
    has. Here the pool hands out its least recently used connection and the replica is asleep: the write is a 503."""
    writer = app_factory(cluster_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    service.appender.wait_replicas, service.appender.wait_timeout_ms = 1, 300
    keys = Keys(settings.key_prefix, settings.partitions)
    item = {"X-Actor": "unit:3100100"}
    assert writer.put("/api/v1/units/3100100/plan", json={**PLAN, "title": "แผนฉบับแรก"}, headers=item).status_code == 201
    node = cluster_redis.get_node_from_key(keys.events("3100100"))
    pool = cluster_redis.get_redis_connection(node).connection_pool
    idle = [pool.get_connection() for _ in range(2)]
    for connection in idle:                             # two connections, each last used before the write
        connection.send_command("PING")
        connection.read_response()
        pool.release(connection)
    release = pool.release

    def least_recently_used_first(connection):          # as when other threads hold the most recent ones
        release(connection)
        with pool._lock:
            pool._available_connections.insert(0, pool._available_connections.pop())
    pool.release = least_recently_used_first
    replica = redis_cluster.replicas_of(node.port)[0]
    master = redis_lib.Redis(port=node.port)
    for _ in range(100):                                # the replica has said it has everything so far
        info = master.info("replication")
        if info["slave0"]["offset"] == info["master_repl_offset"]:
            break
        time.sleep(0.05)
    asleep = threading.Thread(target=redis_lib.Redis(port=replica.port).execute_command, args=("DEBUG", "SLEEP", "1"))
    asleep.start()
    time.sleep(0.1)
    try:
        refused = writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
        assert refused.status_code == 503 and "0 of the 1 replicas" in refused.json["message"], refused.json
    finally:
        asleep.join()
    resend_until_confirmed(writer, cluster_redis, keys)


def test_one_redis_with_a_replica_waits_the_same_way(app_factory, tmp_path, settings):
    """NCC_WAIT_REPLICAS on one Redis (no cluster) with a replica: acknowledged once the replica has it; with the
    replica down, the write and its re-sends are 503, then the re-send answers the first answer."""
    from shared.embedded import EmbeddedRedis
    master = EmbeddedRedis(tmp_path / "master").start()
    replica = EmbeddedRedis(tmp_path / "replica").start()

    def follow():
        redis_lib.Redis(port=replica.port).replicaof("127.0.0.1", master.port)
        for _ in range(200):
            if redis_lib.Redis(port=replica.port).info("replication")["master_link_status"] == "up":
                break
            time.sleep(0.05)
    try:
        follow()
        client = redis_lib.Redis(port=master.port)
        writer = app_factory(client).test_client()
        appender = writer.application.extensions["ncc"]["service"].appender
        appender.wait_replicas, appender.wait_timeout_ms = 1, 300
        keys = Keys(settings.key_prefix, settings.partitions)
        assert writer.put("/api/v1/units/3100100/plan", json={**PLAN, "title": "แผนฉบับแรก"},
                          headers={"X-Actor": "unit:3100100"}).status_code == 201
        replica.kill()
        for _ in range(2):
            refused = writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
            assert refused.status_code == 503 and "0 of the 1 replicas" in refused.json["message"], refused.json
        replica.start()
        follow()
        resend_until_confirmed(writer, client, keys)
    finally:
        replica.kill()                                  # (a replica's SIGTERM takes 10 s)
        master.stop()
