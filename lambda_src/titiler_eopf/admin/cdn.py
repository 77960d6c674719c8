"""CloudFront invalidation of what an admin invalidation drops from the tile cache.

Behind a CDN (``TITILER_EOPF_CDN_DISTRIBUTION_ID``, set by the stack on the admin Lambda) the
edge holds responses for their ``s-maxage``: an invalidation that reached only the tile cache
would leave them there. :func:`edge_paths` maps an admin invalidation to CloudFront paths:

* collection -> ``/collections/{c}/*``; item -> ``/collections/{c}/items/{i}/*``;
* a URL -> its path followed by ``*`` (CloudFront keys on the query string as sent, order and
  spelling included, where the cache normalises it: the wildcard covers every spelling);
* a tile range -> the tiles of the item and of the collection's mosaic (the cache drops both),
  as ``.../{z}/{x}/{y}*`` (every format, scale and query; ``{y}*`` also covers the rows whose
  number starts with ``y``, a harmless extra miss). CloudFront accepts only
  ``MAX_WILDCARD_PATHS`` wildcard paths in invalidations in progress, and every path here is
  one (query variants need it): past ``max_paths``, whole columns (``.../{z}/{x}/*``), then
  whole zoom levels (``.../{z}/*``), then every tile of the scope (``.../tiles/{tms}/*``);
  a tile range over a whole collection is ``/collections/{c}/*``;
* a key or a glob pattern: not mapped (entry ids are digests, not paths), reported as skipped.

:class:`CdnInvalidator` sends them (one ``CreateInvalidation`` per ``MAX_PATHS_PER_BATCH``),
or only reports them for a dry run. A CloudFront failure does not undo the cache invalidation
already done: it is reported beside it (``cdn.error``).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from titiler_eopf.admin.actions import InvalidateRequest
from titiler_eopf.paths import MAX_ZOOM, webmercator_tile_range

log = logging.getLogger("titiler_eopf.admin.cdn")

# CloudFront quotas (per distribution): wildcard paths in invalidations in progress, and paths
# of one invalidation batch (file paths in progress).
MAX_WILDCARD_PATHS = 15
MAX_PATHS_PER_BATCH = 3000
WEB_MERCATOR = "WebMercatorQuad"


def _tiles_base(prefix: str, collection: str, item: str | None, tms: str) -> str:
    scope = f"/collections/{collection}" + (f"/items/{item}" if item else "")
    return f"{prefix}{scope}/tiles/{tms}"


def tile_paths(
    prefix: str,
    collection: str,
    item: str | None,
    *,
    tms: str,
    minzoom: int,
    maxzoom: int,
    bbox: list[float] | None,
    max_paths: int,
) -> list[str]:
    """The finest set of wildcard paths covering the tile range within ``max_paths``."""
    if item is None:  # the items of a collection have no common path below it
        return [f"{prefix}/collections/{collection}/*"]
    bases = [_tiles_base(prefix, collection, item, tms), _tiles_base(prefix, collection, None, tms)]
    zooms = range(minzoom, min(maxzoom, MAX_ZOOM) + 1)
    ranges = (
        {z: webmercator_tile_range(bbox, z) for z in zooms} if bbox and tms == WEB_MERCATOR else {}
    )

    def tiles(base: str) -> list[str]:
        return [
            f"{base}/{z}/{x}/{y}*"
            for z, (x0, y0, x1, y1) in ranges.items()
            for x in range(x0, x1 + 1)
            for y in range(y0, y1 + 1)
        ]

    def columns(base: str) -> list[str]:
        return [
            f"{base}/{z}/{x}/*" for z, (x0, _, x1, _) in ranges.items() for x in range(x0, x1 + 1)
        ]

    def levels(base: str) -> list[str]:
        return [f"{base}/{z}/*" for z in zooms]

    # (paths of one base, how many: counted first, a range at z20 can be millions of tiles)
    choices = [(levels, len(zooms))]
    if ranges:
        n_tiles = sum((x1 - x0 + 1) * (y1 - y0 + 1) for x0, y0, x1, y1 in ranges.values())
        n_columns = sum(x1 - x0 + 1 for x0, _, x1, _ in ranges.values())
        choices = [(tiles, n_tiles), (columns, n_columns), *choices]
    for paths_of, count in choices:
        if count * len(bases) <= max_paths:
            return [path for base in bases for path in paths_of(base)]
    return [f"{base}/*" for base in bases]


def edge_paths(request: InvalidateRequest, prefix: str, max_paths: int) -> list[str] | None:
    """CloudFront paths of an admin invalidation (None: the scope has no path form)."""
    r = request
    if r.scope == "collection":
        return [f"{prefix}/collections/{r.collection}/*"]
    if r.scope == "item":
        return [f"{prefix}/collections/{r.collection}/items/{r.item}/*"]
    if r.scope == "url":
        parts = urlsplit(r.url or "")
        # An absolute URL is the public one (its path has the prefix already).
        return [f"{parts.path if parts.netloc else prefix + parts.path}*"]
    if r.scope == "tiles":
        return tile_paths(
            prefix,
            r.collection,
            r.item,
            tms=r.tms,
            minzoom=r.minzoom,
            maxzoom=r.maxzoom,
            bbox=r.bbox,
            max_paths=max_paths,
        )
    return None


@dataclass
class CdnInvalidator:
    """Invalidations on one distribution; ``prefix``: the public URL's path (usually "")."""

    distribution_id: str
    prefix: str = ""
    max_paths: int = MAX_WILDCARD_PATHS
    client: Any = None  # a boto3 CloudFront client; built on first use

    def invalidate(self, request: InvalidateRequest) -> dict:
        """What was (or, for a dry run, would be) invalidated at the edge."""
        report: dict[str, Any] = {"distribution": self.distribution_id}
        paths = edge_paths(request, self.prefix.rstrip("/"), self.max_paths)
        if paths is None:
            return report | {
                "skipped": f"scope {request.scope!r} has no CloudFront path: invalidate an item,"
                " a collection, a tile range or a URL to reach the edge"
            }
        report["paths"] = paths
        if request.dry_run:
            return report | {"dry_run": True}
        ids = []
        try:
            for batch in itertools.batched(paths, MAX_PATHS_PER_BATCH):
                ids.append(self._create(list(batch)))
        except Exception as exc:  # noqa: BLE001 - reported beside the cache's result
            log.exception("CloudFront invalidation failed", extra=report)
            return report | {"invalidations": ids, "error": f"{type(exc).__name__}: {exc}"}
        log.info("CloudFront invalidation created", extra=report | {"invalidations": ids})
        return report | {"invalidations": ids}

    def _create(self, paths: list[str]) -> str:
        if self.client is None:
            from titiler_eopf import aws

            self.client = aws.client(
                "cloudfront",
                region="us-east-1",  # CloudFront's API is global, served from us-east-1
                connect_timeout=aws.CLOUDFRONT_CONNECT_TIMEOUT,
                read_timeout=aws.CLOUDFRONT_READ_TIMEOUT,
                attempts=aws.CLOUDFRONT_ATTEMPTS,
            )
        reference = f"titiler-eopf-{time.time_ns()}-{os.urandom(4).hex()}"
        response = self.client.create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": reference,
            },
        )
        return response["Invalidation"]["Id"]
