"""Settings read from environment variables: their names, and one formatter of their errors.

Operators set environment variables, pydantic reports fields: every settings error the app,
the Lambdas and the CLI print goes through :func:`describe_errors`, which names the variable
to fix. A leaf module (pydantic only), so that each settings section (tiler, cache, admin) and
the root model can use it without importing one another.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsError as EnvParseError

# pydantic-settings' message when a variable is not valid JSON for a complex field.
_PARSE_FIELD = re.compile(r'field "(\w+)"')


class SettingsError(ValueError):
    """Invalid configuration; the message names each bad environment variable."""


def env_name(cls: type[BaseModel], field: str) -> str:
    """The environment variable of a settings field: its alias, else prefix + name."""
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def describe_errors(exc: Exception, cls: type[BaseModel]) -> list[str]:
    """One line per problem, ``VARIABLE: what is wrong`` (a whole-model check names its
    variables in its own message)."""
    if isinstance(exc, EnvParseError):
        match = _PARSE_FIELD.search(str(exc))
        name = env_name(cls, match.group(1)) if match else cls.__name__
        return [f"{name}: not valid JSON ({exc})"]
    if not isinstance(exc, ValidationError):
        return [str(exc)]
    lines = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
        message = error.get("msg", "").removeprefix("Value error, ")
        lines.append(f"{env_name(cls, loc[0])}: {message}" if loc else message)
    return lines


def format_problems(title: str, lines: list[str]) -> str:
    return f"{title}:\n  " + "\n  ".join(lines)


def read_settings[S: BaseSettings](
    cls: type[S], *, error: type[SettingsError] = SettingsError, title: str, **overrides
) -> S:
    """``cls(**overrides)`` (the environment fills the rest), or ``error`` naming the variables."""
    try:
        return cls(**overrides)
    except (ValidationError, EnvParseError) as exc:
        raise error(format_problems(title, describe_errors(exc, cls))) from None
