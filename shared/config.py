"""Settings read from the environment in one place, with defaults that work on localhost."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlsplit


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


def _flag(env: dict, name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0, got {raw!r}")


DEFAULT_SECRET = "dev-insecure-secret-change-me"
SMTP_SCHEMES = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("ssl", 465)}


@dataclass(frozen=True)
class SmtpServer:
    """Where the mailer hands its messages over: ``NCC_SMTP_URL`` read into its parts."""

    host: str
    port: int
    tls: str                        # "none", "starttls" or "ssl" (SMTP over TLS from the first byte)
    user: str = ""
    password: str = ""


def smtp_server(url: str, password: str = "") -> SmtpServer | None:
    """``smtp://``, ``smtp+starttls://`` or ``smtps://[user[:password]@]host[:port]`` as an SmtpServer (None when
    empty); the password may come apart (``NCC_SMTP_PASSWORD``) to keep it out of the URL."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        raise ValueError(f"NCC_SMTP_URL must look like smtp+starttls://user@host:587 (schemes: "
                         f"{', '.join(SMTP_SCHEMES)}), got {url!r}")
    tls, default_port = SMTP_SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"NCC_SMTP_URL has a port that is not a number: {url!r}") from None
    return SmtpServer(parts.hostname, port, tls, unquote(parts.username or ""),
                      password or unquote(parts.password or ""))


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about its surroundings."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    rq_redis_url: str = ""          # RQ's own keys; empty means the same server as redis_url
    key_prefix: str = "ncc"
    partitions: int = 16            # hash-tag partitions of the keyspace; set once, before the first write
    lock_grace_days: int = 15       # default lock = due date + this many days
    tracker_queue: str = "tracker"
    max_body_bytes: int = 1024 * 1024
    append_retries: int = 10        # re-decisions after losing a race; each loss is another writer's success,
                                    # so N concurrent writers on one unit always land with N-1 retries
    tracker_batch: int = 500        # events a projection step folds before its atomic write
    reminder_seconds: int = 60      # how often the reminder scheduler looks for rules that are due
    sweep_seconds: int = 5          # how often the scheduler sweeps for streams left behind
    environment: str = "development"   # from the environment: NCC_ENV, "production" unless said otherwise
    secret_key: str = DEFAULT_SECRET   # signs access tokens; both services share it
    token_ttl_seconds: int = 8 * 3600
    activation_ttl_hours: int = 7 * 24
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    framework_dir: str = ""         # extra framework files (one JSON per plan cycle) beside the shipped ones
    log_level: str = "INFO"         # every process logs JSON lines to stderr at this level
    submission_url: str = "http://127.0.0.1:8000"   # where the web app finds the write API
    tracker_url: str = "http://127.0.0.1:8001"      # where the web app finds the read API
    data_dir: str = "var"           # where the run command keeps data; development makes its keys under it
    key_dir: str = ""               # the signing keys' folder (keys.json); empty: <data_dir>/keys in development
    evidence_url: str = ""          # the evidence store (fsspec URL); empty: <data_dir>/evidence
    evidence_max_bytes: int = 10 * 1024 * 1024     # one evidence file at most
    public_url: str = "http://127.0.0.1:8002"       # the web app as the public reaches it (QR codes in PDFs)
    public_rate_limit: str = "120 per minute"       # per client, on every /public answer (flask-limiter's notation)
    public_pdf_rate_limit: str = "20 per minute"    # per client, on the public PDFs besides (a cold one costs ~1 s)
    # per account, each shared by a group of expensive reads (services/tracker/api.py EXPENSIVE)
    national_read_limit: str = "60 per minute"      # national compliance, the top of the supervision tree
    overview_read_limit: str = "120 per minute"     # supervisors' overviews
    export_limit: str = "10 per minute"             # CSV and XLSX exports
    history_read_limit: str = "60 per minute"       # raw events, state at a version or instant, verify, receipt PDFs
    replay_limit: str = "6 per minute"              # rebuild jobs
    pdf_font_dir: str = "/usr/share/fonts/truetype/tlwg"   # Laksaman, from Debian's fonts-thai-tlwg
    forwarded_hops: int = 0         # reverse proxies in front of this service: trust that many X-Forwarded-For hops
    smtp_url: str = ""              # where e-mail is sent (smtp://, smtp+starttls://, smtps://); empty: not sent
    smtp_password: str = ""         # the SMTP password, when kept out of the URL
    smtp_timeout_seconds: int = 30  # one SMTP conversation's socket timeout
    mail_from: str = "NACC action plans <no-reply@localhost>"   # the From of every message
    mail_retry_base_seconds: int = 30       # the first retry's delay; each later one doubles it ...
    mail_retry_max_seconds: int = 3600      # ... up to this
    mail_max_attempts: int = 24             # after this many failed attempts a message is kept as failed
    mail_lease_seconds: int = 300           # how long a sender holds a message it claimed before another may
    mail_poll_seconds: int = 5              # how often the mailer looks for messages that are due
    email_confirm_ttl_hours: int = 72       # how long the link confirming an e-mail address works
    two_factor_required: bool = False       # supervisors, NACC, auditors, operators need two-factor sign-in
    wait_replicas: int = 0                  # replicas that must have a write before it is acknowledged (WAIT)
    wait_timeout_ms: int = 1000             # how long a write waits for them (then 503: send it again)
    archive_url: str = ""                   # where closed cycles' events are archived (fsspec URL); empty: <data_dir>/archive
    archive_after_days: int = 365           # how long a plan cycle stays closed before its events are archived
    extra: dict = field(default_factory=dict)

    @property
    def rq_url(self) -> str:
        """The Redis URL that RQ's queues live on."""
        return self.rq_redis_url or self.redis_url

    @property
    def smtp(self) -> SmtpServer | None:
        """The SMTP server to send through, or None when none is configured."""
        return smtp_server(self.smtp_url, self.smtp_password)

    def check_secret(self) -> None:
        """Outside development, refuse the default token secret (anyone could sign tokens with it)."""
        if self.environment != "development" and self.secret_key == DEFAULT_SECRET:
            raise RuntimeError("NCC_SECRET_KEY is the default one: set a secret of your own "
                               "(or NCC_ENV=development to try the system locally)")

    @property
    def evidence_store_url(self) -> str:
        """Where evidence files are kept: NCC_EVIDENCE_URL, else a folder under the data folder."""
        return self.evidence_url or "file://" + os.path.abspath(os.path.join(self.data_dir, "evidence"))

    @property
    def archive_store_url(self) -> str:
        """Where the archive command writes segments: NCC_ARCHIVE_URL, else a folder under the data folder."""
        return self.archive_url or "file://" + os.path.abspath(os.path.join(self.data_dir, "archive"))

    def keyring(self):
        """The signing keys; made on first use in development, refused when missing anywhere else."""
        from . import signing
        if self.environment == "development":
            return signing.ensure(self.key_dir or os.path.join(self.data_dir, "keys"))
        if not self.key_dir:
            raise RuntimeError("NCC_KEY_DIR is not set: point it at the folder holding the signing keys "
                               "(make them once with 'python -m shared.signing init DIR')")
        try:
            return signing.load(self.key_dir)
        except signing.KeysMissingError as exc:
            raise RuntimeError(str(exc)) from None

    def but(self, **changes) -> "Settings":
        """A copy with some settings changed (tests and the launcher use it)."""
        return replace(self, **changes)


