"""Failover of the event store's cluster as its clients see it: a master SIGKILLed under a write load.

Each run starts a fresh cluster of three masters with two replicas each (bench.cluster_load's scenario, the one
tests/integration/test_cluster_failover.py checks): six writer threads add plan items to 30 units through the
submission app (NCC_WAIT_REPLICAS=1), each request with its own Idempotency-Key; once 60 are acknowledged, the
master serving the most units (but not the registry, which every write reads) is SIGKILLed and its replica promoted
by the cluster itself (cluster-node-timeout). Failover as the clients see it: from the kill to the first
acknowledged write to one of that master's units; the other masters' units are refused too (CLUSTERDOWN) while
the cluster is marked down, from the failure's detection to the promotion. Then every request is sent again with
its key: lost counts acknowledged writes not in the log at their version, doubled counts requests in the log twice.

Run: .venv/bin/python -m bench.failover [--runs 5] [--node-timeout-ms 2000] | tee docs/benchmarks/failover.txt
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from collections import Counter
from pathlib import Path

from bench.cluster_load import kill_a_master, lost_and_doubled
from shared.embedded import EmbeddedCluster


def one_run(node_timeout_ms: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ncc-failover-") as folder:
        cluster = EmbeddedCluster(Path(folder) / "cluster", masters=3, replicas=2,
                                  node_timeout_ms=node_timeout_ms).start()
        try:
            run = kill_a_master(cluster, Path(folder))
            load = run.load
            lost, _doubled = lost_and_doubled(load)
            again = load.resend_all()
            _lost, doubled = lost_and_doubled(load)       # after the re-sends: still none twice
            resend_ok = (all(second.acknowledged for _first, second in again)
                         and all(second.status == 200 for first, second in again if first.acknowledged)
                         and all(Counter(names_of(load, code)) == Counter(s.body["name"] for s in load.sent
                                                                           if s.code == code) for code in load.units))
            others = [s for s in load.sent if not s.acknowledged and s.code not in run.orphaned]
            others_down = max(s.answered_at for s in others) - min(s.sent_at for s in others) if others else 0.0
            return {"seen": run.seen, "others_down": others_down, "writes": len(load.sent),
                    "acknowledged": len(load.acknowledged()),
                    "refused": load.refused(), "statuses": Counter(s.status for s in load.sent),
                    "lost": len(lost), "doubled": len(doubled), "resend_ok": resend_ok,
                    "orphaned": len(run.orphaned)}
        finally:
            cluster.stop()


def names_of(load, code) -> list:
    from shared.streams import read_events
    return [e.payload["name"] for e in read_events(load.redis, load.keys, code) if e.type == "ItemAdded"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--node-timeout-ms", type=int, default=2000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)          # the 503s' "redis unavailable" lines: counted below instead
    print(f"3 masters x 2 replicas (redis-server 6.2, AOF fsync always), cluster-node-timeout {args.node_timeout_ms} "
          f"ms; 6 writer threads, 30 units, NCC_WAIT_REPLICAS=1; one master SIGKILLed per run")
    runs = []
    for n in range(1, args.runs + 1):
        result = one_run(args.node_timeout_ms)
        runs.append(result)
        seen = f"{result['seen']:.2f} s" if result["seen"] is not None else "never"
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result["statuses"].items()))
        print(f"  run {n}: failover seen by the clients {seen}; {result['writes']} writes ({statuses}), "
              f"{result['acknowledged']} acknowledged, not acknowledged: {result['refused']}; "
              f"{result['orphaned']} units on the killed master, the others refused for "
              f"{result['others_down']:.2f} s; lost {result['lost']}, doubled {result['doubled']}; "
              f"re-sending every request: {'all 2xx, one event each' if result['resend_ok'] else 'FAILED'}")
    seen = [r["seen"] for r in runs if r["seen"] is not None]
    total = {what: sum(r[what] for r in runs) for what in ("writes", "acknowledged", "lost", "doubled")}
    print(f"failover seen by the clients over {len(runs)} runs: median {statistics.median(seen):.2f} s, "
          f"max {max(seen):.2f} s; the other masters' units refused for "
          f"{statistics.median(r['others_down'] for r in runs):.2f} s (median); writes {total['writes']}, "
          f"acknowledged {total['acknowledged']}, lost {total['lost']}, doubled {total['doubled']}")

if __name__ == "__main__":
    main()
