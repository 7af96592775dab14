"""The outbox: e-mails kept in Redis until a sender has handed each to the SMTP server, retried with backoff.

A message is a hash (``Keys.outbox_message``) and an entry in a sorted set of due times (``Keys.outbox_due``).
``enqueue`` is idempotent by the caller's message id: the same id a second time is a no-op, before or after the
message was sent (a sent message keeps its hash, without its body, for ``keep_sent_days``). A sender ``claim``s
due messages in one script that gives each a lease (its due time becomes the lease's end), so two senders never
hold the same message at once, and a sender that dies holding one only delays it until the lease ends. It then
hands them to SMTP and marks each ``sent``; a failure puts the message back with an exponential backoff
(``retry_base`` doubling up to ``retry_max``) until ``max_attempts`` attempts, after which it is kept as
``failed``, visible to operators (``/metrics``, the ``outbox`` command) until they retry it. A 5xx answer from the
server (a refused address, say) fails the message at once: sending it again would get the same answer.

What "never sent twice" rests on, honestly: the server's acceptance and our mark are two steps. A sender that dies
(or loses Redis) after the server accepted a message and before the mark leaves it claimed; when the lease ends
another sender sends it again. Every message carries a ``Message-ID`` made from its message id alone, so that
second copy has the same ``Message-ID`` as the first and receivers (and their mail servers) can recognise it as
the same message. A lease shorter than a slow SMTP conversation would have the same effect, so
``lease_seconds`` is kept well above the SMTP timeout.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Callable

from .config import Settings, SmtpServer
from .fiscal import utc_iso
from .keys import Keys

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ID, MAX_SUBJECT, MAX_BODY = 300, 998, 256 * 1024


@dataclass(frozen=True)
class Claimed:
    """A message a sender holds the lease of, with the attempt this is (1 for the first)."""

    message_id: str
    to: str
    subject: str
    body: str
    attempts: int


def address_of(redis, keys: Keys, username: str) -> str | None:
    """The account's confirmed e-mail address, or None (none set, or not confirmed yet)."""
    value = redis.hget(keys.account(username), "email")
    return value.decode() if value else None


def message_id_header(message_id: str, sender: str) -> str:
    """The ``Message-ID`` of a message: the same for every copy of it (from its id and the sender's domain)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(message_id.encode('utf-8')).hexdigest()[:40]}@{domain}>"


def build_message(message_id: str, to: str, subject: str, body: str, sender: str, at: datetime) -> EmailMessage:
    """The e-mail as sent: the subject encoded for headers (RFC 2047, by the SMTP policy), the body UTF-8 text."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = message_id_header(message_id, sender)
    msg["Auto-Submitted"] = "auto-generated"          # RFC 3834: no vacation replies to a system's mail
    msg.set_content(body, charset="utf-8")
    return msg


