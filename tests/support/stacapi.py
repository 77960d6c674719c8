"""A real STAC API on loopback: PostgreSQL + PostGIS (Debian's), pgstac, stac-fastapi-pgstac.

``StacApiProcess(stac_dir).start()`` makes its own PostgreSQL cluster in a temporary directory
(initdb, trust auth, listening on 127.0.0.1 only, fsync off), loads the pgstac schema with
``pypgstac migrate``, loads ``stac_dir/collection.json`` and ``stac_dir/items.ndjson``, and
serves stac-fastapi-pgstac with uvicorn on a free port. ``stop()`` ends both.

The STAC API runs from its own venv (``.venv-stacapi``, pinned in ``tests/support/
requirements.txt``: its pins conflict with the Lambda's), made by ``make stacapi``.
PostgreSQL refuses to run as root: as root, the cluster is made and run as ``postgres``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
STAC_VENV = Path(os.environ.get("TITILER_EOPF_STACAPI_VENV", ROOT / ".venv-stacapi"))


def pg_bin() -> Path | None:
    for version in ("17", "16", "15"):
        path = Path(f"/usr/lib/postgresql/{version}/bin")
        if (path / "initdb").exists():
            return path
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgis_installed(bin_dir: Path) -> bool:
    share = subprocess.run(
        [str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True
    )
    return share.returncode == 0 and any(
        (Path(share.stdout.strip()) / "extension").glob("postgis.control")
    )


class StacApiProcess:
    def __init__(self, stac_dir: Path):
        self.stac_dir = Path(stac_dir)
        self.pg_port = free_port()
        self.port = free_port()
        self.workdir: Path | None = None
        self.api: subprocess.Popen | None = None
        self.pg_started = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"

    def _as_pg(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def _run(self, args: list[str], what: str, timeout: float = 120) -> None:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> StacApiProcess:
        bin_dir = pg_bin()
        if bin_dir is None or not postgis_installed(bin_dir):
            pytest.skip("PostgreSQL with PostGIS not installed (make tools installs it)")
        if not (STAC_VENV / "bin" / "uvicorn").exists():
            pytest.skip(f"STAC API venv missing at {STAC_VENV} (make stacapi)")
        self.workdir = Path(tempfile.mkdtemp(prefix="titiler-eopf-pg-"))
        data = self.workdir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self._run(
            self._as_pg(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            "initdb",
        )
        self._run(
            self._as_pg(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.workdir / "pg.log"),
                    "-w",
                    "-o",
                    f"-p {self.pg_port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start",
                ]
            ),
            "pg_ctl start",
            timeout=60,
        )
        self.pg_started = True
        pypgstac = str(STAC_VENV / "bin" / "pypgstac")
        self._run([pypgstac, "migrate", "--dsn", self.dsn], "pypgstac migrate", timeout=180)
        self._run(
            [
                pypgstac,
                "load",
                "collections",
                str(self.stac_dir / "collection.json"),
                "--dsn",
                self.dsn,
                "--method",
                "upsert",
            ],
            "pypgstac load collections",
        )
        self._run(
            [
                pypgstac,
                "load",
                "items",
                str(self.stac_dir / "items.ndjson"),
                "--dsn",
                self.dsn,
                "--method",
                "upsert",
            ],
            "pypgstac load items",
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PGUSER": "postgres",
            "PGPASSWORD": "unused",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.pg_port),
            "PGDATABASE": "postgres",
            "STAC_FASTAPI_TITLE": "titiler-eopf test STAC API",
            "STAC_FASTAPI_DESCRIPTION": "tests",
            "STAC_FASTAPI_LANDING_ID": "titiler-eopf-tests",
            "STAC_FASTAPI_VERSION": "1.0.0",
            "DB_MIN_CONN_SIZE": "1",
            "DB_MAX_CONN_SIZE": "4",
        }
        self.api = subprocess.Popen(
            [
                str(STAC_VENV / "bin" / "uvicorn"),
                "stac_fastapi.pgstac.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "api.log", "w"),
        )
        deadline = time.monotonic() + 60
        while True:
            if self.api.poll() is not None:
                raise RuntimeError(
                    "STAC API exited: " + (self.workdir / "api.log").read_text()[-3000:]
                )
            try:
                wait_port(self.port, 0.5)
                return self
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise

    def stop_api(self) -> None:
        """Kill the STAC API only (the tests of a STAC API that is down)."""
        if self.api and self.api.poll() is None:
            self.api.kill()
            self.api.wait(5)

    def stop(self) -> None:
        self.stop_api()
        if self.pg_started and self.workdir:
            bin_dir = pg_bin()
            subprocess.run(
                self._as_pg(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(self.workdir / "data"),
                        "-m",
                        "immediate",
                        "stop",
                    ]
                ),
                capture_output=True,
                timeout=30,
            )
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def wait_ready(url: str, timeout: float = 30) -> None:
    """Until the API answers a collection list (its DB pool is up)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/collections", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"STAC API at {url} not ready after {timeout}s")
        time.sleep(0.2)
