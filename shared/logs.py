"""JSON logs: one object per line on stderr, carrying the id of the request being served or projected.

A write's request id (the caller's ``X-Request-Id`` or a new one) is kept in the event's ``meta``, passed in
the RQ job's meta by the nudge, and set here while the job runs; the projection's log line also lists the
request ids of every event it projected, so ``grep <request id>`` finds a write from its HTTP answer to its
projection, even when nudges coalesced or the sweep found it.
"""
from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import datetime, timezone

request_id: ContextVar[str | None] = ContextVar("ncc_request_id", default=None)

_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, ...extra fields, "exc"?}``, Thai kept as Thai."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    """Send every log record of this process to stderr as JSON (called by each process's entry point)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def gunicorn_config(level: str = "INFO") -> dict:
    """gunicorn's ``logconfig_dict``: its own error log and everything else as JSON (access lines come from
    the apps, which know the route, the actor and the request id)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {"stderr": handler},
            "root": {"level": level, "handlers": ["stderr"]},
            "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
                        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False}}}
