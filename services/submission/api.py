"""The write API of ../shared/API.md: thin views that parse, authorise and call one handler."""
from __future__ import annotations

import functools
import re
import unicodedata

from flask import current_app, g, request
from werkzeug.exceptions import BadRequest

from shared import evidence, fiscal
from shared.errors import InvalidError, NotFoundError
from shared.keys import REGISTRY_STREAM, WINDOWS_STREAM
from shared.web import Blueprint

from . import handlers
from shared.identity import authorize, check_unit_code
from .schemas import (BudgetRequest, EvidenceForm, EvidenceUpload, ExceptionRequest, PublicityRequest,
                      ReminderRuleRequest, ItemAddRequest, ParentRequest, ItemEditRequest, PlanRequest,
                      ReminderRequest, RemoveRequest, ReportRequest, ReviewRequest, WindowRequest, WriteAnswer)
from .service import fingerprint

bp = Blueprint("submission", __name__, description="Plan changes, reports, reviews, reminders, "
                                                   "exceptions and reporting windows: each one event in the log")

_IF_MATCH = re.compile(r'^"?(\d{1,12})"?$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
WRITE_HEADERS = [
    {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
     "description": 'Expected version of the unit\'s log, e.g. "7"; 412 when it is at another one.'},
    {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
     "description": "Same key and body: the first answer again (200), nothing written. Same key, other body: 422."},
]


def _if_match() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    match = _IF_MATCH.match(raw.strip())
    if not match:
        raise BadRequest('If-Match must be a version such as "7"')
    return int(match.group(1))


def _idempotency_key() -> str:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return ""
    if not _IDEMPOTENCY_KEY.match(raw):
        raise BadRequest("Idempotency-Key must be 1 to 200 printable ASCII characters without spaces")
    return raw


def _check_round(fiscal_year: int, round_: int) -> None:
    if round_ not in fiscal.ROUNDS:
        raise NotFoundError(f"no round {round_}: rounds are 6 and 12")
    if not fiscal.MIN_FISCAL_YEAR <= fiscal_year <= fiscal.MAX_FISCAL_YEAR:
        raise NotFoundError(f"no fiscal year {fiscal_year}: fiscal years are Buddhist Era, e.g. 2564")


def guarded(action: str):
    """Identify the actor, check the path and the role before the body is even parsed."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            g.actor = current_app.extensions["ncc"]["identify"](request.headers)
            code = kwargs.get("code")
            registry = None
            if code is not None:
                check_unit_code(code)
                registry = current_app.extensions["ncc"]["service"].load(REGISTRY_STREAM)
                if code not in registry.units:
                    raise NotFoundError(f"no unit {code} is registered")
            if "round" in kwargs:
                _check_round(kwargs["fiscal_year"], kwargs["round"])
            supervised = registry.scope_of(g.actor.username) if registry and g.actor.role == "supervisor" else None
            authorize(g.actor, action, code, supervised)
            return view(*args, **kwargs)
        return inner
    return wrap


def _write(stream: str, body: dict, decide, *, needs_windows: bool = False):
    service = current_app.extensions["ncc"]["service"]
    outcome = service.execute(
        stream, decide, actor=g.actor.as_dict(), fp=fingerprint(request.method, request.path, body),
        idempotency_key=_idempotency_key(), if_match=_if_match(), needs_windows=needs_windows,
        meta={"request_id": g.request_id})
    return outcome.body, outcome.status, {"ETag": f'"{outcome.body["version"]}"'}


def _route(rule: str, method: str, action: str, schema, summary: str):
    """Register a write view: one route, its body schema, its answers, the guard."""
    def register(view):
        # the guard wraps the body parsing: who you are and what you may touch come before your body
        # one schema instance per route (webargs would build one per request from a class)
        guarded_view = guarded(action)(bp.arguments(schema())(view))
        documented = bp.doc(summary=summary, parameters=WRITE_HEADERS)(
            bp.alt_response(200, schema=WriteAnswer, description="Idempotent replay: the first answer")(
                bp.response(201, WriteAnswer)(guarded_view)))
        return bp.route(rule, methods=[method], endpoint=view.__name__)(documented)
    return register


@_route("/units/<code>/plan", "PUT", "plan", PlanRequest, "Declare the plan, or change its title or years")
def put_plan(body, code):
    return _write(code, body, lambda s, ctx: handlers.declare_plan(s, body, ctx))


@_route("/units/<code>/plan/items", "POST", "plan", ItemAddRequest, "Add an item to the plan")
def add_item(body, code):
    return _write(code, body, lambda s, ctx: handlers.add_item(s, body, ctx))


@_route("/units/<code>/plan/items/<item_id>", "PATCH", "plan", ItemEditRequest, "Edit an item's details")
def edit_item(body, code, item_id):
    return _write(code, body, lambda s, ctx: handlers.edit_item(s, item_id, body, ctx))


@_route("/units/<code>/plan/items/<item_id>/budgets/<int:fiscal_year>", "PUT", "plan", BudgetRequest,
        "Raise or lower an item's budget for one fiscal year")
def change_budget(body, code, item_id, fiscal_year):
    return _write(code, body, lambda s, ctx: handlers.change_budget(s, item_id, fiscal_year, body, ctx))


@_route("/units/<code>/plan/items/<item_id>", "DELETE", "plan", RemoveRequest, "Remove an item from the plan")
def remove_item(body, code, item_id):
    return _write(code, body, lambda s, ctx: handlers.remove_item(s, item_id, body, ctx))


@_route("/units/<code>/reports/<int:fiscal_year>/<int:round>", "PUT", "report", ReportRequest,
        "Submit the round's report, or amend it")
def put_report(body, code, fiscal_year, round):  # noqa: A002 - the path's name
    return _write(code, body, lambda s, ctx: handlers.submit_report(s, fiscal_year, round, body, ctx),
                  needs_windows=True)


@_route("/units/<code>/reports/<int:fiscal_year>/<int:round>/review", "POST", "review", ReviewRequest,
        "Accept or return the round's latest report")
def review_report(body, code, fiscal_year, round):  # noqa: A002
    return _write(code, body, lambda s, ctx: handlers.review_report(s, fiscal_year, round, body, ctx))


@_route("/units/<code>/reminders", "POST", "remind", ReminderRequest, "Remind the unit to report")
def send_reminder(body, code):
    return _write(code, body, lambda s, ctx: handlers.send_reminder(s, body, ctx))


@_route("/units/<code>/reports/<int:fiscal_year>/<int:round>/exceptions", "POST", "exception",
        ExceptionRequest, "Reopen a locked round for this unit until a given time")
def grant_exception(body, code, fiscal_year, round):  # noqa: A002
    return _write(code, body, lambda s, ctx: handlers.grant_exception(s, fiscal_year, round, body, ctx))


@_route("/reminder-rules/<int:fiscal_year>/<int:round>/<rule_id>", "PUT", "reminder_rule", ReminderRuleRequest,
        "Set a scheduled reminder rule of a round: NACC's are national, a supervisor's go to its own units")
def put_reminder_rule(body, fiscal_year, round, rule_id):  # noqa: A002
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", rule_id):
        raise NotFoundError(f"no rule {rule_id!r}: rule ids are lower-case letters, digits and '-' (41 at most)")
    scope = g.actor.username if g.actor.role == "supervisor" else None
    return _write(WINDOWS_STREAM, body, lambda s, ctx: handlers.set_reminder_rule(
        s, fiscal_year, round, rule_id, scope, body, ctx))


@_route("/supervisors/<username>/parent", "PUT", "hierarchy", ParentRequest,
        "Put a supervisory unit under another one, or directly under NACC (null): the parent oversees its subtree")
def put_parent(body, username):
    cmd = {**body, "supervisor": username}
    return _write(REGISTRY_STREAM, cmd, lambda s, ctx: handlers.set_parent(s, cmd, ctx))


@_route("/units/<code>/evidence/<int:version>/publicity", "PUT", "plan", PublicityRequest,
        "Publish an attached file on the unit's public pages, or take it off them (with a reason)")
def change_publicity(body, code, version):
    return _write(code, body, lambda s, ctx: handlers.change_evidence_publicity(s, version, body, ctx),
                  needs_windows=True)


@_route("/windows/<int:fiscal_year>/<int:round>", "PUT", "window", WindowRequest,
        "Set when a round opens, is due and locks (NACC)")
def put_window(body, fiscal_year, round):  # noqa: A002
    return _write(WINDOWS_STREAM, body, lambda s, ctx: handlers.set_window(s, fiscal_year, round, body, ctx))


def _sized(view):
    """An evidence upload may be larger than a JSON body, up to the evidence limit: 413 naming it beyond."""
    @functools.wraps(view)
    def inner(*args, **kwargs):
        limit = current_app.extensions["ncc"]["settings"].evidence_max_bytes
        request.max_content_length = limit + 64 * 1024          # the file and its form's few fields
        if request.content_length is not None and request.content_length > request.max_content_length:
            raise evidence.FileTooLargeError(f"ไฟล์มีขนาดเกิน {limit:,} ไบต์ (the file is over the limit of "
                                             f"{limit:,} bytes)", limit=limit)
        return view(*args, **kwargs)
    return inner


def _file_name(raw: str | None) -> str:
    """The uploaded file's own name: without a path, NFC, without control characters, at most 255 characters."""
    name = unicodedata.normalize("NFC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[-255:] or "evidence"


@bp.route("/units/<code>/evidence", methods=["POST"])
@bp.doc(summary="Attach an evidence file (PDF, image, office document) to a plan item or to its report entry",
        parameters=WRITE_HEADERS, requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
            "allOf": [{"$ref": "#/components/schemas/EvidenceForm"}, {"$ref": "#/components/schemas/EvidenceUpload"}]}}}})
