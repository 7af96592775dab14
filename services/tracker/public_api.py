"""The tracker's public read API (no token): the unit directory, the ITA documents, verification, the keys.

API.md's "Public" section. A unit is only ever ``code, name_th, kind, province``; its documents are folded from
its log by ``disclosure`` and hold only what the unit published: never an account, an address, a review, a
reminder, an exception or anything from a ``security:`` stream. Every answer is rate limited per client
(flask-limiter, counters in Redis: 429 with Retry-After); the documents carry an ETag made from the log's head
hash, so a reader asking again gets 304 for one Redis round trip.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import unicodedata
from collections import OrderedDict

from flask import Response, current_app, request
from marshmallow import Schema, fields, validate

from shared import fiscal
from shared.connections import is_cluster
from shared.errors import NotFoundError
from shared.identity import check_unit_code
from shared.schemas import UNIT_KINDS
from shared.signing import receipt_of
from shared.web import Blueprint

from . import documents
from .disclosure import ENTRY_FIELDS, ITEM_FIELDS

bp = Blueprint("public", __name__, description="Public pages' data: no sign-in, public fields only")

PUBLIC_FIELDS = ("name_th", "kind", "province")


class DirectoryQuery(Schema):
    """Search and paging of the unit directory."""

    q = fields.String(validate=validate.Length(max=100),
                      metadata={"description": "part of the unit's code or Thai name"})
    province = fields.String(validate=validate.Length(max=100), metadata={"description": "exact province"})
    kind = fields.String(validate=validate.OneOf(UNIT_KINDS))
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{7}$"),
                           metadata={"description": "the previous page's next_cursor"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class PublicUnit(Schema):
    """A unit as anyone may see it."""

    code = fields.String(required=True)
    name_th = fields.String(required=True)
    kind = fields.String(required=True)
    province = fields.String(allow_none=True)


class DirectoryAnswer(Schema):
    """One page of the directory, ordered by code; ``next_cursor`` is null on the last page."""

    units = fields.List(fields.Nested(PublicUnit), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


def _folded(text: str) -> str:
    """Text as compared by the search: NFC, case-folded, runs of spaces as one."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@bp.route("/public/units", methods=["GET"])
@bp.arguments(DirectoryQuery, location="query", as_kwargs=True)
@bp.response(200, DirectoryAnswer)
@bp.doc(summary="Directory of registered units (no sign-in): code, Thai name, kind, province; paged by code")
def directory(q=None, province=None, kind=None, cursor=None, limit=50):
    units = current_app.extensions["ncc"]["queries"].registry().units
    needle = _folded(q) if q else ""
    wanted_province = _folded(province) if province else None
    page, more = [], False
    for code in sorted(units):
        if cursor is not None and code <= cursor:
            continue
        unit = units[code]
        if kind is not None and unit.get("kind") != kind:
            continue
        if wanted_province is not None and _folded(unit.get("province") or "") != wanted_province:
            continue
        if needle and needle not in code and needle not in _folded(unit.get("name_th") or ""):
            continue
        if len(page) == limit:
            more = True
            break
        page.append({"code": code, **{k: unit.get(k) for k in PUBLIC_FIELDS}})
    return {"units": page, "next_cursor": page[-1]["code"] if more else None}


SHA256 = re.compile(r"[0-9a-f]{64}")
RENDERING = "1"        # part of every ETag: a change to how documents are drawn invalidates cached copies


