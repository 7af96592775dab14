"""The tracker's public unit directory (no token, public fields only) and both services' self-hosted docs pages."""
import re

import pytest

from services.submission import handlers
from services.submission.service import fingerprint
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.keys import REGISTRY_STREAM

BASE = "/api/v1"
OPERATOR = {"username": "op-test", "role": "operator"}
MORE_UNITS = [("5010100", "องค์การบริหารส่วนจังหวัดเชียงใหม่", "provincial_administration", "เชียงใหม่"),
              ("5010201", "เทศบาลนครเชียงใหม่", "city_municipality", "เชียงใหม่"),
              ("4010101", "เทศบาลนครขอนแก่น", "city_municipality", "ขอนแก่น")]


@pytest.fixture
def reader(app_factory, fake_redis, settings, clock):
    """The tracker on a registry of the three test units, three more in two provinces, an account, supervision."""
    writer = app_factory(fake_redis)
    service = writer.extensions["ncc"]["service"]
    for code, name, kind, province in MORE_UNITS:
        service.execute(REGISTRY_STREAM, lambda s, ctx, c=code, n=name, k=kind, p=province: handlers.register_unit(
            s, {"code": c, "name_th": n, "kind": k, "province": p}, ctx), actor=OPERATOR,
            fp=fingerprint("TEST", code, {}))
    service.execute(REGISTRY_STREAM, lambda s, ctx: handlers.create_account(
        s, {"username": "5010100", "role": "unit", "name": "ชื่อบัญชีลับ", "demo": False}, ctx), actor=OPERATOR,
        fp=fingerprint("TEST", "acct", {}))
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    return create_reader(settings, redis=fake_redis, clock=clock).test_client()


def test_directory_needs_no_token_and_shows_only_public_fields(reader):
    """Anyone gets the directory ordered by code, each unit with code, name_th, kind, province and nothing else."""
    answer = reader.get(f"{BASE}/public/units")
    assert answer.status_code == 200, answer.json
    units = answer.json["units"]
    assert [u["code"] for u in units] == ["3100100", "3100200", "3100300", "4010101", "5010100", "5010201"]
    assert all(set(u) == {"code", "name_th", "kind", "province"} for u in units)
    assert units[4] == {"code": "5010100", "name_th": "องค์การบริหารส่วนจังหวัดเชียงใหม่",
                        "kind": "provincial_administration", "province": "เชียงใหม่"}
    assert answer.json["next_cursor"] is None
    text = answer.get_data(as_text=True)
    assert "ชื่อบัญชีลับ" not in text and "sup01" not in text and "op-test" not in text


def test_directory_search_by_name_code_province_kind(reader):
    """q matches part of the Thai name or the code; province and kind filter exactly; filters combine."""
    def codes(query):
        answer = reader.get(f"{BASE}/public/units?{query}")
        assert answer.status_code == 200, answer.json
        return [u["code"] for u in answer.json["units"]]

    assert codes("q=เชียงใหม่") == ["5010100", "5010201"]
    assert codes("q=เทศบาลนคร") == ["4010101", "5010201"]
    assert codes("q=31002") == ["3100200"]
    assert codes("province=ขอนแก่น") == ["4010101"]
    assert codes("kind=city_municipality&province=เชียงใหม่") == ["5010201"]
    assert codes("q=ไม่มีหน่วยงานนี้") == []


def test_directory_pages_by_cursor_without_skipping_or_repeating(reader):
    """Following next_cursor visits every unit exactly once, in code order, and ends with null."""
    seen, cursor = [], None
    for _ in range(10):
        answer = reader.get(f"{BASE}/public/units?limit=4" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [u["code"] for u in answer["units"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == ["3100100", "3100200", "3100300", "4010101", "5010100", "5010201"]
    exact = reader.get(f"{BASE}/public/units?limit=6").json            # a full last page says there is no more
    assert len(exact["units"]) == 6 and exact["next_cursor"] is None


@pytest.mark.parametrize("query", ["cursor=abc", "cursor=" + "9" * 400, "cursor=๓๑๐๐๑๐๐", "limit=0", "limit=201", "kind=castle",
                                   "q=" + "ก" * 101])
def test_directory_refuses_bad_parameters(reader, query):
    """A malformed cursor, limit, kind or an over-long query is a 422 with a message, never a 5xx."""
    answer = reader.get(f"{BASE}/public/units?{query}")
    assert answer.status_code == 422 and answer.json["message"]


def test_directory_is_documented_without_security(reader):
    """The OpenAPI document lists GET /public/units with its query parameters."""
    doc = reader.get(f"{BASE}/openapi.json").json
    operation = doc["paths"]["/api/v1/public/units"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "province", "kind", "cursor"}


@pytest.fixture(params=["submission", "tracker"])
def service(request, app_factory, fake_redis, settings, clock):
    """Each service's app."""
    if request.param == "submission":
        return app_factory(fake_redis).test_client()
    return create_reader(settings, redis=fake_redis, clock=clock).test_client()


def test_docs_page_loads_swagger_ui_from_the_service_itself(service):
    """The docs page names no outside origin, and the Swagger UI script and stylesheet it names answer 200 here."""
    page = service.get(f"{BASE}/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset                    # relative to the service, not another host
        answer = service.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.get_data()) > 1000
    js = service.get(next(a for a in assets if a.endswith("swagger-ui-bundle.js")))
    assert "javascript" in js.content_type
    assert "text/css" in service.get(next(a for a in assets if a.endswith("swagger-ui.css"))).content_type


def test_docs_static_refuses_paths_outside_the_package(service):
    """Only the package's own files are served: a path climbing out of it is not found."""
    assert service.get(f"{BASE}/docs/static/../../../../etc/passwd").status_code == 404
    assert service.get(f"{BASE}/docs/static/%2e%2e/%2e%2e/shared/config.py").status_code == 404
    assert service.get(f"{BASE}/docs/static/nothing-here.js").status_code == 404
