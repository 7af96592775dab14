"""The read API of the tracker: status, audit trail, overviews, compliance, exports, projection lag."""
from __future__ import annotations

import csv
import io
import json
import tempfile

from flask import Response, current_app, g, request
from marshmallow import Schema, fields, validate

from shared import fiscal, reminders
from shared.errors import InvalidError, NccError, NotFoundError
from shared.identity import authorize_read, check_unit_code
from shared.schemas import FiscalYear, Instant, Round
from shared.signing import receipt_of
from shared.web import Blueprint

from . import documents
from .queries import export_rows

bp = Blueprint("tracker", __name__, description="Status, audit trails and rollups projected from the event log")


@bp.before_request
def _identify():
    """Every read needs a signed-in caller; identify before any query string is parsed."""
    g.actor = current_app.extensions["ncc"]["identify"](request.headers)


def _as_it_stands() -> bool:
    """A state read of now (every unit page's), not time travel (which folds the log): outside the limit."""
    return "version" not in request.args and "as_of" not in request.args


def _paged() -> bool:
    """A page of a rollup (``limit`` given: the figures come from counters, and at most 1,000 rows' facts are
    read): outside the limit, which is for the whole-round answers."""
    return "limit" in request.args


# Expensive reads, limited per account (flask-limiter, counters in the store's Redis, shared by every worker): view ->
# (its group, whose limit the group's views share, the setting naming it, when a request is exempt). Past it: 429
# with Retry-After; a unit's status, audit and state as it stands are in no group, so they answer whatever others
# export.
EXPENSIVE = {
    "compliance": ("national", "national_read_limit", _paged),
    "top_supervisors": ("national", "national_read_limit", None),
    "supervisor_overview": ("overview", "overview_read_limit", _paged),
    "export_csv": ("export", "export_limit", None),
    "export_xlsx": ("export", "export_limit", None),
    "unit_events": ("history", "history_read_limit", None),
    "unit_state": ("history", "history_read_limit", _as_it_stands),
    "unit_verify": ("history", "history_read_limit", None),
    "unit_receipt_pdf": ("history", "history_read_limit", None),
    "replay": ("replay", "replay_limit", None),
}


GROUP_NAMES = {"national": "national rollups", "overview": "overview reads", "export": "exports",
               "history": "history reads (events, time travel, verification, receipt PDFs)",
               "replay": "rebuild requests"}


def account_key() -> str:
    """Whose the request is: the signed-in account (the same person from any address), else the client address
    (the request is then refused as unauthenticated anyway)."""
    try:
        return "account:" + current_app.extensions["ncc"]["identify"](request.headers).username
    except NccError:
        return "client:" + (request.remote_addr or "")


def limit_expensive(app, settings) -> None:
    """Wrap each expensive view in its group's per-account limit (once the blueprint is registered)."""
    limiter = app.extensions["ncc"]["limiter"]
    for view, (group, setting, exempt) in EXPENSIVE.items():
        endpoint = f"{bp.name}.{view}"
        limit = getattr(settings, setting)
        app.view_functions[endpoint] = limiter.shared_limit(
            limit, scope=f"account-{group}", key_func=account_key, exempt_when=exempt,
            error_message=f"this account has made more {GROUP_NAMES[group]} than allowed ({limit}); send it again "
                          "after Retry-After seconds")(app.view_functions[endpoint])


def _ctx():
    ext = current_app.extensions["ncc"]
    return ext["queries"], ext["clock"](), g.actor


MAX_POSITION = 2 ** 53      # versions and audit positions: far beyond any log, inside what Redis takes


