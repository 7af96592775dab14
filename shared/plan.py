"""Pure folds of a stream's events: a unit's plan and reports, and the national reporting windows."""
from __future__ import annotations

import pickle
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from immutables import Map

from . import fiscal
from .events import GENESIS_HASH, Event, upcast


@dataclass
class Item:
    """A plan item as it stands after the events folded so far."""

    item_id: str
    details: dict                 # ItemDetailsSchema fields, JSON-native
    budgets: dict                 # "2564" -> "50000.00"
    added_version: int
    removed: bool = False
    removed_version: int | None = None

    def scheduled_in(self, fiscal_year: int) -> bool:
        """Whether the item runs in a fiscal year."""
        return fiscal_year in self.details["fiscal_years"]


@dataclass
class Report:
    """A round's report: the latest version of its entries, and its history in counts."""

    fiscal_year: int
    round: int
    entries: list
    note: str | None
    first_version: int
    first_submitted_at: str
    late: bool
    under_exception: bool
    version: int                  # stream version of the latest submission or amendment
    submitted_at: str             # recorded_at of that latest one
    amendments: int = 0
    review: dict | None = None    # latest review of ``version``, if any


@dataclass
class UnitState:
    """Everything known about a unit after folding its stream up to ``version``."""

    stream: str
    version: int = 0
    head_hash: str = GENESIS_HASH
    plan: dict | None = None      # {"title", "first_fiscal_year", "last_fiscal_year", "framework"}
    items: dict = field(default_factory=dict)       # item_id -> Item, in order added
    reports: dict = field(default_factory=dict)     # (fiscal_year, round) -> Report
    exceptions: dict = field(default_factory=dict)  # (fiscal_year, round) -> list of payload + at/by
    reminders: list = field(default_factory=list)
    evidence: list = field(default_factory=list)     # EvidenceAttached payloads + version, recorded_at

    def active_items(self, fiscal_year: int | None = None) -> list[Item]:
        """Items not removed, optionally only those scheduled in a fiscal year."""
        return [i for i in self.items.values()
                if not i.removed and (fiscal_year is None or i.scheduled_in(fiscal_year))]

    def exception_open(self, fiscal_year: int, round_: int, now: datetime) -> dict | None:
        """The exception for the round that is still open at ``now``, latest expiry first."""
        open_ = [e for e in self.exceptions.get((fiscal_year, round_), [])
                 if fiscal.parse_instant(e["until"]) >= now]
        return max(open_, key=lambda e: fiscal.parse_instant(e["until"])) if open_ else None


_APPLY = {}


def _on(type_):
    def register(fn):
        _APPLY[type_] = fn
        return fn
    return register


@_on("PlanDeclared")
@_on("PlanPeriodChanged")
def _plan(state: UnitState, e: Event) -> None:
    p = e.payload
    state.plan = {k: p[k] for k in ("title", "first_fiscal_year", "last_fiscal_year", "framework")}


@_on("ItemAdded")
def _item_added(state: UnitState, e: Event) -> None:
    p = dict(e.payload)
    item_id, budgets = p.pop("item_id"), p.pop("budgets")
    state.items[item_id] = Item(item_id, p, dict(budgets), e.version)


@_on("ItemEdited")
def _item_edited(state: UnitState, e: Event) -> None:
    item = state.items[e.payload["item_id"]]
    changes = e.payload["changes"]
    item.details.update(changes)
    if "fiscal_years" in changes:
        years = {str(y) for y in changes["fiscal_years"]}
        item.budgets = {y: item.budgets.get(y, "0.00") for y in sorted(years)}


@_on("ItemBudgetChanged")
def _budget(state: UnitState, e: Event) -> None:
    state.items[e.payload["item_id"]].budgets[str(e.payload["fiscal_year"])] = e.payload["amount"]


@_on("ItemRemoved")
def _removed(state: UnitState, e: Event) -> None:
    item = state.items[e.payload["item_id"]]
    item.removed, item.removed_version = True, e.version


@_on("ReportSubmitted")
@_on("ReportAmended")
def _report(state: UnitState, e: Event) -> None:
    p = e.payload
    key = (p["fiscal_year"], p["round"])
    previous = state.reports.get(key)
    if previous is None:
        state.reports[key] = Report(p["fiscal_year"], p["round"], p["entries"], p.get("note"), e.version,
                                    e.recorded_at, p["late"], p["under_exception"], e.version, e.recorded_at)
    else:
        previous.entries, previous.note = p["entries"], p.get("note")
        previous.version, previous.submitted_at = e.version, e.recorded_at
        previous.amendments = p.get("amendment", previous.amendments + 1)
        previous.review = None


