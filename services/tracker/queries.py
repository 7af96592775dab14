"""Read-side queries: a unit's status and audit trail, rollups per supervisor and nationally, exports."""
from __future__ import annotations

import bisect
from datetime import datetime
from decimal import Decimal

from shared import fiscal
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.plan import RegistryState, UnitState, WindowsState, fold_onto, to_dict
from shared.streams import head_of, read_events, verify_stream

from . import disclosure as disclosure_fold
from .projector import (STATES, SUBMITTED_STATES, audit_trail, classify, on_time, tally, traffic_light,
                        unit_status)
from .store import ReadModels

EMPTY_FACTS = {"scheduled_items": 0, "first_submitted_at": None, "submitted_at": None, "amendments": 0,
               "review": None, "complete": None, "missing_items": [], "implementation_rate": None,
               "exception_until": None}
UNIT_FIELDS = ("name_th", "province", "kind")        # from the registry, on every row of a rollup


class Queries:
    """Everything the read API answers, from the read models and an injected ``now``."""

    def __init__(self, models: ReadModels, grace_days: int, frameworks=None, evidence=None):
        self.models = models
        self.grace_days = grace_days
        self.frameworks = frameworks
        self.evidence = evidence          # the evidence store: files are checked by verify and served

    def windows(self) -> WindowsState:
        """The projected reporting windows."""
        return self.models.national(WINDOWS_STREAM)

    def registry(self) -> RegistryState:
        """The projected registry: units, accounts, who oversees whom."""
        return self.models.national(REGISTRY_STREAM)

    def nationals(self) -> tuple[RegistryState, WindowsState]:
        """The registry and the windows, their checkpoints checked in one round trip."""
        registry, windows = self.models.nationals(REGISTRY_STREAM, WINDOWS_STREAM)
        return registry, windows

    def status(self, unit: str, now: datetime, registry: RegistryState | None = None,
               windows: WindowsState | None = None) -> dict:
        """A unit's status at ``now``, with how far the projection trails the log (the registry and windows as
        the caller read them, or read now)."""
        if registry is None or windows is None:
            registry, windows = self.nationals()
        state, log_version, parked = self.models.unit_reads(unit)
        doc = unit_status(state, windows, now, self.grace_days)
        doc.update(log_version=log_version, lag=log_version - state.version, parked=parked,
                   as_of=fiscal.bangkok_iso(now))
        registered = registry.units.get(unit) or {}
        doc.update({field: registered.get(field) for field in UNIT_FIELDS})     # who the unit is, for pages
        return doc

    def events(self, unit: str, *, until_version: int | None = None, until=None) -> list:
        """The unit's events, oldest first, up to a version and/or an instant (inclusive)."""
        if until_version == 0:
            return []
        events = read_events(self.models.redis, self.models.keys, unit, last=until_version)
        if until is not None:
            events = [e for e in events if fiscal.parse_instant(e.recorded_at) <= until]
        return events

    def state_at(self, unit: str, *, as_of=None, version: int | None = None, now=None) -> dict:
        """The same fold the tracker projects, over the prefix of the log up to ``as_of`` or ``version``."""
        events = self.events(unit, until_version=version, until=as_of)
        state = fold_onto(UnitState(unit), events)
        windows = self.windows()
        moment = as_of or (fiscal.parse_instant(events[-1].recorded_at) if events else now) or now
        status = unit_status(state, windows, moment, self.grace_days) if moment else None
        return {"unit": unit, "version": state.version, "head_hash": state.head_hash,
                "as_of": fiscal.bangkok_iso(as_of) if as_of else None, "state": to_dict(state),
                "status": status}

    def head(self, unit: str) -> tuple[int, str]:
        """The unit's log version and head hash (what a public answer's ETag is made from)."""
        return head_of(self.models.redis, self.models.keys, unit)

    def event(self, unit: str, version: int):
        """The unit's event at a version, or None when its log is not that long."""
        found = read_events(self.models.redis, self.models.keys, unit, first=version, last=version) if version else []
        return found[0] if found else None

    def disclosure(self, unit: dict, fiscal_year: int, version: int | None = None) -> dict:
        """The year's public documents folded from the unit's log, as of ``version`` (None: the latest)."""
        events = read_events(self.models.redis, self.models.keys, unit["code"], last=version)
        return disclosure_fold.disclosure(events, unit, fiscal_year, self.frameworks, self.windows(),
                                          self.grace_days, version)

    def verify(self, unit: str) -> dict:
        """The hash-chain check of the unit's stream, and of the evidence files its events attached."""
        return verify_stream(self.models.redis, self.models.keys, unit, self.evidence)

    def attached(self, unit: str, sha256: str, *, public_only: bool = False) -> tuple[dict, bytes] | None:
        """The unit's latest attachment of the file with that hash (one public now, when asked) and the file,
        or None when the unit attached no such file or the store has lost it."""
        state = fold_onto(UnitState(unit), read_events(self.models.redis, self.models.keys, unit))
        found = [f for f in state.evidence if f["sha256"] == sha256 and (f["public"] or not public_only)]
        data = self.evidence.get(sha256) if found and self.evidence is not None else None
        return (found[-1], data) if data is not None else None

    def audit(self, unit: str, *, since=None, until=None, types=None, cursor: int = 1, limit: int = 100) -> dict:
        """Audit entries oldest first from position ``cursor``, filtered; ``next_cursor`` when more remain.

        Folded from the log when asked, up to the projected version (what the status shows): each entry needs the
        state just before its event (the old values), and keeping them all would hold every report twice."""
        checkpoint = int(self.models.redis.hget(self.models.keys.read_model(unit), "checkpoint") or 0)
        events = read_events(self.models.redis, self.models.keys, unit, last=checkpoint) if checkpoint else []
        entries, position = [], cursor
        for entry in audit_trail(unit, events, cursor):
            at = fiscal.parse_instant(entry["at"])
            if not ((since and at < since) or (until and at > until) or (types and entry["type"] not in types)):
                entries.append(entry)
            position = entry["position"] + 1
            if len(entries) == limit:
                break
        more = len(entries) == limit and position <= checkpoint
        return {"entries": entries, "next_cursor": str(position) if more else None}

    def current_round(self, now: datetime) -> tuple[int, int]:
        """The latest round whose window has opened by ``now`` (what an overview shows by default)."""
        windows, fy = self.windows(), fiscal.fiscal_year_of(now)
        for candidate in ((fy, 12), (fy, 6), (fy - 1, 12), (fy - 1, 6)):
            if windows.window(*candidate, self.grace_days).opens_at <= now:
                return candidate
        return fy - 2, 12

    def rollup(self, fiscal_year: int, round_: int, now: datetime, units=None,
               registry: RegistryState | None = None, *, cursor: str | None = None,
               limit: int | None = None, groups: dict | None = None) -> dict:
        """Counts per state, reporting and on-time rates, and one row per unit of ``units`` (None: every
        registered unit), each naming the unit, its province and kind (registry); the rows after ``cursor`` (a
        unit code), at most ``limit`` of them, with ``next_cursor`` when more remain.

        Nationally the counts come from the round's sorted sets, a constant number of round trips whatever the
        number of units, and only the page's units' facts are read; for the units given (a supervisor's) the counts
        come from all their facts, and with ``groups`` (a name -> units mapping: the parts of a supervisor's subtree)
        the answer has ``groups``, the same figures for each part (in the mapping's order), from the same rows."""
        window = self.windows().window(fiscal_year, round_, self.grace_days)
        registered = (registry or self.registry()).units
        names = sorted(registered if units is None else units)
        start = bisect.bisect_right(names, cursor) if cursor else 0
        end = None if limit is None else start + limit
        if units is None:
            head = tally(len(names), self.models.round_tallies(fiscal_year, round_, window.due_at, now, registered),
                         window, now)
            head = {**head, **rates(head, len(names))}
            rows = list(self._rows(names[start:end], fiscal_year, round_, window, now, registered))
        else:
            rows = list(self._rows(names, fiscal_year, round_, window, now, registered))
            head = figures(rows)
            if groups is not None:
                by_unit = {row["unit"]: row for row in rows}
                parts = [figures([by_unit[u] for u in sorted(members) if u in by_unit]) for members in groups.values()]
            rows = rows[start:end]
        expected = len(names)
        more = bool(limit) and start + limit < expected          # limit 0: the figures alone
        answer = {"fiscal_year": fiscal_year, "round": round_, "as_of": fiscal.bangkok_iso(now),
                  "opens_at": fiscal.bangkok_iso(window.opens_at), "due_at": fiscal.bangkok_iso(window.due_at),
                  "locks_at": fiscal.bangkok_iso(window.locks_at), **head, "expected": expected, "rows": rows,
                  "next_cursor": names[start + limit - 1] if more else None}
        if groups is not None and units is not None:
            answer["groups"] = parts
        return answer

    def _rows(self, names: list[str], fiscal_year: int, round_: int, window, now: datetime, registered,
              chunk: int = 2000):
        """The rows of ``names``, their facts read ``chunk`` units at a time (one pipelined round trip each)."""
        empty = {**EMPTY_FACTS, "fiscal_year": fiscal_year, "round": round_}
        for first in range(0, len(names), chunk):
            part = names[first:first + chunk]
            facts = self.models.round_facts(fiscal_year, round_, part)
            for unit in part:
                f = facts.get(unit, empty)
                about = registered.get(unit) or {}
                timely = on_time(f, window)
                yield {"unit": unit, **{k: about.get(k) for k in UNIT_FIELDS}, "state": classify(f, window, now),
                       "has_plan": unit in facts, "on_time": timely, **{k: f[k] for k in EMPTY_FACTS},
                       "traffic_light": traffic_light(round_, f["implementation_rate"])}


