"""docker-compose.yml cannot drift from the code: each service's command starts outside Docker against a local Redis."""
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from shared.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))


def test_redis_service_is_durable():
    """The compose Redis runs with the design's durability settings and a volume."""
    redis = compose()["services"]["redis"]
    command = " ".join(redis["command"])
    for setting in ("--appendonly yes", "--appendfsync always", "--maxmemory-policy noeviction"):
        assert setting in command
    assert redis["image"].startswith("redis:7") and redis["volumes"] and redis["healthcheck"]


def test_every_service_command_starts(redis_server, tmp_path):
    """Each app service's command, with its compose environment pointed at a local Redis (and the key folder at
    keys made once, as the README says), starts and stays up; the web ones answer /readyz."""
    from shared import signing
    signing.ensure(tmp_path / "keys")
    services = {name: svc for name, svc in compose()["services"].items() if name != "redis"}
    assert set(services) == {"submission", "tracker-api", "tracker-worker", "scheduler", "reminders", "mailer", "web"}
    services = dict(sorted(services.items(), key=lambda kv: kv[0] == "web"))     # the web app after the APIs
    addresses = {}
    procs = []
    try:
        for name, svc in services.items():
            env = {**os.environ, **{k: str(v) for k, v in svc["environment"].items()}}
            env.update(REDIS_URL=redis_server.url, NCC_SECRET_KEY="compose-test-secret-of-our-own")
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
    """Each variable the compose file sets has a row in the README's configuration table."""
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme[readme.index("## Configuration"):readme.index("## The framework")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    used = {name for svc in compose()["services"].values() for name in svc.get("environment", {})}
    assert used and used <= documented, used - documented