class AuditQuery(Schema):
    """Filters and paging of the audit trail."""

    since = Instant()
    until = Instant()
    type = fields.String(metadata={"description": "event types, comma-separated"})
    cursor = fields.Integer(validate=validate.Range(1, MAX_POSITION), metadata={"description": "from next_cursor"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class PageQuery(Schema):
    """Which rows of a rollup: after a unit code, at most so many (none given: every row, streamed)."""

    cursor = fields.String(validate=validate.Regexp(r"^\d{7}$"),
                           metadata={"description": "the next_cursor of the previous page (a unit code)"})
    limit = fields.Integer(validate=validate.Range(0, 1000),
                           metadata={"description": "rows per page (0: counts and rates only); none: every row"})


class RoundQuery(PageQuery):
    """Which round (by default the latest one whose window has opened), and which rows."""

    fiscal_year = FiscalYear(strict=False)
    round = Round(strict=False)


class StatusAnswer(Schema):
    """A unit's status (plan summary and one line per fiscal year and round)."""

    class Meta:
        unknown = "include"

    unit = fields.String()
    version = fields.Integer()
    log_version = fields.Integer()
    lag = fields.Integer()
    plan = fields.Dict(allow_none=True)
    rounds = fields.List(fields.Dict())
    parked = fields.Dict(allow_none=True)
    as_of = fields.String()
    name_th = fields.String(allow_none=True, metadata={"description": "the unit's Thai name (registry)"})
    province = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)


class AuditAnswer(Schema):
    """A page of the audit trail."""

    entries = fields.List(fields.Dict())
    next_cursor = fields.String(allow_none=True)


class RollupAnswer(Schema):
    """Counts per state, rates and one row per unit."""

    fiscal_year = fields.Integer()
    round = fields.Integer()
    as_of = fields.String()
    opens_at = fields.String()
    due_at = fields.String()
    locks_at = fields.String()
    expected = fields.Integer()
    submitted = fields.Integer()
    on_time = fields.Integer()
    reporting_rate = fields.Float(allow_none=True)
    on_time_rate = fields.Float(allow_none=True)
    counts = fields.Dict()
    rows = fields.List(fields.Dict())
    next_cursor = fields.String(allow_none=True, metadata={"description": "where the next page starts (limit given)"})
    supervisor = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "the supervisor's name (overview)"})
    parent = fields.String(allow_none=True, metadata={"description": "the supervisor above (null: under NACC)"})
    above = fields.List(fields.String(), metadata={"description": "every supervisor above, nearest first"})
    own = fields.Dict(metadata={"description": "the figures of the units assigned to the supervisor itself"})
    children = fields.List(fields.Dict(), metadata={
        "description": "per supervisor directly under this one: the figures of its whole subtree"})
    escalated = fields.List(fields.Dict(), metadata={
        "description": "the round's units in the supervisor's escalation digest today: unit, level (1: assigned to "
                       "it, 2: to a supervisor under it), since, rule, name_th, state"})


def _unit_scope(code: str, action: str):
    queries, now, actor = _ctx()
    check_unit_code(code)
    registry, windows = queries.nationals()           # both checked in one round trip; the status uses both
    g.registry, g.windows = registry, windows
    if code not in registry.units:
        raise NotFoundError(f"no unit {code} is registered")
    supervised = registry.scope_of(actor.username) if actor.role == "supervisor" else None
    authorize_read(actor, action, unit=code, supervised=supervised)
    return queries, now


@bp.route("/units/<code>/status", methods=["GET"])
@bp.response(200, StatusAnswer)
@bp.doc(summary="The unit's status now: plan summary and every round's state")
def unit_status(code):
    queries, now = _unit_scope(code, "unit_status")
    return queries.status(code, now, g.registry, g.windows)


@bp.route("/units/<code>/audit", methods=["GET"])
@bp.arguments(AuditQuery, location="query", as_kwargs=True)
@bp.response(200, AuditAnswer)
@bp.doc(summary="The unit's audit trail, oldest first, with who, when, what changed (old -> new)")
def unit_audit(code, since=None, until=None, type=None, cursor=None, limit=100):  # noqa: A002
    queries, _now = _unit_scope(code, "unit_audit")
    types = {t.strip() for t in type.split(",") if t.strip()} if type else None
    return queries.audit(code, since=since, until=until, types=types, cursor=cursor or 1, limit=limit)


class EventsQuery(Schema):
    """Where the raw history stops (inclusive)."""

    until_version = fields.Integer(validate=validate.Range(0, MAX_POSITION))
    until = Instant()


class StateQuery(Schema):
    """The moment to show: an instant, or a version (not both)."""

    as_of = Instant()
    version = fields.Integer(validate=validate.Range(0, MAX_POSITION))


class VerifyAnswer(Schema):
    """The result of walking the hash chain."""

    ok = fields.Boolean()
    events_checked = fields.Integer()
    head_hash = fields.String()
    first_bad_version = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    unit = fields.String()