@bp.alt_response(200, schema=WriteAnswer, description="Idempotent replay: the first answer")
@bp.response(201, WriteAnswer)
@guarded("plan")
@_sized
@bp.arguments(EvidenceForm, location="form")
@bp.arguments(EvidenceUpload, location="files")
def attach_evidence(form, files, code):
    ext = current_app.extensions["ncc"]
    upload = files["file"]
    limit = ext["settings"].evidence_max_bytes
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise evidence.FileTooLargeError(f"ไฟล์มีขนาดเกิน {limit:,} ไบต์ (the file is over the limit of {limit:,} bytes)",
                                         limit=limit)
    if not data:
        raise InvalidError("the file is empty", field_errors={"file": ["The file is empty."]})
    name = _file_name(upload.filename)
    cmd = {**form, "sha256": evidence.sha256_of(data), "name": name, "size": len(data),
           "content_type": evidence.content_type(data, name, upload.mimetype)}
    service, store = ext["service"], ext["evidence"]
    if store.exists(cmd["sha256"]):          # kept already (the same file elsewhere, or a re-send): nothing to keep
        return _write(code, cmd, lambda s, ctx: handlers.attach_evidence(s, cmd, ctx), needs_windows=True)
    # decided once before the new file is kept, so a domain refusal keeps nothing; decided again when appended. A
    # refusal after that (a stale If-Match, an Idempotency-Key of another request) leaves the file unreferenced:
    # it is never served (files are found through the unit's events), and it is not taken away, because the store
    # is shared by content and another upload of the same file may be on its way into the log at this moment
    handlers.attach_evidence(service.load(code), cmd, handlers.Context(
        now=service.clock(), frameworks=service.frameworks, grace_days=service.settings.lock_grace_days,
        windows=service.load(WINDOWS_STREAM)))
    store.put(data)
    return _write(code, cmd, lambda s, ctx: handlers.attach_evidence(s, cmd, ctx), needs_windows=True)
