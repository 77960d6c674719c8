"""Schemathesis against ``/openapi.json`` of the deployed app (``create_app``): never a 5xx.

Every operation of the schema (admin routes included, with the token) gets a bounded number of
generated requests, in two modes:

- ``pinned``: collection, item and ``variables`` drawn from the sample products and the variables
  their ``/info`` lists (what a real client sends), so that requests reach the reader, the
  renderer and the statistics;
- ``unpinned``: whatever the schema allows (unknown ids, odd variables, any parameter value).

The app runs as ``make run`` serves it (``python -m titiler_eopf``: create_app, uvicorn on
loopback, the in-memory cache in front of the tiler), in its own process with its address space
capped (``MEMORY_CAP``), so that a request that would eat the machine fails there as a 5xx
instead. A request counts as a failure when it answers 5xx or takes longer than
``SLOW_SECONDS`` (a hang on Lambda is a 504 from the HTTP API after 30 s). Failures are
collected per operation and reported together, with the request that produced them, so one
run shows every defect.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eopf_sample import ITEM_IDS
from tests.support.servers import free_port, wait_port

ADMIN_TOKEN = "schemathesis-admin-token"
# Examples per operation and mode (fewer where the schema allows fewer): about a minute here.
EXAMPLES = int(os.environ.get("TITILER_EOPF_SCHEMATHESIS_EXAMPLES", "20"))
# A "hang": not a timing test. The slowest request of a run here is 1.0 s on an idle 2-core
# machine, 3.2 s with other test runs beside it; 20 s is over 5x that, and below the tile
# Lambda's 28 s timeout, past which a user gets a 504 anyway.
SLOW_SECONDS = 20.0
MEMORY_CAP = 6 * 2**30  # bytes of address space for the server process
COLLECTIONS = sorted(ITEM_IDS)  # every sample product: L2A native and GeoZarr, L1C, S1 GRD


@dataclass
class Run:
    examples: int = 0
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _cap_memory():  # runs in the server process, before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.fixture(scope="module")
def server(sample_store):
    """``python -m titiler_eopf`` on a free loopback port; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "TITILER_EOPF_STORE_URL": str(sample_store),
        "TITILER_EOPF_ADMIN_TOKEN": ADMIN_TOKEN,
        "TITILER_EOPF_CACHE_BACKEND": "memory",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "titiler_eopf", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_cap_memory,
    )
    try:
        wait_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


@pytest.fixture(scope="module")
def sample_variables(server) -> dict[str, list[str]]:
    """Every variable each sample product lists in ``/info`` (what a user clicks through)."""
    found = {}
    for collection in COLLECTIONS:
        item = ITEM_IDS[collection]
        response = requests.get(f"{server}/collections/{collection}/items/{item}/info", timeout=30)
        assert response.status_code == 200, response.text
        found[collection] = response.json()["variables"]
    return found


def _pin(case, data, sample_variables) -> None:
    """Point a generated request at a sample product and some of its real variables."""
    params = case.path_parameters or {}
    if "collection_id" in params:
        collection = data.draw(st.sampled_from(COLLECTIONS), label="collection")
        params["collection_id"] = collection
        params["item_id"] = ITEM_IDS[collection]
        variables = data.draw(
            st.lists(st.sampled_from(sample_variables[collection]), min_size=1, max_size=3),
            label="variables",
        )
        case.query = {**(case.query or {}), "variables": variables}


def _explore(schema, server, sample_variables, pinned: bool) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        run = runs.setdefault(operation.label, Run())
        _checker(operation, run, server, sample_variables, pinned)()
    return runs


def _checker(operation, run: Run, server, sample_variables, pinned: bool):
    """The hypothesis test of one operation, recording into ``run``."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), data=st.data())
    def check(case, data):
        if pinned:
            _pin(case, data, sample_variables)
        started = time.monotonic()
        run.examples += 1
        try:
            response = case.call(
                base_url=server,
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=SLOW_SECONDS,
            )
        except requests.RequestException as exc:  # a hang, or the server died
            run.failures.append(f"{type(exc).__name__}: {case.as_curl_command()}")
            return
        elapsed = time.monotonic() - started
        run.seconds += elapsed
        run.slowest = max(run.slowest, (elapsed, case.as_curl_command()))
        run.statuses[response.status_code] += 1
        if response.status_code >= 500 or elapsed > SLOW_SECONDS:
            run.failures.append(
                f"{response.status_code} in {elapsed:.1f}s: {case.as_curl_command()}\n"
                f"    {response.text[:300]}"
            )

    return check


def _report(runs: dict[str, Run], mode: str) -> str:
    examples = sum(r.examples for r in runs.values())
    statuses = sum((r.statuses for r in runs.values()), Counter())
    failures = [f"{label}: {f}" for label, r in runs.items() for f in r.failures]
    seconds = sum(r.seconds for r in runs.values())
    slowest = max(r.slowest for r in runs.values())
    lines = [
        f"schemathesis {mode}: {len(runs)} operations, {examples} examples, "
        f"statuses {dict(sorted(statuses.items()))}, {len(failures)} failures; "
        f"{seconds:.0f} s in requests, slowest {slowest[0]:.1f} s: {slowest[1]}"
    ]
    return "\n".join(lines + failures)


@pytest.mark.parametrize("mode", ["pinned", "unpinned"])
def test_no_server_error_and_no_hang(schema, server, sample_variables, mode, capsys):
    runs = _explore(schema, server, sample_variables, pinned=mode == "pinned")
    report = _report(runs, mode)
    with capsys.disabled():
        print("\n" + report.splitlines()[0])
    assert sum(r.examples for r in runs.values()) >= len(runs), "examples did not run"
    assert not any(r.failures for r in runs.values()), report
