"""E-mail through a real SMTP server (aiosmtpd on a free port) and a real redis-server: Thai intact, an SMTP server
that goes away and comes back loses and doubles nothing, two mailer processes send each message once, and the
reminder scheduler's reminders arrive by e-mail."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from services.submission import handlers
from services.submission.reminders import ReminderScheduler, message_of
from services.submission.service import fingerprint
from shared.config import SmtpServer
from shared.embedded import free_port
from shared.fiscal import BANGKOK
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.outbox import FAILED, PENDING, Mailer, Outbox, message_id_header

ROOT = Path(__file__).resolve().parents[2]
SENDER = "ระบบแผนปฏิบัติการ <no-reply@plans.example.go.th>"
SUBJECT = "แจ้งเตือนการส่งรายงานผลการดำเนินงาน ปีงบประมาณ 2564 รอบ 6 เดือน"
BODY = "เรียน สำนักงานเขตพระนคร\n\nขอให้ส่งรายงานภายใน 30 เมษายน 2564 เวลา 23:59 น.\nน้ำ ผู้ใหญ่ ก๊วยเตี๋ยว ฯลฯ\n"


class Inbox:
    """What the SMTP server received: each message's recipients and bytes as they came over the wire."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.rcpt_tos, envelope.original_content or envelope.content))
        return "250 OK"

    def parsed(self):
        with self.lock:
            return [message_from_bytes(raw, policy=policy.default) for _to, raw in self.messages]


class SmtpUnderTest:
    """An aiosmtpd server on a port of its own that a test can stop and start again."""

    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()
        self.controller = None

    @property
    def server(self) -> SmtpServer:
        return SmtpServer("127.0.0.1", self.port, "none")


@pytest.fixture
def smtp():
    server = SmtpUnderTest()
    server.start()
    yield server
    if server.controller:
        server.stop()


@pytest.fixture
def outbox(real_redis, keys, clock):
    return Outbox(real_redis, keys, clock, retry_base=30, retry_max=600, max_attempts=10)


def test_a_thai_subject_and_body_arrive_intact(outbox, smtp):
    """Decoded at the receiving end, the subject, body, sender and recipient are what was enqueued."""
    assert outbox.enqueue("m1", "clerk@example.go.th", SUBJECT, BODY)
    assert Mailer(outbox, smtp.server, SENDER).run_once() == {"sent": 1, "retry": 0, "failed": 0}
    [msg] = smtp.inbox.parsed()
    assert msg["Subject"] == SUBJECT and msg.get_content().replace("\r\n", "\n") == BODY
    # RFC 2047 6.2 decoding (the space between two encoded words is not text); Python's address parser keeps it
    raw_from = message_from_bytes(smtp.inbox.messages[0][1])["From"]            # as it came, encoded
    assert msg["To"] == "clerk@example.go.th" and str(make_header(decode_header(raw_from))) == SENDER
    assert msg["Message-ID"] == message_id_header("m1", SENDER)
    assert smtp.inbox.messages[0][0] == ["clerk@example.go.th"]
    assert outbox.get("m1")["state"] == "sent" and outbox.stats()["sent_total"] == 1


