"""`build_dataset(config)`: run HeartAgent end to end and write the dataset folder.

Stage 1 (parallel, per shard): load -> optimize -> measure -> de-identify -> draw
images -> single-ECG QA -> write shard. Stage 2 (once): drop cross-split duplicate
waveforms, build comparison pairs within each split, optional LLM rewriting, write
records.parquet, qa/{split}.parquet, the card and dataset.json.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.agent.config import BuildConfig
from heartcare.agent.description import QaItem
from heartcare.agent.inputs import RecordSource, open_source
from heartcare.agent.writer import PARTS, shard_done, write_shard
from heartcare.atomic import write_atomic
from heartcare.errors import ConfigError, HeartcareError

CONFIG_FILE = "build_config.json"
REPORT_FILE = "build_report.json"

_WORKER_SOURCES: list[RecordSource] = []
_WORKER_CONFIG: BuildConfig | None = None


@dataclass(frozen=True)
class BuildResult:
    out: Path
    records: int
    items: int
    skipped: int
    seconds: float
    records_per_second: float


# What the record path imports on its first record (scipy.signal alone takes 1-2 s):
# imported once in the parent before the pool forks, so workers start warm.
WARM_MODULES = (
    "heartcare.agent.process", "heartcare.agent.images", "heartcare.agent.png", "heartcare.ecg.preprocess",
    "heartcare.ecg.quality", "heartcare.ecg.measure", "heartcare.render", "heartcare.render.sheet",
    "heartcare.render.augment", "scipy.signal", "PIL.Image", "PIL.PngImagePlugin", "pyarrow.parquet", "isal.isal_zlib",
)


def warm_imports() -> None:
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # optional extras (isal) or modules not built yet
            continue


# glibc mallopt parameters (malloc.h): serve blocks up to 32 MB from the heap, and
# return the heap's free top to the kernel only past 256 MB.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> None:
    """Let this process reuse freed image buffers instead of page-faulting fresh ones in.

    A record allocates and frees many multi-megabyte arrays (an 1100x850 RGB float32
    image is 11 MB). glibc maps such blocks with mmap and unmaps them on free, so each
    new one is faulted in page by page again: ~15% of a worker's time at 100 dpi.
    Kept in the heap, memory stays at one record's peak (+8 MB measured). No-op
    without glibc's malloc.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)


def _init_worker(sources: list[RecordSource], config: BuildConfig) -> None:
    global _WORKER_SOURCES, _WORKER_CONFIG
    _WORKER_SOURCES, _WORKER_CONFIG = sources, config
    keep_freed_memory()


def run_shard(shard: int, jobs: list[tuple[int, str]]) -> tuple[int, int, int, dict[str, float]]:
    """Process and write one shard in this process; returns (shard, records, skipped, stage seconds)."""
    from heartcare.agent.process import process_record
    from heartcare.agent.stages import StageClock

    config = _WORKER_CONFIG
    assert config is not None
    out = Path(config.out)
    clock = StageClock()
    rows, signals, conditioned, items, images, skipped = [], [], [], [], [], []
    for source_index, key in jobs:
        source = _WORKER_SOURCES[source_index]
        try:
            with clock.stage("load"):
                record, extras = source.load(key)
            inner = sum(clock.seconds.values())
            started = time.perf_counter()
            processed = process_record(record, extras, config, source.kind, key, shard, clock)
            # what process_record spends outside its timed stages (de-identification, row building)
            clock.seconds["deidentify_row"] += time.perf_counter() - started - (sum(clock.seconds.values()) - inner)
        except HeartcareError as error:
            # The message names the file; a key may be a path, so keep only what the error says.
            reason, shown_key = str(error), key
            if source.kind not in ("ptbxl", "memory"):
                # File names of hospital exports may hold names: keep only the extension.
                shown_key = f"<file>{Path(key).suffix}"
                reason = reason.replace(key, shown_key).replace(Path(key).name, shown_key)
            skipped.append({"source": source.kind, "key": shown_key, "reason": reason})
            continue
        rows.append(processed.row)
        signals.append(processed.signal)
        conditioned.append(processed.signal if processed.conditioned is None else processed.conditioned)
        items.extend(processed.items)
        images.extend(processed.images)
    with clock.stage("write_shard"):
        write_shard(out, shard, rows, signals, items, skipped, images, conditioned)
    return shard, len(rows), len(skipped), dict(clock.seconds)


