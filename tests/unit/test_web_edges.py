"""Edges the pages meet: no units at all to chart, numbers in query strings that only look like numbers."""
from __future__ import annotations

import pytest

from services.web import charts
from services.web.app import create_app
from services.web.formatting import whole_number
from shared.config import Settings


@pytest.fixture
def app_context():
    app = create_app(Settings(secret_key="test-secret-for-edges"))
    with app.test_request_context("/"):
        yield


def test_charts_with_no_units_draw_an_empty_axis(app_context):
    """A supervisor without units, or filters no unit matches, get empty charts, not a failure."""
    for chart in (charts.units_by_state({}), charts.rates(None, None), charts.submitted_by_group([], "x")):
        assert chart.uri.startswith("data:image/svg+xml;base64,")
    assert charts.figures({}, [])["reporting_rate"] is None


@pytest.mark.parametrize("text, most, expected", [
    ("12", 100, 12), (" 7 ", 100, 7), ("0", 100, None), ("101", 100, None), ("²", 100, None), ("١٢", 100, None),
    ("-3", 100, None), ("", 100, None), (None, 100, None), ("9" * 40, 10 ** 15, None)])
def test_whole_numbers_from_query_strings(text, most, expected):
    """Only ASCII digits in range are a number: superscripts and other scripts' digits pass isdigit() but are not."""
    assert whole_number(text, most=most) == expected
