"""All settings of the app, the Lambdas and the CLI: one model, one section per room.

Each section is a ``BaseSettings`` with its own prefix, so every variable keeps the name the
README documents (``TITILER_EOPF_STORE_URL``, ``TITILER_EOPF_CACHE_BACKEND``,
``TITILER_EOPF_ADMIN_TOKEN``, ...). ``Settings()`` builds each section from the environment
(``default_factory``); tests pass sections explicitly. Entry points call
:func:`load_settings`, which reads every section and reports every bad variable at once.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as EnvParseError

from titiler_eopf.cache.settings import CacheSettings
from titiler_eopf.environment import SettingsError, describe_errors, format_problems
from titiler_eopf.tiler.settings import TilerSettings

__all__ = ["AdminSettings", "Settings", "SettingsError", "load_settings"]


class AdminSettings(BaseSettings):
    """The admin Lambda's own settings (the cache it operates is the cache section's)."""

    model_config = SettingsConfigDict(env_prefix="TITILER_EOPF_", extra="ignore")

    # Base URL of the tile API that the `seed` action requests (the stack sets it to the API
    # URL; a URL in the event is never used). Unset: `TITILER_EOPF_PUBLIC_URL`.
    seed_api_url: str | None = None
    # Behind a CDN (set by the stack): invalidations also invalidate the matching CloudFront
    # paths of this distribution.
    cdn_distribution_id: str | None = None
    # Wildcard paths of one CDN invalidation at most (CloudFront allows 15 in progress per
    # distribution): a tile range past it is invalidated by coarser paths (see admin/cdn.py).
    cdn_max_paths: int = Field(15, ge=1, le=3000)

    @field_validator("seed_api_url")
    @classmethod
    def _seed_api_url(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/")
        return value or None


class Settings(BaseModel):
    """Every section; ``Settings()`` reads them all from the environment."""

    model_config = ConfigDict(frozen=True)

    tiler: TilerSettings = Field(default_factory=TilerSettings, title="Tiler")
    cache: CacheSettings = Field(default_factory=CacheSettings, title="Tile cache")
    admin: AdminSettings = Field(default_factory=AdminSettings, title="Admin Lambda")

    @property
    def admin_token(self) -> SecretStr | None:
        """The admin token: a cache setting (the bypass header is the cache's)."""
        return self.cache.admin_token

    @property
    def seed_api_url(self) -> str | None:
        return self.admin.seed_api_url or self.tiler.public_url


def sections() -> dict[str, tuple[str, type[BaseSettings]]]:
    """``{name: (title, section class)}`` in the order of the model (the README's order)."""
    return {name: (info.title, info.annotation) for name, info in Settings.model_fields.items()}


def load_settings() -> Settings:
    """Every section from the environment; ``SettingsError`` names each bad variable."""
    built, problems = {}, []
    for name, (_, cls) in sections().items():
        try:
            built[name] = cls()
        except (ValidationError, EnvParseError) as exc:
            problems += describe_errors(exc, cls)
    if problems:
        raise SettingsError(format_problems("invalid configuration", problems))
    return Settings(**built)
