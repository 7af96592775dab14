"""Scheduled reminders: a whole round driven by an injected clock, rules that move with their window, and exactly
once per (unit, round, rule) with two scheduler processes at once and with one SIGKILLed mid-pass."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.submission import handlers
from services.submission.reminders import ReminderScheduler
from services.submission.service import fingerprint
from shared.fiscal import BANGKOK
from shared.keys import REGISTRY_STREAM
from shared.streams import read_events
from tests.api.test_write_api import ITEM, PLAN

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("3100100", "3100200", "3100300")
NACC = {"X-Actor": "nacc:nacc01"}
SUP = {"X-Actor": "supervisor:sup01"}


def reminders_of(redis, keys, code):
    return [e.payload for e in read_events(redis, keys, code) if e.type == "ReminderSent"]


def test_a_whole_round_sends_each_rule_once_and_nothing_after_the_report(app_factory, fake_redis, clock, keys):
    """From opening to lock, every half day: each unit gets the default rules due before it reported, once each;
    the supervisor's own rule reaches only its unit; nothing after a report."""
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    for code in UNITS:
        h = {"X-Actor": f"unit:{code}"}
        assert writer.put(f"/api/v1/units/{code}/plan", json=PLAN, headers=h).status_code == 201
    assert writer.put("/api/v1/reminder-rules/2564/6/week-before", headers=SUP, json={
        "anchor": "due_at", "offset_days": -7, "target": "not_submitted", "message": "ใกล้ถึงกำหนดส่งแล้ว"}).status_code == 201
    scheduler = ReminderScheduler(service, fake_redis, clock=clock)
    clock.now = datetime(2021, 4, 1, 8, 0, tzinfo=BANGKOK)
    while clock.now < datetime(2021, 5, 17, tzinfo=BANGKOK):
        if clock.now.date() == datetime(2021, 4, 20).date() and clock.now.hour < 12:
            item = writer.post("/api/v1/units/3100200/plan/items", json=ITEM,
                               headers={"X-Actor": "unit:3100200"}).json["item_id"]
            assert writer.put("/api/v1/units/3100200/reports/2564/6", headers={"X-Actor": "unit:3100200"}, json={
                "entries": [{"item_id": item, "status": "in_progress"}]}).status_code == 201
        scheduler.run_once()
        scheduler.run_once()             # a second pass at the same instant sends nothing more
        clock.advance(hours=12)
    rules = lambda code: [p["rule"].split("national-")[-1] if "national" in p["rule"] else p["rule"]  # noqa: E731
                          for p in reminders_of(fake_redis, keys, code)]
    defaults = ["due-minus-14", "due-minus-3", "due-day", "due-plus-1", "lock-minus-3"]
    assert rules("3100100") == ["due-minus-14", "reminder-2564-6-sup01-week-before"] + defaults[1:]
    assert rules("3100300") == defaults
    assert rules("3100200") == ["due-minus-14"]                      # reported on 20 April: nothing after
    texts = [p["message"] for p in reminders_of(fake_redis, keys, "3100300")]
    assert texts[0].startswith("ขอให้หน่วยงานส่งรายงานผลการดำเนินงาน") and "30 เมษายน 2564" in texts[0]
    assert "ใกล้ถึงกำหนดส่งแล้ว" in [p["message"] for p in reminders_of(fake_redis, keys, "3100100")]


def test_a_returned_report_is_chased_until_it_is_corrected(app_factory, fake_redis, clock, keys):
    """A supervisor's rule for returned reports reaches its unit whose report was returned; once corrected, the
    next such rule does not."""
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    h = {"X-Actor": "unit:3100100"}
    clock.now = datetime(2021, 4, 20, 10, 0, tzinfo=BANGKOK)
    writer.put("/api/v1/units/3100100/plan", json=PLAN, headers=h)
    item = writer.post("/api/v1/units/3100100/plan/items", json=ITEM, headers=h).json["item_id"]
    report = {"entries": [{"item_id": item, "status": "in_progress"}]}
    assert writer.put("/api/v1/units/3100100/reports/2564/6", headers=h, json=report).status_code == 201
    assert writer.post("/api/v1/units/3100100/reports/2564/6/review", headers=SUP, json={
        "decision": "returned", "comment": "ขาดตัวเลขงบประมาณ"}).status_code == 201
    for rule_id, offset in (("fix-soon", -9), ("fix-now", -5)):
        assert writer.put(f"/api/v1/reminder-rules/2564/6/{rule_id}", headers=SUP, json={
            "anchor": "due_at", "offset_days": offset, "target": "returned"}).status_code == 201
    scheduler = ReminderScheduler(service, fake_redis, clock=clock)
    clock.now = datetime(2021, 4, 21, 10, 0, tzinfo=BANGKOK)        # fix-soon's day
    scheduler.run_once()
    sent = [p for p in reminders_of(fake_redis, keys, "3100100") if p["rule"].endswith("fix-soon")]
    assert len(sent) == 1 and "ถูกส่งกลับให้แก้ไข" in sent[0]["message"]
    assert not any(p["rule"].endswith("fix-soon") for p in reminders_of(fake_redis, keys, "3100200"))
    assert writer.put("/api/v1/units/3100100/reports/2564/6", headers=h, json={
        "entries": [{"item_id": item, "status": "completed", "spent": "100"}]}).status_code == 201
    clock.now = datetime(2021, 4, 25, 10, 0, tzinfo=BANGKOK)        # fix-now's day: the report is corrected
    scheduler.run_once()
    assert not any(p["rule"].endswith("fix-now") for p in reminders_of(fake_redis, keys, "3100100"))


