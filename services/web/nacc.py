"""NACC's pages: national compliance of a round with charts, reporting windows, exports."""
from __future__ import annotations

from flask import Blueprint, render_template

from .auth import signed_in

bp = Blueprint("nacc", __name__)


@bp.get("/nacc")
@signed_in("nacc", "auditor")
def compliance(person):
    return render_template("nacc/compliance.html")


@bp.get("/nacc/windows")
@signed_in("nacc")
def windows(person):
    return render_template("nacc/compliance.html")
