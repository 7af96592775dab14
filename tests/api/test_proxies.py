"""Behind proxies: the client address that throttling, access lines and security events count.

``NCC_FORWARDED_HOPS`` proxies in front of a service are trusted (werkzeug's ProxyFix); with none, a client's
``X-Forwarded-For`` changes nothing. The web app is a proxy the APIs recognise by its token: the address it
forwards counts whatever their own setting.
"""
import json
import logging

import pytest

from services.submission.app import create_app as create_writer
from services.tracker.app import create_app as create_reader
from services.tracker.jobs import Tracker
from services.web.app import create_app as create_web
from services.web.client import Api
from shared.config import from_env
from shared.keys import Keys, REGISTRY_STREAM, security_stream
from shared.streams import read_events
from shared.web import PROXY_HEADER, proxy_token

BASE = "/api/v1"
PROXY = "10.0.0.5"              # the reverse proxy's own address, as the service sees it
WEB_APP = "10.0.0.9"            # the web app's address, as the APIs see it


def writer(settings, redis, clock, hops):
    return create_writer(settings.but(forwarded_hops=hops), redis=redis, clock=clock, nudge=lambda stream: None)


def failed_sign_in(client, username, remote, forwarded=None, token=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    if token:
        headers[PROXY_HEADER] = token
    return client.post(f"{BASE}/auth/token", json={"username": username, "password": "x" * 12}, headers=headers,
                       environ_base={"REMOTE_ADDR": remote})


def failures(redis, settings, client_address):
    """How many failed sign-ins the throttle counts against one client address."""
    count = redis.hget(Keys(settings.key_prefix, settings.partitions).throttle("client", client_address), "failures")
    return int(count or 0)


def clients_recorded(redis, settings):
    """The ``client`` of every SignInFailed event (unknown usernames share one security stream)."""
    keys = Keys(settings.key_prefix, settings.partitions)
    return [e.payload["client"] for e in read_events(redis, keys, security_stream("unknown"))
            if e.type == "SignInFailed"]


def access_clients(caplog, service):
    return [r.client for r in caplog.records if r.name == "ncc.access" and r.service == service]


def test_one_trusted_proxy_counts_the_forwarded_client(settings, fake_redis, clock, caplog):
    """Behind one proxy, sign-in failures are counted per forwarded client (the proxy's own address not at all),
    locking out the one who failed and not the others behind the same proxy; the security events and the access
    lines name the forwarded client."""
    client = writer(settings, fake_redis, clock, hops=1).test_client()
    with caplog.at_level("INFO", logger="ncc.access"):
        for n in range(21):      # what a client may fail before its address is locked (20), and one more
            assert failed_sign_in(client, f"user{n}", PROXY, "203.0.113.7, 192.0.2.1").status_code == 401
        assert failed_sign_in(client, "user99", PROXY, "192.0.2.1").status_code == 429
        assert failed_sign_in(client, "user99", PROXY, "192.0.2.2").status_code == 401
    assert failures(fake_redis, settings, "192.0.2.1") == 21 and failures(fake_redis, settings, "192.0.2.2") == 1
    assert failures(fake_redis, settings, PROXY) == 0 and failures(fake_redis, settings, "203.0.113.7") == 0
    assert set(clients_recorded(fake_redis, settings)) == {"192.0.2.1", "192.0.2.2"}
    assert set(access_clients(caplog, "submission")) == {"192.0.2.1", "192.0.2.2"}


def test_no_trusted_proxy_a_forged_forwarded_for_changes_nothing(settings, fake_redis, clock, caplog):
    """With no proxy configured, a client that sends a new X-Forwarded-For with every attempt is still counted,
    locked out, recorded and logged as itself."""
    client = writer(settings, fake_redis, clock, hops=0).test_client()
    with caplog.at_level("INFO", logger="ncc.access"):
        codes = [failed_sign_in(client, f"user{n}", "198.51.100.4", f"192.0.2.{n}").status_code for n in range(22)]
    assert codes == [401] * 21 + [429]
    assert failures(fake_redis, settings, "198.51.100.4") == 21
    assert all(failures(fake_redis, settings, f"192.0.2.{n}") == 0 for n in range(22))
    assert set(clients_recorded(fake_redis, settings)) == {"198.51.100.4"}
    assert set(access_clients(caplog, "submission")) == {"198.51.100.4"}


@pytest.mark.parametrize("hops", [0, 1])
def test_the_web_apps_signed_address_counts_whatever_the_apis_setting(settings, fake_redis, clock, hops):
    """The web app calls the APIs directly and signs the one address it forwards: counted with no proxy configured
    on the API, and with one (there for the API's other callers); a wrong token is not the web app's."""
    client = writer(settings, fake_redis, clock, hops).test_client()
    token = proxy_token(settings.secret_key)
    assert failed_sign_in(client, "someone", WEB_APP, "192.0.2.8", token).status_code == 401
    assert failed_sign_in(client, "someone", "198.51.100.6", "192.0.2.9", "0" * 64).status_code == 401
    assert failed_sign_in(client, "someone", "198.51.100.6", "192.0.2.9", "é" * 64).status_code == 401
    assert failures(fake_redis, settings, "192.0.2.8") == 1 and failures(fake_redis, settings, WEB_APP) == 0
    counted = "192.0.2.9" if hops else "198.51.100.6"        # a wrong token: read by the API's own setting
    assert failures(fake_redis, settings, counted) == 2


def test_tracker_rate_limit_per_forwarded_client(app_factory, fake_redis, settings, clock):
    """The public answers' rate limit behind one trusted proxy counts each forwarded client; with none, the
    forwarded header is ignored and the caller is limited as itself."""
    app_factory(fake_redis)
    Tracker(fake_redis, settings).project(REGISTRY_STREAM)
    limited = settings.but(public_rate_limit="2 per minute")
    behind = create_reader(limited.but(forwarded_hops=1), redis=fake_redis, clock=clock).test_client()
    codes = [behind.get(f"{BASE}/public/units", environ_base={"REMOTE_ADDR": PROXY},
                        headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code for n in range(3)]
    assert codes == [200, 200, 200]
    direct = create_reader(limited.but(forwarded_hops=0), redis=fake_redis, clock=clock).test_client()
    codes = [direct.get(f"{BASE}/public/units", environ_base={"REMOTE_ADDR": "198.51.100.3"},
                        headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code for n in range(3)]
    assert codes == [200, 200, 429]


class Through:
    """A requests.Session stand-in for the web app's API client: each call goes to the API app's test client,
    from the web app's own address (``WEB_APP``)."""

    def __init__(self, apps: dict):
        self.clients = {base: app.test_client() for base, app in apps.items()}

    def request(self, method, url, json=None, params=None, headers=None, timeout=None, data=None, files=None):
        base = next(b for b in self.clients if url.startswith(b))
        rv = self.clients[base].open(url[len(base):], method=method, json=json, query_string=params,
                                     headers=headers, data=data, environ_base={"REMOTE_ADDR": WEB_APP})
        return Answer(rv)


class Answer:
    def __init__(self, rv):
        self.status_code, self.content, self.headers, self.reason = rv.status_code, rv.data, dict(rv.headers), rv.status

    def json(self):
        return json.loads(self.content)


def web_app(settings, redis, clock, hops):
    """The web app with NCC_FORWARDED_HOPS=``hops``, calling a submission API that trusts no proxy of its own."""
    api = writer(settings, redis, clock, hops=0)
    client = Api("http://submission", "http://tracker", session=Through({"http://submission": api}),
                 proxy_token=proxy_token(settings.secret_key))
    return create_web(settings.but(forwarded_hops=hops), api=client, clock=clock,
                      config={"WTF_CSRF_ENABLED": False}).test_client()


def sign_in_through_web(web, username, remote, forwarded=None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    rv = web.post("/signin", data={"username": username, "password": "x" * 12}, headers=headers,
                  environ_base={"REMOTE_ADDR": remote})
    assert rv.status_code == 200           # the sign-in page again, saying why
    return rv


def test_web_app_behind_one_proxy_forwards_the_person(settings, fake_redis, clock, caplog):
    """Behind nginx (one hop), the web app passes each person's address on: the API's throttle and security events
    count the people, not nginx nor the web app, and the web app's access lines name them."""
    web = web_app(settings, fake_redis, clock, hops=1)
    with caplog.at_level("INFO", logger="ncc.access"):
        for _ in range(3):
            sign_in_through_web(web, "3100100", PROXY, "203.0.113.50, 192.0.2.21")
        sign_in_through_web(web, "3100200", PROXY, "192.0.2.22")
    assert failures(fake_redis, settings, "192.0.2.21") == 3 and failures(fake_redis, settings, "192.0.2.22") == 1
    assert failures(fake_redis, settings, PROXY) == failures(fake_redis, settings, WEB_APP) == 0
    assert failures(fake_redis, settings, "203.0.113.50") == 0
    assert set(access_clients(caplog, "web")) == {"192.0.2.21", "192.0.2.22"}
    assert set(access_clients(caplog, "submission")) == {"192.0.2.21", "192.0.2.22"}


def test_web_app_with_no_proxy_ignores_a_forged_forwarded_for(settings, fake_redis, clock, caplog):
    """With no proxy configured, what a person claims in X-Forwarded-For is not passed on: the API counts the
    address the web app saw, each attempt, and the web app logs that address."""
    web = web_app(settings, fake_redis, clock, hops=0)
    with caplog.at_level(logging.INFO, logger="ncc.access"):
        for n in range(3):
            sign_in_through_web(web, "3100100", "198.51.100.77", f"192.0.2.{n}")
    assert failures(fake_redis, settings, "198.51.100.77") == 3
    assert all(failures(fake_redis, settings, f"192.0.2.{n}") == 0 for n in range(3))
    assert failures(fake_redis, settings, WEB_APP) == 0
    assert set(access_clients(caplog, "web")) == {"198.51.100.77"}


def test_a_negative_number_of_proxies_is_refused():
    with pytest.raises(ValueError, match="NCC_FORWARDED_HOPS must not be negative"):
        from_env({"NCC_FORWARDED_HOPS": "-1"})
    assert from_env({}).forwarded_hops == 0
