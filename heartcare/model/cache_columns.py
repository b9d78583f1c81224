"""A column added to a feature cache made before it, shard by shard, without recomputing the rest.

A cache of a PTB-XL-size build holds hours of Beat and image-encoder work; what a later reader
also needs of each record's pictures (their trace texture, what the digitiser reads off the page)
is added beside it: each shard gets `COLUMN-NNNNN.safetensors` with that column's tensors of the
shard's records, written to a temporary name, renamed, then listed in the manifest's
"COLUMN_shards", so an interrupted run resumes at the first shard not listed. Records whose
pictures could not be read are listed with the reason under "COLUMN_unread" (their tensors say
so too: nothing is dropped).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.errors import ConfigError, DatasetLayoutError

# (dataset, record row, context_images) -> (tensors, {key: why the picture was not read})
Compute = Callable[[Path, dict[str, Any], bool], tuple[dict[str, np.ndarray], dict[str, str]]]


def add_column(features: str | Path, dataset: str | Path, column: str, compute: Compute, progress: bool = True,
               workers: int = 1, dtype: type = np.float16) -> int:
    """Give every shard of the cache `features` the `column` tensors of its records (`compute` per
    record row of `dataset`, in `workers` processes when > 1: it must then be a module-level
    function); -> shards written."""
    import pyarrow.parquet as pq
    from safetensors.numpy import save_file

    from heartcare.model.feature_cache import MANIFEST, FeatureCache, _progress

    folder, dataset = Path(features), Path(dataset)
    if not (dataset / "records.parquet").is_file():
        raise DatasetLayoutError(dataset, "not a HeartAgent dataset (no records.parquet)")
    cache = FeatureCache(folder)
    if not cache.serves(dataset):
        raise ConfigError(folder, f"this feature cache was built from another dataset than {dataset}")
    if cache.source.image_encoder is None:
        raise ConfigError(folder, f"this cache has no image stream: there are no pictures to read {column} from")
    manifest = cache.manifest
    done = manifest.setdefault(f"{column}_shards", {})
    context_images = manifest.get("selection", {}).get("context_images", True)
    table = pq.read_table(dataset / "records.parquet")
    columns = [name for name in ("record_id", "images", "context_image") if name in table.column_names]
    rows = {row["record_id"]: row for row in table.select(columns).to_pylist()}
    shards = manifest["shards"]
    bar = _progress(progress, sum(len(shard["records"]) for shard in shards), f"{column} {folder.name}")
    pool = None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers)
    written = 0
    try:
        for shard in shards:
            if shard["file"] in done or cache.has(shard["records"][0], f"{column}/{shard['records'][0]}/0"):
                bar.advance(len(shard["records"]))
                continue
            missing = [record for record in shard["records"] if record not in rows]
            if missing:
                raise DatasetLayoutError(dataset, f"record {missing[0]!r} of {shard['file']} is not in records.parquet")
            jobs = [rows[record] for record in shard["records"]]
            results = (pool.map(compute, [dataset] * len(jobs), jobs, [context_images] * len(jobs)) if pool is not None
                       else (compute(dataset, row, context_images) for row in jobs))
            tensors: dict[str, np.ndarray] = {}
            problems: dict[str, str] = {}
            for made, reasons in results:
                tensors.update({key: value.astype(dtype) for key, value in made.items()})
                problems.update(reasons)
                bar.advance(1)
            name = shard["file"].replace("shard-", f"{column}-")
            temporary = folder / f".{name}.tmp"
            save_file(tensors, str(temporary))
            temporary.replace(folder / name)
            done[shard["file"]] = name
            if problems:  # a column every picture yields (texture) lists nothing
                manifest.setdefault(f"{column}_unread", {}).update(problems)
            write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            written += 1
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return written
