"""The supervisory unit's pages: its units for a round, reminders, reviews, exceptions, exports.

Everything is read from the tracker and written to the submission service with the person's token: the
supervisor may read the status, the state and the audit trail of the units it oversees (shared/identity.py
READ_POLICY): the report under review is read from the state, its history from the audit trail.
"""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from shared import fiscal

from . import charts, labels
from .auth import api, apply_reasons, now, signed_in
from .forms import KeyedForm, ThaiDateTimeField, date_required, refused
from .errors import ApiError
from .explain import message as explain

bp = Blueprint("supervision", __name__)

SUBMITTED_STATES = charts.SUBMITTED_STATES
TO_REVIEW = ("submitted", "submitted_late")           # submitted, no decision yet on this version
NOT_REPORTED = ("open", "overdue", "locked")          # could (or should) have reported and has not
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
EXPORTS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}






# ---- forms ----------------------------------------------------------------------------------------------

def round_choices(today=None) -> tuple[list, list]:
    """The fiscal years offered (next year back to six years ago) and the two rounds."""
    current = fiscal.fiscal_year_of(today or now())
    years = [(fy, str(fy)) for fy in range(current + 1, current - 7, -1)]
    return years, [(r, labels.name(labels.ROUNDS, r)) for r in fiscal.ROUNDS]


class RoundForm(FlaskForm):
    """Which round and which states to show (a GET form: no CSRF token, nothing is written)."""

    class Meta:
        csrf = False

    fiscal_year = SelectField(_l("Fiscal year (BE)"), coerce=int, validators=[Optional()])
    round = SelectField(_l("Round"), coerce=int, validators=[Optional()])
    state = SelectField(_l("Reporting state"), validators=[Optional()])

    def setup(self, fy: int, round_: int, counts: dict | None = None):
        years, rounds = round_choices()
        if fy not in [y for y, _n in years]:
            years.append((fy, str(fy)))
        self.fiscal_year.choices, self.round.choices = years, rounds
        self.fiscal_year.data, self.round.data = fy, round_
        self.state.choices = [("", _("Every state"))] + [
            (code, f"{labels.name(labels.STATES, code)}" + (f" ({counts.get(code, 0)})" if counts else ""))
            for code in labels.STATES]
        if self.state.data not in dict(self.state.choices):
            self.state.data = ""
        return self


def requested_round() -> tuple[int | None, int | None]:
    """The round asked for in the query string (both or neither), or (None, None)."""
    try:
        fy, round_ = int(request.args.get("fiscal_year", "")), int(request.args.get("round", ""))
    except ValueError:
        return None, None
    if round_ not in fiscal.ROUNDS or not fiscal.MIN_FISCAL_YEAR <= fy <= fiscal.MAX_FISCAL_YEAR:
        return None, None
    return fy, round_


class ReminderForm(KeyedForm):
    message = TextAreaField(_l("Message to the units"), validators=[
        DataRequired(_l("This field is required.")), Length(max=5000, message=_l("This text is too long."))])
    # sent instead of ``message`` to the units that have no plan for the year (shown only when there are some)
    message_no_plan = TextAreaField(_l("Message to the units with no plan for this fiscal year"), validators=[
        Optional(), Length(max=5000, message=_l("This text is too long."))])
    fiscal_year = HiddenField()
    round = HiddenField()
    of = HiddenField()                    # the supervisor under the person whose units these are (empty: own)


class ReviewForm(KeyedForm):
    decision = RadioField(_l("Decision"), choices=[("accepted", _l("Accept the report")),
                                                   ("returned", _l("Return it for correction"))],
                          validators=[DataRequired(_l("Choose accept or return."))])
    comment = TextAreaField(_l("Comment to the unit"), validators=[
        Length(max=5000, message=_l("This text is too long."))])

    def validate_comment(self, field):
        commented = any(v.strip() for k, v in request.form.items() if k.startswith("entry-comment-"))
        if self.decision.data == "returned" and not (field.data or "").strip() and not commented:
            from wtforms.validators import ValidationError
            raise ValidationError(_("Say what the unit should correct."))


