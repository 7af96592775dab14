"""Whatever a person types or a browser sends, the web app answers a page and never a 5xx: every route of the app,
as every role, with junk in the path, the query and the form (hypothesis), against the real running APIs."""
from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import PASSWORD

ROLES = {"unit": "3101700", "supervisor": "demo-sup-01", "nacc": "demo-nacc", "auditor": "demo-auditor"}
# NACC's reporting windows are national: junk that happens to be valid would move every other test's deadlines
NATIONAL = {"nacc.windows"}
EXAMPLES = int(os.environ.get("NCC_WEB_FUZZ_EXAMPLES", "25"))
FIELDS = ["name", "kind", "dimension", "sub_dimension", "fiscal_years", "amount", "reason", "reason_text", "title",
          "first_fiscal_year", "last_fiscal_year", "status", "spent", "budget_planned", "budget_ordinance",
          "entries-0-status", "entries-0-spent", "entries-0-reason", "comment", "decision", "message", "until",
          "fiscal_year", "round", "version", "idempotency_key", "q", "as_of", "due_at", "locks_at", "opens_at",
          "username", "password", "activation_code", "current_password", "new_password", "confirm", "note",
          "email", "token"]
JUNK = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "0", "-1", "2570", "99999999999999999999", "12,34", "50,000", "1e309", "NaN", "<script>alert(1)</script>",
     "\"><img src=x onerror=alert(1)>", "2026-13-45T99:99", "ก" * 3000, "\x00", "../../etc/passwd", "6", "12",
     "not_feasible", "accepted", "returned", "other"]))


@pytest.fixture(scope="module")
def clients(stack):
    """An in-process web app on the real APIs (CSRF off: the CSRF test covers it), one signed-in client per role."""
    from services.web.app import create_app
    from shared.config import Settings

    app = create_app(Settings(submission_url=stack.submission, tracker_url=stack.tracker),
                     config={"WTF_CSRF_ENABLED": False, "TESTING": False})
    out = {"anonymous": app.test_client()}
    for role, username in ROLES.items():
        stack.activate(username)
        client = app.test_client()
        assert client.post("/signin", data={"username": username, "password": PASSWORD}).status_code == 302
        out[role] = client
    return app, out


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        yield rule


def _path(rule, values: dict) -> str:
    path = rule.rule
    for argument in rule.arguments:
        path = re.sub(rf"<(?:[^:<>]+:)?{argument}>", values.get(argument, "x"), path)
    return path


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_page_answers_5xx(clients, data):
    """Every route x role x junk path, query and form: the answer is a page (or redirect) below 500."""
    app, by_role = clients
    for rule in _routes(app):
        role = data.draw(st.sampled_from(sorted(by_role)), label="role")
        values = {arg: data.draw(st.one_of(st.sampled_from(
            [ROLES["unit"], "3100100", "2570", "6", "12", "9999999", "item001"]), st.from_regex(r"[A-Za-z0-9_.-]{1,12}",
                                                                                        fullmatch=True)), label=arg)
                  for arg in rule.arguments}
        path = _path(rule, values)
        query = data.draw(st.dictionaries(st.sampled_from(FIELDS), JUNK, max_size=3), label="query")
        client = by_role[role]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method != "GET" and (rule.endpoint in NATIONAL or rule.endpoint == "auth.sign_out"):
                continue
            form = data.draw(st.dictionaries(st.sampled_from(FIELDS), JUNK, max_size=8), label="form") \
                if method != "GET" else None
            answer = client.open(path, method=method, query_string=query, data=form)
            assert answer.status_code < 500, (role, method, path, query, form, answer.get_data(as_text=True)[:500])
            assert "Traceback" not in answer.get_data(as_text=True)
