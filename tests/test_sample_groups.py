"""Every group of the real structures is in the samples, with the values eopf_sample predicts."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

import eopf_sample as es
from eopf_sample import groups

PRODUCTS = {
    "l2a-native": es.COLLECTION_NATIVE,
    "l2a-geozarr": es.COLLECTION_GEOZARR,
    "l1c-native": es.COLLECTION_L1C,
    "s1-grd": es.COLLECTION_S1,
}


def _arrays(node: dict, path: str = ""):
    for name, child in node.get("members", {}).items():
        child_path = f"{path}/{name}" if path else name
        if "shape" in child:
            yield child_path, child
        else:
            yield from _arrays(child, child_path)


@pytest.mark.parametrize("name", list(PRODUCTS))
def test_every_array_of_the_real_structure_is_written(sample_store, name):
    root = zarr.open_group(es.product_path(sample_store, PRODUCTS[name]), mode="r")
    real = list(_arrays(groups.load_full(name)))
    assert len(real) > 50
    for path, node in real:
        array = root[path]
        expected = groups._numpy_dtype(node)
        assert array.dtype == expected or np.dtype(array.dtype).kind in "UT", path
        assert array.ndim == len(node["shape"]), path
        assert list(array.shape) == [groups.sample_size(s, name == "s1-grd") for s in node["shape"]]


def _at_block(array: np.ndarray, row: int, col: int):
    """Value at the centre of block (row, col) of a (..., y, x) array spanning the sample."""
    height, width = array.shape[-2:]
    y = int((row + 0.5) * height / es.scene.GRID)
    x = int((col + 0.5) * width / es.scene.GRID)
    return array[..., y, x]


@pytest.mark.parametrize("collection", [es.COLLECTION_NATIVE, es.COLLECTION_GEOZARR])
def test_scene_classification_holds_every_class_code(sample_store, collection):
    root = zarr.open_group(es.product_path(sample_store, collection), mode="r")
    for level in ("r20m", "r60m"):
        scl = root[f"conditions/mask/l2a_classification/{level}/scl"][...]
        assert sorted(np.unique(scl)) == list(range(12))
        for row in range(5):
            for col in range(5):
                expected = es.expected_block_value(
                    "conditions/mask/l2a_classification/r20m", "scl", row, col
                )
                assert _at_block(scl, row, col) == (0 if expected is None else expected)


def test_quicklook_bands_and_masks(sample_store):
    root = zarr.open_group(es.product_path(sample_store, es.COLLECTION_NATIVE), mode="r")
    tci = root["quality/l2a_quicklook/r10m/tci"][...]
    assert tci.shape == (3, 1440, 1440) and tci.dtype == np.uint8
    assert list(_at_block(tci, 1, 2)) == [10 + 50 * b + 4 * 7 for b in range(3)]
    mask = root["quality/mask/r10m/b02"][...]
    assert (
        _at_block(mask, 0, 0) == 1
        and _at_block(mask, 0, 1) == 0
        and _at_block(mask, 1, 1) == 1 << 6
    )


def test_l1c_reflectance_on_its_own_grid(sample_store):
    path = es.product_path(sample_store, es.COLLECTION_L1C)
    ds = xr.open_zarr(path, group="measurements/reflectance/r60m", consolidated=True)
    assert float(ds.x[0]) == 300000.0 + 30 and float(ds.y[0]) == 5000040.0 - 30
    assert float(ds.b10[5, 5]) == pytest.approx(1100 * 1e-4 - 0.1)
    assert np.isnan(float(ds.b10[-1, -1]))  # nodata block


def test_geozarr_time_series(sample_store):
    path = es.product_path(sample_store, es.COLLECTION_GEOZARR)
    ds = xr.open_zarr(path, group="measurements/time_series", consolidated=True)
    assert ds.ndvi.dims == ("time", "y", "x")
    assert [str(t)[:10] for t in ds.time.values] == list(es.TIME_SERIES_DATES)
    values = ds.ndvi.values
    assert _at_block(values, 1, 2).tolist() == [es.time_series_value(t, 1, 2) for t in range(3)]
