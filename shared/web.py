"""Flask pieces both services share: exact JSON parsing, API.md's error shape, health endpoints."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from decimal import Decimal

import flask_smorest
import marshmallow as ma
import redis as redis_lib
from flask import Flask, current_app, g, jsonify, request, send_from_directory
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import HTTPException, UnsupportedMediaType

from . import logs
from .connections import STORE_ERRORS, unavailable_reason
from .errors import NccError

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _no_constants(name: str):
    raise json.JSONDecodeError(f"{name} is not a number JSON allows", name, 0)


MAX_JSON_DEPTH = 16           # the deepest body any route takes is 4 levels (a report's entries' fields)
MAX_NUMBER_DIGITS = 40        # versions are below 2**53 (16 digits); money travels as a string
MAX_ARRAY_ITEMS = 5000        # the longest list a route takes is a report's 2,000 entries
MAX_OBJECT_KEYS = 1000        # the widest object a route takes has a few dozen
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


class HostileJSON(ValueError):
    """A body JSON allows but no route takes: nested too deep, a number too long, an array or object too large, a key
    twice (400)."""


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (strings taken out first), without decoding it: the
    decoder recurses once per level, and a 2 KB body of ``[`` would run it out of stack."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub('""', text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _number(kind):
    def parse(literal: str):
        if len(literal.lstrip("-")) > MAX_NUMBER_DIGITS:
            raise HostileJSON(f"a number in the body has {len(literal)} characters; at most {MAX_NUMBER_DIGITS} "
                              "are accepted")
        return kind(literal)
    return parse


def _unique_keys(pairs: list) -> dict:
    if len(pairs) > MAX_OBJECT_KEYS:
        raise HostileJSON(f"an object in the body has {len(pairs):,} keys; at most {MAX_OBJECT_KEYS:,} are accepted")
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise HostileJSON(f"the key {key!r} appears twice in one object: send each key once")
        seen[key] = value
    return seen


def load_json(text: str):
    """A JSON body as the routes read it: numbers with a fraction as Decimal (money is never a float), no NaN or
    Infinity, at most MAX_JSON_DEPTH levels, numbers of at most MAX_NUMBER_DIGITS digits, arrays of at most
    MAX_ARRAY_ITEMS elements, objects of at most MAX_OBJECT_KEYS keys, each key once.
    HostileJSON or json.JSONDecodeError when not."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise HostileJSON(f"the body nests {depth} levels of arrays and objects; at most {MAX_JSON_DEPTH} are "
                          "accepted")
    value = json.loads(text, parse_float=_number(Decimal), parse_int=_number(int), parse_constant=_no_constants,
                       object_pairs_hook=_unique_keys)
    _short_arrays(value)
    return value


def _short_arrays(value) -> None:
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, list):
            if len(item) > MAX_ARRAY_ITEMS:
                raise HostileJSON(f"an array in the body has {len(item):,} elements; at most {MAX_ARRAY_ITEMS:,} "
                                  "are accepted")
            todo.extend(item)
        elif isinstance(item, dict):
            todo.extend(item.values())


class ExactJSONParser(FlaskParser):
    """webargs' Flask parser reading bodies with ``load_json``: exact numbers, and nothing a hostile body could
    use to make a decoder fail (depth, long numbers) or two parsers disagree (a key twice)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return webargs_core.missing
        text = req.get_data(cache=True).decode("utf-8")     # UnicodeDecodeError: webargs answers 400
        try:
            return load_json(text)
        except HostileJSON as error:
            flask_smorest.abort(400, message=f"The body is not accepted: {error}")

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        if isinstance(error, UnicodeDecodeError):
            flask_smorest.abort(400, message=f"The body is not valid JSON: it is not UTF-8 ({error.reason})")
        flask_smorest.abort(400, message=f"The body is not valid JSON: {error}")


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the exact JSON parser."""

    ARGUMENTS_PARSER = ExactJSONParser()