def test_an_smtp_server_down_delays_every_message_and_once_back_each_arrives_once(outbox, smtp, clock):
    """SMTP stopped: passes count an attempt on each message and keep them waiting with backoff; SMTP started
    again: every message arrives exactly once, and later passes send nothing more."""
    smtp.stop()
    for n in range(30):
        assert outbox.enqueue(f"m{n}", f"unit{n}@example.go.th", f"{SUBJECT} ({n})", BODY)
    mailer = Mailer(outbox, smtp.server, SENDER)
    assert mailer.run_once() == {"sent": 0, "retry": 30, "failed": 0}
    assert mailer.run_once() == {"sent": 0, "retry": 0, "failed": 0}       # backing off: nothing is due yet
    clock.advance(seconds=30)
    assert mailer.run_once()["retry"] == 30
    assert {outbox.get(f"m{n}")["attempts"] for n in range(30)} == {"2"}
    assert {outbox.get(f"m{n}")["state"] for n in range(30)} == {PENDING}
    assert "ConnectionRefusedError" in outbox.get("m0")["last_error"]
    assert outbox.stats()["pending"] == 30 and outbox.stats()["failed_attempts_total"] == 60
    smtp.start()
    clock.advance(seconds=59)
    assert mailer.run_once()["sent"] == 0                                  # not before the backoff has passed
    clock.advance(seconds=1)
    assert mailer.run_once() == {"sent": 30, "retry": 0, "failed": 0}
    clock.advance(hours=2)
    assert mailer.run_once() == {"sent": 0, "retry": 0, "failed": 0}
    received = Counter(m["Message-ID"] for m in smtp.inbox.parsed())
    assert len(received) == 30 and set(received.values()) == {1}
    assert sorted(m["Subject"] for m in smtp.inbox.parsed()) == sorted(f"{SUBJECT} ({n})" for n in range(30))
    assert outbox.stats()["pending"] == 0 and outbox.stats()["sent_total"] == 30


