"""Requests and decoding the tiler tests share."""

from __future__ import annotations

import numpy
from rasterio.io import MemoryFile

from eopf_sample import COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID

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
