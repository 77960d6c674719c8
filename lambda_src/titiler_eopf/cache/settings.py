"""Cache settings (``TITILER_EOPF_CACHE_*``), validated when the cache is built.

Every wrong combination fails at start with a message that names the
environment variable to fix, so a bad deployment never starts half-cached.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from titiler_eopf.environment import SettingsError, read_settings

P = "TITILER_EOPF_CACHE_"

# Route kinds grouped by TTL / Cache-Control class.
TTL_CLASS = {
    "tile": "tile",
    "tilejson": "metadata",
    "renders": "metadata",
    "info": "metadata",
    "statistics": "metadata",
    "preview": "preview",
    "bbox": "preview",
    # collection mosaics: new acquisitions arrive, so a short TTL of their own
    "mosaic_tile": "mosaic",
    "mosaic_tilejson": "mosaic",
    "mosaic_info": "mosaic",
}


class CacheSettings(BaseSettings):
    """Where the cache lives and how long entries stay valid."""

    model_config = SettingsConfigDict(env_prefix=P, extra="ignore", populate_by_name=True)

    # memory: embedded LRU (local runs); redis; s3; s3_redis (production: index in
    # Redis, bodies in S3); none/disabled: pass through.
    backend: Literal["memory", "redis", "s3", "s3_redis", "none", "disabled"] = "memory"
    namespace: str = "titiler-eopf"

    # TTLs in seconds. ``default_ttl`` is what metadata/preview fall back to when
    # their own TTL is unset (name kept for existing deployments); tiles always
    # get ``tile_ttl`` (the public cache gave every entry the default: defect 6).
    default_ttl: int = Field(3600, ge=1)
    tile_ttl: int = Field(86400, ge=1)
    metadata_ttl: int | None = Field(None, ge=1)  # tilejson, info, statistics
    preview_ttl: int | None = Field(None, ge=1)  # preview, bbox
    empty_ttl: int = Field(60, ge=0)  # 204/404 tiles; 0 = never cache them
    mosaic_ttl: int = Field(600, ge=1)  # collection mosaics (tiles, tilejson, info)
    # An expired entry is kept this long and served (X-Cache: STALE) only when a
    # fresh render fails with a 5xx. 0 disables it.
    stale_if_error: int = Field(0, ge=0)

    # Cache-Control of cached responses. Unset (the default): ``s-maxage`` = the entry's TTL
    # for a CDN, ``max-age`` for browsers, who revalidate with the ETag (see cache/policy.py).
    # Set: sent as it is; empty: none sent.
    cache_control_tile: str | None = None
    cache_control_metadata: str | None = None
    cache_control_preview: str | None = None
    cache_control_empty: str | None = None
    cache_control_mosaic: str | None = None
    # Browsers keep images (tiles, previews) this long before revalidating; documents
    # (TileJSON, info, statistics) are revalidated on every use.
    browser_max_age: int = Field(60, ge=0)

    # Redis
    redis_host: str | None = None
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_db: int = Field(0, ge=0)
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_password_secret_arn: str | None = None  # ElastiCache AUTH token in Secrets Manager
    redis_tls: bool = False
    # A Redis Cluster (ElastiCache cluster mode, ElastiCache Serverless): host/port is
    # any seed node (or the configuration endpoint); keys are hash-tagged per item.
    redis_cluster: bool = False
    # Lookups on the event loop (redis.asyncio, one pool per loop): a HIT without a
    # worker-thread hop. Off: every Redis call runs in a worker thread.
    redis_async: bool = True
    redis_connect_timeout: float = Field(0.05, gt=0, le=10)
    redis_read_timeout: float = Field(0.05, gt=0, le=10)

    # S3
    s3_bucket: str | None = None
    s3_prefix: str = "cache/"
    s3_region: str = "us-east-1"
    s3_endpoint_url: str | None = None
    s3_aws_access_key_id: str | None = None
    s3_aws_secret_access_key: SecretStr | None = None
    s3_connect_timeout: float = Field(0.3, gt=0, le=30)
    s3_read_timeout: float = Field(0.5, gt=0, le=60)
    # S3-only backend: generations are re-read at most this often per process
    # (S3 has no cheap atomic counter read on every request).
    s3_generation_refresh: float = Field(1.0, ge=0, le=60)
    # s3_redis: bodies up to this size are also kept inline in Redis (a HIT on a
    # hot tile is one Redis round trip, no S3 GET); 0 keeps every body in S3 only.
    redis_body_max_bytes: int = Field(256 * 1024, ge=0, le=64 * 1024 * 1024)
    # s3_redis: on a Redis miss, look for the durable copy in S3 and re-warm Redis
    # from it (one S3 GET per miss; off = a Redis miss is a render).
    s3_rewarm: bool = True

    # Circuit breaker, one per backend client (Redis, S3).
    breaker_failures: int = Field(3, ge=1, le=1000)
    breaker_reset: float = Field(5.0, gt=0, le=3600)  # seconds open before a probe

    # Stampede lock. The holder renews it every ``lock_ttl / 3`` while it
    # renders, so a lock outlives its holder (a crash, a failed release, a
    # timed-out SET that Redis applied) by at most ``lock_ttl``: waiters take
    # over within about one render time instead of waiting for ``lock_wait``.
    lock_ttl: float = Field(3.0, ge=0.3, le=900)
    lock_wait: float = Field(10.0, ge=0, le=900)
    lock_poll: float = Field(0.05, gt=0, le=5)

    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1)
    memory_max_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    # NoDecode: accept "a,b" as well as a JSON list (see the validator).
    excluded_params: Annotated[list[str], NoDecode] = ["access_token", "token", "_"]

    # Off (the default, like CDNs and nginx): a client ``Cache-Control: no-cache``
    # (a browser's hard reload) is served from the cache; only the admin bypass
    # header re-renders. On: any client may re-render and rewrite an entry (for
    # private deployments only).
    honor_no_cache: bool = False
    # Admin bypass header: re-render and refresh when its value is the admin token.
    bypass_header: str = "x-cache-bypass"
    # The admin token (read here, and only here): enables the `/admin/cache/*` routes (bearer
    # token) and the bypass header. The app passes it to the admin routes explicitly.
    admin_token: SecretStr | None = Field(None, validation_alias="TITILER_EOPF_ADMIN_TOKEN")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c in value for c in "/*?[]{} \t:"):
            raise ValueError(
                f"{P}NAMESPACE must be non-empty without '/', ':', spaces or glob characters"
            )
        return value

    @field_validator("s3_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip().lstrip("/")
        if value and not value.endswith("/"):
            value += "/"
        return value

    @field_validator("excluded_params", mode="before")
    @classmethod
    def _excluded(cls, value):
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _combination(self) -> CacheSettings:
        b = self.backend
        if b in ("s3", "s3_redis") and not self.s3_bucket:
            raise ValueError(f"{P}S3_BUCKET is required when {P}BACKEND={b}")
        if b in ("redis", "s3_redis") and not self.redis_host:
            raise ValueError(f"{P}REDIS_HOST is required when {P}BACKEND={b}")
        if (self.redis_password or self.redis_password_secret_arn) and not self.redis_tls:
            raise ValueError(
                f"{P}REDIS_PASSWORD (or {P}REDIS_PASSWORD_SECRET_ARN) requires {P}REDIS_TLS=true:"
                " an AUTH token must not travel in clear"
            )
        if self.redis_cluster and self.redis_db:
            raise ValueError(
                f"{P}REDIS_DB must be 0 with {P}REDIS_CLUSTER=true (a cluster has one database)"
            )
        if self.redis_password and self.redis_password_secret_arn:
            raise ValueError(f"set only one of {P}REDIS_PASSWORD and {P}REDIS_PASSWORD_SECRET_ARN")
        if bool(self.s3_aws_access_key_id) != bool(self.s3_aws_secret_access_key):
            raise ValueError(
                f"{P}S3_AWS_ACCESS_KEY_ID and {P}S3_AWS_SECRET_ACCESS_KEY must be set together"
            )
        if self.lock_poll * 2 > self.lock_ttl:
            raise ValueError(f"{P}LOCK_POLL must be at most half of {P}LOCK_TTL")
        return self

    @property
    def enabled(self) -> bool:
        return self.backend not in ("none", "disabled")

    def ttl_for(self, kind: str) -> int:
        cls = TTL_CLASS[kind]
        if cls == "tile":
            return self.tile_ttl
        if cls == "metadata":
            return self.metadata_ttl or self.default_ttl
        if cls == "mosaic":
            return self.mosaic_ttl
        return self.preview_ttl or self.default_ttl

    def cache_control_for(self, kind: str, empty: bool = False) -> str | None:
        """The configured Cache-Control of a route kind, None when derived (policy.py)."""
        if empty:
            return self.cache_control_empty
        return getattr(self, f"cache_control_{TTL_CLASS[kind]}")

    def public_summary(self) -> dict:
        """What ``/cache/status`` may show: no hosts, buckets or secrets."""
        return {
            "backend": self.backend,
            "namespace": self.namespace,
            "ttl": {k: self.ttl_for(k) for k in TTL_CLASS} | {"empty": self.empty_ttl},
        }


class CacheConfigError(SettingsError):
    """Invalid cache configuration; the message names the environment variables."""


def load_settings(**overrides) -> CacheSettings:
    """``CacheSettings()`` from the environment, with errors that name the variables."""
    return read_settings(
        CacheSettings, error=CacheConfigError, title="invalid cache configuration", **overrides
    )
