"""The configuration keys: how each is parsed, checked and documented (see config.py).

Values given as strings (``-c`` always gives strings) are parsed: integers, numbers,
booleans (``true/false/1/0/yes/no``), lists (a JSON list or a comma-separated string).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

ENV_PREFIX = "TITILER_EOPF_STACK_"


# HTTP API integrations time out after 30 s (a hard limit): the function must finish first.
HTTP_API_TIMEOUT_SECONDS = 30
LAMBDA_MAX_MEMORY = 10240
# CloudWatch Logs' retention choices, in the order of CDK's RetentionDays.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731)
LOG_RETENTION_DAYS += (1096, 1827, 2192, 2557, 2922, 3288, 3653)
ARCHITECTURES = ("x86_64", "arm64")
REMOVAL_POLICIES = ("destroy", "retain")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Stages that get production defaults: retained data, one NAT gateway per AZ.
PROD_STAGES = ("prod", "production")
# node: one shard (a primary + replicas); cluster: cluster mode enabled, several shards;
# serverless: ElastiCache Serverless (cluster mode, TLS, scales itself).
CACHE_MODES = ("node", "cluster", "serverless")
CACHE_ENGINES = ("valkey", "redis")
# Engine versions ElastiCache offers from 7 on (the cache's Lua scripts use EXPIRE ... GT/NX,
# Redis 7), each with its parameter-group family (CloudFormation's CacheParameterGroupFamily).
ENGINE_FAMILIES = {
    "valkey": {"7.2": "valkey7", "8.0": "valkey8", "8.1": "valkey8", "8.2": "valkey8"},
    "redis": {"7.0": "redis7", "7.1": "redis7"},
}
DEFAULT_ENGINE_VERSION = {"valkey": "8.1", "redis": "7.1"}


class ConfigError(ValueError):
    """A configuration value is missing or invalid."""


def key_help(key: str) -> str:
    return f"context key {key!r} (-c {key}=...) / env {ENV_PREFIX}{key.upper()}"


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
            "0..2 (0 only with an s3:// store and no CloudFront)",
            "NAT gateways (EOPF data is served over HTTPS from outside AWS); default one "
            f"per AZ (2) for the stages {', '.join(PROD_STAGES)}, else 1",
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
            "cache_mode",
            lambda v: _str(v).lower(),
            " | ".join(CACHE_MODES),
            "node: one shard (primary + cache_replicas); cluster: cluster mode, cache_shards "
            "shards; serverless: ElastiCache Serverless (usage limits below)",
            _choice(CACHE_MODES),
        ),
        KeySpec(
            "cache_engine",
            lambda v: _str(v).lower(),
            " | ".join(CACHE_ENGINES),
            "cache engine (Valkey: AWS's default, cheaper; Redis OSS)",
            _choice(CACHE_ENGINES),
        ),
        KeySpec(
            "cache_engine_version",
            _str,
            "; ".join(f"{e}: {', '.join(v)}" for e, v in ENGINE_FAMILIES.items()),
            "engine version (default: valkey "
            f"{DEFAULT_ENGINE_VERSION['valkey']}, redis {DEFAULT_ENGINE_VERSION['redis']}); "
            "serverless uses its major version",
            lambda v: None if re.fullmatch(r"\d+\.\d+", v) else "must look like 8.1",
        ),
        KeySpec(
            "cache_node_type",
            _str,
            "an ElastiCache node type, cache.*",
            "node type (modes node and cluster)",
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
            "read replicas per shard (modes node and cluster); >= 1 enables multi-AZ",
            _range(0, 5),
        ),
        KeySpec(
            "cache_shards",
            _int,
            "1..30",
            "shards (mode cluster)",
            _range(1, 30),
        ),
        KeySpec(
            "cache_max_storage_gb",
            _int,
            "1..5000 (GB)",
            "mode serverless: most data the cache may hold (a cost cap: beyond it, LRU eviction)",
            _range(1, 5000),
        ),
        KeySpec(
            "cache_max_ecpu_per_second",
            _int,
            "1000..15000000",
            "mode serverless: most ECPUs per second (a cost cap; one 256 KiB read is ~256 ECPUs)",
            _range(1000, 15_000_000),
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
            "snapstart",
            parse_bool,
            "true | false",
            "tile Lambda SnapStart (published version + alias behind the HTTP API)",
            None,
        ),
        KeySpec(
            "reserved_concurrency",
            _int,
            "1..10000",
            "tile Lambda reserved concurrency (default: unreserved, the account's pool)",
            _range(1, 10000),
            True,
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