class EventAnswer(Schema):
    """One event exactly as stored: envelope, payload, and its place in the hash chain."""

    stream = fields.String()
    version = fields.Integer()
    event_id = fields.String()
    type = fields.String()
    schema_version = fields.Integer()
    actor = fields.Dict()
    recorded_at = fields.String()
    payload = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()
    meta = fields.Dict()


class EventsAnswer(Schema):
    unit = fields.String()
    count = fields.Integer()
    events = fields.List(fields.Nested(EventAnswer))


class StateAnswer(Schema):
    """The fold of the log's prefix, and the status it gave at that moment (the shape /status answers)."""

    unit = fields.String()
    version = fields.Integer()
    head_hash = fields.String()
    as_of = fields.String(allow_none=True)
    state = fields.Dict()
    status = fields.Dict(allow_none=True)


@bp.route("/units/<code>/events", methods=["GET"])
@bp.arguments(EventsQuery, location="query", as_kwargs=True)
@bp.response(200, EventsAnswer)
@bp.doc(summary="The unit's raw events with envelope, prev_hash and hash, oldest first")
def unit_events(code, until_version=None, until=None):
    queries, _now = _unit_scope(code, "unit_events")
    events = queries.events(code, until_version=until_version, until=until)
    return {"unit": code, "count": len(events), "events": [e.to_dict() for e in events]}


@bp.route("/units/<code>/state", methods=["GET"])
@bp.arguments(StateQuery, location="query", as_kwargs=True)
@bp.response(200, StateAnswer)
@bp.doc(summary="The plan and reports exactly as they stood at an instant or a version")
def unit_state(code, as_of=None, version=None):
    queries, now = _unit_scope(code, "unit_state")
    if as_of is not None and version is not None:
        raise InvalidError("give as_of or version, not both")
    return queries.state_at(code, as_of=as_of if version is None else None, version=version,
                            now=now if as_of is None and version is None else None)


@bp.route("/units/<code>/verify", methods=["GET"])
@bp.response(200, VerifyAnswer)
@bp.doc(summary="Walk the unit's hash chain; name the first bad version and why")
def unit_verify(code):
    queries, _now = _unit_scope(code, "unit_verify")
    return {**queries.verify(code), "unit": code}


class ReceiptAnswer(Schema):
    """The signed receipt of one event of the unit's log (the same one its write was answered with)."""

    unit = fields.String(allow_none=True)
    stream = fields.String()
    version = fields.Integer()
    event_id = fields.String()
    type = fields.String()
    hash = fields.String()
    recorded_at = fields.String()
    key_id = fields.String()
    signature = fields.String()


def _receipt(code: str, version: int) -> dict:
    queries, _now = _unit_scope(code, "unit_receipt")
    event = queries.event(code, version) if version <= MAX_POSITION else None
    if event is None:
        raise NotFoundError(f"the log of unit {code} has no version {version}")
    return receipt_of(event, current_app.extensions["ncc"]["keyring"])


@bp.route("/units/<code>/receipts/<int:version>", methods=["GET"])
@bp.response(200, ReceiptAnswer)
@bp.doc(summary="The signed receipt of the unit's event at a version (Ed25519; check it with /public/keys)")
def unit_receipt(code, version):
    return _receipt(code, version)


@bp.route("/units/<code>/receipts/<int:version>.pdf", methods=["GET"])
@bp.doc(summary="The same receipt as a one-page signed PDF (PAdES) with its verification QR code",
        responses={"200": {"description": "PDF", "content": {"application/pdf": {}}}})
def unit_receipt_pdf(code, version):
    from .public_api import signed_pdf, verify_url
    receipt = _receipt(code, version)
    settings = current_app.extensions["ncc"]["settings"]
    unit = g.registry.units.get(code) or {}
    keys_url = f"{settings.public_url}/public/keys"
    pdf = signed_pdf(lambda fonts: documents.receipt_pdf(receipt, unit, verify_url(code, receipt), keys_url, fonts),
                     f"receipt {code} v{version}")
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="receipt-{code}-v{version}.pdf"'})


@bp.route("/units/<code>/evidence/<sha256>", methods=["GET"])
@bp.doc(summary="An evidence file the unit attached, public or not",
        responses={"200": {"description": "the file", "content": {"application/octet-stream": {}}}})
