"""/metrics on both services: requests by route and status, events appended, projection lag, queue, parked."""
from prometheus_client.parser import text_string_to_metric_families

from services.tracker.app import create_app as create_reader
from shared.identity import actor_from_header
from shared.streams import read_events

UNIT = {"X-Actor": "unit:3100100"}


def samples(client):
    rv = client.get("/metrics")
    assert rv.status_code == 200 and rv.mimetype == "text/plain"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(rv.data.decode()) for s in family.samples}


def test_metrics_on_both_services(app_factory, fake_redis, settings, clock):
    """Requests and events appended on the write side; lag, queue depth and parked on the read side."""
    writer = app_factory(fake_redis).test_client()
    writer.put("/api/v1/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                  "last_fiscal_year": 2564}, headers=UNIT)
    writer.put("/api/v1/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                  "last_fiscal_year": 2564}, headers=UNIT)      # 409, no event
    got = samples(writer)
    assert got[("ncc_events_appended_total", (("type", "PlanDeclared"),))] == 1
    key = ("ncc_http_requests_total", (("method", "PUT"), ("route", "/api/v1/units/<code>/plan"),
                                       ("service", "submission"), ("status", "201")))
    assert got[key] == 1 and got[key[:1] + ((key[1][:3] + (("status", "409"),)),)] == 1
    reader = create_reader(settings, redis=fake_redis, clock=clock, identify=actor_from_header).test_client()
    got = samples(reader)
    assert got[("ncc_projection_lag_events", ())] >= 1 and got[("ncc_parked_streams", ())] == 0
    assert ("ncc_queue_depth", ()) in got and ("ncc_failed_jobs", ()) in got


def test_access_line_and_event_carry_the_request_id(app_factory, fake_redis, keys, caplog):
    """The caller's X-Request-Id is echoed, logged on the access line with route, status and actor, and kept in
    the appended event's meta; a malformed one is replaced by a fresh id."""
    writer = app_factory(fake_redis).test_client()
    with caplog.at_level("INFO", logger="ncc.access"):
        rv = writer.put("/api/v1/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                           "last_fiscal_year": 2564},
                        headers={**UNIT, "X-Request-Id": "trace-42.a"})
        bad = writer.get("/healthz", headers={"X-Request-Id": "two words {\"x\": 1}"})
    assert rv.status_code == 201 and rv.headers["X-Request-Id"] == "trace-42.a"
    line = next(r for r in caplog.records if r.name == "ncc.access" and r.method == "PUT")
    assert (line.route, line.status, line.actor, line.service) == ("/api/v1/units/<code>/plan", 201, "3100100",
                                                                   "submission")
    assert line.ms >= 0
    events = read_events(fake_redis, keys, "3100100")
    assert events[-1].meta["request_id"] == "trace-42.a"
    assert len(bad.headers["X-Request-Id"]) == 32 and " " not in bad.headers["X-Request-Id"]
