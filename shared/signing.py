"""The service's signing keys: Ed25519 keys for receipts, an ECDSA key and certificate for PDF documents.

One file, ``keys.json`` in the key folder (mode 600), holds every receipt key ever used (the newest signs; the
older ones stay so that their receipts keep verifying after a rotation) and the document key with its
self-signed certificate. ``python -m shared.signing init|rotate|public DIR`` makes, rotates and shows them.

A receipt is ``{unit, stream, version, event_id, type, hash, recorded_at, key_id, signature}``; the signature is
Ed25519 over the canonical JSON of every other field (sorted keys, no spaces, UTF-8), so anyone holding the
public keys can check it with no Redis and no services (``shared.offline``).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from .events import canonical

KEYS_FILE = "keys.json"
RECEIPT_FIELDS = ("unit", "stream", "version", "event_id", "type", "hash", "recorded_at", "key_id")
ISSUER = "NACC action plans"


class KeysMissingError(RuntimeError):
    """No signing keys where the configuration says they are (outside development they are never made)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id_of(public_raw: bytes) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its raw public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _public_raw(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _new_receipt_key(now: datetime) -> dict:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = _public_raw(private)
    return {"key_id": key_id_of(public), "private_key": _b64(raw), "public_key": _b64(public),
            "created_at": now.isoformat(timespec="seconds")}


def _new_document_key(now: datetime, name: str) -> dict:
    """An ECDSA P-256 key and a ten-year self-signed certificate naming the issuer (what PDF readers show)."""
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, ISSUER),
                         x509.NameAttribute(NameOID.COUNTRY_NAME, "TH")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(private, hashes.SHA256()))
    return {"key_pem": private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode("ascii"),
            "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii")}


def _write_private(path: Path, data: dict, *, replace_existing: bool) -> bool:
    """Write ``data`` as JSON readable by the owner only; False when the file appeared meanwhile (not replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keys-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if replace_existing:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)          # fails if another process made the file first: theirs is kept
            return True
        except FileExistsError:
            return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=16)
def _private(encoded: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(encoded))


@dataclass(frozen=True)
class Keyring:
    """The keys read from a key folder."""

    receipt_keys: tuple            # dicts as in keys.json, oldest first; the last one signs
    document_key_pem: str
    document_cert_pem: str

    @property
    def current(self) -> dict:
        """The receipt key that signs now."""
        return self.receipt_keys[-1]

    def public_keys(self) -> list[dict]:
        """Every receipt key's public half, newest first: what ``/public/keys`` answers."""
        return [{"key_id": k["key_id"], "alg": "Ed25519", "public_key": k["public_key"],
                 "created_at": k["created_at"], "current": k is self.current}
                for k in reversed(self.receipt_keys)]

    def sign(self, fields: dict) -> dict:
        """A receipt: the fields, the signing key's id and the Ed25519 signature over their canonical JSON."""
        key = self.current
        body = {name: fields.get(name) for name in RECEIPT_FIELDS if name != "key_id"}
        body["key_id"] = key["key_id"]
        return {**body, "signature": _b64(_private(key["private_key"]).sign(canonical(body)))}


def load(key_dir: str | os.PathLike) -> Keyring:
    """The keys in ``key_dir``; KeysMissingError when there are none."""
    path = Path(key_dir) / KEYS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ring = Keyring(tuple(data["receipt_keys"]), data["document"]["key_pem"], data["document"]["cert_pem"])
        if not ring.receipt_keys or not all("private_key" in k and "key_id" in k for k in ring.receipt_keys):
            raise KeyError("receipt_keys")
    except FileNotFoundError:
        raise KeysMissingError(f"no signing keys in {path}: make them with "
                               f"'python -m shared.signing init {key_dir}' (or set NCC_KEY_DIR)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise KeysMissingError(f"{path} is not a keys file of this system ({type(exc).__name__}: {exc})") from None
    if path.stat().st_mode & 0o077:
        raise KeysMissingError(f"{path} can be read by others than its owner (mode {path.stat().st_mode & 0o777:o}): "
                               f"chmod 600 it")
    return ring


def ensure(key_dir: str | os.PathLike, now: datetime | None = None) -> Keyring:
    """The keys in ``key_dir``, made first if there are none (safe when several processes start at once)."""
    path = Path(key_dir) / KEYS_FILE
    if not path.exists():
        now = now or datetime.now(timezone.utc)
        _write_private(path, {"receipt_keys": [_new_receipt_key(now)],
                              "document": _new_document_key(now, f"{ISSUER}: document signing")},
                       replace_existing=False)
    return load(key_dir)


def rotate(key_dir: str | os.PathLike, now: datetime | None = None) -> Keyring:
    """Add a new receipt key, which signs from now on; earlier keys stay published for earlier receipts."""
    now = now or datetime.now(timezone.utc)
    path = Path(key_dir) / KEYS_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["receipt_keys"].append(_new_receipt_key(now))
    _write_private(path, data, replace_existing=True)
    return load(key_dir)


def receipt_of(event, keyring: "Keyring") -> dict:
    """The signed receipt of an event in the log (the same every time it is asked for, under the same key)."""
    from .keys import is_unit_stream
    return keyring.sign({"unit": event.stream if is_unit_stream(event.stream) else None, "stream": event.stream,
                         "version": event.version, "event_id": event.event_id, "type": event.type,
                         "hash": event.hash, "recorded_at": event.recorded_at})


def verify_receipt(receipt: dict, public_keys: list[dict]) -> tuple[bool, str]:
    """Whether a receipt's signature holds under the published key it names, and why not. Every field must be
    there (a missing one is not read as null) and no other; a malformed key list is a refusal, not a crash."""
    if not isinstance(receipt, dict) or not isinstance(receipt.get("signature"), str):
        return False, "not a receipt: it has no signature"
    missing = [name for name in RECEIPT_FIELDS if name not in receipt]
    if missing:
        return False, f"the receipt lacks fields the signature covers: {', '.join(missing)}"
    extra = sorted(set(receipt) - set(RECEIPT_FIELDS) - {"signature"})
    if extra:
        return False, f"the receipt carries fields no signature covers: {', '.join(extra)}"
    keys = [k for k in public_keys if isinstance(k, dict)] if isinstance(public_keys, list) else []
    key = next((k for k in keys if k.get("key_id") == receipt["key_id"]), None)
    if key is None:
        return False, f"no published key has the id {receipt['key_id']!r}"
    try:
        public_raw = base64.b64decode(str(key.get("public_key")), validate=True)
        if key_id_of(public_raw) != key["key_id"]:
            return False, f"the key published as {key['key_id']} is not the key of that id"
        signature = base64.b64decode(receipt["signature"], validate=True)
        body = {name: receipt[name] for name in RECEIPT_FIELDS}
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, canonical(body))
    except (ValueError, TypeError, InvalidSignature):
        return False, "the signature does not match the receipt's fields under that key"
    return True, "the signature holds"


def main(argv=None) -> int:
    """``init DIR`` (make the keys if there are none), ``rotate DIR``, ``public DIR`` (print the public keys)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("init", "rotate", "public"):
        print("usage: python -m shared.signing init|rotate|public DIR", file=sys.stderr)
        return 2
    command, key_dir = argv
    try:
        ring = {"init": ensure, "rotate": rotate, "public": load}[command](key_dir)
    except (KeysMissingError, FileNotFoundError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps({"keys": ring.public_keys()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
