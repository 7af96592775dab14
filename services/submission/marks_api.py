"""``/auth/me/read``: which notifications (reminders in a unit's log) the signed-in account has marked read.

Read marks are the person's, not the plan's history: they are kept beside the account (like its credentials), never
in the event log, and only the newest ``MAX_MARKS`` are kept.
"""
from __future__ import annotations

from flask import current_app, g
from marshmallow import Schema, fields, validate

from shared.web import Blueprint

from .auth_api import signed_in

bp = Blueprint("marks", __name__, description="Notifications marked read, per account")

MAX_MARKS = 5000
NOTIFICATION_ID = r"^\d{7}:\d{1,12}$"          # the unit's stream and the reminder's version in it


class MarkRequest(Schema):
    """POST /auth/me/read: the notifications to mark read."""

    ids = fields.List(fields.String(validate=validate.Regexp(NOTIFICATION_ID, error="Not a notification id "
                                                                                    "(<unit code>:<version>).")),
                      required=True, validate=validate.Length(min=1, max=500))


class MarksAnswer(Schema):
    """The notifications the account has marked read."""

    read = fields.List(fields.String(), metadata={"description": "<unit code>:<version> of each, newest first"})


@bp.route("/auth/me/read", methods=["GET"])
@bp.response(200, MarksAnswer)
@bp.doc(summary="The notifications the signed-in account has marked read")
@signed_in
def read_marks():
    actor = g.actor
    ext = current_app.extensions["ncc"]
    marks = ext["service"].redis.zrevrange(ext["service"].keys.read_marks(actor.username), 0, -1)
    return {"read": [m.decode() for m in marks]}


@bp.route("/auth/me/read", methods=["POST"])
@bp.response(200, MarksAnswer)
@bp.doc(summary="Mark notifications read (marking one twice changes nothing); the newest 5,000 are kept")
@signed_in
@bp.arguments(MarkRequest)
def mark_read(body):
    actor = g.actor
    ext = current_app.extensions["ncc"]
    service = ext["service"]
    key = service.keys.read_marks(actor.username)
    now = service.clock().timestamp()
    pipe = service.redis.pipeline(transaction=True)
    pipe.zadd(key, {i: now for i in body["ids"]}, nx=True)
    pipe.zremrangebyrank(key, 0, -MAX_MARKS - 1)
    pipe.zrevrange(key, 0, -1)
    *_, marks = pipe.execute()
    return {"read": [m.decode() for m in marks]}
