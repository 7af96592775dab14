"""The auditor's pages: find a unit, its events, its state at an instant or version, verification, export."""
from __future__ import annotations

import re
from flask import Blueprint, Response, abort, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm

from shared.events import canonical
from shared.fiscal import BE_OFFSET, bangkok_iso, parse_instant

from . import labels
from .auth import ROLE_NAMES, api, now, signed_in
from .formatting import from_local_input, money, whole_number
from .forms import ThaiDateTimeField

bp = Blueprint("auditor", __name__)

UNIT_CODE = re.compile(r"^[0-9]{7}$")
PAGE_SIZE = 50


# the 77 provinces as the directory spells them (กรุงเทพมหานคร first), for the search's list
PROVINCES = (
    "กรุงเทพมหานคร", "กระบี่", "กาญจนบุรี", "กาฬสินธุ์", "กำแพงเพชร", "ขอนแก่น", "จันทบุรี", "ฉะเชิงเทรา", "ชลบุรี",
    "ชัยนาท", "ชัยภูมิ", "ชุมพร", "เชียงราย", "เชียงใหม่", "ตรัง", "ตราด", "ตาก", "นครนายก", "นครปฐม", "นครพนม",
    "นครราชสีมา", "นครศรีธรรมราช", "นครสวรรค์", "นนทบุรี", "นราธิวาส", "น่าน", "บึงกาฬ", "บุรีรัมย์", "ปทุมธานี",
    "ประจวบคีรีขันธ์", "ปราจีนบุรี", "ปัตตานี", "พระนครศรีอยุธยา", "พะเยา", "พังงา", "พัทลุง", "พิจิตร", "พิษณุโลก",
    "เพชรบุรี", "เพชรบูรณ์", "แพร่", "ภูเก็ต", "มหาสารคาม", "มุกดาหาร", "แม่ฮ่องสอน", "ยโสธร", "ยะลา", "ร้อยเอ็ด",
    "ระนอง", "ระยอง", "ราชบุรี", "ลพบุรี", "ลำปาง", "ลำพูน", "เลย", "ศรีสะเกษ", "สกลนคร", "สงขลา", "สตูล",
    "สมุทรปราการ", "สมุทรสงคราม", "สมุทรสาคร", "สระแก้ว", "สระบุรี", "สิงห์บุรี", "สุโขทัย", "สุพรรณบุรี",
    "สุราษฎร์ธานี", "สุรินทร์", "หนองคาย", "หนองบัวลำภู", "อ่างทอง", "อำนาจเจริญ", "อุดรธานี", "อุตรดิตถ์",
    "อุทัยธานี", "อุบลราชธานี",
)


class MomentForm(FlaskForm):
    """The instant to show the state at (a GET form: nothing is written)."""

    class Meta:
        csrf = False

    as_of = ThaiDateTimeField(_l("Date and time (Bangkok)"))


# the tracker's verification reasons (English, for scripts) -> the same reason in the page's language
CHAIN_REASONS = [
    (re.compile(r"^entry (?P<n>\d+) has id (?P<id>\S+): an entry was deleted, moved or inserted$"),
     _l("Entry %(n)s has the id %(id)s: an entry was deleted, moved or inserted.")),
    (re.compile(r"^entry (?P<n>\d+) cannot be read: (?P<why>.+)$"),
     _l("Entry %(n)s cannot be read (%(why)s).")),
    (re.compile(r"^event belongs to stream (?P<actual>\S+), not (?P<expected>\S+)$"),
     _l("The event belongs to the history of %(actual)s, not of %(expected)s.")),
    (re.compile(r"^entry (?P<n>\d+) carries version (?P<v>\S+)$"),
     _l("Entry %(n)s carries version %(v)s: the events are out of order.")),
    (re.compile(r"^prev_hash does not match the previous event's hash$"),
     _l("Its previous hash does not match the hash of the event before it.")),
    (re.compile(r"^hash does not match the event's content$"),
     _l("Its hash does not match its content: the event was changed after it was recorded.")),
    (re.compile(r"^the stored chain head does not match the last event's hash$"),
     _l("The stored head of the chain does not match the hash of the last event.")),
    (re.compile(r"^the archived segment (?P<name>\S+) \(versions (?P<first>\d+)-(?P<last>\d+)\) is missing from \S+$"),
     _l("The archive file %(name)s, holding versions %(first)s–%(last)s, is missing from the archive.")),
    (re.compile(r"^the archived segment (?P<name>\S+) \(versions (?P<first>\d+)-(?P<last>\d+)\) has SHA-256 \S+, "
                r"not the \S+ it was sealed with$"),
     _l("The archive file %(name)s, holding versions %(first)s–%(last)s, was changed after it was sealed: its "
        "SHA-256 is not the one recorded.")),
    (re.compile(r"^the archived segment (?P<name>\S+) (cannot be read|holds \d+ events).*$"),
     _l("The archive file %(name)s cannot be read whole.")),
    (re.compile(r"^the archive lists segment (?P<name>\S+) .*$"),
     _l("The list of archive files does not match what the history sealed (%(name)s).")),
]


