"""Where the test vectors and samples are: ``tests/data`` inside the repository.

They are copied into the repository (provenance and licences in ``tests/data/SOURCES.md``) so that a
clean clone tests itself, with nothing read from outside the checkout."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
