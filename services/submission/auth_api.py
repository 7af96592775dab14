"""``/auth/activate``, ``/auth/token``, ``/auth/password``: sign-in without guessable credentials; ``/auth/me`` and
the account's e-mail address (confirmed by a link, or set by an operator); two-factor sign-in (``/auth/me/2fa``)
and the account's own sign-in history (``/auth/me/security``)."""
from __future__ import annotations

import functools
import hashlib
from datetime import timedelta

from flask import current_app, g, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.auth import PRIVILEGED_ROLES, check_email, check_password
from shared.errors import (ForbiddenError, InvalidError, NotFoundError, RuleError, TooManyAttemptsError,
                           UnauthenticatedError)
from shared.events import decode, upcast
from shared.fiscal import bangkok_iso
from shared.i18n import be_date, translator
from shared.identity import Actor
from shared.keys import REGISTRY_STREAM, security_stream
from shared.web import Blueprint

from .handlers import Decision
from .service import fingerprint

bp = Blueprint("auth", __name__, description="Activation with a single-use code, sign-in, password change")

WRONG_CODE = "the username or activation code is wrong, has expired or was already used"
WRONG_PASSWORD = "wrong username or password"
WRONG_OTP = "the two-factor code is wrong, has expired or was already used"
Secret = lambda: fields.String(required=True, validate=validate.Length(min=1, max=1024))  # noqa: E731
Username = lambda: fields.String(required=True, validate=validate.Length(min=1, max=64))  # noqa: E731


class ActivateRequest(Schema):
    """POST /auth/activate."""

    username = Username()
    activation_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = Secret()


class TokenRequest(Schema):
    """POST /auth/token: the password, or the sign-in ticket a right password gave; ``otp`` for two-factor accounts."""

    username = Username()
    password = fields.String(validate=validate.Length(min=1, max=1024))
    otp = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "the 6-digit code of the authenticator app, or a one-time recovery code"})
    otp_ticket = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1024), metadata={
        "description": "instead of the password: the ticket of a 401 otp_required answer (5 minutes), with otp"})

    @validates_schema
    def password_or_ticket(self, data, **kwargs):
        """One of the two proves the password."""
        if "password" not in data and not data.get("otp_ticket"):
            raise ValidationError({"password": ["Missing data for required field."]})


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


def _refuse(username: str, reason: str, message: str, field: str | None = None):
    """A failed attempt: counted for throttling, recorded as SignInFailed, answered 401 (no hint of the account)."""
    ext = _ext()
    ext["throttle"].failed(username, _client())
    security_event(username, "SignInFailed", known=ext["accounts"].get(username) is not None, reason=reason)
    raise UnauthenticatedError(message, errors={"json": {field: [message]}} if field else None)


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
@bp.doc(summary="Sign in: a signed access token for the Authorization header (with the two-factor code when the "
                "account has one)")
def token(body):
    ext, username = _ext(), body["username"]
    ext["throttle"].check(username, _client())
    if body.get("otp_ticket"):
        account = ext["otp_tickets"].read(body["otp_ticket"], ext["accounts"])
        if account is None or account["username"] != username or not ext["two_factor"].enabled(account):
            raise UnauthenticatedError("the sign-in ticket has expired or is not valid: sign in again with the "
                                       "password", rule="otp_ticket_invalid")
    else:
        account = ext["accounts"].verify_password(username, body["password"])
        if account is None:
            _refuse(username, "wrong password or inactive account", WRONG_PASSWORD)
    two_factor, now = ext["two_factor"], ext["service"].clock()
    if two_factor.enabled(account):
        if not body.get("otp"):
            if body.get("otp_ticket"):
                raise InvalidError("give the two-factor code",
                                   field_errors={"otp": ["Missing data for required field."]})
            ticket = ext["otp_tickets"].issue(username, account["role"], int(account["epoch"]))
            raise UnauthenticatedError("this account signs in with a two-factor code: send it as otp (the 6-digit "
                                       "code of the authenticator app, or a recovery code), with the password or "
                                       "with otp_ticket", rule="otp_required", otp_ticket=ticket,
                                       otp_ticket_expires_in=ext["otp_tickets"].ttl)
        used = two_factor.verify(username, body["otp"], now)
        if used is None:
            _refuse(username, "wrong two-factor code", WRONG_OTP, field="otp")
        if used == "recovery":
            left = two_factor.status(ext["accounts"].get(username))["recovery_codes_left"]
            security_event(username, "RecoveryCodeUsed", reason=f"{left} recovery codes left")
    elif account["role"] in PRIVILEGED_ROLES and ext["settings"].two_factor_required:
        ext["throttle"].succeeded(username)
        security_event(username, "SignInFailed", reason="two-factor sign-in not set up yet")
        raise ForbiddenError("this account must set up two-factor sign-in before it can sign in: use "
                             "enrolment_token as the Bearer token of POST /api/v1/auth/me/2fa and then "
                             "/auth/me/2fa/confirm", rule="2fa_enrolment_required",
                             enrolment_token=ext["enrolment_tokens"].issue(username, account["role"],
                                                                           int(account["epoch"])),
                             enrolment_expires_in=ext["enrolment_tokens"].ttl)
    ext["throttle"].succeeded(username)
    security_event(username, "SignInSucceeded", reason="with a two-factor code" if two_factor.enabled(account)
                   else None)
    return _token_answer(username, account["role"], int(account["epoch"]))


