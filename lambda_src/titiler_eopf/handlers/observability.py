"""Structured JSON logs and CloudWatch metrics (embedded metric format).

aws-lambda-powertools writes both to stdout; CloudWatch turns the EMF lines
into metrics, so no API call (and no extra latency) is made per request.
"""

from __future__ import annotations

import os
from functools import cache

SERVICE = "titiler-eopf"
NAMESPACE = "TiTilerEOPF"

# Cache counters published per invocation (deltas), as CloudWatch metric names.
COUNTERS = {
    "hits": "CacheHits",
    "misses": "CacheMisses",
    "bypasses": "CacheBypasses",
    "errors": "CacheErrors",
    "stale": "CacheStale",
    "not_modified": "CacheNotModified",
    "write_errors": "CacheWriteErrors",
    "corrupt": "CacheCorruptEntries",
    # the tiler's decoded-chunk cache (neighbouring tiles reuse native chunks)
    "chunk_hits": "ChunkCacheHits",
    "chunk_misses": "ChunkCacheMisses",
    "chunk_evictions": "ChunkCacheEvictions",
}


def counters_snapshot(cache) -> dict:
    """The tile cache's counters plus the chunk cache's, prefixed ``chunk_``."""
    snapshot = dict(cache.metrics.snapshot())
    for key, value in (cache.chunk_stats() or {}).items():
        snapshot[f"chunk_{key}"] = value
    return snapshot


@cache
def logger():
    """The powertools Logger; the ``titiler_eopf`` stdlib loggers log through it too."""
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    log = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
    copy_config_to_registered_loggers(source_logger=log, include={"titiler_eopf"})
    return log


@cache
def metrics():
    from aws_lambda_powertools import Metrics

    return Metrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE),
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    )


def publish_cache_metrics(before: dict, after: dict, render_ms: float | None) -> None:
    """Emit what changed during one invocation as one EMF record."""
    from aws_lambda_powertools.metrics import MetricUnit

    recorder = metrics()
    emitted = False
    for key, name in COUNTERS.items():
        delta = after.get(key, 0) - before.get(key, 0)
        if delta:
            recorder.add_metric(name=name, unit=MetricUnit.Count, value=delta)
            emitted = True
    served = after.get("bytes_served", 0) - before.get("bytes_served", 0)
    if served:
        recorder.add_metric(name="CacheBytesServed", unit=MetricUnit.Bytes, value=served)
    saved = after.get("render_ms_saved", 0) - before.get("render_ms_saved", 0)
    if saved:
        recorder.add_metric(name="RenderTimeSaved", unit=MetricUnit.Milliseconds, value=saved)
    if render_ms is not None:
        recorder.add_metric(name="RenderTime", unit=MetricUnit.Milliseconds, value=render_ms)
        emitted = True
    if emitted or served or saved:
        recorder.flush_metrics()
