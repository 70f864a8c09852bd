"""Checksums of input files, recorded in the run manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_fingerprint(path: Path | str) -> dict:
    """Return the path, size in bytes and SHA-256 of a file."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }
