"""The tracker read API's app factory: the composition root of the read side."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

from rq import Queue
from flask import Flask

from shared.connections import queue_client, store_client
from shared.config import Settings, from_env
from shared.auth import Accounts, Tokens, token_identity
from shared.evidence import EvidenceStore
from shared.framework import FrameworkRegistry
from shared.keys import Keys
from shared import metrics
from shared.web import add_health, make_api, trust_forwarded

from .queries import Queries
from .store import ReadModels


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings | None = None, *, redis=None, rq_redis=None,
               clock: Callable[[], datetime] = _wall_clock, identify=None, keyring=None) -> Flask:
    """Build the read-side app; every dependency can be passed in (tests) or comes from settings."""
    settings = settings or from_env()
    settings.check_secret()
    redis = redis if redis is not None else store_client(settings)
    keys = Keys(settings.key_prefix, settings.partitions)
    models = ReadModels(redis, keys)
    if identify is None:
        identify = token_identity(Accounts(redis, keys, settings),
                                  Tokens(settings.secret_key, settings.token_ttl_seconds, clock))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes     # its only bodies are small JSON ones
    if rq_redis is None:
        rq_redis = queue_client(settings, redis)
    app.extensions["ncc"] = {"queries": Queries(models, settings.lock_grace_days,
                                                FrameworkRegistry.load(settings.framework_dir),
                                                EvidenceStore(settings.evidence_store_url)), "clock": clock,
                             "keyring": keyring if keyring is not None else settings.keyring(),
                             "queue": Queue(settings.tracker_queue, connection=rq_redis),
                             "identify": identify, "settings": settings}
    api = make_api(app, "NACC action plans: tracker",
                   "Read side: status, audit trails and rollups projected from the event log.")
    from .api import bp
    api.register_blueprint(bp, url_prefix="/api/v1")
    from .public_api import bp as public_bp, limit_pdfs, limit_public
    limit_public(app, public_bp, redis, settings, keys)
    api.register_blueprint(public_bp, url_prefix="/api/v1")
    limit_pdfs(app, settings)
    from .api import limit_expensive
    limit_expensive(app, settings)
    add_health(app, redis.ping)
    # the web app asks for the public documents on behalf of their readers: the rate limit counts the readers
    trust_forwarded(app, settings.forwarded_hops, settings.secret_key)
    queue = app.extensions["ncc"]["queue"]

    def gauges():
        lag = models.lag()
        oldest = lag["oldest_unprojected_ms"]
        return {
            "ncc_projection_lag_events": ("Events in the log not yet projected", lag["events_behind"]),
            "ncc_projection_lag_streams": ("Streams with events not yet projected", lag["streams_behind"]),
            "ncc_projection_oldest_unprojected_seconds": (
                "Age of the oldest unprojected event", 0 if oldest is None else max(0, time.time() - oldest / 1000)),
            "ncc_parked_streams": ("Streams whose projection stopped at a bad event", lag["parked_streams"]),
            "ncc_queue_depth": ("Jobs waiting in the tracker queue", len(queue)),
            "ncc_failed_jobs": ("Tracker jobs in RQ's failed registry", queue.failed_job_registry.count),
        }

    metrics.install(app, "tracker")
    metrics.read_at_scrape(app, metrics.GaugesFromCallable(gauges))
    return app
