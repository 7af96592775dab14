"""Every Redis key name the project uses, each carrying a partition hash tag."""
from __future__ import annotations

import zlib

# Streams that are not a unit's: the national reporting calendar, and who oversees whom.
WINDOWS_STREAM = "windows"
REGISTRY_STREAM = "registry"


SECURITY_PREFIX = "security:"

# The sorted sets beside each round's facts hash (see Keys.round_marks), in the projection scripts' order.
ROUND_MARKS = ("submitted", "unreviewed", "decided", "excepted")


def is_unit_stream(stream: str) -> bool:
    """Whether a stream is a unit's (named by its 7-digit code) rather than a national or security one."""
    return len(stream) == 7 and stream.isdigit()


def security_stream(username: str) -> str:
    """The stream of an account's security events."""
    return SECURITY_PREFIX + username


class Keys:
    """Key names for one keyspace prefix and partition count.

    Every key one atomic operation touches shares the hash tag of the stream it is
    about (``{p07}``), so the same scripts run on one Redis or on a Redis Cluster.
    """

    def __init__(self, prefix: str = "ncc", partitions: int = 16):
        self.prefix = prefix
        self.partitions = partitions
        self._width = len(str(partitions - 1))

    def partition_of(self, stream: str) -> int:
        """The partition a stream lives in (stable: CRC-32 of its name)."""
        return zlib.crc32(stream.encode("utf-8")) % self.partitions

    def tag(self, partition: int) -> str:
        """The hash tag of a partition, e.g. ``{p07}``."""
        return "{p%0*d}" % (self._width, partition)

    def _stream_key(self, stream: str, what: str) -> str:
        return f"{self.prefix}:{self.tag(self.partition_of(stream))}:s:{stream}:{what}"

    def events(self, stream: str) -> str:
        """The Redis Stream holding a stream's events; entry id ``<version>-0``."""
        return self._stream_key(stream, "events")

    def head(self, stream: str) -> str:
        """The hash of a stream's last event (the chain head)."""
        return self._stream_key(stream, "head")

    def archive(self, stream: str) -> str:
        """Hash: the stream's archived segments (``seg:<first>-<last>`` -> where the segment is and its SHA-256)
        and ``upto``, the last archived version (the entries up to it are no longer in the Redis Stream)."""
        return self._stream_key(stream, "archive")

    def idempotency(self, stream: str, fiscal_year: int) -> str:
        """Hash: Idempotency-Key -> fingerprint and first answer, for the writes to a stream in one fiscal year
        (it expires a fiscal year after the plan cycle of its writes ends)."""
        return self._stream_key(stream, f"idem:{fiscal_year}")

    def streams(self, partition: int) -> str:
        """Set of the streams that live in a partition."""
        return f"{self.prefix}:{self.tag(partition)}:streams"

    def unprojected(self, partition: int) -> str:
        """Sorted set: stream -> time (ms) of its oldest event the tracker has not projected."""
        return f"{self.prefix}:{self.tag(partition)}:unprojected"

    def read_model(self, stream: str) -> str:
        """Hash: the tracker's ``checkpoint`` (last projected version) and ``snapshot`` (the folded state)."""
        return self._stream_key(stream, "rm")

    def rebuilt(self, stream: str) -> str:
        """Counter: how many times the stream's read models were rebuilt (readers' caches watch it)."""
        return self._stream_key(stream, "rebuilt")

    def audit(self, stream: str) -> str:
        """List: the audit entries earlier versions kept (the trail is now folded from the log when read); a
        rebuild deletes it."""
        return self._stream_key(stream, "audit")

    def rounds(self, partition: int, fiscal_year: int, round_: int) -> str:
        """Hash: unit -> its facts for one fiscal year and round (the rollups' input)."""
        return f"{self.prefix}:{self.tag(partition)}:rounds:{fiscal_year}:{round_}"

    def round_marks(self, partition: int, fiscal_year: int, round_: int) -> list[str]:
        """Sorted sets beside a round's facts hash, written with it in the projection's one atomic step, from
        which the national counts per state and rates are read without reading a single unit's facts:
        ``submitted`` unit -> instant of its first report (microseconds), ``unreviewed`` the same for reports
        with no decision on their latest version, ``decided`` unit -> 1 accepted, 2 returned, ``excepted`` unit
        without a report -> end of its latest exception (microseconds)."""
        base = self.rounds(partition, fiscal_year, round_)
        return [f"{base}:{mark}" for mark in ROUND_MARKS]

    def parked(self, partition: int) -> str:
        """Hash: stream -> why its projection stopped (the version and the error)."""
        return f"{self.prefix}:{self.tag(partition)}:parked"

    def account(self, username: str) -> str:
        """Hash: an account's credentials (never in the event log): role, status, password and code hashes."""
        return f"{self.prefix}:{self.tag(self.partition_of(SECURITY_PREFIX + username))}:acct:{username}"

    def read_marks(self, username: str) -> str:
        """Sorted set: the notifications an account has marked read (``<stream>:<version>``), scored by when."""
        return f"{self.prefix}:{self.tag(self.partition_of(SECURITY_PREFIX + username))}:read:{username}"

    def throttle(self, kind: str, who: str) -> str:
        """Hash: failed attempts and the lock-out end, per username or per client address."""
        return f"{self.prefix}:throttle:{kind}:{who}"

    @property
    def reminders_done(self) -> str:
        """Set: the reminder rules (at their instant) whose every unit the scheduler has handled."""
        return f"{self.prefix}:reminders:done"

    @property
    def outbox_prefix(self) -> str:
        """Prefix of the outbox's keys; they share one hash tag (``{outbox}``) so its scripts are atomic."""
        return f"{self.prefix}:{{outbox}}"

    def outbox_message(self, message_id: str) -> str:
        """Hash: one e-mail of the outbox (recipient, subject, body, state, attempts, last error, times)."""
        return f"{self.outbox_prefix}:msg:{message_id}"

    @property
    def outbox_due(self) -> str:
        """Sorted set: message id -> when a sender may take it next (its due time, or its lease's end)."""
        return f"{self.outbox_prefix}:due"

    @property
    def outbox_pending(self) -> str:
        """Sorted set: message id -> when it was enqueued, for every message not yet sent nor failed."""
        return f"{self.outbox_prefix}:pending"

    @property
    def outbox_failed(self) -> str:
        """Sorted set: message id -> when it was given up on (kept until an operator retries it)."""
        return f"{self.outbox_prefix}:failed"

    @property
    def outbox_counts(self) -> str:
        """Hash: messages ``sent``, ``failed`` (given up on) and ``retried`` (failed attempts), since the start."""
        return f"{self.outbox_prefix}:counts"

    def email_requests(self, username: str) -> str:
        """Counter: confirmation e-mails an account asked for this hour (a person cannot make us mail-bomb)."""
        return f"{self.prefix}:email-requests:{username}"

    @property
    def rate_limit_prefix(self) -> str:
        """Prefix of flask-limiter's counters (per client and limit; they expire by themselves)."""
        return f"{self.prefix}:ratelimit"

    def nudge_flag(self, partition: int) -> str:
        """Set while a projection job for the partition is queued and not yet started (nudges coalesce)."""
        return f"{self.prefix}:nudge:p{partition}"

    def earlier_idempotency(self, stream: str) -> str:
        """Hash: the Idempotency-Keys that versions before the per-year records kept for a stream (looked in,
        never written)."""
        return self._stream_key(stream, "idem")

    def idempotency_keys(self, stream: str, fiscal_years: list[int]) -> list[str]:
        """Where a write's Idempotency-Key is looked for: the earlier versions' hash, then the records of
        ``fiscal_years`` (the current one last)."""
        return [self.earlier_idempotency(stream), *(self.idempotency(stream, fy) for fy in fiscal_years)]

    def append_keys(self, stream: str, fiscal_years: list[int]) -> list[str]:
        """The keys the append script touches, in its KEYS order: the fixed four, then ``idempotency_keys``."""
        p = self.partition_of(stream)
        return [self.events(stream), self.head(stream), self.streams(p), self.unprojected(p),
                *self.idempotency_keys(stream, fiscal_years)]
