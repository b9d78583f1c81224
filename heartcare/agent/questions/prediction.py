"""Signal prediction: 4 s of context -> the next 2 s (Beat's windows), plus a 1-s horizon.

Every item exists twice, like every single-ECG item: "S" (the model reads the 4-s
context as signal) and "I" (it reads the same 4 s drawn as a 12 x 1 paper sheet,
`context_image`). The target is always the signal. Both horizons share one context
window, so a record needs one context image, not one per horizon.

Items carry sample ranges into the stored 250 Hz signal, not the samples themselves,
so the Parquet stays small; `meta` says where context and target lie.
"""

from __future__ import annotations

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.templates import choose, fill, template_bank

PREDICTION_FS = 250  # Beat works at 250 Hz (DESIGN.md, Beat windows)
CONTEXT_SAMPLES = 1000  # 4 s
HORIZONS_SAMPLES = (500, 250)  # 2 s (paper) and the 1-s variant
STEP_SAMPLES = 50  # windows move in whole 0.2-s steps
PREDICTION_ANSWER = "<prediction>"  # the model answers this token; Beat's head makes the waveform
CONTEXT_LAYOUT = "12x1"  # every lead over the whole 4-s context


def prediction_window(samples: int, rng: np.random.Generator) -> int | None:
    """Start of the shared 4-s context in a `samples`-long 250 Hz signal, None if too short.

    Right-aligned like Beat's right-to-left cutting for the longest horizon that fits,
    shifted left by a random whole number of 0.2-s steps so items do not all end at
    the last sample.
    """
    fitting = [horizon for horizon in HORIZONS_SAMPLES if samples >= CONTEXT_SAMPLES + horizon]
    if not fitting:
        return None
    span = CONTEXT_SAMPLES + max(fitting)
    steps = (samples - span) // STEP_SAMPLES
    return samples - span - STEP_SAMPLES * int(rng.integers(steps + 1))


def prediction_items(
    description: RecordDescription,
    samples: int,
    start: int | None,
    rng: np.random.Generator,
    modalities: tuple[str, ...] = ("S",),
    context_image: str | None = None,
) -> list[QaItem]:
    """One item per horizon that fits into `samples` and per modality ("S", "I").

    start: from `prediction_window`; context_image: the dataset-relative path of the
    context drawn as paper (required when "I" is among `modalities`).
    """
    if start is None:
        return []
    if "I" in modalities and context_image is None:
        raise ValueError("image prediction items need the context image path")
    bank = template_bank()
    items = []
    for horizon in HORIZONS_SAMPLES:
        if start + CONTEXT_SAMPLES + horizon > samples:
            continue
        for modality in modalities:
            question = fill(
                choose(rng, bank["signal_prediction"]),
                patient=patient_phrase(description),
                source=choose(rng, bank["source_nouns"][modality]),
                context_s=f"{CONTEXT_SAMPLES / PREDICTION_FS:g}",
                horizon_s=f"{horizon / PREDICTION_FS:g}",
            )
            meta = {
                "fs": PREDICTION_FS,
                "context": [start, start + CONTEXT_SAMPLES],
                "target": [start + CONTEXT_SAMPLES, start + CONTEXT_SAMPLES + horizon],
                "horizon_s": horizon / PREDICTION_FS,
            }
            if modality == "I":
                meta.update(image=context_image, layout=CONTEXT_LAYOUT)
            items.append(
                QaItem(
                    id=item_id(description.record_id, "signal_prediction", horizon, *(() if modality == "S" else (modality,))),
                    task="signal_prediction",
                    dimension="rhythm",
                    modality=modality,  # type: ignore[arg-type]
                    question=question,
                    answer=PREDICTION_ANSWER,
                    ecgs=((description.record_id, modality),),
                    meta=meta,
                )
            )
    return items
