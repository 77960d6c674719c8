"""The map viewer's page context (``/collections/{c}/items/{i}/map``).

The page offers the presets of ``titiler_eopf.presets`` whose bands the product
has (and, when the URL carries ``variables``, a "from the URL" rendering first),
and requests the same tile URLs as ``titiler-eopf cache seed``.
"""

from __future__ import annotations

from starlette.requests import Request

from titiler_eopf.presets import DEFAULT_PRESET, PRESETS, TMS
from titiler_eopf.tiler.errors import VariableError
from titiler_eopf.tiler.html import vendor_url

COLORMAPS = ("rdylgn", "viridis", "greens", "rdbu", "spectral", "cfastie")
CUSTOM = "custom"


def _usable(preset, available: set[str]) -> bool:
    return all(value in available for key, value in preset.params if key == "variables")


def viewer_context(
    request: Request, product, variables: list[str] | None, preset: str | None, item_url: str
) -> dict:
    if preset is not None and preset not in PRESETS:
        raise VariableError(f"unknown preset {preset!r}; expected one of: {', '.join(PRESETS)}")
    available = set(product.available_variables())
    presets = [
        {"name": p.name, "title": p.title, "params": list(p.params)}
        for p in PRESETS.values()
        if _usable(p, available)
    ]
    if variables:
        params = [
            (k, v)
            for k, v in request.query_params.multi_items()
            if k not in ("preset", "tileMatrixSetId")
        ]
        presets.insert(0, {"name": CUSTOM, "title": "From the URL", "params": params})
        initial = CUSTOM
    elif not presets:
        raise VariableError(
            "this product has none of the bands of the viewer's presets: give 'variables' (e.g. "
            "?variables={group}:{variable}&rescale=0,1). Available variables: "
            + ", ".join(sorted(available))
        )
    else:
        names = [p["name"] for p in presets]
        initial = preset or (DEFAULT_PRESET if DEFAULT_PRESET in names else names[0])
        if initial not in names:
            raise VariableError(
                f"preset {initial!r} needs bands this product lacks; usable here: "
                f"{', '.join(names)}"
            )
    return {
        "title": product.location.label,
        "maplibre_js": vendor_url(request, "maplibre-gl", "maplibre-gl.js"),
        "maplibre_css": vendor_url(request, "maplibre-gl", "maplibre-gl.css"),
        "landing_url": str(request.url_for("landing")),
        "colormaps": COLORMAPS,
        "config": {"item_url": item_url, "tms": TMS, "presets": presets, "initial": initial},
    }
