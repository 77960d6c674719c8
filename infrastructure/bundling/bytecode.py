"""Python 3.12 bytecode for the bundle (Lambda's ``/var/task`` is read-only: without .pyc
every cold start compiles everything again, ~4 s instead of ~1.4 s).

The bytecode is hash-based and unchecked (no mtime dependency), and the file names it
records are those on Lambda (``/var/task/...``), so tracebacks point at the deployed files,
not at the build machine's temporary directories.
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import run
from .recipe import DOCSTRING_FREE, LAMBDA_TASK_ROOT

# Run by the target interpreter: argv = target, legacy (1/0), runtime dir, [dirs for -OO].
_COMPILE = (
    "import compileall, sys, py_compile\n"
    "ok = compileall.compile_dir(sys.argv[1], quiet=2, workers=0, legacy=sys.argv[2] == '1',"
    " stripdir=sys.argv[1], prependdir=sys.argv[3],"
    " invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
)
_COMPILE_OPTIMIZED = (
    "import compileall, sys, py_compile\n"
    "for d in sys.argv[4:]:\n"
    "    compileall.compile_dir(d, quiet=2, workers=0, legacy=True, force=True, optimize=2,"
    " stripdir=sys.argv[1], prependdir=sys.argv[3],"
    " invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
)


def compile_tree(
    python: str, target: Path, legacy: bool, runtime_dir: str = LAMBDA_TASK_ROOT
) -> None:
    """Compile every .py under ``target`` with ``python`` (a 3.12 interpreter).

    ``legacy=True`` (the dependencies): sourceless ``.pyc`` beside the modules, the ``.py``
    removed, :data:`DOCSTRING_FREE` packages compiled with ``-OO``. ``legacy=False`` (our
    own code): ``__pycache__`` beside the kept sources, for readable tracebacks.
    """
    # Best effort: a module that does not compile keeps its source (its .py is not removed).
    run([python, "-c", _COMPILE, str(target), "1" if legacy else "0", runtime_dir], check=False)
    if not legacy:
        return
    dirs = [str(target / d) for d in DOCSTRING_FREE if (target / d).is_dir()]
    if dirs:
        run([python, "-c", _COMPILE_OPTIMIZED, str(target), "1", runtime_dir, *dirs])
    for dirpath, _dirs, files in os.walk(target):
        for name in files:
            if name.endswith(".py") and (name + "c") in files:
                os.unlink(os.path.join(dirpath, name))
