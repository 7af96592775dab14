"""Sign-in: accounts (kept outside the event log), Argon2 passwords, activation codes, tokens, throttling,
two-factor codes (TOTP, RFC 6238) and their recovery codes.

No password, activation code, TOTP secret or hash ever leaves this module: not in an event, a log line or an answer
(a TOTP secret only in the answer that starts an enrolment, until it is confirmed).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta
from typing import Callable

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from zxcvbn import zxcvbn

from .config import Settings
from .errors import InvalidError, RuleError, TooManyAttemptsError, UnauthenticatedError
from .fiscal import parse_instant, utc_iso
from .identity import Actor
from .keys import Keys

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no I, O, 0, 1: read aloud and typed by hand
MIN_PASSWORD, MAX_PASSWORD = 10, 256
USER_FREE_FAILURES, CLIENT_FREE_FAILURES, MAX_LOCK_SECONDS = 5, 20, 900
PRIVILEGED_ROLES = ("supervisor", "nacc", "auditor", "operator")   # two-factor sign-in required (when configured)
TOTP_ISSUER = "NACC action plans"
TOTP_STEP_SECONDS, TOTP_WINDOW = 30, 1          # RFC 6238's 30-second steps; a code of the step before or after too
RECOVERY_CODES = 10


def new_activation_code() -> str:
    """A single-use code: 20 characters (100 bits) in groups of five, e.g. ``K7QXM-P2LRT-...``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(20))
    return "-".join(raw[i:i + 5] for i in range(0, 20, 5))


def code_hash(code: str) -> str:
    """What is stored of a code: SHA-256 of its characters (its 100 random bits need no slow hash)."""
    return hashlib.sha256(code.replace("-", "").strip().upper().encode()).hexdigest()


def check_password(password: str, username: str, name: str | None = None, field: str = "password") -> None:
    """422 naming the rule when a password is too short, is the username, or is easy to guess."""
    def refuse(why):
        raise InvalidError(f"the password is not acceptable: {why}", field_errors={field: [why]})

    if len(password) < MIN_PASSWORD:
        refuse(f"it needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        refuse(f"it may have at most {MAX_PASSWORD} characters")
    if username.casefold() in password.casefold():
        refuse("it must not be or contain the username (a unit's code)")
    result = zxcvbn(password[:72], user_inputs=[username, *(name.split() if name else [])])
    if any(m.get("dictionary_name") == "passwords" and m["token"].casefold() == password.casefold()
           for m in result["sequence"]):
        refuse("it is in a list of common passwords")
    if result["score"] < 3:
        hint = result["feedback"].get("warning") or "add more words or characters"
        refuse(f"it is too easy to guess ({hint})")


def check_email(address: str, field: str = "email") -> str:
    """The address in its normal form, its domain in ASCII (a Thai domain as IDNA's ``xn--``), so that any SMTP
    server takes it (email-validator; the domain is not looked up); 422 naming the problem. A local part in Thai
    would need SMTPUTF8 of every server on the way, so it is refused."""
    try:
        return validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False).ascii_email
    except EmailNotValidError as exc:
        why = f"not an e-mail address: {exc}"
        raise InvalidError(f"the e-mail address is not acceptable: {why}", field_errors={field: [why]}) from None


