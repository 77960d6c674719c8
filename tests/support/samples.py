"""The sample products every test package reads, written once per generator version.

Sample products are deterministic: one copy per source version is kept outside the clone
(``~/.cache/titiler-eopf`` or ``TITILER_EOPF_TEST_CACHE``), so repeated runs on a machine
reuse it (safe: the key is a digest of the generator's code). Parallel test processes
(xdist workers, two clones) write it under an exclusive file lock: the first writes, the
others wait and then find every product in place (the writers skip what exists).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from eopf_sample import write_samples
from eopf_sample.mosaic import write_mosaic_collection
from tests.support.servers import ROOT

SAMPLE_CACHE = Path(
    os.environ.get("TITILER_EOPF_TEST_CACHE", Path.home() / ".cache" / "titiler-eopf")
)


def generator_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "eopf_sample").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def _exclusive(lock_path: Path):
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _write(target: Path) -> None:
    write_samples(target)
    write_mosaic_collection(target, log=None)


def sample_products(tmp_path_factory) -> Path:
    """The directory holding the sample products and the mosaic collection."""
    target = SAMPLE_CACHE / f"samples-{generator_digest()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(target.parent / f"{target.name}.lock"):
            _write(target)
    except OSError:  # read-only home: a per-session copy
        target = tmp_path_factory.mktemp("samples")
        _write(target)
    return target
