"""gunicorn settings both web services share (``gunicorn -c python:services.gunicorn_conf ...``): JSON logs.

The apps write one access line per request themselves (with route, actor and request id), so gunicorn's own
access log stays off.
"""
import sys

from shared.config import from_env
from shared.logs import gunicorn_config

logconfig_dict = gunicorn_config(from_env().log_level)
accesslog = None
graceful_timeout = 5
# gunicorn's control socket defaults to one path per user: two services on one machine would share it
control_socket_disable = True


def post_worker_init(worker):
    """A thread waiting for the GIL gets it after 1 ms rather than CPython's 5: a unit's status (a few Redis round
    trips) served beside an export in the same worker waits about a millisecond per round trip, not five."""
    sys.setswitchinterval(0.001)