def _first_reason(errors, path: str = "") -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key in ("json", "query", "path", "headers") and not path:
                return _first_reason(value, "")
            return _first_reason(value, f"{path}.{key}" if path else str(key))
    if isinstance(errors, list) and errors:
        return f"{path}: {errors[0]}" if path else str(errors[0])
    return path


class ErrorSchema(ma.Schema):
    """API.md's error body as documented: the reasons per field, and each rule's own fields beside them."""

    class Meta:
        unknown = ma.INCLUDE      # documented as additionalProperties: rule, current_version, locks_at ...

    code = ma.fields.Integer(required=True, metadata={"description": "the HTTP status"})
    status = ma.fields.String(required=True, metadata={"description": "its name"})
    message = ma.fields.String(required=True, metadata={"description": "why, in words"})
    errors = ma.fields.Dict(metadata={"description": "per location and field, the reasons"})
    rule = ma.fields.String(metadata={"description": "the domain rule that refused the change (409)"})


class Api(flask_smorest.Api):
    """flask-smorest's Api whose every error body carries a ``message``, as API.md asks."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        if "message" not in payload:
            if "errors" in payload:
                payload["message"] = "The request is not valid: " + _first_reason(payload["errors"])
            else:
                payload["message"] = error.description or error.name
        return payload, code, headers


def error_body(code: int, message: str, errors: dict | None = None, **extra) -> dict:
    """API.md's error shape."""
    from http import HTTPStatus
    body = {"code": code, "status": HTTPStatus(code).phrase, "message": message}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def _ncc_error(error: NccError):
    body = error_body(error.status, error.message, error.errors, **error.extra)
    response = jsonify(body)
    response.status_code = error.status
    if "current_version" in error.extra:
        response.headers["ETag"] = f'"{error.extra["current_version"]}"'
    if error.status == 503:
        response.headers["Retry-After"] = "1"
    if "retry_after" in error.extra:
        response.headers["Retry-After"] = str(error.extra["retry_after"])
    return response


def _redis_down(error: Exception):
    reason = unavailable_reason(error)
    if reason is None:
        return _unexpected(error)         # Redis refused what we sent: our bug, not an outage
    log.warning("redis unavailable: %r", error)
    response = jsonify(error_body(503, f"{reason} ({type(error).__name__}); send the request again in a moment (with "
                                       "the same Idempotency-Key for a write)"))
    response.status_code = 503
    response.headers["Retry-After"] = "1"
    return response


def _unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return current_app.extensions["ncc_api"].handle_http_exception(error)
    log.exception("unhandled error")
    response = jsonify(error_body(500, "an unexpected error occurred; it has been logged"))
    response.status_code = 500
    return response


def _too_large(error):
    limit = request.max_content_length
    response = jsonify(error_body(413, f"the body is over the limit of {limit:,} bytes" if limit else
                                  "the body is too large"))
    response.status_code = 413
    return response


MULTIPART_PATHS = re.compile(rf"^{API_PREFIX}/units/[^/]+/evidence$")     # file uploads: multipart/form-data


def _require_json():
    if request.method in WRITE_METHODS and MULTIPART_PATHS.match(request.path):
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType(f"send the file as multipart/form-data with a part named file "
                                       f"(got {request.mimetype or 'no content type'})")
        return
    if request.method in WRITE_METHODS and request.path.startswith(API_PREFIX) and not request.is_json:
        raise UnsupportedMediaType(f"send the body as JSON with Content-Type: application/json "
                                   f"(got {request.mimetype or 'no content type'})")


def _request_id():
    """The caller's ``X-Request-Id`` when it is a plain token (letters, digits, ``._-``, up to 64), else a new one;
    kept in ``g``, in the log context and in every event the request appends."""
    given = request.headers.get("X-Request-Id") or ""
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    logs.request_id.set(g.request_id)


def _echo_request_id(response):
    response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
    return response


def _forget_request_id(_exc=None):
    logs.request_id.set(None)


# Swagger UI's files from the pinned swagger-ui-bundle package, served by the service itself: no CDN
# (offices' networks filter the internet, and the docs page must not depend on an outside origin)
SWAGGER_UI_STATIC = f"{API_PREFIX}/docs/static/"


