"""Atomic file writes: readers (and resumed jobs) never see half a file.

Data goes to a temporary sibling first and is renamed over the target, which is
atomic on POSIX file systems; a crash leaves at most a stray hidden `.tmp` file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; a finished file gets normal permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_figure_atomic(figure, path: str | Path, dpi: float = 110) -> Path:
    """Save a matplotlib figure atomically, in the format its suffix names (png, pdf, svg, ...)."""
    import io

    path = Path(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi)
    return write_atomic(path, buffer.getvalue())
