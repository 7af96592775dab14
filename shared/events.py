"""The event envelope, its canonical JSON and the hash chain that links a stream's events."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from .errors import UnknownSchemaVersionError
from .fiscal import utc_iso
from .schemas import CURRENT_SCHEMA_VERSION, PAYLOAD_SCHEMAS

GENESIS_HASH = "0" * 64


def canonical(obj) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8 as is. What is hashed and stored."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def chain_hash(prev_hash: str, body: dict) -> str:
    """sha256(prev_hash || canonical JSON of the event without its hashes), hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(body)).hexdigest()


@dataclass(frozen=True)
class Event:
    """One immutable fact in a stream; ``version`` is its 1-based position."""

    stream: str
    version: int
    event_id: str
    type: str
    schema_version: int
    actor: dict
    recorded_at: str
    payload: dict
    prev_hash: str
    hash: str
    meta: dict = field(default_factory=dict)

    def body(self) -> dict:
        """Everything the hash covers: the event less ``prev_hash`` and ``hash``."""
        data = self.to_dict()
        del data["prev_hash"], data["hash"]
        return data

    def to_dict(self) -> dict:
        """The event as stored and served (shallow: payload, actor and meta are the event's own, never changed)."""
        return {name: getattr(self, name) for name in _EVENT_FIELDS}

    def expected_hash(self) -> str:
        """The hash this event should carry, given its ``prev_hash``."""
        return chain_hash(self.prev_hash, self.body())


_EVENT_FIELDS = tuple(f.name for f in fields(Event))


def payload_errors(type_: str, schema_version: int, payload: dict) -> dict:
    """Marshmallow's errors for a payload ({} when valid); UnknownSchemaVersionError for unknown types."""
    schema = _SCHEMA_INSTANCES.get((type_, schema_version))
    if schema is None:
        if (type_, schema_version) not in PAYLOAD_SCHEMAS:
            raise UnknownSchemaVersionError(f"no schema for {type_} v{schema_version}")
        schema = _SCHEMA_INSTANCES.setdefault((type_, schema_version), PAYLOAD_SCHEMAS[type_, schema_version]())
    return schema.validate(payload)


_SCHEMA_INSTANCES: dict = {}     # one instance per schema: building one per event cost more than validating


def new_event(*, stream: str, version: int, type_: str, payload: dict, actor: dict,
              recorded_at: datetime, prev_hash: str, meta: dict | None = None,
              event_id: str | None = None) -> Event:
    """A new event at the current schema version, its payload checked and its hash computed."""
    schema_version = CURRENT_SCHEMA_VERSION.get(type_)
    if schema_version is None:
        raise UnknownSchemaVersionError(f"unknown event type {type_}")
    errors = payload_errors(type_, schema_version, payload)
    if errors:
        raise ValueError(f"{type_} payload does not match its schema: {errors}")
    unhashed = Event(stream=stream, version=version, event_id=event_id or str(uuid.uuid4()),
                     type=type_, schema_version=schema_version, actor=dict(actor),
                     recorded_at=utc_iso(recorded_at), payload=payload, prev_hash=prev_hash,
                     hash="", meta=dict(meta or {}))
    return Event(**{**unhashed.to_dict(), "hash": unhashed.expected_hash()})


# Upcasters: (type, version) -> the payload one version up. Stored events are never rewritten (their
# hashes cover what was written); folds read them through ``upcast``.
UPCASTERS = {
    ("ReminderSent", 1): lambda p: {**p, "channel": "in_app", "rule": None},
    ("ReminderSent", 2): lambda p: {**p, "rule": None},
    ("ReportReviewed", 1): lambda p: {**p, "entries": []},
    ("ReportSubmitted", 1): lambda p: p,        # v2 only allows each entry a ``response``
    ("ReportAmended", 1): lambda p: p,
    ("ReminderRuleSet", 1): lambda p: {**p, "audience": "unit", "above_after_days": None},
}


def upcast(event: Event) -> Event:
    """The event with its payload at the current schema version; UnknownSchemaVersionError when no path leads there."""
    current = CURRENT_SCHEMA_VERSION.get(event.type)
    payload, version = event.payload, event.schema_version
    while version != current:
        step = UPCASTERS.get((event.type, version))
        if step is None:
            raise UnknownSchemaVersionError(f"no way to read {event.type} v{version} as v{current}")
        payload, version = step(payload), version + 1
    return event if version == event.schema_version else replace(event, payload=payload, schema_version=version)


def encode(event: Event) -> bytes:
    """The stream entry's value."""
    return canonical(event.to_dict())


def decode(raw: bytes | str) -> Event:
    """An event from its stream entry; UnknownSchemaVersionError when this code cannot read it."""
    data = json.loads(raw)
    if (data.get("type"), data.get("schema_version")) not in PAYLOAD_SCHEMAS:
        raise UnknownSchemaVersionError(
            f"event {data.get('event_id')} is {data.get('type')} v{data.get('schema_version')}, "
            "which this code cannot read")
    return Event(**data)


@dataclass(frozen=True)
class ChainCheck:
    """The result of walking a stream's hash chain."""

    ok: bool
    events_checked: int
    head_hash: str
    first_bad_version: int | None = None
    reason: str | None = None


def verify_chain(events, stream: str | None = None) -> ChainCheck:
    """Walk events in order: each at the next version, linked to the previous hash, hashing to its own."""
    prev, checked = GENESIS_HASH, 0
    for position, event in enumerate(events, start=1):
        why = None
        if stream is not None and event.stream != stream:
            why = f"event belongs to stream {event.stream}, not {stream}"
        elif event.version != position:
            why = f"entry {position} carries version {event.version}"
        elif event.prev_hash != prev:
            why = "prev_hash does not match the previous event's hash"
        elif event.expected_hash() != event.hash:
            why = "hash does not match the event's content"
        if why:
            return ChainCheck(False, checked, prev, position, why)
        prev, checked = event.hash, checked + 1
    return ChainCheck(True, checked, prev)
