"""gunicorn settings both web services share (``gunicorn -c python:services.gunicorn_conf ...``): JSON logs.

The apps write one access line per request themselves (with route, actor and request id), so gunicorn's own
access log stays off.
"""
from shared.config import from_env
from shared.logs import gunicorn_config

logconfig_dict = gunicorn_config(from_env().log_level)
accesslog = None
graceful_timeout = 5
# gunicorn's control socket defaults to one path per user: two services on one machine would share it
control_socket_disable = True
