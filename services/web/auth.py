"""Sessions: activation, sign-in (with a two-factor code as its second step), password change, two-factor
enrolment, the account's sign-in history, sign-out, expiry; who is signed in, and the language switch."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from shared.fiscal import parse_instant

from . import i18n
from .errors import ApiError
from .explain import field_reasons, message as explain

bp = Blueprint("auth", __name__)

ROLE_NAMES = {"unit": _l("Unit"), "supervisor": _l("Supervisory unit"), "nacc": _l("NACC"),
              "auditor": _l("Auditor"), "operator": _l("Operator")}


@dataclass(frozen=True)
class Person:
    """The signed-in person as the session holds them."""

    username: str
    role: str
    token: str
    expires: str
    name: str | None = None

    @property
    def role_name(self) -> str:
        return str(ROLE_NAMES.get(self.role, self.role))

    def home_url(self) -> str:
        """Where this role starts."""
        return {"unit": url_for("units.home", code=self.username),
                "supervisor": url_for("supervision.overview"),
                "nacc": url_for("nacc.compliance"),
                "auditor": url_for("auditor.find")}.get(self.role, url_for("auth.password"))


def api():
    """The client of both APIs."""
    return current_app.extensions["ncc_web"]["api"]


def now():
    return current_app.extensions["ncc_web"]["clock"]()


def me() -> Person | None:
    """The signed-in person, or None (an expired session is ended here, with a notice for the sign-in page)."""
    if "token" not in session:
        return None
    person = Person(session["username"], session["role"], session["token"], session["expires"], session.get("name"))
    if parse_instant(person.expires) <= now():
        session.clear()
        session["notice"] = gettext("Your session has ended. Please sign in again.")
        return None
    return person


def signed_in(*roles: str):
    """The view needs a signed-in person (of one of ``roles``, when given); it gets them as ``person``."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            person = me()
            if person is None:
                return redirect(url_for("auth.sign_in", next=request.full_path if request.method == "GET" else None))
            if roles and person.role not in roles:
                abort(403)
            return view(person, *args, **kwargs)
        return inner
    return wrap


def apply_reasons(form, error: ApiError, names: dict | None = None) -> None:
    """Put each of the API's reasons on the form field it concerns (``names``: API field -> form field)."""
    names = names or {}
    for field_name, reasons in field_reasons(error).items():
        target = getattr(form, names.get(field_name, field_name), None)
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors or []) + reasons
        else:
            form.form_errors.extend(reasons)


class SignInForm(FlaskForm):
    username = StringField(_l("Username (a unit's 7-digit code)"), validators=[DataRequired(_l("This field is required."))])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("This field is required."))])


class ActivateForm(FlaskForm):
    username = StringField(_l("Username (a unit's 7-digit code)"), validators=[DataRequired(_l("This field is required."))])
    activation_code = StringField(_l("Activation code"), validators=[DataRequired(_l("This field is required."))])
    password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("This field is required.")),
        Length(min=10, message=_l("The password needs at least 10 characters."))])
    confirm = PasswordField(_l("The new password again"), validators=[
        EqualTo("password", _l("The two passwords are not the same."))])


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(_l("This field is required."))])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("This field is required.")),
        Length(min=10, message=_l("The password needs at least 10 characters."))])
    confirm = PasswordField(_l("The new password again"), validators=[
        EqualTo("new_password", _l("The two passwords are not the same."))])


class EmailForm(FlaskForm):
    email = EmailField(_l("E-mail address"), validators=[DataRequired(_l("This field is required."))])


WRONG_CODE = _l("The code is wrong, has expired or was already used. Type the 6 digits the app shows now, or one of "
                "your recovery codes.")


class CodeForm(FlaskForm):
    """The second step of signing in, and confirming an enrolment: the authenticator app's code."""

    code = StringField(_l("Code from the authenticator app"), validators=[DataRequired(_l("This field is required.")),
                                                                          Length(max=64)])


