"""Closed cycles' events out of Redis: sealed segment files, and reading them back as if nothing moved.

A **segment** holds a run of one stream's events, versions ``first``..``last``, exactly as they were stored (each
entry's value on its own line: JSON Lines), compressed with zstd. Its name is
``<stream>/<first FY>-<last FY>/<first>-<last>.jsonl.zst`` (the plan cycle, and the versions padded to eight
digits), under a folder or any fsspec filesystem (``NCC_ARCHIVE_URL``; S3-compatible storage with the ``s3``
extra). The event that seals it, ``ArchiveSealed``, is the next one in the stream's chain: it records the name,
the range, the number of events and the SHA-256 of the file's bytes, and its ``prev_hash`` is the last archived
event's hash, so the chain runs on through the archive.

In Redis, the stream's archive hash (``Keys.archive``) lists each segment with its full URL (readers need no
setting of their own) and ``upto``, the last archived version; the Redis Stream then holds the entries after it
only. ``shared.streams.read_entries`` reads the archived part from the segments, each checked against the SHA-256
the hash recorded, so reads, time travel, exports, rebuilds and verification see the whole stream.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import fsspec

from .errors import NccError

LEVEL = 10                 # zstd level: the same events always give the same bytes (and SHA-256)
CACHE_SEGMENTS = 256       # segments kept decompressed per process (a unit's closed cycle is one, tens of kB)


class ArchiveError(NccError):
    """An archived segment that a read needs is missing or does not match its recorded SHA-256 (503: the events
    are kept, but not where the archive hash says, or not as sealed; an operator runs ``verify-all``)."""

    status = 503

    def __init__(self, message: str, *, first: int, name: str):
        super().__init__(message, first_version=first, segment=name)
        self.first, self.name = first, name


@dataclass(frozen=True)
class Segment:
    """One archived segment as the stream's archive hash records it."""

    name: str
    url: str
    sha256: str
    first: int
    last: int
    events: int
    bytes: int

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, raw) -> "Segment":
        return cls(**json.loads(raw))

    @property
    def field(self) -> str:
        """Its field in the archive hash."""
        return f"seg:{self.first}-{self.last}"


def segment_name(stream: str, first_fiscal_year: int, last_fiscal_year: int, first: int, last: int) -> str:
    return f"{stream}/{first_fiscal_year}-{last_fiscal_year}/{first:08d}-{last:08d}.jsonl.zst"


def pack(raws) -> bytes:
    """A segment's bytes from the entries' stored values, in version order."""
    import zstandard
    return zstandard.ZstdCompressor(level=LEVEL, write_checksum=True).compress(
        b"".join(bytes(raw) + b"\n" for raw in raws))


def unpack(data: bytes) -> list[bytes]:
    """The stored values in a segment's bytes (ValueError when they are not a zstd frame)."""
    import zstandard
    try:
        text = zstandard.ZstdDecompressor().decompress(data)
    except zstandard.ZstdError as exc:
        raise ValueError(f"not a zstd segment: {exc}") from exc
    return text.splitlines()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArchiveStore:
    """Where the archive command writes segments: a folder or any fsspec filesystem."""

    def __init__(self, url: str, **options):
        self.base = url.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.root = root.rstrip("/")

    def url_of(self, name: str) -> str:
        """The segment's full URL, as readers open it."""
        return f"{self.base}/{name}"

    def put(self, name: str, data: bytes) -> str:
        """Write a segment (under a temporary name, then moved: a reader never sees half of one); its URL. The same
        events make the same bytes, so writing again after a crash puts back the same file."""
        target = posixpath.join(self.root, name)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        temporary = f"{target}.{uuid.uuid4().hex}.part"
        with self.fs.open(temporary, "wb") as f:
            f.write(data)
        self.fs.mv(temporary, target)
        return self.url_of(name)


def fetch(url: str) -> bytes | None:
    """A segment's bytes from its URL, or None when it is not there."""
    try:
        with fsspec.open(url, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def manifest(redis, keys, stream: str) -> tuple[int, list[Segment]]:
    """The last archived version (0: none) and the stream's segments in version order."""
    fields = redis.hgetall(keys.archive(stream))
    upto = int(fields.get(b"upto", 0))
    segments = sorted((Segment.from_json(v) for k, v in fields.items() if k.startswith(b"seg:")),
                      key=lambda s: s.first)
    return upto, segments


_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()


def segment_entries(segment: Segment, *, fresh: bool = False) -> list[bytes]:
    """The stored values in a segment, checked against its SHA-256 (``fresh``: read the file again, as
    verification does, rather than trust what this process read before); ArchiveError when it is missing, changed
    or holds another number of events."""
    key = (segment.url, segment.sha256)
    if not fresh:
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
    data = fetch(segment.url)
    if data is None:
        raise ArchiveError(f"the archived segment {segment.name} (versions {segment.first}-{segment.last}) is "
                           f"missing from {segment.url}", first=segment.first, name=segment.name)
    digest = sha256_of(data)
    if digest != segment.sha256:
        raise ArchiveError(f"the archived segment {segment.name} (versions {segment.first}-{segment.last}) has "
                           f"SHA-256 {digest}, not the {segment.sha256} it was sealed with",
                           first=segment.first, name=segment.name)
    try:
        raws = unpack(data)
    except ValueError as exc:
        raise ArchiveError(f"the archived segment {segment.name} cannot be read: {exc}",
                           first=segment.first, name=segment.name) from None
    if len(raws) != segment.last - segment.first + 1:
        raise ArchiveError(f"the archived segment {segment.name} holds {len(raws)} events, not the "
                           f"{segment.last - segment.first + 1} of versions {segment.first}-{segment.last}",
                           first=segment.first, name=segment.name)
    with _cache_lock:
        _cache[key] = raws
        while len(_cache) > CACHE_SEGMENTS:
            _cache.popitem(last=False)
    return raws


def archived_entries(redis, keys, stream: str, first: int, last: int | None, *, fresh: bool = False):
    """The archived entries ``(entry id, value)`` of versions ``first``..``last`` (None = every archived one), in
    order, from the segments the stream's archive hash lists; nothing when none of them is archived."""
    upto, segments = manifest(redis, keys, stream)
    if first > upto:
        return
    end = upto if last is None else min(last, upto)
    for segment in segments:
        if segment.last < first or segment.first > end:
            continue
        raws = segment_entries(segment, fresh=fresh)
        for version in range(max(first, segment.first), min(end, segment.last) + 1):
            yield f"{version}-0", raws[version - segment.first]