@_on("ReportReviewed")
def _reviewed(state: UnitState, e: Event) -> None:
    p = e.payload
    state.reports[(p["fiscal_year"], p["round"])].review = {
        "decision": p["decision"], "comment": p.get("comment"), "report_version": p["report_version"],
        "entries": p.get("entries") or [], "at": e.recorded_at, "by": e.actor, "version": e.version}


@_on("ReminderSent")
def _reminder(state: UnitState, e: Event) -> None:
    state.reminders.append({**e.payload, "at": e.recorded_at, "by": e.actor, "version": e.version})


@_on("EvidenceAttached")
def _evidence(state: UnitState, e: Event) -> None:
    state.evidence.append({**e.payload, "version": e.version, "recorded_at": e.recorded_at})


@_on("EvidencePublicityChanged")
def _evidence_publicity(state: UnitState, e: Event) -> None:
    for i, attached in enumerate(state.evidence):
        if attached["version"] == e.payload["attached_version"]:
            state.evidence[i] = {**attached, "public": e.payload["public"], "publicity_changed_at": e.recorded_at}


@_on("ArchiveSealed")
def _sealed(state: UnitState, e: Event) -> None:
    """The events before it moved to a sealed segment: nothing about the unit changes."""


@_on("ReportingExceptionGranted")
def _exception(state: UnitState, e: Event) -> None:
    p = e.payload
    state.exceptions.setdefault((p["fiscal_year"], p["round"]), []).append(
        {**p, "at": e.recorded_at, "by": e.actor, "version": e.version})


def _check_follows(state, event: Event, stream: str) -> None:
    """Refuse an event that is not the next one of the stream (version and hash link)."""
    if event.version != state.version + 1 or event.prev_hash != state.head_hash:
        raise ValueError(f"event {event.event_id} at version {event.version} does not follow "
                         f"version {state.version} of stream {stream}")


def apply(state: UnitState, event: Event) -> UnitState:
    """Fold one event into a unit's state (in place), checking it follows on; old versions are upcast."""
    _check_follows(state, event, state.stream)
    event = upcast(event)
    handler = _APPLY.get(event.type)
    if handler is None:
        raise ValueError(f"a unit stream cannot hold {event.type} events")
    handler(state, event)
    state.version, state.head_hash = event.version, event.hash
    return state


@dataclass
class WindowsState:
    """The reporting windows NACC has set, by (fiscal_year, round); later sets replace earlier ones."""

    version: int = 0
    head_hash: str = GENESIS_HASH
    windows: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)      # (fiscal_year, round) -> {(scope, rule_id): ReminderRuleSet payload}

    def window(self, fiscal_year: int, round_: int, grace_days: int) -> fiscal.Window:
        """The window in force for a round: NACC's if set, else the default one."""
        p = self.windows.get((fiscal_year, round_))
        if p is None:
            return fiscal.default_window(fiscal_year, round_, grace_days)
        return fiscal.Window(fiscal_year, round_, fiscal.parse_instant(p["opens_at"]),
                             fiscal.parse_instant(p["due_at"]), fiscal.parse_instant(p["locks_at"]), True)


def fold_windows(events, state: WindowsState | None = None) -> WindowsState:
    """The national reporting calendar after ``events`` (folded onto ``state``, or from nothing)."""
    state = state or WindowsState()
    for e in events:
        _check_follows(state, e, "windows")
        if e.type == "ReportingWindowSet":
            state.windows[(e.payload["fiscal_year"], e.payload["round"])] = e.payload
        elif e.type == "ReminderRuleSet":
            p = upcast(e).payload
            state.rules.setdefault((p["fiscal_year"], p["round"]), {})[(p["scope"] or "", p["rule_id"])] = p
        else:
            raise ValueError(f"the windows stream cannot hold {e.type} events")
        state.version, state.head_hash = e.version, e.hash
    return state


def _round_key(key: tuple) -> str:
    return f"{key[0]}:{key[1]}"


def _key_round(text: str) -> tuple:
    fy, round_ = text.split(":")
    return int(fy), int(round_)


def state_to_dict(state: UnitState) -> dict:
    """A unit's state as JSON-native data (the tracker's snapshot); ``state_from_dict`` reads it back."""
    return {
        "stream": state.stream, "version": state.version, "head_hash": state.head_hash, "plan": state.plan,
        "items": [dict(vars(i)) for i in state.items.values()],      # shallow: the snapshot is JSON-encoded
        "reports": {_round_key(k): dict(vars(r)) for k, r in state.reports.items()},   # at once, never changed
        "exceptions": {_round_key(k): v for k, v in state.exceptions.items()},
        "reminders": state.reminders,
        "evidence": state.evidence,
    }


