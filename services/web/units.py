"""The unit's pages: home with every round, the plan editor, the report form, history, the plan on a date.

Usable by the unit itself; read-only for its supervisor, NACC and auditors (the APIs decide what each may
read: a page shows what the API allows, and the edit forms only to ``person.role == "unit"``).
Every write form carries a hidden ``idempotency_key`` (made when the form is first rendered, kept when it
is shown again after a refusal) and plan changes a hidden ``version`` sent as ``If-Match``, so a change
made meanwhile in another tab is refused (412) instead of overwritten.
"""
from __future__ import annotations

import re
from datetime import datetime, time as dtime

from flask import Blueprint, abort, current_app, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _, lazy_gettext as _l, ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, FieldList, Form, FormField, HiddenField, IntegerField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.widgets import CheckboxInput, ListWidget
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from shared.fiscal import BANGKOK
from shared.framework import FrameworkRegistry

from . import labels
from .auth import ROLE_NAMES, api, now, signed_in
from .forms import KeyedForm, ThaiDateTimeField, done, keyed, new_key, refused
from .errors import ApiError
from .explain import message as explain
from .formatting import MoneyError, money, parse_money, whole_number
from .labels import ITEM_STATUSES, KINDS, REASONS, TARGET_GROUPS

bp = Blueprint("units", __name__)

REQUIRED = _l("This field is required.")
DETAIL_FIELDS = ("name", "kind", "dimension", "sub_dimension", "fiscal_years", "responsible", "objectives",
                 "target_groups", "indicators", "targets", "remarks")
TEXT_FIELDS = ("responsible", "objectives", "indicators", "targets", "remarks")
REPORT_TEXTS = ("outputs", "outcomes", "problems", "suggestions", "response")
MONEY_FIELDS = ("budget_planned", "budget_ordinance", "spent")


# ---- small helpers --------------------------------------------------------------------------

def _code(code: str) -> str:
    if not re.fullmatch(r"\d{7}", code or ""):
        abort(404)
    return code


def _may_edit(person, code: str) -> bool:
    return person.role == "unit" and person.username == code


def _unit(person, code: str, status: dict | None = None) -> str:
    """“ชื่อหน่วยงาน (รหัส)” for the pages' titles, from the tracker's status (which names the unit)."""
    if status is None:
        try:
            status = api().read(f"/units/{code}/status", person.token)
        except ApiError as error:
            if error.status in (401, 403):
                raise
            status = {}
    name = (status or {}).get("name_th")
    return _("%(name)s (%(code)s)", name=name, code=code) if name else code


# Thai combining marks (above/below vowels, tone marks): a cut must not leave one without its consonant
_MARKS = set(range(0x0E31, 0x0E32)) | set(range(0x0E34, 0x0E3B)) | set(range(0x0E47, 0x0E4F))


def _short(text: str, size: int = 28) -> str:
    """``text`` cut to about ``size`` characters, never inside a Thai character cluster, with “…”."""
    if len(text) <= size:
        return text
    cut = size
    while cut < len(text) and (ord(text[cut]) in _MARKS or ord(text[cut - 1]) in range(0x0E40, 0x0E45)):
        cut += 1
    return text if cut >= len(text) else text[:cut].rstrip() + "…"


def reason_words(reason, reason_text=None) -> str:
    """Why an item cannot be done, as a person reads it: the reason's name, or “อื่น ๆ: <text>” for “other”."""
    from . import labels
    text = (reason_text or "").strip()
    if reason == "other":
        return f"{_('Other')}: {text}" if text else str(_("Other"))
    name = labels.name(REASONS, reason)
    return f"{name} ({text})" if text else name










def money_check(form, field):
    """Baht as a person types it; the reason next to the field when it is not an amount."""
    try:
        parse_money(field.data)
    except MoneyError as exc:
        raise ValidationError(str(exc)) from None


def _money(text):
    value = parse_money(text)
    return None if value is None else f"{value:.2f}"


def _frameworks() -> FrameworkRegistry:
    ext = current_app.extensions["ncc_web"]
    if "frameworks" not in ext:
        ext["frameworks"] = FrameworkRegistry.load(ext["settings"].framework_dir)
    return ext["frameworks"]


def _framework(plan: dict):
    registry = _frameworks()
    return registry.get(plan.get("framework") or "") or registry.for_cycle(plan["first_fiscal_year"],
                                                                           plan["last_fiscal_year"])


def framework_title(framework) -> str:
    """The framework's proper name, e.g. “กรอบการดำเนินงานตามแผนปฏิบัติการป้องกันการทุจริต พ.ศ. 2561-2564”."""
    if framework is None:
        return ""
    return _("Framework of the anti-corruption action plan, B.E. %(first)s-%(last)s",
             first=framework.first_fiscal_year, last=framework.last_fiscal_year)


def _th() -> bool:
    locale = get_locale()
    return (locale.language if locale else "th") == "th"


def _named(entry: dict) -> str:
    return entry["name_th"] if _th() or not entry.get("name_en") else entry["name_en"]


def _years(plan: dict) -> list[int]:
    return list(range(plan["first_fiscal_year"], plan["last_fiscal_year"] + 1))


def _state(person, code: str, **params) -> dict:
    """The unit's plan, items and reports (GET /state): every role that may read the unit's status may read it
    (the unit itself, its supervisor, NACC, auditors; shared/identity.py READ_POLICY)."""
    return api().read(f"/units/{code}/state", person.token, **params)


def _items(state: dict) -> dict:
    return {i["item_id"]: i for i in state["state"]["items"]}


