"""Slots of the event store's cluster moved under a write load (NCC_WAIT_REPLICAS=1), the slots of the partitions
being written among them, their keys a few at a time so that writes meet them half moved (ASK, then TRYAGAIN for
the append script, whose keys are not all on one side): to another master, and to a master just added (which
serves no slot yet, so is in no client's table). Invariant: the clients see retries, never an error: every write
is acknowledged (the append follows the redirections itself; on a busy machine a move that outlasts its 2 s is a
503 with Retry-After for at most a tenth of them), at the version its answer named, with its body; no request is in the log twice; every chain
verifies; re-sending every request replays its first answer; the cluster is left with no slot open."""
import collections
import subprocess
import threading
import time
from pathlib import Path

import pytest
from redis import exceptions as rex

from bench.cluster_load import Load, load_settings, move_slot, unit_codes
from services.submission.appender import Appender
from shared.embedded import EmbeddedCluster, redis_server_binary
from tests.integration.test_cluster_failover import check_answers, check_log, check_resend_completes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("resharding-cluster"), masters=3, replicas=1).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redirected(monkeypatch):
    """What the append met on its way: ASK, TRYAGAIN and MOVED answers, counted."""
    seen = collections.Counter()
    send = Appender._send

    def counting(client, commands, asking=False):
        replies = send(client, commands, asking)
        if isinstance(replies[0], (rex.AskError, rex.TryAgainError)):
            seen[type(replies[0]).__name__] += 1          # MovedError is an AskError: named apart
        return replies
    monkeypatch.setattr(Appender, "_send", staticmethod(counting))
    return seen


def write_to(load: Load, slot: int):
    """A write to a unit of ``slot`` from a thread of its own, sent now (the slot half moved), or None."""
    code = next((c for c in load.units if load.partition_slot(c) == slot), None)
    if code is None:
        return None
    thread = threading.Thread(target=load.send, args=(load.app.test_client(), code, f"midway-{slot}"))
    thread.start()
    time.sleep(0.05)                                    # it reaches the slot before the next keys move
    return thread


def fresh_load(cluster, tmp_path) -> Load:
    client = cluster.client()
    client.flushall()                                   # every master: the module's tests each start anew
    return Load(client, load_settings(tmp_path), unit_codes(30)).prepare()


def move_under_load(cluster, load: Load, source: int, target: int, redirected, capsys) -> None:
    """Every slot of the partitions ``source`` serves (the registry's too, when it is there) moved to ``target``
    while six writers write, a write sent to each slot half moved; then every check."""
    client = load.redis
    slots = sorted({client.keyslot(load.keys.streams(p)) for p in range(load.keys.partitions)
                    if client.get_node_from_key(load.keys.streams(p)).port == source})
    assert any(load.partition_slot(code) in slots for code in load.units)
    load.start(writers=6)
    meanwhile = []
    try:
        assert load.wait_for(lambda sent: sum(s.acknowledged for s in sent) >= 60, 30)
        started, keys_moved = time.monotonic(), 0
        for slot in slots:
            keys_moved += move_slot(slot, source, target, batch=2, pause=0.02,
                                    midway=lambda: meanwhile.append(write_to(load, slot)))
        took = time.monotonic() - started
        for thread in filter(None, meanwhile):
            thread.join(30)
        time.sleep(0.5)                                  # and some more writes to the slots' new master
    finally:
        load.finish()
    during = [s for s in load.sent if s.sent_at < started + took and s.answered_at > started]
    slowest = max(s.answered_at - s.sent_at for s in during)
    with capsys.disabled():
        print(f"\n  {len(slots)} slots ({keys_moved} keys) moved in {took:.2f} s under the load: {len(load.sent)} "
              f"writes, {len(load.acknowledged())} acknowledged; the append met {dict(redirected)}; the slowest "
              f"answer meanwhile {slowest * 1000:.0f} ms")

    assert redirected["AskError"] + redirected["TryAgainError"] >= len(list(filter(None, meanwhile))), redirected
    fresh = cluster.client()
    assert {fresh.get_node_from_key(load.keys.streams(p)).port for p in range(load.keys.partitions)
            if fresh.keyslot(load.keys.streams(p)) in slots} == {target}
    check_answers(load.sent)
    # a write waits up to REDIRECT_SECONDS for its slot's move: on a quiet machine every one is acknowledged; on a
    # busy one a move may outlast it, and the write is a 503 with Retry-After (a retry, which the re-send completes)
    refused = [s for s in load.sent if not s.acknowledged]
    assert len(refused) <= len(load.sent) // 10, collections.Counter((s.status, s.why) for s in load.sent)
    check_log(load)
    check_resend_completes(load)
    cli = str(Path(redis_server_binary()).with_name("redis-cli"))
    check = subprocess.run([cli, "--cluster", "check", f"127.0.0.1:{target}"], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0 and "[OK] All 16384 slots covered." in check.stdout, check.stdout


def test_slots_moved_to_another_master_under_write_load(cluster, tmp_path, redirected, capsys):
    load = fresh_load(cluster, tmp_path)
    by_master = collections.Counter(load.master_of(code) for code in load.units)
    source = by_master.most_common(1)[0][0]
    target = next(port for port in by_master if port != source)
    move_under_load(cluster, load, source, target, redirected, capsys)


def test_slots_moved_to_a_master_just_added_under_write_load(cluster, tmp_path, redirected, capsys):
    load = fresh_load(cluster, tmp_path)
    added = cluster.add_master(replicas=1)
    source = collections.Counter(load.master_of(code) for code in load.units).most_common(1)[0][0]
    move_under_load(cluster, load, source, added.port, redirected, capsys)
