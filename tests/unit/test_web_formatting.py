"""What a Thai reader types and reads: baht parsed exactly as typed (or refused with a Thai reason), Buddhist Era
dates in Bangkok time, how long is left; no browser, no services."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.web.formatting import (MoneyError, be_year, from_local_input, local_input, money, parse_money,
                                     thai_date, time_left)
from shared.config import Settings


@pytest.fixture(scope="module")
def app():
    from services.web.app import create_app
    return create_app(Settings(environment="development", secret_key="a test secret, long enough to be accepted"))


@pytest.fixture
def thai(app):
    """A request in Thai (the default language), as a page is rendered."""
    with app.test_request_context("/"):
        yield


@pytest.fixture
def english(app):
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        yield


@pytest.mark.parametrize("typed, amount", [
    ("50,000", "50000.00"), ("1,250.50", "1250.50"), ("50000", "50000.00"), ("0", "0.00"), ("0.5", "0.50"),
    ("1,250,000.05", "1250000.05"), ("๕๐,๐๐๐", "50000.00"), ("๑,๒๕๐.๕๐", "1250.50"), ("50,000 บาท", "50000.00"),
    ("50,000บาท", "50000.00"), ("฿1,000", "1000.00"), (" 12 ", "12.00"), ("50,000.-", "50000.00"),
    ("5,000.- บาท", "5000.00"),
])
def test_parse_money_accepts_what_thai_users_type(thai, typed, amount):
    """Thousands commas, satang, Thai digits, a trailing บาท or a leading ฿, and the ``.-`` of Thai forms are read
    exactly, as Decimal with two places."""
    value = parse_money(typed)
    assert isinstance(value, Decimal) and str(value) == amount


@pytest.mark.parametrize("typed, why", [
    ("12,34", "ใช้เครื่องหมายจุลภาคคั่นหลักพันเท่านั้น"), ("1,2345", "ใช้เครื่องหมายจุลภาคคั่นหลักพันเท่านั้น"),
    ("1.234", "ทศนิยม"), ("-5", "ติดลบ"), ("abc", None), ("12a", None), ("1e5", None), ("NaN", None),
    ("1.2.3", None), ("99999999999999", None), (",500", "ใช้เครื่องหมายจุลภาคคั่นหลักพันเท่านั้น"),
])
def test_parse_money_refuses_with_a_thai_reason(thai, typed, why):
    """Misplaced commas, three decimals, negatives, letters and absurd amounts are refused, the reason in Thai."""
    with pytest.raises(MoneyError) as refused:
        parse_money(typed)
    text = str(refused.value)
    assert text and any("\u0e00" <= ch <= "\u0e7f" for ch in text)
    if why:
        assert why in text


def test_empty_money_is_none(thai):
    """Nothing typed (or only บาท) is no amount, not zero."""
    assert parse_money("") is None and parse_money("   ") is None and parse_money(None) is None
    assert parse_money("บาท") is None


def test_money_shown_with_commas():
    """Amounts are shown with thousands commas and satang; empty stays empty."""
    assert money("50000.00") == "50,000.00" and money(1250.5) == "1,250.50" and money(None) == ""


def test_thai_date_is_buddhist_era_in_bangkok(thai):
    """An instant in UTC is shown on its Bangkok day with the Buddhist Era year: 17:00 UTC on 30 April 2021 is
    already 1 May 2564 in Bangkok."""
    assert thai_date("2021-04-30T17:00:00Z") == "1 พ.ค. 2564"
    assert thai_date("2021-04-30T16:59:59Z") == "30 เม.ย. 2564"
    assert thai_date("2021-04-30T23:59:59+07:00", time=True) == "30 เม.ย. 2564 23:59 น."
    assert thai_date(datetime(2020, 10, 1, tzinfo=timezone.utc)) == "1 ต.ค. 2563"
    assert thai_date(date(2026, 12, 31)) == "31 ธ.ค. 2569"
    assert thai_date("2026-10-31T23:59:59+07:00", long=True) == "31 ตุลาคม 2569"
    assert thai_date(None) == "" and thai_date("not a date") == "not a date"


def test_english_dates_keep_the_buddhist_era(english):
    """English pages name the month in English and keep the BE year, marked as such."""
    assert thai_date("2021-04-30T17:00:00Z") == "1 May 2564 BE"


def test_time_left_in_words(thai):
    """How long is left before (or has passed since) a deadline, in Thai whole days or hours."""
    now = datetime(2026, 4, 25, 12, 0, tzinfo=timezone.utc)
    assert time_left(now + timedelta(days=5, hours=3), now) == "เหลืออีก 5 วัน"
    assert "ชั่วโมง" in time_left(now + timedelta(hours=3), now)
    assert "ไม่ถึงหนึ่งชั่วโมง" in time_left(now + timedelta(minutes=5), now)
    late = time_left(now - timedelta(days=2), now)
    assert "2" in late and late != time_left(now + timedelta(days=2), now)


def test_years_and_date_inputs():
    """BE years and the values of date inputs, in Bangkok time."""
    assert be_year(2021) == 2564
    assert local_input("2021-04-30T17:00:00Z") == "2021-05-01T00:00"
    assert from_local_input("2021-05-01T00:00") == datetime(2021, 4, 30, 17, 0, tzinfo=timezone.utc)
    assert from_local_input("2021-05-01").utcoffset() == timedelta(hours=7)
    assert from_local_input("rubbish") is None
