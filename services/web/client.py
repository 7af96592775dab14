"""The web app's client of the two APIs: JSON over HTTP with the signed-in person's token, nothing else."""
from __future__ import annotations

from dataclasses import dataclass, field

import requests

from shared.web import PROXY_HEADER

from .errors import ApiError


@dataclass
class Answer:
    """An accepted API answer: status, JSON body (or raw bytes for exports) and headers."""

    status: int
    body: object
    headers: dict = field(default_factory=dict)
    content: bytes = b""


class Api:
    """Calls the submission (write) and tracker (read) services; every refusal becomes an ``ApiError``."""

    def __init__(self, submission_url: str, tracker_url: str, timeout: float = 30.0, session=None,
                 proxy_token: str | None = None):
        self.base = {"submission": submission_url.rstrip("/") + "/api/v1",
                     "tracker": tracker_url.rstrip("/") + "/api/v1"}
        self.proxy_token = proxy_token        # shows the APIs that this is the web app, whose X-Forwarded-For counts
        self.timeout = timeout
        self.http = session or requests.Session()

    def call(self, service: str, method: str, path: str, *, token: str | None = None, json=None, params=None,
             headers: dict | None = None, raw: bool = False, data: dict | None = None,
             files: dict | None = None) -> Answer:
        """One request; 2xx/304 answers, anything else raises ``ApiError`` with the API's reasons."""
        sent = dict(headers or {})
        if self.proxy_token and "X-Forwarded-For" in sent:
            sent[PROXY_HEADER] = self.proxy_token
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            response = self.http.request(method, self.base[service] + path, json=json, params=params,
                                         headers=sent, timeout=self.timeout, data=data, files=files)
        except requests.RequestException as exc:
            raise ApiError(503, f"{service} service unreachable: {type(exc).__name__}", unreachable=True) from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if raw:
            return Answer(response.status_code, None, dict(response.headers), response.content)
        body = response.json() if response.content and "json" in response.headers.get("Content-Type", "") else None
        return Answer(response.status_code, body, dict(response.headers))

    def ready(self) -> dict:
        """Each API's ``/readyz`` status code (None: unreachable)."""
        out = {}
        for service, base in self.base.items():
            try:
                out[service] = self.http.get(base.removesuffix("/api/v1") + "/readyz", timeout=5).status_code
            except requests.RequestException:
                out[service] = None
        return out

    def read(self, path: str, token: str, **params) -> dict:
        """GET from the tracker, the JSON body."""
        return self.call("tracker", "GET", path, token=token,
                         params={k: v for k, v in params.items() if v not in (None, "")}).body

    def upload(self, path: str, token: str, fields: dict, file, *, idempotency_key: str | None = None) -> Answer:
        """A file and its form's fields to the submission service (multipart/form-data), with the form's key."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.call("submission", "POST", path, token=token, headers=headers,
                         data={k: v for k, v in fields.items() if v not in (None, "")},
                         files={"file": (file.filename or "evidence", file.stream, file.mimetype)})

    def write(self, method: str, path: str, token: str, body: dict, *, idempotency_key: str | None = None,
              if_match: int | str | None = None) -> Answer:
        """A write to the submission service, with the form's Idempotency-Key and the version it was read at."""
        headers = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if if_match not in (None, ""):
            headers["If-Match"] = f'"{if_match}"'
        return self.call("submission", method, path, token=token, json=body, headers=headers)