def _prepare_folder(out: Path, config: BuildConfig) -> None:
    marker = out / CONFIG_FILE
    if marker.exists():
        saved = marker.read_text()
        if not config.resume:
            raise ConfigError(out, "already holds a build; pass --resume to continue it or choose another --out")
        if saved != config.fingerprint():
            raise ConfigError(out, "was built with a different configuration; --resume needs the same one")
        for stray in out.rglob(".*.tmp"):  # half-written files of a killed run
            stray.unlink()
        return
    if out.exists() and any(out.iterdir()):
        raise ConfigError(out, "exists and is not empty (and is not a HeartAgent build)")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, config.fingerprint().encode())


def build_dataset(
    config: BuildConfig, sources: list[RecordSource] | None = None, progress: bool = True
) -> BuildResult:
    """Build (or resume) the dataset described by `config`; returns its counts and speed.

    sources: record sources to use instead of opening `config.sources` (tests,
    notebooks); "ecgqa:" entries in config.sources are always applied.
    """
    started = time.perf_counter()
    out = Path(config.out)
    if sources is None:
        sources = [open_source(spec) for spec in config.sources if not spec.startswith("ecgqa:")]
    if not sources:
        raise ConfigError(None, "no record source given (ptbxl:, dicom: or pdf:)")
    _prepare_folder(out, config)
    if (out / "dataset.json").exists():
        shutil.rmtree(out / PARTS, ignore_errors=True)  # a finished build killed while tidying up
        return _result_from_card(out, started)

    jobs = [(index, key) for index, source in enumerate(sources) for key in source.keys()]
    if config.limit is not None:
        jobs = jobs[: config.limit]
    shards = [jobs[i : i + config.shard_size] for i in range(0, len(jobs), config.shard_size)]
    pending = [index for index in range(len(shards)) if not shard_done(out, index)]
    stages = _run_shards(sources, config, shards, pending, progress)
    stage_one = time.perf_counter() - started

    from heartcare.agent.finalize import finalize

    timing = {"records_stage_s": round(stage_one, 1), "stage_ms_per_record": stages}
    summary = finalize(out, config, len(shards), timing=timing, started=started, progress=progress)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    elapsed = time.perf_counter() - started
    return BuildResult(out, summary["records"], summary["items"], summary["skipped"], elapsed, summary["records"] / max(elapsed, 1e-9))


def _run_shards(sources, config: BuildConfig, shards, pending: list[int], progress: bool) -> dict[str, float]:
    """Runs the pending shards; returns worker ms per record by stage (this run's records only)."""
    from rich.progress import Progress

    from heartcare.agent.stages import StageClock

    clock, records = StageClock(), 0
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("records", total=sum(len(shards[i]) for i in pending))
        if config.workers == 1 or len(pending) <= 1:
            _init_worker(sources, config)
            for index in pending:
                _, done, skipped, seconds = run_shard(index, shards[index])
                clock.merge(seconds)
                records += done + skipped
                bar.advance(task, len(shards[index]))
            return clock.per_record_ms(records)
        warm_imports()
        with ProcessPoolExecutor(config.workers, initializer=_init_worker, initargs=(sources, config)) as pool:
            futures = [pool.submit(run_shard, index, shards[index]) for index in pending]
            for future in futures:
                shard, done, skipped, seconds = future.result()
                clock.merge(seconds)
                records += done + skipped
                bar.advance(task, len(shards[shard]))
    return clock.per_record_ms(records)


def _result_from_card(out: Path, started: float) -> BuildResult:
    card: dict[str, Any] = json.loads((out / "dataset.json").read_text())
    elapsed = time.perf_counter() - started
    return BuildResult(out, card["totals"]["records"], card["totals"]["items"], card["totals"]["skipped"], elapsed, 0.0)


def record_rng(seed: int, *parts: object) -> np.random.Generator:
    from heartcare.agent.description import stable_hash

    return np.random.default_rng([seed, stable_hash(*parts)])


__all__ = ["BuildConfig", "BuildResult", "QaItem", "build_dataset"]
