"""A content digest of a set of files: what a checkpoint or predictions file *is*, whatever its path.

Caches keyed by a path serve stale results once the file at that path is replaced
(a retrained checkpoint, a rewritten predictions file); keyed by this digest they cannot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def files_digest(root: Path, paths: Iterable[Path]) -> str:
    """blake2b over each file's path relative to `root` and its bytes, in sorted path order."""
    digest = hashlib.blake2b(digest_size=12)
    for path in sorted(paths):
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