class Accounts:
    """Credentials per account in Redis: role, status, the Argon2 password hash, the code's hash, token epoch."""

    ACTIVATE_LUA = """
    local code = redis.call('HGET', KEYS[1], 'code_hash')
    if not code or code ~= ARGV[1] then return 0 end
    if redis.call('HGET', KEYS[1], 'code_expires') < ARGV[2] then return 0 end
    redis.call('HDEL', KEYS[1], 'code_hash', 'code_expires')
    redis.call('HSET', KEYS[1], 'password_hash', ARGV[3], 'status', 'active')
    redis.call('HINCRBY', KEYS[1], 'epoch', 1)
    return 1
    """

    def __init__(self, redis, keys: Keys, settings: Settings):
        self.redis = redis
        self.keys = keys
        self.hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)
        self._dummy = self.hasher.hash(secrets.token_hex(16))
        self._activate = redis.register_script(self.ACTIVATE_LUA)
        self.activation_ttl = timedelta(hours=settings.activation_ttl_hours)

    def get(self, username: str) -> dict | None:
        """An account's fields, or None."""
        raw = self.redis.hgetall(self.keys.account(username))
        return {k.decode(): v.decode() for k, v in raw.items()} if raw else None

    def issue_code(self, username: str, role: str, now: datetime) -> tuple[str, datetime]:
        """A new activation code for the account (creating its credentials, or resetting them): earlier
        tokens and password stop working. Returns the code (to hand over, never stored) and its expiry."""
        code, expires = new_activation_code(), now + self.activation_ttl
        key = self.keys.account(username)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(key, "password_hash")
        pipe.hset(key, mapping={"role": role, "status": "pending", "code_hash": code_hash(code),
                                "code_expires": utc_iso(expires)})
        pipe.hincrby(key, "epoch", 1)
        pipe.execute()
        return code, expires

    def code_matches(self, username: str, code: str, now: datetime) -> dict | None:
        """The account when the code is its current, unexpired one; None otherwise."""
        account = self.get(username)
        if not account or "code_hash" not in account:
            return None
        if not hmac.compare_digest(account["code_hash"], code_hash(code)):
            return None
        return account if parse_instant(account["code_expires"]) >= now else None

    def activate(self, username: str, code: str, password: str, now: datetime) -> bool:
        """Set the password if the code is still the current one (atomically: a code works once)."""
        return bool(self._activate(keys=[self.keys.account(username)],
                                   args=[code_hash(code), utc_iso(now), self.hasher.hash(password)]))

    def verify_password(self, username: str, password: str) -> dict | None:
        """The account when it is active and the password is right; as slow either way."""
        account = self.get(username)
        stored = account.get("password_hash") if account and account.get("status") == "active" else None
        try:
            self.hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if stored is None:
            return None
        if self.hasher.check_needs_rehash(stored):
            self.redis.hset(self.keys.account(username), "password_hash", self.hasher.hash(password))
        return account

    CONFIRM_EMAIL_LUA = """
    if redis.call('HGET', KEYS[1], 'email_pending') == ARGV[1] then
      redis.call('HSET', KEYS[1], 'email', ARGV[1], 'email_confirmed_at', ARGV[2])
      redis.call('HDEL', KEYS[1], 'email_pending', 'email_pending_at')
      return 1
    end
    if redis.call('HGET', KEYS[1], 'email') == ARGV[1] then return 2 end
    return 0
    """

    def email(self, username: str) -> dict:
        """The account's confirmed address and the one waiting for confirmation (each None when there is none)."""
        email, pending = self.redis.hmget(self.keys.account(username), "email", "email_pending")
        return {"email": email.decode() if email else None, "email_pending": pending.decode() if pending else None}

    def request_email(self, username: str, address: str, now: datetime) -> None:
        """An address the person gave, waiting for its confirmation (the confirmed one stays in use until then)."""
        self.redis.hset(self.keys.account(username), mapping={"email_pending": address,
                                                              "email_pending_at": utc_iso(now)})

    def confirm_email(self, username: str, address: str, now: datetime) -> bool:
        """Confirm the address waiting for it: True; False when it is already the confirmed one (nothing to do);
        409 when another address, or none, is waiting (a newer request, or the address was removed)."""
        outcome = int(self.redis.eval(self.CONFIRM_EMAIL_LUA, 1, self.keys.account(username), address, utc_iso(now)))
        if outcome == 0:
            raise RuleError("email_not_pending", "this link is for an address that is no longer waiting to be "
                            "confirmed (a newer one was given, or it was removed): set the address again")
        return outcome == 1

    def set_email(self, username: str, address: str | None, now: datetime) -> None:
        """Set the confirmed address outright (an operator's word), or remove every address with None."""
        key = self.keys.account(username)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(key, "email_pending", "email_pending_at")
        if address is None:
            pipe.hdel(key, "email", "email_confirmed_at")
        else:
            pipe.hset(key, mapping={"email": address, "email_confirmed_at": utc_iso(now)})
        pipe.execute()

    def set_password(self, username: str, password: str) -> None:
        """A new password; every earlier token stops working."""
        key = self.keys.account(username)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, "password_hash", self.hasher.hash(password))
        pipe.hincrby(key, "epoch", 1)
        pipe.execute()


