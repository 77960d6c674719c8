"""The Explorer's sample products have the structure of the real ones (../shared/eopf-structures):
group and variable names, dims, dtypes, fill values, codecs and the writers' quirks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest
import zarr

from eopf_sample import explorer as ex
from eopf_sample import scene, writer

DUMPS = Path("/work/shared/eopf-structures")
S1_DUMP = DUMPS / "s1_grd_rtc_examples" / "s1-rtc-31TCH.json"
PRODUCTION_DUMP = DUMPS / "optimized_geozarr_examples" / "production" / f"{scene.ITEM_ID}.json"
CODECS_DUMP = DUMPS / "optimized_geozarr_codecs_examples" / f"{scene.ITEM_ID}.json"


def dump(path: Path) -> dict:
    if not path.exists():
        pytest.skip(f"structure dump {path} not on this machine")
    return json.loads(path.read_text())


def node(tree: dict, path: str) -> dict:
    for name in path.split("/"):
        tree = tree["members"][name]
    return tree


def codec_names(meta: dict) -> list[str]:
    names = []
    for codec in meta["codecs"]:
        names.append(codec["name"])
        if codec["name"] == "sharding_indexed":
            names += [f"inner:{c['name']}" for c in codec["configuration"]["codecs"]]
    return names


def meta(product: Path, path: str) -> dict:
    return json.loads((product / path / "zarr.json").read_text())


@pytest.fixture(scope="module")
def store(sample_store) -> Path:
    return sample_store


def product(store: Path, collection: str) -> Path:
    return writer.product_path(store, collection)


def test_s1_rtc_has_the_writers_groups_arrays_and_dtypes(store):
    real = dump(S1_DUMP)
    path = product(store, ex.COLLECTION_S1_RTC)
    for orbit in ("ascending", "descending"):
        real_orbit = node(real, orbit)
        assert set(real_orbit["members"]) == set(ex.LEVELS) | {"conditions"}
        ours = meta(path, orbit)["attributes"]
        assert set(ours) == set(real_orbit["attributes"])
        assert [c["uuid"] for c in ours["zarr_conventions"]] == [
            c["uuid"] for c in real_orbit["attributes"]["zarr_conventions"]
        ]
        for level in ex.LEVELS:
            real_level = node(real_orbit, level)
            assert set(meta(path, f"{orbit}/{level}")["attributes"]) == set(
                real_level["attributes"]
            )
            for name, real_array in real_level["members"].items():
                ours = meta(path, f"{orbit}/{level}/{name}")
                for key in ("data_type", "dimension_names", "fill_value"):
                    assert ours.get(key) == real_array.get(key), (orbit, level, name, key)
                assert set(ours["attributes"]) == set(real_array["attributes"]), (level, name)
                if "codecs" in real_array:
                    assert codec_names(ours) == codec_names(real_array), (level, name)
        # gamma areas: one per relative orbit of the group, no x/y
        conditions = zarr.open_group(path / orbit / "conditions", mode="r")
        assert set(conditions.array_keys()) == set(node(real_orbit, "conditions")["members"])


def test_s1_rtc_traps_are_in_the_sample(store):
    group = zarr.open_group(product(store, ex.COLLECTION_S1_RTC), mode="r")
    for orbit, times in ex.S1_TIMES.items():
        stored = group[f"{orbit}/r720m/time"][:]
        assert list(stored) == [numpy.datetime64(t, "ns").astype("int64") for t in times]
        assert list(stored) != sorted(stored)  # not sorted
        for level, (res, _size) in ex.LEVELS.items():
            a, _, c, _, e, f = group[f"{orbit}/{level}"].attrs["spatial:transform"]
            assert group[f"{orbit}/{level}/x"][0] == c and group[f"{orbit}/{level}/y"][0] == f
            assert (a, e) == (res, -res)  # x/y on the origin: pixel corners
        platform = group[f"{orbit}/r10m/platform"]
        assert platform.dtype == numpy.dtype("<U4")
        assert list(platform[:]) == list(ex.S1_PLATFORMS[orbit])
    vv = group["descending/r120m/vv"][:]
    for index in range(3):
        for row, col in [(0, 0), (4, 29), (29, 3)]:
            value = ex.s1_value("descending", "vv", index, "r120m", row, col)
            got = float(vv[index, row, col])
            assert (value is None and numpy.isnan(got)) or got == value


def test_s2_production_has_the_converters_quirks(store):
    real = dump(PRODUCTION_DUMP)
    path = product(store, ex.COLLECTION_S2_PRODUCTION)
    group = zarr.open_group(path, mode="r")
    assert dict(group.attrs)["proj:code"] == real["attributes"]["proj:code"] == "EPSG:4326"
    reflectance = node(real, "measurements/reflectance")
    for level in ex.LEVELS:
        real_level = node(reflectance, level)
        assert set(real_level["members"]) == set(ex.S2_BANDS[level]) | {"spatial_ref", "x", "y"}
        attrs = dict(group[f"measurements/reflectance/{level}"].attrs)
        assert set(attrs) == set(real_level["attributes"])
        res = ex.LEVELS[level][0]
        half = 0 if level == "r10m" else res / 2  # the converter's half pixel, as in the dump
        assert attrs["spatial:transform"][2] == scene.X0 + half
        real_t = real_level["attributes"]["spatial:transform"]
        assert real_t[2] - 699960.0 == half
        b02 = meta(path, f"measurements/reflectance/{level}/b02")
        assert codec_names(b02) == codec_names(real_level["members"]["b02"])
        assert b02["dimension_names"] == ["y", "x"] and b02["data_type"] == "float32"
        stale = "GeoTransform" in dict(group[f"measurements/reflectance/{level}/spatial_ref"].attrs)
        real_stale = "GeoTransform" in real_level["members"]["spatial_ref"]["attributes"]
        assert stale == real_stale == (level in ("r120m", "r360m", "r720m"))
    r360m = group["measurements/reflectance/r360m/b04"]
    assert r360m.shards[0] < r360m.shape[0] < 2 * r360m.shards[0]  # partial edge shards
    for name in ("quality/atmosphere/r20m/aot", "quality/mask/r10m/b02"):
        assert "sharding_indexed" not in codec_names(meta(path, name))
        real_codecs = codec_names(node(real, name))
        assert "sharding_indexed" not in real_codecs


def test_s2_codecs_store_uint16_and_present_float32(store):
    real = dump(CODECS_DUMP)
    path = product(store, ex.COLLECTION_S2_CODECS)
    for level in ex.LEVELS:
        ours = meta(path, f"measurements/reflectance/{level}/b04")
        theirs = node(real, f"measurements/reflectance/{level}/b04")
        assert codec_names(ours) == codec_names(theirs)
        inner = {c["name"]: c for c in ours["codecs"][0]["configuration"]["codecs"]}
        real_inner = {c["name"]: c for c in theirs["codecs"][0]["configuration"]["codecs"]}
        for name in ("scale_offset", "cast_value"):
            assert inner[name] == real_inner[name]
        assert ours["data_type"] == theirs["data_type"] == "float32"
    # the bytes are uint16 DN: read them with the codec chain taken off
    top = json.loads((path / "zarr.json").read_text())
    assert (
        top["consolidated_metadata"]["metadata"]["measurements/reflectance/r10m/b04"]["codecs"]
        == meta(path, "measurements/reflectance/r10m/b04")["codecs"]
    )
    pytest.importorskip("cast_value_rs")
    values = zarr.open_array(path / "measurements/reflectance/r360m/b04", mode="r")[:]
    expected = numpy.array(
        [
            [ex.s2_codecs_reflectance("b04", "r360m", r, c) or numpy.nan for c in range(10)]
            for r in range(10)
        ],
        dtype="float32",
    )
    assert values.dtype == numpy.float32
    assert numpy.array_equal(values, expected, equal_nan=True)