class DisableTwoFactorForm(FlaskForm):
    """Units only: turn two-factor sign-in off with the password and a current code."""

    password = PasswordField(_l("Password"), validators=[DataRequired(_l("This field is required."))])
    code = StringField(_l("Code from the authenticator app"), validators=[DataRequired(_l("This field is required.")),
                                                                          Length(max=64)])


class ConfirmEmailForm(FlaskForm):
    """Nothing to type: the token is in the link; the button makes it a post (mail scanners open links)."""

    token = HiddenField()


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host) is followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else None


def _start(username: str, answer: dict):
    session.clear()
    session["token"] = answer["access_token"]
    session["username"] = username
    session["role"] = answer["role"]
    session["expires"] = (now() + timedelta(seconds=int(answer["expires_in"]))).isoformat()
    session["name"] = answer.get("name")


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    """Sign in with a username and password; an account with two-factor sign-in is asked for its code next, and a
    privileged one without it (where it is required) is taken to set it up."""
    form = SignInForm()
    notice = session.pop("notice", None)
    refusal = None
    if form.validate_on_submit():
        username = form.username.data.strip()
        try:
            answer = api().call("submission", "POST", "/auth/token",
                                json={"username": username, "password": form.password.data},
                                headers=forwarded()).body
        except ApiError as error:
            if error.status == 401 and error.rule == "otp_required":
                return _second_step(username, error.body)
            if error.status == 403 and error.rule == "2fa_enrolment_required":
                return _enrolment_step(username, error.body)
            if error.status not in (401, 422, 429, 503):
                raise
            refusal = (gettext("Wrong username or password.") if error.status in (401, 422) else explain(error))
        else:
            _start(username, answer)
            return redirect(_safe_next(request.args.get("next")) or url_for("home"))
    return render_template("auth/sign_in.html", form=form, notice=notice, refusal=refusal)


def _second_step(username: str, body: dict):
    """The password was right: keep the username and the API's sign-in ticket (never the password) for the code."""
    session.clear()
    session["otp"] = {"username": username, "ticket": str(body.get("otp_ticket", "")),
                      "next": _safe_next(request.args.get("next"))}
    return redirect(url_for("auth.sign_in_code"))


@bp.route("/signin/code", methods=["GET", "POST"])
def sign_in_code():
    """The second step: the code of the authenticator app (or a recovery code) for the username just given."""
    pending = session.get("otp")
    if not pending:
        return redirect(url_for("auth.sign_in"))
    form = CodeForm()
    refusal = None
    if form.validate_on_submit():
        try:
            answer = api().call("submission", "POST", "/auth/token", headers=forwarded(), json={
                "username": pending["username"], "otp_ticket": pending["ticket"], "otp": form.code.data.strip()}).body
        except ApiError as error:
            if error.status == 401 and error.rule == "otp_ticket_invalid":
                return _start_again()
            if error.status not in (401, 422, 429, 503):
                raise
            if error.status == 401:
                form.code.errors = [str(WRONG_CODE)]
            else:
                refusal = explain(error)
                apply_reasons(form, error, {"otp": "code"})
        else:
            _start(pending["username"], answer)
            return redirect(pending.get("next") or url_for("home"))
    return render_template("auth/sign_in_code.html", form=form, refusal=refusal, username=pending["username"])


def _start_again():
    """The ticket or enrolment token of a sign-in under way has expired: back to the password."""
    session.pop("otp", None)
    session.pop("enrol", None)
    session["notice"] = gettext("Signing in took too long. Please give your password again.")
    return redirect(url_for("auth.sign_in"))


def _enrolment_step(username: str, body: dict):
    """Two-factor sign-in is required and not set up: start the enrolment with the API's enrolment token."""
    session.clear()
    lasts = timedelta(seconds=int(body.get("enrolment_expires_in") or 900))
    session["enrol"] = {"username": username, "token": str(body.get("enrolment_token", "")),
                        "expires": (now() + lasts).isoformat()}
    api().call("submission", "POST", "/auth/me/2fa", token=session["enrol"]["token"], json={}, headers=forwarded())
    session["notice"] = gettext("Your account must sign in with a second step. Set it up now: it takes a minute.")
    return redirect(url_for("auth.enrol"))


