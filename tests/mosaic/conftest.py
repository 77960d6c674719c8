from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings


@pytest.fixture(scope="session")
def mosaic_settings(sample_store, stac_api) -> TilerSettings:
    return TilerSettings(store_url=str(sample_store), stac_api_url=stac_api.url, stac_api_timeout=3)


@pytest.fixture(scope="session")
def mosaic_client(mosaic_settings) -> TestClient:
    return TestClient(create_tiler_app(mosaic_settings))
