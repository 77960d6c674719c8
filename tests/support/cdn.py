"""Helpers of the CDN tests (tests/cdn): the sample tile they request and a live server."""

from __future__ import annotations

import threading

from tests.support.servers import free_port, wait_port

ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
COLLECTION = "sentinel-2-l2a"
RGB = [
    ("variables", "/measurements/reflectance:b04"),
    ("variables", "/measurements/reflectance:b03"),
    ("variables", "/measurements/reflectance:b02"),
    ("rescale", "0,1"),
]
TILE = f"/collections/{COLLECTION}/items/{ITEM}/tiles/WebMercatorQuad/12/2178/1514.png"


class LiveServer:
    """An ASGI app served by uvicorn in a thread (the seeder requests real HTTP)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_port(self.port)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