def _enrolling() -> dict | None:
    """The enrolment under way at sign-in, while its token lasts."""
    pending = session.get("enrol")
    if not pending or parse_instant(pending["expires"]) <= now():
        return None
    return pending


def _recovery_page(answer: dict):
    """The recovery codes, shown this once: never cached, nowhere else to be found again."""
    response = make_response(render_template("auth/recovery_codes.html", codes=answer.get("recovery_codes") or []))
    response.headers["Cache-Control"] = "no-store"
    return response


def _confirm(token: str, form: CodeForm):
    """POST the code to the API: its answer, or None with the reason put beside the field."""
    try:
        return api().call("submission", "POST", "/auth/me/2fa/confirm", token=token,
                          json={"code": form.code.data.strip()}, headers=forwarded()).body
    except ApiError as error:
        if error.status not in (409, 422, 429, 503):
            raise
        if error.status == 422:
            form.code.errors = [gettext("The code is not the app's current one: type the 6 digits it shows now (if "
                                        "it keeps failing, check that the phone's clock is right).")]
        else:
            form.form_errors.append(explain(error))
        return None


@bp.route("/signin/enrol", methods=["GET", "POST"])
def enrol():
    """Setting up two-factor sign-in during sign-in (required for this role): scan, then type the code."""
    pending = _enrolling()
    if pending is None:
        return _start_again() if "enrol" in session else redirect(url_for("auth.sign_in"))
    form = CodeForm()
    if form.validate_on_submit():
        answer = _confirm(pending["token"], form)
        if answer is not None:
            _start(pending["username"], answer)
            return _recovery_page(answer)
    state = api().call("submission", "GET", "/auth/me/2fa", token=pending["token"]).body
    return render_template("auth/two_factor.html", state=state, form=form, off_form=None,
                           action=url_for("auth.enrol"), at_sign_in=True, notice=session.pop("notice", None))


@bp.route("/account/2fa", methods=["GET", "POST"])
@signed_in()
def two_factor(person: Person):
    """Two-factor sign-in on the account page: its state, the QR code while an enrolment waits, the code to confirm
    it; units may turn it off."""
    form = CodeForm()
    if form.validate_on_submit():
        answer = _confirm(person.token, form)
        if answer is not None:
            return _recovery_page(answer)
    state = api().call("submission", "GET", "/auth/me/2fa", token=person.token).body
    off_form = DisableTwoFactorForm(formdata=None) if person.role == "unit" and state.get("enabled") else None
    return render_template("auth/two_factor.html", state=state, form=form, off_form=off_form,
                           action=url_for("auth.two_factor"), at_sign_in=False)


@bp.post("/account/2fa/start")
@signed_in()
def start_two_factor(person: Person):
    """Start (or start again) enrolling an authenticator app."""
    api().call("submission", "POST", "/auth/me/2fa", token=person.token, json={}, headers=forwarded())
    return redirect(url_for("auth.two_factor"))


@bp.post("/account/2fa/off")
@signed_in("unit")
def two_factor_off(person: Person):
    """Units: turn two-factor sign-in off (the password and a current code)."""
    off_form = DisableTwoFactorForm()
    if off_form.validate_on_submit():
        try:
            api().call("submission", "DELETE", "/auth/me/2fa", token=person.token, headers=forwarded(),
                       json={"password": off_form.password.data, "code": off_form.code.data.strip()})
        except ApiError as error:
            if error.status not in (401, 409, 422, 429, 503) or (error.status == 401 and not error.field_errors()):
                raise
            if error.status == 401 and "password" in error.field_errors():
                off_form.password.errors = [gettext("The password is wrong.")]
            elif error.status == 401:
                off_form.code.errors = [str(WRONG_CODE)]
            else:
                off_form.form_errors.append(explain(error))
        else:
            session["notice"] = gettext("Two-factor sign-in is off: you sign in with your password only.")
            return redirect(url_for("auth.two_factor"))
    state = api().call("submission", "GET", "/auth/me/2fa", token=person.token).body
    return render_template("auth/two_factor.html", state=state, form=CodeForm(formdata=None), off_form=off_form,
                           action=url_for("auth.two_factor"), at_sign_in=False)


