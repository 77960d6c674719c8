"""Stack configuration: typed, validated, read from CDK context and the environment.

Every key can be given as CDK context (``-c key=value`` on the command line, or in the
``context`` of ``cdk.json``) or as an environment variable ``TITILER_EOPF_STACK_<KEY>``
(upper case). Context wins over the environment, the environment over the defaults.
Values given as strings (``-c`` always gives strings) are parsed: integers, booleans
(``true/false/1/0/yes/no``), lists (a JSON list or a comma-separated string).

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

ENV_PREFIX = "TITILER_EOPF_STACK_"

# HTTP API integrations time out after 30 s (a hard limit): the function must finish first.
HTTP_API_TIMEOUT_SECONDS = 30
LAMBDA_MAX_MEMORY = 10240
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
ARCHITECTURES = ("x86_64", "arm64")
REMOVAL_POLICIES = ("destroy", "retain")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PROD_STAGES = ("prod", "production")


class ConfigError(ValueError):
    """A configuration value is missing or invalid."""


def _key_help(key: str) -> str:
    return f"context key {key!r} (-c {key}=...) / env {ENV_PREFIX}{key.upper()}"


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
    nat_gateways: int = 1
    # Data
    store_url: str = "https://objects.eodc.eu"
    store_region: str | None = None  # default: the stack's region
    # STAC API of the collection mosaics (unset: no mosaic routes); reached through the NAT
    stac_api_url: str | None = None
    # Cache
    cache_node_type: str = "cache.t4g.micro"
    cache_replicas: int = 0
    cache_engine_version: str = "7.1"
    cache_prefix: str = "cache/"
    tile_ttl: int = 86400
    metadata_ttl: int = 3600
    preview_ttl: int = 3600
    # API
    cors_origins: tuple[str, ...] = ("*",)
    throttle_rate: int = 100
    throttle_burst: int = 200
    cloudfront: bool = False
    # Lifecycle / operations
    removal_policy: str = ""  # default: retain for prod stages, destroy otherwise
    alarm_topic_arn: str | None = None

    # ------------------------------------------------------------------ derived values

    @property
    def is_prod(self) -> bool:
        return self.stage in PROD_STAGES

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
                    f"{_key_help(name)}: invalid value {value!r}: {exc}; allowed: {spec.allowed}"
                ) from None
        stage = values.get("stage", cls.stage)
        values.setdefault("stack_name", f"TitilerEopf-{stage}")
        values.setdefault("removal_policy", "retain" if stage in PROD_STAGES else "destroy")
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
                    f"{_key_help(spec.name)}: invalid value {value!r}: {problem}; "
                    f"allowed: {spec.allowed}"
                )
        # Cross-field rules
        if self.nat_gateways == 0 and not self.store_is_s3:
            raise ConfigError(
                f"{_key_help('nat_gateways')}: 0 leaves the Lambdas without internet access, "
                f"but store_url {self.store_url!r} is served from outside AWS; allowed: 1 or 2, "
                "or 0 only with an s3:// store_url in the stack's region"
            )
        if self.throttle_burst < 1 or self.throttle_rate < 1:
            raise ConfigError("throttle_rate and throttle_burst must be >= 1")
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise ConfigError(
                f"{_key_help('cors_origins')}: '*' cannot be combined with explicit origins"
            )

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------------- key specs


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError("expected an integer")
    return int(text)


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected a boolean")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value.strip()


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = [v for v in (p.strip() for p in text.split(",")) if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(v.strip() for v in value)


def _range(lo: int, hi: int, why: str = "") -> Callable[[int], str | None]:
    return lambda v: None if lo <= v <= hi else f"out of range{(' (' + why + ')') if why else ''}"


def _choice(options: tuple) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else "not one of the allowed values"


def _check_stage(v: str) -> str | None:
    return (
        None
        if re.fullmatch(r"[a-z][a-z0-9-]{0,19}", v)
        else "must be lower-case letters, digits and '-', start with a letter, <= 20 chars"
    )


def _check_stack_name(v: str) -> str | None:
    return (
        None
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", v)
        else "not a valid CloudFormation stack name"
    )


def _check_store_url(v: str) -> str | None:
    parsed = urlparse(v)
    if parsed.scheme not in ("s3", "https", "http"):
        return "the Lambdas read the store over the network: use s3://bucket[/prefix] or https://host[/prefix]"
    if not parsed.netloc:
        return "missing bucket or host"
    if parsed.scheme == "s3" and not re.fullmatch(
        r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", parsed.netloc
    ):
        return "not a valid S3 bucket name"
    return None


def _check_stac_api_url(v: str) -> str | None:
    parsed = urlparse(v)
    if (
        parsed.scheme not in ("https", "http")
        or not parsed.netloc
        or parsed.query
        or parsed.fragment
    ):
        return "must be the http(s) URL of a STAC API, e.g. https://stac.core.eopf.eodc.eu"
    return None


def _check_region(v: str) -> str | None:
    return None if re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", v) else "not an AWS region name"


def _check_prefix(v: str) -> str | None:
    return (
        None
        if re.fullmatch(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/", v)
        else "must be a key prefix ending in '/', e.g. cache/"
    )


def _check_origins(v: tuple[str, ...]) -> str | None:
    if not v:
        return "at least one origin"
    for origin in v:
        if origin == "*":
            continue
        parsed = urlparse(origin)
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or parsed.path not in ("", "/")
        ):
            return f"{origin!r} is not an origin like https://example.com"
    return None


def _check_ttl(v: int) -> str | None:
    return None if 60 <= v <= 365 * 86400 else "out of range"


def _check_topic(v: str) -> str | None:
    return (
        None
        if re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+", v)
        else "not an SNS topic ARN"
    )


@dataclass(frozen=True)
class KeySpec:
    name: str
    parse: Callable[[Any], Any]
    allowed: str
    doc: str
    check: Callable[[Any], str | None] | None = None
    optional: bool = False


KEYS: dict[str, KeySpec] = {
    s.name: s
    for s in [
        KeySpec(
            "stage",
            _str,
            "lower-case letters, digits, '-' (<= 20 chars)",
            "stage name: names the stack, the cache namespace and the resources",
            _check_stage,
        ),
        KeySpec(
            "stack_name",
            _str,
            "a CloudFormation stack name",
            "default TitilerEopf-<stage>",
            _check_stack_name,
        ),
        KeySpec(
            "account",
            _str,
            "12-digit account id",
            "pin the stack to an account (default: environment-agnostic)",
            lambda v: None if re.fullmatch(r"\d{12}", v) else "not an account id",
            True,
        ),
        KeySpec(
            "region",
            _str,
            "an AWS region",
            "pin the stack to a region (default: environment-agnostic, the CLI's region)",
            _check_region,
            True,
        ),
        KeySpec(
            "memory",
            _int,
            f"128..{LAMBDA_MAX_MEMORY} (MB)",
            "tile Lambda memory",
            _range(128, LAMBDA_MAX_MEMORY),
        ),
        KeySpec(
            "timeout",
            _int,
            f"1..{HTTP_API_TIMEOUT_SECONDS - 1} (s)",
            "tile Lambda timeout; must stay under the HTTP API's 30 s integration limit",
            _range(1, HTTP_API_TIMEOUT_SECONDS - 1, "the HTTP API gives up after 30 s"),
        ),
        KeySpec(
            "architecture",
            _str,
            " | ".join(ARCHITECTURES),
            "Lambda architecture (the bundle is built for it)",
            _choice(ARCHITECTURES),
        ),
        KeySpec(
            "admin_memory",
            _int,
            f"128..{LAMBDA_MAX_MEMORY} (MB)",
            "admin Lambda memory",
            _range(128, LAMBDA_MAX_MEMORY),
        ),
        KeySpec(
            "admin_timeout",
            _int,
            "1..900 (s)",
            "admin Lambda timeout (invoked directly, not through the API)",
            _range(1, 900),
        ),
        KeySpec(
            "log_level",
            lambda v: _str(v).upper(),
            " | ".join(LOG_LEVELS),
            "POWERTOOLS_LOG_LEVEL of both functions",
            _choice(LOG_LEVELS),
        ),
        KeySpec(
            "log_retention_days",
            _int,
            ", ".join(map(str, LOG_RETENTION_DAYS)),
            "CloudWatch Logs retention",
            _choice(LOG_RETENTION_DAYS),
        ),
        KeySpec(
            "nat_gateways",
            _int,
            "0..2 (0 only with an s3:// store)",
            "NAT gateways (EOPF data is served over HTTPS from outside AWS)",
            _range(0, 2),
        ),
        KeySpec(
            "store_url",
            _str,
            "s3://bucket[/prefix] or http(s)://host[/prefix]",
            "root of the EOPF product store",
            _check_store_url,
        ),
        KeySpec(
            "store_region",
            _str,
            "an AWS region",
            "region of an s3:// store (default: the stack's region)",
            _check_region,
            True,
        ),
        KeySpec(
            "stac_api_url",
            _str,
            "an http(s) URL",
            "STAC API of the collection mosaics (default: no mosaic routes)",
            _check_stac_api_url,
            True,
        ),
        KeySpec(
            "cache_node_type",
            _str,
            "an ElastiCache node type, cache.*",
            "Redis node type",
            lambda v: (
                None
                if re.fullmatch(r"cache\.[a-z0-9]+\.[a-z0-9]+", v)
                else "must look like cache.t4g.micro"
            ),
        ),
        KeySpec(
            "cache_replicas",
            _int,
            "0..5",
            "Redis read replicas; >= 1 enables automatic failover and multi-AZ",
            _range(0, 5),
        ),
        KeySpec(
            "cache_engine_version",
            _str,
            "a Redis engine version, e.g. 7.1",
            "ElastiCache Redis engine version",
            lambda v: None if re.fullmatch(r"\d+(\.\d+)?", v) else "must look like 7.1",
        ),
        KeySpec(
            "cache_prefix",
            _str,
            "a key prefix ending in '/'",
            "S3 prefix of the cache (tile bodies under <prefix>tile/, others under <prefix>meta/)",
            _check_prefix,
        ),
        KeySpec(
            "tile_ttl",
            _int,
            "60..31536000 (s)",
            "tile TTL; the S3 lifecycle expires <prefix>tile/ after ceil(ttl/86400) days",
            _check_ttl,
        ),
        KeySpec(
            "metadata_ttl", _int, "60..31536000 (s)", "metadata (info, bounds, ...) TTL", _check_ttl
        ),
        KeySpec("preview_ttl", _int, "60..31536000 (s)", "preview/part TTL", _check_ttl),
        KeySpec(
            "cors_origins",
            _list,
            "'*' or a list of origins (JSON list or comma-separated)",
            "CORS allowed origins (API and app)",
            _check_origins,
        ),
        KeySpec(
            "throttle_rate",
            _int,
            "1..10000 (requests/s)",
            "HTTP API stage steady-state rate limit",
            _range(1, 10000),
        ),
        KeySpec(
            "throttle_burst",
            _int,
            "1..5000 (requests)",
            "HTTP API stage burst limit",
            _range(1, 5000),
        ),
        KeySpec(
            "cloudfront",
            parse_bool,
            "true | false",
            "put a CloudFront distribution in front of the API",
            None,
        ),
        KeySpec(
            "removal_policy",
            lambda v: _str(v).lower(),
            " | ".join(REMOVAL_POLICIES),
            "what happens to the bucket and logs when the stack is deleted "
            "(default retain for prod, destroy otherwise)",
            _choice(REMOVAL_POLICIES),
        ),
        KeySpec(
            "alarm_topic_arn",
            _str,
            "an SNS topic ARN",
            "alarm notifications (default: alarms without actions)",
            _check_topic,
            True,
        ),
    ]
}

# Defaults, as shown in the docs table.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(StackConfig) if f.name in KEYS}
DEFAULTS.update(
    {
        "stack_name": "TitilerEopf-<stage>",
        "removal_policy": "retain for prod, destroy otherwise",
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


__all__ = ["ConfigError", "StackConfig", "KEYS", "ENV_PREFIX", "docs_table"]
