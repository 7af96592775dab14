"""The supervisory unit's pages: its units for a round, reminders, reviews, exceptions, exports."""
from __future__ import annotations

from flask import Blueprint, render_template

from .auth import api, signed_in

bp = Blueprint("supervision", __name__)


@bp.get("/supervisor")
@signed_in("supervisor")
def overview(person):
    """The supervisor's units for the current round."""
    data = api().read(f"/supervisors/{person.username}/overview", person.token)
    return render_template("supervision/overview.html", data=data)
