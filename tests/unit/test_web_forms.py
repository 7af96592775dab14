"""Dates typed as Thai people write them: day, Thai month, Buddhist Era year, 24-hour time, read as Bangkok time."""
from __future__ import annotations

from datetime import datetime

import pytest
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from services.web.app import create_app
from services.web.forms import ThaiDateTimeField
from shared.config import Settings
from shared.fiscal import BANGKOK


class Dated(FlaskForm):
    class Meta:
        csrf = False

    until = ThaiDateTimeField("until")
    day = ThaiDateTimeField("day", with_time=False)


@pytest.fixture
def app():
    return create_app(Settings(secret_key="test-secret-for-forms"))


def form(app, **parts):
    data = MultiDict({f"until-{k}": v for k, v in parts.items()})
    with app.test_request_context("/", method="POST", data=data):
        f = Dated()
        f.validate()
        return f.until.data, f.until.errors, f.until()


def test_be_year_and_24_hour_time_are_bangkok_time(app):
    """30 / April / 2564 / 16.30 is 16:30 in Bangkok on 30 April 2021; Thai digits are read too."""
    assert form(app, day="30", month="4", year="2564", time="16.30")[0] == datetime(2021, 4, 30, 16, 30, tzinfo=BANGKOK)
    assert form(app, day="๓๐", month="4", year="๒๕๖๔", time="")[0] == datetime(2021, 4, 30, 23, 59, tzinfo=BANGKOK)


@pytest.mark.parametrize("parts, reason", [
    ({"day": "30", "month": "4", "year": "2021"}, "พุทธศักราช"),          # a Common Era year is refused, not shifted
    ({"day": "31", "month": "4", "year": "2564"}, "ไม่มีวันที่"),
    ({"day": "30", "month": "4", "year": "2564", "time": "25:00"}, "ไม่มีวันที่"),
    ({"day": "", "month": "4", "year": "2564"}, "กรุณาระบุวันที่ เดือน และปี"),
])
def test_refusals_say_why_and_keep_what_was_typed(app, parts, reason):
    """A date that is not one gets the reason in Thai, and the parts typed are shown again."""
    data, errors, html = form(app, **parts)
    assert data is None and any(reason in e for e in errors)
    assert f'value="{parts["year"]}"' in html


def test_widget_shows_thai_months_and_no_picker(app):
    """The control is three lists and two boxes, each labelled, with Thai month names and no date picker."""
    with app.test_request_context("/"):
        html = Dated().until()
    assert "เมษายน" in html and 'type="date' not in html
    for part in ("day", "month", "year", "time"):
        assert f'<label for="until-{part}">' in html and f'id="until-{part}"' in html
