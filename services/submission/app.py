"""The submission service's app factory: the composition root of the write side."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from flask import Flask

from shared.connections import queue_client, store_client
from shared.config import Settings, from_env
from shared.framework import FrameworkRegistry
from shared import metrics
from shared.web import add_health, make_api, trust_forwarded
from prometheus_client import Counter

from shared.auth import Accounts, EmailTokens, Throttle, Tickets, Tokens, TwoFactor, token_identity
from shared.evidence import EvidenceStore
from shared.keys import Keys
from shared.nudge import Nudger
from shared.outbox import Outbox, outbox_collector

from .service import SubmissionService


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings | None = None, *, redis=None, rq_redis=None,
               clock: Callable[[], datetime] = _wall_clock, identify=None,
               nudge: Callable[[str], None] | None = None) -> Flask:
    """Build the write-side app; every dependency can be passed in (tests) or comes from settings."""
    settings = settings or from_env()
    settings.check_secret()
    redis = redis if redis is not None else store_client(settings)
    if nudge is None:
        rq_redis = rq_redis if rq_redis is not None else queue_client(settings, redis)
        nudge = Nudger(rq_redis, Keys(settings.key_prefix, settings.partitions), settings.tracker_queue)
    service = SubmissionService(redis, settings, clock=clock, nudge=nudge,
                                frameworks=FrameworkRegistry.load(settings.framework_dir))

    keys = Keys(settings.key_prefix, settings.partitions)
    accounts = Accounts(redis, keys, settings)
    tokens = Tokens(settings.secret_key, settings.token_ttl_seconds, clock)
    outbox = Outbox.from_settings(redis, keys, clock, settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["ncc"] = {"service": service, "settings": settings, "accounts": accounts, "tokens": tokens,
                             "identify": identify or token_identity(accounts, tokens),
                             "throttle": Throttle(redis, keys, clock), "outbox": outbox,
                             "email_tokens": EmailTokens(settings.secret_key, settings.email_confirm_ttl_hours * 3600,
                                                         clock),
                             "evidence": EvidenceStore(settings.evidence_store_url),
                             "two_factor": TwoFactor(redis, keys, settings.secret_key),
                             "otp_tickets": Tickets(settings.secret_key, "ncc-otp-ticket", 300, clock),
                             "enrolment_tokens": Tickets(settings.secret_key, "ncc-2fa-enrolment", 900, clock)}
    api = make_api(app, "NACC action plans: submission",
                   "Write side: every plan change and report is appended to the unit's event log.")
    from .api import bp
    from .auth_api import bp as auth_bp
    api.register_blueprint(bp, url_prefix="/api/v1")
    api.register_blueprint(auth_bp, url_prefix="/api/v1")
    from .marks_api import bp as marks_bp
    api.register_blueprint(marks_bp, url_prefix="/api/v1")
    from .schemas import EvidenceForm
    if "EvidenceForm" not in api.spec.components.schemas:      # named by the upload's multipart body
        api.spec.components.schema("EvidenceForm", schema=EvidenceForm)
    add_health(app, redis.ping)
    trust_forwarded(app, settings.forwarded_hops, settings.secret_key)
    registry = metrics.install(app, "submission")
    appended = Counter("ncc_events_appended", "Events appended, by type", ["type"], registry=registry)
    service.on_append = lambda event: appended.labels(event.type).inc()
    metrics.read_at_scrape(app, outbox_collector(outbox))
    from .cli import COMMANDS
    from .archive_cli import COMMANDS as ARCHIVE_COMMANDS
    from .mail_cli import COMMANDS as MAIL_COMMANDS
    for command in COMMANDS + MAIL_COMMANDS + ARCHIVE_COMMANDS:
        app.cli.add_command(command)
    return app
