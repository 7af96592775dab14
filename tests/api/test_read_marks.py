"""Notifications marked read, per account: kept beside the account, never in the log; bad ids refused unchanged."""
import pytest

from tests.conftest import dump_log

BASE = "/api/v1"


def test_marks_are_per_account_and_idempotent(fast_client):
    unit, other = {"X-Actor": "unit:3100100"}, {"X-Actor": "supervisor:sup01"}
    assert fast_client.get(f"{BASE}/auth/me/read", headers=unit).json == {"read": []}
    first = fast_client.post(f"{BASE}/auth/me/read", headers=unit, json={"ids": ["3100100:4", "3100100:7"]})
    assert first.status_code == 200 and sorted(first.json["read"]) == ["3100100:4", "3100100:7"]
    again = fast_client.post(f"{BASE}/auth/me/read", headers=unit, json={"ids": ["3100100:4"]})
    assert sorted(again.json["read"]) == ["3100100:4", "3100100:7"]
    assert fast_client.get(f"{BASE}/auth/me/read", headers=other).json == {"read": []}


@pytest.mark.parametrize("body, words", [
    ({"ids": []}, "ids"), ({"ids": ["not-an-id"]}, "notification id"), ({}, "ids"),
    ({"ids": ["3100100:1"] * 501}, "ids"), ({"ids": "3100100:1"}, "ids"),
])
def test_bad_marks_are_refused_and_change_nothing(fast_client, fake_redis, body, words):
    before = dump_log(fake_redis)
    rv = fast_client.post(f"{BASE}/auth/me/read", headers={"X-Actor": "unit:3100100"}, json=body)
    assert rv.status_code == 422 and words in str(rv.json), rv.json
    assert dump_log(fake_redis) == before


def test_marks_need_a_signed_in_account(fast_client):
    assert fast_client.get(f"{BASE}/auth/me/read").status_code == 401
    assert fast_client.post(f"{BASE}/auth/me/read", json={"ids": ["3100100:1"]}).status_code == 401