def state_from_dict(data: dict) -> UnitState:
    """The inverse of ``state_to_dict``."""
    return UnitState(
        stream=data["stream"], version=data["version"], head_hash=data["head_hash"], plan=data["plan"],
        items={i["item_id"]: Item(**i) for i in data["items"]},
        reports={_key_round(k): Report(**r) for k, r in data["reports"].items()},
        exceptions={_key_round(k): v for k, v in data["exceptions"].items()},
        reminders=data["reminders"],
        evidence=data.get("evidence", []),        # snapshots from before evidence files have none
    )


def windows_to_dict(state: WindowsState) -> dict:
    """The windows state as JSON-native data."""
    return {"version": state.version, "head_hash": state.head_hash,
            "windows": {_round_key(k): v for k, v in state.windows.items()},
            "rules": {_round_key(k): list(v.values()) for k, v in state.rules.items()}}


def windows_from_dict(data: dict) -> WindowsState:
    """The inverse of ``windows_to_dict``."""
    return WindowsState(data["version"], data["head_hash"],
                        {_key_round(k): v for k, v in data["windows"].items()},
                        {_key_round(k): {(r["scope"] or "", r["rule_id"]): r for r in v}
                         for k, v in data.get("rules", {}).items()})


@dataclass
class RegistryState:
    """The registered units, the accounts, who oversees which units and which supervisor is under which, after the
    registry's events.

    A supervisor's scope is its subtree: the units assigned to it and to every supervisor below it, down the
    ``parents`` tree (NACC region -> province office -> district office -> local administrations). The tree and
    the scopes are derived once per registry version, on first use.

    The four mappings are persistent (``immutables.Map``): folding an event replaces a mapping by a new one
    that shares all but the changed path with the old, so a fork of a national-size registry costs nothing
    and the state readers hold never changes under them. Their values are never changed in place either."""

    version: int = 0
    head_hash: str = GENESIS_HASH
    supervisors: Map = field(default_factory=Map)     # username -> sorted list of unit codes
    units: Map = field(default_factory=Map)           # code -> {"name_th", "kind", "province"}
    accounts: Map = field(default_factory=Map)        # username -> {"role", "name", "demo"}
    parents: Map = field(default_factory=Map)         # supervisor -> the supervisor above it (absent: under NACC)

    def units_of(self, supervisor: str) -> list[str] | None:
        """The units assigned to a supervisor itself (None: none ever were)."""
        return self.supervisors.get(supervisor)

    def _tree(self) -> dict:
        cached = self.__dict__.get("_derived")
        if cached is not None and cached[0] == (self.version, self.head_hash):
            return cached[1]
        children: dict[str, list[str]] = {}
        for supervisor, parent in self.parents.items():
            children.setdefault(parent, []).append(supervisor)
        overseers: dict[str, list[str]] = {}
        for supervisor, units in self.supervisors.items():
            for unit in units:
                overseers.setdefault(unit, []).append(supervisor)
        tree = {"children": {k: sorted(v) for k, v in children.items()}, "overseers": overseers, "scopes": {}}
        self.__dict__["_derived"] = ((self.version, self.head_hash), tree)
        return tree

    def is_supervisor(self, username: str) -> bool:
        """Whether the account exists in the supervisor role."""
        return (self.accounts.get(username) or {}).get("role") == "supervisor"

    def children_of(self, supervisor: str | None) -> list[str]:
        """The supervisors directly under ``supervisor`` (None: those directly under NACC, among every supervisor)."""
        if supervisor is None:
            return sorted(u for u, a in self.accounts.items() if a.get("role") == "supervisor"
                          and u not in self.parents)
        return self._tree()["children"].get(supervisor, [])

    def below(self, supervisor: str) -> list[str]:
        """Every supervisor under ``supervisor``, at any depth (not itself)."""
        out, todo = set(), list(self.children_of(supervisor))
        while todo:
            child = todo.pop()
            if child not in out and child != supervisor:     # a cycle (never written, but a log is data) ends
                out.add(child)
                todo.extend(self.children_of(child))
        return sorted(out)

    def above(self, supervisor: str) -> list[str]:
        """The supervisors over ``supervisor``, nearest first."""
        chain, at = [], self.parents.get(supervisor)
        while at is not None and at not in chain:
            chain.append(at)
            at = self.parents.get(at)
        return chain

    def scope_of(self, supervisor: str) -> frozenset:
        """Every unit in the supervisor's subtree: its own and those of every supervisor below it."""
        scopes = self._tree()["scopes"]
        if supervisor not in scopes:
            units = set(self.supervisors.get(supervisor, ()))
            for child in self.below(supervisor):
                units.update(self.supervisors.get(child, ()))
            scopes[supervisor] = frozenset(units)
        return scopes[supervisor]

    def overseers_of(self, unit: str) -> list[str]:
        """The supervisors the unit is assigned to directly."""
        return self._tree()["overseers"].get(unit, [])


