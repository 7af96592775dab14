"""Runs one command: idempotency, read and fold the stream, decide, append atomically, nudge the tracker."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Callable

import redis as redis_lib

from shared import plan as plan_fold
from shared.config import Settings
from shared.connections import STORE_ERRORS, unavailable_reason
from shared.errors import (IdempotencyMismatchError, IntegrityError, PreconditionFailedError, RuleError,
                           StoreUnavailableError)
from shared.events import new_event
from shared.framework import FrameworkRegistry
from shared.keys import WINDOWS_STREAM, Keys, is_unit_stream
from shared.signing import receipt_of
from shared.streams import head_of, idempotency_record, read_events

from .appender import Appender, Retention
from .handlers import Context, Decision

log = logging.getLogger(__name__)

def _jsonable(value):
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(method: str, path: str, body: dict) -> str:
    """What makes two requests 'the same' for an Idempotency-Key: method, path and the parsed body."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    return hashlib.sha256(f"{method} {path}\n{text}".encode("utf-8")).hexdigest()


def _retention(state, now: datetime) -> Retention:
    """Where a write's idempotency record goes and how long it stays: the unit's plan cycle, else the year."""
    plan = getattr(state, "plan", None)
    if plan:
        return Retention.of_cycle(plan["first_fiscal_year"], plan["last_fiscal_year"], now)
    return Retention.of_year(now)


@dataclass(frozen=True)
class Outcome:
    """An accepted write: the HTTP status (201 new, 200 replay) and the answer body."""

    status: int
    body: dict


class SubmissionService:
    """The write side's single entry point for commands."""

    def __init__(self, redis, settings: Settings, *, clock: Callable[[], datetime],
                 frameworks: FrameworkRegistry, nudge: Callable[[str], None] = lambda stream: None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16], keyring=None):
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix, settings.partitions)
        self.appender = Appender(redis, self.keys, wait_replicas=settings.wait_replicas,
                                 wait_timeout_ms=settings.wait_timeout_ms)
        self.clock = clock
        self.frameworks = frameworks
        self.nudge = nudge
        self.new_id = new_id
        self.keyring = keyring if keyring is not None else settings.keyring()
        self.on_append: Callable = lambda event: None
        self.cache_size = 4096
        self._cache: OrderedDict = OrderedDict()
        self._cache_lock = threading.Lock()

    def _replay(self, record: dict, fp: str) -> Outcome:
        if record["fingerprint"] != fp:
            raise IdempotencyMismatchError(
                "this Idempotency-Key was already used with a different request; use a new key for a new request")
        return Outcome(200, record["answer"])

    def load(self, stream: str):
        """A stream's current state, folding only the events since this process last saw it.

        The cached state is never changed in place (handlers read it concurrently); new events are
        folded onto a copy, which then replaces it.
        """
        version, head = head_of(self.redis, self.keys, stream)
        with self._cache_lock:
            cached = self._cache.get(stream)
        if cached is not None and (cached.version, cached.head_hash) == (version, head):
            return cached
        state = None
        if cached is not None and cached.version < version:
            try:
                state = plan_fold.fold_onto(plan_fold.fork(cached), read_events(
                    self.redis, self.keys, stream, first=cached.version + 1))
            except ValueError:
                state = None        # the log does not follow on from what we saw: read it all again
        if state is None:
            state = plan_fold.fold_onto(plan_fold.empty_state(stream), read_events(self.redis, self.keys, stream))
        with self._cache_lock:
            self._cache[stream] = state
            self._cache.move_to_end(stream)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return state

    def execute(self, stream: str, decide: Callable[..., Decision], *, actor: dict, fp: str,
                idempotency_key: str = "", if_match: int | None = None, needs_windows: bool = False,
                meta: dict | None = None) -> Outcome:
        """Decide on the stream's current state and append the event; retries when another writer
        got in first (unless the client pinned a version with If-Match)."""
        try:
            return self._execute(stream, decide, actor, fp, idempotency_key, if_match, needs_windows, meta)
        except STORE_ERRORS as exc:
            reason = unavailable_reason(exc)
            if reason is None and not isinstance(exc, redis_lib.RedisError):
                raise                       # the cluster client refused what it was given: a bug, not an outage
            raise StoreUnavailableError(f"the event store did not confirm this write ({type(exc).__name__}"
                                        f"{': ' + reason if reason else ''}); send it again with the same "
                                        "Idempotency-Key, which records it once whether or not it was written") from exc

    def _execute(self, stream, decide, actor, fp, idempotency_key, if_match, needs_windows, meta) -> Outcome:
        for attempt in range(self.settings.append_retries + 1):
            state = self.load(stream)
            now = self.clock()
            retention = _retention(state, now)
            if idempotency_key and attempt == 0:
                record = idempotency_record(self.redis, self.keys, stream, idempotency_key, retention.fiscal_years)
                if record is not None:
                    replay = self._replay(record, fp)
                    self.appender.confirm_replay(stream)     # the first answer's write on the replicas too
                    return replay
            if if_match is not None and if_match != state.version:
                raise PreconditionFailedError(state.version)
            windows = self.load(WINDOWS_STREAM) if needs_windows else plan_fold.WindowsState()
            ctx = Context(now=now, frameworks=self.frameworks, grace_days=self.settings.lock_grace_days,
                          windows=windows, new_id=self.new_id)
            decision = decide(state, ctx)
            event = new_event(stream=stream, version=state.version + 1, type_=decision.type,
                              payload=decision.payload, actor=actor, recorded_at=now,
                              prev_hash=state.head_hash, meta=meta)
            answer = {"event_id": event.event_id, "unit": stream if is_unit_stream(stream) else None,
                      "stream": stream, "version": event.version, "recorded_at": event.recorded_at,
                      "type": event.type, **decision.answer, "receipt": receipt_of(event, self.keyring)}
            outcome = self.appender.append(
                event, idempotency_key=idempotency_key,
                idempotency_record={"fingerprint": fp, "answer": answer},
                recorded_ms=int(now.timestamp() * 1000), retention=retention)
            if outcome.status == "ok":
                self.on_append(event)
                self.nudge(stream)
                return Outcome(201, answer)
            if outcome.status == "seen":
                return self._replay(outcome.value, fp)
            if outcome.status == "broken":
                log.error("stream %s: head and entries disagree at version %s", stream, outcome.value)
                raise IntegrityError(f"the log of {stream} failed its integrity check; writes to it are "
                                     "stopped until an operator verifies it")
            if if_match is not None:
                raise PreconditionFailedError(outcome.value)
        raise RuleError("busy", f"{stream} changed {self.settings.append_retries + 1} times while this request "
                                "was being decided; send it again")
