"""The local deployment the operator CLI tests drive, and what they share."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
# The product (about 14 km) in lon/lat: the bbox the seed tests use.
BBOX = "11.43,42.30,11.60,42.42"


@dataclass
class Deployment:
    url: str
    env: dict
    redis_port: int
    moto_url: str
    bucket: str


def clean_environ() -> dict:
    """This process's environment without any app, AWS or Powertools setting, plus moto's
    dummy credentials."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TITILER_EOPF_", "AWS_", "POWERTOOLS_"))
    }
    return keep | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def console_script() -> Path:
    """The installed ``titiler-eopf`` entry point (pyproject.toml [project.scripts])."""
    return Path(sys.executable).parent / "titiler-eopf"
