"""gunicorn settings both web services share (``gunicorn -c python:services.gunicorn_conf ...``): JSON logs and
metrics summed over the workers.

The apps write one access line per request themselves (with route, actor, client and request id), so gunicorn's
own access log stays off.

``/metrics`` counts every worker: prometheus-client's multiprocess mode, whose folder (``PROMETHEUS_MULTIPROC_DIR``)
is set here, in the master, before anything imports prometheus_client and before the workers fork (they inherit
it). One folder per service: the run command gives each its own under ``NCC_DATA_DIR``; when it is not set (compose,
a gunicorn started by hand) a fresh temporary folder is made here and removed when the master exits. Either way the
folder is emptied as the master starts, so a scrape never sums the workers of an earlier run.
"""
import os as _os
import tempfile as _tempfile

_MADE_HERE = not _os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _MADE_HERE:
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _tempfile.mkdtemp(prefix="ncc-metrics-")
_METRICS_DIR = _os.environ["PROMETHEUS_MULTIPROC_DIR"]

import sys  # noqa: E402  (after the folder is set: nothing below may import prometheus_client before it)

from shared.config import from_env  # noqa: E402
from shared.logs import gunicorn_config  # noqa: E402

logconfig_dict = gunicorn_config(from_env().log_level)
accesslog = None
graceful_timeout = 5
# gunicorn's control socket defaults to one path per user: two services on one machine would share it
control_socket_disable = True


def on_starting(server):
    """Before the first worker forks: an empty metrics folder (what an earlier run left would be summed in)."""
    _os.makedirs(_METRICS_DIR, exist_ok=True)
    for name in _os.listdir(_METRICS_DIR):
        if name.endswith(".db"):
            _os.remove(_os.path.join(_METRICS_DIR, name))


def post_worker_init(worker):
    """A thread waiting for the GIL gets it after 1 ms rather than CPython's 5: a unit's status (a few Redis round
    trips) served beside an export in the same worker waits about a millisecond per round trip, not five."""
    sys.setswitchinterval(0.001)


def child_exit(server, worker):
    """A worker exited (restarted, killed): its counters stay in the sums; its live gauges' files go."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid, _METRICS_DIR)


def on_exit(server):
    """The master stops: the temporary folder made above goes with it."""
    if _MADE_HERE:
        import shutil
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)
