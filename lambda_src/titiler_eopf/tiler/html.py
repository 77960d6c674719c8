"""The HTML side of the tiler: its Jinja templates and the URLs of the browser assets it serves.

A leaf of the tiler room (no route, no reader): the item and mosaic factories, the map viewer
and the pages all render through it.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.templating import Jinja2Templates

templates = Jinja2Templates(
    env=jinja2.Environment(
        autoescape=jinja2.select_autoescape(["html"]),
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    )
)


def vendor_url(request: Request, package: str, name: str) -> str:
    """URL of a browser asset served by the app (``/_vendor/{package}/{name}``)."""
    return str(request.url_for("vendor_asset", package=package, name=name))
