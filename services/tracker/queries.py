"""Read-side queries: a unit's status and audit trail, rollups per supervisor and nationally, exports."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared import fiscal
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.plan import RegistryState, UnitState, WindowsState, fold_onto, to_dict
from shared.streams import read_events, verify_stream

from .projector import STATES, SUBMITTED_STATES, classify, on_time, traffic_light, unit_status
from .store import ReadModels

EMPTY_FACTS = {"scheduled_items": 0, "first_submitted_at": None, "submitted_at": None, "amendments": 0,
               "review": None, "complete": None, "missing_items": [], "implementation_rate": None,
               "exception_until": None}
UNIT_FIELDS = ("name_th", "province", "kind")        # from the registry, on every row of a rollup


class Queries:
    """Everything the read API answers, from the read models and an injected ``now``."""

    def __init__(self, models: ReadModels, grace_days: int):
        self.models = models
        self.grace_days = grace_days

    def windows(self) -> WindowsState:
        """The projected reporting windows."""
        return self.models.national(WINDOWS_STREAM)

    def registry(self) -> RegistryState:
        """The projected registry: units, accounts, who oversees whom."""
        return self.models.national(REGISTRY_STREAM)

    def status(self, unit: str, now: datetime) -> dict:
        """A unit's status at ``now``, with how far the projection trails the log."""
        state = self.models.unit_state(unit)
        doc = unit_status(state, self.windows(), now, self.grace_days)
        log_version = self.models.redis.xlen(self.models.keys.events(unit))
        doc.update(log_version=log_version, lag=log_version - state.version, parked=self.models.parked(unit),
                   as_of=fiscal.bangkok_iso(now))
        registered = self.registry().units.get(unit) or {}
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

    def verify(self, unit: str) -> dict:
        """The hash-chain check of the unit's stream."""
        return verify_stream(self.models.redis, self.models.keys, unit)

    def audit(self, unit: str, *, since=None, until=None, types=None, cursor: int = 1, limit: int = 100) -> dict:
        """Audit entries oldest first from position ``cursor``, filtered; ``next_cursor`` when more remain."""
        entries, position, chunk = [], cursor, max(limit, 200)
        while len(entries) < limit:
            batch = self.models.audit(unit, position, chunk)
            if not batch:
                return {"entries": entries, "next_cursor": None}
            for entry in batch:
                position = entry["position"] + 1
                at = fiscal.parse_instant(entry["at"])
                if (since and at < since) or (until and at > until) or (types and entry["type"] not in types):
                    continue
                entries.append(entry)
                if len(entries) == limit:
                    break
        more = bool(self.models.audit(unit, position, 1))
        return {"entries": entries, "next_cursor": str(position) if more else None}

    def current_round(self, now: datetime) -> tuple[int, int]:
        """The latest round whose window has opened by ``now`` (what an overview shows by default)."""
        windows, fy = self.windows(), fiscal.fiscal_year_of(now)
        for candidate in ((fy, 12), (fy, 6), (fy - 1, 12), (fy - 1, 6)):
            if windows.window(*candidate, self.grace_days).opens_at <= now:
                return candidate
        return fy - 2, 12

    def rollup(self, fiscal_year: int, round_: int, now: datetime, units=None,
               registry: RegistryState | None = None) -> dict:
        """Counts per state, reporting and on-time rates, one row per unit of ``units`` (None: every unit
        with a plan covering the fiscal year); each row names the unit, its province and kind (registry)."""
        window = self.windows().window(fiscal_year, round_, self.grace_days)
        registered = (registry or self.registry()).units
        facts = self.models.round_facts(fiscal_year, round_, units)
        names = sorted(units) if units is not None else sorted(facts)
        counts = dict.fromkeys(STATES, 0)
        rows, submitted, timely = [], 0, 0
        for unit in names:
            f = facts.get(unit, {**EMPTY_FACTS, "fiscal_year": fiscal_year, "round": round_})
            state = classify(f, window, now)
            counts[state] += 1
            submitted += state in SUBMITTED_STATES
            timely += on_time(f, window)
            about = registered.get(unit) or {}
            rows.append({"unit": unit, **{k: about.get(k) for k in UNIT_FIELDS}, "state": state,
                         "has_plan": unit in facts, "on_time": on_time(f, window),
                         **{k: f[k] for k in EMPTY_FACTS},
                         "traffic_light": traffic_light(round_, f["implementation_rate"])})
        expected = len(names)

        def rate(n):
            return float((Decimal(n) / expected).quantize(Decimal("0.0001"))) if expected else None

        return {"fiscal_year": fiscal_year, "round": round_, "as_of": fiscal.bangkok_iso(now),
                "opens_at": fiscal.bangkok_iso(window.opens_at), "due_at": fiscal.bangkok_iso(window.due_at),
                "locks_at": fiscal.bangkok_iso(window.locks_at), "expected": expected, "submitted": submitted,
                "on_time": timely, "reporting_rate": rate(submitted), "on_time_rate": rate(timely),
                "counts": counts, "rows": rows}


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