def unit_evidence(code, sha256):
    from .public_api import SHA256, evidence_response
    queries, _now = _unit_scope(code, "unit_evidence")
    if not SHA256.fullmatch(sha256):
        raise NotFoundError(f"no evidence file {sha256[:70]!r}: files are named by their SHA-256")
    return evidence_response(queries.attached(code, sha256), sha256)


class ReplayRequest(Schema):
    """POST /replay: one unit, or (no unit) every stream."""

    unit = fields.String(validate=validate.Regexp(r"^\d{7}$"))


class JobQueued(Schema):
    """A rebuild job just queued: follow it at /jobs/{job_id}."""

    job_id = fields.String()
    status = fields.String()


class JobAnswer(JobQueued):
    """A rebuild job as RQ knows it."""

    progress = fields.Dict(allow_none=True)
    requested_by = fields.String(allow_none=True)
    result = fields.Dict(allow_none=True)
    enqueued_at = fields.String(allow_none=True)
    ended_at = fields.String(allow_none=True)


class LagAnswer(Schema):
    streams_behind = fields.Integer()
    events_behind = fields.Integer()
    oldest_unprojected_ms = fields.Integer(allow_none=True)
    oldest_unprojected_age_seconds = fields.Float(allow_none=True)
    parked_streams = fields.Integer()


REBUILD_JOB = "services.tracker.jobs.rebuild"


@bp.route("/replay", methods=["POST"])
@bp.arguments(ReplayRequest)
@bp.response(202, JobQueued)
@bp.doc(summary="Rebuild read models from the log (one unit, or all); follow it at /jobs/{job_id}")
def replay(body):
    queries, _now, actor = _ctx()
    authorize_read(actor, "replay")
    if "unit" in body and body["unit"] not in queries.registry().units:
        raise NotFoundError(f"no unit {body['unit']} is registered")
    job = current_app.extensions["ncc"]["queue"].enqueue(REBUILD_JOB, body.get("unit"), job_timeout=4 * 3600,
                                                          result_ttl=7 * 86400, failure_ttl=7 * 86400,
                                                          meta={"requested_by": actor.username})
    return {"job_id": job.id, "status": "queued"}


@bp.route("/jobs/<job_id>", methods=["GET"])
@bp.response(200, JobAnswer)
@bp.doc(summary="A rebuild job: status, progress, result")
def job_status(job_id):
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    _queries, _now, actor = _ctx()
    authorize_read(actor, "replay")
    queue = current_app.extensions["ncc"]["queue"]
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except (NoSuchJobError, ValueError):          # ValueError: not even a well-formed job id
        raise NotFoundError(f"no job {job_id!r}") from None
    if job.func_name != REBUILD_JOB:
        raise NotFoundError(f"no job {job_id!r}")
    status = job.get_status()
    return {"job_id": job.id, "status": str(getattr(status, "value", status)), "progress": job.meta.get("progress"),
            "requested_by": job.meta.get("requested_by"),
            "result": job.return_value() if str(getattr(status, "value", status)) == "finished" else None,
            "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
            "ended_at": job.ended_at.isoformat() if job.ended_at else None}


def _round(queries, now, args):
    if ("fiscal_year" in args) != ("round" in args):
        raise InvalidError("give both fiscal_year and round, or neither (the current round)")
    return (args["fiscal_year"], args["round"]) if "fiscal_year" in args else queries.current_round(now)


