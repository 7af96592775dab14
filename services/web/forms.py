"""What every write form of the web app shares: its Idempotency-Key, the version it was read at, post/redirect/get,
and an API refusal put next to the fields it concerns."""
from __future__ import annotations

import uuid

from flask import redirect, session
from flask_wtf import FlaskForm

from .auth import apply_reasons
from .errors import ApiError
from .explain import message as explain


def new_key() -> str:
    """A fresh Idempotency-Key for a write form (kept in the form when it is shown again after a refusal)."""
    return str(uuid.uuid4())


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


def refused(error: ApiError, form: FlaskForm | None = None, names: dict | None = None) -> str:
    """The sentence to show beside the form for an API refusal, its reasons put on the fields (``names``: API
    field -> form field). 401, 403 and 404 go to their own page; anything else, an unreachable API included,
    stays on the form with what was typed, to be sent again with the same key."""
    if error.status in (401, 403, 404):
        raise error
    if form is not None:
        apply_reasons(form, error, names)
        if error.status == 412 and hasattr(form, "version"):
            form.version.data = str(error.body.get("current_version") or form.version.data)
    return explain(error)
