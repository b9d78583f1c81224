"""Beat on many ECG files: windows of many records per model call, optionally prepared in worker processes.

One file at a time, a 10-s record is 3 windows (a forecast: 1) and the model runs
far below its batch rate. Here windows of consecutive records are stacked into one
`encode_windows` (or `predict`) call and each record's share is split back out;
results equal those of `encode_ecg` / `predict_ecg` file by file (windows are
independent; tested). With `workers` > 1 and a large folder, worker processes read
and clean a block of files at a time (memory stays flat on any folder size)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.beat.config import BeatConfig
from heartcare.beat.files import (
    PreparedContext,
    PreparedRecord,
    forecast_of,
    output_name,
    prepare_context,
    prepare_record,
    token_file,
)
from heartcare.beat.tokens import TOKEN_SUFFIX
from heartcare.errors import HeartcareError

# Files per worker task, tasks per worker in one block, and the fewest files worth
# starting worker processes for: spawning them costs 2-3 s of imports and they save
# about 5 ms per file on 2 cores (measured with benchmarks/beat_files.py).
FILES_PER_TASK = 16
TASKS_PER_WORKER = 2
FEWEST_FILES_FOR_WORKERS = 500

Progress = Callable[[int, int], None]


@dataclass
class FilesReport:
    """What a batch job wrote (in input order) and what it skipped, with the reason."""

    written: list[Path] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def claim_outputs(paths: list[Path], report: FilesReport) -> list[Path]:
    """The inputs whose output name is still free, in order. Two inputs with the same name
    (rec.hea beside rec.dcm, or the same stem in two subfolders) would overwrite each
    other's output, so the later one is recorded as skipped, never lost silently."""
    owners: dict[str, Path] = {}
    for path in paths:
        name = output_name(path)
        if name in owners:
            report.skipped.append({"path": str(path), "reason": f"same output name '{name}' as {owners[name]}"})
        else:
            owners[name] = path
    return list(owners.values())


def encode_files(
    model,
    paths: list[Path],
    out: Path,
    fs: float | None = None,
    allow_flat_leads: bool = False,
    workers: int = 1,
    batch_windows: int = 128,
    progress: Progress | None = None,
) -> FilesReport:
    """Encode `paths` to `out`/<name>.beat.safetensors (written atomically); bad files are
    recorded in the report with the reason and the rest go on. `fs` and `allow_flat_leads`
    are passed to `read_ecg` (the rate of CSV/NPY files; mask flat leads instead of skipping)."""

    def windows_of(record: PreparedRecord) -> tuple[Any, tuple[int, int]]:
        windows, count, padding = model.segment(record.signal, record.lead_mask)
        return windows, (count, padding)

    def write(batch: list[tuple[Path, PreparedRecord, Any, tuple[int, int]]], windows) -> Iterator[Callable[[], Path]]:
        codes, _ = model.encode_windows(windows.to(model.device))
        start = 0
        for path, record, _, (count, padding) in batch:
            record_codes = codes[start : start + count].reshape(count * model.config.queries, -1).cpu().numpy()
            start += count
            tokens = token_file(record, record_codes, count, padding, model.config)
            yield partial(tokens.save, out / f"{output_name(path)}{TOKEN_SUFFIX}")

    reading = {"fs": fs, "allow_flat_leads": allow_flat_leads}
    return _run(model.config, paths, out, prepare_record, windows_of, write, reading, workers, batch_windows, progress)


def predict_files(
    model,
    paths: list[Path],
    out: Path,
    fs: float | None = None,
    allow_flat_leads: bool = False,
    workers: int = 1,
    batch_windows: int = 128,
    format: str = "npy",
    progress: Progress | None = None,
) -> FilesReport:
    """Forecast the `horizon` samples after the end of each file to `out`/<name>_prediction
    in `format` (mV, model rate, written atomically); bad files are recorded with the reason.
    `fs` and `allow_flat_leads` as in `encode_files`."""
    import torch

    from heartcare.ecg.write import write_ecg

    def windows_of(context: PreparedContext) -> tuple[Any, None]:
        return torch.from_numpy(context.window)[None], None

    def write(batch: list[tuple[Path, PreparedContext, Any, None]], windows) -> Iterator[Callable[[], Path]]:
        masks = torch.from_numpy(np.stack([context.lead_mask for _, context, _, _ in batch]))
        predicted = model.predict(windows.to(model.device), masks.to(model.device)).cpu().numpy()
        for index, (path, context, _, _) in enumerate(batch):
            forecast = forecast_of(context, predicted[index], model.config)
            yield partial(write_ecg, forecast.prediction, out / f"{output_name(path)}_prediction", format=format)

    reading = {"fs": fs, "allow_flat_leads": allow_flat_leads}
    return _run(model.config, paths, out, prepare_context, windows_of, write, reading, workers, batch_windows, progress)