def limit_public(app, blueprint, redis, settings, keys) -> None:
    """Every public answer limited per client address (the counters in the store's Redis, shared by workers)."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    app.config.update(RATELIMIT_HEADERS_ENABLED=True, RATELIMIT_KEY_PREFIX=keys.rate_limit_prefix,
                      RATELIMIT_SWALLOW_ERRORS=True)     # a store that cannot count does not refuse readers
    if is_cluster(redis):       # the limits library opens its own cluster client from the nodes
        storage = {"storage_uri": "redis+cluster://" + ",".join(f"{n.host}:{n.port}" for n in redis.get_nodes())}
    else:
        storage = {"storage_uri": "redis://", "storage_options": {"connection_pool": redis.connection_pool}}
    limiter = Limiter(get_remote_address, app=app, strategy="moving-window", **storage)
    limiter.limit(settings.public_rate_limit)(blueprint)
    app.extensions["ncc"]["limiter"] = limiter


def limit_pdfs(app, settings) -> None:
    """The public PDFs' own, lower limit besides (a PDF nobody asked for before costs about a second of a core);
    once the blueprint is registered, its view is the one flask-limiter wraps."""
    endpoint = f"{bp.name}.{disclosure_pdf.__name__}"
    app.view_functions[endpoint] = app.extensions["ncc"]["limiter"].limit(
        settings.public_pdf_rate_limit, override_defaults=False)(app.view_functions[endpoint])


def _registered(code: str) -> dict:
    check_unit_code(code)
    unit = current_app.extensions["ncc"]["queries"].registry().units.get(code)
    if unit is None:
        raise NotFoundError(f"ไม่พบหน่วยงานรหัส {code} ในทะเบียน (no unit {code} is registered)")
    return {"code": code, **{k: unit.get(k) for k in PUBLIC_FIELDS}}


def _check_year(fiscal_year: int) -> None:
    if not fiscal.MIN_FISCAL_YEAR <= fiscal_year <= fiscal.MAX_FISCAL_YEAR:
        raise NotFoundError(f"ไม่มีปีงบประมาณ {fiscal_year}: ปีงบประมาณเป็นพุทธศักราช เช่น 2568 "
                            f"(no fiscal year {fiscal_year}: fiscal years are Buddhist Era, e.g. 2568)")


def _not_modified(tag: str) -> Response:
    """The 304 of an answer the reader already has."""
    response = Response(status=304)
    response.set_etag(tag)
    return response


def _tagged(response: Response, tag: str) -> Response:
    response.set_etag(tag)
    response.headers["Cache-Control"] = "public, no-cache"       # keep it, but ask again (304 is one round trip)
    return response


class VersionQuery(Schema):
    """Which published version of the documents (none: the latest)."""

    version = fields.Integer(validate=validate.Range(1, 2 ** 53),
                             metadata={"description": "a version of the unit's log; the documents as they stood then"})


class PublishedVersion(Schema):
    """An event that changed one of the year's documents."""

    version = fields.Integer(required=True)
    type = fields.String(required=True)
    recorded_at = fields.String(required=True)
    hash = fields.String(required=True)
    document = fields.String(required=True, metadata={"description": "plan, report-6 or report-12"})


_STAMP = {"version": fields.Integer(allow_none=True, metadata={"description": "the event that last changed it"}),
          "hash": fields.String(allow_none=True), "recorded_at": fields.String(allow_none=True)}


class PublicFile(Schema):
    """An evidence file the unit published (download: ``/public/units/{code}/evidence/{sha256}``)."""

    sha256 = fields.String(required=True)
    name = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    description = fields.String(allow_none=True)
    version = fields.Integer(required=True, metadata={"description": "the event that attached it"})
    recorded_at = fields.String(required=True)


class PlanItem(Schema.from_dict({name: fields.Raw(allow_none=True) for name in ITEM_FIELDS})):
    """One item of the plan in force, with its budget for the year."""

    item_id = fields.String(required=True)
    budget = fields.String(required=True, metadata={"description": "baht, for the fiscal year asked"})
    budgets = fields.Dict(keys=fields.String(), values=fields.String())
    dimension_name_th = fields.String(allow_none=True)
    sub_dimension_name_th = fields.String(allow_none=True)
    evidence = fields.List(fields.Nested(PublicFile))


class PlanDocument(Schema.from_dict(dict(_STAMP))):
    """The plan in force for the year (NACC's template, part 2)."""

    title = fields.String(required=True)
    first_fiscal_year = fields.Integer(required=True)
    last_fiscal_year = fields.Integer(required=True)
    framework = fields.String(allow_none=True)
    items = fields.List(fields.Nested(PlanItem), required=True)
    total_budget = fields.String(required=True)


class ReportEntry(Schema.from_dict({name: fields.Raw(allow_none=True) for name in ENTRY_FIELDS})):
    """One item's line in a report, with the item's name as it stood."""

    item_id = fields.String(required=True)
    name = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)
    dimension = fields.Integer(allow_none=True)
    sub_dimension = fields.String(allow_none=True)
    dimension_name_th = fields.String(allow_none=True)
    sub_dimension_name_th = fields.String(allow_none=True)
    evidence = fields.List(fields.Nested(PublicFile))


