"""SnapStart: what the tile Lambda does before its snapshot and after each restore.

With SnapStart (``-c snapstart=true``) Lambda runs the init phase once per published version,
snapshots the process, and resumes every new execution environment from that snapshot. So:

* **init** builds the app and the tiler (:func:`titiler_eopf.handlers.tile.init_for_snapshot`):
  the imports a first request would pay (rasterio, xarray, zarr, titiler: seconds) are in the
  snapshot;
* **after restore** (:func:`reset_connections`): nothing opened before the snapshot may be
  reused, since its sockets belong to a process that no longer exists and would be shared by
  every environment restored from it. The cache's backend is built afresh (its Redis and S3
  clients, connection pools and circuit breakers are created again on first use, and an AUTH
  token is read again from Secrets Manager); the origin-verify secret is read again on the
  next request (a snapshot may be older than a rotation); ``random`` is reseeded (identical in
  every restored environment otherwise; tokens and generations use ``os.urandom``, which is).

The hook is registered with ``snapshot_restore_py``, the module the Lambda Python runtime
(3.12+) provides; anywhere else (a local run, the tests) registering does nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

log = logging.getLogger("titiler_eopf.handlers.snapstart")


def register_after_restore(hook: Callable[[], None]) -> bool:
    """Register ``hook`` to run after each restore; False where no runtime hook exists."""
    try:
        from snapshot_restore_py import register_after_restore as register
    except ImportError:  # not Lambda's runtime: no snapshot, nothing to restore
        return False
    register(hook)
    return True


def reset_connections(app: Any) -> None:
    """Drop every client the app holds (``app`` as built by ``titiler_eopf.main``)."""
    cache = app.cache
    backend = cache.backend
    # A backend with circuit breakers is one with network clients (redis, s3, s3_redis);
    # the memory backend keeps its entries.
    if backend is not None and tuple(backend.breakers()):
        from titiler_eopf.cache.backends import make_backend

        cache.backend = make_backend(cache.settings, cache.clock)
    secret = getattr(app, "origin_secret", None)
    if secret is not None:
        secret.forget()
    random.seed()
    log.info("restored from a SnapStart snapshot: connections reset")