EVENT_NAMES = {
    "ActivationCodeIssued": _l("Activation code issued"), "AccountActivated": _l("Account activated"),
    "SignInSucceeded": _l("Signed in"), "SignInFailed": _l("Sign-in failed"),
    "PasswordChanged": _l("Password changed"),
    "EmailAddressChangeRequested": _l("E-mail address given, waiting for confirmation"),
    "EmailAddressConfirmed": _l("E-mail address confirmed"), "EmailAddressRemoved": _l("E-mail address removed"),
    "TwoFactorEnrolmentStarted": _l("Two-factor sign-in set-up started"),
    "TwoFactorEnabled": _l("Two-factor sign-in turned on"), "TwoFactorDisabled": _l("Two-factor sign-in turned off"),
    "TwoFactorReset": _l("Two-factor sign-in reset by an operator"),
    "RecoveryCodeUsed": _l("A recovery code was used to sign in"),
}
EVENT_REASONS = {
    "wrong password or inactive account": _l("wrong password"),
    "wrong two-factor code": _l("wrong two-factor code"),
    "two-factor sign-in not set up yet": _l("two-factor sign-in not set up yet"),
    "with a two-factor code": _l("with a two-factor code"),
    "activation refused": _l("wrong activation code"),
    "wrong current password": _l("wrong current password"),
    "set by an operator": _l("set by an operator"),
    "by an enrolment token at sign-in": _l("while signing in"),
    "wrong password to turn two-factor sign-in off": _l("wrong password when turning two-factor sign-in off"),
    "wrong two-factor code to turn two-factor sign-in off": _l("wrong code when turning two-factor sign-in off"),
}


@bp.get("/account/security")
@signed_in()
def security(person: Person):
    """My sign-in history: the account's recent security events, so a person notices someone else using it."""
    history = api().call("submission", "GET", "/auth/me/security", token=person.token, params={"limit": 50}).body
    rows = []
    for entry in history["entries"]:
        reason = entry.get("reason") or ""
        left = re.fullmatch(r"(\d+) recovery codes left", reason)
        rows.append({**entry, "what": str(EVENT_NAMES.get(entry["type"], entry["type"])),
                     "failed": entry["type"] == "SignInFailed",
                     "why": (gettext("%(count)s recovery codes left", count=left.group(1)) if left
                             else str(EVENT_REASONS.get(reason, reason)))})
    return render_template("auth/security.html", rows=rows)


def _sign_in_after(username: str, password: str, notice: str):
    """Sign in with the password just set. If that sign-in is refused (throttled, or the API unreachable), the
    password is set all the same: say so on the sign-in page rather than show the change as failed."""
    try:
        answer = api().call("submission", "POST", "/auth/token", json={"username": username, "password": password},
                            headers=forwarded()).body
    except ApiError:
        session.clear()
        session["notice"] = gettext("Your new password is set. Please sign in with it.")
        return redirect(url_for("auth.sign_in"))
    _start(username, answer)
    session["notice"] = notice
    return redirect(url_for("home"))


@bp.route("/activate", methods=["GET", "POST"])
def activate():
    """First sign-in: the single-use code from the operator, and a password of the person's own choosing."""
    form = ActivateForm()
    refusal = None
    if request.method == "GET" and request.args.get("username"):
        form.username.data = request.args["username"]
    if form.validate_on_submit():
        username = form.username.data.strip()
        try:
            api().call("submission", "POST", "/auth/activate",
                       json={"username": username, "activation_code": form.activation_code.data.strip(),
                             "password": form.password.data}, headers=forwarded())
        except ApiError as error:
            if error.status == 401:
                refusal = gettext("The username or activation code is wrong, has expired or was already used.")
            elif error.status in (422, 429, 503):
                refusal = explain(error)
                apply_reasons(form, error)
            else:
                raise
        else:
            return _sign_in_after(username, form.password.data,
                                  gettext("Your account is active and you are signed in."))
    return render_template("auth/activate.html", form=form, refusal=refusal)


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in()
def password(person: Person):
    """Change the password; every other session of the account ends with it."""
    form = PasswordForm()
    refusal = None
    if form.validate_on_submit():
        try:
            api().call("submission", "POST", "/auth/password", token=person.token,
                       json={"current_password": form.current_password.data,
                             "new_password": form.new_password.data}, headers=forwarded())
        except ApiError as error:
            if error.status == 401 and "current_password" not in error.field_errors():
                refusal = gettext("The current password is wrong.")
            elif error.status in (401, 422, 429, 503):
                refusal = explain(error)
                apply_reasons(form, error)
            else:
                raise
        else:
            return _sign_in_after(person.username, form.new_password.data,
                                  gettext("Your password has been changed. Other sessions have been signed out."))
    return render_template("auth/password.html", form=form, refusal=refusal)


