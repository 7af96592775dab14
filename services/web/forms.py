"""What every write form of the web app shares: its Idempotency-Key, the version it was read at, post/redirect/get,
and an API refusal put next to the fields it concerns."""
from __future__ import annotations

import uuid
from datetime import datetime

from babel.dates import get_month_names
from flask import redirect, session
from flask_babel import get_locale, gettext
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms.fields import Field, HiddenField
from wtforms.validators import StopValidation
from wtforms.utils import unset_value

from shared.fiscal import BANGKOK, BE_OFFSET

from .auth import apply_reasons
from .errors import ApiError
from .explain import message as explain


def new_key() -> str:
    """A fresh Idempotency-Key for a write form (kept in the form when it is shown again after a refusal)."""
    return str(uuid.uuid4())


class KeyedForm(FlaskForm):
    """A write form: it carries the Idempotency-Key made when it was first shown."""

    idempotency_key = HiddenField(default=new_key)


def keyed(form: FlaskForm | None, version=None) -> FlaskForm | None:
    """A form shown for the first time gets its Idempotency-Key (and the version it was read at, for If-Match)."""
    if form is None:
        return None
    if not form.idempotency_key.data:
        form.idempotency_key.data = new_key()
    if version is not None and hasattr(form, "version") and not form.version.data:
        form.version.data = str(version)
    return form


def done(text: str, target: str):
    """Post/redirect/get: the notice is shown once, on the next page."""
    session["notice"] = text
    return redirect(target)


def _replace(field, value: str) -> None:
    """Change what a hidden field will render (WTForms renders what was posted before its data)."""
    field.data = value
    field.raw_data = [value]


def refused(error: ApiError, form: FlaskForm | None = None, names: dict | None = None) -> str:
    """The sentence to show beside the form for an API refusal, its reasons put on the fields (``names``: API
    field -> form field). 401, 403 and 404 go to their own page; anything else, an unreachable API included,
    stays on the form with what was typed, to be sent again with the same key."""
    if error.status in (401, 403, 404):
        raise error
    if error.status == 422 and "Idempotency-Key" in error.message:
        # an earlier send of this very form was recorded (its answer was lost) and the form has changed since:
        # what is typed now is a new change, which needs a key of its own
        if form is not None and hasattr(form, "idempotency_key"):
            _replace(form.idempotency_key, new_key())
        return gettext("An earlier send of this form was already recorded. Check the page as it stands now; "
                       "send the form again only if something is still to change.")
    if form is not None:
        apply_reasons(form, error, names)
        if error.status == 412 and hasattr(form, "version"):
            _replace(form.version, str(error.body.get("current_version") or form.version.data))
    return explain(error)


# ---- dates as Thai people write them ------------------------------------------------------------------------

PARTS = ("day", "month", "year", "time")


class ThaiDateWidget:
    """Day, Thai month, Buddhist Era year (and a 24-hour time): no picker showing Common Era years or AM/PM."""

    def __call__(self, field, **kwargs):
        raw = field.raw_parts()
        language = get_locale().language if get_locale() else "th"
        months = get_month_names("wide", locale=language)
        described = kwargs.get("aria-describedby") or kwargs.get("aria_describedby")
        extra = f' aria-describedby="{escape(described)}"' if described else ""
        invalid = ' aria-invalid="true"' if field.errors else ""

        def select(part, label, options):
            rows = [f'<option value=""{" selected" if not raw[part] else ""}>–</option>'] + [
                f'<option value="{value}"{" selected" if raw[part] == str(value) else ""}>{escape(text)}</option>'
                for value, text in options]
            return (f'<span class="part"><label for="{field.id}-{part}">{escape(label)}</label>'
                    f'<select id="{field.id}-{part}" name="{field.name}-{part}"{extra}{invalid}>{"".join(rows)}'
                    f'</select></span>')

        def text(part, label, size, placeholder):
            return (f'<span class="part"><label for="{field.id}-{part}">{escape(label)}</label>'
                    f'<input type="text" inputmode="numeric" id="{field.id}-{part}" name="{field.name}-{part}" '
                    f'value="{escape(raw[part])}" size="{size}" maxlength="{size + 1}" '
                    f'placeholder="{escape(placeholder)}"{extra}{invalid}></span>')

        html = [f'<span class="thai-date" id="{field.id}" role="group">',
                select("day", gettext("Day"), [(d, d) for d in range(1, 32)]),
                select("month", gettext("Month"), [(m, months[m]) for m in range(1, 13)]),
                text("year", gettext("Year (BE)"), 4, "2569")]
        if field.with_time:
            html.append(text("time", gettext("Time (24-hour)"), 5, field.default_time))
        html.append("</span>")
        return Markup("".join(html))


def date_required(form, field):
    """A ThaiDateTimeField that must name a date: when its parts are not one, its own reason alone is shown."""
    if field.process_errors:
        raise StopValidation()
    if field.data is None:
        raise StopValidation(gettext("This field is required."))


class ThaiDateTimeField(Field):
    """A date and time as Thai people write it: day, Thai month, Buddhist Era year, 24-hour time
    (``default_time`` when left empty); ``data`` is an aware Bangkok datetime, or None."""

    widget = ThaiDateWidget()

    def __init__(self, label=None, validators=None, with_time=True, default_time="23:59", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.with_time = with_time
        self.default_time = default_time
        self._raw = None

    def raw_parts(self) -> dict:
        if self._raw is not None:
            return self._raw
        if isinstance(self.data, datetime):
            local = self.data.astimezone(BANGKOK)
            return {"day": str(local.day), "month": str(local.month), "year": str(local.year + BE_OFFSET),
                    "time": local.strftime("%H:%M")}
        return dict.fromkeys(PARTS, "")

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.process_errors = []
        if data is unset_value:
            data = self.default() if callable(self.default) else self.default
        self.object_data = self.data = data
        if formdata is None or not any(f"{self.name}-{part}" in formdata for part in PARTS):
            return
        self._raw = {part: (formdata.get(f"{self.name}-{part}") or "").strip()[:10] for part in PARTS}
        self.data = None
        if not any(self._raw[part] for part in ("day", "month", "year")):
            return
        try:
            self.data = self.parse(self._raw)
        except ValueError as exc:
            self.process_errors.append(str(exc))

    def parse(self, raw: dict) -> datetime:
        """The instant the four parts name, or ValueError saying (in the page's language) what is wrong."""
        digits = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
        day, month, year = (raw[p].translate(digits) for p in ("day", "month", "year"))
        if not (day.isdigit() and month.isdigit() and year.isdigit()):
            raise ValueError(gettext("Give the day, the month and the year."))
        year_be = int(year)
        if not 2400 <= year_be <= 2800:
            raise ValueError(gettext("Give the year in the Buddhist Era, e.g. 2569."))
        clock = (raw["time"].translate(digits).replace(".", ":") or self.default_time) if self.with_time \
            else "00:00"
        try:
            hours, minutes = (int(x) for x in clock.split(":"))
            return datetime(year_be - BE_OFFSET, int(month), int(day), hours, minutes, tzinfo=BANGKOK)
        except ValueError:
            raise ValueError(gettext("There is no such date or time; the time is written 16:30.")) from None

    def _value(self):
        return ""
