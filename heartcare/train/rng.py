"""Every random generator a training step may draw from, as tensors + JSON for safetensors.

torch CPU, each CUDA device (when present), numpy's global generator and Python's
`random`: dropout, k-means seeding, code restarts and user transforms all draw from
one of them, so an exact resume has to put all of them back.
"""

from __future__ import annotations

import json
import random


def capture_rng() -> tuple[dict, dict[str, str]]:
    """The current RNG states -> ({name: uint8/int64 tensor}, {name: JSON string})."""
    import torch

    tensors = {"torch.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch.cuda.{index}"] = state
    version, python_state, gauss_next = random.getstate()
    tensors["python.state"] = torch.tensor(python_state, dtype=torch.int64)  # 625 words < 2**32
    metadata = {"python": json.dumps([version, gauss_next])}
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with torch in practice
        return tensors, metadata
    name, key, position, has_gauss, cached_gaussian = np.random.get_state()
    tensors["numpy.key"] = torch.from_numpy(key.astype(np.int64))
    metadata["numpy"] = json.dumps([name, int(position), int(has_gauss), float(cached_gaussian)])
    return tensors, metadata


def restore_rng(tensors: dict, metadata: dict[str, str]) -> None:
    """Put back states from `capture_rng` (absent entries, e.g. CUDA saved on a CPU-only host, are left)."""
    import torch

    torch.set_rng_state(tensors["torch.cpu"])
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            if f"torch.cuda.{index}" in tensors:
                torch.cuda.set_rng_state(tensors[f"torch.cuda.{index}"], index)
    if "python.state" in tensors and "python" in metadata:
        version, gauss_next = json.loads(metadata["python"])
        random.setstate((version, tuple(int(word) for word in tensors["python.state"].tolist()), gauss_next))
    if "numpy.key" in tensors and "numpy" in metadata:
        import numpy as np

        name, position, has_gauss, cached_gaussian = json.loads(metadata["numpy"])
        key = tensors["numpy.key"].numpy().astype(np.uint32)
        np.random.set_state((name, key, position, has_gauss, cached_gaussian))
