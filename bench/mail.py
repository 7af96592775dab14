"""E-mails sent per second to a local SMTP server through the outbox, beside raw smtplib sends of the same messages.

A local SMTP server in a process of its own (aiosmtpd's ``Sink`` handler: it accepts and discards) and a fresh
real redis-server (AOF, appendfsync always). ``--messages`` reminder e-mails (default 2,000), the Thai subject and
body the reminder scheduler writes (``services.submission.reminders.reminder_mail``), to as many addresses:

- **enqueue**: ``Outbox.enqueue`` of every message (one script each, fsync'd);
- **outbox**: ``Mailer.run_once`` until the outbox is empty: claim 100 (one script), build each message, send it
  over one SMTP connection per batch, mark each sent (one script each);
- **baseline, raw smtplib**: the same messages built the same way and sent with ``smtplib`` over one connection per
  100 messages, nothing read or written in Redis; and over one connection for them all;
- **of which building**: ``build_message`` and its serialisation alone, with the standard library's SMTP policy
  (78-character lines) and, for comparison, the same policy allowing lines up to RFC 5322's 998.

Run: .venv/bin/python -m bench.mail [--messages 2000] | tee docs/benchmarks/mail-2000.txt
"""
from __future__ import annotations

import argparse
import platform
import smtplib
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from email import policy

import redis as redis_lib

from services.submission.reminders import reminder_mail
from shared.config import SmtpServer
from shared.embedded import EmbeddedRedis, free_port
from shared.fiscal import BANGKOK
from shared.keys import Keys
from shared.outbox import Mailer, Outbox, build_message
from shared.reminders import Rule

SENDER = "ระบบแผนปฏิบัติการป้องกันการทุจริต <no-reply@plans.example.go.th>"
BATCH = 100


class _Window:
    due_at = datetime(2024, 4, 30, 23, 59, 59, tzinfo=BANGKOK)


def messages(n: int) -> list[tuple[str, str, str, str]]:
    """(message id, to, subject, body) of n reminder e-mails as the scheduler writes them."""
    rule = Rule("due-minus-14", 2567, 6, "due_at", -14, "not_submitted")
    text = ("ขอให้หน่วยงานส่งรายงานผลการดำเนินงานตามแผนปฏิบัติการป้องกันการทุจริต ปีงบประมาณ 2567 รอบ 6 เดือน "
            "ภายใน 30 เมษายน 2567 23:59 น.")
    out = []
    for k in range(n):
        code = f"{5000000 + k}"
        subject, body = reminder_mail(rule, _Window, text, {"name_th": f"องค์การบริหารส่วนตำบลทดสอบ {k}"}, code,
                                      "https://plans.example.go.th")
        out.append((f"{rule.key}:{code}", f"saraban{k}@example.go.th", subject, body))
    return out


def _wait_for_smtp(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def raw_send(port: int, mails, per_connection: int) -> float:
    """Seconds to build and send every message with smtplib, a new connection every ``per_connection``."""
    started = time.perf_counter()
    for i in range(0, len(mails), per_connection):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for mid, to, subject, body in mails[i:i + per_connection]:
                smtp.send_message(build_message(mid, to, subject, body, SENDER, datetime.now(timezone.utc)))
    return time.perf_counter() - started


def build_seconds(mails, max_line_length: int) -> float:
    """Seconds to build and serialise every message, with lines folded at ``max_line_length``."""
    wire = policy.SMTP.clone(max_line_length=max_line_length)
    started = time.perf_counter()
    for mid, to, subject, body in mails:
        build_message(mid, to, subject, body, SENDER, datetime.now(timezone.utc)).as_bytes(policy=wire)
    return time.perf_counter() - started


def main() -> None:
    """Start the SMTP sink and Redis, time the enqueue, the outbox's sending and the raw baselines, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2_000)
    args = parser.parse_args()
    mails = messages(args.messages)
    print(f"python {platform.python_version()}, {args.messages:,} reminder e-mails "
          f"({len(mails[0][3].encode('utf-8')):,}-byte Thai body), local aiosmtpd Sink in its own process")
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_smtp(port)
        with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as server:
            redis = redis_lib.Redis.from_url(server.url)
            clock = lambda: datetime.now(timezone.utc)  # noqa: E731
            outbox = Outbox(redis, Keys(), clock)
            started = time.perf_counter()
            for mail in mails:
                outbox.enqueue(*mail)
            enqueue = time.perf_counter() - started
            mailer = Mailer(outbox, SmtpServer("127.0.0.1", port, "none"), SENDER)
            started, sent = time.perf_counter(), 0
            while sent < len(mails):
                counts = mailer.run_once(BATCH)
                assert counts["retry"] == counts["failed"] == 0, counts
                sent += counts["sent"]
            outboxed = time.perf_counter() - started
            assert outbox.stats()["sent_total"] == len(mails) and outbox.stats()["pending"] == 0
        per_batch = raw_send(port, mails, BATCH)
        one = raw_send(port, mails, len(mails))
    finally:
        sink.terminate()
        sink.wait(10)
    n = len(mails)
    built, built_long = build_seconds(mails, 78), build_seconds(mails, 998)
    print(f"enqueue (outbox, fsync always):           {n / enqueue:8,.0f} messages/s  ({enqueue * 1000 / n:.2f} ms each)")
    print(f"sent through the outbox:                  {n / outboxed:8,.0f} e-mails/s   ({outboxed:.2f} s)")
    print(f"baseline, raw smtplib, a connection /{BATCH}: {n / per_batch:8,.0f} e-mails/s   ({per_batch:.2f} s)")
    print(f"baseline, raw smtplib, one connection:    {n / one:8,.0f} e-mails/s   ({one:.2f} s)")
    print(f"of which building one message (email, SMTP policy, 78-character lines): {built * 1000 / n:.1f} ms; "
          f"with lines up to 998: {built_long * 1000 / n:.1f} ms")
    print(f"the outbox's sending costs {outboxed / per_batch:.2f}x the raw sends with the same connections "
          f"(claim and mark-sent scripts, fsync'd); enqueue and send together {(enqueue + outboxed) / per_batch:.2f}x")


if __name__ == "__main__":
    main()
