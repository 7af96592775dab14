"""Importing the supervision tree at national size, beside importing the same units without it, in the same run.

On fresh real redis-servers (AOF, appendfsync always), through the operator commands a person runs:

- **the tree**: ``import-supervisors`` with 9 NACC regions, 76 province offices under them and 878 district
  offices under those (963 supervisory units, three levels), then ``import-units`` with the 7,927 units of
  bench/national.py, each under a district office (the Bangkok units under a Bangkok office);
- **baseline**: ``import-units`` of the same 7,927 units with no ``supervisor`` column, into another store;
- then the overview of a region (its whole subtree, 1/9 of the country, with one line per province) and NACC's
  list of the regions, each timed as the median of 5 calls of the read function.

Run: .venv/bin/python -m bench.hierarchy [--units 7927] | tee docs/benchmarks/hierarchy-7927.txt
"""
from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import redis as redis_lib

from bench import national
from services.submission.app import create_app
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.embedded import EmbeddedRedis
from shared.fiscal import BANGKOK
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM

REGIONS, PROVINCES, DISTRICTS = 9, 76, 878


def tree() -> list[tuple[str, str, str]]:
    """(username, name, parent): regions, provinces under them, districts under the provinces."""
    rows = [(f"nacc-region-{r}", f"สำนักงาน ป.ป.ช. ภาค {r}", "") for r in range(1, REGIONS + 1)]
    rows += [(f"sthj-{p:02d}", f"สำนักงานส่งเสริมการปกครองท้องถิ่นจังหวัดทดสอบ {p:02d}", f"nacc-region-{p % REGIONS + 1}")
             for p in range(1, PROVINCES + 1)]
    rows += [(f"stha-{d:03d}", f"สำนักงานส่งเสริมการปกครองท้องถิ่นอำเภอทดสอบ {d:03d}", f"sthj-{d % PROVINCES + 1:02d}")
             for d in range(DISTRICTS)]
    return rows


def import_with(settings, tmp: Path, rows: list[dict], supervisors: list | None) -> tuple[dict, object, object]:
    """Run the imports into a fresh redis-server; the seconds each took, the app and the server."""
    server = EmbeddedRedis(tmp, extra_args=("--appendfsync", "always")).start()
    redis = redis_lib.Redis.from_url(server.url)
    app = create_app(settings, redis=redis, identify=actor_from_header, nudge=lambda stream: None)
    units_csv, sups_csv = tmp / "units.csv", tmp / "supervisors.csv"
    with units_csv.open("w", encoding="utf-8", newline="") as f:
        fields = ["code", "name_th", "kind", "province"] + (["supervisor"] if supervisors else [])
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    times = {}
    with app.app_context():
        runner = app.test_cli_runner()
        if supervisors:
            with sups_csv.open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows([("username", "name", "parent"), *supervisors])
            started = time.perf_counter()
            result = runner.invoke(args=["import-supervisors", str(sups_csv), "--operator", "bench"])
            assert result.exit_code == 0, result.output
            times["supervisors"] = time.perf_counter() - started
        started = time.perf_counter()
        result = runner.invoke(args=["import-units", str(units_csv), "--operator", "bench"])
        assert result.exit_code == 0, result.output
        times["units"] = time.perf_counter() - started
    return times, app, server


def median_ms(call, n: int = 5) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=7_927)
    args = parser.parse_args()
    supervisors = tree()
    districts = [s[0] for s in supervisors if s[0].startswith("stha-")]
    rows = [{**row, "supervisor": districts[n % len(districts)]} for n, row in enumerate(national.units(args.units))]
    with tempfile.TemporaryDirectory(prefix="bench-hierarchy-") as tmp_name:
        tmp = Path(tmp_name)
        settings = national.SETTINGS
        base, base_app, base_server = import_with(settings, tmp / "baseline", rows, None)
        base_server.stop()
        times, app, server = import_with(settings, tmp / "tree", rows, supervisors)
        try:
            redis = redis_lib.Redis.from_url(server.url)
            Tracker(redis, settings).project(REGISTRY_STREAM)
            now = datetime(2024, 4, 20, 10, 0, tzinfo=BANGKOK)
            reader = create_reader(settings, redis=redis, clock=lambda: now, identify=actor_from_header).test_client()
            region = reader.get("/api/v1/supervisors/nacc-region-1/overview?fiscal_year=2567&round=6",
                                headers={"X-Actor": "supervisor:nacc-region-1"})
            assert region.status_code == 200, region.json
            top = reader.get("/api/v1/rounds/2567/6/supervisors", headers={"X-Actor": "nacc:nacc-bench"})
            assert len(top.json["children"]) == REGIONS and sum(c["expected"] for c in top.json["children"]) == len(rows)
            region_ms = median_ms(lambda: reader.get("/api/v1/supervisors/nacc-region-1/overview?fiscal_year=2567"
                                                     "&round=6", headers={"X-Actor": "supervisor:nacc-region-1"}))
            top_ms = median_ms(lambda: reader.get("/api/v1/rounds/2567/6/supervisors",
                                                  headers={"X-Actor": "nacc:nacc-bench"}))
        finally:
            server.stop()
    n = len(rows)
    print(f"{n:,} units, {len(supervisors)} supervisory units ({REGIONS} regions > {PROVINCES} provinces > "
          f"{DISTRICTS} districts); redis appendfsync always; one process, through the operator commands")
    print(f"  import-supervisors: {times['supervisors']:.1f} s ({len(supervisors) * 2} events: accounts and parents)")
    print(f"  import-units with the supervisor column: {times['units']:.1f} s "
          f"({n / times['units']:.0f} units/s, with {DISTRICTS} SupervisorAssigned events)")
    print(f"  the tree in all: {times['supervisors'] + times['units']:.1f} s")
    print(f"  baseline, import-units without the tree, same units: {base['units']:.1f} s "
          f"({n / base['units']:.0f} units/s); with the tree it takes "
          f"{(times['supervisors'] + times['units']) / base['units']:.2f}x its time")
    print(f"  overview of one region ({region.json['expected']:,} units, {len(region.json['children'])} provinces): "
          f"{region_ms:.0f} ms median of 5")
    print(f"  NACC's list of the {REGIONS} regions with their subtrees' figures ({n:,} units): {top_ms:.0f} ms median of 5")


if __name__ == "__main__":
    main()
