"""``titiler-eopf cache seed``: progress bar, bound, state file, summary.

Over HTTP from this machine (``--url``, or the stack's ``ApiUrl``), or, with
``--lambda`` alone, in bounded slices run by the admin Lambda's ``seed`` action.
The state file holds the job and the requests done (HTTP) or the next slice
(Lambda); a re-run of the same command continues from it and removes it once
everything succeeded. Failed requests are not marked done: a re-run retries them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from titiler_eopf.admin import seeder
from titiler_eopf.admin.actions import BadRequest, SeedRequest, parse
from titiler_eopf.ops.admin_client import (
    AdminError,
    LambdaAdmin,
    reply_body,
    require_output,
    stack_outputs,
)
from titiler_eopf.presets import Preset

MAX_CONCURRENCY = 32
SAVE_EVERY_S = 1.0


class SeedCLIError(AdminError):
    pass


def _state_path(args, job: seeder.SeedJob) -> Path:
    if args.state:
        return Path(args.state)
    root = Path(
        os.environ.get(
            "TITILER_EOPF_SEED_STATE_DIR", Path.home() / ".cache" / "titiler-eopf" / "seed"
        )
    )
    return root / f"{job.signature()}.json"


class State:
    """Which requests of one job are done; written atomically."""

    def __init__(self, path: Path, job: seeder.SeedJob, restart: bool):
        self.path = path
        self.signature = job.signature()
        self.done: set[int] = set()
        self.next: int = 0  # Lambda mode: start of the next slice
        self.saved = 0.0
        if path.exists() and not restart:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                raise SeedCLIError(
                    f"state file {path} is unreadable: remove it or pass --restart"
                ) from None
            if data.get("signature") != self.signature:
                raise SeedCLIError(
                    f"state file {path} belongs to another job: remove it or pass --restart"
                )
            self.done = set(data.get("done", []))
            self.next = int(data.get("next", 0))

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.saved < SAVE_EVERY_S:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"signature": self.signature, "done": sorted(self.done), "next": self.next})
        )
        tmp.replace(self.path)
        self.saved = now

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _progress():
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]seeding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def _counts_text(counts: dict) -> str:
    return ", ".join(
        f"{k} {v}" for k, v in counts.items() if v or k in ("rendered", "cached", "failed")
    )


def seed_command(args) -> int:
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise SeedCLIError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    renders = tuple(getattr(args, "renders", None) or ())
    presets = tuple(args.presets or ([] if renders else ["true-colour"]))
    lambda_only = bool(args.function) and not args.url
    if lambda_only:
        return _seed_through_lambda(args, presets, renders)
    base_url = args.url
    if not base_url and args.stack:
        base_url = require_output(stack_outputs(args.stack, args.region), "ApiUrl", args.stack)
    base_url = (
        base_url or os.environ.get("TITILER_EOPF_SEED_URL") or "http://127.0.0.1:8000"
    ).rstrip("/")
    try:
        resolved = seeder.resolve_renders(base_url, args.collection, args.item, renders)
    except seeder.SeedError as exc:
        raise SeedCLIError(str(exc)) from None
    first = presets[0] if presets else resolved[0]
    job = _job(
        args,
        base_url,
        presets,
        lambda: seeder.product_bounds(base_url, args.collection, args.item, first),
        resolved,
    )
    state = State(_state_path(args, job), job, args.restart)
    todo = [r for r in job.requests() if r[0] not in state.done]
    if state.done:
        print(
            f"resuming: {len(state.done)} of {job.count()} requests already done ({state.path})",
            file=sys.stderr,
        )

    summary_counts = dict.fromkeys(seeder.OUTCOMES, 0)
    with _progress() as progress:
        task = progress.add_task("seed", total=job.count(), completed=len(state.done), counts="")

        def on_result(outcome: seeder.Outcome) -> None:
            summary_counts[outcome.kind] += 1
            if outcome.kind != "failed":
                state.done.add(outcome.index)
                state.save()
            progress.update(task, advance=1, counts=_counts_text(summary_counts))

        try:
            summary, _ = seeder.run(job, todo, concurrency=args.concurrency, on_result=on_result)
        except KeyboardInterrupt:
            state.save(force=True)
            raise SeedCLIError(
                f"interrupted after {len(state.done)} of {job.count()} requests; "
                f"run the same command again to continue (state: {state.path})"
            ) from None
    return _finish(job.count(), summary.counts, summary.failures, summary.seconds, state)


def _job(args, base_url: str, presets: tuple, bounds, renders: tuple = ()) -> seeder.SeedJob:
    """The job of the command line (validated as the admin Lambda validates a seed event);
    ``bounds()`` gives the product's bbox when the command has none."""
    try:
        request = parse(
            SeedRequest,
            collection=args.collection,
            item=args.item,
            minzoom=args.minzoom,
            maxzoom=args.maxzoom,
            bbox=args.bbox,
            presets=list(presets),
            renders=[r.name for r in renders],
        )
        job = seeder.SeedJob.of(request, base_url, request.bbox or bounds())
        job = dataclasses.replace(job, renders=tuple(renders))
    except (BadRequest, seeder.SeedError) as exc:
        raise SeedCLIError(str(exc)) from None
    total = job.count()
    if total > args.max_tiles and not args.yes:
        raise SeedCLIError(
            f"this job requests {total} tiles"
            f" (z{args.minzoom}-{args.maxzoom} x {len(job.names)} rendering(s)), "
            f"more than --max-tiles {args.max_tiles}: pass --yes to go ahead"
        )
    return job


