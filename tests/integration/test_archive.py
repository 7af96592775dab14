"""Archiving closed plan cycles into sealed segments: everything reads as before, verification checks the segments,
and running twice or crashing half-way loses nothing and doubles nothing. On fakeredis, one redis-server and a
Redis Cluster."""
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from services.submission.archiver import Archiver
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.archive import ArchiveStore, manifest, unpack
from shared.fiscal import BANGKOK
from shared.identity import actor_from_header
from shared.offline import verify_lines
from shared.streams import read_entries, verify_stream
from tests.conftest import dump_log
from tests.integration.test_rebuild import read_models
from tests.integration.test_tracker import history, item_body

# the test plans run 2561-2564: closed at the end of FY 2565 (30 September 2022), a year later due for the archive
LATER = datetime(2024, 1, 1, tzinfo=BANGKOK)
NACC = {"X-Actor": "nacc:nacc01"}
UNITS = ("3100100", "3100200")


@pytest.fixture
def archive_url(tmp_path):
    return f"file://{tmp_path}/archive"


def setup_units(app_factory, redis, settings):
    writer = app_factory(redis).test_client()
    for unit in UNITS:
        history(writer, unit=unit)
    service = writer.application.extensions["ncc"]["service"]
    tracker = Tracker(redis, settings)
    for stream in tracker.models.streams():
        tracker.project(stream)
    return writer, service, tracker


def project_all(tracker):
    for stream in tracker.models.streams():
        tracker.project(stream)


def readings(reader, version):
    """What the read API answers about 3100100 up to ``version``: events, each state, audit trail, an export."""
    out = {"events": reader.get(f"/api/v1/units/3100100/events?until_version={version}", headers=NACC).get_data()}
    for v in range(1, version + 1):
        out[f"state@{v}"] = reader.get(f"/api/v1/units/3100100/state?version={v}", headers=NACC).get_data()
    audit = reader.get("/api/v1/units/3100100/audit?limit=500", headers=NACC).json
    out["audit"] = [e for e in audit["entries"] if e["position"] <= version]
    out["export"] = reader.get("/api/v1/rounds/2564/6/export.csv", headers=NACC).get_data()
    return out


def unversioned(answer):
    """An answer without the stream's version and head hash, wherever they are."""
    if isinstance(answer, dict):
        return {k: unversioned(v) for k, v in answer.items() if k not in ("version", "head_hash")}
    if isinstance(answer, list):
        return [unversioned(v) for v in answer]
    return answer


