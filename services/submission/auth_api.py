"""``/auth/activate``, ``/auth/token``, ``/auth/password``: sign-in without guessable credentials; ``/auth/me`` and
the account's e-mail address (confirmed by a link, or set by an operator)."""
from __future__ import annotations

import functools
import hashlib
from datetime import timedelta

from flask import current_app, g, request
from marshmallow import Schema, fields, validate

from shared.auth import check_email, check_password
from shared.errors import ForbiddenError, InvalidError, NotFoundError, TooManyAttemptsError, UnauthenticatedError
from shared.fiscal import bangkok_iso
from shared.i18n import be_date, translator
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


class EmailRequest(Schema):
    """PUT /auth/me/email and /accounts/{username}/email: the address, or null to remove it."""

    email = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=320))


class ConfirmRequest(Schema):
    """POST /auth/email/confirm: the token of the link in the confirmation e-mail."""

    token = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class EmailAnswer(Schema):
    """An account's e-mail addresses: the confirmed one (mail goes there) and one waiting for confirmation."""

    username = fields.String()
    email = fields.String(allow_none=True, metadata={"description": "the confirmed address e-mail is sent to"})
    email_pending = fields.String(allow_none=True, metadata={
        "description": "an address given and not confirmed yet (a link was sent to it)"})
    confirmed = fields.Boolean(metadata={"description": "whether the account has a confirmed address"})


class MeAnswer(EmailAnswer):
    """The signed-in account."""

    role = fields.String()
    name = fields.String(allow_none=True)


def _ext():
    return current_app.extensions["ncc"]


def _client() -> str:
    return (request.remote_addr or "unknown")[:64]


def security_event(username: str, type_: str, *, known: bool = True, actor: dict | None = None,
                   client: str | None = None, **payload) -> dict:
    """Record a security event on the account's stream (unknown usernames share one): never a secret in it."""
    stream = security_stream(username if known else "unknown")
    body = {"username": username, "client": client or _client(), "reason": None, "expires_at": None, **payload}
    return _ext()["service"].execute(
        stream, lambda s, ctx: Decision(type_, body), actor=actor or {"username": username, "role": "account"},
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


def _email_answer(username: str) -> dict:
    addresses = _ext()["accounts"].email(username)
    return {"username": username, **addresses, "confirmed": addresses["email"] is not None}


@bp.route("/auth/me", methods=["GET"])
@bp.response(200, MeAnswer)
@bp.doc(summary="The signed-in account: role, name and e-mail addresses")
@signed_in
def me():
    actor = g.actor
    return {**_email_answer(actor.username), "role": actor.role, "name": _name(actor.username)}


CONFIRMATIONS_PER_HOUR = 5


def _throttle_confirmations(username: str) -> None:
    """At most a few confirmation e-mails per account and hour: nobody can make the system mail an address at will."""
    redis, key = _ext()["service"].redis, _ext()["service"].keys.email_requests(username)
    sent, ttl = redis.get(key), redis.ttl(key)
    if sent is not None and int(sent) >= CONFIRMATIONS_PER_HOUR:
        raise TooManyAttemptsError(max(1, ttl), "too many confirmation e-mails asked for this account")
    pipe = redis.pipeline(transaction=True)
    pipe.set(key, 0, ex=3600, nx=True)          # the hour starts with the first request (INCR keeps the expiry)
    pipe.incr(key)
    pipe.execute()


def confirmation_mail(username: str, name: str | None, address: str, link: str, expires) -> tuple[str, str]:
    """The confirmation e-mail in Thai: whose account, the link, until when, and what to do if it was not them."""
    t = translator()
    return (t("Confirm your e-mail address for the anti-corruption action plan system"),
            t("Dear %(name)s,\n\nThis address was given to receive the e-mail of the account %(username)s in the "
              "anti-corruption action plan system. To confirm it, open this link by %(expires)s:\n%(link)s\n\nIf you "
              "did not ask for this, ignore this message: the address is not used until it is confirmed.\n\nThis "
              "message was sent by the anti-corruption action plan system; please do not reply to it.",
              name=name or username, username=username, expires=be_date(expires, time=True, long=True), link=link))


@bp.route("/auth/me/email", methods=["PUT"])
@bp.response(200, EmailAnswer)
@bp.doc(summary="Set the account's e-mail address (a confirmation link is sent to it), or remove it with null")
@signed_in
@bp.arguments(EmailRequest)
def set_my_email(body):
    ext, username = _ext(), g.actor.username
    now = ext["service"].clock()
    if body["email"] is None:
        ext["accounts"].set_email(username, None, now)
        security_event(username, "EmailAddressRemoved", email=None)
        return _email_answer(username)
    address = check_email(body["email"])
    _throttle_confirmations(username)
    token = ext["email_tokens"].issue(username, address)
    link = f"{ext['settings'].public_url}/account/email/confirm?token={token}"
    expires = now + timedelta(seconds=ext["email_tokens"].ttl)
    ext["accounts"].request_email(username, address, now)
    subject, text = confirmation_mail(username, _name(username), address, link, expires)
    ext["outbox"].enqueue(f"email-confirmation:{hashlib.sha256(token.encode()).hexdigest()[:32]}", address,
                          subject, text)
    security_event(username, "EmailAddressChangeRequested", email=address, expires_at=bangkok_iso(expires))
    return _email_answer(username)


@bp.route("/auth/email/confirm", methods=["POST"])
@bp.response(200, EmailAnswer)
@bp.doc(summary="Confirm an e-mail address with the token of the link sent to it (no sign-in needed)")
@bp.arguments(ConfirmRequest)
def confirm_email(body):
    ext = _ext()
    username, address = ext["email_tokens"].read(body["token"])
    if ext["accounts"].confirm_email(username, address, ext["service"].clock()):
        security_event(username, "EmailAddressConfirmed", email=address)
    return _email_answer(username)


def set_account_email(username: str, address: str | None, operator: str, client: str | None = None) -> dict:
    """An operator sets an account's address, confirmed at once (or removes it): checked, then recorded."""
    ext = _ext()
    if username not in ext["service"].load(REGISTRY_STREAM).accounts:
        raise NotFoundError(f"no account {username!r}")
    address = check_email(address) if address is not None else None
    ext["accounts"].set_email(username, address, ext["service"].clock())
    security_event(username, "EmailAddressConfirmed" if address else "EmailAddressRemoved", email=address,
                   reason="set by an operator", actor={"username": operator, "role": "operator"}, client=client)
    return _email_answer(username)


def operators_only(view):
    """403 for every role but operators, before the body is parsed."""
    @functools.wraps(view)
    def inner(*args, **kwargs):
        if g.actor.role != "operator":
            raise ForbiddenError("only an operator sets another account's e-mail address")
        return view(*args, **kwargs)
    return inner


@bp.route("/accounts/<username>/email", methods=["PUT"])
@bp.response(200, EmailAnswer)
@bp.doc(summary="Operators: set an account's e-mail address, confirmed at once, or remove it with null")
@signed_in
@operators_only
@bp.arguments(EmailRequest)
def set_email_of(body, username):
    return set_account_email(username, body["email"], g.actor.username)
