"""Evidence files: checked by their content, kept in a content-addressed store, covered by the unit's hash chain.

A file's SHA-256 is its name in the store (``<root>/<first two hex digits>/<sha256>``), so the same file is kept
once and a changed file can never pass for the one an event names. The store is any fsspec filesystem:
a local folder by default (``file://<data dir>/evidence``), S3-compatible object storage with
``NCC_EVIDENCE_URL=s3://bucket/prefix`` (the s3fs package installed beside). The event that attaches a file
records its SHA-256, name, type and size; ``verify`` then checks each attached file against its hash.
"""
from __future__ import annotations

import hashlib
import posixpath
import uuid

import filetype
import fsspec

from .errors import NccError

# what a unit may attach, by the type its content shows (filetype's magic numbers), with the names it may bear
TYPES = {
    "application/pdf": ("pdf",),
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/msword": ("doc",),
    "application/vnd.ms-excel": ("xls",),
    "application/vnd.ms-powerpoint": ("ppt",),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "application/vnd.oasis.opendocument.presentation": ("odp",),
}
# names that an old Office file's content may show as (filetype reads OLE2 headers by their first sector)
_SAME = {"application/x-ole-storage": ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint")}


class UnsupportedFileError(NccError):
    """The file's content is not a kind a unit may attach, or not the kind its name or declared type says (415)."""

    status = 415


class FileTooLargeError(NccError):
    """The file is over the size limit (413)."""

    status = 413


def sha256_of(data: bytes) -> str:
    """The file's SHA-256, hex: its name in the store and in the event."""
    return hashlib.sha256(data).hexdigest()


def content_type(data: bytes, name: str, declared: str | None = None) -> str:
    """The file's type as its content shows it, refused (415) when it is not one a unit may attach, or when the
    file's name or the declared type claims another."""
    allowed = ", ".join(sorted({ext for exts in TYPES.values() for ext in exts}))
    kind = filetype.guess(data)
    detected = kind.mime if kind else None
    candidates = _SAME.get(detected, (detected,))
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    by_name = [mime for mime in candidates if mime in TYPES and extension in TYPES[mime]]
    if not by_name:
        if detected is None or not any(mime in TYPES for mime in candidates):
            raise UnsupportedFileError(
                f"ไฟล์นี้ไม่ใช่ชนิดที่แนบได้ (the content of {name!r} is not a file type that may be attached; "
                f"allowed: {allowed})", allowed=sorted({e for x in TYPES.values() for e in x}))
        raise UnsupportedFileError(
            f"เนื้อหาของไฟล์ไม่ตรงกับชื่อไฟล์ (the content of {name!r} is {detected}, not what its name says)",
            detected=detected)
    mime = by_name[0]
    whole = _whole(data, mime)
    if whole:
        raise UnsupportedFileError(f"ไฟล์ไม่สมบูรณ์หรือไม่ใช่ไฟล์ชนิดนี้จริง (the content of {name!r} starts as {mime} "
                                   f"but is not one: {whole})", detected=mime)
    if declared and declared.split(";")[0].strip().lower() not in (mime, "application/octet-stream", ""):
        raise UnsupportedFileError(
            f"เนื้อหาของไฟล์ไม่ตรงกับชนิดที่ระบุ (the content of {name!r} is {mime}, not the declared {declared})",
            detected=mime)
    return mime


_OFFICE_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "word/",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xl/",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "ppt/",
}


def _whole(data: bytes, mime: str) -> str | None:
    """Beyond the first bytes: why the file is not a whole one of its kind (its end marker, or the parts an office
    document's archive must hold), or None."""
    if mime == "application/pdf":
        return None if b"%%EOF" in data[-2048:] else "no end-of-file marker"
    if mime == "image/png":
        return None if data.rstrip(b"\0")[-8:-4] == b"IEND" else "no end chunk"
    if mime == "image/jpeg":
        return None if data.rstrip(b"\0")[-2:] == b"\xff\xd9" else "no end-of-image marker"
    if mime in _OFFICE_PARTS or mime.startswith("application/vnd.oasis.opendocument."):
        import zipfile
        from io import BytesIO
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                names = archive.namelist()
                if mime in _OFFICE_PARTS:
                    return None if any(n.startswith(_OFFICE_PARTS[mime]) for n in names) else "its parts are missing"
                return None if archive.read("mimetype").decode("ascii", "replace").strip() == mime else "another kind"
        except (zipfile.BadZipFile, KeyError, OSError):
            return "not a whole archive"
    return None


class EvidenceStore:
    """Files by their SHA-256 on an fsspec filesystem (a local folder, S3, or memory in tests)."""

    def __init__(self, url: str, **options):
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.root = root.rstrip("/")

    def path(self, sha256: str) -> str:
        """Where a file is kept."""
        return posixpath.join(self.root, sha256[:2], sha256)

    def exists(self, sha256: str) -> bool:
        """Whether a file of that hash is kept."""
        return self.fs.exists(self.path(sha256))

    def put(self, data: bytes) -> str:
        """Keep a file (once: the same content is the same name) and give its SHA-256. Written under a temporary
        name and then moved, so a reader never sees half a file."""
        sha256 = sha256_of(data)
        target = self.path(sha256)
        if self.fs.exists(target):
            return sha256
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        temporary = f"{target}.{uuid.uuid4().hex}.part"
        with self.fs.open(temporary, "wb") as f:
            f.write(data)
        self.fs.mv(temporary, target)
        return sha256

    def get(self, sha256: str) -> bytes | None:
        """The file's bytes, or None when it is not kept."""
        try:
            with self.fs.open(self.path(sha256), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def check(self, sha256: str) -> str | None:
        """None when the file is there and hashes to its name, else why not."""
        data = self.get(sha256)
        if data is None:
            return "missing"
        return None if sha256_of(data) == sha256 else "changed"


def check_files(events, store: EvidenceStore) -> dict | None:
    """The first attached file of a stream's events that is missing from the store or changed in it:
    ``{version, reason}``, or None when every one is whole."""
    for event in events:
        if event.type != "EvidenceAttached":
            continue
        problem = store.check(event.payload["sha256"])
        if problem:
            name = event.payload["name"]
            reason = (f"the evidence file {name!r} (sha256 {event.payload['sha256'][:16]}...) attached at this version "
                      + ("is missing from the store" if problem == "missing" else
                         "was changed in the store: its content no longer has the hash the event recorded"))
            return {"version": event.version, "reason": reason, "problem": problem}
    return None