def _run(
    config: BeatConfig,
    paths: list[Path],
    out: Path,
    prepare: Callable[[Any, BeatConfig], Any],
    windows_of: Callable[[Any], tuple[Any, Any]],
    write: Callable[[list, Any], Iterator[Callable[[], Path]]],
    reading: dict[str, Any],
    workers: int,
    batch_windows: int,
    progress: Progress | None,
) -> FilesReport:
    """Prepare each file, gather about `batch_windows` windows, run the model on them in
    one call (`write`, which yields one saver per file, in order), record every file
    that could not be read, prepared or saved with the reason, and report progress."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    report = FilesReport()
    unique = claim_outputs(paths, report)
    done = len(report.skipped)
    pending: list[tuple[Path, Any, Any, Any]] = []
    waiting = 0

    def flush() -> None:
        nonlocal done, waiting
        if pending:
            savers = write(pending, torch.cat([windows for _, _, windows, _ in pending]))
            for (path, *_), save in zip(pending, savers, strict=True):
                try:
                    report.written.append(save())
                except HeartcareError as error:
                    report.skipped.append({"path": str(path), "reason": f"{path}: {error.problem}"})
            done += len(pending)
            pending.clear()
            waiting = 0
        if progress:
            progress(done, len(paths))

    for path, prepared in _prepared(unique, prepare, config, reading, workers):
        reason = prepared if isinstance(prepared, str) else None
        if reason is None:
            try:
                windows, extra = windows_of(prepared)
            except HeartcareError as error:
                reason = f"{path}: {error.problem}"
        if reason is not None:
            report.skipped.append({"path": str(path), "reason": reason})
            done += 1
            continue
        pending.append((path, prepared, windows, extra))
        waiting += windows.shape[0]
        if waiting >= batch_windows:
            flush()
    flush()
    return report


def _prepared(
    paths: list[Path], prepare: Callable[[Any, BeatConfig], Any], config: BeatConfig, reading: dict[str, Any],
    workers: int,
) -> Iterator[tuple[Path, Any]]:
    """(path, prepared file or the reason it could not be read), in input order."""
    tasks = [paths[start : start + FILES_PER_TASK] for start in range(0, len(paths), FILES_PER_TASK)]
    if workers <= 1 or len(paths) < FEWEST_FILES_FOR_WORKERS:
        for task in tasks:
            yield from _prepare_files(task, prepare, config, reading)
        return
    # Spawned, not forked: the parent holds torch's thread pools, which a fork does not carry.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        # Phases, not a pipeline: the workers prepare a block of files with every core, then
        # sit idle while the model uses every core on it. Preparing alongside the encoder
        # was slower on 2 cores (its window-parallel threads wait on descheduled ones), and
        # a block at a time also keeps memory flat on any folder size.
        block = TASKS_PER_WORKER * workers
        for start in range(0, len(tasks), block):
            futures = [pool.submit(_prepare_files, task, prepare, config, reading) for task in tasks[start : start + block]]
            for future in futures:
                yield from future.result()


def _prepare_files(
    paths: list[Path], prepare: Callable[[Any, BeatConfig], Any], config: BeatConfig, reading: dict[str, Any]
) -> list[tuple[Path, Any]]:
    """Read (`read_ecg(path, **reading)`) and prepare each file; one that cannot be read gives its reason instead."""
    from heartcare.ecg.read import read_ecg

    results: list[tuple[Path, Any]] = []
    for path in paths:
        try:
            ecg = read_ecg(path, **reading)
            results.append((path, prepare(ecg, config)))
        except HeartcareError as error:
            results.append((path, str(error)))
    return results