# the e-mail settings that are whole numbers: setting -> variable
MAIL_NUMBERS = {"smtp_timeout_seconds": "NCC_SMTP_TIMEOUT_SECONDS", "mail_retry_base_seconds": "NCC_MAIL_RETRY_BASE_SECONDS",
                "mail_retry_max_seconds": "NCC_MAIL_RETRY_MAX_SECONDS", "mail_max_attempts": "NCC_MAIL_MAX_ATTEMPTS",
                "mail_lease_seconds": "NCC_MAIL_LEASE_SECONDS", "mail_poll_seconds": "NCC_MAIL_POLL_SECONDS",
                "email_confirm_ttl_hours": "NCC_EMAIL_CONFIRM_TTL_HOURS"}


def from_env(env: dict | None = None) -> Settings:
    """Read the settings from the environment (or the mapping given)."""
    env = os.environ if env is None else env
    defaults = Settings()
    settings = Settings(
        redis_url=env.get("REDIS_URL") or defaults.redis_url,
        rq_redis_url=env.get("RQ_REDIS_URL", ""),
        key_prefix=env.get("NCC_KEY_PREFIX") or defaults.key_prefix,
        partitions=_int(env, "NCC_PARTITIONS", defaults.partitions),
        lock_grace_days=_int(env, "NCC_LOCK_GRACE_DAYS", defaults.lock_grace_days),
        tracker_queue=env.get("NCC_TRACKER_QUEUE") or defaults.tracker_queue,
        max_body_bytes=_int(env, "NCC_MAX_BODY_BYTES", defaults.max_body_bytes),
        append_retries=_int(env, "NCC_APPEND_RETRIES", defaults.append_retries),
        tracker_batch=_int(env, "NCC_TRACKER_BATCH", defaults.tracker_batch),
        sweep_seconds=_int(env, "NCC_SWEEP_SECONDS", defaults.sweep_seconds),
        reminder_seconds=_int(env, "NCC_REMINDER_SECONDS", defaults.reminder_seconds),
        environment=env.get("NCC_ENV") or "production",
        secret_key=env.get("NCC_SECRET_KEY") or defaults.secret_key,
        token_ttl_seconds=_int(env, "NCC_TOKEN_TTL_SECONDS", defaults.token_ttl_seconds),
        activation_ttl_hours=_int(env, "NCC_ACTIVATION_TTL_HOURS", defaults.activation_ttl_hours),
        argon2_time_cost=_int(env, "NCC_ARGON2_TIME_COST", defaults.argon2_time_cost),
        argon2_memory_kib=_int(env, "NCC_ARGON2_MEMORY_KIB", defaults.argon2_memory_kib),
        framework_dir=env.get("NCC_FRAMEWORK_DIR", ""),
        log_level=(env.get("NCC_LOG_LEVEL") or defaults.log_level).upper(),
        submission_url=(env.get("NCC_SUBMISSION_URL") or defaults.submission_url).rstrip("/"),
        tracker_url=(env.get("NCC_TRACKER_URL") or defaults.tracker_url).rstrip("/"),
        forwarded_hops=_int(env, "NCC_FORWARDED_HOPS", defaults.forwarded_hops),
        wait_replicas=_int(env, "NCC_WAIT_REPLICAS", defaults.wait_replicas),
        wait_timeout_ms=_int(env, "NCC_WAIT_TIMEOUT_MS", defaults.wait_timeout_ms),
        archive_url=env.get("NCC_ARCHIVE_URL", ""),
        archive_after_days=_int(env, "NCC_ARCHIVE_AFTER_DAYS", defaults.archive_after_days),
        data_dir=env.get("NCC_DATA_DIR") or defaults.data_dir,
        evidence_url=env.get("NCC_EVIDENCE_URL", ""),
        evidence_max_bytes=_int(env, "NCC_EVIDENCE_MAX_BYTES", defaults.evidence_max_bytes),
        public_url=(env.get("NCC_PUBLIC_URL") or defaults.public_url).rstrip("/"),
        public_rate_limit=env.get("NCC_PUBLIC_RATE_LIMIT") or defaults.public_rate_limit,
        public_pdf_rate_limit=env.get("NCC_PUBLIC_PDF_RATE_LIMIT") or defaults.public_pdf_rate_limit,
        national_read_limit=env.get("NCC_NATIONAL_READ_LIMIT") or defaults.national_read_limit,
        overview_read_limit=env.get("NCC_OVERVIEW_READ_LIMIT") or defaults.overview_read_limit,
        export_limit=env.get("NCC_EXPORT_LIMIT") or defaults.export_limit,
        history_read_limit=env.get("NCC_HISTORY_READ_LIMIT") or defaults.history_read_limit,
        replay_limit=env.get("NCC_REPLAY_LIMIT") or defaults.replay_limit,
        pdf_font_dir=env.get("NCC_PDF_FONT_DIR") or defaults.pdf_font_dir,
        key_dir=env.get("NCC_KEY_DIR", ""),
        smtp_url=env.get("NCC_SMTP_URL", ""),
        smtp_password=env.get("NCC_SMTP_PASSWORD", ""),
        mail_from=env.get("NCC_MAIL_FROM") or defaults.mail_from,
        **{name: _int(env, variable, getattr(defaults, name)) for name, variable in MAIL_NUMBERS.items()},
        two_factor_required=_flag(env, "NCC_2FA_REQUIRED", (env.get("NCC_ENV") or "production") != "development"),
    )
    if not 1 <= settings.partitions <= 1024:
        raise ValueError("NCC_PARTITIONS must be between 1 and 1024")
    if settings.tracker_batch < 1 or settings.sweep_seconds < 1:
        raise ValueError("NCC_TRACKER_BATCH and NCC_SWEEP_SECONDS must be at least 1")
    if settings.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("NCC_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    settings.smtp                   # an NCC_SMTP_URL that does not parse stops the process here, saying why
    if min(getattr(settings, name) for name in MAIL_NUMBERS) < 1:
        raise ValueError(f"{', '.join(MAIL_NUMBERS.values())} must each be at least 1")
    if settings.lock_grace_days < 0:
        raise ValueError("NCC_LOCK_GRACE_DAYS must not be negative")
    if settings.forwarded_hops < 0:
        raise ValueError("NCC_FORWARDED_HOPS must not be negative (0: no proxy in front, forwarded headers ignored)")
    return settings