def test_a_moved_window_moves_pending_reminders_and_resends_none(app_factory, fake_redis, clock, keys):
    """NACC moves the due date a week later after the 14-day reminder went out: the pending ones fire by the new
    date, the one already sent is not sent again."""
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    scheduler = ReminderScheduler(service, fake_redis, clock=clock)
    clock.now = datetime(2021, 4, 16, 10, 0, tzinfo=BANGKOK)
    scheduler.run_once()
    assert [p["rule"] for p in reminders_of(fake_redis, keys, "3100300")] == ["reminder-2564-6-national-due-minus-14"]
    assert writer.put("/api/v1/windows/2564/6", headers=NACC, json={
        "due_at": "2021-05-07T23:59:59+07:00", "locks_at": "2021-05-22T23:59:59+07:00"}).status_code == 201
    clock.now = datetime(2021, 4, 27, 10, 0, tzinfo=BANGKOK)      # the old due-3 instant: nothing now
    scheduler.run_once()
    assert len(reminders_of(fake_redis, keys, "3100300")) == 1
    clock.now = datetime(2021, 4, 30, 10, 0, tzinfo=BANGKOK)      # the old due date: nothing either
    scheduler.run_once()
    assert len(reminders_of(fake_redis, keys, "3100300")) == 1
    clock.now = datetime(2021, 5, 4, 10, 0, tzinfo=BANGKOK)       # three days before the new due date
    scheduler.run_once()
    assert [p["rule"].rsplit("-national-", 1)[1] for p in reminders_of(fake_redis, keys, "3100300")] == [
        "due-minus-14", "due-minus-3"]


def _register(service, codes):
    operator = {"username": "op-test", "role": "operator"}
    for code in codes:
        service.execute(REGISTRY_STREAM, lambda s, ctx, c=code: handlers.register_unit(
            s, {"code": c, "name_th": f"หน่วยงาน {c}", "kind": "subdistrict_administration", "province": "ลำพูน"},
            ctx), actor=operator, fp=fingerprint("TEST", code, {}))


def _process_env(redis_server, tmp_path):
    return {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": "8", "NCC_ENV": "development",
            "NCC_SECRET_KEY": "test-secret", "NCC_DATA_DIR": str(tmp_path), "NCC_LOG_LEVEL": "WARNING"}


def _fire_now(writer):
    """A national rule of the current round that fired this morning (its window opened yesterday), by NACC."""
    now = datetime.now(timezone.utc).astimezone(BANGKOK)
    from shared.fiscal import fiscal_year_of
    fy = fiscal_year_of(now)
    opens = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert writer.put(f"/api/v1/windows/{fy}/6", headers=NACC, json={
        "opens_at": opens.isoformat(), "due_at": (opens + timedelta(days=30)).isoformat(),
        "locks_at": (opens + timedelta(days=45)).isoformat()}).status_code == 201
    assert writer.put(f"/api/v1/reminder-rules/{fy}/6/opened", headers=NACC, json={
        "anchor": "opens_at", "offset_days": 0, "target": "not_submitted"}).status_code == 201
    return f"reminder-{fy}-6-national-opened"


def _count(redis, keys, codes, rule):
    return Counter(p["rule"] for code in codes for p in reminders_of(redis, keys, code) if p["rule"] == rule)[rule]


def test_two_scheduler_processes_at_once_send_each_reminder_once(app_factory, real_redis, redis_server, keys,
                                                                 tmp_path):
    """Two `python -m services.submission.reminders --once` at the same moment over 150 units: every unit has
    the rule's reminder exactly once."""
    writer = app_factory(real_redis).test_client()
    codes = [f"56{n:05d}" for n in range(150)]
    _register(writer.application.extensions["ncc"]["service"], codes)
    rule = _fire_now(writer)
    env = _process_env(redis_server, tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "services.submission.reminders", "--once"], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        assert proc.wait(120) == 0, proc.stderr.read().decode()[-2000:]
    for code in codes:
        assert _count(real_redis, keys, [code], rule) == 1, code


