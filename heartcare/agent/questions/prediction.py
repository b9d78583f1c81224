"""Signal prediction: a 4-s context window -> the next 2 s (Beat's windows), plus a 1-s horizon.

Every item exists twice, like every single-ECG item: "S" (the model reads the 4-s
context as signal) and "I" (it reads the same 4 s drawn as a 12 x 1 paper sheet,
`context_image`). Both horizons share one context window, so a record needs one
context image and one stored target (the 1-s target is the first second of the 2-s one).

Item meta (dataset format 2; DESIGN.md "Dataset on disk"):
  fs: 250; horizon_s: 2.0 | 1.0; window_start_s: where the context starts in the record
  context: {"file": "signals/shard-00000.npy", "offset": N, "samples": 1000}
      the model's only input: columns N..N+1000 of that [12, total] float32 mV array
  target: {"file": "signals/targets-00000.npy", "offset": M, "samples": 500}
      the answer, stored apart from every record's signal (same units and rate)
  image, layout: "I" items only: the context drawn as one 12x1 sheet (context only)
`prediction_items` writes record-relative offsets with "file": None; `write_shard`,
which knows where each record lands in the shard arrays, places them (`locate_items`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from heartcare.agent.description import QaItem, RecordDescription, item_id, patient_phrase
from heartcare.agent.templates import choose, fill
from heartcare.errors import ConfigError

PREDICTION_FS = 250  # Beat works at 250 Hz (DESIGN.md, Beat windows)
CONTEXT_SAMPLES = 1000  # 4 s
HORIZONS_SAMPLES = (500, 250)  # 2 s (paper) and the 1-s variant
STEP_SAMPLES = 50  # windows move in whole 0.2-s steps
PREDICTION_ANSWER = "<prediction>"  # the model answers this token; Beat's head makes the waveform
CONTEXT_LAYOUT = "12x1"  # every lead over the whole 4-s context
TEMPLATE_FILE = "templates/prediction.json"
MINIMUM_PHRASINGS = 30  # issue 18 item 6
TASK = "signal_prediction"


@cache
def prediction_templates() -> dict[str, Any]:
    """The phrasing bank of `templates/prediction.json`, checked so a broken edit fails at first use."""
    bank = json.loads(resources.files("heartcare.agent").joinpath(TEMPLATE_FILE).read_text(encoding="utf-8"))
    questions = bank.get("questions", [])
    if len(set(questions)) < MINIMUM_PHRASINGS:
        raise ConfigError(TEMPLATE_FILE, f"has {len(set(questions))} distinct questions, needs {MINIMUM_PHRASINGS}")
    if sorted(bank.get("sources", {})) != ["I", "S"]:
        raise ConfigError(TEMPLATE_FILE, "needs source phrases for modalities S and I")
    sample = window_phrases(1000, 2.0, 4.0) | {"patient": "a patient", "source": "this excerpt"}
    for question in questions:
        try:
            fill(question, **sample)
        except (ConfigError, ValueError) as error:  # an unknown slot or a broken brace
            raise ConfigError(TEMPLATE_FILE, f"question {question!r}: {error}") from error
    return bank


def seconds_phrase(seconds: float) -> str:
    """'2 seconds', '1 second', '3.2 seconds'."""
    return "1 second" if seconds == 1 else f"{seconds:g} seconds"


def window_phrases(start: int, horizon_s: float, context_s: float) -> dict[str, str]:
    """The template slots that describe the window: never 'first' for a window that starts later."""
    start_s = start / PREDICTION_FS
    position = (
        "taken from the start of the recording" if start == 0 else f"taken {seconds_phrase(start_s)} into the recording"
    )
    return {
        "context": seconds_phrase(context_s),
        "context_adjective": f"{context_s:g}-second",
        "horizon": seconds_phrase(horizon_s),
        "horizon_adjective": f"{horizon_s:g}-second",
        "next_horizon": "the next second" if horizon_s == 1 else f"the next {horizon_s:g} seconds",
        "position": position,
    }


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


def target_samples(samples: int, start: int | None) -> int:
    """Length of the stored target: the longest horizon that fits after the context (0: none)."""
    if start is None:
        return 0
    return max((h for h in HORIZONS_SAMPLES if start + CONTEXT_SAMPLES + h <= samples), default=0)


def prediction_items(
    description: RecordDescription,
    samples: int,
    start: int | None,
    rng: np.random.Generator,
    modalities: tuple[str, ...] = ("S",),
    context_image: str | None = None,
) -> list[QaItem]:
    """One item per horizon that fits into `samples` and per modality ("S", "I"); offsets still record-relative.

    start: from `prediction_window`; context_image: the dataset-relative path of the
    context drawn as paper (required when "I" is among `modalities`).
    """
    if start is None:
        return []
    if "I" in modalities and context_image is None:
        raise ValueError("image prediction items need the context image path")
    bank = prediction_templates()
    items = []
    for horizon in HORIZONS_SAMPLES:
        if start + CONTEXT_SAMPLES + horizon > samples:
            continue
        slots = window_phrases(start, horizon / PREDICTION_FS, CONTEXT_SAMPLES / PREDICTION_FS)
        for modality in modalities:
            question = fill(
                choose(rng, bank["questions"]),
                patient=patient_phrase(description),
                source=choose(rng, bank["sources"][modality]),
                **slots,
            )
            meta: dict[str, Any] = {
                "fs": PREDICTION_FS,
                "horizon_s": horizon / PREDICTION_FS,
                "window_start_s": start / PREDICTION_FS,
                "context": {"file": None, "offset": start, "samples": CONTEXT_SAMPLES},
                "target": {"file": None, "offset": 0, "samples": horizon},
            }
            if modality == "I":
                meta.update(image=context_image, layout=CONTEXT_LAYOUT)
            items.append(
                QaItem(
                    id=item_id(description.record_id, TASK, horizon, *(() if modality == "S" else (modality,))),
                    task=TASK,
                    dimension="rhythm",
                    modality=modality,  # type: ignore[arg-type]
                    question=question,
                    answer=PREDICTION_ANSWER,
                    ecgs=((description.record_id, modality),),
                    meta=meta,
                )
            )
    return items


def locate_items(
    items: list[QaItem], places: dict[str, tuple[str, int, str, int]]
) -> list[QaItem]:
    """Prediction items with shard-level locators; other items unchanged.

    places: record_id -> (signal file, record offset, target file, target offset) in
    the shard arrays, as `write_shard` lays them out.
    """
    located = []
    for item in items:
        if item.task != TASK or item.meta["context"]["file"] is not None:
            located.append(item)
            continue
        signal_file, record_offset, target_file, target_offset = places[item.ecgs[0][0]]
        context, target = item.meta["context"], item.meta["target"]
        meta = {
            **item.meta,
            "context": {"file": signal_file, "offset": record_offset + context["offset"], "samples": context["samples"]},
            "target": {"file": target_file, "offset": target_offset + target["offset"], "samples": target["samples"]},
        }
        located.append(replace(item, meta=meta))
    return located