def _grouped(plan: dict, items: list) -> list:
    """Items by dimension and sub-dimension of the plan's framework, in the framework's order, with totals."""
    framework = _framework(plan)
    years = [str(y) for y in _years(plan)]
    groups = []
    for dim_code, dim in sorted(framework.dimensions.items()):
        subs = []
        for sub_code, sub in dim["sub_dimensions"].items():
            rows = [i for i in items if i["details"]["dimension"] == dim_code
                    and i["details"]["sub_dimension"] == sub_code]
            if rows:
                subs.append({"code": sub_code, "name": _named(sub), "items": rows})
        rows = [i for i in items if i["details"]["dimension"] == dim_code
                and i["details"]["sub_dimension"] not in dim["sub_dimensions"]]
        if rows:
            subs.append({"code": "", "name": _("Other"), "items": rows})
        if subs:
            groups.append({"code": dim_code, "name": _named(dim), "subs": subs,
                           "totals": _totals([i for s in subs for i in s["items"]], years)})
    known = set(framework.dimensions)
    stray = [i for i in items if i["details"]["dimension"] not in known]
    if stray:
        groups.append({"code": "", "name": _("Other"), "subs": [{"code": "", "name": "", "items": stray}],
                       "totals": _totals(stray, years)})
    return groups


def _totals(items: list, years: list) -> dict:
    from decimal import Decimal
    totals = {y: Decimal(0) for y in years}
    for item in items:
        for y, amount in item["budgets"].items():
            if y in totals:
                totals[y] += Decimal(amount)
    totals["all"] = sum((totals[y] for y in years), Decimal(0))
    return totals


def _item_total(item: dict):
    from decimal import Decimal
    return sum((Decimal(v) for v in item["budgets"].values()), Decimal(0))


def _round(status: dict, fy: int, round_: int) -> dict | None:
    for line in status.get("rounds") or []:
        if line["fiscal_year"] == fy and line["round"] == round_:
            return line
    return None


# ---- forms ----------------------------------------------------------------------------------

class PlanForm(KeyedForm):
    title = StringField(_l("Title of the plan"), validators=[DataRequired(REQUIRED), Length(max=500)])
    first_fiscal_year = IntegerField(_l("First fiscal year (B.E.)"), validators=[
        InputRequired(REQUIRED), NumberRange(2500, 2700, _l("Give a fiscal year in the Buddhist Era, e.g. 2567."))])
    last_fiscal_year = IntegerField(_l("Last fiscal year (B.E.)"), validators=[
        InputRequired(REQUIRED), NumberRange(2500, 2700, _l("Give a fiscal year in the Buddhist Era, e.g. 2567."))])

    def validate_last_fiscal_year(self, field):
        if self.first_fiscal_year.data and field.data and field.data < self.first_fiscal_year.data:
            raise ValidationError(_("The last fiscal year cannot come before the first."))