def _streamed(doc: dict) -> Response:
    """A rollup with every row as JSON, its text streamed as it is encoded (at national size it is megabytes).
    The rows are all read before the answer starts, so a store that fails meanwhile is a 503, never a cut-short
    200."""
    rows = doc.pop("rows")

    def body():
        yield _json(doc)[:-1] + ',"rows":['
        chunk = []
        for n, row in enumerate(rows):
            chunk.append(("," if n else "") + _json(row))
            if len(chunk) == 500:
                yield "".join(chunk)
                chunk = []
        yield "".join(chunk) + "]}"

    return Response(body(), mimetype="application/json")


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@bp.route("/supervisors/<username>/overview", methods=["GET"])
@bp.arguments(RoundQuery, location="query")
@bp.response(200, RollupAnswer)
@bp.doc(summary="A supervisor's units for one round: counts per state, rates, one row per unit (paged with limit)")
def supervisor_overview(args, username):
    queries, now, actor = _ctx()
    registry = queries.registry()
    below = registry.below(actor.username) if actor.role == "supervisor" else ()
    authorize_read(actor, "overview", supervisor=username, below=below)
    if registry.units_of(username) is None and not registry.is_supervisor(username):
        raise NotFoundError(f"no supervisor {username!r}")
    fy, round_ = _round(queries, now, args)
    # the parts of the subtree: the units assigned to the supervisor itself, then each supervisor under it with its
    # own subtree; with each unit in one place, the figures of the parts add up to the whole
    doc = _tree_figures(queries, registry, fy, round_, now, registry.children_of(username),
                        registry.units_of(username), cursor=args.get("cursor"), limit=args.get("limit"))
    return {**doc, "supervisor": username, "name": (registry.accounts.get(username) or {}).get("name"),
            "parent": registry.parents.get(username), "above": registry.above(username),
            "escalated": escalated_to(queries, registry, username, fy, round_, now)}


PENDING = {"not_submitted": frozenset(("not_open", "open", "overdue", "locked")), "returned": frozenset(("returned",))}


def escalated_to(queries, registry, supervisor: str, fiscal_year: int, round_: int, now) -> list[dict]:
    """The units of the round in the supervisor's digest today (shared/reminders.py ``escalations``): those assigned
    to it (level 1) and to the supervisors directly under it (level 2) that an escalation rule in force targets."""
    rules = [(rule, window) for rule, window in reminders.escalating(queries.windows(), now, queries.grace_days)
             if (rule.fiscal_year, rule.round) == (fiscal_year, round_)]
    if not rules:
        return []
    candidates = set(registry.units_of(supervisor) or ())
    for child in registry.children_of(supervisor):
        candidates.update(registry.units_of(child) or ())
    rows = {r["unit"]: r for r in queries.rollup(fiscal_year, round_, now, candidates, registry)["rows"]}

    def pending(code, rule):
        return code in rows and rows[code]["state"] in PENDING[rule.target]
    lines = reminders.escalations(rules, registry, now, pending).get(supervisor, [])
    return [{**line, "name_th": rows[line["unit"]].get("name_th"), "state": rows[line["unit"]]["state"]}
            for line in lines]


@bp.route("/rounds/<int:fiscal_year>/<int:round>/supervisors", methods=["GET"])
@bp.response(200, RollupAnswer)
@bp.doc(summary="The supervisory units directly under NACC for one round, each with the figures of its whole "
                "subtree (no unit rows)")
def top_supervisors(fiscal_year, round):  # noqa: A002
    queries, now, actor = _ctx()
    _check_round(fiscal_year, round)
    authorize_read(actor, "compliance")
    registry = queries.registry()
    return _tree_figures(queries, registry, fiscal_year, round, now, registry.children_of(None))


def _tree_figures(queries, registry, fiscal_year, round_, now, children, own=None, **page) -> dict:
    """A rollup of the units in ``children``'s subtrees (and ``own``: the units assigned to the supervisor whose
    tree it is), with ``own`` and ``children`` figures computed from the same rows."""
    groups = {"": own or [], **{c: registry.scope_of(c) for c in children}}
    units = set(groups[""]).union(*groups.values())
    doc = queries.rollup(fiscal_year, round_, now, units, registry, groups=groups, **page)
    own_figures, *parts = doc.pop("groups")
    if not page:
        doc["rows"] = []
    return {**doc, "own": own_figures,
            "children": [{**part, "supervisor": c, "name": (registry.accounts.get(c) or {}).get("name")}
                         for part, c in zip(parts, children)]}


def _check_round(fiscal_year, round_):
    if round_ not in fiscal.ROUNDS or not fiscal.MIN_FISCAL_YEAR <= fiscal_year <= fiscal.MAX_FISCAL_YEAR:
        raise NotFoundError(f"no round {fiscal_year}/{round_}: fiscal years are BE (e.g. 2564), rounds 6 and 12")


@bp.route("/rounds/<int:fiscal_year>/<int:round>/compliance", methods=["GET"])
@bp.arguments(PageQuery, location="query")
@bp.response(200, RollupAnswer)
@bp.doc(summary="Every unit for one round: counts per state, reporting and on-time rates, one row per unit "
                "(every row streamed, or a page with limit and cursor)")
