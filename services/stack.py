"""Run the whole system on one machine: an embedded Redis (unless REDIS_URL is set) and every service.

``scripts/run`` calls this. Data stays under NCC_DATA_DIR (default ./var); Ctrl-C stops everything.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from shared import signing
from shared.config import from_env
from services.tracker.worker import argv as worker_argv
from shared.embedded import EmbeddedRedis


@dataclass(frozen=True)
class Service:
    """A child process of the stack."""

    name: str
    argv: list
    env: dict | None = None     # set for this process only, over the stack's environment


def services(env: dict) -> list[Service]:
    """The processes to run, from the environment (ports, worker counts)."""
    python = sys.executable
    host = env.get("NCC_HOST", "127.0.0.1")
    gunicorn = [python, "-m", "gunicorn", "-c", "python:services.gunicorn_conf",
                "--workers", env.get("NCC_WEB_WORKERS", "2"), "--threads", "4"]
    workers = [Service(f"tracker-worker-{n}", worker_argv())
               for n in range(1, int(env.get("NCC_TRACKER_WORKERS", "1")) + 1)]
    # NCC_FORWARDED_HOPS counts the proxies in front of the web app (e.g. the README's nginx). The APIs are reached
    # directly: they believe only the address the web app forwards with its proxy token (signing people in, asking
    # for public documents on their readers' behalf), so a client's own X-Forwarded-For never counts there
    direct = {"NCC_FORWARDED_HOPS": "0"}
    # each service's workers write their metrics to a folder of its own (emptied as it starts): one scrape sums
    # that service's workers, and never another service's
    metrics = Path(env.get("NCC_DATA_DIR", "var")).resolve() / "metrics"
    own = lambda name: {"PROMETHEUS_MULTIPROC_DIR": str(metrics / name)}  # noqa: E731
    return [
        Service("web", gunicorn + ["--bind", f"{host}:{env.get('NCC_WEB_PORT', '8002')}",
                                   "services.web.app:create_app()"], own("web")),
        Service("submission", gunicorn + ["--bind", f"{host}:{env.get('NCC_SUBMISSION_PORT', '8000')}",
                                          "services.submission.app:create_app()"], {**direct, **own("submission")}),
        Service("tracker-api", gunicorn + ["--bind", f"{host}:{env.get('NCC_TRACKER_PORT', '8001')}",
                                           "services.tracker.app:create_app()"], {**direct, **own("tracker-api")}),
        *workers,
        Service("scheduler", [python, "-m", "services.tracker.scheduler"]),
        Service("reminders", [python, "-m", "services.submission.reminders"]),
        *([Service("mail-sink", [python, "-m", "services.mailsink", "--port", env["NCC_MAIL_SINK_PORT"],
                                 "--dir", env["NCC_MAIL_SINK_DIR"]])] if env.get("NCC_MAIL_SINK_DIR") else []),
        Service("mailer", [python, "-m", "services.submission.mailer"]),
    ]


def main() -> int:
    """Start Redis and the services, print where they are, wait; stop all on Ctrl-C or when one dies."""
    env = dict(os.environ)
    env.setdefault("NCC_ENV", "development")     # trying the system locally; production sets its own secret
    print(f"web application http://127.0.0.1:{env.get('NCC_WEB_PORT', '8002')}  (open this in a browser)", flush=True)
    data_dir = Path(env.get("NCC_DATA_DIR", "var")).resolve()
    redis_server = None
    if not env.get("REDIS_URL"):
        redis_server = EmbeddedRedis(data_dir / "redis", int(env.get("NCC_REDIS_PORT", "6380"))).start()
        env["REDIS_URL"] = redis_server.url
        print(f"embedded redis-server on {redis_server.url}, data in {redis_server.data_dir} (AOF, fsync always)")
    env.setdefault("NCC_SUBMISSION_URL", f"http://127.0.0.1:{env.get('NCC_SUBMISSION_PORT', '8000')}")
    env.setdefault("NCC_TRACKER_URL", f"http://127.0.0.1:{env.get('NCC_TRACKER_PORT', '8001')}")
    env.setdefault("NCC_PUBLIC_URL", f"http://127.0.0.1:{env.get('NCC_WEB_PORT', '8002')}")
    env.setdefault("NCC_DATA_DIR", str(data_dir))
    env.setdefault("NCC_KEY_DIR", str(data_dir / "keys"))
    if not env.get("NCC_SMTP_URL"):         # development: e-mail goes to a local sink, written under the data folder
        env.setdefault("NCC_MAIL_SINK_PORT", "8025")
        env["NCC_MAIL_SINK_DIR"] = str(data_dir / "mail")
        env["NCC_SMTP_URL"] = f"smtp://127.0.0.1:{env['NCC_MAIL_SINK_PORT']}"
        print(f"e-mail: a local SMTP sink on {env['NCC_SMTP_URL']}, messages written to {env['NCC_MAIL_SINK_DIR']}")
    keyring = signing.ensure(env["NCC_KEY_DIR"])         # made on the first start, kept (mode 600) after
    print(f"signing keys in {env['NCC_KEY_DIR']} (receipt key {keyring.current['key_id']})")
    settings = from_env(env)
    codes = data_dir / "demo-activation-codes.csv"
    if env.get("NCC_DEMO", "1") != "0":
        subprocess.run([sys.executable, "-m", "flask", "--app", "services.submission.app:create_app", "demo-data",
                        "--operator", "run-command", "--out", str(codes)], env=env, check=True)
    children = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in services(env):
            children.append((service, subprocess.Popen(service.argv, env={**env, **(service.env or {})},
                                                       start_new_session=True)))
        print(f"submission API  http://127.0.0.1:{env.get('NCC_SUBMISSION_PORT', '8000')}/api/v1/docs")
        print(f"tracker API     http://127.0.0.1:{env.get('NCC_TRACKER_PORT', '8001')}/api/v1/docs")
        print(f"redis           {settings.redis_url}")
        sub = f"http://127.0.0.1:{env.get('NCC_SUBMISSION_PORT', '8000')}/api/v1"
        if codes.exists():
            print(f"DEMO accounts and their single-use activation codes: {codes}")
        print(f"sign in: open http://127.0.0.1:{env.get('NCC_WEB_PORT', '8002')}/activate with a username and its "
              "code, choose a password (10+ characters, not a common one); or with the API, get a token:")
        print(f"  curl -X POST {sub}/auth/activate -H 'Content-Type: application/json' "
              "-d '{\"username\": \"demo-nacc\", \"activation_code\": \"<code>\", \"password\": \"<yours>\"}'")
        print(f"  curl -X POST {sub}/auth/token -H 'Content-Type: application/json' "
              "-d '{\"username\": \"demo-nacc\", \"password\": \"<yours>\"}'")
        print("  then send -H 'Authorization: Bearer <access_token>' to both APIs")
        print("Ctrl-C stops everything; data is kept for the next start.")
        while not stopping:
            for service, proc in children:
                if proc.poll() is not None:
                    print(f"{service.name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.2)
    finally:
        for _service, proc in children:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _service, proc in children:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if redis_server:
            redis_server.stop()
    failed = [s.name for s, p in children if p.returncode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