class ReportDocument(Schema.from_dict(dict(_STAMP))):
    """A round's latest report as recorded."""

    round = fields.Integer(required=True)
    note = fields.String(allow_none=True)
    entries = fields.List(fields.Nested(ReportEntry), required=True)
    first_submitted_at = fields.String(required=True)
    due_at = fields.String(required=True)
    on_time = fields.Boolean(required=True, metadata={"description": "first sent by the due date"})
    amendments = fields.Integer(required=True)
    completed_items = fields.Integer(required=True)
    submitted_at = fields.String(required=True, metadata={"description": "its latest submission or amendment"})


class DisclosureAnswer(Schema):
    """A unit's ITA documents for a fiscal year, as of a version of its log."""

    unit = fields.String(required=True)
    name_th = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)
    province = fields.String(allow_none=True)
    fiscal_year = fields.Integer(required=True)
    version = fields.Integer(required=True, metadata={"description": "the latest published event they stand at"})
    head_hash = fields.String(allow_none=True, metadata={"description": "that event's hash"})
    recorded_at = fields.String(allow_none=True)
    plan = fields.Nested(PlanDocument, allow_none=True, metadata={"description": "null: no plan covers the year"})
    reports = fields.Dict(keys=fields.String(), values=fields.Nested(ReportDocument, allow_none=True),
                          metadata={"description": '"6" and "12"; null: not reported (yet)'})
    versions = fields.List(fields.Nested(PublishedVersion), metadata={"description": "newest first"})
    due_at = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"description": 'when each round ("6", "12") is due'})


def _documents(code: str, fiscal_year: int, version: int | None, *asked) -> tuple[str, str, dict | None]:
    """What an answer of the year's documents rests on: its ETag, made from the unit's log head and ``basis`` (the
    unit's registered details and the reporting windows: a document prints the unit's name and the round's due
    date) and what was asked; ``basis``; and the documents, folded from the log, or None when the reader already
    has this very answer (``If-None-Match``; a ``*`` names no answer, so the documents are looked up first)."""
    unit = _registered(code)
    _check_year(fiscal_year)
    queries = current_app.extensions["ncc"]["queries"]
    _log_version, head = queries.head(code)
    basis = f"{queries.windows().head_hash}:{json.dumps(unit, sort_keys=True, ensure_ascii=False)}"
    text = ":".join(str(p) for p in (RENDERING, head, basis, fiscal_year, *asked, version))
    tag = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    if not request.if_none_match.star_tag and request.if_none_match.contains(tag):
        return tag, basis, None
    return tag, basis, queries.disclosure(unit, fiscal_year, version)


@bp.route("/public/units/<code>/disclosure/<int:fiscal_year>", methods=["GET"])
@bp.arguments(VersionQuery, location="query", as_kwargs=True)
@bp.response(200, DisclosureAnswer)
@bp.alt_response(304, description="Not modified (If-None-Match named the current ETag)")
@bp.doc(summary="A unit's ITA documents for a year (the plan in force, both rounds' reports), folded from its log")
def disclosure(code, fiscal_year, version=None):
    tag, _basis, doc = _documents(code, fiscal_year, version, "json")
    if doc is None:
        return _not_modified(tag)
    return doc, 200, {"ETag": f'"{tag}"', "Cache-Control": "public, no-cache"}


def verify_url(code: str, stamp: dict) -> str:
    """The public page that checks a document or receipt against the log (what the QR code opens)."""
    settings = current_app.extensions["ncc"]["settings"]
    return f"{settings.public_url}/public/verify/{code}/{stamp['version']}/{stamp['hash']}"


def _document(doc: dict, document: str) -> dict:
    """The one document asked for; 404 in Thai when it is not published (yet)."""
    part = doc["plan"] if document == "plan" else doc["reports"][document.split("-")[1]]
    if part is None:
        raise NotFoundError(
            f"เอกสารนี้ยังไม่ได้เผยแพร่: หน่วยงาน {doc['unit']} ยังไม่มี{DOCUMENT_TH[document]}ของปีงบประมาณ "
            f"{doc['fiscal_year']} (not published: no {document} for fiscal year {doc['fiscal_year']} yet)",
            document=document)
    return part


DOCUMENT_TH = {"plan": "แผนปฏิบัติการ", "report-6": "รายงานผลรอบ 6 เดือน", "report-12": "รายงานผลรอบ 12 เดือน"}
_PDFS: OrderedDict = OrderedDict()          # document stamp -> signed PDF: the bytes of one stamp never change
_PDFS_LOCK = threading.Lock()
_RENDERING: dict = {}                        # document stamp -> the lock its one render holds
PDF_CACHE = 256


