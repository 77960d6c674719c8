"""The map viewer's page context (``{item}/map``, ``{item}/viewer``, ``{item}/{tms}/map.html``).

The page offers the item's renderings (its STAC renders, then the presets whose bands the
product has; see :mod:`titiler_eopf.tiler.renders`), and, when the URL carries ``variables``
or an ``expression``, a "from the URL" rendering first; it requests the same tile URLs as
``titiler-eopf cache seed``.
"""

from __future__ import annotations

from starlette.requests import Request

from titiler_eopf.presets import DEFAULT_PRESET, PRESETS, TMS
from titiler_eopf.tiler.errors import VariableError
from titiler_eopf.tiler.html import vendor_url

COLORMAPS = ("rdylgn", "viridis", "greens", "rdbu", "spectral", "cfastie")
CUSTOM = "custom"


def viewer_context(
    request: Request,
    product,
    variables: list[str] | None,
    preset: str | None,
    item_url: str,
    renders: dict,
) -> dict:
    """``renders``: the item's renderings (``renders.item_renders``), offered in that order."""
    if preset is not None and preset not in renders:
        if preset in PRESETS:
            raise VariableError(
                f"preset {preset!r} needs bands this product lacks; usable here: "
                f"{', '.join(renders) or 'none'}"
            )
        raise VariableError(f"unknown preset {preset!r}; expected one of: {', '.join(renders)}")
    presets = [
        {"name": name, "title": p.title, "params": list(p.params)}
        for name, (_, p) in renders.items()
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
            "this product has none of the bands of the viewer's presets (and no STAC renders): "
            "give 'variables' (e.g. ?variables={group}:{variable}&rescale=0,1). Available "
            "variables: " + ", ".join(sorted(product.available_variables()))
        )
    else:
        names = [p["name"] for p in presets]
        initial = preset or (DEFAULT_PRESET if DEFAULT_PRESET in names else names[0])
    return {
        "title": product.location.label,
        "maplibre_js": vendor_url(request, "maplibre-gl", "maplibre-gl.js"),
        "maplibre_css": vendor_url(request, "maplibre-gl", "maplibre-gl.css"),
        "landing_url": str(request.url_for("landing")),
        "colormaps": COLORMAPS,
        "config": {"item_url": item_url, "tms": TMS, "presets": presets, "initial": initial},
    }
