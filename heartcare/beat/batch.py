"""Encode many ECG files with Beat: many records per encoder call, optionally prepared in worker processes.

One file at a time, a 10-s record is 3 windows and the encoder runs far below its
batch rate. Here windows of consecutive records are stacked into one
`encode_windows` call and each record's codes are split back out; codes equal those
of `encode_ecg` file by file (windows are encoded independently; tested). With
`workers` > 1 and a large folder, worker processes read and clean a block of files
at a time (memory stays flat on any folder size)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from heartcare.beat.config import BeatConfig
from heartcare.beat.files import PreparedRecord, output_name, prepare_record, token_file
from heartcare.beat.tokens import TOKEN_SUFFIX
from heartcare.errors import HeartcareError

# Files per worker task, tasks per worker in one block, and the fewest files worth
# starting worker processes for: spawning them costs 2-3 s of imports and they save
# about 5 ms per file on 2 cores (measured with benchmarks/beat_files.py).
FILES_PER_TASK = 16
TASKS_PER_WORKER = 2
FEWEST_FILES_FOR_WORKERS = 500


@dataclass
class EncodeReport:
    """What a batch encode wrote (in input order) and what it skipped, with the reason."""

    written: list[Path] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def encode_files(
    model,
    paths: list[Path],
    out: Path,
    fs: float | None = None,
    workers: int = 1,
    batch_windows: int = 128,
    progress: Callable[[int, int], None] | None = None,
) -> EncodeReport:
    """Encode `paths` to `out`/<name>.beat.safetensors (written atomically); bad files are
    recorded in the report with the reason and the rest go on. Two inputs with the same
    output name would overwrite each other, so the later one is skipped, never lost silently."""
    out.mkdir(parents=True, exist_ok=True)
    report = EncodeReport()
    owners: dict[str, Path] = {}
    unique: list[Path] = []
    for path in paths:
        name = output_name(path)
        if name in owners:
            report.skipped.append({"path": str(path), "reason": f"same output name '{name}' as {owners[name]}"})
        else:
            owners[name] = path
            unique.append(path)
    done = len(report.skipped)
    pending: list[tuple[Path, PreparedRecord, object, int, int]] = []

    def flush() -> None:
        nonlocal done
        if not pending:
            return
        import torch

        codes, _ = model.encode_windows(torch.cat([windows for _, _, windows, _, _ in pending]))
        start = 0
        for path, record, _, count, padding in pending:
            record_codes = codes[start : start + count].reshape(count * model.config.queries, -1).numpy()
            start += count
            tokens = token_file(record, record_codes, count, padding, model.config)
            report.written.append(tokens.save(out / f"{output_name(path)}{TOKEN_SUFFIX}"))
        done += len(pending)
        pending.clear()
        if progress:
            progress(done, len(paths))

    waiting = 0
    for path, prepared in _prepared_records(unique, model.config, fs, workers):
        reason = prepared if isinstance(prepared, str) else None
        if reason is None:
            try:
                windows, count, padding = model.segment(prepared.signal, prepared.lead_mask)
            except HeartcareError as error:
                reason = f"{path}: {error.problem}"
        if reason is not None:
            report.skipped.append({"path": str(path), "reason": reason})
            done += 1
            continue
        pending.append((path, prepared, windows, count, padding))
        waiting += count
        if waiting >= batch_windows:
            flush()
            waiting = 0
    flush()
    if progress:
        progress(len(paths), len(paths))
    return report


def _prepared_records(
    paths: list[Path], config: BeatConfig, fs: float | None, workers: int
) -> Iterator[tuple[Path, PreparedRecord | str]]:
    """(path, prepared record or the reason it could not be read), in input order."""
    tasks = [paths[start : start + FILES_PER_TASK] for start in range(0, len(paths), FILES_PER_TASK)]
    if workers <= 1 or len(paths) < FEWEST_FILES_FOR_WORKERS:
        for task in tasks:
            yield from _prepare_files(task, config, fs)
        return
    # Spawned, not forked: the parent holds torch's thread pools, which a fork does not carry.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        # Phases, not a pipeline: the workers prepare a block of files with every core, then
        # sit idle while the encoder uses every core on it. Preparing alongside the encoder
        # was slower on 2 cores (its window-parallel threads wait on descheduled ones), and
        # a block at a time also keeps memory flat on any folder size.
        block = TASKS_PER_WORKER * workers
        for start in range(0, len(tasks), block):
            for future in [pool.submit(_prepare_files, task, config, fs) for task in tasks[start : start + block]]:
                yield from future.result()


def _prepare_files(paths: list[Path], config: BeatConfig, fs: float | None) -> list[tuple[Path, PreparedRecord | str]]:
    """Read and prepare each file; a file that cannot be read gives its reason instead."""
    from heartcare.ecg.read import read_ecg

    results: list[tuple[Path, PreparedRecord | str]] = []
    for path in paths:
        try:
            ecg = read_ecg(path, fs=fs) if fs else read_ecg(path)
            results.append((path, prepare_record(ecg, config)))
        except HeartcareError as error:
            results.append((path, str(error)))
    return results
