"""JSON log lines: one object per record, with the request id of the context and any extra fields."""
import json
import logging

from shared import logs


def record(msg="projected %s", *args, **extra):
    rec = logging.makeLogRecord({"name": "ncc.test", "levelname": "INFO", "levelno": 20, "msg": msg,
                                 "args": args, **extra})
    return json.loads(logs.JsonFormatter().format(rec))


def test_line_carries_message_extras_and_context_request_id():
    token = logs.request_id.set("req-123")
    try:
        line = record("projected %s", "unit:3100100", stream="unit:3100100", request_ids=["a", "b"])
    finally:
        logs.request_id.reset(token)
    assert line["msg"] == "projected unit:3100100" and line["level"] == "info" and line["logger"] == "ncc.test"
    assert line["request_id"] == "req-123" and line["stream"] == "unit:3100100" and line["request_ids"] == ["a", "b"]
    assert line["ts"].endswith("+00:00")


def test_no_request_id_outside_a_request_and_thai_stays_thai():
    line = record("แผนปฏิบัติการ %s", "ป้องกันการทุจริต")
    assert "request_id" not in line and line["msg"] == "แผนปฏิบัติการ ป้องกันการทุจริต"


def test_exception_is_one_field():
    try:
        raise ValueError("bad event")
    except ValueError:
        import sys
        line = record("failed", exc_info=sys.exc_info())
    assert "ValueError: bad event" in line["exc"]


def test_configure_sends_everything_as_json(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure()
        logging.getLogger("ncc.test").info("hello", extra={"unit": "3100100"})
        err = capsys.readouterr().err.strip().splitlines()
        assert json.loads(err[-1])["unit"] == "3100100"
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