def test_a_scheduler_killed_mid_pass_then_restarted_misses_none_and_doubles_none(app_factory, real_redis,
                                                                                  redis_server, keys, tmp_path):
    """SIGKILL while a pass over 800 units is half-way, then a new pass: every unit has the reminder once."""
    writer = app_factory(real_redis).test_client()
    codes = [f"57{n:05d}" for n in range(800)]
    _register(writer.application.extensions["ncc"]["service"], codes)
    rule = _fire_now(writer)
    env = _process_env(redis_server, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "services.submission.reminders", "--once"], cwd=ROOT, env=env,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count(real_redis, keys, codes[::20], rule) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    sent = _count(real_redis, keys, codes, rule)
    assert 0 < sent < len(codes), sent                 # killed half-way, not before nor after
    again = subprocess.run([sys.executable, "-m", "services.submission.reminders", "--once"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr[-2000:]
    for code in codes:
        assert _count(real_redis, keys, [code], rule) == 1, code


@pytest.mark.parametrize("body, field, words", [
    ({"anchor": "opens_at", "offset_days": -1, "target": "not_submitted"}, "offset_days", "opens at"),
    ({"anchor": "locks_at", "offset_days": 1, "target": "not_submitted"}, "offset_days", "locks at"),
    ({"anchor": "due_at", "offset_days": 10, "target": "not_submitted", "audience": "supervisors",
      "above_after_days": 9}, "above_after_days", "level above"),
    ({"anchor": "due_at", "offset_days": 91, "target": "not_submitted"}, "offset_days", "90"),
    ({"anchor": "due_at", "offset_days": 1, "target": "not_submitted", "audience": "everyone"}, "audience", "one of"),
])
def test_a_rule_outside_its_window_is_refused_and_writes_nothing(app_factory, fake_redis, body, field, words):
    """The default window of 2564/6 opens 1 April and locks 15 May: a rule firing before or after, or an escalation
    reaching the level above after the lock, is 422 naming the field and the dates, and nothing is written."""
    from tests.conftest import dump_log
    writer = app_factory(fake_redis).test_client()
    before = dump_log(fake_redis)
    rv = writer.put("/api/v1/reminder-rules/2564/6/bad-rule", headers=NACC, json=body)
    assert rv.status_code == 422 and field in str(rv.json["errors"]) and words in str(rv.json), rv.json
    assert dump_log(fake_redis) == before


def test_rules_outside_a_moved_window_can_be_switched_off_and_do_not_fire(app_factory, fake_redis, clock, keys):
    """A supervisor's reminder rule and an escalation rule 20 days before the due date (10 April, inside the
    default window); NACC then opens the round on 15 April: neither fires (the escalation lists no unit), and a rule
    outside the window can still be switched off, though not set active."""
    from datetime import datetime
    from services.submission.digests import EscalationDigests
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    for rule_id, audience in (("early", "unit"), ("escalate-early", "supervisors")):
        assert writer.put(f"/api/v1/reminder-rules/2564/6/{rule_id}", headers=SUP, json={
            "anchor": "due_at", "offset_days": -20, "target": "not_submitted", "audience": audience}).status_code == 201
    assert writer.put("/api/v1/windows/2564/6", headers=NACC, json={
        "opens_at": "2021-04-15T00:00:00+07:00", "due_at": "2021-04-30T23:59:59+07:00",
        "locks_at": "2021-05-15T23:59:59+07:00"}).status_code == 201
    scheduler, digests = ReminderScheduler(service, fake_redis, clock=clock), EscalationDigests(
        service, fake_redis, clock=clock)
    for day in (10, 11, 16, 17):
        clock.now = datetime(2021, 4, day, 10, 0, tzinfo=BANGKOK)
        scheduler.run_once()
        assert digests.today(clock.now) == {}, day
    assert not any("early" in p["rule"] for p in reminders_of(fake_redis, keys, "3100100"))
    assert writer.put("/api/v1/reminder-rules/2564/6/early", headers=SUP, json={
        "anchor": "due_at", "offset_days": -20, "target": "not_submitted"}).status_code == 422
    assert writer.put("/api/v1/reminder-rules/2564/6/early", headers=SUP, json={
        "anchor": "due_at", "offset_days": -20, "target": "not_submitted", "active": False}).status_code == 201
    clock.now = datetime(2021, 5, 20, 10, 0, tzinfo=BANGKOK)       # past the lock: no escalation in force
    assert digests.today(clock.now) == {}


def test_national_rules_replace_the_defaults_of_their_own_audience_only(app_factory, fake_redis):
    """NACC setting one national escalation keeps the default reminders, and one national reminder keeps the
    default escalation."""
    from shared import reminders as rules
    writer = app_factory(fake_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    assert writer.put("/api/v1/reminder-rules/2564/6/escalate-now", headers=NACC, json={
        "anchor": "due_at", "offset_days": 1, "target": "not_submitted", "audience": "supervisors",
        "above_after_days": 5}).status_code == 201
    ids = [r.rule_id for r in rules.rules_of(service.load("windows"), 2564, 6)]
    assert ids == ["due-minus-14", "due-minus-3", "due-day", "due-plus-1", "lock-minus-3", "escalate-now"]
    assert writer.put("/api/v1/reminder-rules/2565/6/one", headers=NACC, json={
        "anchor": "due_at", "offset_days": -2, "target": "not_submitted"}).status_code == 201
    assert [r.rule_id for r in rules.rules_of(service.load("windows"), 2565, 6)] == ["one", "escalate-due-plus-3"]