def _timed_serializer(secret: str, salt: str, clock: Callable[[], datetime]) -> URLSafeTimedSerializer:
    """itsdangerous' signed, timestamped serializer reading time from the injected clock."""
    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return URLSafeTimedSerializer(secret, salt=salt, signer=Signer)


class Tokens:
    """Signed, expiring access tokens naming the account, its role and its epoch (bumped to revoke)."""

    def __init__(self, secret: str, ttl_seconds: int, clock: Callable[[], datetime]):
        self.ttl = ttl_seconds
        self._serializer = _timed_serializer(secret, "ncc-access-token", clock)

    def issue(self, username: str, role: str, epoch: int) -> str:
        """A token for an account as it stands."""
        return self._serializer.dumps({"u": username, "r": role, "e": epoch})

    def read(self, token: str) -> dict:
        """The token's claims; 401 when tampered with or expired."""
        try:
            return self._serializer.loads(token, max_age=self.ttl)
        except SignatureExpired:
            raise UnauthenticatedError("the access token has expired: sign in again") from None
        except BadSignature:
            raise UnauthenticatedError("the access token is not valid: sign in again") from None


class EmailTokens:
    """The signed, expiring token of an e-mail confirmation link: the account and the address it confirms."""

    def __init__(self, secret: str, ttl_seconds: int, clock: Callable[[], datetime]):
        self.ttl = ttl_seconds
        self._serializer = _timed_serializer(secret, "ncc-email-confirmation", clock)

    def issue(self, username: str, address: str) -> str:
        """A token confirming ``address`` for the account."""
        return self._serializer.dumps({"u": username, "m": address})

    def read(self, token: str) -> tuple[str, str]:
        """(username, address); 422 naming the token when it was tampered with or has expired."""
        def refuse(why):
            raise InvalidError(f"the confirmation link {why}", field_errors={"token": [f"The link {why}."]})
        try:
            claims = self._serializer.loads(token, max_age=self.ttl)
        except SignatureExpired:
            refuse("has expired: set the address again to get a new one")
        except BadSignature:
            refuse("is not valid: copy the whole link from the e-mail")
        return claims["u"], claims["m"]


class Tickets:
    """Short-lived signed tickets naming an account and its epoch, for one purpose each (``salt``): the sign-in
    ticket after a right password (the code comes next), and the enrolment token of a privileged account that has
    no two-factor sign-in yet (it opens the enrolment routes and nothing else)."""

    def __init__(self, secret: str, salt: str, ttl_seconds: int, clock: Callable[[], datetime]):
        self.ttl = ttl_seconds
        self._serializer = _timed_serializer(secret, salt, clock)

    def issue(self, username: str, role: str, epoch: int) -> str:
        """A ticket for the account as it stands."""
        return self._serializer.dumps({"u": username, "r": role, "e": epoch})

    def read(self, ticket: str, accounts: "Accounts") -> dict | None:
        """The account the ticket names, when the ticket is genuine, unexpired and the account unchanged since
        (same role and epoch, still active); None otherwise."""
        try:
            claims = self._serializer.loads(ticket, max_age=self.ttl)
        except (BadSignature, SignatureExpired):
            return None
        account = accounts.get(str(claims.get("u", "")))
        if (not account or account.get("status") != "active" or account.get("role") != claims.get("r")
                or int(account.get("epoch", 0)) != claims.get("e")):
            return None
        return {**account, "username": claims["u"]}


