"""`calibrate_projectors`: start both projectors at the scale of the backbone's own token embeddings.

Run once when a HeartcareGPT is built for training from scratch (not when a stage starts
from another checkpoint): a seeded sample of the train items is collated exactly as
training collates it, so each projector is fitted on the very tensors it will receive.
"""

from __future__ import annotations

import random
from typing import Any

CALIBRATION_ITEMS = 256


def text_embedding_norm(model) -> float:
    """Mean L2 norm of the backbone's own (pre-ECG-token) input embedding rows."""
    rows = model.language_model.get_input_embeddings().weight[: model.base_vocabulary]
    return float(rows.detach().float().norm(dim=-1).mean())


def calibrate_projectors(model, dataset, collate, seed: int = 0, items: int = CALIBRATION_ITEMS) -> dict[str, Any]:
    """Fit each projector's input statistics and output scale on up to `items` examples of `dataset`
    (an ItemDataset); return what was measured, for the run's record."""
    indices = sorted(random.Random(seed).sample(range(len(dataset)), min(items, len(dataset))))
    batch = collate([dataset[index] for index in indices])
    target = text_embedding_norm(model)
    report: dict[str, Any] = {"items": len(indices), "text_embedding_norm": round(target, 4)}
    for name, key in (("signal_projector", "signal"), ("image_projector", "image")):
        projector, features = getattr(model, name), batch.get(key)
        if projector is None or features is None or len(features) < 2:
            continue
        projector.calibrate(features, target)
        report[name] = {"rows": int(len(features))}
    return report
