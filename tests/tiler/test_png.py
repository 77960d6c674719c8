"""PNG tiles written with libdeflate (tiler/png.py) hold exactly the pixels GDAL's PNG driver
writes for the same image: every image is decoded by GDAL and by pypng (a second PNG reader,
pure Python, which checks every chunk's CRC) and compared value for value with what
titiler's own ``render_image`` (GDAL) writes."""

from __future__ import annotations

import warnings

import numpy
import png as pypng
import pytest
from rasterio.io import MemoryFile
from rio_tiler.models import ImageData
from rio_tiler.utils import render as gdal_render
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image as titiler_render_image

from titiler_eopf.tiler.png import encode_png, render_image


def gdal_pixels(content: bytes) -> numpy.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no geotransform: not a georeferenced image
        with MemoryFile(content) as mem, mem.open() as ds:
            return ds.read()


def pypng_pixels(content: bytes) -> numpy.ndarray:
    width, height, rows, info = pypng.Reader(bytes=content).read()
    channels = info["planes"]
    dtype = numpy.uint16 if info["bitdepth"] == 16 else numpy.uint8
    flat = numpy.array([numpy.asarray(r, dtype) for r in rows]).reshape(height, width, channels)
    return numpy.moveaxis(flat, -1, 0)


def texture(count: int, dtype, size=(256, 256)) -> numpy.ndarray:
    """Smooth ramps plus noise (the same for the same arguments): every match length gets used."""
    rng = numpy.random.default_rng(count)
    top = numpy.iinfo(dtype).max
    y, x = numpy.mgrid[0 : size[0], 0 : size[1]]
    bands = [(x * (b + 1) * 7 + y * 3) % (top + 1) for b in range(count)]
    noisy = numpy.stack(bands).astype(numpy.int64) + rng.integers(-40, 40, (count, *size))
    return numpy.clip(noisy, 0, top).astype(dtype)


def holed_mask(size=(256, 256)) -> numpy.ndarray:
    mask = numpy.full(size, 255, numpy.uint8)
    mask[:, : size[1] // 3] = 0  # outside the product
    mask[100:110, 200:] = 0
    return mask


@pytest.mark.parametrize(
    ("count", "dtype", "with_mask"),
    [
        (1, numpy.uint8, False),
        (1, numpy.uint8, True),
        (2, numpy.uint8, False),
        (3, numpy.uint8, False),
        (3, numpy.uint8, True),
        (4, numpy.uint8, False),
        (1, numpy.uint16, False),
        (3, numpy.uint16, False),
    ],
)
def test_encoded_pixels_are_gdals(count, dtype, with_mask):
    data = texture(count, dtype)
    mask = holed_mask() if with_mask else None
    ours = encode_png(data, mask)
    theirs = gdal_render(data, mask, img_format="PNG")
    expected = gdal_pixels(theirs)
    assert expected.shape[0] == count + with_mask
    numpy.testing.assert_array_equal(gdal_pixels(ours), expected)
    numpy.testing.assert_array_equal(pypng_pixels(ours), expected)


def test_odd_sizes_and_flat_images():
    for data in (texture(3, numpy.uint8, (1, 1)), texture(1, numpy.uint8, (7, 513))):
        numpy.testing.assert_array_equal(gdal_pixels(encode_png(data)), data)
    flat = numpy.zeros((3, 256, 256), numpy.uint8)
    content = encode_png(flat, numpy.zeros((256, 256), numpy.uint8))
    numpy.testing.assert_array_equal(pypng_pixels(content)[:3], flat)
    assert len(content) < 1000


def test_what_png_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="1 to 4 channels, not 5"):
        encode_png(texture(4, numpy.uint8), holed_mask())
    with pytest.raises(TypeError, match="uint8 or uint16 samples, not float32"):
        encode_png(numpy.zeros((1, 4, 4), numpy.float32))


def image(data, mask=None, **kwargs) -> ImageData:
    if mask is None:
        mask = numpy.full(data.shape[1:], 255, numpy.uint8)
    array = numpy.ma.MaskedArray(data, mask=numpy.repeat(~mask.astype(bool)[None], len(data), 0))
    return ImageData(array, **kwargs)


RENDER_CASES = {
    "rescaled reflectance": (
        lambda: image(texture(3, numpy.uint16), holed_mask()),
        {"rescale": [(0, 4000)] * 3},
    ),
    "colormap": (
        lambda: image(texture(1, numpy.uint8), holed_mask()),
        {"colormap": {v: (v, 255 - v, v // 2, 255) for v in range(256)}},
    ),
    "color formula": (
        lambda: image(texture(3, numpy.uint8)),
        {"color_formula": "gamma RGB 1.5 sigmoidal RGB 10 0.3"},
    ),
    "uint16 with alpha": (lambda: image(texture(1, numpy.uint16), holed_mask()), {}),
    "uint16 raw": (
        lambda: image(texture(1, numpy.uint16)),
        {"add_mask": False, "output_format": ImageType.pngraw},
    ),
    "int8 bands": (
        lambda: image(texture(1, numpy.uint8).astype(numpy.int8), holed_mask()),
        {},
    ),
    "float32 from dataset statistics": (
        lambda: image(
            texture(2, numpy.uint16).astype(numpy.float32) / 10000,
            holed_mask(),
            dataset_statistics=[(0.0, 6.5), (0.0, 6.5)],
        ),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(RENDER_CASES))
def test_render_image_matches_titilers(case):
    make, options = RENDER_CASES[case]
    options = {"output_format": ImageType.png, **options}
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        ours, media = render_image(make(), **options)
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        theirs, their_media = titiler_render_image(make(), **options)
    assert media == their_media == "image/png"
    assert ours[:8] == b"\x89PNG\r\n\x1a\n"
    expected = gdal_pixels(theirs)
    numpy.testing.assert_array_equal(gdal_pixels(ours), expected)
    numpy.testing.assert_array_equal(pypng_pixels(ours), expected)
    # the same warning when titiler rescales a dtype PNG cannot hold
    rescaled = [str(w.message) for w in theirs_warned if "Invalid type" in str(w.message)]
    assert [str(w.message) for w in ours_warned if "Invalid type" in str(w.message)] == rescaled


def test_other_formats_and_creation_options_are_titilers():
    for options in (
        {"output_format": ImageType.jpeg},
        {"output_format": ImageType.webp},
        {"output_format": ImageType.png, "ZLEVEL": 9},
    ):
        data = image(texture(3, numpy.uint8), holed_mask())
        ours, _ = render_image(data, **options)
        theirs, _ = titiler_render_image(image(texture(3, numpy.uint8), holed_mask()), **options)
        assert ours == theirs


def test_five_channels_go_to_titiler_and_fail_there_alike():
    data = image(texture(4, numpy.uint8), holed_mask())
    with pytest.raises(Exception) as ours:
        render_image(data, output_format=ImageType.png)
    with pytest.raises(Exception) as theirs:
        titiler_render_image(
            image(texture(4, numpy.uint8), holed_mask()), output_format=ImageType.png
        )
    assert type(ours.value) is type(theirs.value)
