"""The auditor's pages: find a unit, its events, its state at an instant or version, verification, export."""
from __future__ import annotations

from flask import Blueprint, render_template

from .auth import signed_in

bp = Blueprint("auditor", __name__)


@bp.get("/audit")
@signed_in("auditor", "nacc")
def find(person):
    return render_template("auditor/find.html")
