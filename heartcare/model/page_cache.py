"""What the digitiser reads off each picture, added to a feature cache (heartcare.model.cache_columns).

A picture finding reader given only the pooled image features reads picture waveform answers at
47-49%; with the morphology the digitiser reads off the page (heartcare.render.digitize: median-beat
amplitudes per lead, PR, QRS, QT, rate, voltage criteria) 54.7% (benchmarks/waveform_readability.py).
Digitising is slow (~0.45 s a page on one core), so it is done once per cache, in worker processes:
`heartcare gpt features DATASET --out CACHE --add-page-morphology`. Each picture gets
"page/<id>/<k>" ([morphology WIDTH + 1] float32: the descriptors and a last 1.0 when the page was
read; zeros when it was not, its reason listed under the manifest's "page_unread"), read by a model
with `GptConfig.image_finding_page`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def page_width() -> int:
    """Columns of one picture's page reading: the morphology descriptors and the read flag."""
    from heartcare.ecg.morphology import WIDTH

    return WIDTH + 1


def picture_pages(dataset: Path, row: dict[str, Any], context_images: bool = True) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The page reading of each paper image of a record row (and of its drawn context), and why any was not read."""
    from heartcare.render.digitize import page_morphology_of_file

    record_id, tensors, unread = row["record_id"], {}, {}
    pictures = [(f"page/{record_id}/{index}", relative) for index, relative in enumerate(row.get("images") or [])]
    if context_images and row.get("context_image"):
        pictures.append((f"context_page/{record_id}", row["context_image"]))
    for key, relative in pictures:
        tensors[key], reason = page_morphology_of_file(str(Path(dataset) / relative))
        if reason is not None:
            unread[key] = reason
    return tensors, unread


def add_page_morphology(features: str | Path, dataset: str | Path, progress: bool = True, workers: int = 1) -> int:
    """Give every shard of the cache `features` the page readings of its records' pictures; -> shards written."""
    from heartcare.model.cache_columns import add_column

    return add_column(features, dataset, "page", picture_pages, progress=progress, workers=workers, dtype=np.float32)
