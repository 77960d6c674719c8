"""``titiler-eopf``: every cache command against a running server with Redis and
moto's S3 (the stack's ``s3_redis`` cache), and the console script itself."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.support.ops import BBOX, ITEM, clean_environ, console_script
from titiler_eopf.presets import PRESETS, tile_url

C = "sentinel-2-l2a"


def x_cache(url: str) -> str:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"]


def seed_args(ops, *extra):
    return (
        "cache",
        "seed",
        C,
        ITEM,
        "--minzoom",
        12,
        "--maxzoom",
        12,
        f"--bbox={BBOX}",
        "--url",
        ops.url,
        *extra,
    )


def counts(stdout: str) -> dict:
    """``N requests in S s: rendered a, cached b, ...`` -> {"rendered": a, ...}."""
    tail = stdout.strip().splitlines()[-1].split(": ", 1)[1]
    return {k: int(v) for k, v in (part.rsplit(" ", 1) for part in tail.split(", "))}


def test_console_script_runs_and_errors_in_one_line(ops):
    script = console_script()
    assert script.exists(), "make install puts titiler-eopf in the venv's bin/"
    env = clean_environ() | ops.env
    done = subprocess.run(
        [script, "cache", "status", "--url", ops.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "backend: s3_redis" in done.stdout
    bad = subprocess.run(
        [script, "cache", "invalidate", "key", "not-a-key"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("titiler-eopf: error: BadRequest: key must be an entry id")
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert bad.stdout == ""  # the handler's JSON log lines stay out of the terminal


def test_seed_renders_then_every_tile_is_a_hit(cli, ops):
    code, out, err = cli(*seed_args(ops, "--preset", "true-colour", "--preset", "ndvi"))
    assert code == 0, err
    first = counts(out)
    assert first["rendered"] >= 4 and first["cached"] == 0 and first["failed"] == 0
    total = int(out.strip().splitlines()[-1].split()[0])
    assert total == sum(first.values())
    # what the viewer requests is what was seeded: a HIT
    for name in ("true-colour", "ndvi"):
        assert x_cache(tile_url(ops.url, C, ITEM, PRESETS[name], 12, 2178, 1514)) == "HIT"
    code, out, _ = cli(*seed_args(ops, "--preset", "true-colour", "--preset", "ndvi"))
    again = counts(out)
    assert code == 0 and again["rendered"] == 0 and again["cached"] == first["rendered"]

    code, out, _ = cli("cache", "keys", "--limit", 1000, "--json")
    keys = json.loads(out)["keys"]
    assert len(keys) == first["rendered"] + first["empty"]
    assert all(k["key"].startswith(f"tile/ops/{C}/{ITEM}/") for k in keys)


def test_seed_render_requests_the_tiles_its_renders_route_lists(cli, ops):
    code, out, err = cli(*seed_args(ops, "--render", "false-colour"))
    assert code == 0, err
    assert counts(out)["rendered"] >= 2 and counts(out)["failed"] == 0
    render = httpx.get(f"{ops.url}/collections/{C}/items/{ITEM}/renders/false-colour").json()
    xyz = render["links"]["xyz"].format(z=12, x=2178, y=1514)
    assert x_cache(xyz) == "HIT"
    code, _, err = cli(*seed_args(ops, "--render", "no-such-render"))
    assert code == 1 and "rendering 'no-such-render'" in err and "HTTP 404" in err


def test_seed_above_the_bound_asks_for_yes_and_requests_nothing(cli, ops):
    code, out, err = cli(*seed_args(ops, "--max-tiles", 3))
    assert code == 1 and out == ""
    assert "more than --max-tiles 3: pass --yes to go ahead" in err
    code, out, _ = cli("cache", "keys", "--json")
    assert json.loads(out)["keys"] == []


def test_seed_default_bbox_is_the_product(cli, ops):
    code, out, err = cli(
        "cache", "seed", C, ITEM, "--minzoom", 10, "--maxzoom", 10, "--url", ops.url
    )
    assert code == 0, err
    assert counts(out)["rendered"] >= 1


def test_seed_errors_are_one_line(cli, ops):
    code, _, err = cli(
        "cache", "seed", C, "no-such-item", "--minzoom", 10, "--maxzoom", 10, "--url", ops.url
    )
    assert code == 1
    assert err.startswith(
        "titiler-eopf: error: TileJSON of sentinel-2-l2a/no-such-item answered HTTP 404"
    )
    code, _, err = cli(
        "cache", "seed", C, ITEM, "--minzoom", 10, "--maxzoom", 10, "--url", "http://127.0.0.1:9"
    )
    assert code == 1 and err.startswith("titiler-eopf: error: cannot reach http://127.0.0.1:9")
    code, _, err = cli(
        "cache",
        "seed",
        C,
        ITEM,
        "--minzoom",
        14,
        "--maxzoom",
        12,
        f"--bbox={BBOX}",
        "--url",
        ops.url,
    )
    assert code == 1 and "zoom range must satisfy" in err
    assert all(len(e.strip().splitlines()) == 1 for e in (err,))


def test_seed_resumes_after_an_interruption(cli, ops, tmp_path):
    """SIGINT to a running seed: the state file keeps what was done, a re-run does the rest."""
    import signal
    import time

    state = tmp_path / "seed.json"
    argv = [
        str(console_script()),
        *map(
            str,
            seed_args(
                ops,
                "--maxzoom",
                13,
                "--preset",
                "true-colour",
                "--preset",
                "false-colour",
                "--preset",
                "ndvi",
                "--concurrency",
                1,
                "--state",
                state,
                "--yes",
            ),
        ),
    ]
    proc = subprocess.Popen(
        argv,
        env=clean_environ() | ops.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The state file is first written when a request is done: interrupted from then on, the
    # run has done some of the job, and not all of it (hundreds of requests, one at a time).
    deadline = time.monotonic() + 60
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert state.exists() and proc.poll() is None, proc.communicate(timeout=60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "interrupted after" in err and "run the same command again to continue" in err
    assert "Traceback" not in err
    done = json.loads(state.read_text())["done"]
    code, out, err = cli(*argv[1:])
    assert code == 0, err
    assert f"resuming: {len(done)} of" in err
    total = int(out.strip().splitlines()[-1].split()[0])
    assert 0 < len(done) < total
    assert sum(counts(out).values()) == total - len(done)  # only what was left
    assert not state.exists()  # done: the state file goes


def test_invalidate_scopes(cli, ops):
    tile = tile_url(ops.url, C, ITEM, PRESETS["true-colour"], 12, 2178, 1514)
    assert cli(*seed_args(ops))[0] == 0
    assert x_cache(tile) == "HIT"

    code, out, _ = cli(
        "cache", "invalidate", "tiles", C, ITEM, "--minzoom", 12, "--maxzoom", 12, "--dry-run"
    )
    assert code == 0 and out.startswith("tiles: matched 4 (dry run: nothing deleted)"), out
    assert x_cache(tile) == "HIT"  # a dry run deletes nothing

    path_and_query = tile[len(ops.url) :]
    code, out, _ = cli("cache", "invalidate", "url", path_and_query)
    assert code == 0 and out.startswith("url: matched 1; deleted redis 1, s3 1"), out
    assert x_cache(tile) == "MISS"

    code, out, _ = cli("cache", "invalidate", "item", C, ITEM)
    assert code == 0 and f"generation of {C}/{ITEM} is now" in out
    assert x_cache(tile) == "MISS"

    code, _, err = cli("cache", "invalidate", "pattern", "*")
    assert code == 1 and "pass confirm=true" in err
    code, out, _ = cli("cache", "invalidate", "pattern", ITEM, "--dry-run")
    assert code == 0 and out.startswith("pattern: matched ")

    code, out, _ = cli("cache", "purge", C, "--dry-run")
    assert code == 0 and "(dry run: nothing deleted)" in out
    code, out, _ = cli("cache", "purge", C)
    assert code == 0 and "; deleted redis 4, s3 4" in out, out  # the 4 seeded tiles
    code, out, _ = cli("cache", "keys", "--json")
    assert json.loads(out)["keys"] == []


def test_status_local_and_from_the_server(cli, ops):
    code, out, _ = cli("cache", "status")
    assert code == 0 and "backend: s3_redis" in out and "counters (admin process)" in out
    x_cache(tile_url(ops.url, C, ITEM, PRESETS["true-colour"], 12, 2178, 1514))
    code, out, _ = cli("cache", "status", "--url", ops.url, "--json")
    status = json.loads(out)["status"]
    assert status["metrics"]["misses"] >= 1 and status["backend"] == "s3_redis"


def test_bad_local_settings_are_one_line(cli, ops, monkeypatch):
    monkeypatch.setenv("TITILER_EOPF_CACHE_BACKEND", "floppy")
    code, _, err = cli("cache", "status")
    assert code == 1 and "TITILER_EOPF_CACHE_BACKEND" in err and len(err.strip().splitlines()) == 1