def chain_reason(reason: str | None) -> str:
    """The tracker's reason for a broken chain, in the page's language (an unknown one as the API said it)."""
    if not reason:
        return ""
    for pattern, text in CHAIN_REASONS:
        found = pattern.match(reason)
        if found:
            return str(text) % found.groupdict()
    return _("The system gave this reason: %(why)s", why=reason)


def role_name(role: str) -> str:
    return labels.name(ROLE_NAMES, role)


def describe(event: dict, item_names: dict | None = None) -> str:
    """One line on what an event says, for the history table (``item_names``: item id -> its name)."""
    p = event.get("payload") or {}
    item = (item_names or {}).get(p.get("item_id")) or p.get("item_id")
    kind = event.get("type")
    if kind in ("PlanDeclared", "PlanPeriodChanged"):
        return _("%(title)s, fiscal years %(first)s–%(last)s", title=p.get("title", ""),
                 first=p.get("first_fiscal_year"), last=p.get("last_fiscal_year"))
    if kind == "ItemAdded":
        return p.get("name", "")
    if kind in ("ItemEdited", "ItemRemoved"):
        return _("Item %(item)s: %(reason)s", item=item, reason=p.get("reason") or "—")
    if kind == "ItemBudgetChanged":
        return _("Item %(item)s, fiscal year %(year)s: %(amount)s baht", item=item,
                 year=p.get("fiscal_year"), amount=money(p.get("amount")))
    if kind in ("ReportSubmitted", "ReportAmended", "ReportReviewed", "ReminderSent", "ReportingExceptionGranted"):
        text = _("Fiscal year %(year)s, %(round)s", year=p.get("fiscal_year"),
                 round=labels.name(labels.ROUNDS, p.get("round")))
        if kind == "ReportReviewed":
            text += " · " + labels.name(labels.DECISIONS, p.get("decision"))
        if p.get("late"):
            text += " · " + _("late (after the due date)")
        return text
    if kind == "EvidenceAttached":
        return _("%(name)s, item %(item)s", name=p.get("name", ""), item=item) + (
            " · " + _("public") if p.get("public") else "")
    if kind == "ArchiveSealed":
        return _("Versions %(first)s–%(last)s, in %(segment)s (SHA-256 %(sha256)s)", first=p.get("first_version"),
                 last=p.get("last_version"), segment=p.get("segment"), sha256=str(p.get("sha256", ""))[:16] + "…")
    if kind == "EvidencePublicityChanged":
        return _("The file attached at version %(version)s: %(state)s", version=p.get("attached_version"),
                 state=_("public") if p.get("public") else _("not public"))
    return ""


@bp.context_processor
def _names():
    return {"role_name": role_name, "describe": describe, "chain_reason": chain_reason, "UNIT_KINDS": labels.UNIT_KINDS,
            "ITEM_FIELDS": labels.FIELD_NAMES}


def _unit(person, code: str) -> dict:
    """The unit's public details from the tracker's directory; 404 for a code that is not a registered unit."""
    if not UNIT_CODE.match(code):
        abort(404)
    # the directory pages by code (strictly after the cursor): the code itself comes first when registered
    before = f"{int(code) - 1:07d}" if int(code) else None
    found = api().read("/public/units", person.token, q=code, cursor=before, limit=1)
    unit = next((u for u in found["units"] if u["code"] == code), None)
    if unit is None:
        abort(404)
    return unit


def directory_page(endpoint: str, read) -> dict:
    """One page of the unit directory's search as a template's context: the filters from the query string (code
    or part of the Thai name, province, kind; the cursor and page number), the units ``read`` answers for them
    (a call of the tracker's ``/public/units``), and the links to the first and the next page."""
    q = request.args.get("q", "").strip()[:100]
    province = request.args.get("province", "").strip()[:100]
    kind = request.args.get("kind", "")
    kind = kind if kind in labels.UNIT_KINDS else ""
    cursor = request.args.get("cursor", "")
    cursor = cursor if UNIT_CODE.match(cursor) else ""
    page = read({"q": q, "province": province, "kind": kind, "cursor": cursor, "limit": PAGE_SIZE})
    number = (whole_number(request.args.get("page"), most=10000) or 1) if cursor else 1
    filters = {"q": q or None, "province": province or None, "kind": kind or None}
    provinces = list(PROVINCES) + sorted({u.get("province") for u in page["units"] if u.get("province")}
                                         - set(PROVINCES) | ({province} - set(PROVINCES) - {""}))
    return {"q": q, "province": province, "kind": kind, "units": page["units"], "searched": bool(q or province or kind),
            "next_url": url_for(endpoint, **filters, cursor=page["next_cursor"], page=number + 1)
            if page.get("next_cursor") else None,
            "first_url": url_for(endpoint, **filters) if cursor else None,
            "page_number": number, "page_size": PAGE_SIZE, "provinces": provinces}


