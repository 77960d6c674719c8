"""Start-up validation: a wrong setting stops the app with the variable named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from titiler_eopf.main import SettingsError, load_settings


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"TITILER_EOPF_STORE_URL": "ftp://example.com/x"}, "TITILER_EOPF_STORE_URL"),
        ({"TITILER_EOPF_STORE_READ_TIMEOUT": "0"}, "TITILER_EOPF_STORE_READ_TIMEOUT"),
        ({"TITILER_EOPF_DATASET_CACHE_SIZE": "many"}, "TITILER_EOPF_DATASET_CACHE_SIZE"),
        ({"TITILER_EOPF_CACHE_BACKEND": "s3"}, "TITILER_EOPF_CACHE_S3_BUCKET"),
        ({"TITILER_EOPF_CACHE_BACKEND": "floppy"}, "TITILER_EOPF_CACHE_BACKEND"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch, env, variable):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert variable in str(error.value)


def test_server_refuses_to_start_with_bad_settings():
    result = subprocess.run(
        [sys.executable, "-m", "titiler_eopf", "--port", "1"],
        env={**os.environ, "TITILER_EOPF_STORE_URL": "ftp://nowhere"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "TITILER_EOPF_STORE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_bad_variable_of_every_section_is_named_at_once(monkeypatch):
    monkeypatch.setenv("TITILER_EOPF_STORE_READ_TIMEOUT", "0")
    monkeypatch.setenv("TITILER_EOPF_CACHE_BACKEND", "floppy")
    with pytest.raises(SettingsError) as error:
        load_settings()
    lines = str(error.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "TITILER_EOPF_STORE_READ_TIMEOUT",
        "TITILER_EOPF_CACHE_BACKEND",
    ]


def test_a_variable_that_is_not_json_is_named(monkeypatch):
    monkeypatch.setenv("TITILER_EOPF_CORS_ORIGINS", "not-json")
    with pytest.raises(SettingsError, match="TITILER_EOPF_CORS_ORIGINS: not valid JSON"):
        load_settings()


def test_sections_keep_the_documented_names(monkeypatch):
    """One model, one section per room; each variable keeps its README name, and the
    admin token is read by one section only."""
    from titiler_eopf.settings import Settings, sections
    from titiler_eopf.tiler.settings import TilerSettings

    monkeypatch.setenv("TITILER_EOPF_STORE_URL", "s3://bucket/products")
    monkeypatch.setenv("TITILER_EOPF_CACHE_NAMESPACE", "prod")
    monkeypatch.setenv("TITILER_EOPF_ADMIN_TOKEN", "adm")
    monkeypatch.setenv("TITILER_EOPF_PUBLIC_URL", "https://tiles.example.com/")
    settings = load_settings()
    assert settings.tiler.store_url == "s3://bucket/products"
    assert settings.cache.namespace == "prod"
    assert settings.admin_token.get_secret_value() == "adm"
    assert "admin_token" not in TilerSettings.model_fields
    # the seed action requests the public URL unless the stack names the API
    assert settings.seed_api_url == "https://tiles.example.com"
    monkeypatch.setenv("TITILER_EOPF_SEED_API_URL", "https://api.example.com/prod/")
    assert load_settings().seed_api_url == "https://api.example.com/prod"
    assert Settings() == load_settings()  # the sections' default factories read the same
    assert list(sections()) == ["tiler", "cache", "admin"]