def fold_registry(events, state: RegistryState | None = None) -> RegistryState:
    """The registry after ``events`` (folded onto ``state``, or from nothing)."""
    state = state or RegistryState()
    for e in events:
        _check_follows(state, e, "registry")
        p = e.payload
        if e.type == "UnitRegistered":
            state.units = state.units.set(p["code"], {k: p.get(k) for k in ("name_th", "kind", "province")})
        elif e.type == "AccountCreated":
            state.accounts = state.accounts.set(p["username"], {k: p.get(k) for k in ("role", "name", "demo")})
        elif e.type in ("SupervisorAssigned", "SupervisorUnassigned"):
            units = set(state.supervisors.get(p["supervisor"], []))
            units = units | set(p["units"]) if e.type == "SupervisorAssigned" else units - set(p["units"])
            state.supervisors = state.supervisors.set(p["supervisor"], sorted(units))
        elif e.type == "SupervisorParentSet":
            state.parents = (state.parents.set(p["supervisor"], p["parent"]) if p["parent"] is not None
                             else state.parents.delete(p["supervisor"]) if p["supervisor"] in state.parents
                             else state.parents)
        else:
            raise ValueError(f"the registry stream cannot hold {e.type} events")
        state.version, state.head_hash = e.version, e.hash
    return state


def registry_to_dict(state: RegistryState) -> dict:
    """The registry as JSON-native data."""
    return {"version": state.version, "head_hash": state.head_hash, "supervisors": dict(state.supervisors),
            "units": dict(state.units), "accounts": dict(state.accounts), "parents": dict(state.parents)}


def registry_from_dict(data: dict) -> RegistryState:
    """The inverse of ``registry_to_dict``."""
    return RegistryState(data["version"], data["head_hash"], Map(data["supervisors"]), Map(data["units"]),
                         Map(data["accounts"]), Map(data.get("parents", {})))   # earlier snapshots had no tree


@dataclass
class SecurityState:
    """An account's security stream: only its position (its events are facts, not decisions)."""

    version: int = 0
    head_hash: str = GENESIS_HASH


def fold_security(events, state: SecurityState | None = None) -> SecurityState:
    """A security stream after ``events``."""
    from .schemas import SECURITY_EVENTS
    state = state or SecurityState()
    for e in events:
        _check_follows(state, e, "security")
        if e.type not in SECURITY_EVENTS:
            raise ValueError(f"a security stream cannot hold {e.type} events")
        state.version, state.head_hash = e.version, e.hash
    return state


def empty_state(stream: str):
    """The state of a stream before its first event: a unit's, the windows', the registry's or security's."""
    from .keys import REGISTRY_STREAM, SECURITY_PREFIX, WINDOWS_STREAM
    if stream == WINDOWS_STREAM:
        return WindowsState()
    if stream == REGISTRY_STREAM:
        return RegistryState()
    if stream.startswith(SECURITY_PREFIX):
        return SecurityState()
    return UnitState(stream)


def fold_onto(state, events):
    """Fold events onto any stream's state (in place where it can) and return it."""
    if isinstance(state, WindowsState):
        return fold_windows(events, state)
    if isinstance(state, RegistryState):
        return fold_registry(events, state)
    if isinstance(state, SecurityState):
        return fold_security(events, state)
    for event in events:
        apply(state, event)
    return state


def fork(state):
    """A copy of a folded state that folding may change while others go on reading the original.

    The registry's is a shallow copy (its mappings are persistent, so folding onto the copy leaves the original
    as it was), whatever its size; a unit's or the windows' state is small and copied whole (a pickle round
    trip: over twice as fast as ``copy.deepcopy`` here)."""
    if isinstance(state, RegistryState):
        return replace(state)
    return pickle.loads(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))


def to_dict(state) -> dict:
    """Any stream's state as JSON-native data (the tracker's snapshot)."""
    if isinstance(state, WindowsState):
        return windows_to_dict(state)
    if isinstance(state, RegistryState):
        return registry_to_dict(state)
    if isinstance(state, SecurityState):
        return asdict(state)
    return state_to_dict(state)


def from_dict(stream: str, data: dict | None):
    """The inverse of ``to_dict``; the empty state for None."""
    if data is None:
        return empty_state(stream)
    state = empty_state(stream)
    if isinstance(state, WindowsState):
        return windows_from_dict(data)
    if isinstance(state, RegistryState):
        return registry_from_dict(data)
    if isinstance(state, SecurityState):
        return SecurityState(**data)
    return state_from_dict(data)
