"""The project's errors, each with the HTTP status it becomes at the edge."""
from __future__ import annotations


class NccError(Exception):
    """Base of every refusal; ``status`` is the HTTP code, ``extra`` goes into the body."""

    status = 400

    def __init__(self, message: str, *, errors: dict | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.extra = extra


class NotFoundError(NccError):
    """An unknown unit, item, round or event."""

    status = 404


class RuleError(NccError):
    """A domain rule refuses the change (409); ``rule`` names it."""

    status = 409

    def __init__(self, rule: str, message: str, **extra):
        super().__init__(message, rule=rule, **extra)
        self.rule = rule


class InvalidError(NccError):
    """The request is well-formed but its content is not acceptable (422)."""

    status = 422

    def __init__(self, message: str, *, field_errors: dict | None = None, **extra):
        super().__init__(message, errors={"json": field_errors} if field_errors else None, **extra)


class IdempotencyMismatchError(InvalidError):
    """The Idempotency-Key was used before with another request body."""


class PreconditionFailedError(NccError):
    """If-Match named another version than the stream is at (412)."""

    status = 412

    def __init__(self, current_version: int):
        super().__init__(
            f"the unit's log is at version {current_version}, not the one in If-Match; "
            "read it again and resend with the current version",
            current_version=current_version,
        )
        self.current_version = current_version


class UnauthenticatedError(NccError):
    """No valid identity on the request (401)."""

    status = 401


class ForbiddenError(NccError):
    """The identity's role or scope does not allow this (403)."""

    status = 403


class TooManyAttemptsError(NccError):
    """Too many failed attempts for this username or client address (429, with Retry-After)."""

    status = 429

    def __init__(self, retry_after: int, what: str = "too many failed attempts"):
        super().__init__(f"{what}; try again in {retry_after} seconds", retry_after=retry_after)


class StoreUnavailableError(NccError):
    """Redis cannot be reached or refused the write; the client re-sends with its Idempotency-Key (503)."""

    status = 503


class IntegrityError(NccError):
    """The stored log disagrees with itself (head vs stream); writes to it stop (503)."""

    status = 503


class UnknownSchemaVersionError(Exception):
    """An event carries a type or schema version this code does not know how to read."""


class DocumentUnavailableError(NccError):
    """A document cannot be made on this machine now (e.g. its Thai font is not installed): 503, nothing lost."""

    status = 503