@bp.get("/audit")
@signed_in("auditor", "nacc")
def find(person):
    """Find a unit by part of its code or name (and province, kind): the tracker's public directory, paged."""
    return render_template("auditor/find.html", **directory_page(
        "auditor.find", lambda params: api().read("/public/units", person.token, **params)))


@bp.get("/audit/units/<code>")
@signed_in("auditor", "nacc")
def events(person, code):
    """The unit's whole history: every event with its version, type, time, actor and hash."""
    unit = _unit(person, code)
    answer = api().read(f"/units/{code}/events", person.token)
    item_names = {}
    for event in answer["events"]:          # each item by its name as it stood then, not its id
        p = event.get("payload") or {}
        if event["type"] == "ItemAdded" or (event["type"] == "ItemEdited" and "name" in (p.get("changes") or {})):
            item_names[p.get("item_id")] = p.get("name") or p["changes"]["name"]
    return render_template("auditor/events.html", unit=unit, events=answer["events"], item_names=item_names,
                           tab="events")


@bp.get("/audit/units/<code>/state")
@signed_in("auditor", "nacc")
def state(person, code):
    """The plan and reports as they stood at a version or at an instant (Bangkok time), or now."""
    unit = _unit(person, code)
    version_text = request.args.get("version", "").strip()
    as_of_text = request.args.get("as_of", "").strip()      # an ISO instant in a link (the form sends parts)
    moment = MomentForm(formdata=request.args)
    refusal, version, as_of = None, None, None
    if moment.as_of.process_errors:
        refusal = " ".join(moment.as_of.process_errors)
    elif moment.as_of.data is not None:
        as_of = moment.as_of.data
    if version_text:
        version = 0 if version_text.strip() == "0" else whole_number(version_text)
        if version is None:
            refusal = _("The version is a whole number: 1 is the first event.")
    if as_of_text and as_of is None and refusal is None:
        as_of = from_local_input(as_of_text)
        if as_of is None:
            try:
                as_of = parse_instant(as_of_text)
            except ValueError:
                refusal = _("Choose a date and a time in the field.")
        if as_of is not None and as_of.year >= BE_OFFSET + 1900:
            # a Buddhist Era year in a typed link: 2569 means 2026 (29 February may not exist in that year)
            try:
                as_of = as_of.replace(year=as_of.year - BE_OFFSET)
            except ValueError:
                as_of, refusal = None, _("Choose a date and a time in the field.")
        if as_of is not None:
            moment.as_of.data = as_of
    if version is not None and as_of is not None:
        refusal, as_of = _("Give a version or a date and time, not both."), None
    params = {}
    if refusal is None:
        if version is not None:
            params["version"] = version
        elif as_of is not None:
            params["as_of"] = bangkok_iso(as_of)
    answer = api().read(f"/units/{code}/state", person.token, **params) if refusal is None else None
    held = (answer or {}).get("state") or {}
    reports = sorted((held.get("reports") or {}).values(), key=lambda r: (r["fiscal_year"], r["round"]))
    item_names = {i["item_id"]: i["details"].get("name", i["item_id"]) for i in held.get("items") or []}
    return render_template("auditor/state.html", unit=unit, answer=answer, held=held, reports=reports,
                           item_names=item_names, refusal=refusal, tab="state",
                           version_text=version_text, moment=moment, asked_version=version, asked_as_of=as_of)


@bp.get("/audit/units/<code>/verify")
@signed_in("auditor", "nacc")
def verify(person, code):
    """Walk the unit's hash chain (the tracker does it on the log itself) and say what it found."""
    unit = _unit(person, code)
    result = api().read(f"/units/{code}/verify", person.token)
    return render_template("auditor/verify.html", unit=unit, result=result, tab="verify",
                           checked_at=now())


@bp.get("/audit/units/<code>/events.jsonl")
@signed_in("auditor", "nacc")
def export(person, code):
    """The unit's history as JSON Lines, one canonical event per line exactly as stored and as GET /events
    answers: the file ``python -m shared.offline`` verifies without Redis or the services."""
    _unit(person, code)
    answer = api().read(f"/units/{code}/events", person.token)
    version = answer["events"][-1]["version"] if answer["events"] else 0

    def lines():
        for event in answer["events"]:
            yield canonical(event) + b"\n"

    return Response(stream_with_context(lines()), mimetype="application/jsonl",
                    headers={"Content-Disposition": f'attachment; filename="{code}-events-v{version}.jsonl"'})
