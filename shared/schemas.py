"""Marshmallow fields and the payload schema of every event type, by schema version."""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from . import fiscal

KINDS = ("project", "activity", "measure", "guideline")
TARGET_GROUPS = ("executives", "council_members", "staff", "children_youth", "citizens",
                 "schools", "government_agencies", "state_enterprises", "private_sector")
STATUSES = ("not_started", "in_progress", "completed", "not_feasible")
REASONS = ("no_budget", "policy_changed", "insufficient_staff", "other")
DECISIONS = ("accepted", "returned")

MONEY_MAX = Decimal("1000000000000")      # one trillion baht: far above any unit's budget
_MONEY_TEXT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Money(fields.Field):
    """Baht, >= 0 with at most 2 decimals, from a JSON string or number; loads as Decimal, dumps as ``"50000.00"``."""

    default_error_messages = {
        "invalid": "Not a valid amount of baht: send a string like \"50000.00\" (at most 2 decimals, not negative).",
        "too_large": "Amount is too large (the limit is 1,000,000,000,000 baht).",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            value = repr(value)           # the shortest text that reads back as this float
        if isinstance(value, (int, Decimal)):
            value = str(value)
        if not isinstance(value, str) or not _MONEY_TEXT.match(value):
            raise self.make_error("invalid")
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise self.make_error("invalid") from None
        if amount >= MONEY_MAX:
            raise self.make_error("too_large")
        return amount

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else money_text(value)


def money_text(amount) -> str:
    """The stored and returned form of an amount: two decimals, no exponent."""
    return f"{Decimal(amount).quantize(Decimal('0.01')):f}"


class Text(fields.String):
    """UTF-8 text stored exactly as sent, NFC-normalised; no control characters but tab and newlines."""

    default_error_messages = {
        "blank": "Must not be blank.",
        "encoding": "Text must be valid Unicode (no lone surrogates).",
        "control": "Text must not contain control characters.",
    }

    def __init__(self, *args, max_length: int = 5000, blank: bool = True, **kwargs):
        validators = list(kwargs.pop("validate", []) or [])
        validators.append(validate.Length(max=max_length))
        super().__init__(*args, validate=validators, **kwargs)
        self.allow_blank = blank

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("encoding") from None
        if _CONTROL.search(text):
            raise self.make_error("control")
        text = unicodedata.normalize("NFC", text)
        if not self.allow_blank and not text.strip():
            raise self.make_error("blank")
        return text


def Reason(**kwargs) -> Text:
    """The reason every plan change must carry."""
    return Text(required=True, blank=False, max_length=2000, **kwargs)


def FiscalYear(strict: bool = True, **kwargs) -> fields.Integer:
    """A Buddhist Era fiscal year (strict: a JSON integer; not strict: also text, as in a query string)."""
    return fields.Integer(strict=strict, validate=validate.Range(fiscal.MIN_FISCAL_YEAR, fiscal.MAX_FISCAL_YEAR),
                          **kwargs)


def Round(strict: bool = True, **kwargs) -> fields.Integer:
    """A reporting round: 6 or 12."""
    return fields.Integer(strict=strict, validate=validate.OneOf(fiscal.ROUNDS), **kwargs)


class Instant(fields.Field):
    """An ISO-8601 instant with an offset; loads as an aware datetime, dumps in Bangkok time."""

    default_error_messages = {"invalid": "Not an ISO-8601 date-time with a time zone offset "
                                         "(e.g. \"2021-04-30T23:59:59+07:00\")."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            instant = fiscal.parse_instant(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if not 1900 <= instant.year <= 2200:
            raise self.make_error("invalid")
        return instant

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else fiscal.bangkok_iso(value)


def _fiscal_year_key(value) -> None:
    if not (isinstance(value, str) and value.isdigit() and len(value) == 4
            and fiscal.MIN_FISCAL_YEAR <= int(value) <= fiscal.MAX_FISCAL_YEAR):
        raise ValidationError("Keys are BE fiscal years such as \"2564\".")


Budgets = lambda **kw: fields.Dict(keys=fields.String(validate=_fiscal_year_key), values=Money(required=True), **kw)  # noqa: E731


class ItemDetailsSchema(Schema):
    """The describable fields of a plan item (everything but its id and budgets)."""

    name = Text(required=True, blank=False, max_length=500)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    dimension = fields.Integer(required=True, strict=True, validate=validate.Range(1, 99))
    sub_dimension = fields.String(required=True, validate=validate.Regexp(r"^\d{1,2}\.\d{1,2}$"))
    fiscal_years = fields.List(FiscalYear(), required=True, validate=validate.Length(min=1, max=20))
    responsible = Text(max_length=500)
    objectives = Text()
    target_groups = fields.List(fields.String(validate=validate.OneOf(TARGET_GROUPS)),
                                validate=validate.Length(max=len(TARGET_GROUPS)))
    indicators = Text()
    targets = Text()
    remarks = Text()

    @validates_schema
    def _unique_lists(self, data, **kwargs):
        for name in ("fiscal_years", "target_groups"):
            values = data.get(name)
            if values is not None and len(set(values)) != len(values):
                raise ValidationError("Each value may appear only once.", name)


class ReportEntrySchema(Schema):
    """One plan item's line in a report."""

    item_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(allow_none=True, validate=validate.OneOf(REASONS))
    reason_text = Text(allow_none=True, max_length=2000)
    budget_planned = Money(allow_none=True)
    budget_ordinance = Money(allow_none=True)
    spent = Money(allow_none=True)
    outputs = Text()
    outcomes = Text()
    problems = Text()
    suggestions = Text()

    @validates_schema
    def _reason_rules(self, data, **kwargs):
        if data.get("status") == "not_feasible":
            if not data.get("reason"):
                raise ValidationError("An item that cannot be done needs a reason "
                                      f"({', '.join(REASONS)}).", "reason")
            if data["reason"] == "other" and not (data.get("reason_text") or "").strip():
                raise ValidationError("Reason 'other' needs reason_text.", "reason_text")
        elif data.get("reason"):
            raise ValidationError("A reason is given only for status not_feasible.", "reason")


# ---- event payloads: (type, schema_version) -> schema ------------------------------------

class PlanDeclaredV1(Schema):
    """PlanDeclared v1: a unit declares its plan for a cycle."""

    title = Text(required=True, blank=False, max_length=500)
    first_fiscal_year = FiscalYear(required=True)
    last_fiscal_year = FiscalYear(required=True)
    framework = fields.String(required=True)


class PlanPeriodChangedV1(PlanDeclaredV1):
    """PlanPeriodChanged v1: the plan's title or years change."""

    reason = Text(allow_none=True, max_length=2000)


class ItemAddedV1(ItemDetailsSchema):
    """ItemAdded v1: an item joins the plan, with a budget for each of its years."""

    item_id = fields.String(required=True)
    budgets = Budgets(required=True)


class ItemEditedV1(Schema):
    """ItemEdited v1: some details of an item change (new values only; old ones are in the history)."""

    item_id = fields.String(required=True)
    changes = fields.Nested(lambda: ItemDetailsSchema(partial=True), required=True)
    reason = Reason()


class ItemBudgetChangedV1(Schema):
    """ItemBudgetChanged v1: one fiscal year's budget of an item is raised or lowered."""

    item_id = fields.String(required=True)
    fiscal_year = FiscalYear(required=True)
    amount = Money(required=True)
    reason = Reason()


class ItemRemovedV1(Schema):
    """ItemRemoved v1: an item leaves the plan (it stays in the history)."""

    item_id = fields.String(required=True)
    reason = Reason()


class ReportSubmittedV1(Schema):
    """ReportSubmitted v1: a unit's first report for a fiscal year and round."""

    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    entries = fields.List(fields.Nested(ReportEntrySchema), required=True)
    note = Text(allow_none=True)
    late = fields.Boolean(required=True)
    due_at = Instant(required=True)
    locks_at = Instant(required=True)
    under_exception = fields.Boolean(required=True)


class ReportAmendedV1(ReportSubmittedV1):
    """ReportAmended v1: a correction of the round's report; ``amendment`` counts from 1."""

    amendment = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ReportReviewedV1(Schema):
    """ReportReviewed v1: a supervisor accepts or returns the round's latest report."""

    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    comment = Text(allow_none=True, max_length=5000)
    report_version = fields.Integer(required=True, strict=True)


class EntryComment(Schema):
    """What a reviewer says of one entry of the report: what needs work there."""

    item_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    comment = Text(required=True, blank=False, max_length=2000)


class ReportReviewedV2(ReportReviewedV1):
    """ReportReviewed v2: also a comment per entry that needs work (v1 reviews had none: ``[]``)."""

    entries = fields.List(fields.Nested(EntryComment), required=True, validate=validate.Length(max=2000))


class ReportEntryV2(ReportEntrySchema):
    """A report entry as v2 reports record it: also the unit's answer to the reviewer's comment on it."""

    response = Text(allow_none=True, max_length=2000)


class ReportSubmittedV2(ReportSubmittedV1):
    """ReportSubmitted v2: entries may carry ``response`` (v1 entries had none)."""

    entries = fields.List(fields.Nested(ReportEntryV2), required=True)


class ReportAmendedV2(ReportSubmittedV2):
    """ReportAmended v2: as v1, entries as in ReportSubmitted v2."""

    amendment = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ReminderSentV1(Schema):
    """ReminderSent v1: a supervisor or NACC chases the unit for a round."""

    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    message = Text(required=True, blank=False, max_length=5000)


CHANNELS = ("in_app", "email", "letter", "phone")
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


class ReminderSentV2(ReminderSentV1):
    """ReminderSent v2: also how the reminder went out (v1 reminders were all in the system: ``in_app``)."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))


class ReminderSentV3(ReminderSentV2):
    """ReminderSent v3: also the reminder rule that sent it (null: sent by hand; earlier versions were all by hand)."""

    rule = fields.String(allow_none=True, required=True, validate=validate.Length(max=64))


ANCHORS = ("opens_at", "due_at", "locks_at")
TARGETS = ("not_submitted", "returned")


class ReminderRuleSetV1(Schema):
    """ReminderRuleSet v1 (stream ``windows``): when a round's scheduled reminder goes out and to whom. NACC's rules
    (``scope`` null) are national and replace the default ones for the round; a supervisor's (``scope``: its
    username) go to its own units besides."""

    rule_id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,40}$"))
    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    anchor = fields.String(required=True, validate=validate.OneOf(ANCHORS))
    offset_days = fields.Integer(required=True, strict=True, validate=validate.Range(-90, 90))
    target = fields.String(required=True, validate=validate.OneOf(TARGETS))
    scope = fields.String(allow_none=True, required=True, validate=validate.Regexp(USERNAME_PATTERN))
    message = Text(allow_none=True, max_length=2000)
    active = fields.Boolean(required=True)


class ReminderRuleSetV2(ReminderRuleSetV1):
    """ReminderRuleSet v2: also whom the rule is for: the unit (a reminder; every v1 rule) or its supervisors (an
    escalation: a daily digest from the rule's instant, to the level above ``above_after_days`` later)."""

    audience = fields.String(required=True, validate=validate.OneOf(("unit", "supervisors")))
    above_after_days = fields.Integer(allow_none=True, required=True, strict=True, validate=validate.Range(0, 90))


class ReportingExceptionGrantedV1(Schema):
    """ReportingExceptionGranted v1: the round reopens for this unit until ``until``."""

    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    until = Instant(required=True)
    reason = Reason()


EVIDENCE_TYPES = (
    "application/pdf", "image/png", "image/jpeg",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
)


class EvidenceAttachedV1(Schema):
    """EvidenceAttached v1: a file attached to a plan item, or to its entry in a round's report (both
    ``fiscal_year`` and ``round`` given). The file is in the evidence store under its SHA-256."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    name = Text(required=True, blank=False, max_length=255)
    content_type = fields.String(required=True, validate=validate.OneOf(EVIDENCE_TYPES))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2 ** 40))
    item_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    fiscal_year = FiscalYear(allow_none=True)
    round = Round(allow_none=True)
    public = fields.Boolean(required=True, metadata={"description": "shown on the unit's public pages"})
    description = Text(allow_none=True, max_length=500)


class EvidencePublicityChangedV1(Schema):
    """EvidencePublicityChanged v1: a file attached at ``attached_version`` is published, or taken off the public
    pages (it stays in the store and in the unit's log)."""

    attached_version = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2 ** 53))
    public = fields.Boolean(required=True)
    reason = Reason()


class ReportingWindowSetV1(Schema):
    """ReportingWindowSet v1 (stream ``windows``): NACC sets a round's dates."""

    fiscal_year = FiscalYear(required=True)
    round = Round(required=True)
    opens_at = Instant(required=True)
    due_at = Instant(required=True)
    locks_at = Instant(required=True)


class SupervisorAssignedV1(Schema):
    """SupervisorAssigned v1 (stream ``registry``): units put under a supervisory unit's oversight."""

    supervisor = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.@-]{1,64}$"))
    units = fields.List(fields.String(validate=validate.Regexp(r"^\d{7}$")), required=True,
                        validate=validate.Length(min=1, max=10000))
    reason = Text(allow_none=True, max_length=2000)


USERNAME = r"^[A-Za-z0-9_.@-]{1,64}$"
UNIT_KINDS = ("central_office", "district_office", "provincial_administration", "city_municipality",
              "town_municipality", "subdistrict_municipality", "subdistrict_administration", "special", "other")
ACCOUNT_ROLES = ("unit", "supervisor", "nacc", "auditor", "operator")


class UnitRegisteredV1(Schema):
    """UnitRegistered v1 (stream ``registry``): a reporting unit and its details (again: details change)."""

    code = fields.String(required=True, validate=validate.Regexp(r"^\d{7}$"))
    name_th = Text(required=True, blank=False, max_length=300)
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_KINDS))
    province = Text(allow_none=True, max_length=100)


