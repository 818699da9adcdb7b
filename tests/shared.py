"""Where the project's shared material (specs, vectors) is: ``../shared`` beside the checkout, as
CI lays it out; ``$OPENSTS_SHARED_DIR`` overrides; ``/work/shared`` is the developers' copy."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    candidates = [os.environ.get("OPENSTS_SHARED_DIR"), Path(__file__).resolve().parents[2] / "shared", "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "vectors").is_dir():
            return Path(candidate)
    return Path(__file__).resolve().parents[2] / "shared"


SHARED = shared_dir()