def _token_answer(username: str, role: str, epoch: int) -> dict:
    tokens = _ext()["tokens"]
    return {"access_token": tokens.issue(username, role, epoch), "token_type": "Bearer", "expires_in": tokens.ttl,
            "role": role, "name": _name(username)}


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


def role_only(role: str, why: str):
    """403 (saying ``why``) for every role but ``role``, before the body is parsed."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if g.actor.role != role:
                raise ForbiddenError(why)
            return view(*args, **kwargs)
        return inner
    return wrap


operators_only = role_only("operator", "only an operator changes another account's e-mail address or two-factor "
                                       "sign-in")
# two-factor sign-in is optional only for units
units_only = role_only("unit", "two-factor sign-in is required for this role: only an operator can reset it")


@bp.route("/accounts/<username>/email", methods=["PUT"])
@bp.response(200, EmailAnswer)
@bp.doc(summary="Operators: set an account's e-mail address, confirmed at once, or remove it with null")
@signed_in
@operators_only
@bp.arguments(EmailRequest)
def set_email_of(body, username):
    return set_account_email(username, body["email"], g.actor.username)


# ---- two-factor sign-in ------------------------------------------------------------------------------------------

class TwoFactorAnswer(Schema):
    """The account's two-factor sign-in; while an enrolment waits for its first code, what to scan."""

    username = fields.String()
    enabled = fields.Boolean()
    pending = fields.Boolean(metadata={"description": "an enrolment was started and waits for its first code"})
    enabled_at = fields.String(allow_none=True)
    recovery_codes_left = fields.Integer()
    required = fields.Boolean(metadata={"description": "whether this account must have two-factor sign-in"})
    otpauth_uri = fields.String(metadata={"description": "only while pending: the otpauth:// URI to scan"})
    secret = fields.String(metadata={"description": "only while pending: the same secret, to type by hand"})
    qr_svg = fields.String(metadata={"description": "only while pending: the URI's QR code, an SVG data URI"})


class CodeRequest(Schema):
    """POST /auth/me/2fa/confirm: the authenticator app's current code."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=64))


class EnabledAnswer(Schema):
    """Two-factor sign-in is on: the recovery codes, shown this once (kept only as hashes)."""

    username = fields.String()
    enabled = fields.Boolean()
    recovery_codes = fields.List(fields.String(), metadata={
        "description": "10 one-time codes for when the authenticator app is lost: print or save them now"})
    access_token = fields.String(metadata={"description": "when confirmed with an enrolment token: the sign-in"})
    token_type = fields.String()
    expires_in = fields.Integer()
    role = fields.String()
    name = fields.String(allow_none=True)


class DisableRequest(Schema):
    """DELETE /auth/me/2fa: the password and a current code (or a recovery code)."""

    password = Secret()
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ResetRequest(Schema):
    """DELETE /accounts/{username}/2fa: why (the person lost their phone, say)."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


def _required(role: str) -> bool:
    return role in PRIVILEGED_ROLES and _ext()["settings"].two_factor_required


def enrolling(view):
    """Identify the caller by an access token or by the enrolment token of a privileged account that must set up
    two-factor sign-in first (401 otherwise), before the body is parsed; ``g.enrolment`` says which."""
    @functools.wraps(view)
    def inner(*args, **kwargs):
        ext = _ext()
        try:
            g.actor, g.enrolment = ext["identify"](request.headers), False
        except UnauthenticatedError:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            account = ext["enrolment_tokens"].read(token.strip(), ext["accounts"]) if scheme.lower() == "bearer" \
                else None
            if account is None or ext["two_factor"].enabled(account):     # once on, the token has done its work
                raise
            g.actor, g.enrolment = Actor(account["username"], account["role"]), True
        return view(*args, **kwargs)
    return inner


def _two_factor_answer(username: str, role: str) -> dict:
    ext = _ext()
    account = ext["accounts"].get(username) or {}
    answer = {"username": username, **ext["two_factor"].status(account), "required": _required(role)}
    pending = ext["two_factor"].pending(username, account)
    return {**answer, **pending} if pending else answer


@bp.route("/auth/me/2fa", methods=["GET"])
@bp.response(200, TwoFactorAnswer)
@bp.doc(summary="The account's two-factor sign-in: on or off, an enrolment waiting, recovery codes left")
@enrolling
def my_two_factor():
    return _two_factor_answer(g.actor.username, g.actor.role)


@bp.route("/auth/me/2fa", methods=["POST"])
@bp.response(201, TwoFactorAnswer)
@bp.doc(summary="Start enrolling an authenticator app: its otpauth:// URI and QR code (confirm with a code next)")
@enrolling
def start_two_factor():
    ext, actor = _ext(), g.actor
    ext["two_factor"].start(actor.username, ext["service"].clock())
    security_event(actor.username, "TwoFactorEnrolmentStarted")
    return _two_factor_answer(actor.username, actor.role)


