"""Expensive reads are limited per account: the n+1-th export (or compliance, overview, time travel, replay) in
the window is a 429 with Retry-After, the same person from another address is still counted, another account is
not, and a unit's own reads still answer."""
import pytest

from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.identity import actor_from_header
from shared.keys import REGISTRY_STREAM

BASE = "/api/v1"
NACC, OTHER = {"X-Actor": "nacc:nacc01"}, {"X-Actor": "nacc:nacc02"}
UNIT = {"X-Actor": "unit:3100100"}


@pytest.fixture
def reader(app_factory, fake_redis, settings, clock):
    app_factory(fake_redis)
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    limited = settings.but(export_limit="3 per minute", national_read_limit="2 per minute",
                           overview_read_limit="2 per minute", history_read_limit="2 per minute",
                           replay_limit="1 per minute")
    return create_reader(limited, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()


def test_the_fourth_export_in_a_minute_is_429_and_the_units_reads_still_answer(reader):
    paths = [f"{BASE}/rounds/2564/6/export.csv", f"{BASE}/rounds/2564/6/export.xlsx", f"{BASE}/rounds/2564/6/export.csv"]
    for n, path in enumerate(paths):               # both formats share the export limit
        assert reader.get(path, headers=NACC, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code == 200
    refused = reader.get(f"{BASE}/rounds/2564/6/export.xlsx", headers=NACC, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json["code"] == 429 and "more exports than allowed (3 per minute)" in refused.json["message"]
    assert reader.get(paths[0], headers=OTHER).status_code == 200           # another account has its own count
    for _ in range(20):                                                      # the unit's own reads are not limited
        assert reader.get(f"{BASE}/units/3100100/status", headers=UNIT).status_code == 200
        assert reader.get(f"{BASE}/units/3100100/state", headers=UNIT).status_code == 200
        assert reader.get(f"{BASE}/units/3100100/audit", headers=UNIT).status_code == 200


@pytest.mark.parametrize("paths, headers, allowed", [
    ([f"{BASE}/rounds/2564/6/compliance", f"{BASE}/rounds/2564/6/supervisors"], NACC, 2),
    ([f"{BASE}/supervisors/sup01/overview"], {"X-Actor": "supervisor:sup01"}, 2),
    ([f"{BASE}/units/3100100/state?version=0", f"{BASE}/units/3100100/verify",
      f"{BASE}/units/3100100/events"], {"X-Actor": "auditor:aud01"}, 2),
])
def test_each_group_counts_its_routes_together(reader, paths, headers, allowed):
    codes = [reader.get(paths[n % len(paths)], headers=headers).status_code for n in range(allowed + 1)]
    assert codes[:allowed] == [200] * allowed and codes[allowed] == 429, codes


def test_replay_is_limited_and_refusals_write_nothing(reader, fake_redis):
    operator = {"X-Actor": "operator:op01"}
    assert reader.post(f"{BASE}/replay", json={}, headers=operator).status_code == 202
    jobs = fake_redis.keys("rq:job:*")
    refused = reader.post(f"{BASE}/replay", json={}, headers=operator)
    assert refused.status_code == 429 and fake_redis.keys("rq:job:*") == jobs


def test_a_page_of_a_rollup_is_not_counted(reader):
    """A page (``limit``: figures from counters, at most 1,000 rows) costs little: only whole rounds count."""
    for _ in range(10):
        assert reader.get(f"{BASE}/rounds/2564/6/compliance?limit=0", headers=NACC).status_code == 200
        assert reader.get(f"{BASE}/supervisors/sup01/overview?limit=10",
                          headers={"X-Actor": "supervisor:sup01"}).status_code == 200
    assert reader.get(f"{BASE}/rounds/2564/6/compliance", headers=NACC).status_code == 200
