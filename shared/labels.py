"""The English names of the API's codes that people read (Thai in ``shared/i18n/labels.po``): kinds of item
and unit, item statuses, reasons, target groups, rounds, the log's event types. The web app and the tracker's documents both use them."""
from __future__ import annotations

KINDS = {
    'project': 'Project',
    'activity': 'Activity',
    'measure': 'Measure',
    'guideline': 'Guideline',
}
ITEM_STATUSES = {
    'not_started': 'Not started',
    'in_progress': 'In progress',
    'completed': 'Completed',
    'not_feasible': 'Cannot be done',
}
REASONS = {
    'no_budget': 'No budget',
    'policy_changed': "The executive's policy changed",
    'insufficient_staff': 'Not enough staff',
    'other': 'Other (describe)',
}
ROUNDS = {
    6: '6-month round',
    12: '12-month round',
}
TARGET_GROUPS = {
    'executives': 'Executives',
    'council_members': 'Council members',
    'staff': 'Staff',
    'children_youth': 'Children and youth',
    'citizens': 'Citizens and civil society',
    'schools': 'Schools',
    'government_agencies': 'Government agencies',
    'state_enterprises': 'State enterprises',
    'private_sector': 'Private sector',
}
UNIT_KINDS = {
    'central_office': 'Central office',
    'district_office': 'District office',
    'provincial_administration': 'Provincial administrative organisation',
    'city_municipality': 'City municipality',
    'town_municipality': 'Town municipality',
    'subdistrict_municipality': 'Subdistrict municipality',
    'subdistrict_administration': 'Subdistrict administrative organisation',
    'special': 'Special local administration',
    'other': 'Other',
}
# the unit log's event types, as the history, the auditor's pages and the receipts name them
EVENT_TYPES = {
    'PlanDeclared': 'Plan drawn up',
    'PlanPeriodChanged': 'Plan title or period changed',
    'ItemAdded': 'Item added',
    'ItemEdited': 'Item edited',
    'ItemBudgetChanged': 'Budget changed',
    'ItemRemoved': 'Item removed',
    'ReportSubmitted': 'Report submitted',
    'ReportAmended': 'Report corrected (amendment)',
    'ReportReviewed': 'Report reviewed',
    'ReminderSent': 'Reminder sent',
    'ReportingExceptionGranted': 'Reporting deadline extended as a special case',
    'ReportingWindowSet': 'Reporting window set',
    'EvidenceAttached': 'Evidence file attached',
    'EvidencePublicityChanged': 'Evidence file published or withdrawn',
    'ArchiveSealed': 'Earlier history moved to a sealed archive file',
}