@bp.route("/auth/me/2fa/confirm", methods=["POST"])
@bp.response(200, EnabledAnswer)
@bp.doc(summary="Confirm the enrolment with the app's current code: two-factor sign-in is on; 10 recovery codes, "
                "shown once")
@enrolling
@bp.arguments(CodeRequest)
def confirm_two_factor(body):
    ext, actor = _ext(), g.actor
    account = ext["accounts"].get(actor.username) or {}
    if not account.get("totp_pending"):
        raise RuleError("2fa_not_started", "no enrolment is waiting: start one with POST /api/v1/auth/me/2fa")
    codes = ext["two_factor"].confirm(actor.username, body["code"], ext["service"].clock())
    if codes is None:
        raise InvalidError("the code does not match the app's current one", field_errors={"code": [
            "The code is not the app's current one: type the 6 digits the app shows now (check the phone's clock)."]})
    security_event(actor.username, "TwoFactorEnabled", reason="by an enrolment token at sign-in" if g.enrolment
                   else None)
    answer = {"username": actor.username, "enabled": True, "recovery_codes": codes}
    if g.enrolment:                 # the password (the enrolment token) and the app's code: a complete sign-in
        ext["throttle"].succeeded(actor.username)
        security_event(actor.username, "SignInSucceeded", reason="with a two-factor code")
        answer.update(_token_answer(actor.username, actor.role, int(account["epoch"])))
    return answer


@bp.route("/auth/me/2fa", methods=["DELETE"])
@bp.response(204)
@bp.doc(summary="Units: turn two-factor sign-in off, with the password and a current code")
@signed_in
@units_only
@bp.arguments(DisableRequest)
def disable_my_two_factor(body):
    ext, username = _ext(), g.actor.username
    ext["throttle"].check(username, _client())
    if not ext["two_factor"].enabled(ext["accounts"].get(username)):
        raise RuleError("no_change", "two-factor sign-in is not on for this account")
    if ext["accounts"].verify_password(username, body["password"]) is None:
        _refuse(username, "wrong password to turn two-factor sign-in off", "the password is wrong",
                field="password")
    if ext["two_factor"].verify(username, body["code"], ext["service"].clock()) is None:
        _refuse(username, "wrong two-factor code to turn two-factor sign-in off", WRONG_OTP, field="code")
    ext["two_factor"].disable(username)
    ext["throttle"].succeeded(username)
    security_event(username, "TwoFactorDisabled")
    return None


@bp.route("/accounts/<username>/2fa", methods=["DELETE"])
@bp.response(204)
@bp.doc(summary="Operators: reset an account's two-factor sign-in (lost phone); the person enrols again")
@signed_in
@operators_only
@bp.arguments(ResetRequest)
def reset_two_factor(body, username):
    reset_account_two_factor(username, body["reason"], g.actor.username)
    return None


def reset_account_two_factor(username: str, reason: str, operator: str, client: str | None = None) -> None:
    """An operator removes an account's two-factor sign-in (secret, waiting enrolment, recovery codes): 404 for no
    such account, 409 when it has none; then recorded with the operator and the reason."""
    ext = _ext()
    account = ext["accounts"].get(username)
    if username not in ext["service"].load(REGISTRY_STREAM).accounts or account is None:
        raise NotFoundError(f"no account {username!r}")
    if not ext["two_factor"].enabled(account) and not account.get("totp_pending"):
        raise RuleError("no_change", "this account has no two-factor sign-in to reset")
    ext["two_factor"].disable(username)
    security_event(username, "TwoFactorReset", reason=reason[:200], actor={"username": operator, "role": "operator"},
                   client=client)


# ---- the account's own sign-in history --------------------------------------------------------------------------

class HistoryQuery(Schema):
    """GET /auth/me/security."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class HistoryEntry(Schema):
    """One security event of the account: what, when, from which address, why; never a secret."""

    version = fields.Integer()
    type = fields.String()
    at = fields.String()
    client = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    by = fields.String(allow_none=True, metadata={"description": "who did it, when not the account itself "
                                                                  "(an operator)"})


class HistoryAnswer(Schema):
    """The account's recent security events, newest first."""

    username = fields.String()
    entries = fields.List(fields.Nested(HistoryEntry))


@bp.route("/auth/me/security", methods=["GET"])
@bp.arguments(HistoryQuery, location="query")
@bp.response(200, HistoryAnswer)
@bp.doc(summary="The account's recent sign-ins, failures, password, e-mail and two-factor changes, newest first")
@signed_in
def my_security(query):
    username, service = g.actor.username, _ext()["service"]
    raw = service.redis.xrevrange(service.keys.events(security_stream(username)), count=query["limit"])
    entries = []
    for _entry, fields_ in raw:
        event = upcast(decode(fields_[b"e"]))
        p, actor = event.payload, event.actor or {}
        entries.append({"version": event.version, "type": event.type, "at": event.recorded_at,
                        "client": p.get("client"), "reason": p.get("reason"),
                        "by": actor.get("username") if actor.get("username") not in (username, None) else None})
    return {"username": username, "entries": entries}
