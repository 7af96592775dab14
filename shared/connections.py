"""Connections to the event store and to RQ's queues, from their URLs: one Redis, or a Redis Cluster."""
from __future__ import annotations

import redis as redis_lib

CLUSTER_SCHEME = "redis+cluster://"
# every error the store's client raises when the store cannot answer: one Redis's, and a cluster client's own
# (a RedisClusterException is not a RedisError)
STORE_ERRORS = (redis_lib.RedisError, redis_lib.exceptions.RedisClusterException)
# what redis-py's cluster client raises (a RedisClusterException, not a RedisError) when no node gives it a table
CLUSTER_UNREACHABLE = ("Redis Cluster cannot be connected", "All slots are not covered")


def redis_client(url: str, **options):
    """A client for ``url``: ``redis+cluster://host:port[,host:port...]`` a Redis Cluster (the nodes named are where
    it starts looking), anything else one Redis (``redis_lib.Redis.from_url``)."""
    if not url.startswith(CLUSTER_SCHEME):
        return redis_lib.Redis.from_url(url, **options)
    from redis.cluster import ClusterNode, RedisCluster
    hosts = url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0]
    nodes = [ClusterNode(host, int(port)) for host, port in (h.rsplit(":", 1) for h in hosts.split(",") if h)]
    client = RedisCluster(startup_nodes=nodes, **options)
    _nodes_on_demand(client.nodes_manager)
    return client


def _nodes_on_demand(manager) -> None:
    """redis-py follows an ASK only to a node its table has, and its table has the nodes that serve slots: a master
    just added, being given its first slots, is not there, and every read redirected to it failed inside redis-py
    (AttributeError, a 500). Such a node is added to the table as a master when it is first asked for (the next
    reading of the table from the cluster names it anyway once it serves a slot). The client's pipelines share
    the manager."""
    from redis.cluster import PRIMARY, ClusterNode, get_node_name
    lookup = manager.get_node

    def get_node(host=None, port=None, node_name=None):
        node = lookup(host, port, node_name)
        if node is None and (node_name or (host and port)):
            if node_name:
                host, port = node_name.rsplit(":", 1)
            with manager._lock:
                node = manager.nodes_cache.setdefault(get_node_name(host, int(port)),
                                                      ClusterNode(host, int(port), PRIMARY))
        return node
    manager.get_node = get_node


def unavailable_reason(error: BaseException) -> str | None:
    """What a store error means to a client when it is one that the same request sent again a moment later gets
    past (a node down or loading, a failover or a slot move under way), else None (Redis refused what was sent:
    a bug, not an outage). Cluster errors first: ``ClusterDownError`` is a ``ResponseError`` too."""
    from redis import exceptions as e
    if isinstance(error, e.ClusterDownError):
        return "the event store's cluster is down while a failed master is replaced"
    if isinstance(error, (e.TryAgainError, e.AskError)):          # MovedError is an AskError
        return "the event store's cluster is moving this request's data to another node"
    if isinstance(error, e.SlotNotCoveredError):
        return "no node of the event store's cluster serves this request's data just now"
    if isinstance(error, e.RedisClusterException) and str(error).startswith(CLUSTER_UNREACHABLE):
        return "no node of the event store's cluster answers"
    if isinstance(error, e.ClusterError):                           # "TTL exhausted": redirected again and again
        return "the event store's cluster kept redirecting this request"
    if isinstance(error, e.BusyLoadingError):
        return "the event store is loading its data"
    if isinstance(error, (e.ConnectionError, e.TimeoutError)):
        return "the event store cannot be reached"
    if isinstance(error, e.ReadOnlyError):
        return "the event store's node is a replica just now"
    if isinstance(error, e.OutOfMemoryError):
        return "the event store is full"
    return None


def is_cluster(redis) -> bool:
    """Whether a client talks to a Redis Cluster (which runs no script inside a pipeline)."""
    from redis.cluster import RedisCluster
    return isinstance(redis, RedisCluster)


def store_client(settings):
    """The event store: ``REDIS_URL``, one Redis or a Redis Cluster (``redis+cluster://node,node,...``)."""
    return redis_client(settings.redis_url)


def queue_client(settings, store=None):
    """RQ's Redis: ``RQ_REDIS_URL``, the store's own client when it is the same URL. RQ needs one plain Redis (it
    does not run on a Cluster): a cluster URL there is refused, saying so."""
    if settings.rq_url.startswith(CLUSTER_SCHEME):
        raise ValueError("RQ_REDIS_URL must name one plain Redis (RQ does not run on a Redis Cluster); with REDIS_URL "
                         "on a cluster, set RQ_REDIS_URL to another Redis")
    if settings.rq_url == settings.redis_url and store is not None:
        return store
    return redis_lib.Redis.from_url(settings.rq_url)