def _finish(total: int, counts: dict, failures: list, seconds: float, state: State) -> int:
    print(
        f"{total} requests in {seconds:.1f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    for failure in failures[:5]:
        print(f"  failed: {failure.get('url')}: {failure.get('error')}", file=sys.stderr)
    if counts.get("failed"):
        state.save(force=True)
        print(
            f"{counts['failed']} failed: run the same command again to retry them"
            f" (state: {state.path})",
            file=sys.stderr,
        )
        return 1
    state.remove()
    return 0


def _seed_through_lambda(args, presets: tuple, renders: tuple = ()) -> int:
    """Slices of the job run by the admin Lambda until ``next`` is null."""
    admin = LambdaAdmin(args.function, args.region)
    first = {
        "action": "seed",
        "collection": args.collection,
        "item": args.item,
        "minzoom": args.minzoom,
        "maxzoom": args.maxzoom,
        "presets": list(presets),
        "renders": list(renders),
        "concurrency": min(args.concurrency, 16),
    }
    if args.bbox:
        first["bbox"] = args.bbox
    job = _job(
        args,
        "lambda:" + args.function,
        presets,
        lambda: reply_body(admin({**first, "limit": 1}))["result"]["bbox"],
        # the Lambda resolves the renders: here they only name the job's requests
        tuple(Preset(name, name, ()) for name in renders),
    )
    first["bbox"] = list(job.bbox)
    state = State(_state_path(args, job), job, args.restart)
    counts = dict.fromkeys(seeder.OUTCOMES, 0)
    failures: list = []
    started = time.monotonic()
    total = job.count()
    with _progress() as progress:
        task = progress.add_task("seed", total=total, completed=state.next, counts="")
        start: int | None = state.next
        while start is not None and start < total:
            result = reply_body(admin({**first, "start": start}))["result"]
            for kind, n in result["counts"].items():
                counts[kind] = counts.get(kind, 0) + n
            failures += result.get("failures", [])
            done_to = result["next"] if result["next"] is not None else total
            progress.update(task, completed=done_to, counts=_counts_text(counts))
            start = result["next"]
            state.next = done_to
            state.save(force=True)
    return _finish(total, counts, failures, time.monotonic() - started, state)
