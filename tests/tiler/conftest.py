from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.tiler import LAYOUTS
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings


@pytest.fixture(scope="session")
def tiler_settings(sample_store) -> TilerSettings:
    return TilerSettings(store_url=str(sample_store))


@pytest.fixture(scope="session")
def client(tiler_settings) -> TestClient:
    return TestClient(create_tiler_app(tiler_settings))


@pytest.fixture(params=LAYOUTS)
def collection(request) -> str:
    return request.param
