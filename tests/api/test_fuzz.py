"""Fuzzing both services from their own OpenAPI documents (schemathesis), signed in as every role.

Each generated request is sent anonymously and with each role's Bearer token (a unit, its supervisor, NACC,
an auditor, an operator); every answer must be a non-5xx that conforms to the documented schema. Requests
land on one store across examples, so later ones meet the state earlier ones wrote.

CI runs a bounded number of examples per operation; the longer run (see the README) sets NCC_FUZZ_EXAMPLES.
"""
import os
import random

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from services.submission import handlers
from services.submission.cli import issue
from services.submission.service import fingerprint
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from shared.keys import REGISTRY_STREAM

EXAMPLES = int(os.environ.get("NCC_FUZZ_EXAMPLES", "12"))
PASSWORD = "ทดสอบ-รหัสผ่าน-ยาวพอ-42"
ACCOUNTS = [("3100100", "unit"), ("sup01", "supervisor"), ("nacc01", "nacc"), ("aud01", "auditor"),
            ("op01", "operator")]
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
FUZZ = hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                           suppress_health_check=list(HealthCheck))


@pytest.fixture
def world(app_factory, fake_redis, settings, clock, tmp_path):
    """Both apps on one store with token identity; the accounts signed in; a plan with an item to aim at."""
    writer = app_factory(fake_redis, identify=None)
    service = writer.extensions["ncc"]["service"]
    op = {"username": "op-test", "role": "operator"}
    for username, role in ACCOUNTS:
        service.execute(REGISTRY_STREAM, lambda s, ctx, u=username, r=role: handlers.create_account(
            s, {"username": u, "role": r, "demo": False}, ctx), actor=op, fp=fingerprint("T", username, {}))
    with writer.app_context():
        codes = {row["username"]: row["activation_code"]
                 for row in issue([u for u, _ in ACCOUNTS], "op-test", tmp_path / "codes.csv")}
    http = writer.test_client()
    identities = {"anonymous": {}}
    for username, role in ACCOUNTS:
        assert http.post("/api/v1/auth/activate", json={"username": username, "activation_code": codes[username],
                                                        "password": PASSWORD}).status_code == 201
        token = http.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD}).json
        identities[role] = {"Authorization": f"Bearer {token['access_token']}"}
    unit = identities["unit"]
    http.put("/api/v1/units/3100100/plan", json={"title": "แผน", "first_fiscal_year": 2561,
                                                "last_fiscal_year": 2564}, headers=unit)
    item_id = http.post("/api/v1/units/3100100/plan/items", json={
        "name": "โครงการ", "kind": "project", "dimension": 1, "sub_dimension": "1.1", "fiscal_years": [2564]},
        headers=unit).json["item_id"]
    reader = create_reader(settings, redis=fake_redis, clock=clock)
    tracker = Tracker(fake_redis, settings)
    for stream in tracker.models.streams():
        tracker.project(stream)
    return {"writer": writer, "reader": reader, "identities": identities, "item_id": item_id,
            "tracker": tracker}


def aim(schema, world):
    """Point half the generated unit codes and item ids at ones that exist, so requests get past the 404s."""
    rng = random.Random(7)

    @schema.hook
    def map_path_parameters(_context, path_parameters):
        if not path_parameters:
            return path_parameters
        if "code" in path_parameters and rng.random() < 0.5:
            path_parameters["code"] = "3100100"
        if "item_id" in path_parameters and rng.random() < 0.5:
            path_parameters["item_id"] = world["item_id"]
        return path_parameters

    return schema


def fuzz(app, world, refresh=lambda: None):
    """Every operation of the app's OpenAPI document, with valid and invalid data, as everyone."""
    schema = aim(schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), world)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                refresh()
                send_as_everyone(case, world)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE     # nothing in this operation can be made invalid


def send_as_everyone(case, world):
    for who, headers in world["identities"].items():
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as failure:
            raise AssertionError(f"{case.method} {case.formatted_path} as {who}: {failure}") from failure


def test_submission_api(world):
    """Every write route, every role: no 5xx, answers as documented."""
    fuzz(world["writer"], world)


def test_tracker_api(world):
    """Every read route, every role, after projecting what earlier requests wrote: no 5xx, answers as
    documented."""
    def project_all():
        for stream in world["tracker"].models.streams():
            world["tracker"].project(stream)

    fuzz(world["reader"], world, project_all)
