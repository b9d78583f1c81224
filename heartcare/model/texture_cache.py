"""Trace texture added to a feature cache made before it, shard by shard, without recomputing the rest.

A cache of a PTB-XL-size build holds hours of Beat and image-encoder work; the texture of its
pictures (heartcare.render.texture, ~0.15 s a page) is what a model with
`GptConfig.image_finding_texture` also reads. Each of the cache's shards gets a
`texture-NNNNN.safetensors` beside it with the texture of that shard's records, written to a
temporary name, renamed, then listed in the manifest's "texture_shards", so an interrupted run
resumes at the first shard not listed. Caches built since hold the texture in their own shards.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.errors import ConfigError, DatasetLayoutError


def add_texture(features: str | Path, dataset: str | Path, progress: bool = True) -> int:
    """Give every shard of the cache `features` the texture of its records' pictures from `dataset`; -> shards written."""
    import pyarrow.parquet as pq
    from safetensors.numpy import save_file

    from heartcare.model.feature_cache import MANIFEST, FeatureCache, _progress, picture_textures

    folder, dataset = Path(features), Path(dataset)
    if not (dataset / "records.parquet").is_file():
        raise DatasetLayoutError(dataset, "not a HeartAgent dataset (no records.parquet)")
    cache = FeatureCache(folder)
    if not cache.serves(dataset):
        raise ConfigError(folder, f"this feature cache was built from another dataset than {dataset}")
    if cache.source.image_encoder is None:
        raise ConfigError(folder, "this cache has no image stream: there are no pictures to read texture from")
    manifest = cache.manifest
    done = manifest.setdefault("texture_shards", {})
    context_images = manifest.get("selection", {}).get("context_images", True)
    table = pq.read_table(dataset / "records.parquet")
    columns = [name for name in ("record_id", "images", "context_image") if name in table.column_names]
    rows = {row["record_id"]: row for row in table.select(columns).to_pylist()}
    shards = manifest["shards"]
    bar = _progress(progress, sum(len(shard["records"]) for shard in shards), f"texture {folder.name}")
    written = 0
    try:
        for shard in shards:
            if shard["file"] in done or cache.has(shard["records"][0], f"texture/{shard['records'][0]}/0"):
                bar.advance(len(shard["records"]))
                continue
            tensors: dict[str, np.ndarray] = {}
            for record in shard["records"]:
                if record not in rows:
                    raise DatasetLayoutError(dataset, f"record {record!r} of {shard['file']} is not in records.parquet")
                made = picture_textures(dataset, rows[record], context_images)
                tensors.update({key: value.astype(np.float16) for key, value in made.items()})
                bar.advance(1)
            name = shard["file"].replace("shard-", "texture-")
            temporary = folder / f".{name}.tmp"
            save_file(tensors, str(temporary))
            temporary.replace(folder / name)
            done[shard["file"]] = name
            write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            written += 1
    finally:
        bar.close()
    return written
