"""Request instrumentation: ``/metrics`` in the Prometheus text format (requests and latency per route and
status, plus each service's own) and one JSON access-log line per request.

Each app has its own registry (several apps may live in one process, as in the tests). Under gunicorn
(``services/gunicorn_conf.py``) prometheus-client runs in multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is set
before the workers fork, every worker writes its counters and histograms to its own files there, and whichever
worker answers ``/metrics`` sums every worker's files (``MultiProcessCollector``): counters and histogram buckets,
sums and counts are totals over the workers, and a worker that exited keeps its part (totals never go back).
Figures read from Redis at scrape time (``read_at_scrape``) are the same whichever worker reads them: they are
read once per scrape by the worker answering it, never written to the files, so never summed. Without the
variable (the Flask test client, ``flask`` commands) everything lives in the app's plain registry.
"""
from __future__ import annotations

import logging
import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

access_log = logging.getLogger("ncc.access")


class GaugesFromCallable:
    """A collector whose gauges come from a function read at scrape time: name -> (help, value)."""

    def __init__(self, read):
        self.read = read

    def collect(self):
        for name, (help_text, value) in self.read().items():
            yield GaugeMetricFamily(name, help_text, value=value)


def log_access(service: str, route: str, status: int, seconds: float, actor: str | None) -> None:
    """The request's access line: who asked (``client``: the address trust_forwarded decided on, so behind a
    proxy the person's, not the proxy's), what, how it went, how long it took, and the process that served it."""
    access_log.info("%s %s %s", request.method, request.path, status,
                    extra={"service": service, "method": request.method, "route": route, "path": request.path,
                           "status": status, "ms": round(seconds * 1000, 2), "actor": actor,
                           "client": request.remote_addr, "pid": os.getpid()})


def multiprocess() -> bool:
    """Whether counters are written to ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client decides it on import)."""
    shared = getattr(values.ValueClass, "_multiprocess", False)
    if bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")) != shared:
        raise RuntimeError("PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is first imported (and "
                           "kept): set it in the environment or at the top of the gunicorn configuration")
    return shared


def _scraped(registry: CollectorRegistry) -> CollectorRegistry:
    """What ``/metrics`` shows: every worker's files summed, in multiprocess mode; else the app's own registry."""
    if not multiprocess():
        return registry
    from prometheus_client.multiprocess import MultiProcessCollector
    scraped = CollectorRegistry()
    MultiProcessCollector(scraped)
    return scraped


def read_at_scrape(app: Flask, collector) -> None:
    """Add a collector of figures read from Redis at scrape time (gauges, Redis' own totals): read once by the
    worker answering the scrape, never summed across workers."""
    app.extensions["ncc_metrics_scraped"].register(collector)


def install(app: Flask, service: str) -> CollectorRegistry:
    """Count requests and time them per route and status; serve ``/metrics``; return the registry for more
    counters (collectors read from Redis go to ``read_at_scrape``)."""
    registry = CollectorRegistry()
    scraped = _scraped(registry)
    requests = Counter("ncc_http_requests", "HTTP requests by route and status", ["service", "method", "route",
                                                                                   "status"], registry=registry)
    latency = Histogram("ncc_http_request_seconds", "HTTP request latency by route", ["service", "method", "route"],
                        registry=registry, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))

    @app.before_request
    def _start():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        requests.labels(service, request.method, route, str(response.status_code)).inc()
        seconds = time.perf_counter() - g.metrics_started if "metrics_started" in g else 0.0
        latency.labels(service, request.method, route).observe(seconds)
        actor = g.get("actor")
        log_access(service, route, response.status_code, seconds, actor.username if actor else None)
        return response

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(scraped), mimetype=CONTENT_TYPE_LATEST)

    app.extensions["ncc_metrics"] = registry
    app.extensions["ncc_metrics_scraped"] = scraped
    return registry
