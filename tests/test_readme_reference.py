"""The README's configuration reference is the one the settings classes generate."""

from __future__ import annotations

import runpy
import subprocess
import sys

from tests.support.servers import ROOT


def test_readme_configuration_reference_is_current():
    # a script, not a package: its functions, without running its main
    settings_reference = runpy.run_path(str(ROOT / "scripts" / "settings_reference.py"))
    fresh = settings_reference["render"]()
    block = settings_reference["current_block"]((ROOT / "README.md").read_text())
    assert block is not None, "README.md lost its settings-reference markers"
    assert block == fresh, "README.md is stale: run python scripts/settings_reference.py --write"
    # every field of every section (tiler, cache, admin) is in it, by its environment variable
    from titiler_eopf.settings import sections

    assert "`TITILER_EOPF_READ_MAX_PIXELS`" in block and "`TITILER_EOPF_CACHE_BACKEND`" in block
    assert block.count("\n| `TITILER_EOPF_") == sum(
        len(cls.model_fields) for _, cls in sections().values()
    )
    assert block.count("| `TITILER_EOPF_ADMIN_TOKEN` |") == 1  # read by one section only


def test_check_mode_fails_on_a_stale_readme(tmp_path):
    readme = (
        (ROOT / "README.md")
        .read_text()
        .replace("| `TITILER_EOPF_CACHE_BACKEND` |", "| `TITILER_EOPF_CACHE_BACKEND_OLD` |")
    )
    script = (ROOT / "scripts" / "settings_reference.py").read_text()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "settings_reference.py").write_text(script)
    (tmp_path / "README.md").write_text(readme)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "settings_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "README.md's configuration reference is stale" in done.stderr
