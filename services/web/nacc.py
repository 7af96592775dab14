"""NACC's pages: national compliance of a round with charts, reporting windows, exports."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from werkzeug.datastructures import MultiDict
import time

from wtforms import SelectField
from wtforms.validators import Optional, ValidationError

from shared import fiscal

from . import charts, labels
from .auth import api, now, signed_in
from .errors import ApiError
from .formatting import thai_date
from .forms import KeyedForm, ThaiDateTimeField, date_required, refused
from .labels import unit_kind_name
from .supervision import RoundForm, requested_round, send_export

bp = Blueprint("nacc", __name__)

PAGE_SIZE = 100


def current_round(moment=None) -> tuple[int, int]:
    """The latest round whose (default) window has opened: what the pages show first."""
    moment = moment or now()
    fy = fiscal.fiscal_year_of(moment)
    for candidate in ((fy, 12), (fy, 6), (fy - 1, 12), (fy - 1, 6)):
        if fiscal.default_opens(*candidate) <= moment:
            return candidate
    return fy - 2, 12        # pragma: no cover - one of the four has always opened


class ComplianceFilter(RoundForm):
    """The round, and which units of it to list."""

    province = SelectField(_l("Province"), validators=[Optional()])
    kind = SelectField(_l("Kind of unit"), validators=[Optional()])


@bp.get("/nacc")
@signed_in("nacc", "auditor")
def compliance(person):
    """The national compliance of a round: rates, charts by state, province and kind, the units page by page."""
    fy, round_ = requested_round()
    if fy is None:
        fy, round_ = current_round()
    data = api().read(f"/rounds/{fy}/{round_}/compliance", person.token)
    tree = api().read(f"/rounds/{fy}/{round_}/supervisors", person.token)      # the top of the supervision tree
    picker = ComplianceFilter(formdata=MultiDict(request.args)).setup(fy, round_, data["counts"])
    provinces = charts.groups(data["rows"], "province")
    kinds = charts.groups(data["rows"], "kind", unit_kind_name)
    picker.province.choices = [("", _("Every province"))] + [(g.key, g.label) for g in provinces if g.key]
    picker.kind.choices = [("", _("Every kind"))] + [(g.key, g.label) for g in kinds if g.key]
    for select in (picker.province, picker.kind):
        if select.data not in dict(select.choices):
            select.data = ""
    state, province, kind = picker.state.data or "", picker.province.data or "", picker.kind.data or ""
    # province and kind narrow the figures and the charts as well as the table; the state only the table
    chosen = [r for r in data["rows"] if (not province or r.get("province") == province)
              and (not kind or r.get("kind") == kind)]
    figures = charts.figures(data, chosen) if (province or kind) else data
    rows = [r for r in chosen if not state or r["state"] == state]
    if province or kind:
        provinces = charts.groups(chosen, "province")
        kinds = charts.groups(chosen, "kind", unit_kind_name)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    try:
        page = min(max(1, int(request.args.get("page", "1"))), pages)
    except ValueError:
        page = 1
    query = {"fiscal_year": fy, "round": round_, "state": state, "province": province, "kind": kind}
    query = {k: v for k, v in query.items() if v not in ("", None)}
    return render_template(
        "nacc/compliance.html", data=data, picker=picker, rows=rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE],
        matching=len(rows), page=page, pages=pages, query=query, state=state, page_size=PAGE_SIZE,
        provinces=provinces, kinds=kinds, notice=session.pop("notice", None), figures=figures, tree=tree,
        scope=", ".join(part for part in (province, unit_kind_name(kind) if kind else "") if part),
        by_state=charts.units_by_state(figures["counts"]),
        rates_fig=charts.rates(figures["reporting_rate"], figures["on_time_rate"]),
        by_province=charts.submitted_by_group(provinces, _("Submitted by province")),
        by_kind=charts.submitted_by_group(kinds, _("Submitted by kind of unit")))


@bp.get("/nacc/export/<int:fy>/<int:round_>.<fmt>")
@signed_in("nacc", "auditor")
def export(person, fy, round_, fmt):
    """Every unit for the round as CSV or XLSX."""
    return send_export(person, fy, round_, fmt)


WINDOW_FIELDS = ("opens_at", "due_at", "locks_at")


class WindowForm(KeyedForm):
    opens_at = ThaiDateTimeField(_l("Reporting opens"), [date_required], default_time="00:00")
    due_at = ThaiDateTimeField(_l("Due (reports after this are late)"), [date_required])
    locks_at = ThaiDateTimeField(_l("Locks (no report accepted after this without an extension)"), [date_required])

    def validate_locks_at(self, field):
        opens, due, locks = (f.data for f in (self.opens_at, self.due_at, self.locks_at))
        if due and locks and locks < due:
            raise ValidationError(_("The round cannot lock before the due date."))
        if opens and due and due <= opens:
            self.due_at.errors = list(self.due_at.errors) + [_("The due date must come after reporting opens.")]
            raise ValidationError(_("Check the dates: reporting opens, then it is due, then it locks."))


@bp.route("/nacc/windows", methods=["GET", "POST"])
@signed_in("nacc")
def windows(person):
    """A round's reporting window (opens, due, locks): the one in force, and a form to set it."""
    fy, round_ = requested_round()
    if fy is None:
        fy, round_ = current_round()
    picker = RoundForm(formdata=MultiDict(request.args)).setup(fy, round_)
    data = api().read(f"/rounds/{fy}/{round_}/compliance", person.token, limit=0)     # the dates, not the rows
    form = WindowForm()
    refusal, updating = None, False
    written = session.get("window_written")
    if written and (written.get("fiscal_year"), written.get("round")) != (fy, round_):
        written = None
    if request.method == "GET":
        if written:             # just set: read again until the tracker has projected the write
            data = _read_until(person, fy, round_, written["window"], data)
            session.pop("window_written", None)
            updating = not _shows(data, written["window"])
        shown = written["window"] if updating else data
        for name in WINDOW_FIELDS:
            getattr(form, name).data = fiscal.parse_instant(shown[name])
    elif form.validate_on_submit():
        body = {name: getattr(form, name).data.isoformat() for name in WINDOW_FIELDS}
        try:
            api().write("PUT", f"/windows/{fy}/{round_}", person.token, body,
                        idempotency_key=form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, form)
        else:
            session["notice"] = _("The reporting window of the %(round)s of fiscal year %(year)s is set: due "
                                  "%(due)s, locks %(locks)s.", round=labels.name(labels.ROUNDS, round_), year=fy,
                                  due=thai_date(body["due_at"], time=True),
                                  locks=thai_date(body["locks_at"], time=True))
            session["window_written"] = {"fiscal_year": fy, "round": round_, "window": body}
            return redirect(url_for(".windows", fiscal_year=fy, round=round_))
    return render_template("nacc/windows.html", data=data, form=form, picker=picker, refusal=refusal,
                           notice=session.pop("notice", None), updating=updating,
                           current=current_round())


def _shows(data: dict, window: dict) -> bool:
    """The compliance answer carries the window just written."""
    return all(fiscal.parse_instant(data[name]) == fiscal.parse_instant(window[name]) for name in WINDOW_FIELDS)


def _read_until(person, fy: int, round_: int, window: dict, data: dict, seconds: float = 4.0) -> dict:
    """The round's compliance answer, read again (briefly) until it reflects the window just written."""
    deadline = time.monotonic() + seconds
    while not _shows(data, window) and time.monotonic() < deadline:
        time.sleep(0.2)
        data = api().read(f"/rounds/{fy}/{round_}/compliance", person.token, limit=0)
    return data
