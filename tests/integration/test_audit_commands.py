"""The auditors' commands on a real redis-server: verify-all, export, and the offline verifier."""
import json
import os
import subprocess
import sys

from shared.offline import verify_lines
from tests.api.test_write_api import ITEM, PLAN

UNIT = {"X-Actor": "unit:3100100"}


def run(redis_server, *args):
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": "8"}
    return subprocess.run([sys.executable, "-m", "services.tracker.cli", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_verify_all_export_and_offline_check(app_factory, real_redis, redis_server, keys, tmp_path):
    """verify-all passes a clean log and names a tampered unit; an export verifies offline; an edited copy does not."""
    client = app_factory(real_redis).test_client()
    client.put("/api/v1/units/3100100/plan", json=PLAN, headers=UNIT)
    client.post("/api/v1/units/3100100/plan/items", json=ITEM, headers=UNIT)
    ok = run(redis_server, "verify-all")
    assert ok.returncode == 0 and "0 bad" in ok.stdout
    out = tmp_path / "history.jsonl"
    exported = run(redis_server, "export", "--all", "--out", str(out))
    assert exported.returncode == 0
    lines = out.read_text("utf-8").splitlines()
    assert all(r["ok"] for r in verify_lines(lines).values()) and len(lines) >= 2 + 4
    offline = subprocess.run([sys.executable, "-m", "shared.offline", str(out)], capture_output=True, text=True)
    assert offline.returncode == 0 and "0 bad" in offline.stdout
    edited = [json.loads(line) for line in lines]
    target = next(e for e in edited if e["stream"] == "3100100" and e["version"] == 2)
    target["payload"]["name"] = "โครงการที่ถูกแก้"
    (tmp_path / "edited.jsonl").write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in edited), "utf-8")
    offline = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "edited.jsonl")],
                             capture_output=True, text=True)
    assert offline.returncode == 1 and "3100100: BAD at version 2" in offline.stdout
    real_redis.xdel(keys.events("3100100"), "1-0")
    bad = run(redis_server, "verify-all")
    assert bad.returncode == 1 and "BAD 3100100: version 1" in bad.stdout
