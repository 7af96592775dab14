"""The web application's factory: Thai pages for every role, a client of the two APIs and nothing more."""
from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timezone

from flask import Flask, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, gettext
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from shared import metrics
from shared.config import Settings, from_env
from shared.web import proxy_token, trust_forwarded

from . import formatting, i18n, labels
from .client import Api
from .errors import ApiError
from .explain import message as explain

log = logging.getLogger(__name__)

# every asset is the app's own: no CDN, no inline script; charts are SVG images (data: URIs)
CSP = {
    "default-src": "'self'",
    "img-src": ["'self'", "data:"],
    "style-src": "'self'",
    "script-src": "'self'",
    "font-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, HttpOnly and SameSite=Lax, marked Secure whenever served over HTTPS."""

    def get_cookie_secure(self, app):
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings | None = None, *, api: Api | None = None, clock=_wall_clock,
               config: dict | None = None) -> Flask:
    """Build the web app; the APIs' addresses come from settings, or an ``Api`` is passed in."""
    settings = settings or from_env()
    settings.check_secret()
    app = Flask(__name__)
    app.config.update(
        # the session cookie holds the API token: its own key, derived from the shared secret
        SECRET_KEY=hashlib.sha256(b"ncc-web-session|" + settings.secret_key.encode()).hexdigest(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="ncc_session",
        WTF_CSRF_TIME_LIMIT=None,           # a report may take an afternoon to type; the session bounds it
        BABEL_DEFAULT_LOCALE=i18n.DEFAULT_LANGUAGE,
        BABEL_DEFAULT_TIMEZONE="Asia/Bangkok",
        BABEL_TRANSLATION_DIRECTORIES=i18n.compile_catalogues(),
        MAX_CONTENT_LENGTH=settings.evidence_max_bytes + 256 * 1024,     # an evidence file and its form's fields
    )
    app.config.update(config or {})
    app.session_interface = SessionCookies()
    app.extensions["ncc_web"] = {"api": api or Api(settings.submission_url, settings.tracker_url,
                                                   proxy_token=proxy_token(settings.secret_key)),
                                 "clock": clock, "settings": settings}
    # the proxies in front of the web app (NCC_FORWARDED_HOPS): who the person is, for the APIs' throttling (sent
    # on as X-Forwarded-For), the access lines and the security events; with none, their headers are ignored
    trust_forwarded(app, settings.forwarded_hops)
    Babel(app, locale_selector=i18n.select_language)
    CSRFProtect(app)
    Talisman(app, force_https=False, session_cookie_secure=False, content_security_policy=CSP,
             referrer_policy="same-origin", frame_options="DENY",
             permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"})
    _filters(app)
    labels.install(app)
    _errors(app)
    _timing(app)

    from .auth import bp as auth_bp, me
    app.register_blueprint(auth_bp)
    from . import units, supervision, nacc, auditor, public
    for module in (units, supervision, nacc, auditor, public):
        app.register_blueprint(module.bp)
    # a notice left by the previous request (post/redirect/get) is shown once, on the next page rendered
    app.context_processor(lambda: {"me": me(), "lang": i18n.select_language(), "now": clock(),
                                   "notice": session.pop("notice", None)})

    @app.get("/")
    def home():
        """Each role's own start page."""
        person = me()
        if person is None:
            return redirect(url_for("auth.sign_in"))
        return redirect(person.home_url())

    @app.get("/healthz")
    def healthz():
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        """Both APIs answer their own /readyz (else 503: the pages could not work)."""
        apis = app.extensions["ncc_web"]["api"].ready()
        ready = all(code == 200 for code in apis.values())
        return {"status": "ready" if ready else "not ready", "apis": apis}, 200 if ready else 503

    return app


def _filters(app: Flask) -> None:
    app.add_template_filter(formatting.thai_date, "thai_date")
    app.add_template_filter(lambda v: formatting.thai_date(v, time=True), "thai_datetime")
    app.add_template_filter(formatting.money, "money")
    app.add_template_filter(lambda v: formatting.time_left(v, app.extensions["ncc_web"]["clock"]()), "time_left")
    app.add_template_filter(formatting.percent, "percent")
    app.add_template_filter(formatting.file_size, "file_size")


def _errors(app: Flask) -> None:
    """Every failure is a page in the person's language, never a stack trace or a bare status code."""

    def page(status: int, text: str, retry_after: int | None = None):
        response = app.make_response((render_template("error.html", status=status, text=text), status))
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(ApiError)
    def api_refused(error: ApiError):
        if error.status == 401:
            session.clear()
            session["notice"] = gettext("Your session has ended. Please sign in again.")
            return redirect(url_for("auth.sign_in", next=request.full_path if request.method == "GET" else None))
        status = error.status if 400 <= error.status < 500 else 503
        if status == 404 and request.blueprint == "public":
            return page(404, gettext("There is no registered unit with this code, or no such fiscal year. "
                                     "Look the unit up in the list of units."))
        return page(status, explain(error), error.retry_after)

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        return page(400, gettext("The form had expired or did not come from this site, so nothing was saved. "
                                 "Open the page again and send it once more."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        texts = {404: gettext("There is no such page."),
                 405: gettext("This page cannot be used that way."),
                 413: gettext("What you sent is too large.")}
        return page(error.code or 400, texts.get(error.code, gettext("The request could not be understood.")))

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error in the web app")
        return page(500, gettext("Something went wrong on our side; it has been logged. Nothing you sent was "
                                 "lost: try again, or contact the system's operators."))


def _timing(app: Flask) -> None:
    @app.before_request
    def started():
        g.started = time.perf_counter()

    @app.after_request
    def timed(response):
        seconds = time.perf_counter() - g.started if "started" in g else 0.0
        if "started" in g:
            response.headers["Server-Timing"] = f"app;dur={seconds * 1000:.1f}"
        response.headers.setdefault("Cache-Control", "no-store")
        # the access line, with the client behind the configured proxies (NCC_FORWARDED_HOPS)
        metrics.log_access("web", request.url_rule.rule if request.url_rule else "unmatched", response.status_code,
                           seconds, session.get("username"))
        return response
