"""Who is acting, and whether their role lets them write to a path.

Until sign-in exists the identity comes from a resolver given to the app factory; the default one
reads ``X-Actor: <role>:<username>``, a development-only stand-in that token verification replaces.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ForbiddenError, NotFoundError, UnauthenticatedError

ROLES = ("unit", "supervisor", "nacc", "auditor", "operator")
UNIT_CODE = re.compile(r"^\d{7}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class Actor:
    """The identity a request acts as."""

    username: str
    role: str

    def as_dict(self) -> dict:
        """As recorded in an event's envelope."""
        return {"username": self.username, "role": self.role}


def actor_from_header(headers) -> Actor:
    """The development resolver: ``X-Actor: <role>:<username>``; 401 when missing or malformed."""
    raw = headers.get("X-Actor", "")
    role, _, username = raw.partition(":")
    if role not in ROLES or not _USERNAME.match(username):
        raise UnauthenticatedError("no identity on the request: send X-Actor: <role>:<username>")
    if role == "unit" and not UNIT_CODE.match(username):
        raise UnauthenticatedError("a unit signs in with its 7-digit code")
    return Actor(username, role)


def check_unit_code(code: str) -> str:
    """404 unless the path names a unit code (7 digits)."""
    if not UNIT_CODE.match(code):
        raise NotFoundError(f"no unit {code!r}: unit codes are 7 digits")
    return code


# action -> roles allowed; for the "unit" role the path's unit must be the actor's own.
POLICY = {
    "plan": ("unit",),
    "report": ("unit",),
    "review": ("supervisor",),
    "remind": ("supervisor", "nacc"),
    "exception": ("supervisor", "nacc"),
    "window": ("nacc",),
    "reminder_rule": ("nacc", "supervisor"),     # NACC's are national; a supervisor's go to its own units
    "hierarchy": ("operator", "nacc"),           # which supervisory unit is under which
}


def authorize(actor: Actor, action: str, unit: str | None = None, supervised=None) -> None:
    """403 unless the actor's role may do ``action`` (on ``unit``): a unit on its own, a supervisor on the units
    of its subtree (``supervised``)."""
    allowed = POLICY[action]
    if actor.role not in allowed:
        raise ForbiddenError(f"role {actor.role} may not do this (allowed: {', '.join(allowed)})")
    if actor.role == "unit" and unit is not None and actor.username != unit:
        raise ForbiddenError(f"unit {actor.username} may only change its own plan and reports")
    if actor.role == "supervisor" and unit is not None and unit not in (supervised or ()):
        raise ForbiddenError(f"unit {unit} is not among the units supervisor {actor.username} oversees")


# Read actions -> roles that may read; "unit" reads only its own, "supervisor" only its units.
READ_POLICY = {
    "unit_status": ("unit", "supervisor", "nacc", "auditor"),
    "unit_audit": ("unit", "supervisor", "nacc", "auditor"),
    "unit_events": ("nacc", "auditor"),
    "unit_state": ("unit", "supervisor", "nacc", "auditor"),   # a supervisor reads the reports it reviews
    "unit_verify": ("nacc", "auditor"),
    "unit_receipt": ("unit", "supervisor", "nacc", "auditor"),
    "unit_evidence": ("unit", "supervisor", "nacc", "auditor"),   # proof of what the unit filed and when
    "overview": ("supervisor", "nacc", "auditor"),
    "compliance": ("nacc", "auditor"),
    "export": ("supervisor", "nacc", "auditor"),
    "lag": ("nacc", "auditor", "operator"),
    "replay": ("operator", "auditor"),
}


def authorize_read(actor: Actor, action: str, *, unit: str | None = None, supervised=None,
                   supervisor: str | None = None, below=()) -> None:
    """403 unless the actor may read: by role, then by scope (own unit; a supervisor the units of its subtree,
    ``supervised``, and its own overview or that of a supervisor ``below`` it)."""
    allowed = READ_POLICY[action]
    if actor.role not in allowed:
        raise ForbiddenError(f"role {actor.role} may not read this (allowed: {', '.join(allowed)})")
    if actor.role == "unit" and unit is not None and actor.username != unit:
        raise ForbiddenError(f"unit {actor.username} may only read its own status and history")
    if actor.role == "supervisor":
        if supervisor is not None and actor.username != supervisor and supervisor not in below:
            raise ForbiddenError("a supervisor may only read its own overview and those of the supervisors under it")
        if unit is not None and unit not in (supervised or ()):
            raise ForbiddenError(f"unit {unit} is not among the units supervisor {actor.username} oversees")
