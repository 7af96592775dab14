"""Configuration: read once from the environment; the default secret only in development."""
import pytest

from shared.config import DEFAULT_SECRET, from_env


def test_defaults_and_overrides():
    """Localhost defaults; every variable read where documented; bad numbers refused."""
    s = from_env({})
    assert s.redis_url == "redis://127.0.0.1:6379/0" and s.environment == "production" and s.partitions == 16
    s = from_env({"REDIS_URL": "redis://x:1/2", "NCC_PARTITIONS": "32", "NCC_LOCK_GRACE_DAYS": "30",
                  "NCC_ENV": "development"})
    assert (s.redis_url, s.partitions, s.lock_grace_days, s.environment) == ("redis://x:1/2", 32, 30, "development")
    with pytest.raises(ValueError):
        from_env({"NCC_PARTITIONS": "many"})


def test_default_secret_refused_outside_development():
    """Production with the default secret refuses to start; development or a real secret starts."""
    with pytest.raises(RuntimeError, match="NCC_SECRET_KEY"):
        from_env({}).check_secret()
    from_env({"NCC_ENV": "development"}).check_secret()
    from_env({"NCC_SECRET_KEY": "a-long-random-secret-of-our-own"}).check_secret()
    assert from_env({}).secret_key == DEFAULT_SECRET


def test_signing_keys_refused_when_missing_outside_development(tmp_path):
    """Production without NCC_KEY_DIR, or with a folder holding no keys, refuses to start (and makes none);
    development makes its keys on first start under the data folder, readable by the owner only."""
    with pytest.raises(RuntimeError, match="NCC_KEY_DIR"):
        from_env({}).keyring()
    with pytest.raises(RuntimeError, match="no signing keys"):
        from_env({"NCC_KEY_DIR": str(tmp_path / "none")}).keyring()
    assert not (tmp_path / "none").exists()
    ring = from_env({"NCC_ENV": "development", "NCC_DATA_DIR": str(tmp_path / "data")}).keyring()
    assert (tmp_path / "data" / "keys" / "keys.json").stat().st_mode & 0o777 == 0o600
    again = from_env({"NCC_KEY_DIR": str(tmp_path / "data" / "keys")}).keyring()
    assert again.current["key_id"] == ring.current["key_id"] and again.document_cert_pem == ring.document_cert_pem


def test_smtp_url_gives_host_port_tls_and_credentials():
    """NCC_SMTP_URL's scheme picks TLS and the default port; user and password percent-decoded, the password also
    from NCC_SMTP_PASSWORD; none set means no server; a URL that does not parse stops the process saying why."""
    from shared.config import SmtpServer
    assert from_env({}).smtp is None
    assert from_env({"NCC_SMTP_URL": "smtp+starttls://mailer%40nacc@mail.example.go.th"}).smtp == SmtpServer(
        "mail.example.go.th", 587, "starttls", "mailer@nacc", "")
    assert from_env({"NCC_SMTP_URL": "smtps://u:p%2Fw@mail.example.go.th:2465"}).smtp == SmtpServer(
        "mail.example.go.th", 2465, "ssl", "u", "p/w")
    assert from_env({"NCC_SMTP_URL": "smtp://127.0.0.1", "NCC_SMTP_PASSWORD": "s3cret"}).smtp == SmtpServer(
        "127.0.0.1", 25, "none", "", "s3cret")
    for bad in ("http://mail.example.go.th", "smtp://", "smtp://host:port"):
        with pytest.raises(ValueError, match="NCC_SMTP_URL"):
            from_env({"NCC_SMTP_URL": bad})
    with pytest.raises(ValueError, match="NCC_MAIL_MAX_ATTEMPTS"):
        from_env({"NCC_MAIL_MAX_ATTEMPTS": "0"})


def test_two_factor_required_outside_development_unless_said():
    """NCC_2FA_REQUIRED: on by default, off by default in development, either way when set; a typo stops the start."""
    assert from_env({}).two_factor_required is True
    assert from_env({"NCC_ENV": "development"}).two_factor_required is False
    assert from_env({"NCC_ENV": "development", "NCC_2FA_REQUIRED": "1"}).two_factor_required is True
    assert from_env({"NCC_2FA_REQUIRED": "0"}).two_factor_required is False
    with pytest.raises(ValueError, match="NCC_2FA_REQUIRED"):
        from_env({"NCC_2FA_REQUIRED": "maybe"})
