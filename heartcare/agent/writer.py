"""The dataset folder of DESIGN.md, written shard by shard, atomically.

A shard (config.shard_size records) writes its images, its signal array, its
signal-prediction targets, its QA and skip notes, and last its records part: the records part existing means the shard is
complete, which is all `--resume` checks. Every file goes to a temporary name and is
renamed, so a killed build leaves whole files or none. Rows are batched into Arrow
tables once per shard (no per-item Python writes).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.agent.description import QaItem
from heartcare.atomic import write_atomic

PARTS = "parts"


def qa_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("task", pa.string()),
            ("dimension", pa.string()),
            ("modality", pa.string()),
            ("question", pa.string()),
            ("choices", pa.list_(pa.string())),
            ("answer", pa.string()),
            ("answer_index", pa.int64()),
            ("ecgs", pa.list_(pa.struct([("record_id", pa.string()), ("modality", pa.string())]))),
            ("meta", pa.string()),
        ]
    )


def records_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("record_id", pa.string()),
            ("patient_id", pa.string()),
            ("split", pa.string()),
            ("source", pa.string()),
            ("age", pa.int64()),
            ("sex", pa.string()),
            ("date", pa.string()),
            ("labels", pa.string()),  # JSON {code: likelihood}
            ("report", pa.string()),  # English, built from codes + measurements
            ("original_report", pa.string()),  # the source's text, de-identified
            ("measurements", pa.string()),  # JSON
            ("noise", pa.list_(pa.string())),
            ("infarct_stage", pa.string()),
            ("extra_beats", pa.string()),
            ("pacemaker", pa.bool_()),
            ("signal_fs", pa.int64()),
            ("signal_samples", pa.int64()),
            ("waveform_hash", pa.string()),
            ("images", pa.list_(pa.string())),
            ("image_parameters", pa.string()),  # JSON list, one entry per image
            ("context_image", pa.string()),  # the prediction context drawn as paper (I prediction items)
            ("context_image_parameters", pa.string()),  # JSON: window start/samples + render parameters
            ("signal_file", pa.string()),
            ("signal_offset", pa.int64()),
            ("prediction_start", pa.int64()),  # first context sample of the prediction items (None: too short)
            ("target_file", pa.string()),  # signals/targets-XXXXX.npy: the samples after the context
            ("target_offset", pa.int64()),
            ("target_samples", pa.int64()),  # the longest horizon that fits; shorter ones are its prefix
        ]
    )


def write_table(path: Path, table) -> None:
    """Parquet, atomically; zstd keeps QA text small and the bytes are deterministic."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=65536)
    write_atomic(path, buffer.getvalue())


def items_table(items: list[QaItem]):
    import pyarrow as pa

    return pa.Table.from_pylist([item.to_row() for item in items], schema=qa_schema())


def records_table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=records_schema())


def shard_done(out: Path, shard: int) -> bool:
    return (out / PARTS / f"records-{shard:05d}.parquet").is_file()


def write_shard(
    out: Path, shard: int, rows: list[dict[str, Any]], signals: list[np.ndarray], items: list[QaItem],
    skipped: list[dict[str, str]], images: list[tuple[str, bytes]], conditioned: list[np.ndarray] | None = None,
) -> None:
    """All files of one shard; the records part goes last (the completion marker).

    Prediction targets are cut from `conditioned` (each record's window denoised; `signals`
    when None): the task is the heart's next seconds, not the recording's wander and hum.
    """
    from heartcare.agent.questions.prediction import CONTEXT_SAMPLES, locate_items

    for relative, data in images:
        write_atomic(out / relative, data)
    signal_file, target_file = f"signals/shard-{shard:05d}.npy", f"signals/targets-{shard:05d}.npy"
    offset, target_offset, targets, places = 0, 0, [], {}
    for row, signal, clean in zip(rows, signals, signals if conditioned is None else conditioned, strict=True):
        row["signal_file"] = signal_file
        row["signal_offset"] = offset
        row["target_file"] = row["target_offset"] = None
        if row.get("target_samples"):
            # Targets live apart from the records' signals, so an item's input locator never covers its answer.
            begin = int(row["prediction_start"]) + CONTEXT_SAMPLES
            targets.append(clean[:, begin : begin + int(row["target_samples"])])
            row["target_file"], row["target_offset"] = target_file, target_offset
            places[row["record_id"]] = (signal_file, offset, target_file, target_offset)
            target_offset += int(row["target_samples"])
        offset += signal.shape[1]
    # One [12, total samples] array per shard and kind: records (targets) are column ranges of it.
    save_array(out / signal_file, signals)
    save_array(out / target_file, targets)
    write_table(out / PARTS / f"qa-{shard:05d}.parquet", items_table(locate_items(items, places)))
    write_atomic(out / PARTS / f"skipped-{shard:05d}.json", json.dumps(skipped, indent=1).encode())
    write_table(out / PARTS / f"records-{shard:05d}.parquet", records_table(rows))


def save_array(path: Path, blocks: list[np.ndarray]) -> None:
    """[12, samples] blocks side by side as one float32 .npy, atomically."""
    stacked = np.concatenate(blocks, axis=1) if blocks else np.zeros((12, 0), np.float32)
    buffer = io.BytesIO()
    np.save(buffer, stacked.astype(np.float32), allow_pickle=False)
    write_atomic(path, buffer.getvalue())


def read_shard(out: Path, shard: int):
    """(records table, qa table, skipped notes) of a finished shard."""
    import pyarrow.parquet as pq

    records = pq.read_table(out / PARTS / f"records-{shard:05d}.parquet")
    qa = pq.read_table(out / PARTS / f"qa-{shard:05d}.parquet")
    skipped = json.loads((out / PARTS / f"skipped-{shard:05d}.json").read_text())
    return records, qa, skipped


def load_signal(dataset: str | Path, row: dict[str, Any]) -> np.ndarray:
    """[12, samples] float32 mV of one records.parquet row (memory-mapped read)."""
    array = np.load(Path(dataset) / row["signal_file"], mmap_mode="r", allow_pickle=False)
    start = int(row["signal_offset"])
    return np.asarray(array[:, start : start + int(row["signal_samples"])])


def load_target(dataset: str | Path, row: dict[str, Any]) -> np.ndarray | None:
    """[12, target_samples] float32 mV after the row's prediction context; None without one."""
    if not row.get("target_file"):
        return None
    array = np.load(Path(dataset) / row["target_file"], mmap_mode="r", allow_pickle=False)
    start = int(row["target_offset"])
    return np.asarray(array[:, start : start + int(row["target_samples"])])
