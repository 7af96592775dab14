"""Browser tests: one real stack (the run command's: redis-server, both APIs, RQ worker, scheduler, the web app)
and one real Chromium (Debian's, through chromium-driver) shared by every test of the session.

Screenshots of every page a test visits go to ``var/screenshots`` (``NCC_SCREENSHOT_DIR``): look at them.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("NCC_SCREENSHOT_DIR") or ROOT / "var" / "screenshots")
PASSWORD = "ลำไยหวาน orchard 2567 ร่มเย็น"          # long, Thai and Latin: the policy's kind of password
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def http(method, url, body=None, token=None, headers=None):
    """(status, JSON answer or None, headers) of a plain HTTP request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as rv:
            raw = rv.read()
            return rv.status, (json.loads(raw) if raw and "json" in rv.headers.get("Content-Type", "") else raw), rv.headers
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw), err.headers
        except ValueError:
            return err.code, raw, err.headers
    except (urllib.error.URLError, ConnectionError):
        return None, None, None


@dataclass
class Stack:
    """The running system: where each service answers, the demo accounts' activation codes, their passwords."""

    web: str
    submission: str
    tracker: str
    codes: dict
    data_dir: Path
    redis_url: str
    passwords: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def activate(self, username: str, password: str = PASSWORD) -> str:
        """Activate an account through the API (setup for tests that are not about activation)."""
        if username not in self.passwords:
            status, body, _ = http("POST", f"{self.submission}/api/v1/auth/activate",
                                   {"username": username, "activation_code": self.codes[username], "password": password})
            assert status == 201, body
            self.passwords[username] = password
        return self.passwords[username]

    def token(self, username: str) -> str:
        """An API token of the account (activated first when needed)."""
        if username not in self.tokens:
            password = self.activate(username)
            status, body, _ = http("POST", f"{self.submission}/api/v1/auth/token",
                                   {"username": username, "password": password})
            assert status == 200, body
            self.tokens[username] = body["access_token"]
        return self.tokens[username]

    def api(self, method: str, service: str, path: str, username: str, body=None, headers=None):
        """Call one API as ``username``."""
        base = self.submission if service == "submission" else self.tracker
        return http(method, f"{base}/api/v1{path}", body, self.token(username), headers)

    def events(self, unit: str) -> list:
        """The unit's raw events (read as NACC)."""
        status, body, _ = self.api("GET", "tracker", f"/units/{unit}/events", "demo-nacc")
        assert status == 200, body
        return body["events"]

    def mail(self, to: str, timeout: float = 60) -> list:
        """The e-mails the run command's mail sink received for ``to`` (waiting for at least one), oldest first."""
        from email import message_from_bytes, policy
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in (message_from_bytes(p.read_bytes(), policy=policy.default)
                                 for p in sorted((self.data_dir / "mail").glob("*.eml"))) if to in m["To"]]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def projected(self, unit: str, timeout: float = 30) -> dict:
        """The unit's status once the tracker has projected its whole log."""
        deadline = time.monotonic() + timeout
        while True:
            status, body, _ = self.api("GET", "tracker", f"/units/{unit}/status", "demo-nacc")
            assert status == 200, body
            if body["lag"] == 0 or time.monotonic() > deadline:
                return body
            time.sleep(0.2)