class PlanChangeForm(PlanForm):
    """Change the declared plan's title or fiscal years, with a reason (PUT /units/{code}/plan, If-Match)."""

    version = HiddenField()
    reason = TextAreaField(_l("Reason for the change"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes, each with its own label (rendered by the template)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _item_form(plan: dict, *, edit: bool, data=None, **kwargs) -> FlaskForm:
    """The add/edit item form for this plan's framework and fiscal years."""
    framework = _framework(plan)
    years = _years(plan)

    class ItemForm(KeyedForm):
        version = HiddenField()
        name = StringField(_l("Name of the project, activity or measure"),
                           validators=[DataRequired(REQUIRED), Length(max=500)])
        kind = SelectField(_l("Kind"), choices=[(k, str(v)) for k, v in KINDS.items()],
                           validators=[DataRequired(REQUIRED)])
        dimension = SelectField(_l("Dimension"), coerce=int, choices=[
            (c, f"{c}. {_named(d)}") for c, d in sorted(framework.dimensions.items())])
        sub_dimension = SelectField(_l("Sub-dimension"), choices=[
            (s, f"{s} {_short(_named(sd))}") for _c, d in sorted(framework.dimensions.items())
            for s, sd in d["sub_dimensions"].items()])
        fiscal_years = MultiCheckboxField(_l("Fiscal years in which it runs"), coerce=int,
                                          choices=[(y, str(y)) for y in years],
                                          validators=[DataRequired(_l("Choose at least one fiscal year."))])
        responsible = StringField(_l("Responsible division"), validators=[Optional(), Length(max=500)])
        objectives = TextAreaField(_l("Objectives"), validators=[Length(max=5000)])
        target_groups = MultiCheckboxField(_l("Target groups"), choices=[(k, str(v)) for k, v in TARGET_GROUPS.items()])
        indicators = TextAreaField(_l("Output and outcome indicators"), validators=[Length(max=5000)])
        targets = TextAreaField(_l("Targets"), validators=[Length(max=5000)])
        remarks = TextAreaField(_l("Remarks"), validators=[Length(max=5000)])

        def validate_sub_dimension(self, field):
            if field.data and not field.data.startswith(f"{self.dimension.data}."):
                raise ValidationError(_("Choose a sub-dimension of the chosen dimension."))

    if edit:
        ItemForm.reason = TextAreaField(_l("Reason for the change"), validators=[DataRequired(REQUIRED),
                                                                              Length(max=2000)])
    else:
        for y in years:
            setattr(ItemForm, f"budget_{y}", StringField(_l("Budget for fiscal year %(year)s (baht)", year=y),
                                                         validators=[money_check]))
    ItemForm.years = years
    ItemForm.sub_names = [(s, _named(sd)) for _c, d in sorted(framework.dimensions.items())
                          for s, sd in d["sub_dimensions"].items()]
    return ItemForm(data=data, **kwargs) if data is not None else ItemForm(**kwargs)


class BudgetForm(KeyedForm):
    version = HiddenField()
    fiscal_year = SelectField(_l("Fiscal year"), coerce=int)
    amount = StringField(_l("New budget (baht)"), validators=[DataRequired(REQUIRED), money_check])
    reason = TextAreaField(_l("Reason for the change"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class RemoveForm(KeyedForm):
    version = HiddenField()
    reason = TextAreaField(_l("Reason for removing it"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class EvidenceForm(KeyedForm):
    """A file to attach to the item (or to its entry in a round's report), public or not."""

    file = FileField(_l("File"), validators=[FileRequired(_l("Choose the file to attach."))])
    attach_to = SelectField(_l("Attach it to"))
    public = BooleanField(_l("Publish it on the unit's public page"))
    description = StringField(_l("What the file shows (optional)"), validators=[Length(max=500)])


class PublicityForm(KeyedForm):
    """Publish a file attached at ``attached_version``, or take it off the public pages, with a reason."""

    attached_version = HiddenField()
    public = HiddenField()
    reason = StringField(_l("Why"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class EntryForm(Form):
    item_id = HiddenField()
    status = SelectField(_l("Status"), choices=list(ITEM_STATUSES.items()))
    reason = SelectField(_l("Why it cannot be done"),
                         choices=[("", _l("(only when it cannot be done)"))] + list(REASONS.items()))
    reason_text = StringField(_l("The reason in words"), validators=[Length(max=2000)])
    budget_planned = StringField(_l("Budget in the plan (baht)"), validators=[money_check])
    budget_ordinance = StringField(_l("Budget in the budget ordinance (baht)"), validators=[money_check])
    spent = StringField(_l("Amount disbursed (baht)"), validators=[money_check])
    outputs = TextAreaField(_l("Outputs"), validators=[Length(max=5000)])
    outcomes = TextAreaField(_l("Outcomes"), validators=[Length(max=5000)])
    problems = TextAreaField(_l("Problems and obstacles"), validators=[Length(max=5000)])
    suggestions = TextAreaField(_l("Suggestions"), validators=[Length(max=5000)])
    response = TextAreaField(_l("Your answer to the reviewer's comment"), validators=[Length(max=2000)])

    def validate_reason(self, field):
        if self.status.data == "not_feasible" and not field.data:
            raise ValidationError(_("Say why the item cannot be done."))
        if self.status.data != "not_feasible" and field.data:
            raise ValidationError(_("A reason is given only when the item cannot be done."))

    def validate_reason_text(self, field):
        if self.status.data == "not_feasible" and self.reason.data == "other" and not (field.data or "").strip():
            raise ValidationError(_("Describe the reason in words."))


class ReportForm(KeyedForm):
    entries = FieldList(FormField(EntryForm))
    note = TextAreaField(_l("Note to the supervisory unit"), validators=[Length(max=5000)])


class AsOfForm(FlaskForm):
    """The day to show the plan on: day, Thai month, Buddhist Era year (a GET form, no CSRF token)."""

    class Meta:
        csrf = False
    date = ThaiDateTimeField(_l("Date"), with_time=False)


# ---- home -----------------------------------------------------------------------------------

@bp.get("/units/<code>")
@signed_in()
def home(person, code):
    """The unit's home: its plan summary and every round's state, late/locked and why, reviews, links."""
    code = _code(code)
    status = api().read(f"/units/{code}/status", person.token)
    form = keyed(PlanForm()) if status.get("plan") is None and _may_edit(person, code) else None
    state = _state(person, code)
    reviews = {key: r["review"] for key, r in state["state"]["reports"].items() if r.get("review")}
    sent = sorted(state["state"].get("reminders") or [], key=lambda r: r["version"], reverse=True)
    read = read_marks(person, code, sent)
    return render_template("units/home.html", code=code, status=status, form=form, reviews=reviews,
                           reminders=sent[:REMINDERS_SHOWN], chasing=_chasing(status, sent), read=read,
                           unread=sum(1 for r in sent if f"{code}:{r['version']}" not in read) if read is not None
                           else None,
                           may_edit=_may_edit(person, code), notice=session.pop("notice", None),
                           unit=_unit(person, code, status), role=person.role)


REMINDERS_SHOWN = 10
NOTIFICATIONS_PAGE = 20


def read_marks(person, code: str, reminders: list) -> set | None:
    """The unit's reminders the person has marked read (None: not the unit's own account, which keeps no marks
    here: a supervisor reading a unit's page marks nothing for it)."""
    if person.role != "unit" or person.username != code or not reminders:
        return None if person.role != "unit" or person.username != code else set()
    try:
        return set(api().call("submission", "GET", "/auth/me/read", token=person.token).body["read"])
    except ApiError as error:
        if error.status == 401:
            raise
        return None                 # the page shows without its read marks rather than not at all


@bp.get("/units/<code>/notifications")
@signed_in("unit")
def notifications(person, code):
    """Every reminder the unit has had, newest first, 20 a page, the unread ones marked, each to mark read."""
    code = _code(code)
    if person.username != code:
        abort(403)
    sent = sorted(_state(person, code)["state"].get("reminders") or [], key=lambda r: r["version"], reverse=True)
    read = read_marks(person, code, sent)
    pages = max(1, -(-len(sent) // NOTIFICATIONS_PAGE))
    try:
        page = min(max(1, int(request.args.get("page", "1"))), pages)
    except ValueError:
        page = 1
    unread = [f"{code}:{r['version']}" for r in sent if f"{code}:{r['version']}" not in read]
    return render_template("units/notifications.html", code=code, unit=_unit(person, code, None), read=read,
                           reminders=sent[(page - 1) * NOTIFICATIONS_PAGE:page * NOTIFICATIONS_PAGE],
                           page=page, pages=pages, total=len(sent), unread=unread, form=KeyedForm(),
                           notice=session.pop("notice", None))


@bp.post("/units/<code>/notifications/read")
@signed_in("unit")
def mark_read(person, code):
    """Mark the reminders named (``id``, one or many: the page's "mark all read" sends every unread one) read."""
    code = _code(code)
    if person.username != code:
        abort(403)
    form = KeyedForm()
    if not form.validate_on_submit():
        abort(400)
    ids = request.form.getlist("id")[:500]
    if not ids:
        abort(400)
    back = url_for("units.notifications", code=code, page=request.form.get("page") or None)
    try:
        api().call("submission", "POST", "/auth/me/read", token=person.token, json={"ids": ids})
    except ApiError as error:
        if error.status == 401:
            raise
        return done(explain(error), back)
    return done(ngettext("%(num)d notification marked read.", "%(num)d notifications marked read.", len(ids)), back)

TO_DO = ("open", "overdue", "returned")       # a round the unit still has to report on, or to correct


def _chasing(status: dict, reminders: list) -> list:
    """The latest reminder of each round the unit still has to report on or correct (the home page's banner)."""
    open_rounds = {(r["fiscal_year"], r["round"]): r for r in status.get("rounds") or [] if r["state"] in TO_DO}
    latest = {}
    for reminder in reminders:                        # newest first
        key = (reminder["fiscal_year"], reminder["round"])
        if key in open_rounds and key not in latest:
            latest[key] = {**reminder, "line": open_rounds[key]}
    return list(latest.values())


@bp.post("/units/<code>/plan/declare")
@signed_in("unit")
def declare(person, code):
    """Declare the plan (its title and fiscal years): PUT /units/{code}/plan."""
    code = _code(code)
    if not _may_edit(person, code):
        abort(403)
    form, refusal = PlanForm(), None
    if form.validate_on_submit():
        body = {"title": form.title.data.strip(), "first_fiscal_year": form.first_fiscal_year.data,
                "last_fiscal_year": form.last_fiscal_year.data}
        try:
            api().write("PUT", f"/units/{code}/plan", person.token, body, idempotency_key=form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, form)
        else:
            return done(_("The plan has been declared. Now add its projects, activities and measures."),
                         url_for("units.plan", code=code))
    else:
        refusal = _("Please correct the fields marked below.")
    status = api().read(f"/units/{code}/status", person.token)
    return render_template("units/home.html", code=code, status=status, form=keyed(form), may_edit=True,
                           refusal=refusal, unit=_unit(person, code, status), role=person.role)


# ---- the plan -------------------------------------------------------------------------------

@bp.route("/units/<code>/plan", methods=["GET", "POST"])
@signed_in()
def plan(person, code):
    """The plan: items grouped by dimension and sub-dimension, a budget per fiscal year, totals; for the unit, the
    form to change the plan's title or period with a reason (PUT /units/{code}/plan with If-Match)."""
    code = _code(code)
    if request.method == "POST" and not _may_edit(person, code):
        abort(403)
    state = _state(person, code)
    plan_ = state["state"]["plan"]
    form, refusal, conflict = None, None, False
    if plan_ and _may_edit(person, code):
        form = PlanChangeForm(**({} if request.method == "POST" else {"formdata": None}))
        if request.method == "GET":
            form.title.data = plan_["title"]
            form.first_fiscal_year.data = plan_["first_fiscal_year"]
            form.last_fiscal_year.data = plan_["last_fiscal_year"]
        elif not form.validate_on_submit():
            refusal = _("Please correct the fields marked below.")
        elif (form.title.data.strip(), form.first_fiscal_year.data, form.last_fiscal_year.data) == (
                plan_["title"], plan_["first_fiscal_year"], plan_["last_fiscal_year"]):
            refusal = _("Nothing would change: the plan already has this title and these fiscal years.")
        else:
            body = {"title": form.title.data.strip(), "first_fiscal_year": form.first_fiscal_year.data,
                    "last_fiscal_year": form.last_fiscal_year.data, "reason": form.reason.data.strip()}
            try:
                api().write("PUT", f"/units/{code}/plan", person.token, body,
                            idempotency_key=form.idempotency_key.data, if_match=form.version.data)
            except ApiError as error:
                conflict = error.status == 412
                refusal = refused(error, form)
                outside = _outside(state, form.first_fiscal_year.data, form.last_fiscal_year.data)
                if error.rule == "items_outside_cycle" and outside:
                    refusal = f"{refusal} " + _("Outside the new period: %(items)s.", items="; ".join(outside))
            else:
                return done(_("The plan's title and period have been changed."), url_for("units.plan", code=code))
        keyed(form, state["state"]["version"])
    elif request.method == "POST":
        abort(404)                       # no plan to change yet: it is declared on the home page
    return _plan_page(person, code, state, template="units/plan.html", form=form, refusal=refusal,
                      conflict=conflict)


def _outside(state: dict, first: int, last: int) -> list:
    """“<item> (ปีงบประมาณ 2569)” for each item in the plan that runs in a fiscal year outside first..last."""
    out = []
    for i in state["state"]["items"]:
        years = [y for y in i["details"]["fiscal_years"] if not first <= y <= last]
        if not i["removed"] and years:
            out.append(_("%(item)s (fiscal year %(years)s)", item=i["details"]["name"],
                         years=", ".join(str(y) for y in years)))
    return out


def _plan_page(person, code, state, *, template, **extra):
    context = {"code": code, "state": state, "may_edit": _may_edit(person, code), "unit": _unit(person, code),
               "notice": session.pop("notice", None) if request.method == "GET" else None}
    if state["state"]["plan"]:
        plan_ = state["state"]["plan"]
        active = [i for i in state["state"]["items"] if not i["removed"]]
        context.update(plan=plan_, years=[str(y) for y in _years(plan_)], groups=_grouped(plan_, active),
                       totals=_totals(active, [str(y) for y in _years(plan_)]), item_total=_item_total,
                       removed=[i for i in state["state"]["items"] if i["removed"]],
                       framework=_framework(plan_), framework_title=framework_title(_framework(plan_)))
    context.update(extra)
    return render_template(template, **context)


def _require_plan(person, code):
    state = _state(person, code)
    if not state["state"]["plan"]:
        return state, None
    return state, state["state"]["plan"]


@bp.route("/units/<code>/plan/items/new", methods=["GET", "POST"])
@signed_in("unit")
def add_item(person, code):
    """Add an item: POST /units/{code}/plan/items."""
    code = _code(code)
    if not _may_edit(person, code):
        abort(403)
    state, plan_ = _require_plan(person, code)
    if plan_ is None:
        return done(_("Declare the plan (its title and fiscal years) first."), url_for("units.home", code=code))
    form = _item_form(plan_, edit=False)
    refusal = None
    if request.method == "POST":
        if form.validate_on_submit():
            budgets = {}
            for y in form.years:
                amount = _money(getattr(form, f"budget_{y}").data)
                if amount is not None and y in form.fiscal_years.data:
                    budgets[str(y)] = amount
            body = _details(form)
            body["budgets"] = budgets
            try:
                answer = api().write("POST", f"/units/{code}/plan/items", person.token, body,
                                     idempotency_key=form.idempotency_key.data, if_match=form.version.data)
            except ApiError as error:
                refusal = refused(error, form, {f"budgets.{y}": f"budget_{y}" for y in form.years} |
                                   {f"budgets.{y}.value": f"budget_{y}" for y in form.years} |
                                   {f"budgets.{y}.key": f"budget_{y}" for y in form.years})
            else:
                return done(_("“%(name)s” has been added to the plan.", name=body["name"]),
                             url_for("units.plan", code=code) + f"#item-{answer.body.get('item_id', '')}")
        else:
            refusal = _("Please correct the fields marked below.")
    keyed(form, state["state"]["version"])
    return render_template("units/item_add.html", code=code, form=form, plan=plan_, refusal=refusal,
                           unit=_unit(person, code))


def _details(form, current: dict | None = None) -> dict:
    """The item's details from the form; with ``current``, only those that differ from it."""
    out = {"name": form.name.data.strip(), "kind": form.kind.data, "dimension": form.dimension.data,
           "sub_dimension": form.sub_dimension.data, "fiscal_years": sorted(form.fiscal_years.data or []),
           "target_groups": [g for g in TARGET_GROUPS if g in (form.target_groups.data or [])]}
    for name in TEXT_FIELDS:
        out[name] = (getattr(form, name).data or "").strip()
    if current is None:
        return {k: v for k, v in out.items() if v not in ("",) or k in ("name",)}
    changed = {}
    for key, value in out.items():
        old = current.get(key)
        if key in TEXT_FIELDS:
            old = old or ""
        elif key in ("fiscal_years", "target_groups"):
            old = old or []
            if key == "fiscal_years":
                old = sorted(old)
        if old != value:
            changed[key] = value
    return changed


def _item_or_404(state, item_id):
    item = _items(state).get(item_id)
    if item is None:
        abort(404)
    return item


@bp.route("/units/<code>/plan/items/<item_id>", methods=["GET", "POST"])
@signed_in()
def item(person, code, item_id):
    """One item: its details and budgets; for the unit, forms to edit it, change a year's budget, remove it."""
    code = _code(code)
    state, plan_ = _require_plan(person, code)
    if plan_ is None:
        abort(404)
    current = _item_or_404(state, item_id)
    action = request.form.get("action") if request.method == "POST" else None
    if action is not None and (not _may_edit(person, code) or action not in ("edit", "budget", "remove",
                                                                             "evidence", "publicity")):
        abort(403)

    def posted(name):       # only the form that was sent reads the request; the others show the item
        return {} if action == name else {"formdata": None}

    edit_form = _item_form(plan_, edit=True, data=dict(current["details"]), prefix="edit", **posted("edit"))
    budget_form = BudgetForm(prefix="budget", **posted("budget"))
    remove_form = RemoveForm(prefix="remove", **posted("remove"))
    budget_form.fiscal_year.choices = [(y, str(y)) for y in current["details"]["fiscal_years"]]
    evidence_form = EvidenceForm(prefix="evidence", **posted("evidence"))
    evidence_form.attach_to.choices = [("plan", _("The item in the plan"))] + [
        (f"{y}-{r}", _("Its entry in the report of %(round)s, FY %(year)s", round=labels.ROUNDS[r], year=y))
        for y in current["details"]["fiscal_years"] for r in (6, 12)]
    publicity_form = PublicityForm(prefix="publicity", **posted("publicity"))
    refusal, conflict = None, False
    sent = {"edit": edit_form, "budget": budget_form, "remove": remove_form, "evidence": evidence_form,
            "publicity": publicity_form}.get(action)
    if sent is not None and not sent.validate_on_submit():
        refusal = _("Please correct the fields marked below.")
    elif action == "publicity":
        version_ = whole_number(publicity_form.attached_version.data)
        public = publicity_form.public.data == "true"
        try:
            api().write("PUT", f"/units/{code}/evidence/{version_ or 0}/publicity", person.token,
                        {"public": public, "reason": publicity_form.reason.data.strip()},
                        idempotency_key=publicity_form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, publicity_form)
        else:
            return done(_("The file is now on the unit's public page.") if public else
                        _("The file has been taken off the unit's public page. It stays in the history."),
                        url_for("units.item", code=code, item_id=item_id) + "#evidence-h")
    elif action == "evidence":
        fields = {"item_id": item_id, "public": "true" if evidence_form.public.data else "false",
                  "description": (evidence_form.description.data or "").strip() or None}
        if evidence_form.attach_to.data != "plan":
            fields["fiscal_year"], fields["round"] = evidence_form.attach_to.data.split("-")
        try:
            api().upload(f"/units/{code}/evidence", person.token, fields, evidence_form.file.data,
                         idempotency_key=evidence_form.idempotency_key.data)
        except ApiError as error:
            refusal = refused(error, evidence_form, {"file": "file", "fiscal_year": "attach_to", "round": "attach_to"})
            if error.status in (413, 415):
                evidence_form.file.errors = list(evidence_form.file.errors or []) + [explain(error)]
        else:
            return done(_("“%(name)s” has been attached.", name=evidence_form.file.data.filename),
                        url_for("units.item", code=code, item_id=item_id) + "#evidence-h")
    elif sent is not None:
        if action == "edit":
            changed = _details(edit_form, current["details"])
            call = ("PATCH", f"/units/{code}/plan/items/{item_id}",
                    {**changed, "reason": edit_form.reason.data.strip()})
            notice = _("The item has been changed.")
            target = url_for("units.plan", code=code) + f"#item-{item_id}"
        elif action == "budget":
            fy = budget_form.fiscal_year.data
            changed = True
            call = ("PUT", f"/units/{code}/plan/items/{item_id}/budgets/{fy}",
                    {"amount": _money(budget_form.amount.data), "reason": budget_form.reason.data.strip()})
            notice = _("The budget for fiscal year %(year)s has been changed.", year=fy)
            target = url_for("units.plan", code=code) + f"#item-{item_id}"
        else:
            changed = True
            call = ("DELETE", f"/units/{code}/plan/items/{item_id}", {"reason": remove_form.reason.data.strip()})
            notice = _("“%(name)s” has been removed from the plan. It stays in the history.",
                     name=current["details"]["name"])
            target = url_for("units.plan", code=code)
        if not changed:
            refusal = _("Nothing would change: the item already reads like this.")
        else:
            try:
                api().write(call[0], call[1], person.token, call[2], idempotency_key=sent.idempotency_key.data,
                            if_match=sent.version.data)
            except ApiError as error:
                conflict = error.status == 412
                refusal = refused(error, sent)
            else:
                return done(notice, target)
    version = state["state"]["version"]
    for form in (edit_form, budget_form, remove_form, evidence_form):
        keyed(form, version)
    files = [e for e in state["state"].get("evidence") or [] if e["item_id"] == item_id][::-1]
    return render_template("units/item.html", code=code, plan=plan_, item=current, edit_form=edit_form,
                           evidence_form=evidence_form, files=files, publicity_form=publicity_form,
                           new_key=new_key,
                           evidence_limit=current_app.extensions["ncc_web"]["settings"].evidence_max_bytes,
                           budget_form=budget_form, remove_form=remove_form, refusal=refusal, conflict=conflict,
                           may_edit=_may_edit(person, code) and not current["removed"],
                           framework=_framework(plan_), action=action, unit=_unit(person, code),
                           notice=session.pop("notice", None) if request.method == "GET" else None)


# ---- reports --------------------------------------------------------------------------------

def _report_versions(person, code: str, fy: int, round_: int) -> list:
    """This round's submissions and amendments from the audit trail, each with what changed."""
    out, cursor = [], None
    for _page in range(20):
        page = api().read(f"/units/{code}/audit", person.token, type="ReportSubmitted,ReportAmended",
                          cursor=cursor, limit=500)
        out.extend(e for e in page.get("entries") or []
                   if (e.get("fiscal_year"), e.get("round")) == (fy, round_))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return out


def _entry_rows(state: dict, fy: int) -> list:
    return [i for i in state["state"]["items"] if not i["removed"] and fy in i["details"]["fiscal_years"]]


@bp.route("/units/<code>/reports/<int:fy>/<int:round_>", methods=["GET", "POST"])
@signed_in()
def report(person, code, fy, round_):
    """A round's report: one row per active item scheduled that year; amending pre-fills the latest one."""
    code = _code(code)
    if round_ not in (6, 12):
        abort(404)
    status = api().read(f"/units/{code}/status", person.token)
    line = _round(status, fy, round_)
    if line is None:
        abort(404)
    state = _state(person, code)
    may_edit = _may_edit(person, code)
    if not state["state"]["plan"]:
        return render_template("units/report.html", code=code, fy=fy, round_=round_, line=line, state=state,
                               form=None, rows=[], may_edit=False, versions=_report_versions(person, code, fy, round_),
                               notice=session.pop("notice", None), unit=_unit(person, code, status))
    items = _entry_rows(state, fy)
    latest = state["state"]["reports"].get(f"{fy}:{round_}")
    form = ReportForm()
    refusal = None
    if request.method == "POST":
        if not may_edit:
            abort(403)
        by_id = {i["item_id"]: i for i in items}
        if form.validate_on_submit():
            body = {"entries": [], "note": (form.note.data or "").strip() or None}
            rows_sent = []                     # body entry n is form row rows_sent[n]
            for n, sub in enumerate(form.entries):
                e = sub.form
                if e.item_id.data not in by_id:
                    continue
                line_ = {"item_id": e.item_id.data, "status": e.status.data}
                if e.status.data == "not_feasible":
                    line_["reason"] = e.reason.data
                    if (e.reason_text.data or "").strip():
                        line_["reason_text"] = e.reason_text.data.strip()
                for name in MONEY_FIELDS:
                    amount = _money(getattr(e, name).data)
                    if amount is not None:
                        line_[name] = amount
                for name in REPORT_TEXTS:
                    text = (getattr(e, name).data or "").strip()
                    if text:
                        line_[name] = text
                body["entries"].append(line_)
                rows_sent.append(n)
            try:
                answer = api().write("PUT", f"/units/{code}/reports/{fy}/{round_}", person.token, body,
                                     idempotency_key=form.idempotency_key.data)
            except ApiError as error:
                refusal = refused(error)
                _report_reasons(form, error, rows_sent)
            else:
                session["recorded"] = f"{code}:{fy}:{round_}"
                amendment = (answer.body or {}).get("amendment") or 0
                text = (_("The report has been recorded.") if not amendment else
                        _("The correction has been recorded (amendment %(n)s).", n=amendment))
                if (answer.body or {}).get("late"):
                    text += " " + _("It was recorded as late.")
                return done(text, url_for("units.report", code=code, fy=fy, round_=round_))
        else:
            refusal = _("Please correct the fields marked below.")
    else:
        previous = {e["item_id"]: e for e in (latest or {}).get("entries", [])}
        for item_ in items:
            old = previous.get(item_["item_id"], {})
            form.entries.append_entry({
                "item_id": item_["item_id"], "status": old.get("status", "not_started"),
                "reason": old.get("reason") or "", "reason_text": old.get("reason_text") or "",
                "budget_planned": money(old.get("budget_planned") or item_["budgets"].get(str(fy), "")),
                "budget_ordinance": money(old.get("budget_ordinance")), "spent": money(old.get("spent")),
                **{k: old.get(k) or "" for k in REPORT_TEXTS}})
        form.note.data = (latest or {}).get("note") or ""
    keyed(form)
    recorded = session.pop("recorded", None) == f"{code}:{fy}:{round_}" if request.method == "GET" else False
    rows = []
    by_id = {i["item_id"]: i for i in state["state"]["items"]}
    for sub in form.entries:
        rows.append((sub.form, by_id.get(sub.form.item_id.data)))
    # what the reviewer said of each entry, shown beside it while the report is returned
    review = (latest or {}).get("review") or {}
    entry_comments = {c["item_id"]: c["comment"] for c in review.get("entries") or []} \
        if review.get("decision") == "returned" else {}
    return render_template("units/report.html", code=code, fy=fy, round_=round_, line=line, state=state,
                           latest=latest, form=form, rows=rows, may_edit=may_edit, refusal=refusal,
                           fresh=request.method == "GET" and not recorded, recorded=recorded,
                           items=by_id, versions=_report_versions(person, code, fy, round_),
                           posted=request.method == "POST", unit=_unit(person, code, status),
                           entry_comments=entry_comments,
                           notice=session.pop("notice", None) if request.method == "GET" else None)


def _report_reasons(form: ReportForm, error: ApiError, rows_sent: list) -> None:
    """``entries.N.field`` reasons on the field of the form row that became entry N; the rest above the form."""
    from .explain import field_reasons
    for name, reasons in field_reasons(error).items():
        parts = name.split(".")
        target = None
        if parts[0] == "entries" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(rows_sent):
            target = getattr(form.entries[rows_sent[int(parts[1])]].form, parts[2], None)
        elif parts[0] == "note":
            target = form.note
        if target is not None and parts[-1] != "item_id":
            target.errors = list(target.errors or []) + reasons
        else:
            form.form_errors.extend(reasons)


# ---- receipts and evidence -------------------------------------------------------------------

@bp.get("/units/<code>/evidence/<sha256>")
@signed_in()
def evidence(person, code, sha256):
    """An evidence file the unit attached, as the tracker serves it to those who may read the unit."""
    code = _code(code)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        abort(404)
    from .public import passed_on
    response = passed_on(api().call("tracker", "GET", f"/units/{code}/evidence/{sha256}", token=person.token,
                                    raw=True))
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


RECEIPT_EVENTS = ("ReportSubmitted", "ReportAmended")


@bp.get("/units/<code>/receipts/<int:version>.<any(pdf, json):kind>")
@signed_in()
def receipt(person, code, version, kind):
    """The signed receipt of what the unit filed at a version: a one-page signed PDF, or the JSON its write got
    (which ``python -m shared.offline receipt.json --key keys.json`` checks)."""
    code = _code(code)
    path = f"/units/{code}/receipts/{version}" + (".pdf" if kind == "pdf" else "")
    answer = api().call("tracker", "GET", path, token=person.token, raw=True)
    mimetype = "application/pdf" if kind == "pdf" else "application/json"
    return current_app.response_class(answer.content, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="receipt-{code}-v{version}.{kind}"'})


# ---- history --------------------------------------------------------------------------------

@bp.get("/units/<code>/history")
@signed_in()
def history(person, code):
    """The audit trail, newest first, 50 a page; each change said in words with its old and new values.
    ``cursor`` is the position of the newest entry the page shows (the API pages oldest first from a position)."""
    code = _code(code)
    state = _state(person, code)
    latest = int(state.get("version") or state["state"].get("version") or 0)
    cursor = whole_number(request.args.get("cursor"), most=latest)
    top = cursor or latest
    start = max(1, top - HISTORY_PAGE + 1)
    if top:
        page = api().read(f"/units/{code}/audit", person.token, cursor=start, limit=top - start + 1)
        entries = [e for e in page.get("entries") or [] if e["position"] <= top][::-1]
    else:
        entries = []
    items = _items(state)
    plan_ = state["state"]["plan"]
    return render_template("units/history.html", code=code, page={"entries": entries}, items=items, plan=plan_,
                           framework=_framework(plan_) if plan_ else None, form=AsOfForm(formdata=None),
                           cursor=cursor, earlier=start - 1 if start > 1 else None, unit=_unit(person, code),
                           notice=session.pop("notice", None), receipt_events=RECEIPT_EVENTS)


HISTORY_PAGE = 50


def _as_of_day(form: AsOfForm):
    """The day the form names (or an old ``?date=YYYY-MM-DD`` link), or None with the reason on the field."""
    if form.date.data is not None:
        return form.date.data.date()
    if form.date.process_errors or form.date.errors:
        form.date.errors = list(form.date.process_errors)
        return None
    old = (request.args.get("date") or "").strip()
    if old:
        try:
            return datetime.strptime(old, "%Y-%m-%d").date()
        except ValueError:
            pass
        form.date.errors = [_("Give the day, the month and the year.")]
    elif any(k.startswith("date-") and request.args.get(k) for k in request.args):
        form.date.errors = [_("Give the day, the month and the year.")]
    return None


@bp.get("/units/<code>/as-of")
@signed_in()
def as_of(person, code):
    """The plan and reports exactly as they stood at the end of a chosen day (Bangkok time)."""
    code = _code(code)
    form = AsOfForm(request.args)
    day = _as_of_day(form)
    unit = _unit(person, code)
    if day is None:
        return render_template("units/as_of.html", code=code, form=form, state=None, day=None, unit=unit)
    instant = datetime.combine(day, dtime(23, 59, 59), tzinfo=BANGKOK)
    form.date.data = datetime.combine(day, dtime(0, 0), tzinfo=BANGKOK)     # the selects show the day chosen
    form.date._raw = None
    try:
        state = _state(person, code, as_of=instant.isoformat())
    except ApiError as error:
        if error.status not in (400, 422):
            raise
        form.date.errors = [_("Give the day, the month and the year.")]
        return render_template("units/as_of.html", code=code, form=form, state=None, day=None, unit=unit)
    context = {}
    if state["state"]["plan"]:
        plan_ = state["state"]["plan"]
        active = [i for i in state["state"]["items"] if not i["removed"]]
        years = [str(y) for y in _years(plan_)]
        context = {"plan": plan_, "years": years, "groups": _grouped(plan_, active), "totals": _totals(active, years),
                   "item_total": _item_total}
    reports = sorted(state["state"]["reports"].values(), key=lambda r: (r["fiscal_year"], r["round"]))
    today = now().astimezone(BANGKOK).date()
    return render_template("units/as_of.html", code=code, form=form, state=state, day=day, reports=reports,
                           items=_items(state), future=day > today, unit=unit, **context)


# ---- words for the audit trail --------------------------------------------------------------

ITEM_STATES = {"active": _l("In the plan"), "removed": _l("Removed")}


def describe_field(field: str, items: dict) -> str:
    """``entries.<id>.spent`` -> “<item name>: Amount disbursed”; ``budgets.2569`` -> “Budget for FY 2569”."""
    parts = field.split(".")
    if parts[0] == "entries" and len(parts) >= 2:
        item_ = items.get(parts[1])
        who = item_["details"]["name"] if item_ else parts[1]
        if len(parts) == 2:
            return _("Report line for “%(item)s”", item=who)
        return f"{who}: {labels.FIELD_NAMES.get(parts[2], parts[2])}"
    if parts[0] == "budgets" and len(parts) == 2:
        return _("Budget for fiscal year %(year)s", year=parts[1])
    return str(labels.FIELD_NAMES.get(field, field))


def describe_value(field: str, value, framework=None) -> str:
    """A value of the audit trail as a person reads it (names for codes, baht, Buddhist Era dates)."""
    from . import formatting, labels
    if value is None or value == "" or value == []:
        return "–"
    last = field.split(".")[-1]
    if isinstance(value, dict):
        if field == "budgets":
            return "; ".join(f"{y}: {formatting.money(v)}" for y, v in sorted(value.items()))
        shown = []
        for key in ("status", "reason", "reason_text", "budget_planned", "budget_ordinance", "spent",
                    "outputs", "outcomes", "problems", "suggestions"):
            if key == "reason_text" and value.get("reason"):
                continue                                   # said with the reason: “อื่น ๆ: <text>”
            if key == "reason" and value.get(key):
                shown.append(f"{labels.FIELD_NAMES[key]}: {reason_words(value[key], value.get('reason_text'))}")
            elif value.get(key) not in (None, ""):
                shown.append(f"{labels.FIELD_NAMES[key]}: {describe_value('entries.x.' + key, value[key])}")
        return "; ".join(shown) or "–"
    if isinstance(value, list):
        if last == "target_groups":
            return ", ".join(labels.name(TARGET_GROUPS, v) for v in value)
        return ", ".join(str(v) for v in value)
    if last == "kind":
        return labels.name(KINDS, value)
    if last == "status" and field.startswith("entries."):
        return labels.name(ITEM_STATUSES, value)
    if last == "status":
        return str(ITEM_STATES.get(value, value))
    if last == "reason" and field.startswith("entries."):
        return reason_words(value)
    if last == "review":
        return labels.name(labels.DECISIONS, value)
    if last in ("budget_planned", "budget_ordinance", "spent", "amount") or field.startswith("budgets."):
        return formatting.money(value) + " " + _("baht")
    if last in ("exception_until", "until", "due_at", "locks_at", "opens_at"):
        return formatting.thai_date(value, time=True)
    if last == "dimension" and framework is not None and value in framework.dimensions:
        return f"{value}. {_named(framework.dimensions[value])}"
    if last == "sub_dimension" and framework is not None:
        for d in framework.dimensions.values():
            if value in d["sub_dimensions"]:
                return f"{value} {_named(d['sub_dimensions'][value])}"
    if last == "framework":
        found = _frameworks().get(str(value))
        return framework_title(found) if found else str(value)
    return str(value)


def _entry_summary(entry: dict, lang: str, items: dict) -> str:
    """The entry's one line in the page's language. A plan change's reason is shown on its own line from
    ``entry["reason"]``, so the line of an item's change is said here from the entry's fields (the API's summary
    repeats the reason); any other entry reads as the API's summary."""
    from . import formatting, labels
    changed = {c["field"]: c["new"] for c in entry.get("changes") or []}
    kind_ = entry.get("type")
    if kind_ == "ReportingExceptionGranted" and changed.get("exception_until"):
        return _("Reports for fiscal year %(year)s, %(round)s accepted until %(date)s",
                 year=entry.get("fiscal_year"), round=labels.name(labels.ROUNDS, entry.get("round")),
                 date=formatting.thai_date(changed["exception_until"], time=True))
    if kind_ == "ReportingWindowSet" and changed.get("due_at"):
        return _("Reporting window for fiscal year %(year)s, %(round)s: opens %(opens)s, due %(due)s, locks "
                 "%(locks)s", year=entry.get("fiscal_year"), round=labels.name(labels.ROUNDS, entry.get("round")),
                 opens=formatting.thai_date(changed.get("opens_at"), time=True),
                 due=formatting.thai_date(changed.get("due_at"), time=True),
                 locks=formatting.thai_date(changed.get("locks_at"), time=True))
    if kind_ == "ItemAdded" and changed.get("name"):
        return _("%(kind)s “%(name)s” added (sub-dimension %(sub)s)", kind=labels.name(KINDS, changed.get("kind")),
                 name=changed["name"], sub=changed.get("sub_dimension") or "–")
    if kind_ == "PlanDeclared" and changed.get("title"):
        return _("Plan drawn up: %(title)s (fiscal years B.E. %(first)s–%(last)s)", title=changed["title"],
                 first=changed.get("first_fiscal_year"), last=changed.get("last_fiscal_year"))
    item_ = items.get(entry.get("item_id") or "")
    if kind_ not in ("ItemEdited", "ItemBudgetChanged", "ItemRemoved") or item_ is None:
        return (entry.get("summary_th") if lang == "th" and entry.get("summary_th") else entry.get("summary")) or ""
    name = changed.get("name") or item_["details"]["name"]
    kind = labels.name(KINDS, changed.get("kind") or item_["details"]["kind"])
    if entry["type"] == "ItemEdited":
        return _("Details of the %(kind)s “%(name)s” changed", kind=kind, name=name)
    if entry["type"] == "ItemBudgetChanged":
        return _("Budget for fiscal year %(year)s of the %(kind)s “%(name)s” changed", year=entry.get("fiscal_year"),
                 kind=kind, name=name)
    return _("%(kind)s “%(name)s” removed from the plan", kind=kind, name=name)


@bp.context_processor
def _words():
    return {"event_title": lambda t: str(labels.EVENT_TYPES.get(t, t)), "describe_field": describe_field,
            "describe_value": describe_value, "entry_summary": _entry_summary,
            "dim_name": _dim_name, "reason_words": reason_words, "framework_title": framework_title,
            "sub_name": _sub_name, "role_label": lambda r: str(ROLE_NAMES.get(r, r))}


def _dim_name(framework, code) -> str:
    d = framework.dimensions.get(code) if framework else None
    return f"{code}. {_named(d)}" if d else str(code)


def _sub_name(framework, code) -> str:
    for d in (framework.dimensions.values() if framework else []):
        if code in d["sub_dimensions"]:
            return f"{code} {_named(d['sub_dimensions'][code])}"
    return str(code)
