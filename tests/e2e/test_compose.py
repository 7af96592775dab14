"""docker-compose.yml (and docker-compose.cluster.yml over it) cannot drift from the code: each service's command
starts outside Docker against a local Redis (or a local Redis Cluster), and the cluster's nodes and its one-shot
join run here as compose runs them."""
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis as redis_lib
import yaml

from shared.embedded import EmbeddedRedis, bus_port_pair, free_port, redis_server_binary

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLUSTER_FILE = "docker-compose.cluster.yml"
NODES = [f"redis-node-{n}" for n in range(1, 7)]
APP_IMAGE = "nacc-action-plans"


def compose(name: str = "docker-compose.yml"):
    return yaml.safe_load((ROOT / name).read_text("utf-8"))


def with_cluster():
    """docker-compose.yml with docker-compose.cluster.yml over it, merged as ``docker compose -f ... -f ...`` merges
    them: a service's mappings (environment, depends_on) key by key, other values replaced; new services added."""
    base, over = compose(), compose(CLUSTER_FILE)
    services = {name: dict(svc) for name, svc in base["services"].items()}
    for name, svc in over["services"].items():
        merged = services.setdefault(name, {})
        for key, value in svc.items():
            both = isinstance(value, dict) and isinstance(merged.get(key), dict)
            merged[key] = {**merged[key], **value} if both else value
    return {**base, "services": services, "volumes": {**base["volumes"], **over["volumes"]}}


def app_services(stack) -> dict:
    """The services run from the project's image."""
    return {name: svc for name, svc in stack["services"].items() if svc.get("image") == APP_IMAGE}


def test_redis_service_is_durable():
    """The compose Redis runs with the design's durability settings and a volume."""
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    for setting in ("--appendonly yes", "--appendfsync always", "--maxmemory-policy noeviction"):
        assert setting in command
    assert redis["image"].startswith("redis:7") and redis["volumes"] and redis["healthcheck"]


@pytest.mark.parametrize("stack", ["docker-compose.yml", "with docker-compose.cluster.yml"])
def test_every_service_command_starts(stack, redis_server, tmp_path, request):
    """Each app service's command, with its compose environment pointed at a local Redis (and the key folder at
    keys made once, as the README says), starts and stays up; the web ones answer /readyz. With the cluster file
    over it, the same with the event store on a local Redis Cluster (three masters, a replica each) and RQ on the
    local Redis, as the cluster file says."""
    from shared import signing
    signing.ensure(tmp_path / "keys")
    services = app_services(with_cluster() if "cluster" in stack else compose())
    assert set(services) == {"submission", "tracker-api", "tracker-worker", "scheduler", "reminders", "mailer", "web"}
    assert {name for name in compose()["services"] if name not in services} == {"redis"}
    store = {}          # where the cluster file's store variables point here
    if "cluster" in stack:
        store = {"REDIS_URL": request.getfixturevalue("redis_cluster").url, "RQ_REDIS_URL": redis_server.url}
    services = dict(sorted(services.items(), key=lambda kv: kv[0] == "web"))     # the web app after the APIs
    addresses = {}
    procs = []
    try:
        for name, svc in services.items():
            env = {**os.environ, **{k: str(v) for k, v in svc["environment"].items()}}
            env.update(REDIS_URL=redis_server.url, NCC_SECRET_KEY="compose-test-secret-of-our-own")
            env.update({key: store[key] for key in svc["environment"] if key in store})
            assert env["NCC_ENV"] == "production"
            if "NCC_KEY_DIR" in env:
                assert env["NCC_KEY_DIR"] == "/keys" and "./keys:/keys:ro" in svc["volumes"]
                env["NCC_KEY_DIR"] = str(tmp_path / "keys")
            if name in ("submission", "tracker-api"):        # both see the one evidence volume
                assert env["NCC_EVIDENCE_URL"] == "file:///evidence" and "evidence:/evidence" in svc["volumes"]
                env["NCC_EVIDENCE_URL"] = f"file://{tmp_path}/evidence"
            for key, value in env.items():        # compose's ${VAR:-default}: the default
                env[key] = value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
                for compose_address, local in addresses.items():
                    env[key] = value = value.replace(compose_address, local)
            argv = [a.replace("redis://redis:6379/0", redis_server.url) for a in svc["command"]]
            port = None
            if "--bind" in argv:
                port = free_port()
                compose_port = argv[argv.index("--bind") + 1].rsplit(":", 1)[1]
                addresses[f"http://{name}:{compose_port}"] = f"http://127.0.0.1:{port}"
                argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
            argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
            argv = [sys.executable if a == "python" else a for a in argv]
            procs.append((name, port, subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.PIPE)))
        deadline = time.monotonic() + 30
        for name, port, proc in procs:
            if port is None:
                continue
            while True:
                assert proc.poll() is None, (name, proc.stderr.read().decode()[-2000:])
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as rv:
                        assert rv.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, f"{name} did not answer /readyz"
                    time.sleep(0.2)
        time.sleep(1)
        for name, _port, proc in procs:
            assert proc.poll() is None, (name, proc.stderr.read().decode()[-2000:])
    finally:
        for _name, _port, proc in procs:
            proc.terminate()
        for _name, _port, proc in procs:
            proc.wait(15)


