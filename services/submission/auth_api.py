"""``/auth/activate``, ``/auth/token``, ``/auth/password``: sign-in without guessable credentials."""
from __future__ import annotations

import functools

from flask import current_app, g, request
from marshmallow import Schema, fields, validate

from shared.auth import check_password
from shared.errors import InvalidError, UnauthenticatedError
from shared.keys import REGISTRY_STREAM, security_stream
from shared.web import Blueprint

from .handlers import Decision
from .service import fingerprint

bp = Blueprint("auth", __name__, description="Activation with a single-use code, sign-in, password change")

WRONG_CODE = "the username or activation code is wrong, has expired or was already used"
WRONG_PASSWORD = "wrong username or password"
Secret = lambda: fields.String(required=True, validate=validate.Length(min=1, max=1024))  # noqa: E731
Username = lambda: fields.String(required=True, validate=validate.Length(min=1, max=64))  # noqa: E731


class ActivateRequest(Schema):
    """POST /auth/activate."""

    username = Username()
    activation_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = Secret()


class TokenRequest(Schema):
    """POST /auth/token."""

    username = Username()
    password = Secret()


class PasswordRequest(Schema):
    """POST /auth/password (with the current token)."""

    current_password = Secret()
    new_password = Secret()


class TokenAnswer(Schema):
    """A signed, expiring access token."""

    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    role = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "the account's display name (a unit's Thai name)"})


class ActivatedAnswer(Schema):
    """The account is active; the event recording it."""

    event_id = fields.String()
    unit = fields.String(allow_none=True)
    version = fields.Integer()
    recorded_at = fields.String()
    username = fields.String()
    role = fields.String()


def _ext():
    return current_app.extensions["ncc"]


def _client() -> str:
    return (request.remote_addr or "unknown")[:64]


def security_event(username: str, type_: str, *, known: bool = True, **payload) -> dict:
    """Record a security event on the account's stream (unknown usernames share one): never a secret in it."""
    stream = security_stream(username if known else "unknown")
    body = {"username": username, "client": _client(), "reason": None, "expires_at": None, **payload}
    return _ext()["service"].execute(
        stream, lambda s, ctx: Decision(type_, body), actor={"username": username, "role": "account"},
        fp=fingerprint("AUTH", type_, {})).body


def _refuse(username: str, reason: str, message: str):
    """A failed attempt: counted for throttling, recorded as SignInFailed, answered 401 (no hint of the account)."""
    ext = _ext()
    ext["throttle"].failed(username, _client())
    security_event(username, "SignInFailed", known=ext["accounts"].get(username) is not None, reason=reason)
    raise UnauthenticatedError(message)


def _name(username: str) -> str | None:
    return (_ext()["service"].load(REGISTRY_STREAM).accounts.get(username) or {}).get("name")


@bp.route("/auth/activate", methods=["POST"])
@bp.arguments(ActivateRequest)
@bp.response(201, ActivatedAnswer)
@bp.doc(summary="Activate an account with its single-use code and choose a password")
def activate(body):
    ext, username = _ext(), body["username"]
    now = ext["service"].clock()
    ext["throttle"].check(username, _client())
    account = ext["accounts"].code_matches(username, body["activation_code"], now)
    if account is None:
        _refuse(username, "activation refused", WRONG_CODE)
    check_password(body["password"], username, _name(username))
    if not ext["accounts"].activate(username, body["activation_code"], body["password"], now):
        raise UnauthenticatedError(WRONG_CODE)          # another request used the code first
    ext["throttle"].succeeded(username)
    answer = security_event(username, "AccountActivated")
    return {**answer, "unit": username if account["role"] == "unit" else None, "username": username,
            "role": account["role"]}


@bp.route("/auth/token", methods=["POST"])
@bp.arguments(TokenRequest)
@bp.response(200, TokenAnswer)
@bp.doc(summary="Sign in: a signed access token for the Authorization header")
def token(body):
    ext, username = _ext(), body["username"]
    ext["throttle"].check(username, _client())
    account = ext["accounts"].verify_password(username, body["password"])
    if account is None:
        _refuse(username, "wrong password or inactive account", WRONG_PASSWORD)
    ext["throttle"].succeeded(username)
    security_event(username, "SignInSucceeded")
    return {"access_token": ext["tokens"].issue(username, account["role"], int(account["epoch"])),
            "token_type": "Bearer", "expires_in": ext["tokens"].ttl, "role": account["role"], "name": _name(username)}


def signed_in(view):
    """Identify the caller (401) before the body is even parsed."""
    @functools.wraps(view)
    def inner(*args, **kwargs):
        g.actor = _ext()["identify"](request.headers)
        return view(*args, **kwargs)
    return inner


@bp.route("/auth/password", methods=["POST"])
@bp.response(204)
@bp.doc(summary="Change the password; every earlier token stops working")
@signed_in
@bp.arguments(PasswordRequest)
def change_password(body):
    ext, actor = _ext(), g.actor
    ext["throttle"].check(actor.username, _client())
    if ext["accounts"].verify_password(actor.username, body["current_password"]) is None:
        _refuse(actor.username, "wrong current password", "the current password is wrong")
    if body["new_password"] == body["current_password"]:
        raise InvalidError("the new password is the current one",
                           field_errors={"new_password": ["Must differ from the current password."]})
    check_password(body["new_password"], actor.username, _name(actor.username), field="new_password")
    ext["accounts"].set_password(actor.username, body["new_password"])
    security_event(actor.username, "PasswordChanged")
    return None