def test_archive_then_everything_reads_as_before(app_factory, any_redis, settings, clock, archive_url, tmp_path):
    """After archiving, the log reads byte for byte as before (raw entries, events, every state, the audit trail,
    the export), verification checks the segments, a rebuild gives the read models projection gave, Redis holds
    only the seals, and a second run changes nothing."""
    writer, service, tracker = setup_units(app_factory, any_redis, settings)
    reader = create_reader(settings, redis=any_redis, clock=clock, identify=actor_from_header).test_client()
    keys = tracker.keys
    before_raw = {unit: list(read_entries(any_redis, keys, unit)) for unit in UNITS}
    version = len(before_raw["3100100"])
    before = readings(reader, version)

    archiver = Archiver(service, ArchiveStore(archive_url), "op-test")
    assert archiver.run(datetime(2022, 10, 1, tzinfo=BANGKOK), 365) == {"open": 2}   # closed, not a year yet
    assert archiver.run(LATER, 365) == {"archived": 2}
    project_all(tracker)

    for unit in UNITS:
        entries = list(read_entries(any_redis, keys, unit))
        assert entries[:-1] == before_raw[unit]
        seal = json.loads(entries[-1][1])
        assert seal["type"] == "ArchiveSealed" and seal["prev_hash"] == json.loads(before_raw[unit][-1][1])["hash"]
        assert seal["payload"]["first_version"] == 1 and seal["payload"]["last_version"] == len(before_raw[unit])
        assert any_redis.xlen(keys.events(unit)) == 1                 # only the seal is left in Redis
        upto, segments = manifest(any_redis, keys, unit)
        assert upto == len(before_raw[unit]) and len(segments) == 1
        segment = Path(tmp_path / "archive" / seal["payload"]["segment"])
        assert segment.name == f"{1:08d}-{upto:08d}.jsonl.zst" and segment.parent.name == "2561-2564"
        assert unpack(segment.read_bytes()) == [raw for _entry, raw in before_raw[unit]]
        assert verify_stream(any_redis, keys, unit)["ok"]
        assert verify_stream(any_redis, keys, unit)["events_checked"] == upto + 1

    after = readings(reader, version)
    assert after == before
    sealed = reader.get(f"/api/v1/units/3100100/state?version={version + 1}", headers=NACC).json
    at_version = json.loads(before[f"state@{version}"])
    assert unversioned(sealed) == unversioned(at_version)       # the seal changes nothing but the version
    checked = reader.get("/api/v1/units/3100100/verify", headers=NACC).json
    assert checked["ok"] and checked["events_checked"] == version + 1

    live = read_models(any_redis)
    tracker.rebuild()
    assert read_models(any_redis) == live

    store = dump_log(any_redis)
    files = sorted((tmp_path / "archive").rglob("*"))
    assert archiver.run(LATER, 365) == {"current": 2}
    assert dump_log(any_redis) == store and sorted((tmp_path / "archive").rglob("*")) == files

    # the unit writes on after its cycle's archive: the next run archives the rest (the first seal with it)
    assert writer.post("/api/v1/units/3100100/plan/items", json=item_body(9),
                       headers={"X-Actor": "unit:3100100"}).status_code == 201
    assert archiver.run(LATER, 365, ["3100100"]) == {"archived": 1}
    upto, segments = manifest(any_redis, keys, "3100100")
    assert [(s.first, s.last) for s in segments] == [(1, version), (version + 1, version + 2)]
    assert upto == version + 2 and any_redis.xlen(keys.events("3100100")) == 1
    assert [json.loads(raw)["type"] for _e, raw in read_entries(any_redis, keys, "3100100")][-4:] == [
        "ReportAmended", "ArchiveSealed", "ItemAdded", "ArchiveSealed"]
    assert verify_stream(any_redis, keys, "3100100")["ok"]


def test_verify_names_a_changed_or_missing_segment(app_factory, any_redis, settings, clock, archive_url, tmp_path):
    """One byte changed in a segment, or the segment gone: verification names the segment and its first version,
    and a read that needs it answers 503 with the reason (nothing else is served from a segment that fails)."""
    _writer, service, tracker = setup_units(app_factory, any_redis, settings)
    Archiver(service, ArchiveStore(archive_url), "op-test").run(LATER, 365)
    reader = create_reader(settings, redis=any_redis, clock=clock, identify=actor_from_header).test_client()
    keys = tracker.keys
    _upto, (segment,) = manifest(any_redis, keys, "3100100")
    path = tmp_path / "archive" / segment.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify_stream(any_redis, keys, "3100100")
    assert not result["ok"] and result["first_bad_version"] == 1
    assert segment.name in result["reason"] and "SHA-256" in result["reason"]
    assert verify_stream(any_redis, keys, "3100200")["ok"]
    path.unlink()
    result = verify_stream(any_redis, keys, "3100100")
    assert not result["ok"] and result["first_bad_version"] == 1 and "missing" in result["reason"]
    answer = reader.get("/api/v1/units/3100100/events", headers=NACC)
    assert answer.status_code == 503 and segment.name in answer.json["message"]
    assert reader.get("/api/v1/units/3100100/verify", headers=NACC).json["ok"] is False