def _set_email(person: Person, address: str | None):
    """PUT the address (None removes it) for the signed-in person."""
    return api().call("submission", "PUT", "/auth/me/email", token=person.token, json={"email": address},
                      headers=forwarded())


@bp.route("/account/email", methods=["GET", "POST"])
@signed_in()
def email(person: Person):
    """The account's e-mail address: what is confirmed, what waits for confirmation, and a form to give another
    (the API mails a confirmation link to it)."""
    form = EmailForm()
    refusal = None
    if form.validate_on_submit():
        address = form.email.data.strip()
        try:
            _set_email(person, address)
        except ApiError as error:
            if error.status not in (401, 422, 429, 503):
                raise
            refusal = explain(error)
            apply_reasons(form, error)
        else:
            session["notice"] = gettext("A confirmation link was sent to %(address)s. Open it to start receiving "
                                        "reminders there.", address=address)
            return redirect(url_for("auth.email"))
    current = api().call("submission", "GET", "/auth/me", token=person.token).body
    return render_template("auth/email.html", form=form, refusal=refusal, current=current)


@bp.post("/account/email/remove")
@signed_in()
def remove_email(person: Person):
    """Remove the address (confirmed and waiting): reminders are then shown only in the system."""
    _set_email(person, None)
    session["notice"] = gettext("The e-mail address has been removed: reminders are shown only in the system.")
    return redirect(url_for("auth.email"))


@bp.route("/account/email/confirm", methods=["GET", "POST"])
def confirm_email():
    """The page a confirmation link opens: one button confirms the address (no sign-in needed)."""
    form = ConfirmEmailForm()
    token = (form.token.data or request.args.get("token", ""))[:2048]
    refusal, confirmed = None, None
    if not token:
        refusal = gettext("The link is not complete: copy the whole link from the e-mail.")
    elif form.validate_on_submit():
        try:
            confirmed = api().call("submission", "POST", "/auth/email/confirm", json={"token": token},
                                   headers=forwarded()).body
        except ApiError as error:
            if error.status not in (409, 422, 429, 503):
                raise
            reasons = field_reasons(error).get("token")
            refusal = " ".join(reasons) if reasons else explain(error)
    return render_template("auth/confirm_email.html", form=form, token=token, refusal=refusal, confirmed=confirmed)


@bp.post("/signout")
def sign_out():
    """End the session (a form with its CSRF token, so no other site can sign a person out)."""
    session.clear()
    session["notice"] = gettext("You have signed out.")
    return redirect(url_for("auth.sign_in"))


@bp.get("/lang/<code>")
def language(code: str):
    """Switch the pages' language (Thai or English) and go back where the person was."""
    if code not in i18n.LANGUAGES:
        abort(404)
    response = make_response(redirect(_safe_next(request.args.get("next")) or url_for("home")))
    response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True,
                        secure=request.is_secure)
    return response


def forwarded() -> dict:
    """The person's address for the APIs' per-client throttling and security events: the client as the web app
    decided it (behind NCC_FORWARDED_HOPS proxies, the one they forwarded; else the peer). ``Api.call`` sends it
    with the web app's proxy token, which the APIs check before they believe it."""
    return {"X-Forwarded-For": request.remote_addr or ""}