class ExceptionForm(KeyedForm):
    until = ThaiDateTimeField(_l("Reports accepted until (Bangkok time)"), [date_required])
    reason = TextAreaField(_l("Reason for the exception"), validators=[
        DataRequired(_l("This field is required.")), Length(max=5000, message=_l("This text is too long."))])

    def validate_until(self, field):
        from wtforms.validators import ValidationError
        if field.data <= now():
            raise ValidationError(_("The extension must end in the future."))


def default_message(fy: int, round_: int, due_at=None, *, locked: bool = False, has_plan: bool = True,
                    locks_at=None, supervisor: str | None = None) -> str:
    """The reminder the supervisor starts from (editable): report soon (with the due date) while the round is
    open; once it is locked, that it is closed and the unit may ask for an extension of the reporting time; a unit
    with no plan for the year is asked to declare it first."""
    from .formatting import thai_date
    round_name, when = labels.name(labels.ROUNDS, round_), thai_date(locks_at) if locks_at else ""
    if locked:
        text = _("The %(round)s of fiscal year %(year)s is closed (since %(date)s) and your unit has not reported.",
                 round=round_name, year=fy, date=when) if when else \
            _("The %(round)s of fiscal year %(year)s is closed and your unit has not reported.",
              round=round_name, year=fy)
        text += " " + (_("If your unit still needs to report, ask %(supervisor)s to extend the reporting time as "
                         "a special case.", supervisor=supervisor) if supervisor else
                       _("If your unit still needs to report, ask your supervisory unit to extend the reporting "
                         "time as a special case."))
        if not has_plan:
            text += " " + _("Your unit must also declare its plan covering fiscal year %(year)s in the system "
                            "first.", year=fy)
        return text
    if not has_plan:
        text = _("Your unit has not yet declared its anti-corruption action plan covering fiscal year %(year)s. "
                 "Please declare the plan and its items in the system first, then report on the %(round)s.",
                 round=round_name, year=fy)
    else:
        text = _("Your unit has not yet reported on the %(round)s of fiscal year %(year)s of its anti-corruption "
                 "action plan. Please submit the report in the system as soon as possible.",
                 round=round_name, year=fy)
    if due_at:
        text += " " + _("The due date is %(date)s.", date=thai_date(due_at))
    return text


def round_locked(data: dict) -> bool:
    """The round no longer accepts reports (its locking time has passed)."""
    locks = data.get("locks_at")
    return bool(locks) and fiscal.parse_instant(locks) <= now()


def row_message(data: dict, row: dict, supervisor: str | None) -> str:
    """The default reminder for one unit of the round: by the round's state and whether it has a plan."""
    return default_message(data["fiscal_year"], data["round"], data.get("due_at"),
                           locked=row.get("state") == "locked" or round_locked(data),
                           has_plan=row.get("has_plan", True), locks_at=data.get("locks_at"),
                           supervisor=supervisor)


def who(actor: dict | None, row: dict | None = None, person=None) -> str:
    """An author as a person reads it: the unit's name, the signed-in person's own name, else the login."""
    username = (actor or {}).get("username") or ""
    if row and username == row.get("unit") and row.get("name_th"):
        return row["name_th"]
    if person is not None and username == person.username and getattr(person, "name", None):
        return person.name
    return (actor or {}).get("name") or username


# ---- pages ----------------------------------------------------------------------------------------------

def _overview(person, fy=None, round_=None, of: str | None = None) -> dict:
    return api().read(f"/supervisors/{quote(of or person.username)}/overview", person.token, fiscal_year=fy,
                      round=round_)


def _of(person) -> str | None:
    """The supervisor whose subtree the page shows: ``?of=`` (one under the person, or any for NACC and auditors),
    else the person; None for the person's own."""
    of = request.args.get("of") or request.form.get("of") or None
    if of is not None and not USERNAME.fullmatch(of):
        abort(404)
    if person.role != "supervisor" and of is None:
        abort(404)
    return None if of == person.username else of


