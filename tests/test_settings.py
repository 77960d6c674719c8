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