def compliance(args, fiscal_year, round):  # noqa: A002
    queries, now, actor = _ctx()
    _check_round(fiscal_year, round)
    authorize_read(actor, "compliance")
    doc = queries.rollup(fiscal_year, round, now, None, queries.registry(), cursor=args.get("cursor"),
                         limit=args.get("limit"))
    return doc if "limit" in args else _streamed(doc)


def _export(fiscal_year, round_):
    queries, now, actor = _ctx()
    _check_round(fiscal_year, round_)
    authorize_read(actor, "export")
    registry = queries.registry()
    units = registry.scope_of(actor.username) if actor.role == "supervisor" else None
    return export_rows(queries.rollup(fiscal_year, round_, now, units, registry)), f"compliance-{fiscal_year}-{round_}"


FORMULA_START = frozenset("=+-@\t\r")     # what a spreadsheet would read as the start of a formula


def as_text(row: list) -> list:
    """A row for a CSV that a spreadsheet opens: text that would start a formula gets a leading apostrophe."""
    return [("'" + v) if v.__class__ is str and v[:1] in FORMULA_START else v for v in row]


@bp.route("/rounds/<int:fiscal_year>/<int:round>/export.csv", methods=["GET"])
@bp.doc(summary="One row per unit, CSV (UTF-8 with BOM, opens in Excel with Thai intact), streamed",
        responses={"200": {"description": "CSV", "content": {"text/csv": {}}}})
def export_csv(fiscal_year, round):  # noqa: A002
    # every row is read here, before the answer starts (a failing store is a 503); only the text streams
    (header, rows), name = _export(fiscal_year, round)

    def body():
        out = io.StringIO()
        writer = csv.writer(out)
        out.write("\ufeff")
        writer.writerow(header)
        for n, row in enumerate(rows, start=1):
            writer.writerow(as_text(row))
            if n % 500 == 0:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        yield out.getvalue()

    return Response(body(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/rounds/<int:fiscal_year>/<int:round>/export.xlsx", methods=["GET"])
@bp.doc(summary="One row per unit, a real spreadsheet with Thai headers",
        responses={"200": {"description": "XLSX", "content": {XLSX: {}}}})
def export_xlsx(fiscal_year, round):  # noqa: A002
    (header, rows), name = _export(fiscal_year, round)
    return Response(_workbook(header, rows, f"FY{fiscal_year} R{round}"), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


def _workbook(header: list[str], rows, title: str):
    """The workbook written row by row (XlsxWriter's constant-memory mode flushes each row to a temporary
    file), before the answer starts, so a store that fails meanwhile still gets its 503; then sent from that
    file in chunks. Text is written as text, never as a formula, a number or a link."""
    import xlsxwriter

    with tempfile.TemporaryDirectory(prefix="ncc-export-") as tmp:
        path = f"{tmp}/export.xlsx"
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": tmp, "strings_to_formulas": False,
                                          "strings_to_numbers": False, "strings_to_urls": False})
        sheet = book.add_worksheet(title)
        sheet.freeze_panes(1, 0)
        for column, text in enumerate(header):
            sheet.set_column(column, column, max(12, min(40, len(text))))
        sheet.write_row(0, 0, header, book.add_format({"bold": True}))
        text, number = sheet.write_string, sheet.write_number
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    text(r, c, value)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    number(r, c, value)
        book.close()
        f = open(path, "rb")                    # noqa: SIM115 - closed by the generator below
    return _chunks(f)


def _chunks(f, size: int = 256 * 1024):
    with f:
        while chunk := f.read(size):
            yield chunk


@bp.route("/lag", methods=["GET"])
@bp.response(200, LagAnswer)
@bp.doc(summary="Projection lag: streams and events not yet projected, oldest waiting, parked streams")
def lag():
    queries, now, actor = _ctx()
    authorize_read(actor, "lag")
    doc = queries.models.lag()
    oldest = doc["oldest_unprojected_ms"]
    doc["oldest_unprojected_age_seconds"] = (
        None if oldest is None else max(0.0, round(now.timestamp() - oldest / 1000, 3)))
    return doc
