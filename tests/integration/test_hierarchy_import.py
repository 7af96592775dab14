"""Importing the supervision tree from CSV: supervisors with their parents, units with their supervisor; a bad file
writes nothing; a second import of the same files changes nothing; moving a unit takes it from its old supervisor."""
import csv

import pytest

from services.submission.app import create_app
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM
from shared.streams import read_events
from tests.conftest import dump_log


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def app(settings, any_redis):
    return create_app(settings, redis=any_redis, identify=actor_from_header, nudge=lambda stream: None)


def run(app, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=[*args, "--operator", "op-test"])


# three levels: a region, 3 provinces under it, 2 districts under each province, 5 units under each district
SUPERVISORS = [("region-ne", "สำนักงาน ป.ป.ช. ภาค 4", "")] + [
    (f"prov-{p}", f"สถ.จ. {p}", "region-ne") for p in range(3)] + [
    (f"dist-{p}-{d}", f"สถ.อ. {p}-{d}", f"prov-{p}") for p in range(3) for d in range(2)]
UNITS = [(f"4{p}{d}{n:04d}", f"อบต. ทดสอบ {p}-{d}-{n}", "subdistrict_administration", "ขอนแก่น", f"dist-{p}-{d}")
         for p in range(3) for d in range(2) for n in range(5)]


def test_a_three_level_tree_imports_and_a_second_import_changes_nothing(app, tmp_path, any_redis):
    # children before parents in the file: the import puts parents in place first
    sups = write_csv(tmp_path / "sup.csv", ["username", "name", "parent"], list(reversed(SUPERVISORS)))
    units = write_csv(tmp_path / "units.csv", ["code", "name_th", "kind", "province", "supervisor"], UNITS)
    first = run(app, "import-supervisors", str(sups))
    assert first.exit_code == 0, first.output
    assert "10 supervisory units created, 9 put under a new parent" in first.output
    second = run(app, "import-units", str(units))
    assert second.exit_code == 0, second.output
    assert "30 units put under their supervisors" in second.output
    registry = app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
    assert registry.scope_of("region-ne") == {u[0] for u in UNITS}
    assert registry.scope_of("prov-1") == {u[0] for u in UNITS if u[4].startswith("dist-1-")}
    assert registry.above("dist-2-1") == ["prov-2", "region-ne"]
    assert registry.children_of(None) == ["region-ne"]
    before = dump_log(any_redis)
    assert run(app, "import-supervisors", str(sups)).exit_code == 0
    again = run(app, "import-units", str(units))
    assert again.exit_code == 0 and "0 units put under" in again.output
    assert dump_log(any_redis) == before


def test_moving_units_and_supervisors_by_import(app, tmp_path, any_redis):
    run(app, "import-supervisors", str(write_csv(tmp_path / "s.csv", ["username", "name", "parent"], SUPERVISORS)))
    run(app, "import-units", str(write_csv(tmp_path / "u.csv", ["code", "name_th", "kind", "province", "supervisor"],
                                           UNITS)))
    moved = [(*UNITS[0][:4], "dist-2-0")]
    assert run(app, "import-units", str(write_csv(tmp_path / "m.csv", ["code", "name_th", "kind", "province",
                                                                        "supervisor"], moved))).exit_code == 0
    result = run(app, "import-supervisors", str(write_csv(tmp_path / "m2.csv", ["username", "name", "parent"],
                                                          [("dist-0-1", "สถ.อ. 0-1", "prov-2")])))
    assert result.exit_code == 0, result.output
    registry = app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
    assert registry.overseers_of(UNITS[0][0]) == ["dist-2-0"]
    assert UNITS[0][0] not in registry.scope_of("prov-0") and UNITS[0][0] in registry.scope_of("prov-2")
    assert {u[0] for u in UNITS if u[4] == "dist-0-1"} <= registry.scope_of("prov-2")
    kinds = [e.type for e in read_events(any_redis, app.extensions["ncc"]["service"].keys, REGISTRY_STREAM)]
    assert kinds[-3:] == ["SupervisorUnassigned", "SupervisorAssigned", "SupervisorParentSet"]


@pytest.mark.parametrize("rows, words", [
    ([("a", "A", "b"), ("b", "B", "a")], "cycle"),
    ([("a", "A", "nobody")], "nobody"),
    ([("a", "A", ""), ("a", "A again", "")], "twice"),
    ([("demo nacc", "X", "")], "not a valid username"),
    ([("nacc01", "NACC", "")], "role nacc"),
    ([("a", "A", "region-ne"), ("region-ne", "R", "a")], "cycle"),
])
def test_a_bad_supervisor_file_names_the_problem_and_writes_nothing(app, tmp_path, any_redis, rows, words):
    service = app.extensions["ncc"]["service"]
    from services.submission import handlers
    service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.create_account(
        s, {"username": "nacc01", "role": "nacc", "name": None}, ctx), actor={"username": "op", "role": "operator"},
        fp="x")
    before = dump_log(any_redis)
    result = run(app, "import-supervisors", str(write_csv(tmp_path / "bad.csv", ["username", "name", "parent"], rows)))
    assert result.exit_code != 0 and words in result.output and "nothing was written" in result.output, result.output
    assert dump_log(any_redis) == before


def test_a_unit_file_naming_an_unknown_supervisor_writes_nothing(app, tmp_path, any_redis):
    before = dump_log(any_redis)
    result = run(app, "import-units", str(write_csv(tmp_path / "u.csv", ["code", "name_th", "kind", "supervisor"],
                                                    [("4000001", "อบต. ก", "subdistrict_administration", "ghost")])))
    assert result.exit_code != 0 and "ghost" in result.output and "nothing was written" in result.output
    assert dump_log(any_redis) == before
