"""The public pages (no sign-in): the unit directory, each unit's ITA documents per fiscal year, their PDF and CSV,
and the check of a document or receipt against the unit's log. What the ITA asks every unit to publish.

Everything comes from the tracker's public API, asked on the reader's behalf (their address is forwarded, so the
API's rate limit counts readers, not this app). Pages carry an ETag made from the API's, so a reader's browser
asking again costs one round trip and gets 304.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for

from shared import fiscal

from . import labels
from .auditor import UNIT_CODE, directory_page
from .auth import api, forwarded, now
from .formatting import whole_number
from .i18n import select_language

bp = Blueprint("public", __name__, url_prefix="/public")

DOCUMENTS = ("plan", "report-6", "report-12")
PAGE_VERSION = "1"              # part of each page's ETag: a change to the templates shows readers the new page
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_TAG = re.compile(r'^(?:W/)?"?([0-9a-f]{32})-([a-z]{2})-' + PAGE_VERSION + r'"?$')


def _get(path: str, params: dict | None = None, headers: dict | None = None, raw: bool = False):
    return api().call("tracker", "GET", path, params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                      headers={**forwarded(), **(headers or {})}, raw=raw)


def passed_on(answer) -> Response:
    """A file the tracker answered (a PDF, a CSV, an evidence file), passed on with its type, status, ETag and
    name."""
    response = Response(answer.content, status=answer.status, mimetype=answer.headers.get("Content-Type"))
    for header in ("ETag", "Content-Disposition"):
        if header in answer.headers:
            response.headers[header] = answer.headers[header]
    return response


def _unit_code(code: str) -> str:
    if not UNIT_CODE.match(code):
        abort(404)
    return code


@bp.get("")
def directory():
    """Every registered unit, searchable by Thai name or code, filtered by province and kind; 50 a page."""
    return render_template("public/directory.html", **directory_page(
        "public.directory", lambda params: _get("/public/units", params).body),
        fiscal_year=fiscal.fiscal_year_of(now()), UNIT_KINDS=labels.UNIT_KINDS)


@bp.get("/units/<code>")
def unit(code):
    """A unit's documents of the current fiscal year."""
    return redirect(url_for("public.disclosure", code=_unit_code(code), fiscal_year=fiscal.fiscal_year_of(now())))


@bp.get("/units/<code>/<int:fiscal_year>")
def disclosure(code, fiscal_year):
    """The plan in force for the year and both rounds' reports, as of the latest version or ``?version=``."""
    _unit_code(code)
    version = whole_number(request.args.get("version"))
    if request.args.get("version") and version is None:
        abort(404)
    language = select_language()
    # only an anonymous reader's page is tagged: a signed-in person's carries their name and a form token
    anonymous = "token" not in session
    asked = _TAG.match(request.headers.get("If-None-Match", "").strip()) if anonymous else None
    headers = {"If-None-Match": f'"{asked.group(1)}"'} if asked and asked.group(2) == language else {}
    answer = _get(f"/public/units/{code}/disclosure/{fiscal_year}", {"version": version}, headers)
    tag = (answer.headers.get("ETag") or "").strip('"')
    if answer.status == 304:
        return _tagged(Response(status=304), tag, language)
    doc = answer.body
    current = fiscal.fiscal_year_of(now())
    years = list(range(min(current, fiscal_year) - 2, max(current, fiscal_year) + 2))
    if doc.get("plan"):
        years = sorted(set(years) | set(range(doc["plan"]["first_fiscal_year"], doc["plan"]["last_fiscal_year"] + 1)))
    page = render_template("public/disclosure.html", doc=doc, code=code, fiscal_year=fiscal_year, version=version,
                           years=years, latest=version is None)
    return _tagged(Response(page), tag if anonymous else "", language)


def _tagged(response: Response, tag: str, language: str) -> Response:
    if tag:
        response.set_etag(f"{tag}-{language}-{PAGE_VERSION}")
        response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/units/<code>/<int:fiscal_year>/<any(plan, 'report-6', 'report-12'):document>.<any(pdf, csv):kind>")
def download(code, fiscal_year, document, kind):
    """A document's signed PDF or its CSV, as the tracker made it (passed on with its ETag)."""
    _unit_code(code)
    version = whole_number(request.args.get("version"))
    headers = {"If-None-Match": request.headers["If-None-Match"]} if "If-None-Match" in request.headers else {}
    answer = _get(f"/public/units/{code}/disclosure/{fiscal_year}/{document}.{kind}", {"version": version}, headers,
                  raw=True)
    response = passed_on(answer)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/units/<code>/evidence/<sha256>")
def evidence(code, sha256):
    """An evidence file the unit published, as the tracker serves it (a file it did not publish is 404)."""
    _unit_code(code)
    if not _HASH.match(sha256):
        abort(404)
    answer = _get(f"/public/units/{code}/evidence/{sha256.lower()}", raw=True)
    return passed_on(answer)


@bp.get("/verify/<code>/<int:version>/<hash_>")
def verify(code, version, hash_):
    """Whether a document's or receipt's (version, hash) is the unit's event in its log, in words."""
    _unit_code(code)
    if not _HASH.match(hash_):
        abort(404)
    result = _get(f"/public/verify/{code}/{version}/{hash_}").body
    found = _get("/public/units", {"q": code, "cursor": f"{int(code) - 1:07d}" if int(code) else None,
                                   "limit": 1}).body["units"]
    unit_ = next((u for u in found if u["code"] == code), {"code": code})
    return render_template("public/verify.html", result=result, unit=unit_, hash=hash_.lower(), version=version,
                           fiscal_year=fiscal.fiscal_year_of(fiscal.parse_instant(result["recorded_at"]))
                           if result.get("recorded_at") else None)


@bp.get("/keys")
def keys():
    """The public keys receipts are checked with (what ``python -m shared.offline --key`` reads)."""
    return _get("/public/keys").body