def rates(head: dict, expected: int) -> dict:
    """The reporting and on-time rates of figures, to four decimals (None when no unit is expected)."""
    def rate(n):
        return float((Decimal(n) / expected).quantize(Decimal("0.0001"))) if expected else None
    return {"reporting_rate": rate(head["submitted"]), "on_time_rate": rate(head["on_time"])}


def figures(rows: list[dict]) -> dict:
    """Counts per state, submitted, on time, expected and the rates, of the rows given."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row["state"]] += 1
    head = {"counts": counts, "submitted": sum(r["state"] in SUBMITTED_STATES for r in rows),
            "on_time": sum(r["on_time"] for r in rows), "expected": len(rows)}
    return {**head, **rates(head, len(rows))}


EXPORT_COLUMNS = [
    ("unit", "รหัสหน่วยงาน"), ("name_th", "ชื่อหน่วยงาน"), ("province", "จังหวัด"),
    ("state", "สถานะการรายงาน"), ("has_plan", "มีแผน"),
    ("first_submitted_at", "ส่งรายงานครั้งแรก"), ("submitted_at", "ส่งรายงานล่าสุด"), ("on_time", "ส่งตรงเวลา"),
    ("amendments", "จำนวนครั้งที่แก้ไข"), ("review", "ผลการตรวจสอบ"), ("complete", "รายงานครบทุกรายการ"),
    ("scheduled_items", "จำนวนรายการตามแผน"), ("implementation_rate", "สัดส่วนที่ดำเนินการแล้วเสร็จ"),
    ("traffic_light", "สัญญาณ"), ("exception_until", "ขยายเวลาถึง"),
]


def export_rows(rollup: dict) -> tuple[list[str], list[list]]:
    """Header (Thai, with the field name) and one row per unit, for CSV and XLSX alike."""
    header = [f"{th} ({key})" for key, th in EXPORT_COLUMNS]
    rows = [[row[key] if not isinstance(row[key], bool) else ("ใช่" if row[key] else "ไม่") for key, _ in
             EXPORT_COLUMNS] for row in rollup["rows"]]
    return header, rows
