"""Stack configuration: typed, validated, read from CDK context and the environment.

Every key can be given as CDK context (``-c key=value`` on the command line, or in the
``context`` of ``cdk.json``) or as an environment variable ``TITILER_EOPF_STACK_<KEY>``
(upper case). Context wins over the environment, the environment over the defaults.
How each key is parsed and checked is in config_keys.py.

An invalid value raises :class:`ConfigError`, whose message names the key, the value,
and what is allowed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlparse

from .config_keys import (
    DEFAULT_ENGINE_VERSION,
    ENGINE_FAMILIES,
    ENV_PREFIX,
    KEYS,
    LOG_RETENTION_DAYS,
    PROD_STAGES,
    ConfigError,
    key_help,
    parse_bool,
)


@dataclass(frozen=True)
class StackConfig:
    """Everything the stack can be configured with (see ``KEYS`` for docs and allowed values)."""

    stage: str = "dev"
    stack_name: str = ""  # default "TitilerEopf-<stage>"
    account: str | None = None
    region: str | None = None
    # Lambda
    memory: int = 3008
    timeout: int = 28
    architecture: str = "x86_64"
    admin_memory: int = 1024
    admin_timeout: int = 300
    log_level: str = "INFO"
    log_retention_days: int = 30
    # Network
    nat_gateways: int = -1  # default: 2 (one per AZ) for prod stages, else 1
    # Data
    store_url: str = "https://objects.eodc.eu"
    store_region: str | None = None  # default: the stack's region
    # STAC API of the collection mosaics (unset: no mosaic routes); reached through the NAT
    stac_api_url: str | None = None
    # Cache
    cache_mode: str = "node"
    cache_engine: str = "valkey"
    cache_engine_version: str = ""  # default: DEFAULT_ENGINE_VERSION[cache_engine]
    cache_node_type: str = "cache.t4g.micro"
    cache_replicas: int = 0
    cache_shards: int = 2
    cache_max_storage_gb: int = 10
    cache_max_ecpu_per_second: int = 100_000
    cache_prefix: str = "cache/"
    tile_ttl: int = 86400
    metadata_ttl: int = 3600
    preview_ttl: int = 3600
    # API
    cors_origins: tuple[str, ...] = ("*",)
    throttle_rate: int = 100
    throttle_burst: int = 200
    cloudfront: bool = False
    # Tile Lambda start-up and scaling
    snapstart: bool = False
    reserved_concurrency: int | None = None
    # Lifecycle / operations
    removal_policy: str = ""  # default: retain for prod stages, destroy otherwise
    alarm_topic_arn: str | None = None

    # ------------------------------------------------------------------ derived values

    @property
    def is_prod(self) -> bool:
        return self.stage in PROD_STAGES

    @property
    def cache_clustered(self) -> bool:
        """Keys spread over shards: the app must use a cluster client."""
        return self.cache_mode in ("cluster", "serverless")

    @property
    def cache_parameter_family(self) -> str:
        return ENGINE_FAMILIES[self.cache_engine][self.cache_engine_version]

    @property
    def cache_major_version(self) -> str:
        return self.cache_engine_version.split(".")[0]

    @property
    def cache_burstable(self) -> bool:
        """t-class nodes run on CPU credits and a low baseline network bandwidth."""
        return self.cache_mode != "serverless" and bool(
            re.fullmatch(r"cache\.t\d+[a-z]*\..*", self.cache_node_type)
        )

    @property
    def cache_timeouts(self) -> tuple[float, float]:
        """(connect, read) seconds for the app's Redis client.

        A read carries up to 256 KiB (an inline tile body). A t-class node's baseline
        network (e.g. ~64 Mbit/s for t4g.micro) moves that in ~35 ms, several concurrent
        reads queue behind each other, and a node out of CPU credits runs at its baseline
        share: 0.5 s keeps a HIT far below a render (>= 1 s) without tripping the breaker.
        Larger nodes (>= 0.75 Gbit/s baseline) and serverless answer in milliseconds:
        0.25 s. The TLS handshake is paid once per cold start.
        """
        if self.cache_burstable:
            return 0.5, 0.5
        return (0.5 if self.cache_mode == "serverless" else 0.3), 0.25

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def tile_prefix(self) -> str:
        return f"{self.cache_prefix}tile/"

    @property
    def meta_prefix(self) -> str:
        return f"{self.cache_prefix}meta/"

    @property
    def tile_expiration_days(self) -> int:
        """S3 lifecycle expiration of tile bodies: the tile TTL rounded up to whole days."""
        return max(1, math.ceil(self.tile_ttl / 86400))

    @property
    def meta_expiration_days(self) -> int:
        return max(1, math.ceil(max(self.metadata_ttl, self.preview_ttl) / 86400))

    @property
    def store_is_s3(self) -> bool:
        return self.store_url.startswith("s3://")

    @property
    def store_bucket(self) -> str | None:
        return urlparse(self.store_url).netloc if self.store_is_s3 else None

    @property
    def store_key_prefix(self) -> str:
        """Key prefix of an ``s3://bucket/prefix`` store ('' for the whole bucket)."""
        path = urlparse(self.store_url).path.strip("/") if self.store_is_s3 else ""
        return f"{path}/" if path else ""

    @property
    def store_port(self) -> int:
        parsed = urlparse(self.store_url)
        if parsed.port:
            return parsed.port
        return 80 if parsed.scheme == "http" else 443

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        context: Mapping[str, Any] | Callable[[str], Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> StackConfig:
        """Read every key from ``context`` (a mapping or ``node.try_get_context``), then env."""
        environ = os.environ if environ is None else environ
        if context is None:
            get = lambda _key: None  # noqa: E731
        elif callable(context):
            get = context
        else:
            get = context.get
        raw: dict[str, Any] = {}
        for spec in KEYS.values():
            value = get(spec.name)
            if value is None:
                value = environ.get(f"{ENV_PREFIX}{spec.name.upper()}")
            if value is not None and value != "":
                raw[spec.name] = value
        return cls.from_values(raw)

    @classmethod
    def from_values(cls, raw: Mapping[str, Any]) -> StackConfig:
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ConfigError(f"unknown configuration key(s) {unknown}; known keys: {sorted(KEYS)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            spec = KEYS[name]
            try:
                values[name] = spec.parse(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"{key_help(name)}: invalid value {value!r}: {exc}; allowed: {spec.allowed}"
                ) from None
        stage = values.get("stage", cls.stage)
        values.setdefault("stack_name", f"TitilerEopf-{stage}")
        values.setdefault("removal_policy", "retain" if stage in PROD_STAGES else "destroy")
        values.setdefault("nat_gateways", 2 if stage in PROD_STAGES else 1)
        engine = values.get("cache_engine", cls.cache_engine)
        values.setdefault("cache_engine_version", DEFAULT_ENGINE_VERSION.get(engine, ""))
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for spec in KEYS.values():
            value = getattr(self, spec.name)
            if value is None and spec.optional:
                continue
            problem = spec.check(value) if spec.check else None
            if problem:
                raise ConfigError(
                    f"{key_help(spec.name)}: invalid value {value!r}: {problem}; "
                    f"allowed: {spec.allowed}"
                )
        # Cross-field rules
        if self.nat_gateways == 0 and not self.store_is_s3:
            raise ConfigError(
                f"{key_help('nat_gateways')}: 0 leaves the Lambdas without internet access, "
                f"but store_url {self.store_url!r} is served from outside AWS; allowed: 1 or 2, "
                "or 0 only with an s3:// store_url in the stack's region"
            )
        if self.nat_gateways == 0 and self.cloudfront:
            raise ConfigError(
                f"{key_help('nat_gateways')}: 0 with cloudfront=true: the admin Lambda "
                "invalidates the CDN through the CloudFront API, which has no VPC endpoint; "
                "allowed: 1 or 2 with cloudfront=true"
            )
        self._validate_engine_version()
        if self.throttle_burst < 1 or self.throttle_rate < 1:
            raise ConfigError("throttle_rate and throttle_burst must be >= 1")
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ConfigError(
                f"{key_help('cors_origins')}: '*' cannot be combined with explicit origins"
            )

    def _validate_engine_version(self) -> None:
        versions = ENGINE_FAMILIES[self.cache_engine]
        if self.cache_engine_version in versions:
            return
        why = ""
        if self.cache_major_version.isdigit() and int(self.cache_major_version) < 7:
            why = "the cache's Lua scripts need version 7 or newer (EXPIRE ... GT/NX); "
        raise ConfigError(
            f"{key_help('cache_engine_version')}: invalid value "
            f"{self.cache_engine_version!r} for cache_engine={self.cache_engine}: {why}"
            f"allowed for {self.cache_engine}: {', '.join(versions)}"
        )

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Defaults, as shown in the docs table.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(StackConfig) if f.name in KEYS}
DEFAULTS.update(
    {
        "stack_name": "TitilerEopf-<stage>",
        "removal_policy": "retain for prod, destroy otherwise",
        "nat_gateways": "2 for prod, 1 otherwise",
        "cache_engine_version": "valkey 8.1 / redis 7.1",
        "store_region": "the stack's region",
    }
)


def docs_table() -> str:
    """Markdown table of the keys (for the README)."""
    rows = ["| key | default | allowed | what |", "| --- | --- | --- | --- |"]
    for spec in KEYS.values():
        default = DEFAULTS.get(spec.name)
        if isinstance(default, tuple):
            default = json.dumps(list(default))
        shown = "-" if default is None else f"`{default}`"
        rows.append(f"| `{spec.name}` | {shown} | {spec.allowed} | {spec.doc} |")
    return "\n".join(rows)


__all__ = [
    "ConfigError",
    "StackConfig",
    "KEYS",
    "ENV_PREFIX",
    "LOG_RETENTION_DAYS",
    "docs_table",
    "parse_bool",
]
