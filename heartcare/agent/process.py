"""One record through HeartAgent: optimize, measure, de-identify, draw, build QA.

Pure per-record work with a record-keyed random generator, so the result does not
depend on which worker or shard ran it (the basis of byte-identical resume).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heartcare.agent.config import BuildConfig
from heartcare.agent.deidentify import Deidentifier, safe_age, sensitive_values
from heartcare.agent.description import QaItem, RecordDescription, stable_hash
from heartcare.agent.optimizer import optimize_pair
from heartcare.agent.questions.closed import closed_items
from heartcare.agent.questions.open import open_items
from heartcare.agent.questions.prediction import (
    CONTEXT_LAYOUT,
    CONTEXT_SAMPLES,
    prediction_items,
    prediction_window,
    target_samples,
)
from heartcare.agent.questions.report import build_report, report_items
from heartcare.agent.splits import assign_split, waveform_hash
from heartcare.agent.stages import StageClock, timed
from heartcare.ecg.record import Ecg
from heartcare.sources.record import LabelledRecord

MEASUREMENT_KEYS = ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "axis_deg")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Sources whose record ids are dataset numbers, not file names that may hold a name.
_ID_KEEPING_SOURCES = frozenset({"ptbxl", "memory"})


@dataclass
class ProcessedRecord:
    """Everything one record contributes: its records.parquet row, signal, images, QA items."""

    row: dict[str, Any]
    signal: np.ndarray  # [12, samples] float32 mV at config.signal_fs, as recorded unless config.denoise
    conditioned: np.ndarray | None = None  # the same window denoised: where prediction targets come from
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (relative path, PNG/JPEG bytes)
    items: list[QaItem] = field(default_factory=list)


def measurements_of(ecg: Ecg, meta: dict[str, Any]) -> dict[str, float | None]:
    """`measure(ecg)` when available; values a source already measured fill the gaps."""
    values: dict[str, float | None] = {key: None for key in MEASUREMENT_KEYS}
    try:
        from heartcare.ecg.measure import measure
    except ImportError:
        measured: dict[str, Any] = {}
    else:
        measured = measure(ecg).to_dict()
    for key in MEASUREMENT_KEYS:
        value = measured.get(key)
        if value is None:
            value = (meta.get("measurements") or {}).get(key, meta.get(key))
        values[key] = None if value is None else round(float(value), 1)
    return values


def public_record_id(record: LabelledRecord, source_kind: str, key: str, salt: str) -> str:
    record_id = record.record_id if record.record_id not in (None, "None") else f"{source_kind}_{key}"
    if source_kind in _ID_KEEPING_SOURCES and _SAFE_ID.match(record_id):
        return record_id
    return f"{source_kind}_{stable_hash(salt, 'record', record_id, key) % 10**12:012d}"


def process_record(
    record: LabelledRecord, extras: dict[str, Any], config: BuildConfig, source_kind: str, key: str, shard: int,
    clock: StageClock | None = None,
) -> ProcessedRecord:
    """Raises `HeartcareError` for an unusable record (the caller skips it); `clock` times the stages."""
    deidentifier = Deidentifier(config.salt)
    record_id = public_record_id(record, source_kind, key, config.salt)
    rng = np.random.default_rng([config.seed, stable_hash(record_id)])
    raw_patient = str(record.patient_id or record_id)
    with timed(clock, "optimize"):
        recorded, conditioned = optimize_pair(record.ecg, config.signal_fs, config.seconds)
    stored = conditioned if config.denoise else recorded
    signal = stored.signal
    meta = {**record.ecg.meta, **record.meta}
    age = safe_age(meta.get("age"))
    sex = meta.get("sex") if meta.get("sex") in ("M", "F") else None
    with timed(clock, "measure"):
        measured = measurements_of(conditioned, meta)
    description = RecordDescription(
        record_id=record_id,
        patient_id=deidentifier.pseudonym(raw_patient),
        labels={code: float(value) for code, value in sorted(record.labels.items())},
        age=age,
        sex=sex,
        measurements=measured,
        noise=tuple(extras.get("noise", ())),
        noise_shown=not config.denoise,
        infarct_stage=extras.get("infarct_stage"),
        extra_beats=extras.get("extra_beats"),
        pacemaker=bool(extras.get("pacemaker", False)),
        date=deidentifier.shift_date(str(meta.get("recording_date") or "") or None, raw_patient),
    )
    with timed(clock, "qa_items"):
        report = build_report(description)
        modalities = ("S", "I") if config.images_per_record > 0 else ("S",)
        items = closed_items(description, rng, modalities)
        items += open_items(description, rng, modalities)
        items += report_items(description, rng, modalities, report)
        start = prediction_window(signal.shape[1], rng)
        context_image = None
        if start is not None and config.images_per_record > 0:
            context_image = f"images/{shard:05d}/{record_id}_context.png"
        items += prediction_items(description, signal.shape[1], start, rng, modalities, context_image)

    images, image_parameters = [], []
    if config.images_per_record > 0:
        from heartcare.agent.images import FORMAT_SUFFIX, draw_context, draw_images

        for index, (data, parameters) in enumerate(
            draw_images(stored, config.images_per_record, config.image_presets, rng, config.image_dpi, age, sex, clock)
        ):
            suffix = FORMAT_SUFFIX[parameters["format"]]
            images.append((f"images/{shard:05d}/{record_id}_{index}.{suffix}", data))
            image_parameters.append(parameters)
        if context_image is not None:
            mask = {"lead_mask": list(map(bool, stored.lead_mask))}
            window = Ecg(stored.signal[:, start : start + CONTEXT_SAMPLES], stored.fs, stored.leads, mask)
            with timed(clock, "context_image"):
                data, parameters = draw_context(window, CONTEXT_LAYOUT, config.image_dpi, age, sex)
            context_parameters = {"start": start, "samples": CONTEXT_SAMPLES, **parameters}

    known = [*sensitive_values(meta), *extras.get("sensitive", [])]
    if len(raw_patient) >= 5:
        known.append(raw_patient)
    strat_fold = extras.get("strat_fold", meta.get("strat_fold"))
    row = {
        "record_id": record_id,
        "patient_id": description.patient_id,
        "split": assign_split(raw_patient, strat_fold, config.seed),
        "source": source_kind,
        "age": age,
        "sex": sex,
        "date": description.date,
        "labels": json.dumps(description.labels, sort_keys=True),
        "report": report,
        "original_report": deidentifier.scrub(record.report, known),
        "measurements": json.dumps(description.measurements, sort_keys=True),
        "noise": list(description.noise),
        "infarct_stage": description.infarct_stage,
        "extra_beats": description.extra_beats,
        "pacemaker": description.pacemaker,
        "signal_fs": int(config.signal_fs),
        "signal_samples": int(signal.shape[1]),
        "waveform_hash": waveform_hash(signal),
        "images": [path for path, _ in images],
        "image_parameters": json.dumps(image_parameters, sort_keys=True),
        "context_image": context_image,
        "context_image_parameters": json.dumps(context_parameters, sort_keys=True) if context_image else None,
        # where the prediction context starts and how long its stored target is; write_shard places the target
        "prediction_start": start,
        "target_samples": target_samples(signal.shape[1], start) if start is not None else None,
    }
    if context_image is not None:
        images.append((context_image, data))
    return ProcessedRecord(row=row, signal=signal, conditioned=conditioned.signal, images=images, items=items)


def description_from_row(row: dict[str, Any]) -> RecordDescription:
    """Rebuild the builder's view of a record from its records.parquet row."""
    return RecordDescription(
        record_id=row["record_id"],
        patient_id=row["patient_id"],
        labels=json.loads(row["labels"]),
        age=row["age"],
        sex=row["sex"],
        measurements=json.loads(row["measurements"]),
        noise=tuple(row["noise"] or ()),
        infarct_stage=row["infarct_stage"],
        extra_beats=row["extra_beats"],
        pacemaker=bool(row["pacemaker"]),
        date=row["date"],
    )
