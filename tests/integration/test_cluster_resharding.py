"""Slots of the event store's cluster moved to another master under a write load (NCC_WAIT_REPLICAS=1), the slots of
the partitions being written among them, their keys a few at a time so that writes meet them half moved (ASK, then
TRYAGAIN for the append script, whose keys are not all on one side). Invariant: the clients see retries, never an
error: every write is acknowledged, at the version its answer named, with its body; no request is in the log twice;
every chain verifies; re-sending every request replays its first answer; the cluster is left with no slot open."""
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


def write_to(load: Load, slot: int):
    """A write to a unit of ``slot`` from a thread of its own, sent now (the slot half moved), or None."""
    code = next((c for c in load.units if load.partition_slot(c) == slot), None)
    if code is None:
        return None
    thread = threading.Thread(target=load.send, args=(load.app.test_client(), code, f"midway-{slot}"))
    thread.start()
    time.sleep(0.05)                                    # it reaches the slot before the next keys move
    return thread


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("resharding-cluster"), masters=3, replicas=1).start()
    yield cluster
    cluster.stop()


def test_slots_moved_under_write_load(cluster, tmp_path, monkeypatch, capsys):
    client = cluster.client()
    load = Load(client, load_settings(tmp_path), unit_codes(30)).prepare()
    by_master = collections.defaultdict(set)
    for code in load.units:
        by_master[load.master_of(code)].add(code)
    source = max(by_master, key=lambda port: len(by_master[port]))
    target = next(port for port in by_master if port != source)
    # every partition the source serves (the registry's too, when it is there): units being written among them
    slots = sorted({client.keyslot(load.keys.streams(p)) for p in range(load.keys.partitions)
                    if client.get_node_from_key(load.keys.streams(p)).port == source})
    assert {load.partition_slot(code) for code in by_master[source]} <= set(slots)

    redirected = collections.Counter()
    send = Appender._send

    def counting(client, commands, asking=False):                # what the append met on its way
        replies = send(client, commands, asking)
        if isinstance(replies[0], (rex.AskError, rex.TryAgainError)):
            redirected[type(replies[0]).__name__] += 1          # MovedError is an AskError: named apart
        return replies
    monkeypatch.setattr(Appender, "_send", staticmethod(counting))

    load.start(writers=6)
    try:
        assert load.wait_for(lambda sent: sum(s.acknowledged for s in sent) >= 60, 30)
        started, keys_moved, meanwhile = time.monotonic(), 0, []
        for slot in slots:
            keys_moved += move_slot(slot, source, target, batch=2, pause=0.02, midway=lambda: meanwhile.append(
                write_to(load, slot)))
        took = time.monotonic() - started
        for thread in meanwhile:
            if thread:
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

    assert redirected["AskError"] + redirected["TryAgainError"] >= len([t for t in meanwhile if t]), redirected
    fresh = cluster.client()
    assert {fresh.get_node_from_key(load.keys.streams(p)).port for p in range(load.keys.partitions)
            if fresh.keyslot(load.keys.streams(p)) in slots} == {target}
    check_answers(load.sent)
    assert all(s.acknowledged for s in load.sent), collections.Counter((s.status, s.error) for s in load.sent)
    check_log(load)
    check_resend_completes(load)
    cli = str(Path(redis_server_binary()).with_name("redis-cli"))
    check = subprocess.run([cli, "--cluster", "check", f"127.0.0.1:{target}"], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0 and "[OK] All 16384 slots covered." in check.stdout, check.stdout
