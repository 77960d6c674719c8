"""Colormaps of EOPF data, registered beside rio-tiler's: ``colormap_name=scl``.

``scl`` draws the Sentinel-2 L2A scene classification with the class colours of ESA's
product specification (class 0, no data, transparent).
"""

from __future__ import annotations

import functools

# code: (name, RGBA)
SCL_CLASSES: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    0: ("no data", (0, 0, 0, 0)),
    1: ("saturated or defective", (255, 0, 0, 255)),
    2: ("dark area pixels", (47, 47, 47, 255)),
    3: ("cloud shadows", (100, 50, 0, 255)),
    4: ("vegetation", (0, 160, 0, 255)),
    5: ("not vegetated", (255, 230, 90, 255)),
    6: ("water", (0, 0, 255, 255)),
    7: ("unclassified", (128, 128, 128, 255)),
    8: ("cloud medium probability", (192, 192, 192, 255)),
    9: ("cloud high probability", (255, 255, 255, 255)),
    10: ("thin cirrus", (100, 200, 255, 255)),
    11: ("snow or ice", (255, 150, 255, 255)),
}

EOPF_COLORMAPS = {"scl": {code: rgba for code, (_, rgba) in SCL_CLASSES.items()}}


@functools.cache
def eopf_colormaps():
    """rio-tiler's colormaps plus the EOPF ones (built on first use, not at import)."""
    from rio_tiler.colormap import cmap

    return cmap.register(EOPF_COLORMAPS)


def colormap_dependency():
    """The ``colormap_name``/``colormap`` query dependency over :func:`eopf_colormaps`."""
    from titiler.core.dependencies import create_colormap_dependency

    return create_colormap_dependency(eopf_colormaps())
