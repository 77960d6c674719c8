"""Tests of the sample-data generator (eopf_sample): real files in tmp_path, no mocks."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

import eopf_sample as es
from eopf_sample import writer

REPO = Path(__file__).resolve().parents[1]
DUMPS = Path("/work/shared/eopf-structures")
NATIVE_DUMP = DUMPS / "s2_examples" / f"{es.ITEM_ID}.json"
GEOZARR_DUMP = DUMPS / "optimized_geozarr_examples" / f"{es.ITEM_ID}.json"

LEVEL_NAMES = ["r10m", "r20m", "r60m", "r120m", "r360m", "r720m"]
ALL12 = ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b08", "b09", "b11", "b12", "b8a"]
SAMPLE_BOUNDS = (699960.0, 4685640.0, 714360.0, 4700040.0)


def inside(row: int, col: int, dx: float = 1000.0, dy: float = 1000.0) -> tuple[float, float]:
    """A UTM point inside block (row, col), dx/dy metres from its north-west corner."""
    return 699960.0 + col * 2880.0 + dx, 4700040.0 - row * 2880.0 - dy


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("samples")
    lines: list[str] = []
    paths = es.write_samples(out, log=lines.append)
    assert [p.exists() for p in paths] == [True] * len(es.writer.WRITERS)
    assert all(line.startswith("wrote ") for line in lines)
    return {"out": out, "native": paths[0], "geozarr": paths[1]}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------------------------
# Public API (pure functions)


def test_constants():
    assert es.COLLECTION_NATIVE == "sentinel-2-l2a"
    assert es.COLLECTION_GEOZARR == "sentinel-2-l2a-geozarr"
    assert es.ITEM_ID == "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
    assert es.EPSG == 32632
    assert tuple(es.BOUNDS) == SAMPLE_BOUNDS
    assert es.LEVELS == {
        "r10m": (10, (1440, 1440)),
        "r20m": (20, (720, 720)),
        "r60m": (60, (240, 240)),
        "r120m": (120, (120, 120)),
        "r360m": (360, (40, 40)),
        "r720m": (720, (20, 20)),
    }
    for res, (h, w) in es.LEVELS.values():
        assert h * res == w * res == 14400
    assert es.NATIVE_BANDS == {
        "r10m": ["b02", "b03", "b04", "b08"],
        "r20m": ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b11", "b12", "b8a"],
        "r60m": ["b01", "b02", "b03", "b04", "b05", "b06", "b07", "b09", "b11", "b12", "b8a"],
    }
    assert es.GEOZARR_BANDS["r10m"] == ["b02", "b03", "b04", "b08"]
    assert es.GEOZARR_BANDS["r20m"] == [
        "b01",
        "b02",
        "b03",
        "b04",
        "b05",
        "b06",
        "b07",
        "b08",
        "b11",
        "b12",
        "b8a",
    ]
    for level in ["r60m", "r120m", "r360m", "r720m"]:
        assert es.GEOZARR_BANDS[level] == ALL12
    assert sorted(es.BAND_BASE) == sorted(ALL12)
    assert es.BAND_BASE["b04"] == 2000 and es.BAND_BASE["b08"] == 5000


def test_block_of_and_expected_values():
    assert es.block_of(699960.0, 4700040.0) == (0, 0)  # north-west corner is inside
    assert es.block_of(699960.0 + 2879.9, 4700040.0 - 2879.9) == (0, 0)
    assert es.block_of(699960.0 + 2880.0, 4700040.0) == (0, 1)
    assert es.block_of(*inside(1, 2)) == (1, 2)
    assert es.block_of(714359.9, 4685640.1) == (4, 4)
    # outside: east / south edges are exclusive, anything beyond the extent
    assert es.block_of(714360.0, 4690000.0) is None
    assert es.block_of(705000.0, 4685640.0) is None
    assert es.block_of(699959.9, 4690000.0) is None
    assert es.block_of(705000.0, 4700040.1) is None
    assert es.block_of(math.nan, 4690000.0) is None

    x, y = inside(1, 2)
    assert es.expected_dn("b04", x, y) == 2000 + 200 * 7
    assert es.expected_reflectance("b04", x, y) == pytest.approx(3400 * 0.0001 - 0.1)
    assert es.expected_dn("b08", *inside(3, 4)) == 5000 + 200 * 19
    assert es.expected_dn("b01", *inside(0, 0)) == 1000
    assert es.expected_dn("b04", *inside(4, 4)) is None  # nodata block
    assert es.expected_reflectance("b04", *inside(4, 4)) is None
    assert es.expected_dn("b04", 800000.0, 4690000.0) is None  # outside
    with pytest.raises(KeyError):
        es.expected_dn("b10", x, y)


# ----------------------------------------------------------------------------------------------
# Native layout (zarr v2)


def test_native_layout_and_metadata(products):
    path = products["native"]
    assert path == products["out"] / "sentinel-2-l2a" / f"{es.ITEM_ID}.zarr"
    assert read_json(path / ".zgroup") == {"zarr_format": 2}
    consolidated = read_json(path / ".zmetadata")
    assert consolidated["zarr_consolidated_format"] == 1
    meta = consolidated["metadata"]

    root = zarr.open_group(path, mode="r")
    assert root.metadata.zarr_format == 2
    assert sorted(root.group_keys()) == ["conditions", "measurements", "quality"]
    refl = root["measurements/reflectance"]
    assert sorted(refl.group_keys()) == ["r10m", "r20m", "r60m"]

    root_attrs = dict(root.attrs)
    assert set(root_attrs) == {"other_metadata", "stac_discovery"}
    stac = root_attrs["stac_discovery"]
    assert stac["id"] == f"{es.ITEM_ID}.SAFE"  # the real product's id keeps the .SAFE suffix
    assert stac["properties"]["proj:epsg"] == 32632
    assert stac["properties"]["proj:bbox"] == list(SAMPLE_BOUNDS)
    lon0, lat0, lon1, lat1 = stac["bbox"]
    assert 11.4 < lon0 < lon1 < 11.7 and 42.2 < lat0 < lat1 < 42.5
    assert root_attrs["other_metadata"]["horizontal_CRS_code"] == "EPSG:32632"

    for level, bands in es.NATIVE_BANDS.items():
        res, shape = es.LEVELS[level]
        group = refl[level]
        assert sorted(group.array_keys()) == sorted(bands + ["x", "y"])
        for band in bands:
            key = f"measurements/reflectance/{level}/{band}"
            zarray = read_json(path / key / ".zarray")
            assert zarray == meta[f"{key}/.zarray"]
            assert zarray["shape"] == list(shape)
            assert zarray["chunks"] == ([720, 720] if level == "r10m" else list(shape))
            assert zarray["dtype"] == "<u2"
            assert zarray["fill_value"] == 0
            assert zarray["compressor"] == {
                "id": "blosc",
                "cname": "zstd",
                "clevel": 3,
                "shuffle": 2,
                "blocksize": 0,
            }
            assert zarray["filters"] is None and zarray["order"] == "C"
            assert zarray["dimension_separator"] == "."
            assert zarray["zarr_format"] == 2
            attrs = read_json(path / key / ".zattrs")
            assert attrs == meta[f"{key}/.zattrs"]
            assert attrs["_ARRAY_DIMENSIONS"] == ["y", "x"]
            assert attrs["scale_factor"] == 0.0001 and attrs["add_offset"] == -0.1
            assert attrs["fill_value"] == 0 and attrs["dtype"] == "<u2"
            assert attrs["valid_min"] == 1 and attrs["valid_max"] == 65535
            assert attrs["units"] == "digital_counts"
            assert attrs["long_name"].startswith(
                f"BOA reflectance from MSI acquisition at spectral band {band} "
            )
            assert attrs["_eopf_attrs"]["scale_factor"] == 0.0001
            assert attrs["_eopf_attrs"]["eopf_is_masked"] is True
            assert attrs["proj:epsg"] == 32632
            assert attrs["proj:bbox"] == list(SAMPLE_BOUNDS)
            assert attrs["proj:shape"] == list(shape)
            assert attrs["proj:transform"] == [
                res,
                0.0,
                699960.0,
                0.0,
                -res,
                4700040.0,
                0.0,
                0.0,
                1.0,
            ]
            assert 'AUTHORITY["EPSG","32632"]' in attrs["proj:wkt2"]
        for dim, n in (("x", shape[1]), ("y", shape[0])):
            key = f"measurements/reflectance/{level}/{dim}"
            zarray = read_json(path / key / ".zarray")
            assert zarray["dtype"] == "<i8" and zarray["fill_value"] is None
            assert zarray["shape"] == [n] and zarray["dimension_separator"] == "."
            assert read_json(path / key / ".zattrs") == {"_ARRAY_DIMENSIONS": [dim]}
        xs = group["x"][:]
        ys = group["y"][:]
        assert xs.dtype == np.int64 and ys.dtype == np.int64
        np.testing.assert_array_equal(xs, 699960 + (np.arange(shape[1]) + 0.5) * res)
        np.testing.assert_array_equal(ys, 4700040 - (np.arange(shape[0]) + 0.5) * res)


def test_native_raw_digital_numbers(products):
    root = zarr.open_group(products["native"], mode="r")
    for level, bands in es.NATIVE_BANDS.items():
        res, shape = es.LEVELS[level]
        px_per_block = 2880 // res
        for band in bands:
            dn = root[f"measurements/reflectance/{level}/{band}"][:]
            assert dn.dtype == np.uint16 and dn.shape == shape
            # every block is uniform and holds the predicted DN (0 = nodata block)
            blocks = dn.reshape(5, px_per_block, 5, px_per_block)
            assert (blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3))).all()
            for row in range(5):
                for col in range(5):
                    expected = es.expected_dn(band, *inside(row, col))
                    assert blocks[row, 0, col, 0] == (0 if expected is None else expected)


def test_native_xarray_decoding(products):
    path = products["native"]
    ds = xr.open_zarr(path, group="measurements/reflectance/r20m")
    assert sorted(ds.data_vars) == sorted(es.NATIVE_BANDS["r20m"])
    b04 = ds["b04"]
    assert b04.dims == ("y", "x") and b04.shape == (720, 720)
    # CF decoding: uint16 -> float64, scale_factor/add_offset applied, zarr v2 fill_value 0 masked
    assert b04.dtype == np.float64
    assert b04.encoding["dtype"] == np.uint16
    assert b04.encoding["scale_factor"] == 0.0001 and b04.encoding["add_offset"] == -0.1
    assert b04.encoding["_FillValue"] == 0
    x, y = inside(1, 2)
    value = float(b04.sel(x=x, y=y, method="nearest"))
    assert value == pytest.approx(es.expected_reflectance("b04", x, y), abs=1e-12)
    assert value == pytest.approx(0.24, abs=1e-12)
    assert math.isnan(float(b04.sel(x=inside(4, 4)[0], y=inside(4, 4)[1], method="nearest")))
    assert int(np.isnan(b04.values).sum()) == 144 * 144  # exactly the nodata block

    ds10 = xr.open_zarr(path, group="measurements/reflectance/r10m")
    b04 = ds10["b04"]
    assert b04.dtype == np.float64
    # pixel (row 1*288 + 5, col 2*288 + 7) lies in block (1, 2)
    pixel = b04.isel(y=288 + 5, x=2 * 288 + 7)
    assert float(pixel) == pytest.approx(
        es.expected_reflectance("b04", float(pixel.x), float(pixel.y)), abs=1e-12
    )
    assert math.isnan(float(b04.isel(y=4 * 288 + 3, x=4 * 288 + 3)))
    assert float(b04.x[0]) == 699965 and float(b04.y[0]) == 4700035
    # without CF decoding the raw digital numbers come back
    raw = xr.open_zarr(path, group="measurements/reflectance/r10m", mask_and_scale=False)["b04"]
    assert raw.dtype == np.uint16 and int(raw.isel(y=288 + 5, x=2 * 288 + 7)) == 3400


# ----------------------------------------------------------------------------------------------
# GeoZarr layout (zarr v3)

EXPECTED_MULTISCALES = {
    "layout": [
        {"asset": "r10m", "spatial:shape": [1440, 1440]},
        {
            "asset": "r20m",
            "derived_from": "r10m",
            "spatial:shape": [720, 720],
            "transform": {"scale": [2.0, 2.0], "translation": [0.0, 0.0]},
        },
        {
            "asset": "r60m",
            "derived_from": "r10m",
            "spatial:shape": [240, 240],
            "transform": {"scale": [6.0, 6.0], "translation": [0.0, 0.0]},
        },
        {
            "asset": "r120m",
            "derived_from": "r60m",
            "spatial:shape": [120, 120],
            "transform": {"scale": [2.0, 2.0], "translation": [0.0, 0.0]},
        },
        {
            "asset": "r360m",
            "derived_from": "r120m",
            "spatial:shape": [40, 40],
            "transform": {"scale": [3.0, 3.0], "translation": [0.0, 0.0]},
        },
        {
            "asset": "r720m",
            "derived_from": "r360m",
            "spatial:shape": [20, 20],
            "transform": {"scale": [2.0, 2.0], "translation": [0.0, 0.0]},
        },
    ],
    "resampling_method": "average",
}
INNER_CHUNKS = {"r10m": 144, "r20m": 144, "r60m": 80, "r120m": 40, "r360m": 32, "r720m": 20}
SHARDS = {"r10m": 1440, "r20m": 720, "r60m": 240, "r120m": 120, "r360m": 32, "r720m": 20}


def test_geozarr_layout_and_metadata(products):
    path = products["geozarr"]
    assert path == products["out"] / "sentinel-2-l2a-geozarr" / f"{es.ITEM_ID}.zarr"
    root_json = read_json(path / "zarr.json")
    assert root_json["zarr_format"] == 3 and root_json["node_type"] == "group"
    assert root_json["attributes"] == {}
    consolidated = root_json["consolidated_metadata"]
    assert consolidated["kind"] == "inline"
    assert "measurements/reflectance/r10m/b04" in consolidated["metadata"]
    assert "measurements/reflectance/r720m/spatial_ref" in consolidated["metadata"]

    root = zarr.open_group(path, mode="r")
    assert root.metadata.zarr_format == 3
    assert sorted(root.group_keys()) == ["conditions", "measurements", "quality"]
    refl = root["measurements/reflectance"]
    assert sorted(refl.group_keys()) == sorted(LEVEL_NAMES)
    rattrs = dict(refl.attrs)
    assert rattrs["multiscales"] == EXPECTED_MULTISCALES
    assert rattrs["proj:code"] == "EPSG:32632"
    assert rattrs["spatial:bbox"] == [0.0, 0.0, 0.0, 0.0]  # as in the real product
    assert rattrs["spatial:dimensions"] == ["y", "x"]
    assert rattrs["spatial:registration"] == "pixel"
    assert [c["name"] for c in rattrs["zarr_conventions"]] == ["multiscales", "spatial:", "proj:"]

    for level in LEVEL_NAMES:
        res, shape = es.LEVELS[level]
        group = refl[level]
        gattrs = dict(group.attrs)
        assert gattrs["grid_mapping"] == "spatial_ref"
        assert gattrs["proj:code"] == "EPSG:32632"
        assert gattrs["spatial:shape"] == list(shape)
        assert gattrs["spatial:bbox"] == [0.0, 0.0, 0.0, 0.0]
        assert [c["name"] for c in gattrs["zarr_conventions"]] == ["spatial:", "proj:"]
        assert sorted(group.array_keys()) == sorted(
            es.GEOZARR_BANDS[level] + ["spatial_ref", "x", "y"]
        )
        computed = level in ("r120m", "r360m", "r720m")
        for band in es.GEOZARR_BANDS[level]:
            meta = read_json(path / "measurements/reflectance" / level / band / "zarr.json")
            assert meta["data_type"] == "float32"
            assert meta["fill_value"] == "NaN"
            assert meta["shape"] == list(shape)
            assert meta["dimension_names"] == ["y", "x"]
            assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [SHARDS[level]] * 2
            (sharding,) = meta["codecs"]
            assert sharding["name"] == "sharding_indexed"
            conf = sharding["configuration"]
            assert conf["chunk_shape"] == [INNER_CHUNKS[level]] * 2
            assert [c["name"] for c in conf["codecs"]] == ["bytes", "blosc"]
            assert conf["codecs"][1]["configuration"] == {
                "typesize": 4,
                "cname": "zstd",
                "clevel": 3,
                "shuffle": "shuffle",
                "blocksize": 0,
            }
            assert [c["name"] for c in conf["index_codecs"]] == ["bytes", "crc32c"]
            assert conf["index_location"] == "end"
            attrs = meta["attributes"]
            assert attrs["_FillValue"] == "AAAAAAAA+H8="
            assert attrs["grid_mapping"] == "spatial_ref"
            assert attrs["units"] == "1"
            assert attrs["proj:epsg"] == 32632 and attrs["proj:bbox"] == list(SAMPLE_BOUNDS)
            # Stale attributes copied like the real converter does: b08 always describes the r10m
            # grid, computed levels describe the r60m grid.
            if band == "b08":
                src = "r10m"
            elif computed:
                src = "r60m"
            else:
                src = level
            src_res, src_shape = es.LEVELS[src]
            assert attrs["proj:shape"] == list(src_shape)
            assert attrs["proj:transform"][:6] == [src_res, 0.0, 699960.0, 0.0, -src_res, 4700040.0]
        sref = read_json(path / "measurements/reflectance" / level / "spatial_ref" / "zarr.json")
        assert sref["shape"] == [] and sref["data_type"] == "int64" and sref["fill_value"] == 0
        assert [c["name"] for c in sref["codecs"]] == (["bytes"] if computed else ["bytes", "zstd"])
        assert sref["attributes"]["grid_mapping_name"] == "transverse_mercator"
        assert sref["attributes"]["longitude_of_central_meridian"] == 9.0
        assert 'AUTHORITY["EPSG","32632"]' in sref["attributes"]["crs_wkt"]
        assert sref["attributes"]["spatial_ref"] == sref["attributes"]["crs_wkt"]
        assert int(group["spatial_ref"][()]) == 0
        for dim, n in (("x", shape[1]), ("y", shape[0])):
            meta = read_json(path / "measurements/reflectance" / level / dim / "zarr.json")
            assert meta["dimension_names"] == [dim] and meta["shape"] == [n]
            assert [c["name"] for c in meta["codecs"]] == ["bytes"]
            if computed:
                assert meta["data_type"] == "float64" and meta["fill_value"] == "NaN"
                assert meta["attributes"] == {"_FillValue": "AAAAAAAA+H8="}
            else:
                assert meta["data_type"] == "int64" and meta["fill_value"] == 0
                assert meta["attributes"] == {}
        np.testing.assert_array_equal(group["x"][:], 699960 + (np.arange(shape[1]) + 0.5) * res)
        np.testing.assert_array_equal(group["y"][:], 4700040 - (np.arange(shape[0]) + 0.5) * res)


def test_geozarr_coordinates_not_stale_attributes_give_the_grid(products):
    """A reader must take the grid from x/y (or the multiscales layout), not from proj:transform."""
    for level in ["r120m", "r360m", "r720m"]:
        ds = xr.open_zarr(products["geozarr"], group=f"measurements/reflectance/{level}")
        res, shape = es.LEVELS[level]
        x_res = float(ds.x[1] - ds.x[0])
        y_res = float(ds.y[1] - ds.y[0])
        assert (x_res, y_res) == (res, -res)
        assert float(ds.x[0]) - x_res / 2 == 699960.0 and float(ds.y[0]) - y_res / 2 == 4700040.0
        assert ds.b04.attrs["proj:transform"][0] == 60.0 != res
        assert ds.b04.attrs["proj:shape"] == [240, 240] != list(shape)
        assert ds.b08.attrs["proj:shape"] == [1440, 1440]
    # the r360m shard (1, 1) holds only the nodata block: it is not written at all
    shard_dir = products["geozarr"] / "measurements/reflectance/r360m/b04/c"
    assert (shard_dir / "0" / "0").is_file() and (shard_dir / "1" / "0").is_file()
    assert not (shard_dir / "1" / "1").exists()


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_geozarr_xarray_decoding(products, level):
    ds = xr.open_zarr(products["geozarr"], group=f"measurements/reflectance/{level}")
    res, shape = es.LEVELS[level]
    assert sorted(ds.data_vars) == sorted(es.GEOZARR_BANDS[level] + ["spatial_ref"])
    assert "spatial_ref" not in ds.coords  # no `coordinates` attribute: a data variable
    b04 = ds["b04"]
    assert b04.dtype == np.float32 and b04.shape == shape
    assert math.isnan(b04.encoding["_FillValue"])
    x, y = inside(1, 2)
    value = b04.sel(x=x, y=y, method="nearest").values
    assert value.dtype == np.float32
    assert value == np.float32(es.expected_reflectance("b04", x, y))
    assert math.isnan(float(b04.sel(x=inside(4, 4)[0], y=inside(4, 4)[1], method="nearest")))
    px_per_block = 2880 // res
    assert int(np.isnan(b04.values).sum()) == px_per_block**2
    if level == "r120m":
        assert ds.x.dtype == np.float64 and float(ds.x[0]) == 700020.0
        b08 = ds["b08"].sel(x=inside(3, 1)[0], y=inside(3, 1)[1], method="nearest")
        assert float(b08) == pytest.approx(es.expected_reflectance("b08", *inside(3, 1)), abs=1e-6)


def test_geozarr_levels_equal_native(products):
    """Every GeoZarr level and band equals the native product at the same place."""
    native = {
        level: xr.open_zarr(
            products["native"], group=f"measurements/reflectance/{level}", chunks=None
        )
        for level in es.NATIVE_BANDS
    }
    points = [inside(r, c, 1400.0, 1500.0) for r in range(5) for c in range(5)]
    px = xr.DataArray([p[0] for p in points], dims="pt")
    py = xr.DataArray([p[1] for p in points], dims="pt")
    for level in LEVEL_NAMES:
        geo = xr.open_zarr(
            products["geozarr"], group=f"measurements/reflectance/{level}", chunks=None
        )
        for band in es.GEOZARR_BANDS[level]:
            # the finest native level holding the band
            nlevel = next(lv for lv in es.NATIVE_BANDS if band in es.NATIVE_BANDS[lv])
            nat = native[nlevel][band].sel(x=px, y=py, method="nearest").values
            got = geo[band].sel(x=px, y=py, method="nearest").values
            np.testing.assert_allclose(
                got, nat.astype(np.float32), rtol=0, atol=1e-7, equal_nan=True
            )
            expected = [es.expected_reflectance(band, *p) for p in points]
            expected = np.array([np.nan if v is None else v for v in expected], dtype=np.float32)
            np.testing.assert_array_equal(got, expected)
    # whole arrays: GeoZarr r20m == native r20m; r120m == native r60m averaged 2 x 2
    geo20 = xr.open_zarr(products["geozarr"], group="measurements/reflectance/r20m", chunks=None)
    np.testing.assert_array_equal(
        geo20["b11"].values, native["r20m"]["b11"].values.astype(np.float32)
    )
    geo120 = xr.open_zarr(products["geozarr"], group="measurements/reflectance/r120m", chunks=None)
    coarse = native["r60m"]["b09"].coarsen(x=2, y=2).reduce(np.mean)
    np.testing.assert_array_equal(geo120["b09"].values, coarse.values.astype(np.float32))
    np.testing.assert_array_equal(geo120["x"].values, coarse["x"].values)


# ----------------------------------------------------------------------------------------------
# Idempotence, --force, atomic writes, CLI


COLLECTIONS = list(es.writer.WRITERS)


def _product_ids(out: Path) -> list[int]:
    return [es.product_path(out, c).stat().st_ino for c in COLLECTIONS]


def _hidden_leftovers(out: Path) -> list[str]:
    return [p.name for c in COLLECTIONS for p in (out / c).iterdir() if p.name.startswith(".")]


def test_skip_force_and_cli(products, tmp_path):
    out = tmp_path / "data"
    for collection in COLLECTIONS:
        src = es.product_path(products["out"], collection)
        shutil.copytree(src, es.product_path(out, collection))
    before = _product_ids(out)

    lines: list[str] = []
    paths = es.write_samples(out, log=lines.append)
    assert paths == [es.product_path(out, c) for c in COLLECTIONS]
    assert len(lines) == len(COLLECTIONS) and all(line.startswith("skip ") for line in lines)
    assert _product_ids(out) == before

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "eopf_sample", "--out", str(out), "--force"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("wrote ") == len(COLLECTIONS)
    after = _product_ids(out)
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert _hidden_leftovers(out) == []
    ds = xr.open_zarr(
        es.product_path(out, es.COLLECTION_GEOZARR), group="measurements/reflectance/r720m"
    )
    assert float(ds.b02.sel(x=inside(0, 0)[0], y=inside(0, 0)[1], method="nearest")) == np.float32(
        0.3
    )


def test_cli_default_out_dir_is_data(capsys):
    from eopf_sample.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    help_text = capsys.readouterr().out
    assert "--force" in help_text and "default: data" in help_text


def test_interrupted_write_leaves_no_product(tmp_path):
    dest = es.product_path(tmp_path, es.COLLECTION_NATIVE)

    def broken_writer(path: Path) -> None:
        (path / ".zgroup").write_text('{"zarr_format": 2}')
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        writer._write_atomically(dest, broken_writer)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []
    # a later run writes the product (write_samples skips only an existing `dest`)
    assert writer._write_atomically(dest, writer.write_native, force=False) is True
    assert (dest / ".zmetadata").is_file()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]
    # a copy finished after another process wrote `dest` is discarded unless forced
    inode = dest.stat().st_ino
    assert writer._write_atomically(dest, lambda path: None, force=False) is False
    assert dest.stat().st_ino == inode and [p.name for p in dest.parent.iterdir()] == [dest.name]


# ----------------------------------------------------------------------------------------------
# Against the structure dumps of the real products (skipped when /work/shared is absent)


@pytest.mark.skipif(not NATIVE_DUMP.exists(), reason="structure dump not available")
def test_native_matches_real_dump(products):
    real = json.loads(NATIVE_DUMP.read_text())
    real_refl = real["members"]["measurements"]["members"]["reflectance"]
    root = zarr.open_group(products["native"], mode="r")
    assert set(dict(root.attrs)) == set(real["attributes"])
    assert set(root.group_keys()) == set(real["members"])
    for level, real_group in real_refl["members"].items():
        group = root[f"measurements/reflectance/{level}"]
        assert sorted(group.array_keys()) == sorted(real_group["members"])
        for name, real_arr in real_group["members"].items():
            key = f"measurements/reflectance/{level}/{name}"
            zarray = read_json(products["native"] / key / ".zarray")
            attrs = read_json(products["native"] / key / ".zattrs")
            for field in (
                "dtype",
                "fill_value",
                "compressor",
                "filters",
                "order",
                "dimension_separator",
                "zarr_format",
            ):
                assert zarray[field] == real_arr[field], (key, field)
            assert zarray["shape"] == [es.scene.REAL_TO_SAMPLE_SIZE[n] for n in real_arr["shape"]]
            real_attrs = real_arr["attributes"]
            assert set(attrs) == set(real_attrs), key
            for attr, value in real_attrs.items():
                if attr == "proj:bbox":
                    assert attrs[attr] == list(SAMPLE_BOUNDS)
                elif attr == "proj:shape":
                    assert attrs[attr] == [es.scene.REAL_TO_SAMPLE_SIZE[n] for n in value]
                else:  # incl. proj:transform: same origin and pixel size
                    assert attrs[attr] == value, (key, attr)


@pytest.mark.skipif(not GEOZARR_DUMP.exists(), reason="structure dump not available")
def test_geozarr_matches_real_dump(products):
    real = json.loads(GEOZARR_DUMP.read_text())
    real_refl = real["members"]["measurements"]["members"]["reflectance"]
    path = products["geozarr"]
    root = zarr.open_group(path, mode="r")
    assert set(root.group_keys()) == set(real["members"])
    refl_attrs = dict(root["measurements/reflectance"].attrs)
    assert set(refl_attrs) == set(real_refl["attributes"])
    for attr, value in real_refl["attributes"].items():
        if attr != "multiscales":
            assert refl_attrs[attr] == value, attr
    real_layout = real_refl["attributes"]["multiscales"]["layout"]
    layout = refl_attrs["multiscales"]["layout"]
    assert [e["asset"] for e in layout] == [e["asset"] for e in real_layout]
    for ours, theirs in zip(layout, real_layout, strict=True):
        assert set(ours) == set(theirs)
        assert ours.get("derived_from") == theirs.get("derived_from")
        assert ours["spatial:shape"] == [
            es.scene.REAL_TO_SAMPLE_SIZE[n] for n in theirs["spatial:shape"]
        ]
        if "transform" in theirs:
            assert ours["transform"]["scale"] == pytest.approx(
                theirs["transform"]["scale"], abs=0.01
            )
            assert ours["transform"]["translation"] == theirs["transform"]["translation"]
    for level, real_group in real_refl["members"].items():
        gattrs = read_json(path / "measurements/reflectance" / level / "zarr.json")["attributes"]
        for attr, value in real_group["attributes"].items():
            if attr == "spatial:shape":
                assert gattrs[attr] == [es.scene.REAL_TO_SAMPLE_SIZE[n] for n in value]
            else:
                assert gattrs[attr] == value, (level, attr)
        assert sorted(root[f"measurements/reflectance/{level}"].array_keys()) == sorted(
            real_group["members"]
        )
        for name, real_arr in real_group["members"].items():
            meta = read_json(path / "measurements/reflectance" / level / name / "zarr.json")
            for field in (
                "data_type",
                "fill_value",
                "dimension_names",
                "chunk_key_encoding",
                "zarr_format",
            ):
                assert meta.get(field) == real_arr[field], (level, name, field)
            assert meta["shape"] == [es.scene.REAL_TO_SAMPLE_SIZE[n] for n in real_arr["shape"]]
            ours_codecs = meta["codecs"]
            assert [c["name"] for c in ours_codecs] == [c["name"] for c in real_arr["codecs"]]
            if ours_codecs[0]["name"] == "sharding_indexed":
                oc, rc = ours_codecs[0]["configuration"], real_arr["codecs"][0]["configuration"]
                assert oc["codecs"] == rc["codecs"] and oc["index_codecs"] == rc["index_codecs"]
                assert oc["index_location"] == rc["index_location"]
                # shard smaller than the array exactly where the real product has it (r360m)
                real_partial = (
                    real_arr["chunk_grid"]["configuration"]["chunk_shape"] != real_arr["shape"]
                )
                ours_partial = meta["chunk_grid"]["configuration"]["chunk_shape"] != meta["shape"]
                assert ours_partial == real_partial
            else:
                assert ours_codecs == real_arr["codecs"]
            real_attrs = real_arr["attributes"]
            assert set(meta["attributes"]) == set(real_attrs), (level, name)
            for attr, value in real_attrs.items():
                if attr == "proj:bbox":
                    assert meta["attributes"][attr] == list(SAMPLE_BOUNDS)
                elif attr == "proj:shape":
                    assert meta["attributes"][attr] == [
                        es.scene.REAL_TO_SAMPLE_SIZE[n] for n in value
                    ]
                else:
                    assert meta["attributes"][attr] == value, (level, name, attr)