class AccountCreatedV1(Schema):
    """AccountCreated v1 (stream ``registry``): someone is given access, in a role (a unit's is its code)."""

    username = fields.String(required=True, validate=validate.Regexp(USERNAME))
    role = fields.String(required=True, validate=validate.OneOf(ACCOUNT_ROLES))
    name = Text(allow_none=True, max_length=300)
    demo = fields.Boolean(required=True)


class SecurityEventV1(Schema):
    """Security events v1 (stream ``security:<username>``): never a password, code or hash in them."""

    username = fields.String(required=True, validate=validate.Length(max=64))
    client = fields.String(allow_none=True, validate=validate.Length(max=64))
    reason = fields.String(allow_none=True, validate=validate.Length(max=200))
    expires_at = Instant(allow_none=True)


class EmailAddressEventV1(SecurityEventV1):
    """EmailAddressChangeRequested, EmailAddressConfirmed, EmailAddressRemoved v1 (stream ``security:<username>``):
    the address an account's e-mail goes to (None when removed); ``reason`` says who set it when not the person."""

    email = fields.String(required=True, allow_none=True, validate=validate.Length(max=320))


class SupervisorUnassignedV1(SupervisorAssignedV1):
    """SupervisorUnassigned v1 (stream ``registry``): units taken from a supervisory unit."""


