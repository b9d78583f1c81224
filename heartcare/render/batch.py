"""Draw many records: a folder of ECG files or a PTB-XL-layout dataset, in parallel.

Bad records are skipped and reported (never fatal); outputs that already exist are
kept, so an interrupted run resumes. Record i gets augmentation seed `seed + i`,
and each image's full parameters are stored inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError, HeartcareError
from heartcare.render.paper import PaperSpec

RECORD_SUFFIXES = (".hea", ".dcm", ".dicom", ".csv", ".npy")  # .dat/.mat belong to a .hea


def write_rendering(
    ecg: Ecg, path: str | Path, layout: str = "3x4+II", spec: PaperSpec | None = None,
    preset: str = "clean", seed: int = 0, rhythm_lead: str = "II",
) -> Path:
    """Draw one record to png/jpg/svg/pdf (by suffix), degraded by `preset` for raster outputs."""
    from heartcare.atomic import write_atomic
    from heartcare.render.augment import augment
    from heartcare.render.output import SUFFIX_FORMATS, encode_image, render
    from heartcare.render.sheet import render_parameters

    spec = spec or PaperSpec()
    path = Path(path)
    format = SUFFIX_FORMATS.get(path.suffix.lower())
    if format is None:
        raise ConfigError(path, f"unknown output suffix {path.suffix!r}; use {', '.join(SUFFIX_FORMATS)}")
    if preset == "clean" or format in ("svg", "pdf"):
        if preset != "clean":
            raise ConfigError(path, f"preset {preset!r} degrades raster images; vector output is always clean")
        return render(ecg, layout, spec, rhythm_lead=rhythm_lead, path=path)
    result = augment(render(ecg, layout, spec, rhythm_lead=rhythm_lead), preset, seed, spec.colours)
    parameters = {**render_parameters(ecg, layout, spec, rhythm_lead), "augment": result.parameters()}
    return write_atomic(path, encode_image(result.image, format, parameters))


@dataclass(frozen=True)
class BatchJob:
    """What every worker needs (plain data, so it crosses process boundaries)."""

    source: Path
    out: Path
    dataset: bool  # True: a PTB-XL-layout folder (items are ecg_ids); False: items are relative file paths
    format: str = "png"
    layout: str = "3x4+II"
    spec: PaperSpec = field(default_factory=PaperSpec)
    preset: str = "clean"
    seed: int = 0
    rhythm_lead: str = "II"
    fs: int = 500  # PTB-XL files to read (100 or 500)
    input_fs: float | None = None  # sampling rate of CSV/NPY files, which do not store one
    allow_flat_leads: bool = False  # mask constant leads instead of skipping the record


@dataclass
class BatchReport:
    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


_DATASETS: dict[Path, Any] = {}


def _read(job: BatchJob, item: str) -> Ecg:
    if job.dataset:
        from heartcare.sources.ptbxl import PtbXlDataset

        if job.source not in _DATASETS:  # one table read per worker process
            _DATASETS[job.source] = PtbXlDataset(job.source, fs=job.fs, allow_flat_leads=job.allow_flat_leads)
        return _DATASETS[job.source].read(int(item)).ecg
    from heartcare.ecg.read import read_ecg

    return read_ecg(job.source / item, fs=job.input_fs, allow_flat_leads=job.allow_flat_leads)


def _target(job: BatchJob, item: str) -> Path:
    if job.dataset:
        return job.out / f"{int(item):05d}.{job.format}"
    return job.out / Path(item).with_suffix(f".{job.format}")  # outputs mirror the source tree


def _render_chunk(job: BatchJob, chunk: list[tuple[int, str]]) -> list[tuple[str, str, str]]:
    """(status, item, detail) per item: status is written, existing or skipped."""
    results = []
    for index, item in chunk:
        target = _target(job, item)
        if target.exists():
            results.append(("existing", item, str(target)))
            continue
        try:
            ecg = _read(job, item)
            write_rendering(ecg, target, job.layout, job.spec, job.preset, job.seed + index, job.rhythm_lead)
            results.append(("written", item, str(target)))
        except HeartcareError as error:
            results.append(("skipped", item, str(error)))
        except (ValueError, OSError, KeyError) as error:  # a damaged file must not stop the batch
            results.append(("skipped", item, f"{job.source / item}: {type(error).__name__}: {error}"))
    return results


def find_items(source: Path) -> tuple[bool, list[str]]:
    """(is PTB-XL dataset, items): its ecg_ids, or record files under the folder as relative paths."""
    if (source / "ptbxl_database.csv").is_file():
        import pandas as pd

        table = pd.read_csv(source / "ptbxl_database.csv", usecols=["ecg_id"])
        return True, [str(int(ecg_id)) for ecg_id in table["ecg_id"]]
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES)
    return False, [str(p.relative_to(source)) for p in files]


def render_many(
    source: str | Path, out: str | Path, workers: int = 1,
    progress: Callable[[int, int], None] | None = None, chunk_size: int = 8, **options: Any,
) -> BatchReport:
    """Draw every record under `source` into `out`. options: BatchJob fields (format, layout, spec, preset, ...)."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise ConfigError(source, "not a folder")
    dataset, items = find_items(source)
    job = BatchJob(source=source, out=out, dataset=dataset, **options)
    indexed = list(enumerate(items))
    chunks = [indexed[start : start + chunk_size] for start in range(0, len(indexed), chunk_size)]
    report = BatchReport()
    done = 0

    def collect(results: list[tuple[str, str, str]]) -> None:
        nonlocal done
        for status, item, detail in results:
            if status == "skipped":
                report.skipped.append({"record": item, "reason": detail})
            else:
                getattr(report, status).append(detail)
        done += len(results)
        if progress:
            progress(done, len(items))

    if workers <= 1:
        for chunk in chunks:
            collect(_render_chunk(job, chunk))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for results in pool.map(_render_chunk, [job] * len(chunks), chunks):
                collect(results)
    return report