def new_recovery_code() -> str:
    """A one-time recovery code: 10 characters (50 bits) in two groups, e.g. ``K7QXM-P2LRT``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


class TwoFactor:
    """TOTP (RFC 6238, pyotp) per account, kept in the account's credentials hash: the secret encrypted with Fernet
    under a key derived from ``NCC_SECRET_KEY`` (``totp_secret``; ``totp_pending`` while an enrolment waits for its
    first code), the last time step a code was accepted for (``totp_last_step``: a code works once, and no earlier
    one after it), and the recovery codes' SHA-256 hashes as fields ``rc:<hash>`` (HDEL uses one exactly once)."""

    CONFIRM_LUA = """
    if redis.call('HGET', KEYS[1], 'totp_pending') ~= ARGV[1] then return 0 end
    for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
      if string.sub(name, 1, 3) == 'rc:' then redis.call('HDEL', KEYS[1], name) end
    end
    redis.call('HDEL', KEYS[1], 'totp_pending', 'totp_pending_at')
    redis.call('HSET', KEYS[1], 'totp_secret', ARGV[1], 'totp_last_step', ARGV[2], 'totp_enabled_at', ARGV[3])
    for i = 4, #ARGV do redis.call('HSET', KEYS[1], 'rc:' .. ARGV[i], '1') end
    return 1
    """
    USE_STEP_LUA = """
    if redis.call('HGET', KEYS[1], 'totp_secret') ~= ARGV[1] then return 0 end
    local last = tonumber(redis.call('HGET', KEYS[1], 'totp_last_step') or '-1')
    if tonumber(ARGV[2]) <= last then return 0 end
    redis.call('HSET', KEYS[1], 'totp_last_step', ARGV[2])
    return 1
    """
    DISABLE_LUA = """
    for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
      if string.sub(name, 1, 3) == 'rc:' or string.sub(name, 1, 5) == 'totp_' then redis.call('HDEL', KEYS[1], name) end
    end
    return 1
    """

    def __init__(self, redis, keys: Keys, secret_key: str):
        self.redis = redis
        self.keys = keys
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"ncc-totp|" + secret_key.encode()).digest()))

    def _secret(self, stored: str | None) -> str | None:
        if not stored:
            return None
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:                # written under another NCC_SECRET_KEY: an operator resets it
            return None

    @staticmethod
    def enabled(account: dict | None) -> bool:
        """Whether the account signs in with a second factor."""
        return bool(account and account.get("totp_secret"))

    def status(self, account: dict) -> dict:
        """Whether two-factor sign-in is on, an enrolment waits, and how many recovery codes are left."""
        return {"enabled": self.enabled(account), "pending": bool(account.get("totp_pending")),
                "enabled_at": account.get("totp_enabled_at"),
                "recovery_codes_left": sum(1 for name in account if name.startswith("rc:"))}

    def start(self, username: str, now: datetime) -> dict:
        """A new secret waiting for its first code (an earlier waiting one is replaced; an enabled one stays in
        force until this one is confirmed): the otpauth:// URI and its QR code to scan."""
        secret = pyotp.random_base32()
        self.redis.hset(self.keys.account(username), mapping={
            "totp_pending": self._fernet.encrypt(secret.encode()).decode(), "totp_pending_at": utc_iso(now)})
        return self.provisioning(username, secret)

    def pending(self, username: str, account: dict) -> dict | None:
        """The waiting enrolment's URI and QR code again (the page is shown until a code confirms it), or None."""
        secret = self._secret(account.get("totp_pending"))
        return self.provisioning(username, secret) if secret else None

    @staticmethod
    def provisioning(username: str, secret: str) -> dict:
        """What an authenticator app needs: the otpauth:// URI, its QR code (SVG data URI) and the secret typed."""
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
        return {"otpauth_uri": uri, "secret": secret,
                "qr_svg": segno.make(uri, error="m").svg_data_uri(scale=5, border=2)}

    @staticmethod
    def _step(secret: str, code: str, now: datetime) -> int | None:
        """The time step (within one of now's) whose code this is, or None."""
        if not (len(code) == 6 and code.isdigit()):
            return None
        totp, current = pyotp.TOTP(secret), int(now.timestamp()) // TOTP_STEP_SECONDS
        for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def confirm(self, username: str, code: str, now: datetime) -> list[str] | None:
        """Enable the waiting secret when ``code`` is its current code: the new recovery codes (shown once, kept
        hashed; earlier ones stop working); None when the code is wrong or nothing waits."""
        stored = (self.redis.hget(self.keys.account(username), "totp_pending") or b"").decode()
        secret = self._secret(stored)
        step = self._step(secret, normal_code(code), now) if secret else None
        if step is None:
            return None
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        done = self.redis.eval(self.CONFIRM_LUA, 1, self.keys.account(username), stored, step, utc_iso(now),
                               *(code_hash(c) for c in codes))
        return codes if int(done) == 1 else None

    def verify(self, username: str, code: str, now: datetime) -> str | None:
        """``"totp"`` when ``code`` is a current code not used before, ``"recovery"`` when it is an unused recovery
        code (now used up), None otherwise (wrong, expired, already used)."""
        key = self.keys.account(username)
        code = normal_code(code)
        stored = (self.redis.hget(key, "totp_secret") or b"").decode()
        secret = self._secret(stored)
        if secret is None:
            return None
        if code.isdigit():
            step = self._step(secret, code, now)
            if step is not None and int(self.redis.eval(self.USE_STEP_LUA, 1, key, stored, step)) == 1:
                return "totp"
            return None
        if len(code) == 10 and self.redis.hdel(key, "rc:" + code_hash(code)) == 1:
            return "recovery"
        return None

    def disable(self, username: str) -> None:
        """Remove the secret, a waiting enrolment and the recovery codes: the account signs in with its password."""
        self.redis.eval(self.DISABLE_LUA, 1, self.keys.account(username))


