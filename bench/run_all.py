"""Run every benchmark and write bench/results.md (``make bench``).

Each ``bench/bench_*.py`` runs in its own process (``python -m bench.<name>`` from the
repository root, so that the benchmarks import the tests' servers from ``tests.support``);
its output (tables in Markdown where the script prints them) goes into results.md under the
command that produced it and the machine it ran on. The full-size benchmark needs
``make bench-data`` (the Makefile runs it first).

    .venv/bin/python -m bench.run_all [--only bench_fullsize.py ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) // 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = 0
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} cores (shared), {mem} GB RAM, Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", help="script names (default: every bench_*.py)")
    args = parser.parse_args()
    scripts = sorted((ROOT / "bench").glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.name in args.only]
    sections = []
    for script in scripts:
        command = f".venv/bin/python -m bench.{script.stem}"
        print(f"== {command}", flush=True)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{script.stem}"],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
        )  # progress (stderr) goes to the terminal
        print(done.stdout, flush=True)
        if done.returncode != 0:
            print(f"{script.name} failed ({done.returncode})", file=sys.stderr)
            return done.returncode
        doc = (script.read_text().split('"""')[1].strip().splitlines() or [""])[0]
        output = "\n".join(
            line for line in done.stdout.splitlines() if not line.startswith("[bundle]")
        )
        sections.append(
            f"## {script.name}: {doc}\n\n"
            f"- command: `{command}` ({time.monotonic() - started:.0f} s)\n"
            f"- machine: {machine()}\n"
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
            f"```text\n{output.strip()}\n```\n"
            if "|---" not in output
            else f"## {script.name}: {doc}\n\n"
            f"- command: `{command}` ({time.monotonic() - started:.0f} s)\n"
            f"- machine: {machine()}\n"
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
            f"{output.strip()}\n"
        )
    header = (
        "# Benchmark results\n\n"
        "Written by `make bench` (bench/run_all.py); every table was measured in one run on the "
        "machine named under it. The machine is shared: absolute times drift, ratios measured "
        "side by side hold.\n\n"
    )
    if args.only and RESULTS.exists():  # keep the other sections
        kept = [
            s
            for s in RESULTS.read_text().split("\n## ")[1:]
            if not any(s.startswith(name) for name in args.only)
        ]
        sections = ["## " + s.rstrip() + "\n" for s in kept] + sections
    RESULTS.write_text(header + "\n".join(sections))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