def trail(person, data: dict) -> list[str]:
    """The supervisors from the person's own level down to the one shown (exclusive), for the page's trail."""
    above = data.get("above") or []
    if person.role != "supervisor":
        return list(reversed(above))
    return list(reversed(above[:above.index(person.username) + 1])) if person.username in above else []


@bp.get("/supervisor")
@signed_in("supervisor", "nacc", "auditor")
def overview(person):
    """The supervisor's units for a round (the current one by default): rates, a chart, the table, the queue; with
    ``?of=``, the subtree of a supervisor under it (NACC and auditors: of any supervisor, to read)."""
    fy, round_ = requested_round()
    return _page(person, fy, round_, request.args, of=_of(person))


def _page(person, fy, round_, args, remind_form: ReminderForm | None = None, refusal: str | None = None,
          of: str | None = None):
    data = _overview(person, fy, round_, of)
    fy, round_ = data["fiscal_year"], data["round"]
    picker = RoundForm(formdata=MultiDict(args)).setup(fy, round_, data["counts"])
    state = picker.state.data or ""
    rows = [r for r in data["rows"] if not state or r["state"] == state]
    not_reported = [r for r in data["rows"] if r["state"] in NOT_REPORTED]
    no_plan = [r for r in not_reported if not r.get("has_plan", True)]
    queue = [r for r in data["rows"] if r["state"] in TO_REVIEW]
    if remind_form is None:
        locked = round_locked(data)
        remind_form = ReminderForm(
            formdata=None, fiscal_year=fy, round=round_,
            message=default_message(fy, round_, data.get("due_at"), locked=locked, locks_at=data.get("locks_at"),
                                    has_plan=not no_plan or len(no_plan) < len(not_reported),
                                    supervisor=person.name),
            message_no_plan=default_message(fy, round_, data.get("due_at"), locked=locked, has_plan=False,
                                            locks_at=data.get("locks_at"), supervisor=person.name), of=of or "")
    return render_template(
        "supervision/overview.html", data=data, rows=rows, picker=picker, state=state, queue=queue,
        not_reported=not_reported, no_plan=no_plan, with_plan=[r for r in not_reported if r not in no_plan],
        remind_form=remind_form, notice=session.pop("notice", None), of=of, trail=trail(person, data),
        acts=person.role == "supervisor",
        refusal=refusal or session.pop("refusal", None),
        by_state=charts.units_by_state(data["counts"]),
        rates_fig=charts.rates(data["reporting_rate"], data["on_time_rate"]))


def _round_args(fy, round_) -> dict:
    return {"fiscal_year": fy, "round": round_}


@bp.post("/supervisor/reminders")
@signed_in("supervisor")
def remind_all(person):
    """One reminder to every unit of the round that has not reported (open, overdue or locked)."""
    form = ReminderForm()
    try:
        fy, round_ = int(form.fiscal_year.data), int(form.round.data)
    except (TypeError, ValueError):
        abort(400)
    of = _of(person)
    if not form.validate_on_submit():
        return _page(person, fy, round_, {}, remind_form=form, of=of)
    data = _overview(person, fy, round_, of)
    targets = [r for r in data["rows"] if r["state"] in NOT_REPORTED]
    sent, failures = [], []
    for row in targets:
        code = row["unit"]
        message = form.message.data
        if not row.get("has_plan", True) and (form.message_no_plan.data or "").strip():
            message = form.message_no_plan.data
        try:
            api().write("POST", f"/units/{code}/reminders", person.token,
                        {"fiscal_year": fy, "round": round_, "message": message},
                        idempotency_key=f"{form.idempotency_key.data}-{code}")
        except ApiError as error:
            if error.status == 422 and not sent:        # the message itself is refused: show it at the field
                apply_reasons(form, error)
                return _page(person, fy, round_, {}, remind_form=form, refusal=explain(error), of=of)
            if error.status == 401:
                raise
            if error.status == 503:                     # the same form again: a re-send replays the ones sent
                return _page(person, fy, round_, {}, remind_form=form, refusal=explain(error), of=of)
            failures.append(f"{code}: {explain(error)}")
        else:
            sent.append(code)
    if sent:
        session["notice"] = _("A reminder was sent to %(count)s units that have not reported.", count=len(sent))
    elif not failures:
        session["notice"] = _("Every unit has reported: no reminder was needed.")
    if failures:
        session["refusal"] = _("No reminder could be sent to: %(list)s", list="; ".join(failures))
    return redirect(url_for(".overview", **_round_args(fy, round_), **({"of": of} if of else {})))


