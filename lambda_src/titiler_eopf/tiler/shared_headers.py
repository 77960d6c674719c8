"""Blosc chunk headers shared across containers through the cache tier.

A sub-chunk read (:mod:`titiler_eopf.tiler.blosc_ranges`) needs a chunk's header and block
table before it can fetch the blocks holding a tile's rows: one store round trip (20-60 ms of
first byte from S3) per chunk the first time a container touches it. The header of a chunk
does not change while its product's *source version* does not, so it is shared the way the
product's metadata is (:mod:`titiler_eopf.tiler.metadata_cache`, the same ``BlobStore``): one
blob per chunk, keyed by collection, item, source version, array path and chunk key, written
(in the background) by the container that read it from the store, read by a cold container
before it would read the store. Versions that are not versions (``unknown``, ``absent``)
share nothing.

A blob is a magic line, a 16-byte BLAKE2b digest of its key and table, and the table as the
chunk stores it (header + block offsets, ~2 KB for a native r10m chunk). What is read back is
checked (digest, then sizes against the chunk by the reader); anything else is logged and the
store is read instead. The cache tier failing never fails a tile.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from titiler_eopf.tiler.metadata_cache import NOT_VERSIONED, BlobStore, version_digest

logger = logging.getLogger(__name__)

MAGIC = b"titiler-eopf blosc header 1\n"
DIGEST_BYTES = 16
# Writes go to a couple of background threads: a tile never waits for the cache tier's PUT.
WRITERS = 2


def _digest(key: str, table: bytes) -> bytes:
    h = hashlib.blake2b(key.encode(), digest_size=DIGEST_BYTES)
    h.update(b"\0")
    h.update(table)
    return h.digest()


def encode(key: str, table: bytes) -> bytes:
    return MAGIC + _digest(key, table) + table


def decode(key: str, blob: bytes) -> bytes | None:
    """The table stored under ``key``; None for anything that is not one (another format, a
    truncated or altered blob, a blob of another key)."""
    start = len(MAGIC) + DIGEST_BYTES
    if len(blob) <= start or not blob.startswith(MAGIC):
        return None
    table = bytes(blob[start:])
    return table if blob[len(MAGIC) : start] == _digest(key, table) else None


def for_product(
    blobs: BlobStore | None, collection: str, item: str, version: str | None
) -> SharedHeaders | None:
    """The shared headers of one version of a product; None when nothing may be shared (no
    version, or a blob store whose ``chunk_headers`` is False: blobs as slow as the store)."""
    if blobs is None or not version or version in NOT_VERSIONED:
        return None
    if not getattr(blobs, "chunk_headers", True):
        return None
    return SharedHeaders(blobs, f"blosc-header/v1/{collection}/{item}/{version_digest(version)}")


class SharedHeaders:
    """Chunk tables of one product version in the cache tier, by chunk key (the array's
    path and the chunk's key in the product's store). ``gets``/``puts`` count round trips
    (tests and benchmarks)."""

    def __init__(self, blobs: BlobStore, prefix: str):
        self.blobs = blobs
        self.prefix = prefix
        self.gets = self.puts = 0
        self._lock = threading.Lock()

    def key(self, chunk_key: str) -> str:
        return f"{self.prefix}/{chunk_key}"

    def get(self, chunk_key: str) -> bytes | None:
        """The chunk's table as a container read it from the store; None when no one shared
        it, the cache tier is failing, or the blob is damaged (logged)."""
        key = self.key(chunk_key)
        with self._lock:
            self.gets += 1
        try:
            blob = self.blobs.get(key)
        except Exception as exc:  # noqa: BLE001 - the cache tier down: read the store
            logger.warning("shared blosc header unavailable: %r", exc)
            return None
        if not blob:
            return None
        table = decode(key, blob)
        if table is None:
            logger.warning("shared blosc header %s is damaged: ignored, reading the store", key)
        return table

    def put(self, chunk_key: str, table: bytes) -> None:
        """Share a table read from the store (in the background; failures are logged)."""
        key = self.key(chunk_key)
        _submit(self._put, key, encode(key, table))

    def _put(self, key: str, blob: bytes) -> None:
        with self._lock:
            self.puts += 1
        try:
            self.blobs.put(key, blob)
        except Exception as exc:  # noqa: BLE001 - sharing is an optimisation
            logger.warning("shared blosc header not stored: %r", exc)


_writer_lock = threading.Lock()
_writer: ThreadPoolExecutor | None = None
_pending: set[Future] = set()


def _submit(fn, *args) -> None:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="shared-headers")
        future = _writer.submit(fn, *args)
        _pending.add(future)
    future.add_done_callback(_done)


def _done(future: Future) -> None:
    with _writer_lock:
        _pending.discard(future)


def drain(timeout: float = 30.0) -> bool:
    """Wait for the headers being written (tests, benchmarks); True when none is left."""
    with _writer_lock:
        pending = list(_pending)
    return not wait(pending, timeout=timeout).not_done
