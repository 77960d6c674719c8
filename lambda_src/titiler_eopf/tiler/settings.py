"""Tiler settings (``TITILER_EOPF_*``), validated when the app is created.

Nothing here is read at import time: ``create_app(settings)`` takes explicit settings
(tests build them directly); only entry points (``make run``, the Lambda handlers, the
CLI) read the environment, through :func:`titiler_eopf.settings.load_settings`, which
builds this section beside the others. The admin token is the cache section's.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from titiler_eopf.tiler.limits import LimitSettings


class TilerSettings(LimitSettings):
    """Where the products live, how the tiler reads them, and what one request may ask for
    (the limits: see :mod:`titiler_eopf.tiler.limits`)."""

    model_config = SettingsConfigDict(env_prefix="TITILER_EOPF_", extra="ignore")

    # Root of the product store: a local directory, ``s3://bucket/prefix`` or
    # ``https://host/prefix``. An item is ``{store_url}/{collection}/{item}.zarr``.
    store_url: str = "data"
    # S3 options for ``s3://`` stores. The region is explicit on purpose:
    # without it obstore looks the region up over HTTPS (slow, fails offline).
    store_region: str = "us-east-1"
    store_endpoint_url: str | None = None  # S3-compatible stores, moto in tests
    store_allow_http: bool = False
    store_anonymous: bool = False  # public buckets: skip request signing

    # Reads never hang: every request to the store is bounded.
    store_connect_timeout: float = Field(5.0, gt=0, le=60)
    store_read_timeout: float = Field(20.0, gt=0, le=300)

    # Opened products kept in-process (LRU), so a request does not re-read metadata.
    dataset_cache_size: int = Field(32, ge=0, le=1024)

    # Read budget of one request, decided from metadata before reading (400 when over, naming
    # the smallest zoom that fits). Defaults fit the 3 GB tile Lambda: an L1C true-colour tile
    # at z7 (3 x 10980 x 10980 pixels, no coarser level) reads chunk by chunk within them.
    read_max_pixels: int = Field(500_000_000, gt=0)  # pixels decoded
    read_max_bytes: int = Field(2**30, gt=0)  # bytes fetched (upper bound: decoded chunk size)
    # Decoded chunks kept in-process so that neighbouring tiles reuse them (0 disables): 768 MiB
    # holds the 12 native 5490 x 5490 chunks of a true-colour tile at a chunk corner.
    chunk_cache_bytes: int = Field(768 * 2**20, ge=0)
    # Inner chunks of a shard closer than this are fetched in one request (zarr: 1 MiB).
    shard_coalesce_gap_bytes: int = Field(64 * 1024, ge=0)

    # A product rewritten in place under the same item id is noticed within this
    # many seconds (its root metadata is checked at most that often per process;
    # 0 checks on every request): cached entries and the opened product are
    # then replaced.
    source_revalidate_seconds: float = Field(30.0, ge=0, le=86400)

    # The public base URL clients use (``https://tiles.example.com`` or the API
    # URL, with its path prefix if any). Set, it is the base of every absolute
    # URL the app builds (TileJSON ``tiles``) whatever Host the request has.
    # Unset, URLs are built from the request and responses that embed them are
    # cached per base URL.
    public_url: str | None = None
    # Proxies whose X-Forwarded-Proto/-For headers are believed (``make run``'s
    # uvicorn). Empty: none, not even loopback.
    trusted_proxies: list[str] = []
    # Host headers accepted (400 for others); ["*"] accepts any.
    allowed_hosts: list[str] = ["*"]

    # Collection mosaics (``/collections/{id}/tiles/...``): served only with a STAC API.
    stac_api_url: str | None = None
    # One STAC API request (connect + read) never takes longer: a dead API is a quick 504.
    stac_api_timeout: float = Field(5.0, gt=0, le=25)
    # Items drawn into one mosaic tile at most (each read under the read budget above).
    mosaic_max_items: int = Field(10, ge=1, le=100)
    # Items asked per search (a search covers a block of tiles, see tiler/stac.py).
    mosaic_search_limit: int = Field(100, ge=1, le=1000)
    # A tile searches the footprint of its ancestor this many zooms up (0: its own).
    mosaic_search_zoom_up: int = Field(2, ge=0, le=6)
    # Search results kept in-process (per collection, footprint, parameters).
    mosaic_search_cache_seconds: float = Field(60.0, ge=0, le=3600)
    mosaic_search_cache_size: int = Field(1024, ge=0, le=100_000)
    # TileJSON zoom range of a mosaic (low zooms touch many items).
    mosaic_minzoom: int = Field(8, ge=0, le=24)
    mosaic_maxzoom: int = Field(18, ge=0, le=24)

    # Behind a CDN: the Secrets Manager secret whose value the CDN sends as X-Origin-Verify;
    # requests without it are refused with a 403 (see titiler_eopf.origin).
    origin_verify_secret_arn: str | None = None
    # A header that differs makes the secret be read again, at most this often (a rotated
    # secret works without a redeploy); an unreadable secret is retried as often (503 meanwhile).
    origin_verify_refresh_seconds: float = Field(60.0, ge=1, le=3600)

    cors_origins: list[str] = ["*"]
    # Base path the app is served under (API Gateway custom domain mapping);
    # named HTTP API stages are detected from the event without it.
    root_path: str = ""
    # Log level of the ``titiler_eopf`` loggers.
    log_level: str = "INFO"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                "TITILER_EOPF_PUBLIC_URL must be an absolute http(s) URL without query or fragment,"
                " e.g. https://tiles.example.com or"
                f" https://abc.execute-api.eu-west-1.amazonaws.com; got {value!r}"
            )
        return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"

    @field_validator("stac_api_url")
    @classmethod
    def _stac_api_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                "TITILER_EOPF_STAC_API_URL must be the http(s) URL of a STAC API"
                " (its landing page),"
                f" e.g. https://stac.core.eopf.eodc.eu; got {value!r}"
            )
        return value.strip().rstrip("/")

    @field_validator("store_url")
    @classmethod
    def _store_url_scheme(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("TITILER_EOPF_STORE_URL must not be empty")
        if "://" in value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in {"s3", "http", "https", "file"}:
                raise ValueError(
                    f"TITILER_EOPF_STORE_URL has unsupported scheme {scheme!r}; "
                    "use a local directory, file://, s3://bucket/prefix or https://host/prefix"
                )
        return value.rstrip("/") or "/"