def _unit_row(person, code: str, fy: int, round_: int) -> tuple[dict, dict]:
    """The overview of the round and the unit's row in it (404 when the supervisor does not oversee it)."""
    data = _overview(person, fy, round_)
    row = next((r for r in data["rows"] if r["unit"] == code), None)
    if row is None:
        abort(404)
    return data, row


def _check_round(fy: int, round_: int):
    if round_ not in fiscal.ROUNDS or not fiscal.MIN_FISCAL_YEAR <= fy <= fiscal.MAX_FISCAL_YEAR:
        abort(404)


@bp.route("/supervisor/units/<code>/<int:fy>/<int:round_>/remind", methods=["GET", "POST"])
@signed_in("supervisor")
def remind(person, code, fy, round_):
    """One reminder to one unit, the message editable."""
    _check_round(fy, round_)
    data, row = _unit_row(person, code, fy, round_)
    form = ReminderForm(fiscal_year=fy, round=round_)
    refusal = None
    if request.method == "GET":
        form.message.data = row_message(data, row, person.name)
    elif form.validate_on_submit():
        try:
            api().write("POST", f"/units/{code}/reminders", person.token,
                        {"fiscal_year": fy, "round": round_, "message": form.message.data},
                        idempotency_key=form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, form)
        else:
            session["notice"] = _("A reminder was sent to %(unit)s.", unit=row.get("name_th") or code)
            return redirect(url_for(".overview", **_round_args(fy, round_)))
    return render_template("supervision/remind.html", form=form, row=row, data=data, refusal=refusal)


def report_under_review(person, code: str, fy: int, round_: int) -> dict:
    """The round's report as it stands (GET /state: its latest entries, each with its item, and the note), and
    its history from the audit trail: each submission, amendment and review with its time and author."""
    state = api().read(f"/units/{code}/state", person.token)["state"]
    items = {i["item_id"]: i for i in state["items"]}
    report = state["reports"].get(f"{fy}:{round_}") or {}
    entries = [{**e, "item": items.get(e["item_id"])} for e in report.get("entries") or []]
    versions, reviews, cursor = [], [], None
    types = "ReportSubmitted,ReportAmended,ReportReviewed"
    for _page in range(50):
        page = api().read(f"/units/{code}/audit", person.token, type=types, cursor=cursor, limit=500)
        for entry in page["entries"]:
            if (entry.get("fiscal_year"), entry.get("round")) != (fy, round_):
                continue
            (reviews if entry["type"] == "ReportReviewed" else versions).append(entry)
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return {"entries": entries, "note": report.get("note"), "versions": versions, "reviews": reviews}