class Outbox:
    """E-mails waiting to be sent, their leases, retries and failures, in Redis."""

    ENQUEUE_LUA = """
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    redis.call('HSET', KEYS[1], 'to', ARGV[3], 'subject', ARGV[4], 'body', ARGV[5], 'state', 'pending',
               'attempts', 0, 'enqueued_at', ARGV[6], 'enqueued', ARGV[2])
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
    return 1
    """

    # Keys of messages are made here from the prefix: they share the outbox's one hash tag (see Keys.outbox_prefix).
    CLAIM_LUA = """
    local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
    local out = {}
    for _, id in ipairs(ids) do
      local key = ARGV[5] .. id
      local state = redis.call('HGET', key, 'state')
      if state == 'pending' or state == 'sending' then
        local attempts = redis.call('HINCRBY', key, 'attempts', 1)
        redis.call('HSET', key, 'state', 'sending', 'lease_owner', ARGV[3], 'lease_until', ARGV[2])
        redis.call('ZADD', KEYS[1], ARGV[2], id)
        local m = redis.call('HMGET', key, 'to', 'subject', 'body')
        table.insert(out, {id, m[1], m[2], m[3], attempts})
      else
        redis.call('ZREM', KEYS[1], id)
      end
    end
    return out
    """

    SENT_LUA = """
    local state = redis.call('HGET', KEYS[1], 'state')
    if not state or state == 'sent' then return 0 end
    redis.call('HSET', KEYS[1], 'state', 'sent', 'sent_at', ARGV[2])
    redis.call('HDEL', KEYS[1], 'body', 'lease_owner', 'lease_until', 'next_at')
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
    redis.call('ZREM', KEYS[4], ARGV[1])
    redis.call('HINCRBY', KEYS[5], 'sent', 1)
    redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
    return 1
    """

    # ARGV: id, owner, now (score), now (ISO), next (score), next (ISO), error, give up (1/0)
    RETRY_LUA = """
    if redis.call('HGET', KEYS[1], 'state') ~= 'sending' or redis.call('HGET', KEYS[1], 'lease_owner') ~= ARGV[2]
    then return 0 end
    redis.call('HDEL', KEYS[1], 'lease_owner', 'lease_until')
    redis.call('HSET', KEYS[1], 'last_error', ARGV[7], 'last_attempt_at', ARGV[4])
    redis.call('HINCRBY', KEYS[5], 'retried', 1)
    if ARGV[8] == '1' then
      redis.call('HSET', KEYS[1], 'state', 'failed', 'failed_at', ARGV[4])
      redis.call('HDEL', KEYS[1], 'next_at')
      redis.call('ZREM', KEYS[2], ARGV[1])
      redis.call('ZREM', KEYS[3], ARGV[1])
      redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
      redis.call('HINCRBY', KEYS[5], 'failed', 1)
      return 2
    end
    redis.call('HSET', KEYS[1], 'state', 'pending', 'next_at', ARGV[6])
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
    return 1
    """

    RETRY_FAILED_LUA = """
    local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
    for _, id in ipairs(ids) do
      local key = ARGV[2] .. id
      local enqueued = redis.call('HGET', key, 'enqueued') or ARGV[1]
      redis.call('HSET', key, 'state', 'pending', 'attempts', 0)
      redis.call('HDEL', key, 'failed_at')
      redis.call('ZADD', KEYS[2], ARGV[1], id)
      redis.call('ZADD', KEYS[3], enqueued, id)
      redis.call('ZREM', KEYS[1], id)
    end
    return #ids
    """

    def __init__(self, redis, keys: Keys, clock: Callable[[], datetime], *, retry_base: float = 30,
                 retry_max: float = 3600, max_attempts: int = 24, lease_seconds: float = 300,
                 keep_sent_days: int = 400):
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.retry_base, self.retry_max, self.max_attempts = retry_base, retry_max, max_attempts
        self.lease_seconds = lease_seconds
        self.keep_sent_seconds = keep_sent_days * 86400
        self._enqueue = redis.register_script(self.ENQUEUE_LUA)
        self._claim = redis.register_script(self.CLAIM_LUA)
        self._sent = redis.register_script(self.SENT_LUA)
        self._retry = redis.register_script(self.RETRY_LUA)
        self._retry_failed = redis.register_script(self.RETRY_FAILED_LUA)

    @classmethod
    def from_settings(cls, redis, keys: Keys, clock: Callable[[], datetime], settings: Settings) -> "Outbox":
        """An outbox with the backoff and lease of the settings."""
        return cls(redis, keys, clock, retry_base=settings.mail_retry_base_seconds,
                   retry_max=settings.mail_retry_max_seconds, max_attempts=settings.mail_max_attempts,
                   lease_seconds=settings.mail_lease_seconds)

    def _message_keys(self, message_id: str) -> list[str]:
        k = self.keys
        return [k.outbox_message(message_id), k.outbox_due, k.outbox_pending, k.outbox_failed, k.outbox_counts]

    def enqueue(self, message_id: str, to: str, subject: str, body: str) -> bool:
        """Keep a message for sending; False (and nothing written) when that message id was enqueued before, sent or
        not. ValueError, before anything is written, for an id with spaces or over 300 characters, or an address
        that is not one ASCII address (``shared.auth.check_email`` gives addresses in that form)."""
        if not message_id or len(message_id) > MAX_ID or any(c.isspace() for c in message_id):
            raise ValueError(f"a message id is 1 to {MAX_ID} characters without spaces, got {message_id!r}")
        # an address is ASCII (shared.auth.check_email keeps a Thai domain as IDNA): the standard library would write
        # a Thai local part as encoded words, which no server delivers
        if (not parseaddr(to)[1] or not to.isascii() or any(c in to for c in "\r\n") or len(subject) > MAX_SUBJECT
                or len(body) > MAX_BODY):
            raise ValueError(f"not a message that can be sent: to={to!r}, {len(subject)}-character subject")
        now = self.clock()
        return bool(self._enqueue(keys=self._message_keys(message_id)[:3],
                                  args=[message_id, now.timestamp(), to, subject, body, utc_iso(now)]))

    def claim(self, owner: str, limit: int = 50) -> list[Claimed]:
        """Take up to ``limit`` due messages for ``lease_seconds``: no other sender gets them meanwhile."""
        now = self.clock().timestamp()
        rows = self._claim(keys=[self.keys.outbox_due],
                           args=[now, now + self.lease_seconds, owner, limit, self.keys.outbox_message("")])
        return [Claimed(i.decode(), to.decode(), subject.decode(), body.decode(), int(attempts))
                for i, to, subject, body, attempts in rows]

    def mark_sent(self, message_id: str) -> bool:
        """The server accepted the message: never send it again (False when it was already marked)."""
        return bool(self._sent(keys=self._message_keys(message_id),
                               args=[message_id, utc_iso(self.clock()), self.keep_sent_seconds]))

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: base, twice that, ... at most ``retry_max``."""
        return min(self.retry_max, self.retry_base * 2 ** min(attempts - 1, 60))

    def mark_failed_attempt(self, message: Claimed, owner: str, error: str, *, permanent: bool = False) -> str:
        """An attempt failed: the message waits for its backoff, or is kept as failed after its last attempt (or
        at once when ``permanent``). Returns the message's state (unchanged if ``owner`` lost the lease)."""
        now = self.clock()
        give_up = permanent or message.attempts >= self.max_attempts
        retry_at = now + timedelta(seconds=self.delay(message.attempts))
        outcome = self._retry(keys=self._message_keys(message.message_id),
                              args=[message.message_id, owner, now.timestamp(), utc_iso(now), retry_at.timestamp(),
                                    utc_iso(retry_at), error[:500], int(give_up)])
        return {0: SENDING, 1: PENDING, 2: FAILED}[int(outcome)]

    def get(self, message_id: str) -> dict | None:
        """A message's fields (body only while not sent), or None."""
        raw = self.redis.hgetall(self.keys.outbox_message(message_id))
        return {k.decode(): v.decode() for k, v in raw.items()} if raw else None

    def stats(self) -> dict:
        """What operators watch: messages waiting and failed, the oldest waiting one's age, totals sent and
        failed attempts."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.keys.outbox_pending)
        pipe.zrange(self.keys.outbox_pending, 0, 0, withscores=True)
        pipe.zcard(self.keys.outbox_failed)
        pipe.hgetall(self.keys.outbox_counts)
        pending, oldest, failed, counts = pipe.execute()
        counts = {k.decode(): int(v) for k, v in counts.items()}
        age = max(0.0, self.clock().timestamp() - oldest[0][1]) if oldest else 0.0
        return {"pending": pending, "failed": failed, "oldest_pending_seconds": round(age, 3),
                "sent_total": counts.get("sent", 0), "failed_attempts_total": counts.get("retried", 0),
                "given_up_total": counts.get("failed", 0)}

    def failed_messages(self, limit: int = 100) -> list[dict]:
        """The messages given up on, oldest first, with their last error."""
        ids = [i.decode() for i in self.redis.zrange(self.keys.outbox_failed, 0, limit - 1)]
        return [{"message_id": i, **{k: v for k, v in (self.get(i) or {}).items() if k != "body"}} for i in ids]

    def retry_failed(self) -> int:
        """Put every failed message back in line with its attempts counted from zero; how many."""
        k = self.keys
        return int(self._retry_failed(keys=[k.outbox_failed, k.outbox_due, k.outbox_pending],
                                      args=[self.clock().timestamp(), k.outbox_message("")]))


def _permanent(exc: smtplib.SMTPException) -> bool:
    """Whether the server's answer says trying again will not help (a 5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, (smtplib.SMTPResponseException, smtplib.SMTPNotSupportedError)) and (
        getattr(exc, "smtp_code", 500) >= 500)


