"""Trace texture added to a feature cache made before it (heartcare.model.cache_columns).

The texture of a cache's pictures (heartcare.render.texture, ~0.15 s a page) is what a model
with `GptConfig.image_finding_texture` also reads; caches built since hold it in their own shards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _textures(dataset: Path, row: dict[str, Any], context_images: bool) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from heartcare.model import feature_cache  # looked up per call: tests stand in for it

    return feature_cache.picture_textures(dataset, row, context_images), {}


def add_texture(features: str | Path, dataset: str | Path, progress: bool = True) -> int:
    """Give every shard of the cache `features` the texture of its records' pictures from `dataset`; -> shards written."""
    from heartcare.model.cache_columns import add_column

    return add_column(features, dataset, "texture", _textures, progress=progress)