def test_a_refused_recipient_fails_at_once_and_the_others_go_on(outbox, smtp):
    """A 550 for one address gives that message up (visible, with the server's answer); the others are sent."""
    class Refusing(Inbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("nobody@"):
                return "550 5.1.1 no such mailbox"
            envelope.rcpt_tos.append(address)
            return "250 OK"
    smtp.stop()
    smtp.inbox = Refusing()
    smtp.start()
    for n, to in enumerate(("a@example.go.th", "nobody@example.go.th", "b@example.go.th")):
        outbox.enqueue(f"m{n}", to, SUBJECT, BODY)
    assert Mailer(outbox, smtp.server, SENDER).run_once() == {"sent": 2, "retry": 0, "failed": 1}
    assert outbox.get("m1")["state"] == FAILED and "550" in outbox.get("m1")["last_error"]
    assert [m["message_id"] for m in outbox.failed_messages()] == ["m1"] and outbox.stats()["failed"] == 1


def test_two_mailer_processes_at_once_send_each_message_once(real_redis, keys, redis_server, smtp, tmp_path):
    """Two `python -m services.submission.mailer --once` started together over 300 messages: each arrives once."""
    now = lambda: datetime.now(timezone.utc)  # noqa: E731 - the processes read the wall clock
    box = Outbox(real_redis, keys, now)
    for n in range(300):
        box.enqueue(f"bulk-{n}", f"unit{n}@example.go.th", f"{SUBJECT} #{n}", BODY)
    env = {**os.environ, "REDIS_URL": redis_server.url, "NCC_PARTITIONS": "8", "NCC_ENV": "development",
           "NCC_LOG_LEVEL": "WARNING", "NCC_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
           "NCC_MAIL_FROM": "no-reply@plans.example.go.th"}
    procs = [subprocess.Popen([sys.executable, "-m", "services.submission.mailer", "--once"], cwd=ROOT, env=env,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        assert proc.wait(120) == 0, proc.stderr.read().decode()[-2000:]
    received = Counter(m["Subject"] for m in smtp.inbox.parsed())
    assert len(received) == 300 and set(received.values()) == {1}
    assert box.stats() | {"oldest_pending_seconds": 0} == {
        "pending": 0, "failed": 0, "oldest_pending_seconds": 0, "sent_total": 300, "failed_attempts_total": 0,
        "given_up_total": 0}


def test_the_schedulers_reminders_arrive_by_email_once(app_factory, real_redis, keys, clock, smtp):
    """A unit with a confirmed address gets the 14-days-before reminder by e-mail: Thai subject with the round, the
    due date in Thai and the report form's link; a unit without one gets none; a pass that replays the append (as
    after a crash before the e-mail was queued) queues it, and another pass queues nothing more."""
    writer = app_factory(real_redis).test_client()
    service = writer.application.extensions["ncc"]["service"]
    op = {"X-Actor": "operator:op1"}
    for code in ("3100100", "3100200", "3100300"):
        service.execute(REGISTRY_STREAM, lambda s, ctx, c=code: handlers.create_account(
            s, {"username": c, "role": "unit", "name": None, "demo": False}, ctx),
            actor={"username": "op1", "role": "operator"}, fp=fingerprint("TEST", code, {}))
    assert writer.put("/api/v1/accounts/3100100/email", json={"email": "clerk@phranakhon.example.go.th"},
                      headers=op).status_code == 200
    assert writer.put("/api/v1/accounts/3100200/email", json={"email": "saraban@example.go.th"},
                      headers=op).status_code == 200
    scheduler = ReminderScheduler(service, real_redis, clock=clock)
    clock.now = datetime(2021, 4, 16, 10, 0, tzinfo=BANGKOK)          # 14 days before the due date
    [(rule, _at)] = scheduler.due(clock.now)
    text = message_of(rule, service.load(WINDOWS_STREAM).window(2564, 6, 15))
    service.execute("3100200", lambda s, ctx: handlers.scheduled_reminder(s, rule, text, ctx),  # a pass that died
                    actor={"username": "reminder-scheduler", "role": "system"},           # after its append
                    fp=fingerprint("REMIND", rule.key, {"message": text}), idempotency_key=rule.key)
    counts = scheduler.run_once()
    assert counts["sent"] == 2 and counts["already_sent"] == 1
    clock.advance(hours=12)
    scheduler.run_once()
    outbox = Outbox(real_redis, keys, clock)
    assert outbox.stats()["pending"] == 2
    assert Mailer(outbox, smtp.server, SENDER).run_once()["sent"] == 2
    mails = {m["To"]: m for m in smtp.inbox.parsed()}
    assert set(mails) == {"clerk@phranakhon.example.go.th", "saraban@example.go.th"}
    mail = mails["clerk@phranakhon.example.go.th"]
    assert mail["Subject"] == ("แจ้งเตือนการส่งรายงานผลการดำเนินงานตามแผนปฏิบัติการป้องกันการทุจริต "
                               "ปีงบประมาณ 2564 รอบ 6 เดือน")
    body = mail.get_content()
    assert "เรียน หน่วยงานทดสอบ 3100100" in body and "30 เมษายน 2564 23:59 น." in body
    assert "http://127.0.0.1:8002/units/3100100/reports/2564/6" in body
    assert mail["Message-ID"] == message_id_header(f"{rule.key}:3100100", SENDER)


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as files; trusted by the tests through SSL_CERT_FILE."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")   # implicit TLS, as above
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_tls_with_a_checked_certificate_and_sign_in(outbox, tmp_path, monkeypatch, tls):
    """STARTTLS (the server refusing to sign anyone in before it) and TLS from the first byte, the server's
    certificate checked, signing in as the configured user: the message arrives. A certificate the mailer does not
    trust is a failed attempt: the message waits, nothing is sent in the clear."""
    import ssl

    from aiosmtpd.smtp import AuthResult
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    inbox, port = Inbox(), free_port()
    tls_args = ({"tls_context": context, "require_starttls": True} if tls == "starttls"   # aiosmtpd does not see
                else {"ssl_context": context, "auth_require_tls": False})                  # implicit TLS as TLS
    controller = Controller(inbox, hostname="127.0.0.1", port=port, auth_required=True, authenticator=authenticator,
                            **tls_args)
    controller.start()
    server = SmtpServer("127.0.0.1", port, tls, "mailer@nacc", "s3cret pass")
    try:
        outbox.enqueue("m1", "clerk@example.go.th", SUBJECT, BODY)
        assert Mailer(outbox, server, SENDER, timeout=5).run_once() == {"sent": 0, "retry": 1, "failed": 0}
        assert "CERTIFICATE_VERIFY_FAILED" in outbox.get("m1")["last_error"] and not inbox.messages
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))     # now the mailer's default context trusts it
        outbox.clock.advance(seconds=30)
        assert Mailer(outbox, server, SENDER, timeout=5).run_once() == {"sent": 1, "retry": 0, "failed": 0}
    finally:
        controller.stop()
    assert logins == [(b"mailer@nacc", b"s3cret pass")]
    [msg] = inbox.parsed()
    assert msg["Subject"] == SUBJECT
