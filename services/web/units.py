"""The unit's pages: home with every round, the plan editor, the report form, history, the plan on a date."""
from __future__ import annotations

from flask import Blueprint, render_template

from .auth import api, signed_in

bp = Blueprint("units", __name__)


@bp.get("/units/<code>")
@signed_in()
def home(person, code):
    """The unit's home: its plan summary and every round's state."""
    status = api().read(f"/units/{code}/status", person.token)
    return render_template("units/home.html", code=code, status=status)


@bp.get("/units/<code>/plan")
@signed_in()
def plan(person, code):
    return render_template("units/home.html", code=code, status=api().read(f"/units/{code}/status", person.token))


@bp.get("/units/<code>/history")
@signed_in()
def history(person, code):
    return render_template("units/home.html", code=code, status=api().read(f"/units/{code}/status", person.token))
