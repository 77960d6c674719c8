from __future__ import annotations

import numpy
import pytest
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile

from eopf_sample import COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

RGB = [
    "/measurements/reflectance:b04",
    "/measurements/reflectance:b03",
    "/measurements/reflectance:b02",
]
LAYOUTS = [COLLECTION_NATIVE, COLLECTION_GEOZARR]


def item_path(collection: str) -> str:
    return f"/collections/{collection}/items/{ITEM_ID}"


def variables_query(variables=RGB) -> list[tuple[str, str]]:
    return [("variables", v) for v in variables]


def decode_image(content: bytes) -> numpy.ndarray:
    """(bands, rows, cols) of an encoded image, as GDAL reads it."""
    with MemoryFile(content) as memfile, memfile.open() as dataset:
        return dataset.read()


@pytest.fixture(scope="session")
def tiler_settings(sample_store) -> TilerSettings:
    return TilerSettings(store_url=str(sample_store))


@pytest.fixture(scope="session")
def client(tiler_settings) -> TestClient:
    return TestClient(create_tiler_app(tiler_settings))


@pytest.fixture(params=LAYOUTS)
def collection(request) -> str:
    return request.param