def _wait(check, seconds=120, what="the stack"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """``python -m services.stack`` (what ``scripts/run`` starts) on free ports with the demo data."""
    data = tmp_path_factory.mktemp("web-stack")
    ports = {name: str(free_port()) for name in ("NCC_REDIS_PORT", "NCC_SUBMISSION_PORT", "NCC_TRACKER_PORT",
                                                 "NCC_WEB_PORT", "NCC_MAIL_SINK_PORT")}
    env = {**os.environ, **ports, "NCC_DATA_DIR": str(data), "NCC_SWEEP_SECONDS": "1", "NCC_WEB_WORKERS": "2",
           "NCC_ARGON2_TIME_COST": "1", "NCC_ARGON2_MEMORY_KIB": "8192", "NCC_LOG_LEVEL": "WARNING",
           # the tests read every unit's events as NACC, faster than a person would: the per-account limits on
           # expensive reads are tested on the API (tests/api/test_expensive_reads.py), not here
           **{name: "100000 per minute" for name in ("NCC_NATIONAL_READ_LIMIT", "NCC_OVERVIEW_READ_LIMIT",
                                                     "NCC_EXPORT_LIMIT", "NCC_HISTORY_READ_LIMIT", "NCC_REPLAY_LIMIT")}}
    env.pop("REDIS_URL", None)
    env.pop("NCC_SMTP_URL", None)            # the run command's own mail sink, writing to <data>/mail
    log = open(data / "stack.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.stack"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    web = f"http://127.0.0.1:{ports['NCC_WEB_PORT']}"
    sub = f"http://127.0.0.1:{ports['NCC_SUBMISSION_PORT']}"
    trk = f"http://127.0.0.1:{ports['NCC_TRACKER_PORT']}"
    try:
        _wait(lambda: proc.poll() is None and all(http("GET", u)[0] == 200 for u in (
            f"{web}/healthz", f"{sub}/readyz", f"{trk}/readyz")))
        with open(data / "demo-activation-codes.csv", encoding="utf-8-sig") as f:
            codes = {r["username"]: r["activation_code"] for r in csv.DictReader(f)}
        yield Stack(web, sub, trk, codes, data, f"redis://127.0.0.1:{ports['NCC_REDIS_PORT']}/0")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


class Browser:
    """Debian's Chromium, headless, driven by Selenium; every page visited can be kept as a screenshot."""

    def __init__(self, driver, base: str):
        self.driver = driver
        self.base = base

    def go(self, path: str, shot: str | None = None):
        self.driver.get(self.base + path if path.startswith("/") else path)
        if shot:
            self.shot(shot)
        return self

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.base)

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def field(self, label: str):
        """The control whose <label> reads ``label`` (exactly, or starting with it)."""
        from selenium.webdriver.common.by import By
        for element in self.driver.find_elements(By.TAG_NAME, "label"):
            text = element.text.strip()
            if text == label or text.startswith(label):
                target = element.get_attribute("for")
                return self.driver.find_element(By.ID, target) if target else element.find_element(
                    By.CSS_SELECTOR, "input, select, textarea")
        raise AssertionError(f"no field labelled {label!r} on {self.path}")

    def fill(self, label: str, value: str):
        from selenium.webdriver.support.ui import Select
        element = self.field(label)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)
        return self

    def choose(self, css: str, value: str):
        """Select the option with ``value`` in the <select> at ``css``."""
        from selenium.webdriver.support.ui import Select
        Select(self.find(css)).select_by_value(value)
        return self

    def tick(self, css: str, on: bool = True):
        """Make the checkbox at ``css`` ticked (or not)."""
        box = self.find(css)
        if box.is_selected() != on:
            box.click()
        return self

    def type(self, css: str, value: str):
        element = self.find(css)
        element.clear()
        element.send_keys(value)
        return self

    def press(self, text: str, shot: str | None = None):
        """Click the button (or link) that reads ``text`` and wait for the page it leads to."""
        from selenium.webdriver.common.by import By
        for element in self.driver.find_elements(By.CSS_SELECTOR, "button, a.button, input[type=submit]"):
            if element.text.strip() == text and element.is_displayed():
                old = self.find("html")
                element.click()
                self.wait_gone(old)
                if shot:
                    self.shot(shot)
                return self
        raise AssertionError(f"no button {text!r} on {self.path}")

    def wait_gone(self, old) -> None:
        """Wait until the page ``old`` (its <html> element) has been replaced by the next one."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        def gone(_driver):
            try:
                old.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:        # Chromium may say the node left the document instead
                return "does not belong to the document" in str(exc)
        WebDriverWait(self.driver, 30).until(gone)

    def submit(self, css: str = "main form[method=post] button[type=submit]", shot: str | None = None):
        """Click a form's button and wait for the answer page to replace this one."""
        old = self.find("html")
        self.find(css).click()
        self.wait_gone(old)
        if shot:
            self.shot(shot)
        return self

    def add_item(self, code: str, name: str, dimension: int, sub_dimension: str, budgets: dict, years: range,
                 shot: str | None = None):
        """Add a plan item through the unit's form: its fiscal years are those of ``budgets`` (baht as typed)."""
        self.go(f"/units/{code}/plan/items/new")
        self.type("#name", name).choose("#dimension", str(dimension)).choose("#sub_dimension", sub_dimension)
        for n, year in enumerate(years):
            self.tick(f"#fiscal_years-{n}", str(year) in budgets)
            if str(year) in budgets:
                self.type(f"#budget_{year}", budgets[str(year)])
        if shot:
            self.shot(shot)
        return self.submit("main form[method=post] button[type=submit]")

    def text(self) -> str:
        return self.find("body").text

    def shot(self, name: str, full: bool = True) -> Path:
        """A screenshot of the whole page (the window grown to the page's height for the moment), or with
        ``full=False`` of what the window shows."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        if not full:
            path = SHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}.png"
            self.driver.save_screenshot(str(path))
            return path
        size = self.driver.get_window_size()
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(size["width"], min(max(height + 140, 600), 8000))
        path = SHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}.png"
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(size["width"], size["height"])
        return path

    def no_dialog(self) -> bool:
        """No alert/confirm dialog is open (no injected script ran)."""
        from selenium.common.exceptions import NoAlertPresentException
        try:
            self.driver.switch_to.alert.dismiss()
            return False
        except NoAlertPresentException:
            return True

    def sign_in(self, username: str, password: str = PASSWORD):
        self.go("/signin")
        self.fill("ชื่อผู้ใช้", username).fill("รหัสผ่าน", password)
        self.submit()
        assert "/signin" not in self.path, self.text()
        return self

    def sign_out(self):
        self.driver.delete_all_cookies()
        return self

    def width(self, pixels: int, height: int = 900):
        self.driver.set_window_size(pixels, height)
        return self


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (Thai fonts from fonts-thai-tlwg, installed by scripts/test)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Chromium and chromium-driver are missing: scripts/test installs them (apt-get, as root): "
                    "apt-get install chromium chromium-driver fonts-thai-tlwg")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"ncc-chromium-{os.getpid()}"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--lang=th-TH", "--window-size=1280,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium, stack):
    """The shared Chromium on the stack's web app, with no cookies left from another test, Thai, 1280 px wide."""
    chromium.delete_all_cookies()
    chromium.set_window_size(1280, 900)
    return Browser(chromium, stack.web)
