"""The tracker's public read API (no token): the directory of registered units, public fields only.

API.md's "Public" section. Only ``code, name_th, kind, province`` of a unit are ever answered: never an
account, a supervisor, or anything from a unit's or a ``security:`` stream. Not built yet from that
section: the per-client rate limit (429) and ETag/304 from the head hash.
"""
from __future__ import annotations

import unicodedata

from flask import current_app
from marshmallow import Schema, fields, validate

from shared.schemas import UNIT_KINDS
from shared.web import Blueprint

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
