"""Request and answer schemas of the write API (field types come from shared.schemas)."""
from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.schemas import (ANCHORS, CHANNELS, DECISIONS, TARGETS, EntryComment, ReportEntryV2, Budgets, FiscalYear, Instant, ItemDetailsSchema, Money, Reason,
                            ReportEntrySchema, Round, Text)

DETAIL_FIELDS = tuple(ItemDetailsSchema().fields)


class PlanRequest(Schema):
    """PUT /units/{code}/plan."""

    title = Text(required=True, blank=False, max_length=500)
    first_fiscal_year = FiscalYear(required=True)
    last_fiscal_year = FiscalYear(required=True)
    reason = Text(allow_none=True, max_length=2000)


class ItemAddRequest(ItemDetailsSchema):
    """POST /units/{code}/plan/items; ``budgets`` maps a scheduled year to baht (others default to 0.00)."""

    budgets = Budgets()


class _BudgetsNotHere(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("Budgets change one year at a time: PUT .../items/{item_id}/budgets/{fiscal_year}.")


class ItemEditRequest(ItemDetailsSchema):
    """PATCH /units/{code}/plan/items/{item_id}: any details, and the reason."""

    reason = Reason()
    budgets = _BudgetsNotHere()

    def __init__(self, **kwargs):
        super().__init__(partial=DETAIL_FIELDS, **kwargs)

    @validates_schema
    def _something(self, data, **kwargs):
        if not set(data) & set(DETAIL_FIELDS):
            raise ValidationError(f"Name at least one field to change ({', '.join(DETAIL_FIELDS)}).")


class BudgetRequest(Schema):
    """PUT /units/{code}/plan/items/{item_id}/budgets/{fiscal_year}."""

    amount = Money(required=True)
    reason = Reason()


class RemoveRequest(Schema):
    """DELETE /units/{code}/plan/items/{item_id}."""

    reason = Reason()


class ReportRequest(Schema):
    """PUT /units/{code}/reports/{fiscal_year}/{round}."""

    entries = fields.List(fields.Nested(ReportEntryV2), required=True, validate=validate.Length(max=2000),
                          metadata={"description": "an entry's response answers the reviewer's comment on it"})
    note = Text(allow_none=True)


class ReviewRequest(Schema):
    """POST /units/{code}/reports/{fiscal_year}/{round}/review."""

    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    comment = Text(allow_none=True, max_length=5000)
    entries = fields.List(fields.Nested(EntryComment), load_default=list, validate=validate.Length(max=2000),
                          metadata={"description": "per entry that needs work, what to correct there"})


class ReminderRequest(Schema):
    """POST /units/{code}/reminders."""

    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    message = Text(required=True, blank=False, max_length=5000)
    channel = fields.String(load_default="in_app", validate=validate.OneOf(CHANNELS),
                            metadata={"description": "how the reminder went out (default in_app)"})


class ExceptionRequest(Schema):
    """POST /units/{code}/reports/{fiscal_year}/{round}/exceptions."""

    until = Instant(required=True)
    reason = Reason()


class WindowRequest(Schema):
    """PUT /windows/{fiscal_year}/{round}; ``opens_at`` defaults to the day after the covered period."""

    opens_at = Instant()
    due_at = Instant(required=True)
    locks_at = Instant(required=True)


class ReminderRuleRequest(Schema):
    """PUT /reminder-rules/{fiscal_year}/{round}/{rule_id}: when the reminder goes out and to whom."""

    anchor = fields.String(required=True, validate=validate.OneOf(ANCHORS),
                           metadata={"description": "the window's date it is counted from"})
    offset_days = fields.Integer(required=True, strict=True, validate=validate.Range(-90, 90),
                                 metadata={"description": "days after the anchor (negative: before); sent at 09:00"})
    target = fields.String(required=True, validate=validate.OneOf(TARGETS))
    message = Text(allow_none=True, max_length=2000, metadata={"description": "none: the standard Thai message"})
    active = fields.Boolean(load_default=True)
    audience = fields.String(load_default="unit", validate=validate.OneOf(("unit", "supervisors")), metadata={
        "description": "unit: a reminder to each targeted unit; supervisors: an escalation, listing the targeted "
                       "units in a daily digest to their supervisors until the round locks"})
    above_after_days = fields.Integer(allow_none=True, load_default=None, strict=True, validate=validate.Range(0, 90),
                                      metadata={"description": "an escalation's days until it also reaches the "
                                                               "supervisors above (none: never)"})


class ParentRequest(Schema):
    """PUT /supervisors/{username}/parent: the supervisor above this one (null: directly under NACC)."""

    parent = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9_.@-]{1,64}$"),
                           metadata={"description": "a supervisor's username, or null"})
    reason = Text(allow_none=True, max_length=2000)


class EvidenceForm(Schema):
    """POST /units/{code}/evidence, multipart/form-data beside the ``file`` part: where the file goes."""

    item_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    fiscal_year = FiscalYear(strict=False, allow_none=True,
                             metadata={"description": "with round: the item's entry in that report"})
    round = Round(strict=False, allow_none=True)
    public = fields.Boolean(load_default=False, metadata={"description": "shown on the unit's public pages"})
    description = Text(allow_none=True, max_length=500)


class PublicityRequest(Schema):
    """PUT /units/{code}/evidence/{version}/publicity: publish the file attached at that version, or not."""

    public = fields.Boolean(required=True)
    reason = Reason()


class EvidenceUpload(Schema):
    """The file itself: PDF, PNG, JPEG or an office document, its type read from its content."""

    file = Upload(required=True)


class Receipt(Schema):
    """Proof of a write that anyone can check with the published keys (``GET /public/keys``), offline too."""

    unit = fields.String(allow_none=True, required=True)
    stream = fields.String(required=True)
    version = fields.Integer(required=True)
    event_id = fields.String(required=True)
    type = fields.String(required=True)
    hash = fields.String(required=True, metadata={"description": "the event's hash in the unit's chain"})
    recorded_at = fields.String(required=True)
    key_id = fields.String(required=True)
    signature = fields.String(required=True, metadata={
        "description": "Ed25519, base64, over the canonical JSON (sorted keys, no spaces, UTF-8) of the other fields"})


class WriteAnswer(Schema):
    """What every accepted write answers."""

    event_id = fields.String(required=True)
    unit = fields.String(allow_none=True, metadata={"description": "the unit code (null for the windows stream)"})
    stream = fields.String(required=True)
    version = fields.Integer(required=True)
    recorded_at = fields.String(required=True)
    type = fields.String(required=True)
    item_id = fields.String()
    late = fields.Boolean()
    amendment = fields.Integer()
    receipt = fields.Nested(Receipt, required=True)
    sha256 = fields.String(metadata={"description": "an evidence file's SHA-256, its name in the store"})
