"""One bounded slice of a seeding job: what the admin Lambda's ``seed`` action does.

A job can be longer than one invocation may run, so each invocation requests at most
``limit`` requests of the job's fixed order from ``start``, stops submitting at the
caller's deadline, and answers ``next``: the ``start`` of the following slice (None when
done). The CLI's ``--lambda`` mode calls slice after slice until ``next`` is None.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from titiler_eopf.admin import seeder
from titiler_eopf.admin.actions import MAX_SEED_TILES, BadRequest, SeedRequest


def seed_slice(request: SeedRequest, base_url: str | None, deadline: float | None) -> dict:
    """Run requests ``start .. start + limit`` of the job through the tile API at
    ``base_url``; ``deadline`` (``time.monotonic()``) ends submission early."""
    job = build_job(request, base_url)
    total = job.count()
    end = min(request.start + (request.limit or MAX_SEED_TILES), total)
    summary, stopped_at = seeder.run(
        job, slice_of(job, request.start, end), concurrency=request.concurrency, deadline=deadline
    )
    return {
        "total": total,
        "start": request.start,
        "next": next_start(stopped_at, end, total),
        "bbox": list(job.bbox),
        **summary.to_dict(),
    }


def build_job(request: SeedRequest, base_url: str | None) -> seeder.SeedJob:
    """The job of the request; without a bbox, the product's bounds from its TileJSON."""
    if not base_url:
        raise BadRequest(
            "seeding needs the API URL: set TITILER_EOPF_SEED_API_URL (the stack sets it)"
        )
    try:
        renders = seeder.resolve_renders(
            base_url, request.collection, request.item, request.renders
        )
        first = request.presets[0] if request.presets else renders[0]
        bbox = request.bbox or seeder.product_bounds(
            base_url, request.collection, request.item, first
        )
    except seeder.SeedError as exc:
        raise BadRequest(str(exc)) from None
    return replace(seeder.SeedJob.of(request, base_url, bbox), renders=renders)


def slice_of(job: seeder.SeedJob, start: int, end: int) -> Iterator[tuple]:
    return (r for r in job.requests() if start <= r[0] < end)


def next_start(stopped_at: int | None, end: int, total: int) -> int | None:
    """Where the next invocation starts: where this one stopped, else after its slice."""
    if stopped_at is not None:
        return stopped_at
    return end if end < total else None
