"""The web app's one error: an API refusal (or an unreachable API), with the API's reasons kept whole."""
from __future__ import annotations


class ApiError(Exception):
    """An API answered 4xx/5xx, or could not be reached (``unreachable``, shown as 503)."""

    def __init__(self, status: int, message: str, *, errors: dict | None = None, rule: str | None = None,
                 retry_after: int | None = None, body: dict | None = None, unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}
        self.rule = rule
        self.retry_after = retry_after
        self.body = body or {}
        self.unreachable = unreachable

    @classmethod
    def from_response(cls, response) -> "ApiError":
        """Read API.md's error body (``code, status, message, errors, rule``) and ``Retry-After``."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        retry = response.headers.get("Retry-After")
        return cls(response.status_code, str(body.get("message") or response.reason or ""),
                   errors=body.get("errors") if isinstance(body.get("errors"), dict) else None,
                   rule=body.get("rule"), retry_after=int(retry) if retry and retry.isdigit() else None, body=body)

    def field_errors(self) -> dict[str, list[str]]:
        """The reasons per field, flattened to dotted names (``entries.0.spent``), from every location."""
        flat: dict[str, list[str]] = {}

        def walk(value, path):
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(inner, f"{path}.{key}" if path else str(key))
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                flat.setdefault(path, []).extend(value)
            elif isinstance(value, list):
                for n, inner in enumerate(value):
                    walk(inner, f"{path}.{n}")
            elif value is not None:
                flat.setdefault(path, []).append(str(value))

        for location in ("json", "query", "path", "headers"):
            walk(self.errors.get(location), "")
        return flat