def _cached_pdf(key: str, make) -> bytes:
    """The signed PDF of a document stamp (unit, year, document, its version and hash): made once per process
    however many ask at the same moment, then kept (the 256 last asked for)."""
    with _PDFS_LOCK:
        pdf = _PDFS.get(key)
        if pdf is not None:
            _PDFS.move_to_end(key)
            return pdf
        making = _RENDERING.setdefault(key, threading.Lock())
    with making:                             # a second reader of the same document waits for the first's render
        with _PDFS_LOCK:
            pdf = _PDFS.get(key)
        if pdf is None:
            pdf = make()
            with _PDFS_LOCK:
                _PDFS[key] = pdf
                while len(_PDFS) > PDF_CACHE:
                    _PDFS.popitem(last=False)
        with _PDFS_LOCK:
            _RENDERING.pop(key, None)
    return pdf


def signed_pdf(render, reason: str) -> bytes:
    """A rendered document signed with the service's document key."""
    ext = current_app.extensions["ncc"]
    return documents.sign(render(ext["settings"].pdf_font_dir), ext["keyring"], reason=reason)


@bp.route("/public/units/<code>/disclosure/<int:fiscal_year>/<any(plan, 'report-6', 'report-12'):document>.pdf",
          methods=["GET"])
@bp.arguments(VersionQuery, location="query", as_kwargs=True)
@bp.doc(summary="One document as a signed PDF (PAdES): A4, Thai, its version, hash and verification QR code",
        responses={"200": {"description": "PDF", "content": {"application/pdf": {}}},
                   "304": {"description": "Not modified"}})
