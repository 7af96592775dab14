"""Registry writes cost the same at any registry size: a 10,000-row import, bounded by counting, not by a clock."""
import csv
import statistics
import tracemalloc

from services.submission.app import create_app
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM
from shared.streams import version_of

ROWS = 10_000
EARLY, LATE = range(200, 300), range(ROWS - 100, ROWS)      # appends observed, by their number


def test_a_10000_row_import_allocates_as_little_per_append_at_the_end_as_at_the_start(fake_redis, settings, tmp_path):
    """Importing 10,000 units through import-units: the memory one append allocates at its peak (fold, decide,
    append) is the same with 10,000 units registered as with 200, so no append copies or re-parses the registry;
    every unit is registered exactly once."""
    path = tmp_path / "units.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["code", "name_th", "kind", "province"])
        for n in range(ROWS):
            writer.writerow([f"{5000000 + n:07d}", f"องค์การบริหารส่วนตำบลทดสอบที่ {n + 1}",
                             "subdistrict_administration", f"จังหวัดทดสอบ {n % 76 + 1:02d}"])
    app = create_app(settings, redis=fake_redis, identify=actor_from_header, nudge=lambda stream: None)
    service = app.extensions["ncc"]["service"]
    peaks = {"early": [], "late": []}
    state = {"appended": 0, "baseline": 0}

    def observe(event):
        """Called as each append lands: the peak of what it allocated (fold, decide, append) since the last."""
        state["appended"] = n = state["appended"] + 1
        if tracemalloc.is_tracing():
            peaks["early" if n in EARLY else "late"].append(tracemalloc.get_traced_memory()[1] - state["baseline"])
        if n + 1 in EARLY or n + 1 in LATE:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
            tracemalloc.reset_peak()
            state["baseline"] = tracemalloc.get_traced_memory()[0]
        elif tracemalloc.is_tracing():
            tracemalloc.stop()

    service.on_append = observe
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["import-units", str(path), "--operator", "op-test"])
    tracemalloc.stop()
    assert result.exit_code == 0, result.output
    assert f"{ROWS} units registered or updated" in result.output
    assert version_of(fake_redis, service.keys, REGISTRY_STREAM) == ROWS
    assert len(service.load(REGISTRY_STREAM).units) == ROWS
    early, late = statistics.median(peaks["early"]), statistics.median(peaks["late"])
    assert len(peaks["early"]) >= 90 and len(peaks["late"]) >= 90
    # a copy of the registry per append would make the late peaks about 50 times the early ones
    assert late <= 1.5 * early + 4096, (early, late)