def test_production_refuses_the_default_secret(redis_server):
    """The compose services run in production: started without a secret of their own, the web apps refuse."""
    svc = compose()["services"]["submission"]
    env = {**os.environ, **{k: str(v) for k, v in svc["environment"].items()}, "REDIS_URL": redis_server.url}
    env.pop("NCC_SECRET_KEY")
    code = "from services.submission.app import create_app; create_app()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and re.search("NCC_SECRET_KEY is the default one", result.stderr)


def test_every_compose_variable_is_documented():
    """Each variable the compose files set for the services has a row in the README's configuration table."""
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme[readme.index("## Configuration"):readme.index("## The framework")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    used = {name for stack in (compose(), with_cluster()) for svc in app_services(stack).values()
            for name in svc.get("environment", {})}
    assert used and used <= documented, used - documented


def test_cluster_file_puts_every_store_client_on_the_cluster():
    """Over the default stack, every service that talks to the store gets the cluster (naming its six nodes), RQ on
    the default stack's plain Redis, writes waiting for a replica, and starts once the cluster is made; nothing
    else of the default stack changes."""
    base, stack = compose(), with_cluster()
    cluster_url = "redis+cluster://" + ",".join(f"{node}:6379" for node in NODES) + "/0"
    on_store = {name for name, svc in app_services(base).items() if "REDIS_URL" in svc["environment"]}
    assert on_store == {"submission", "tracker-api", "tracker-worker", "reminders", "mailer", "scheduler"}
    for name in on_store:
        svc = stack["services"][name]
        assert svc["environment"]["REDIS_URL"] == cluster_url, name
        assert svc["environment"]["RQ_REDIS_URL"] == "redis://redis:6379/0", name
        assert svc["environment"]["NCC_WAIT_REPLICAS"] == "1", name
        assert svc["depends_on"]["redis-cluster-init"] == {"condition": "service_completed_successfully"}, name
        assert svc["depends_on"]["redis"] == {"condition": "service_healthy"}, name      # RQ's Redis, kept
        changed = {k for k in base["services"][name]["environment"]
                   if base["services"][name]["environment"][k] != svc["environment"][k]}
        assert changed == {"REDIS_URL"}, (name, changed)
    for name in ("web", "redis"):
        assert stack["services"][name] == base["services"][name], name
    over = compose(CLUSTER_FILE)["services"]
    assert set(over) == set(NODES) | {"redis-cluster-init"} | on_store
    assert over["redis-cluster-init"]["environment"]["NODES"].split() == [f"{node}:6379" for node in NODES]


def test_cluster_nodes_are_durable():
    """Each of the six nodes runs clustered with the single Redis's durability settings, a volume of its own and a
    healthcheck the join waits for."""
    services = compose(CLUSTER_FILE)["services"]
    volumes = set()
    for node in NODES:
        svc = services[node]
        command = " ".join(svc["command"])
        for setting in ("--cluster-enabled yes", "--appendonly yes", "--appendfsync always",
                        "--maxmemory-policy noeviction"):
            assert setting in command, (node, setting)
        assert svc["image"].startswith("redis:7") and svc["healthcheck"]
        volumes.update(svc["volumes"])
        assert services["redis-cluster-init"]["depends_on"][node] == {"condition": "service_healthy"}
    assert volumes == {f"{node}:/data" for node in NODES}


def test_cluster_join_makes_three_masters_with_a_replica_each(tmp_path):
    """The one-shot join's script, run by sh as compose runs it (``$$`` is compose's ``$``), against six local
    redis-servers started with the node services' own arguments: three masters, a replica each, every slot served;
    run again, it finds the cluster made and leaves it."""
    services = compose(CLUSTER_FILE)["services"]
    init = services["redis-cluster-init"]
    assert init["command"][:2] == ["sh", "-ec"]
    script = init["command"][2]
    assert not re.search(r"(?<!\$)\$(?!\$)", script), "a single $ would be compose's, not the shell's"
    nodes = []
    try:
        for node in NODES:
            args = services[node]["command"]
            assert args[:3] == ["redis-server", "--port", "6379"]
            nodes.append(EmbeddedRedis(tmp_path / node, port=bus_port_pair(), extra_args=tuple(args[3:])).start())
        names = dict(zip(NODES, nodes))
        env = {**os.environ, "PATH": f"{Path(redis_server_binary()).parent}{os.pathsep}{os.environ['PATH']}",
               "NODES": " ".join(f"localhost:{names[node.split(':')[0]].port}"
                                 for node in init["environment"]["NODES"].split())}
        made = subprocess.run(["sh", "-ec", script.replace("$$", "$")], env=env, capture_output=True, text=True,
                              timeout=120)
        assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
        assert "every replica linked" in made.stdout
        roles = [redis_lib.Redis(port=node.port).info("replication") for node in nodes]
        masters = [info for info in roles if info["role"] == "master"]
        assert len(masters) == 3 and all(int(info["connected_slaves"]) == 1 for info in masters)
        info = redis_lib.Redis(port=nodes[0].port).execute_command("CLUSTER", "INFO").decode()
        assert "cluster_state:ok" in info and "cluster_slots_assigned:16384" in info
        again = subprocess.run(["sh", "-ec", script.replace("$$", "$")], env=env, capture_output=True, text=True,
                               timeout=60)
        assert again.returncode == 0 and "already made" in again.stdout, again.stdout + again.stderr
    finally:
        for node in nodes:
            node.stop()
