"""Hostile input beyond what the OpenAPI documents describe, against every route of both services, anonymously and
signed in as every role: each answer is a 4xx (never a 5xx) and a refused write leaves the store as it was.

- fixed bodies: nesting 1,000 deep, numbers of 5,000 digits, a key twice, huge arrays, odd encodings and content
  types, a body where none is expected;
- odd headers and query strings on every route (GET too);
- random JSON (hypothesis: nested lists and objects, huge and negative numbers, any text, lone surrogates) on every
  route that takes a body.

CI sends NCC_HOSTILE_EXAMPLES (default 8) random bodies per route, and every case as anonymous and as the roles
the route lets in; the longer run in the README sets NCC_HOSTILE_FULL=1 (every identity everywhere) and more
examples.
"""
import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.api.test_fuzz import world  # noqa: F401 - the shared fixture: both apps, every role signed in
from tests.conftest import dump_log

EXAMPLES = int(os.environ.get("NCC_HOSTILE_EXAMPLES", "8"))
FULL = os.environ.get("NCC_HOSTILE_FULL") == "1"      # every identity on every route (CI: those the route lets in)
JSON = "application/json"
HOSTILE = [
    ("1,000 nested arrays", "[" * 1000 + "]" * 1000, JSON),
    ("3,000 nested objects", '{"a":' * 3000 + "1" + "}" * 3000, JSON),
    ("17 levels inside a field", '{"title": ' + "[" * 17 + "]" * 17 + "}", JSON),
    ("a number of 5,000 digits", '{"title": ' + "9" * 5000 + ', "fiscal_year": 2564}', JSON),
    ("a negative number of 5,000 digits", '{"round": -' + "9" * 5000 + "}", JSON),
    ("a fraction of 5,000 digits", '{"amount": 0.' + "1" * 5000 + "}", JSON),
    ("an exponent of a million", '{"amount": 1e999999, "offset_days": 1e999999, "round": 6e99999}', JSON),
    ("a key twice", '{"decision": "accepted", "decision": "returned", "comment": "x"}', JSON),
    ("a key twice, deep", '{"entries": [{"item_id": "a", "item_id": "b"}]}', JSON),
    ("6,000 elements", '{"entries": [' + "0," * 6_000 + "0]}", JSON),
    ("1,500 keys", "{" + ",".join(f'"k{n}": 0' for n in range(1_500)) + "}", JSON),
    ("UTF-16", '{"title": "แผน"}'.encode("utf-16"), JSON),
    ("Latin-1 bytes", b'{"title": "\xe9t\xe9"}', JSON + "; charset=latin-1"),
    ("a byte-order mark", '\ufeff{"title": "x"}'.encode(), JSON),
    ("a lone surrogate", '{"title": "\\ud800", "message": "\\udfff", "comment": "\\ud83d"}', JSON),
    ("NUL and controls", '{"title": "a\\u0000b", "message": "\\u001b[2J", "reason": "\\u0007"}', JSON),
    ("NaN and Infinity", '{"amount": NaN, "offset_days": Infinity, "round": -Infinity}', JSON),
    ("truncated", '{"title": "แผน', JSON),
    ("a top-level string", '"x"', JSON),
    ("null", "null", JSON),
    ("text/plain", '{"title": "x"}', "text/plain"),
    ("a form", "title=x&reason=y", "application/x-www-form-urlencoded"),
    ("multipart to a JSON route", b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n",
     "multipart/form-data; boundary=b"),
    ("no content type", '{"title": "x"}', None),
    ("a JSON suffix type", '{"title": "x"}', "application/problem+json"),
]
if FULL:                  # near the body limit: each costs a few hundred milliseconds to refuse
    HOSTILE += [("200,000 elements", '{"entries": [' + "0," * 200_000 + "0]}", JSON),
                ("60,000 keys", "{" + ",".join(f'"k{n}": 0' for n in range(60_000)) + "}", JSON)]
