"""Product metadata shared across containers through the cache tier.

Opening a product reads its metadata documents (consolidated ``.zmetadata`` or ``zarr.json``,
the probes zarr makes beside them) and, when a pyramid is first used, the chunks of its levels'
coordinate arrays (``x``/``y``: 2 requests per level). A cold container pays those round
trips before its first tile. Here the bytes an open read are recorded while a product is
opened and used, and published to a shared store under the product's *source version*; a
cold container that opens a product already seen anywhere fetches them in one request and
opens it with no store request beyond the version check (a version no one published yet, or
``unknown``/``absent``, is opened from the store as before: never stale).

The tiler does not import the cache: :class:`BlobStore` is the protocol it needs (get/put
bytes by key), and ``main.py`` passes an adapter over the cache backend. What is stored is
plain bytes, no pickle: a magic line, a JSON index, then the recorded objects' bytes as the
store holds them (metadata JSON, the coordinates' encoded chunks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from typing import Protocol

from zarr.storage import WrapperStore

logger = logging.getLogger(__name__)

MAGIC = b"titiler-eopf product metadata 1\n"
METADATA_FILES = {".zmetadata", ".zgroup", ".zattrs", ".zarray", "zarr.json"}
# 1-D arrays the reader reads whole when it opens a level (coordinates, grid mapping).
COORDINATES = {"x", "y", "latitude", "longitude", "spatial_ref", "crs", "time", "band"}
CHUNK_KEY = re.compile(r"^(c|\d+([./]\d+)*)$")
MAX_OBJECT_BYTES = 2 * 2**20
MAX_BLOB_BYTES = 16 * 2**20
NOT_VERSIONED = ("unknown", "absent", "")


class BlobStore(Protocol):
    """Bytes by key in a store every container shares (the cache tier)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...


def version_digest(version: str) -> str:
    """A product's source version as a part of a cache-tier key."""
    return hashlib.sha256(version.encode()).hexdigest()[:32]


def blob_key(collection: str, item: str, version: str) -> str:
    return f"product-metadata/v1/{collection}/{item}/{version_digest(version)}"


def shared_object(key: str) -> bool:
    """Metadata documents and chunks of coordinate arrays."""
    parts = key.split("/")
    if parts[-1] in METADATA_FILES:
        return True
    # v2: {array}/{i}; v3: {array}/c/{i} or {array}/c (one chunk of a 0-d array)
    tail = 1
    while len(parts) > tail and CHUNK_KEY.match(parts[-tail]) and tail <= 2:
        if len(parts) > tail and parts[-tail - 1] in COORDINATES:
            return True
        tail += 1
    return False


def encode(objects: dict[str, bytes | None]) -> bytes:
    index, parts, offset = [], [], 0
    for key in sorted(objects):
        data = objects[key]
        if data is None:
            index.append({"key": key, "absent": True})
            continue
        index.append({"key": key, "offset": offset, "length": len(data)})
        parts.append(data)
        offset += len(data)
    header = json.dumps({"objects": index}, separators=(",", ":")).encode()
    return MAGIC + len(header).to_bytes(8, "little") + header + b"".join(parts)


def decode(blob: bytes) -> dict[str, bytes | None] | None:
    """The recorded objects, or None for anything that is not a blob of this format."""
    if not blob or not blob.startswith(MAGIC):
        return None
    try:
        start = len(MAGIC) + 8
        size = int.from_bytes(blob[len(MAGIC) : start], "little")
        index = json.loads(blob[start : start + size])["objects"]
        body = memoryview(blob)[start + size :]
        out: dict[str, bytes | None] = {}
        for entry in index:
            if entry.get("absent"):
                out[entry["key"]] = None
            else:
                piece = body[entry["offset"] : entry["offset"] + entry["length"]]
                if len(piece) != entry["length"]:
                    return None
                out[entry["key"]] = bytes(piece)
        return out
    except (ValueError, KeyError, TypeError):
        return None


def wrap_store(store, blobs: BlobStore | None, collection: str, item: str, version: str):
    """The product's zarr store, answering recorded objects from the shared blob; ``store``
    itself when nothing is shared (no blob store, or a version that is not a version)."""
    if blobs is None or version in NOT_VERSIONED:
        return store
    shared = SharedMetadataStore(store, blobs, blob_key(collection, item, version))
    shared.load()  # here, in the opening thread: never on zarr's event loop
    return shared


def publish(store) -> bool:
    """Publish what the product's store recorded since it was last published (cheap no-op
    otherwise). True when a blob was written."""
    return store.publish() if isinstance(store, SharedMetadataStore) else False


class SharedMetadataStore(WrapperStore):
    """A zarr store that answers metadata and coordinate reads from a shared blob, and records
    those it had to read from the product's store (published with :meth:`publish`)."""

    def __init__(self, store, blobs: BlobStore, key: str):
        super().__init__(store)
        self.blobs = blobs
        self.key = key
        self.requests = 0  # round trips to the shared store (tests and benchmarks)
        self._lock = threading.Lock()
        self._objects: dict[str, bytes | None] = {}
        self._dirty = False
        self._loaded = False

    def _with_store(self, store):
        twin = type(self)(store, self.blobs, self.key)
        twin._objects, twin._loaded = self._objects, self._loaded
        return twin

    def load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            try:
                self.requests += 1
                blob = self.blobs.get(self.key)
            except Exception as exc:  # noqa: BLE001 - a shared store down is a slower open
                logger.warning("shared metadata unavailable: %r", exc)
                blob = None
            objects = decode(blob) if blob else None
            if objects:
                self._objects.update(objects)

    def _known(self, key: str):
        self.load()
        with self._lock:
            if key in self._objects:
                return True, self._objects[key]
        return False, None

    async def get(self, key, prototype, byte_range=None):
        if not shared_object(key):
            return await self._store.get(key, prototype, byte_range)
        known, data = self._known(key)
        if not known:
            buffer = await self._store.get(key, prototype, None)
            data = None if buffer is None else buffer.to_bytes()
            if data is None or len(data) <= MAX_OBJECT_BYTES:
                with self._lock:
                    self._objects[key] = data
                    self._dirty = True
        if data is None:
            return None
        if byte_range is not None:
            start, end = _bounds(byte_range, len(data))
            data = data[start:end]
        return prototype.buffer.from_bytes(data)

    async def exists(self, key: str) -> bool:
        if shared_object(key):
            known, data = self._known(key)
            if known:
                return data is not None
        return await self._store.exists(key)

    def publish(self) -> bool:
        with self._lock:
            if not self._dirty:
                return False
            self._dirty = False
            objects = dict(self._objects)
        blob = encode(objects)
        if len(blob) > MAX_BLOB_BYTES:
            return False
        try:
            self.requests += 1
            self.blobs.put(self.key, blob)
        except Exception as exc:  # noqa: BLE001 - sharing is an optimisation
            logger.warning("shared metadata not stored: %r", exc)
            return False
        return True


def _bounds(byte_range, size: int) -> tuple[int, int]:
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

    if isinstance(byte_range, RangeByteRequest):
        return byte_range.start, min(byte_range.end, size)
    if isinstance(byte_range, OffsetByteRequest):
        return byte_range.offset, size
    if isinstance(byte_range, SuffixByteRequest):
        return max(0, size - byte_range.suffix), size
    return 0, size