def disclosure_pdf(code, fiscal_year, document, version=None):
    tag, basis, doc = _documents(code, fiscal_year, version, document, "pdf")
    if doc is None:
        return _not_modified(tag)
    part = _document(doc, document)
    url = verify_url(code, part)
    if document == "plan":
        render = lambda fonts: documents.plan_pdf(doc, url, fonts)            # noqa: E731
    else:
        render = lambda fonts: documents.report_pdf(doc, int(document.split("-")[1]), url, fonts)   # noqa: E731
    # keyed by the document's own stamp: a write that changes none of the year's documents (a reminder, another
    # year's item) changes the ETag but finds the same PDF
    stamp = f"{RENDERING}:{code}:{fiscal_year}:{document}:{part['version']}:{part['hash']}:{basis}"
    pdf = _cached_pdf(stamp, lambda: signed_pdf(render, f"{DOCUMENT_TH[document]} {code} {fiscal_year} "
                                                        f"v{part['version']}"))
    name = f"{code}-{fiscal_year}-{document}-v{part['version']}.pdf"
    return _tagged(Response(pdf, mimetype="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{name}"'}), tag)


PLAN_COLUMNS = [("item_id", "Item id"), ("dimension", "Dimension"), ("sub_dimension", "Sub-dimension"),
                ("name", "Name"), ("kind", "Kind"), ("budget", "Budget for the year (baht)"),
                ("responsible", "Responsible division"), ("objectives", "Objectives"), ("indicators", "Indicators"),
                ("targets", "Targets"), ("remarks", "Remarks")]
REPORT_COLUMNS = [("item_id", "Item id"), ("dimension", "Dimension"), ("sub_dimension", "Sub-dimension"),
                  ("name", "Name"), ("status", "Status"), ("reason", "Reason"), ("reason_text", "The reason in words"),
                  ("budget_planned", "Budget in the plan"), ("budget_ordinance", "Budget in the ordinance"),
                  ("spent", "Amount disbursed"), ("outputs", "Outputs"), ("outcomes", "Outcomes"),
                  ("problems", "Problems and obstacles"), ("suggestions", "Suggestions")]


def document_rows(doc: dict, document: str) -> tuple[list[str], list[list]]:
    """The document as open data: a header (Thai, with the field name) and one row per item, each naming the
    version and hash of the event the document stands at."""
    t = documents.translator(documents.CATALOGUE)
    part = _document(doc, document)
    stamp = [part["version"], part["hash"]]
    if document == "plan":
        columns, rows = PLAN_COLUMNS, part["items"]
    else:
        columns, rows = REPORT_COLUMNS, part["entries"]
    header = [f"{t(label)} ({key})" for key, label in columns] + [f"{t('Version')} (version)", f"{t('Hash')} (hash)"]
    return header, [[row.get(key) for key, _ in columns] + stamp for row in rows]


@bp.route("/public/units/<code>/disclosure/<int:fiscal_year>/<any(plan, 'report-6', 'report-12'):document>.csv",
          methods=["GET"])
@bp.arguments(VersionQuery, location="query", as_kwargs=True)
@bp.doc(summary="One document as open data (CSV, UTF-8 with BOM), each row naming its version and hash",
        responses={"200": {"description": "CSV", "content": {"text/csv": {}}},
                   "304": {"description": "Not modified"}})
def disclosure_csv(code, fiscal_year, document, version=None):
    from .api import as_text
    tag, _basis, doc = _documents(code, fiscal_year, version, document, "csv")
    if doc is None:
        return _not_modified(tag)
    header, rows = document_rows(doc, document)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(as_text(row))
    name = f"{code}-{fiscal_year}-{document}-v{_document(doc, document)['version']}.csv"
    return _tagged(Response(out.getvalue(), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'}), tag)


class PublicVerifyAnswer(Schema):
    """Whether a hash is the unit's event at a version; what that event was when it is."""

    ok = fields.Boolean(required=True)
    unit = fields.String(required=True)
    version = fields.Integer(required=True)
    type = fields.String(allow_none=True, metadata={"description": "the event's type (null when not ok)"})
    recorded_at = fields.String(allow_none=True)
    reason = fields.String(metadata={"description": "why not, in Thai and English"})


@bp.route("/public/verify/<code>/<int:version>/<hash_>", methods=["GET"])
@bp.response(200, PublicVerifyAnswer)
@bp.doc(summary="Whether a (version, hash) pair from a document or receipt is the unit's event in its log")
def public_verify(code, version, hash_):
    unit = _registered(code)
    event = current_app.extensions["ncc"]["queries"].event(unit["code"], version) if version < 2 ** 53 else None
    if event is None or event.hash != hash_.lower():
        # one reason whether the log is shorter or the hash another: the answer does not tell the log's length
        reason = "ค่าแฮชนี้ไม่ใช่บันทึกของหน่วยงาน ณ ฉบับนี้ (the hash is not the unit's event at that version)"
        return {"ok": False, "unit": code, "version": version, "type": None, "recorded_at": None, "reason": reason}
    return {"ok": True, "unit": code, "version": version, "type": event.type, "recorded_at": event.recorded_at}


class PublicKey(Schema):
    """A receipt key's public half."""

    key_id = fields.String(required=True)
    alg = fields.String(required=True)
    public_key = fields.String(required=True, metadata={"description": "raw 32 bytes, base64"})
    created_at = fields.String()
    current = fields.Boolean(metadata={"description": "the key that signs new receipts"})


class KeysAnswer(Schema):
    """The keys that sign receipts (every one ever used) and the certificate that signs documents."""

    keys = fields.List(fields.Nested(PublicKey), required=True)
    document_certificate = fields.String(metadata={"description": "PEM: the certificate in the signed PDFs"})


@bp.route("/public/keys", methods=["GET"])
@bp.response(200, KeysAnswer)
@bp.doc(summary="The public keys of receipts (by key_id, old ones kept) and the documents' signing certificate")
def public_keys():
    keyring = current_app.extensions["ncc"]["keyring"]
    return {"keys": keyring.public_keys(), "document_certificate": keyring.document_cert_pem}


def evidence_response(found, sha256: str) -> Response:
    """An evidence file as its attachment named it, never run by the browser (its type checked at upload)."""
    if found is None or not SHA256.fullmatch(sha256):
        raise NotFoundError(f"ไม่พบไฟล์หลักฐานนี้ (no such evidence file {sha256[:16]}...)")
    attachment, data = found
    from urllib.parse import quote
    response = Response(data, mimetype=attachment["content_type"], headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment['name'])}",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})
    response.set_etag(sha256)
    return response.make_conditional(request)


@bp.route("/public/units/<code>/evidence/<sha256>", methods=["GET"])
@bp.doc(summary="An evidence file the unit made public (as attached; 404 for one it did not publish)",
        responses={"200": {"description": "the file", "content": {"application/octet-stream": {}}}})
def public_evidence(code, sha256):
    _registered(code)
    if not SHA256.fullmatch(sha256):
        raise NotFoundError(f"ไม่พบไฟล์หลักฐานนี้ (no evidence file {sha256[:70]!r})")
    return evidence_response(current_app.extensions["ncc"]["queries"].attached(code, sha256, public_only=True),
                             sha256)
