"""Which client a URL gives: one Redis, or a Redis Cluster from its nodes; RQ refuses a cluster."""
import pytest
from redis.cluster import RedisCluster

from shared.config import Settings
from shared.connections import is_cluster, queue_client, redis_client


def test_a_plain_url_is_one_redis_and_a_cluster_url_names_its_nodes(redis_cluster):
    assert not is_cluster(redis_client("redis://127.0.0.1:6399/0"))
    client = redis_client(redis_cluster.url)
    assert isinstance(client, RedisCluster) and is_cluster(client)
    primaries = {n.port for n in client.get_primaries()}
    assert len(primaries) == 3 and primaries <= {n.port for n in redis_cluster.nodes}


def test_rq_refuses_a_cluster_and_shares_the_stores_plain_client():
    cluster = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001/0"
    with pytest.raises(ValueError, match="RQ_REDIS_URL must name one plain Redis"):
        queue_client(Settings(redis_url=cluster))
    store = object()
    assert queue_client(Settings(redis_url="redis://h:1/0"), store) is store


def test_a_cluster_client_is_given_a_node_its_table_has_not(redis_cluster):
    """A master that serves no slot yet is in no client's table; an ASK to it (its first slots being moved to it)
    finds it all the same (redis-py failed inside with AttributeError)."""
    from redis.cluster import PRIMARY
    client = redis_client(redis_cluster.url)
    node = client.get_node(node_name="127.0.0.1:1")
    assert (node.host, node.port, node.server_type) == ("127.0.0.1", 1, PRIMARY)
    assert client.get_node(host="127.0.0.1", port=1) is node
