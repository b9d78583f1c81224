"""Signal prediction: 4 s of context -> the next 2 s (Beat's windows), plus a 1-s horizon.

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
PREDICTION_ANSWER = "<prediction>"  # the model answers this token; Beat's head makes the waveform


def prediction_items(description: RecordDescription, samples: int, rng: np.random.Generator) -> list[QaItem]:
    """One item per horizon that fits into `samples` (the stored 250 Hz length)."""
    bank = template_bank()
    items = []
    for horizon in HORIZONS_SAMPLES:
        span = CONTEXT_SAMPLES + horizon
        if samples < span:
            continue
        # Right-aligned like Beat's right-to-left cutting, shifted by a random whole
        # number of 0.2-s steps so items do not all end at the last sample.
        steps = (samples - span) // 50
        start = samples - span - 50 * int(rng.integers(steps + 1))
        question = fill(
            choose(rng, bank["signal_prediction"]),
            patient=patient_phrase(description),
            source=choose(rng, bank["source_nouns"]["S"]),
            context_s=f"{CONTEXT_SAMPLES / PREDICTION_FS:g}",
            horizon_s=f"{horizon / PREDICTION_FS:g}",
        )
        items.append(
            QaItem(
                id=item_id(description.record_id, "signal_prediction", horizon),
                task="signal_prediction",
                dimension="rhythm",
                modality="S",
                question=question,
                answer=PREDICTION_ANSWER,
                ecgs=((description.record_id, "S"),),
                meta={
                    "fs": PREDICTION_FS,
                    "context": [start, start + CONTEXT_SAMPLES],
                    "target": [start + CONTEXT_SAMPLES, start + span],
                    "horizon_s": horizon / PREDICTION_FS,
                },
            )
        )
    return items