def test_a_crash_half_way_loses_nothing_and_doubles_nothing(app_factory, any_redis, settings, archive_url, tmp_path):
    """Stopped after writing the segment, or after appending the seal: the next run finishes the stream with one
    seal and one segment, and the log verifies whole."""
    _writer, service, tracker = setup_units(app_factory, any_redis, settings)
    keys = tracker.keys
    archiver = Archiver(service, ArchiveStore(archive_url), "op-test")
    raws = {unit: [raw for _e, raw in read_entries(any_redis, keys, unit)] for unit in UNITS}
    # 3100100: the segment written, then the crash (no seal); 3100200: segment and seal, then the crash (no trim)
    first = archiver.write_segment("3100100", service.load("3100100"), 0, raws["3100100"])
    second = archiver.write_segment("3100200", service.load("3100200"), 0, raws["3100200"])
    assert archiver.seal("3100200", second) is not None
    assert any_redis.xlen(keys.events("3100200")) == len(raws["3100200"]) + 1     # nothing trimmed yet
    assert verify_stream(any_redis, keys, "3100200")["ok"]
    counts = archiver.run(LATER, 365)
    assert counts == {"archived": 1, "finished": 1}
    for unit, payload in (("3100100", first), ("3100200", second)):
        entries = list(read_entries(any_redis, keys, unit))
        assert [raw for _e, raw in entries[:-1]] == raws[unit]
        assert [json.loads(raw)["type"] for _e, raw in entries].count("ArchiveSealed") == 1
        assert json.loads(entries[-1][1])["payload"]["sha256"] == payload["sha256"]
        assert any_redis.xlen(keys.events(unit)) == 1
        assert verify_stream(any_redis, keys, unit)["ok"]
    assert len(list((tmp_path / "archive").rglob("*.zst"))) == 2
    assert not list((tmp_path / "archive").rglob("*.part"))