def normal_code(code: str) -> str:
    """A code as typed, without spaces and dashes, in capitals (``123 456``, ``k7qxm-p2lrt``)."""
    return "".join(code.split()).replace("-", "").upper()


def token_identity(accounts: Accounts, tokens: Tokens):
    """The identity resolver both services use: ``Authorization: Bearer <token>``, checked against the account."""
    def identify(headers) -> Actor:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("sign in first: send Authorization: Bearer <token> (POST /api/v1/auth/token)")
        claims = tokens.read(token.strip())
        account = accounts.get(claims.get("u", ""))
        if (not account or account.get("status") != "active" or account.get("role") != claims.get("r")
                or int(account.get("epoch", 0)) != claims.get("e")):
            raise UnauthenticatedError("the access token was revoked (password changed or reset): sign in again")
        return Actor(claims["u"], claims["r"])
    return identify


class Throttle:
    """Failed attempts per username and per client address, with exponential lock-outs."""

    def __init__(self, redis, keys: Keys, clock: Callable[[], datetime]):
        self.redis = redis
        self.keys = keys
        self.clock = clock

    def _subjects(self, username: str, client: str):
        return [(self.keys.throttle("user", username[:64]), USER_FREE_FAILURES),
                (self.keys.throttle("client", client[:64]), CLIENT_FREE_FAILURES)]

    def check(self, username: str, client: str) -> None:
        """429 while either the username or the client address is locked out."""
        now = self.clock().timestamp()
        waits = [float(until) - now for key, _ in self._subjects(username, client)
                 if (until := self.redis.hget(key, "until")) and float(until) > now]
        if waits:
            raise TooManyAttemptsError(math.ceil(max(waits)))

    def failed(self, username: str, client: str) -> None:
        """Count a failure; past the free ones, lock out for 1, 2, 4 ... seconds (at most 15 minutes)."""
        now = self.clock().timestamp()
        for key, free in self._subjects(username, client):
            failures = self.redis.hincrby(key, "failures", 1)
            if failures > free:
                self.redis.hset(key, "until", now + min(MAX_LOCK_SECONDS, 2 ** (failures - free - 1)))
            self.redis.expire(key, 3600)

    def succeeded(self, username: str) -> None:
        """A success clears the username's count (not the client's)."""
        self.redis.delete(self.keys.throttle("user", username[:64]))
