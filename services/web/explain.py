"""API refusals in the person's language: the rule a 409 names, the reasons a 422 gives per field.

The APIs speak English (they are the contract for scripts too); a person reads Thai. Each known reason
is matched here once and said again through the message catalogue; an unknown one is shown as the API
said it, after a sentence in the page's language, so nothing is ever hidden.
"""
from __future__ import annotations

import re

from flask_babel import gettext, lazy_gettext as _l

from .errors import ApiError

RULES = {
    "plan_required": _l("Declare the plan (its title and fiscal years) first."),
    "item_removed": _l("This item was removed from the plan; it can no longer be changed."),
    "items_outside_cycle": _l("Some items run in fiscal years outside the new period: change or remove them first."),
    "reports_outside_cycle": _l("Reports were already filed for fiscal years outside the new period."),
    "year_not_scheduled": _l("The item does not run in that fiscal year."),
    "year_outside_cycle": _l("That fiscal year is outside the plan's period."),
    "round_locked": _l("This round is locked: reports are no longer accepted. Ask your supervisory unit or NACC "
                       "for an exception."),
    "round_not_open": _l("This round is not open for reports yet."),
    "no_report": _l("The unit has not submitted a report for this round yet."),
    "already_reviewed": _l("This version of the report has already been reviewed."),
    "no_change": _l("Nothing would change."),
    "not_assigned": _l("You do not oversee this unit."),
    "framework_missing": _l("No framework is loaded for this plan cycle."),
    "email_not_pending": _l("This link is for an address that is no longer waiting to be confirmed (a newer one "
                            "was given, or it was removed). Give the address again to get a new link."),
}

# (pattern of the API's English reason, the reason in the catalogue); the first match wins
REASONS = [
    (r"not an e-mail address: .*invalid characters", _l("An e-mail address cannot have these characters (a space, "
                                                         "say): check what you typed.")),
    (r"not an e-mail address: .*(@-sign|period|domain)", _l("This is not an e-mail address: it needs a name, one @ "
                                                            "and a domain with a dot, e.g. saraban@example.go.th.")),
    (r"not an e-mail address", _l("This is not an e-mail address: check what you typed, e.g. "
                                  "saraban@example.go.th.")),
    (r"The link has expired", _l("The link has expired. Give the address again on the e-mail page to get a new one.")),
    (r"The link is not valid", _l("The link is not valid: copy the whole link from the e-mail.")),
    (r"Missing data for required field", _l("This field is required.")),
    (r"Field may not be null|may not be blank|must not be blank|must not be empty", _l("This field is required.")),
    (r"Not a valid (number|decimal)", _l("Type a number.")),
    (r"Not a valid integer", _l("Type a whole number.")),
    (r"Not a valid datetime|instant|ISO-8601", _l("Give a date and time.")),
    (r"Must be one of", _l("Choose one of the options.")),
    (r"Longer than maximum length|at most \d+ characters|Length must be", _l("This text is too long.")),
    (r"at least 10 characters|it needs at least", _l("The password needs at least 10 characters.")),
    (r"must not be or contain the username", _l("The password must not contain your username (the unit code).")),
    (r"list of common passwords", _l("This password is in a list of common passwords; choose another.")),
    (r"too easy to guess", _l("This password is too easy to guess: add more words or characters.")),
    (r"at most \d+ decimal|two decimals|decimal places", _l("Baht have at most two decimals.")),
    (r"negative|greater than or equal to 0", _l("The amount cannot be negative.")),
    (r"reason.*(required|needed)|needs a reason|give a reason", _l("Give a reason.")),
    (r"reason_text|needs the reason in words", _l("Describe the reason in words.")),
    (r"not scheduled|not in the item's fiscal years|does not run in", _l("The item does not run in that fiscal year.")),
    (r"sub.?dimension", _l("Choose a sub-dimension of the chosen dimension.")),
    (r"dimension", _l("Choose one of the framework's dimensions.")),
    (r"fiscal year", _l("Give a fiscal year within the plan's period (Buddhist Era, e.g. 2567).")),
    (r"Unknown field", _l("The form sent a field the system does not know.")),
    (r"before first_fiscal_year", _l("The last fiscal year cannot come before the first.")),
    (r"after now|in the future", _l("Give a time in the future.")),
    (r"not be before (due_at|opens_at)|before the due|after the due", _l("The dates are out of order: a round opens, "
                                                                      "then is due, then locks.")),
]
_COMPILED = [(re.compile(pattern, re.IGNORECASE), text) for pattern, text in REASONS]


def reason(text: str) -> str:
    """One API reason in the page's language; an unknown one as the API said it."""
    for pattern, said in _COMPILED:
        if pattern.search(text):
            return str(said)
    return text


def message(error: ApiError) -> str:
    """The sentence to show above a form (or on its own page) for an API refusal."""
    if error.unreachable or error.status == 503:
        return gettext("The system cannot be reached just now. Nothing was lost: send the form again in a "
                       "moment.")
    if error.status == 401:
        return gettext("Your session has ended. Please sign in again.")
    if error.status == 403:
        return gettext("You are not allowed to do this.")
    if error.status == 404:
        return gettext("Not found: %(what)s", what=error.message)
    if error.status == 412:
        return gettext("The plan was changed elsewhere (another tab or another person) after this page was "
                       "opened. Nothing was saved: look at the current plan and make your change again.")
    if error.status == 429:
        return gettext("Too many attempts. Try again in %(seconds)s seconds.", seconds=error.retry_after or 60)
    if error.status == 413 and error.body.get("limit"):
        return gettext("The file is larger than %(size)s, the most one file may be. Nothing was attached.",
                       size=f"{int(error.body['limit']) / (1024 * 1024):.0f} MB")
    if error.status == 413:
        return gettext("What you sent is too large.")
    if error.status == 415 and error.body.get("detected"):
        return gettext("The file's content is not what its name says (it was renamed, or is another kind of file). "
                       "Nothing was attached: check that it is the right file.")
    if error.status == 415:
        return gettext("Only PDF files, pictures (PNG, JPEG) and office documents (Word, Excel, PowerPoint, "
                       "OpenDocument) can be attached. Nothing was attached.")
    if error.rule and error.rule in RULES:
        return str(RULES[error.rule])
    if error.status == 409:
        return gettext("The system refused the change: %(why)s", why=error.message)
    if error.field_errors():
        return gettext("Please correct the fields marked below.")
    return gettext("The system refused the change: %(why)s", why=reason(error.message))


def field_reasons(error: ApiError, prefix: str = "") -> dict[str, list[str]]:
    """The API's reasons per field (dotted names, ``prefix`` removed), each in the page's language."""
    out = {}
    for name, reasons in error.field_errors().items():
        if prefix and not name.startswith(prefix):
            continue
        out[name[len(prefix):]] = [reason(r) for r in reasons]
    return out