def _reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{to}: {code} {text.decode(errors='replace')}" for to, (code, text) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
    return f"{type(exc).__name__}: {exc}"


class Mailer:
    """Sends what the outbox holds through one SMTP server: a pass claims due messages and sends them over one
    connection, marking each sent, or failed for a retry."""

    def __init__(self, outbox: Outbox, server: SmtpServer | None, sender: str, *, timeout: float = 30,
                 owner: str | None = None):
        self.outbox = outbox
        self.server = server
        self.sender = sender
        self.timeout = timeout
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def connect(self) -> smtplib.SMTP:
        """An SMTP session with the server: TLS as configured (certificates checked), signed in when a user is set."""
        s = self.server
        context = ssl.create_default_context()
        if s.tls == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            if s.tls == "starttls":
                smtp.starttls(context=context)
            if s.user:
                smtp.login(s.user, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _count(self, counts: dict, message: Claimed, reason: str, permanent: bool = False) -> str:
        state = self.outbox.mark_failed_attempt(message, self.owner, reason, permanent=permanent)
        counts["failed" if state == FAILED else "retry"] += 1
        return state

    def run_once(self, limit: int = 100) -> dict:
        """One pass: counts of messages sent, put back for a retry and given up on. Failing to reach the server or
        to sign in to it makes every claimed message wait (it says nothing about them); a message the server
        refuses with a 5xx is given up on, any other refusal waits for a retry."""
        counts = {"sent": 0, "retry": 0, "failed": 0}
        if self.server is None:
            return counts
        claimed = self.outbox.claim(self.owner, limit)
        smtp = None
        try:
            for n, message in enumerate(claimed):
                if smtp is None:
                    try:
                        smtp = self.connect()
                    except (smtplib.SMTPException, OSError) as exc:
                        log.warning("mail: %s:%s: %s; %s messages wait", self.server.host, self.server.port,
                                    _reason(exc), len(claimed) - n)
                        for waiting in claimed[n:]:
                            self._count(counts, waiting, _reason(exc))
                        break
                try:
                    smtp.send_message(build_message(message.message_id, message.to, message.subject, message.body,
                                                    self.sender, self.outbox.clock()))
                except (smtplib.SMTPException, OSError) as exc:
                    if not isinstance(exc, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)):
                        smtp.close()              # the connection is in an unknown state: the next one opens anew
                        smtp = None
                    state = self._count(counts, message, _reason(exc), _permanent(exc))
                    log.warning("mail %s attempt %s: %s (%s)", message.message_id, message.attempts, _reason(exc),
                                state)
                    continue
                self.outbox.mark_sent(message.message_id)
                counts["sent"] += 1
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        return counts


def outbox_collector(outbox: Outbox):
    """A Prometheus collector of the outbox's figures, read from Redis at scrape time."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self):
            s = outbox.stats()
            yield GaugeMetricFamily("ncc_outbox_pending", "E-mails waiting to be sent", value=s["pending"])
            yield GaugeMetricFamily("ncc_outbox_failed", "E-mails given up on, waiting for an operator",
                                    value=s["failed"])
            yield GaugeMetricFamily("ncc_outbox_oldest_pending_seconds", "Age of the oldest e-mail waiting",
                                    value=s["oldest_pending_seconds"])
            yield CounterMetricFamily("ncc_outbox_sent", "E-mails the SMTP server accepted", value=s["sent_total"])
            yield CounterMetricFamily("ncc_outbox_failed_attempts", "Attempts to send an e-mail that failed",
                                      value=s["failed_attempts_total"])
    return Collector()
