"""``titiler-eopf``: the operator's command line.

    titiler-eopf serve [--host H] [--port P]
    titiler-eopf sample [--out DIR]
    titiler-eopf cache status|keys|invalidate|purge|seed ... [--lambda NAME | --stack NAME]

Cache commands run against the local settings (``TITILER_EOPF_CACHE_*``) by
default, against a deployed admin Lambda with ``--lambda``, or against the
stack's outputs (``AdminFunctionName``, ``ApiUrl``) with ``--stack``. Every
command builds an admin Lambda payload (see ``titiler_eopf.admin.actions``), which
the admin service answers here or in the Lambda, so the three targets answer the
same way. Errors are one line on stderr and exit 1 (2 for a
bad command line), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from titiler_eopf.ops.admin_client import (
    AdminError,
    LambdaAdmin,
    LocalAdmin,
    reply_body,
    require_output,
    stack_outputs,
)

PROG = "titiler-eopf"
DEFAULT_URL = "http://127.0.0.1:8000"


class CLIError(Exception):
    """A failure to report in one line."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (CLIError, AdminError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - never a traceback for an operator
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


# --- parser ---------------------------------------------------------------------------
def _bbox(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise argparse.ArgumentTypeError(
            f"bbox must be minlon,minlat,maxlon,maxlat (4 numbers), got {text!r}"
        )
    return values


def build_parser() -> argparse.ArgumentParser:
    from titiler_eopf.presets import DEFAULT_PRESET, PRESETS

    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve EOPF tiles and operate the tile cache."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the app locally (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    sample = commands.add_parser("sample", help="write the sample products")
    sample.add_argument("--out", default="data", help="output directory (default: data)")
    sample.add_argument("--force", action="store_true", help="rewrite products that exist")
    sample.set_defaults(func=cmd_sample)

    target = argparse.ArgumentParser(add_help=False)
    where = target.add_mutually_exclusive_group()
    where.add_argument(
        "--lambda", dest="function", metavar="NAME", help="invoke this admin Lambda (boto3)"
    )
    where.add_argument(
        "--stack", metavar="NAME", help="use this stack's AdminFunctionName and ApiUrl outputs"
    )
    target.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    target.add_argument("--json", action="store_true", help="print the reply as JSON")

    cache = commands.add_parser("cache", help="inspect, invalidate, purge and seed the tile cache")
    cache_commands = cache.add_subparsers(title="cache commands", metavar="COMMAND")

    status = cache_commands.add_parser(
        "status", parents=[target], help="backend, counters, circuit breakers"
    )
    status.add_argument(
        "--url",
        help="a running server or API: its public /cache/status (the server's own counters)",
    )
    status.set_defaults(func=cmd_status)

    keys = cache_commands.add_parser("keys", parents=[target], help="list entries (bounded scan)")
    keys.add_argument(
        "--pattern", default="*", help="glob on entry ids, or on item ids without '/'"
    )
    keys.add_argument("--limit", type=int, default=100)
    keys.add_argument("--cursor", help="the cursor a previous page printed")
    keys.set_defaults(func=cmd_keys)

    inv = cache_commands.add_parser("invalidate", help="invalidate a scope")
    scopes = inv.add_subparsers(title="scopes", metavar="SCOPE", dest="scope")
    dry = argparse.ArgumentParser(add_help=False)
    dry.add_argument("--dry-run", action="store_true", help="report what would go, delete nothing")
    common = [target, dry]
    p = scopes.add_parser(
        "collection", parents=common, help="bump a collection's generation (O(1))"
    )
    p.add_argument("collection")
    p.add_argument("--hard", action="store_true", help="also delete the entries")
    p = scopes.add_parser("item", parents=common, help="bump an item's generation (O(1))")
    p.add_argument("collection")
    p.add_argument("item")
    p.add_argument("--hard", action="store_true", help="also delete the entries")
    p = scopes.add_parser(
        "tiles", parents=common, help="tiles of a zoom range (and bbox), every variant"
    )
    p.add_argument("collection")
    p.add_argument("item", nargs="?")
    p.add_argument("--minzoom", type=int, required=True)
    p.add_argument("--maxzoom", type=int, required=True)
    p.add_argument("--bbox", type=_bbox, help="minlon,minlat,maxlon,maxlat")
    p.add_argument("--tms", default="WebMercatorQuad")
    p = scopes.add_parser("key", parents=common, help="one entry id (as `cache keys` lists them)")
    p.add_argument("key")
    p = scopes.add_parser("url", parents=common, help="one URL (path and query)")
    p.add_argument("url")
    p = scopes.add_parser(
        "pattern", parents=common, help="glob fallback (bounded, resumable with --cursor)"
    )
    p.add_argument("pattern")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--cursor")
    p.add_argument("--confirm", action="store_true", help="allow a pattern that matches everything")
    inv.set_defaults(func=cmd_invalidate)

    purge = cache_commands.add_parser(
        "purge", parents=common, help="bump and delete a collection or item"
    )
    purge.add_argument("collection")
    purge.add_argument("item", nargs="?")
    purge.set_defaults(func=cmd_purge)

    seed = cache_commands.add_parser(
        "seed", parents=[target], help="pre-render tiles through the tile endpoint"
    )
    seed.add_argument("collection")
    seed.add_argument("item")
    seed.add_argument("--minzoom", type=int, required=True)
    seed.add_argument("--maxzoom", type=int, required=True)
    seed.add_argument(
        "--bbox", type=_bbox, help="minlon,minlat,maxlon,maxlat (default: the product's bounds)"
    )
    seed.add_argument(
        "--preset",
        dest="presets",
        action="append",
        choices=list(PRESETS),
        help=f"repeat for several (default: {DEFAULT_PRESET}, unless --render is given)",
    )
    seed.add_argument(
        "--render",
        dest="renders",
        action="append",
        metavar="NAME",
        help="a rendering of the item's /renders (its STAC renders); repeat for several",
    )
    seed.add_argument(
        "--url",
        help=f"the server or API to request (default: the stack's ApiUrl, else {DEFAULT_URL})",
    )
    seed.add_argument(
        "--concurrency", type=int, default=4, help="requests in flight (1-32, default 4)"
    )
    seed.add_argument(
        "--max-tiles", type=int, default=1000, help="ask for --yes above this many (default 1000)"
    )
    seed.add_argument("--yes", action="store_true", help="go ahead above --max-tiles")
    seed.add_argument("--state", help="state file (default: ~/.cache/titiler-eopf/seed/<job>.json)")
    seed.add_argument(
        "--restart", action="store_true", help="ignore the state of an interrupted run"
    )
    seed.set_defaults(func=cmd_seed)
    return parser


# --- targets --------------------------------------------------------------------------
def admin_target(args) -> Any:
    if args.function:
        return LambdaAdmin(args.function, args.region)
    if args.stack:
        outputs = stack_outputs(args.stack, args.region)
        return LambdaAdmin(require_output(outputs, "AdminFunctionName", args.stack), args.region)
    return LocalAdmin()


def call(args, event: dict) -> dict:
    return reply_body(admin_target(args)(event))


def emit(args, body: dict, text: str) -> None:
    print(json.dumps(body, indent=2, default=str) if args.json else text)


# --- commands -------------------------------------------------------------------------
def cmd_serve(args) -> int:
    from titiler_eopf.__main__ import main as serve

    serve(["--host", args.host, "--port", str(args.port)])
    return 0


def cmd_sample(args) -> int:
    try:
        from eopf_sample.__main__ import main as write
    except ImportError:
        raise CLIError(
            "the sample writer (eopf_sample) ships with the repository: run this from a checkout"
        ) from None
    return write(["--out", args.out] + (["--force"] if args.force else []))


def _public_status(url: str) -> dict:
    from titiler_eopf.admin.seeder import error_detail, http_get

    try:
        code, _, data = http_get(url.rstrip("/") + "/cache/status", timeout=30)
    except OSError as exc:
        raise CLIError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
    if code != 200:
        raise CLIError(f"{url}/cache/status answered HTTP {code}: {error_detail(data)}")
    return {"status": json.loads(data)}


def cmd_status(args) -> int:
    body = _public_status(args.url) if args.url else call(args, {"action": "status"})
    status = body["status"]
    metrics = status.get("metrics", {})
    lines = [
        f"backend: {status.get('backend')}  enabled: {status.get('enabled')}"
        f"  namespace: {status.get('namespace')}"
    ]
    if metrics:
        # Counters are per process: the server's with --url, else the admin process's own.
        whose = "server" if args.url else "admin process"
        lines.append(f"counters ({whose}): " + ", ".join(f"{k}={v}" for k, v in metrics.items()))
    if status.get("circuits"):
        lines.append("circuits: " + ", ".join(f"{k}={v}" for k, v in status["circuits"].items()))
    emit(args, body, "\n".join(lines))
    return 0


def cmd_keys(args) -> int:
    event = {"action": "keys", "pattern": args.pattern, "limit": args.limit}
    if args.cursor:
        event["cursor"] = args.cursor
    body = call(args, event)
    rows = [
        f"{k['key']}  {k.get('kind') or '-'}  {k.get('size') or '-'} B"
        f"  ttl {k.get('ttl') or '-'}  {k.get('tile') or ''}".rstrip()
        for k in body["keys"]
    ]
    more = f"\nmore: --cursor {body['cursor']}" if body.get("cursor") not in (None, "0", 0) else ""
    emit(args, body, "\n".join(rows + [f"{len(rows)} entries"]) + more)
    return 0


def _result_text(result: dict) -> str:
    text = f"{result['scope']}: matched {result['matched']}"
    if result["dry_run"]:
        text += " (dry run: nothing deleted)"
    elif result.get("deleted"):
        text += "; deleted " + ", ".join(f"{store} {n}" for store, n in result["deleted"].items())
    if result.get("generation"):
        gen = result["generation"]
        scope = gen["collection"] + (f"/{gen['item']}" if gen.get("item") else "")
        text += f"; generation of {scope} is now {gen['generation']}"
    if result.get("cursor"):
        text += f"; more: --cursor {result['cursor']}"
    return text


def cmd_invalidate(args) -> int:
    if not args.scope:
        raise CLIError("invalidate needs a scope: collection, item, tiles, key, url or pattern")
    event: dict[str, Any] = {"action": "invalidate", "scope": args.scope, "dry_run": args.dry_run}
    for name in (
        "collection",
        "item",
        "key",
        "url",
        "pattern",
        "minzoom",
        "maxzoom",
        "bbox",
        "tms",
        "limit",
        "cursor",
    ):
        value = getattr(args, name, None)
        if value is not None:
            event[name] = value
    for flag in ("hard", "confirm"):
        if getattr(args, flag, False):
            event[flag] = True
    body = call(args, event)
    emit(args, body, _result_text(body["result"]))
    return 0


def cmd_purge(args) -> int:
    event = {
        "action": "purge",
        "scope": "item" if args.item else "collection",
        "collection": args.collection,
        "dry_run": args.dry_run,
    }
    if args.item:
        event["item"] = args.item
    body = call(args, event)
    emit(args, body, _result_text(body["result"]))
    return 0


def cmd_seed(args) -> int:
    from titiler_eopf.ops.seed_cli import seed_command

    return seed_command(args)