def run_cli(redis_url, archive_url, *args, popen=False):
    env = {**os.environ, "REDIS_URL": redis_url, "NCC_PARTITIONS": "8", "NCC_ENV": "development",
           "NCC_ARCHIVE_URL": archive_url, "NCC_SECRET_KEY": "test-secret"}
    command = [sys.executable, "-m", "flask", "--app", "services.submission.app:create_app", "archive",
               "--operator", "op-test", "--as-of", LATER.isoformat(), *args]
    if popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_command_killed_and_run_again(app_factory, real_redis, redis_server, settings, archive_url, tmp_path):
    """The operator command on a real redis-server, killed (SIGKILL) part-way through twelve units and run again:
    every unit archived once, each log whole, and verify-all (which reads every segment again) passes."""
    writer = app_factory(real_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    from tests.conftest import register_units
    units = [f"31004{n:02d}" for n in range(12)]
    register_units(service, codes=units, supervised=())
    for unit in units:
        history(writer, unit=unit, items=2)
    keys = service.keys
    raws = {unit: [raw for _e, raw in read_entries(real_redis, keys, unit)] for unit in units}
    killed = run_cli(redis_server.url, archive_url, popen=True)
    deadline = time.monotonic() + 60
    while not any(manifest(real_redis, keys, unit)[0] for unit in units) and time.monotonic() < deadline:
        time.sleep(0.005)                   # killed as soon as the first unit is archived
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    done = sum(1 for unit in units if manifest(real_redis, keys, unit)[0])
    assert 1 <= done < len(units), done
    again = run_cli(redis_server.url, archive_url)
    assert again.returncode == 0, again.stderr
    assert "0 failed" in again.stdout
    for unit in units:
        entries = [raw for _e, raw in read_entries(real_redis, keys, unit)]
        assert entries[:-1] == raws[unit]
        assert [json.loads(raw)["type"] for raw in entries].count("ArchiveSealed") == 1
        assert real_redis.xlen(keys.events(unit)) == 1
    third = run_cli(redis_server.url, archive_url)
    assert third.returncode == 0 and " 0 archived" in third.stdout and "0 finished" in third.stdout
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": "8"}
    verified = subprocess.run([sys.executable, "-m", "services.tracker.cli", "verify-all"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0 and "0 bad" in verified.stdout, verified.stdout
    name = manifest(real_redis, keys, units[3])[1][0].name
    (tmp_path / "archive" / name).unlink()
    changed = tmp_path / "archive" / manifest(real_redis, keys, units[7])[1][0].name
    data = bytearray(changed.read_bytes())
    data[20] ^= 0x04                                               # one bit of one byte
    changed.write_bytes(bytes(data))
    verified = subprocess.run([sys.executable, "-m", "services.tracker.cli", "verify-all"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 1 and "2 bad" in verified.stdout, verified.stdout
    assert f"BAD {units[3]}: version 1: the archived segment {name}" in verified.stdout and "missing" in verified.stdout
    assert f"BAD {units[7]}: version 1: the archived segment {changed.relative_to(tmp_path / 'archive')}" in \
        verified.stdout and "not the" in verified.stdout


def test_the_offline_verifier_checks_an_archived_stream_end_to_end(app_factory, real_redis, redis_server, settings,
                                                                  archive_url, tmp_path):
    """An export of an archived log verifies offline; so do its live events alone with a copy of the archive's
    folder (each segment read and hashed); a changed segment is named."""
    _writer, service, _tracker = setup_units(app_factory, real_redis, settings)
    Archiver(service, ArchiveStore(archive_url), "op-test").run(LATER, 365)
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": "8"}
    out = tmp_path / "history.jsonl"
    exported = subprocess.run([sys.executable, "-m", "services.tracker.cli", "export", "3100100", "3100200",
                               "--out", str(out)], env=env, capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    lines = out.read_text("utf-8").splitlines()
    assert all(r["ok"] for r in verify_lines(lines).values())
    live = [line for line in lines if json.loads(line)["type"] == "ArchiveSealed"]
    assert len(live) == 2
    (tmp_path / "live.jsonl").write_text("\n".join(live), "utf-8")
    assert not any(r["ok"] for r in verify_lines(live).values())            # the seals alone do not chain
    folder = str(tmp_path / "archive")
    checked = verify_lines(live, folder)
    assert all(r["ok"] for r in checked.values()) and checked["3100100"]["events_checked"] == 9
    offline = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "live.jsonl"),
                              "--archive", folder], capture_output=True, text=True)
    assert offline.returncode == 0 and "2 streams, 0 bad" in offline.stdout, offline.stdout
    name = json.loads(live[0])["payload"]["segment"]
    segment = tmp_path / "archive" / name
    segment.write_bytes(segment.read_bytes()[:-1] + bytes([segment.read_bytes()[-1] ^ 0xFF]))
    offline = subprocess.run([sys.executable, "-m", "shared.offline", str(tmp_path / "live.jsonl"),
                              "--archive", folder], capture_output=True, text=True)
    assert offline.returncode == 1 and f"BAD at version 1: the segment {name} has SHA-256" in offline.stdout


def test_segments_in_any_fsspec_store(app_factory, fake_redis, settings):
    """The archive is any fsspec filesystem (here fsspec's in-memory one, as S3 would be with s3fs): readers open
    each segment at the URL its listing recorded."""
    _writer, service, tracker = setup_units(app_factory, fake_redis, settings)
    before = list(read_entries(fake_redis, tracker.keys, "3100100"))
    assert Archiver(service, ArchiveStore("memory://ncc-archive"), "op-test").run(LATER, 365) == {"archived": 2}
    _upto, (segment,) = manifest(fake_redis, tracker.keys, "3100100")
    assert segment.url == f"memory://ncc-archive/{segment.name}"
    assert list(read_entries(fake_redis, tracker.keys, "3100100"))[:-1] == before
    assert verify_stream(fake_redis, tracker.keys, "3100100")["ok"]