ODD_HEADERS = [
    {"Authorization": "Bearer " + "x" * 8000},
    {"Authorization": "Bearer a.b.c"},
    {"Authorization": "Basic " + "A" * 100},
    {"Authorization": "Bearer"},
    {"If-Match": "9" * 5000},
    {"If-Match": '"-1"'},
    {"Idempotency-Key": "k" * 5000},
    {"X-Request-Id": "\x7f" * 10},
    {"X-Forwarded-For": "1.2.3.4, " * 500},
    {"X-Ncc-Proxy": "forged"},
    {"Accept": "application/xml;q=2, */*;q=-1"},
    {"Accept-Language": "th" * 1000},
    {"Content-Type": "application/json; charset=utf-16"},
    {"Authorization": "Bearer \xe9\xff", "X-Ncc-Proxy": "\xe9", "X-Forwarded-For": "\xff"},   # not ASCII
    {"Idempotency-Key": "\xe9t\xe9", "If-Match": "\xff", "X-Request-Id": "\xe9"},
]
ODD_QUERIES = ["limit=" + "9" * 500, "limit=-1", "cursor=" + "9" * 500, "cursor=%00", "fiscal_year=25640000000",
               "round=6&round=12", "version=1e999", "as_of=2564-13-45T99:99", "until=" + "x" * 3000,
               "type=" + ",".join(["ReportSubmitted"] * 500), "q=%ED%A0%80", "since=%FF%FE"]


def routes(app):
    """Every operation of the app's OpenAPI document: (method, concrete path, whether it takes a JSON body)."""
    spec = app.test_client().get("/api/v1/openapi.json").json
    for template, operations in spec["paths"].items():
        path = template
        for name, value in (("code", "3100100"), ("fiscal_year", "2564"), ("round", "6"), ("item_id", "item0001"),
                            ("username", "sup01"), ("rule_id", "r1"), ("version", "1"), ("job_id", "job1"),
                            ("document", "plan"), ("sha256", "0" * 64), ("hash_", "0" * 64)):
            path = path.replace("{" + name + "}", value)
        assert not re.search(r"\{\w+\}", path), template
        for method, operation in operations.items():
            if method in ("get", "put", "post", "patch", "delete"):
                body = JSON in ((operation.get("requestBody") or {}).get("content") or {})
                yield method.upper(), path, body


def apps(world):
    return [("submission", world["writer"]), ("tracker", world["reader"])]


def who_for(client, method, path, takes_body, world):
    """The identities to send as: all of them in the full run; in CI, anonymous and those the route lets past
    authentication and authorisation (a harmless request is not a 401 or 403 for them), where hostile input
    reaches the parsing and the handlers."""
    identities = world["identities"]
    if FULL:
        return list(identities.items())
    reaching = [(who, headers) for who, headers in identities.items() if who != "anonymous" and client.open(
        path, method=method, headers=headers, **({"json": {}} if takes_body else {})).status_code not in (401, 403)]
    return [("anonymous", identities["anonymous"])] + reaching


def changed_store(redis, before):
    """The store's keys that differ from ``before``, but for the rate limiters' counters (reads count)."""
    after = dump_log(redis)
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and b":ratelimit" not in k
                  and not k.startswith(b"LIMITS"))


def test_hostile_bodies_are_4xx_and_change_nothing(world, fake_redis):
    """Every fixed hostile body on every route that takes one, as everyone: a 4xx with a message, the store
    untouched."""
    seen = 0
    for service, app in apps(world):
        client = app.test_client()
        for method, path, takes_body in routes(app):
            if not takes_body:
                continue
            for who, headers in who_for(client, method, path, takes_body, world):
                before = dump_log(fake_redis)
                for name, body, content_type in HOSTILE:
                    kwargs = {"data": body, "headers": headers}
                    if content_type:
                        kwargs["content_type"] = content_type
                    rv = client.open(path, method=method, **kwargs)
                    assert 400 <= rv.status_code < 500, (service, method, path, who, name, rv.status_code, rv.data[:300])
                    assert rv.is_json and rv.json.get("message"), (service, method, path, who, name)
                    seen += 1
                assert changed_store(fake_redis, before) == [], (service, method, path, who)
    assert seen > 1000