def _serve_swagger_ui(app: Flask) -> None:
    """``/api/v1/docs/static/<file>``: the docs page's scripts and styles, from the installed package."""
    from swagger_ui_bundle import swagger_ui_path

    folder = str(swagger_ui_path)

    @app.get(SWAGGER_UI_STATIC + "<path:filename>", endpoint="swagger_ui_static")
    def swagger_ui_static(filename):
        # files never change within a pinned package version: let browsers keep them for a day
        return send_from_directory(folder, filename, max_age=86400)


def make_api(app: Flask, title: str, description: str) -> Api:
    """Configure OpenAPI (``/api/v1/openapi.json``, docs at ``/api/v1/docs``) and error handling."""
    app.config.setdefault("API_TITLE", title)
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", SWAGGER_UI_STATIC)
    app.config.setdefault("API_SPEC_OPTIONS", {"info": {"description": description}})
    app.json.ensure_ascii = False     # Thai text comes back as Thai, not \u escapes
    api = Api(app)
    app.extensions["ncc_api"] = api
    _serve_swagger_ui(app)
    app.register_error_handler(413, _too_large)
    app.register_error_handler(NccError, _ncc_error)
    app.register_error_handler(redis_lib.RedisError, _redis_down)
    app.register_error_handler(redis_lib.exceptions.RedisClusterException, _redis_down)   # not a RedisError
    app.register_error_handler(Exception, _unexpected)
    app.before_request(_request_id)
    app.before_request(_require_json)
    app.after_request(_echo_request_id)
    app.teardown_request(_forget_request_id)
    return api


PROXY_HEADER = "X-Ncc-Proxy"


def proxy_token(secret: str) -> str:
    """What the web app sends in ``X-Ncc-Proxy`` to show it is the proxy whose ``X-Forwarded-For`` counts: an HMAC
    of the secret the services share, so a client reaching an API directly cannot forge a reader's address."""
    return hmac.new(secret.encode("utf-8"), b"ncc-forwarded-for", hashlib.sha256).hexdigest()


def trust_forwarded(app: Flask, hops: int, secret: str | None = None) -> None:
    """Decide who the client is, so throttling, access lines and security events count people, not proxies.

    ``hops`` is how many reverse proxies the operator put in front of this service (``NCC_FORWARDED_HOPS``): the
    client's address and scheme are read that many hops deep into ``X-Forwarded-For`` / ``X-Forwarded-Proto``
    (werkzeug's ProxyFix); with none, both headers are ignored, whatever a client sends.

    ``secret`` (the APIs): the web app is a proxy the APIs can authenticate. It calls them directly, sends the one
    address it decided the client has, and signs the request with ``X-Ncc-Proxy`` (``proxy_token``); a request
    carrying that token has that address read, one hop, whatever ``hops`` says. A request without it (or with a
    wrong one) is read by ``hops`` alone, so a client reaching an API directly cannot pass for someone else."""
    from werkzeug.middleware.proxy_fix import ProxyFix
    inner = app.wsgi_app
    fixed = ProxyFix(inner, x_for=hops, x_proto=hops) if hops else inner
    if secret is None:
        app.wsgi_app = fixed
        return
    web_app = ProxyFix(inner, x_for=1)
    token = proxy_token(secret).encode("ascii")
    header = "HTTP_" + PROXY_HEADER.upper().replace("-", "_")

    def gate(environ, start_response):
        # WSGI gives header values as latin-1 text: compared as bytes, a non-ASCII forgery is just unequal
        if hmac.compare_digest(environ.get(header, "").encode("latin-1", "replace"), token):
            return web_app(environ, start_response)
        return fixed(environ, start_response)
    app.wsgi_app = gate


def add_health(app: Flask, ping) -> None:
    """``/healthz`` (the process answers) and ``/readyz`` (its Redis answers, else 503)."""

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        try:
            ping()
        except STORE_ERRORS as exc:
            response = jsonify(error_body(503, f"redis is not reachable: {type(exc).__name__}"))
            response.status_code = 503
            return response
        return {"status": "ready"}
