"""PNG tiles written with libdeflate instead of GDAL's PNG driver.

A tile whose data is already decoded (a neighbour of a tile just served) spends most of its
CPU in the PNG encode: GDAL's driver (libpng, zlib level 6, filters chosen per row) takes
~21 ms for a 256 x 256 true-colour tile of a Sentinel-2 scene, about as much as the reads,
the warp and the app together. The same pixels written with one PNG filter for the whole image
("Sub": each byte minus the one a pixel to its left) and libdeflate's level 6 take ~4 ms,
for a size within a few per cent of GDAL's either way (bench/bench_encode.py measures both
side by side on tiles of the full-size products).

Only the encoding changes: titiler's ``render_image`` still prepares the image (rescale,
color formula, colormap, the mask as alpha) and rio-tiler's rules for a PNG still apply
(data that is neither uint8 nor uint16 is rescaled to uint8, a uint16 image's alpha spans
0-65535). ``render_image`` below asks titiler for the prepared arrays (its NPY output: the
bands, then the mask) and writes them; every other format, and a PNG this does not write
(more than 4 channels, creation options), goes to titiler's own ``render_image`` unchanged.
A decoded tile is the same pixels, byte for byte, whichever encoder wrote it (tests decode
both with GDAL and with a second, independent PNG reader).
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from typing import Any

import deflate
import numpy
from rasterio.dtypes import dtype_ranges
from rio_tiler.errors import InvalidDatatypeWarning
from rio_tiler.utils import linear_rescale
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image as titiler_render
from titiler.core.utils import rescale_array

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type by channel count: grey, grey + alpha, RGB, RGBA (as GDAL's driver writes them).
COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
FILTER_SUB = 1
# libdeflate's level 6: GDAL's zlib level 6 size at a quarter of the time (its level 9 costs
# ~9x more for ~9 % less).
DEFLATE_LEVEL = 6


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def encode_png(data: numpy.ndarray, mask: numpy.ndarray | None = None) -> bytes:
    """Bands (count, height, width) of uint8 or uint16, and an optional mask written as the
    alpha channel (in the data's dtype), as a PNG of 1 to 4 channels."""
    if data.ndim == 2:
        data = data[numpy.newaxis]
    if data.dtype not in (numpy.uint8, numpy.uint16):
        raise TypeError(f"PNG holds uint8 or uint16 samples, not {data.dtype}")
    if mask is not None:
        data = numpy.concatenate([data, mask[numpy.newaxis].astype(data.dtype)])
    channels, height, width = data.shape
    if channels not in COLOR_TYPES:
        raise ValueError(f"PNG holds 1 to 4 channels, not {channels}")
    # Rows of interleaved samples, 16-bit ones big-endian, as bytes.
    pixels = numpy.moveaxis(data, 0, -1).astype(data.dtype.newbyteorder(">"), copy=False)
    rows = numpy.ascontiguousarray(pixels).view(numpy.uint8).reshape(height, -1)
    step = channels * data.dtype.itemsize  # bytes per pixel: what "Sub" subtracts
    scanlines = numpy.empty((height, rows.shape[1] + 1), numpy.uint8)
    scanlines[:, 0] = FILTER_SUB
    scanlines[:, 1 : 1 + step] = rows[:, :step]
    numpy.subtract(rows[:, step:], rows[:, :-step], out=scanlines[:, 1 + step :])  # mod 256
    header = struct.pack(
        ">IIBBBBB", width, height, data.dtype.itemsize * 8, COLOR_TYPES[channels], 0, 0, 0
    )
    idat = deflate.zlib_compress(scanlines, DEFLATE_LEVEL)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def render_image(
    image,
    colormap=None,
    output_format=None,
    add_mask: bool = True,
    rescale=None,
    color_formula: str | None = None,
    **creation_options: Any,
) -> tuple[bytes, str]:
    """titiler's ``render_image``, with PNG tiles written by :func:`encode_png`."""

    if output_format not in (ImageType.png, ImageType.pngraw) or creation_options:
        return titiler_render(
            image, colormap, output_format, add_mask, rescale, color_formula, **creation_options
        )
    # titiler's preparation, returned as arrays: its NPY output holds the bands, then the mask
    # (rio-tiler keeps a mask in the bands' dtype, so the stack is in the bands' dtype).
    prepared, _ = titiler_render(image, colormap, ImageType.npy, add_mask, rescale, color_formula)
    stacked = numpy.load(io.BytesIO(prepared))
    data, mask = (stacked[:-1], stacked[-1]) if add_mask else (stacked, None)
    if data.shape[0] + (mask is not None) not in COLOR_TYPES:
        return titiler_render(image, colormap, output_format, add_mask, rescale, color_formula)
    if data.dtype not in (numpy.uint8, numpy.uint16):
        # titiler's rule for a PNG: other dtypes are rescaled to uint8 from the dataset's
        # statistics, else from the dtype's range.
        warnings.warn(
            f"Invalid type: `{data.dtype}` for the `{output_format}` driver. "
            "Data will be rescaled using min/max type bounds or dataset_statistics.",
            InvalidDatatypeWarning,
            stacklevel=1,
        )
        in_range = image.dataset_statistics or (dtype_ranges[str(data.dtype)],)
        data = rescale_array(data, mask, in_range=in_range)
    if mask is not None:
        # as rio-tiler writes it (a float image's mask cast to uint8 is titiler's too)
        mask = mask.astype(numpy.uint8)
        if data.dtype == numpy.uint16:  # rio-tiler: the alpha of a uint16 PNG spans 0-65535
            mask = linear_rescale(mask, (0, 255), (0, 65535)).astype(numpy.uint16)
    return encode_png(data, mask), output_format.mediatype