@pytest.mark.parametrize("kind", ["nested", "numbers", "duplicates"])
def test_the_named_limits(world, kind):
    """The three limits name themselves: depth, digits, the key given twice (400), on sign-in as on writes."""
    body = {"nested": "[" * 1000 + "]" * 1000, "numbers": '{"username": ' + "9" * 5000 + ', "password": "x"}',
            "duplicates": '{"username": "a", "username": "b", "password": "x"}'}[kind]
    words = {"nested": "at most 16", "numbers": "at most 40", "duplicates": "'username' appears twice"}[kind]
    http = world["writer"].test_client()
    for path in ("/api/v1/auth/token", "/api/v1/auth/activate"):
        rv = http.post(path, data=body, content_type=JSON)
        assert rv.status_code == 400 and words in rv.json["message"], rv.json
    rv = http.put("/api/v1/units/3100100/plan", data=body, content_type=JSON, headers=world["identities"]["unit"])
    assert rv.status_code == 400 and words in rv.json["message"], rv.json


def test_odd_headers_and_queries_on_every_route(world, fake_redis):
    """Every route of both services with odd headers and odd query strings, as everyone: never a 5xx; a write
    refused leaves the store as it was."""
    for service, app in apps(world):
        client = app.test_client()
        for method, path, takes_body in routes(app):
            # CI: one identity per route, one it lets in if any (the bodies test covers every such role)
            identities = who_for(client, method, path, takes_body, world)
            for who, identity in identities if FULL else identities[-1:]:
                for odd in ODD_HEADERS:
                    headers = {**identity, **odd} if "Authorization" not in odd else {**odd}
                    rv = client.open(path, method=method, headers=headers, **({"json": {}} if takes_body else {}))
                    assert rv.status_code < 500, (service, method, path, who, odd, rv.status_code, rv.data[:300])
                for query in ODD_QUERIES if method == "GET" or FULL else ():
                    rv = client.open(f"{path}?{query}", method=method, headers=identity,
                                     **({"json": {}} if takes_body else {}))
                    assert rv.status_code < 500, (service, method, path, who, query, rv.status_code, rv.data[:300])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50)
    | st.sampled_from(["2564", "6", "3100100", "accepted", "returned", "project", "1.1", "due_at", "in_app",
                       "not_submitted", "supervisors", "2021-04-30T23:59:59+07:00", "100.00", "-1", ""]),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(
        st.sampled_from(["title", "name", "kind", "dimension", "sub_dimension", "fiscal_years", "budgets", "entries",
                         "item_id", "status", "spent", "decision", "comment", "message", "channel", "until",
                         "reason", "anchor", "offset_days", "target", "audience", "above_after_days", "parent",
                         "email", "ids", "username", "password", "activation_code", "token", "unit",
                         "first_fiscal_year", "last_fiscal_year", "amount", "opens_at", "due_at", "locks_at"])
        | st.text(max_size=10), children, max_size=8),
    max_leaves=40)
RANDOM = hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(HealthCheck))


def test_random_json_on_every_route_that_takes_a_body(world):
    """Random JSON values (any shape, the routes' own field names among random ones) on every body route, as
    everyone: never a 5xx."""
    for service, app in apps(world):
        client = app.test_client()
        for method, path, takes_body in routes(app):
            if not takes_body:
                continue

            reaching = who_for(client, method, path, takes_body, world)

            @RANDOM
            @given(value=json_values)
            def send(value):
                body = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
                for who, headers in reaching:
                    rv = client.open(path, method=method, data=body, content_type=JSON, headers=headers)
                    assert rv.status_code < 500, (service, method, path, who, body[:300], rv.data[:300])
            send()