class SupervisorParentSetV1(Schema):
    """SupervisorParentSet v1 (stream ``registry``): a supervisory unit is put under another one (``parent``), or
    directly under NACC (``parent`` null). The parent oversees everything the supervisor oversees."""

    supervisor = fields.String(required=True, validate=validate.Regexp(USERNAME))
    parent = fields.String(allow_none=True, required=True, validate=validate.Regexp(USERNAME))
    reason = Text(allow_none=True, max_length=2000)


class ArchiveSealedV1(Schema):
    """ArchiveSealed v1 (a unit's stream): versions ``first_version``..``last_version`` (the events before this one),
    of the plan cycle ``first_fiscal_year``-``last_fiscal_year``, moved out of Redis into the sealed segment
    ``segment`` (zstd JSON Lines, ``events`` events, ``bytes`` bytes) whose SHA-256 is ``sha256``."""

    segment = fields.String(required=True, validate=validate.Length(min=1, max=500))
    first_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    last_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    events = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    bytes = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    first_fiscal_year = FiscalYear(required=True)
    last_fiscal_year = FiscalYear(required=True)


PAYLOAD_SCHEMAS: dict[tuple[str, int], type[Schema]] = {
    ("PlanDeclared", 1): PlanDeclaredV1,
    ("PlanPeriodChanged", 1): PlanPeriodChangedV1,
    ("ItemAdded", 1): ItemAddedV1,
    ("ItemEdited", 1): ItemEditedV1,
    ("ItemBudgetChanged", 1): ItemBudgetChangedV1,
    ("ItemRemoved", 1): ItemRemovedV1,
    ("ReportSubmitted", 1): ReportSubmittedV1,
    ("ReportAmended", 1): ReportAmendedV1,
    ("ReportReviewed", 1): ReportReviewedV1,
    ("ReportReviewed", 2): ReportReviewedV2,
    ("ReportSubmitted", 2): ReportSubmittedV2,
    ("ReportAmended", 2): ReportAmendedV2,
    ("ReminderSent", 1): ReminderSentV1,
    ("ReminderSent", 2): ReminderSentV2,
    ("ReminderSent", 3): ReminderSentV3,
    ("ReminderRuleSet", 1): ReminderRuleSetV1,
    ("ReminderRuleSet", 2): ReminderRuleSetV2,
    ("ReportingExceptionGranted", 1): ReportingExceptionGrantedV1,
    ("ReportingWindowSet", 1): ReportingWindowSetV1,
    ("EvidenceAttached", 1): EvidenceAttachedV1,
    ("EvidencePublicityChanged", 1): EvidencePublicityChangedV1,
    ("SupervisorAssigned", 1): SupervisorAssignedV1,
    ("SupervisorUnassigned", 1): SupervisorUnassignedV1,
    ("SupervisorParentSet", 1): SupervisorParentSetV1,
    ("ArchiveSealed", 1): ArchiveSealedV1,
    ("UnitRegistered", 1): UnitRegisteredV1,
    ("AccountCreated", 1): AccountCreatedV1,
    ("ActivationCodeIssued", 1): SecurityEventV1,
    ("AccountActivated", 1): SecurityEventV1,
    ("SignInSucceeded", 1): SecurityEventV1,
    ("SignInFailed", 1): SecurityEventV1,
    ("PasswordChanged", 1): SecurityEventV1,
    ("EmailAddressChangeRequested", 1): EmailAddressEventV1,
    ("EmailAddressConfirmed", 1): EmailAddressEventV1,
    ("EmailAddressRemoved", 1): EmailAddressEventV1,
    ("TwoFactorEnrolmentStarted", 1): SecurityEventV1,
    ("TwoFactorEnabled", 1): SecurityEventV1,
    ("TwoFactorDisabled", 1): SecurityEventV1,
    ("TwoFactorReset", 1): SecurityEventV1,
    ("RecoveryCodeUsed", 1): SecurityEventV1,
}
SECURITY_EVENTS = ("ActivationCodeIssued", "AccountActivated", "SignInSucceeded", "SignInFailed", "PasswordChanged",
                   "EmailAddressChangeRequested", "EmailAddressConfirmed", "EmailAddressRemoved",
                   "TwoFactorEnrolmentStarted", "TwoFactorEnabled", "TwoFactorDisabled", "TwoFactorReset",
                   "RecoveryCodeUsed")

CURRENT_SCHEMA_VERSION: dict[str, int] = {}
for (_type, _version) in PAYLOAD_SCHEMAS:
    CURRENT_SCHEMA_VERSION[_type] = max(_version, CURRENT_SCHEMA_VERSION.get(_type, 0))