@bp.route("/supervisor/units/<code>/<int:fy>/<int:round_>/review", methods=["GET", "POST"])
@signed_in("supervisor")
def review(person, code, fy, round_):
    """Read a unit's report for the round, then accept it or return it with a comment."""
    _check_round(fy, round_)
    data, row = _unit_row(person, code, fy, round_)
    form = ReviewForm()
    refusal = None
    if form.validate_on_submit():
        try:
            entries = [{"item_id": item_id, "comment": text.strip()} for item_id, text in
                       ((key.removeprefix("entry-comment-"), value) for key, value in request.form.items()
                        if key.startswith("entry-comment-")) if text.strip()]
            api().write("POST", f"/units/{code}/reports/{fy}/{round_}/review", person.token,
                        {"decision": form.decision.data, "comment": (form.comment.data or "").strip() or None,
                         "entries": entries if form.decision.data == "returned" else []},
                        idempotency_key=form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, form)
        else:
            session["notice"] = (_("The report of %(unit)s was accepted.", unit=row.get("name_th") or code)
                                 if form.decision.data == "accepted" else
                                 _("The report of %(unit)s was returned for correction.",
                                   unit=row.get("name_th") or code))
            return redirect(url_for(".overview", **_round_args(fy, round_)))
    report = report_under_review(person, code, fy, round_)
    return render_template("supervision/review.html", form=form, row=row, data=data, report=report,
                           refusal=refusal, can_review=row["state"] in TO_REVIEW,
                           who=lambda actor: who(actor, row, person),
                           said=lambda entry: _named(entry, row, person))


def _named(entry: dict, row: dict, person) -> str:
    """The audit entry's summary (Thai when the page is Thai) with its author's login replaced by the name."""
    from flask_babel import get_locale
    thai = str(get_locale() or "th").startswith("th")
    text = (entry.get("summary_th") if thai else None) or entry.get("summary") or ""
    username = (entry.get("actor") or {}).get("username")
    name = who(entry.get("actor"), row, person)
    if username and name != username:
        text = text.replace(f"โดย {username}", f"โดย {name}").replace(f"by {username}", f"by {name}")
    return text


@bp.route("/supervisor/units/<code>/<int:fy>/<int:round_>/exception", methods=["GET", "POST"])
@signed_in("supervisor", "nacc")
def exception(person, code, fy, round_):
    """Reopen a locked round for one unit until a given time, with a reason."""
    _check_round(fy, round_)
    if person.role == "supervisor":
        data, row = _unit_row(person, code, fy, round_)
        back = url_for(".overview", **_round_args(fy, round_))
    else:
        # the one row: the page of one that starts after the code just before it
        data = api().read(f"/rounds/{fy}/{round_}/compliance", person.token, limit=1,
                          cursor=f"{int(code) - 1:07d}" if code.isdigit() and len(code) == 7 and int(code) else None)
        row = next((r for r in data["rows"] if r["unit"] == code), None) or abort(404)
        back = url_for("nacc.compliance", **_round_args(fy, round_))
    form = ExceptionForm()
    refusal = None
    if request.method == "GET" and row.get("exception_until"):
        form.until.data = fiscal.parse_instant(row["exception_until"])
    if form.validate_on_submit():
        until = form.until.data
        try:
            api().write("POST", f"/units/{code}/reports/{fy}/{round_}/exceptions", person.token,
                        {"until": until.isoformat(), "reason": form.reason.data.strip()},
                        idempotency_key=form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, form)
        else:
            from .formatting import thai_date
            session["notice"] = _("%(unit)s may now report until %(until)s.", unit=row.get("name_th") or code,
                                  until=thai_date(until, time=True))
            return redirect(back)
    return render_template("supervision/exception.html", form=form, row=row, data=data, refusal=refusal,
                           back=back)


def send_export(person, fy: int, round_: int, fmt: str) -> Response:
    """The tracker's export of the round (the person's units only, for a supervisor), sent on as a download."""
    if fmt not in EXPORTS:
        abort(404)
    _check_round(fy, round_)
    answer = api().call("tracker", "GET", f"/rounds/{fy}/{round_}/export.{fmt}", token=person.token, raw=True)
    name = f"compliance-{fy}-{round_}.{fmt}"
    return Response(answer.content, mimetype=EXPORTS[fmt].split(";")[0], headers={
        "Content-Type": answer.headers.get("Content-Type", EXPORTS[fmt]),
        "Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/supervisor/export/<int:fy>/<int:round_>.<fmt>")
@signed_in("supervisor")
def export(person, fy, round_, fmt):
    """The supervisor's units for the round as CSV or XLSX."""
    return send_export(person, fy, round_, fmt)
