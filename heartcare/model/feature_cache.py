"""The feature cache: Beat latents and image features of every record of a dataset, computed once.

Training and evaluation then run only the projectors and the LLM. Layout of a cache
folder (default DATASET/features/NAME):

    manifest.json            what made it (Beat checkpoint and its digest, image encoder, view,
                             the dataset's records digest) and, per finished shard, its file and record ids
    shard-00000.safetensors  float16 tensors "signal/<id>" [windows * 20, dim],
                             "context/<id>" [20, dim] (the signal-prediction context),
                             "recording/<id>", "context_recording/<id>" [156] (what the
                             recording shows before Beat's conditioning, heartcare.ecg.recording;
                             caches made before it lack them),
                             "image/<id>/<k>" [views, D] (k-th paper image), "context_image/<id>",
                             "texture/<id>/<k>", "context_texture/<id>" [29] (the picture's trace
                             texture, heartcare.render.texture)
    texture-00000.safetensors  the texture of a cache made before it (heartcare.model.texture_cache),
                             listed in the manifest's "texture_shards" beside its shard
    page-00000.safetensors   "page/<id>/<k>", "context_page/<id>": what the digitiser reads off each
                             picture (heartcare.model.page_cache), listed in "page_shards"

A shard is written to a temporary name and renamed, then listed in the manifest, so an
interrupted build resumes at the first unlisted shard and never reads half a file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.errors import ConfigError, DatasetLayoutError

MANIFEST = "manifest.json"
SIDE_COLUMNS = ("texture", "page")  # columns that may live in shards added beside a cache's own


@dataclass(frozen=True)
class CacheSource:
    """What the features come from; a cache only serves models built from the same parts."""

    beat: str | None
    beat_digest: str | None
    image_encoder: str | None
    image_view: str


def checkpoint_digest(folder: str | Path | None) -> str | None:
    """blake2b of a Beat checkpoint's weights: a retrained Beat must not reuse old latents."""
    if folder is None:
        return None
    digest = hashlib.blake2b(digest_size=10)
    with (Path(folder) / "model.safetensors").open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_digest(dataset: str | Path) -> str:
    """blake2b of a dataset's card: record ids are only meaningful within the build they come from."""
    return hashlib.blake2b((Path(dataset) / "dataset.json").read_bytes(), digest_size=10).hexdigest()


def records_digest(dataset: str | Path) -> str:
    """blake2b of what the features are computed from: records.parquet (ids, signal and image
    references, render parameters) and the name and size of every signal and image file.

    A rebuild that changes only the QA items (valid/test balanced again) keeps it, so the cache
    still serves the new build; a change to any record does not."""
    folder = Path(dataset)
    digest = hashlib.blake2b(digest_size=10)
    digest.update((folder / "records.parquet").read_bytes())
    for part in ("signals", "images"):
        for path in sorted((folder / part).rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def _same_records(manifest: dict[str, Any], dataset: Path) -> bool:
    """Whether a cache's manifest was made from these records (caches from before the records
    digest was kept: from this very card)."""
    if "dataset_records" in manifest:
        return manifest["dataset_records"] == records_digest(dataset)
    return manifest.get("dataset_card") == card_digest(dataset)


def default_cache_folder(dataset: str | Path, source: CacheSource) -> Path:
    name = "-".join(part for part in (f"beat{source.beat_digest}" if source.beat_digest else None,
                                      (source.image_encoder or "").replace(":", "_").replace("/", "_") or None,
                                      source.image_view if source.image_encoder else None) if part)
    return Path(dataset) / "features" / name


def _context_of(row: dict[str, Any], signal: np.ndarray) -> np.ndarray | None:
    from heartcare.agent.questions.prediction import CONTEXT_SAMPLES

    start = row.get("prediction_start")
    if start is None or start < 0:
        return None
    return signal[:, int(start) : int(start) + CONTEXT_SAMPLES]


def _record_tensors(dataset: Path, row: dict[str, Any], beat, encoder, view: str, context_images: bool = True) -> dict[str, np.ndarray]:
    from heartcare.agent.writer import load_signal
    from heartcare.ecg.leads import STANDARD_LEADS
    from heartcare.ecg.morphology import morphology_features
    from heartcare.ecg.record import Ecg
    from heartcare.ecg.recording import recording_features
    from heartcare.model.features import context_latents, image_views, read_picture, signal_latents

    record_id, tensors = row["record_id"], {}
    if beat is not None:
        signal = load_signal(dataset, row)
        fs = float(row["signal_fs"])
        whole = Ecg(signal, fs, list(STANDARD_LEADS))
        tensors[f"signal/{record_id}"] = signal_latents(beat, whole)
        tensors[f"recording/{record_id}"] = recording_features(whole)
        tensors[f"morphology/{record_id}"] = morphology_features(whole)
        context = _context_of(row, signal)
        if context is not None:
            window = Ecg(np.ascontiguousarray(context), fs, list(STANDARD_LEADS))
            tensors[f"context/{record_id}"] = context_latents(beat, window)[0]
            tensors[f"context_recording/{record_id}"] = recording_features(window)
            tensors[f"context_morphology/{record_id}"] = morphology_features(window)
    if encoder is not None:
        parameters = json.loads(row["image_parameters"]) if row.get("image_parameters") else []
        for index, relative in enumerate(row.get("images") or []):
            views = image_views(read_picture(dataset / relative), parameters[index] if index < len(parameters) else None, view)
            tensors[f"image/{record_id}/{index}"] = encoder.encode_images(views)
        if context_images and row.get("context_image"):
            views = image_views(read_picture(dataset / row["context_image"]), row.get("context_image_parameters"), view)
            tensors[f"context_image/{record_id}"] = encoder.encode_images(views)
        tensors.update(picture_textures(dataset, row, context_images))
    return tensors


def picture_textures(dataset: Path, row: dict[str, Any], context_images: bool = True) -> dict[str, np.ndarray]:
    """The trace texture (heartcare.render.texture) of each paper image of a record row, and of its drawn context."""
    from heartcare.model.features import read_picture
    from heartcare.render.texture import trace_texture

    record_id, tensors = row["record_id"], {}
    for index, relative in enumerate(row.get("images") or []):
        tensors[f"texture/{record_id}/{index}"] = trace_texture(read_picture(dataset / relative))
    if context_images and row.get("context_image"):
        tensors[f"context_texture/{record_id}"] = trace_texture(read_picture(dataset / row["context_image"]))
    return tensors


def build_feature_cache(
    dataset: str | Path,
    beat: str | None,
    image_encoder: str | None,
    image_view: str = "crops",
    out: str | Path | None = None,
    shard_size: int = 256,
    limit: int | None = None,
    resume: bool = False,
    progress: bool = True,
    splits: tuple[str, ...] | None = None,
    context_images: bool = True,
) -> Path:
    """Compute and store the features of the records of `dataset` (see the module docstring); returns the folder.

    splits: only records of these splits (None: all); limit: the first N of them; context_images:
    False skips the drawn prediction contexts (only image signal-prediction items read them).
    """
    import pyarrow.parquet as pq
    from safetensors.numpy import save_file

    from heartcare.model.build import load_beat
    from heartcare.model.image_encoders import build_image_encoder

    dataset = Path(dataset)
    if beat is None and image_encoder is None:
        raise ConfigError("feature cache", "nothing to compute: give a Beat checkpoint, an image encoder, or both")
    records_path = dataset / "records.parquet"
    if not records_path.is_file():
        raise DatasetLayoutError(dataset, "not a HeartAgent dataset (no records.parquet)")
    source = CacheSource(str(Path(beat).resolve()) if beat else None, checkpoint_digest(beat), image_encoder, image_view)
    folder = Path(out) if out else default_cache_folder(dataset, source)
    manifest_path = folder / MANIFEST
    selection = {"splits": list(splits) if splits else None, "limit": limit, "context_images": context_images, "shard_size": shard_size}
    manifest: dict[str, Any] = {"source": source.__dict__, "selection": selection, "dataset_card": card_digest(dataset),
                                "dataset_records": records_digest(dataset), "shards": []}
    if manifest_path.is_file():
        if not resume:
            raise ConfigError(folder, "a feature cache is already here; pass --resume to finish it or choose another --out")
        manifest = json.loads(manifest_path.read_text())
        if manifest["source"]["beat_digest"] != source.beat_digest or manifest["source"]["image_encoder"] != image_encoder \
                or manifest["source"]["image_view"] != image_view:
            raise ConfigError(folder, f"the cache was made from {manifest['source']}, not {source.__dict__}")
        _check_selection(folder, manifest.get("selection", selection), selection)
        manifest["selection"] = selection  # a grown --limit extends the cache; the rows are checked against the shards below
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["record_id", "signal_file", "signal_offset", "signal_samples", "signal_fs", "images", "image_parameters",
               "context_image", "context_image_parameters", "prediction_start"]
    table = pq.read_table(records_path)
    rows = [row for row in table.select([name for name in columns if name in table.column_names] + ["split"]).to_pylist()
            if splits is None or row["split"] in splits][:limit]
    _check_finished_shards(folder, manifest["shards"], rows, shard_size)
    if resume and manifest_path.is_file():
        if ("dataset_records" in manifest or "dataset_card" in manifest) and not _same_records(manifest, dataset):
            raise ConfigError(folder, f"the cache was built from another dataset than {dataset}")
        # A cache begun before the card (or the records digest) was recorded takes this dataset's
        # once its shards match its records; the card names the build it was last resumed with.
        manifest["dataset_card"], manifest["dataset_records"] = card_digest(dataset), records_digest(dataset)
        write_atomic(manifest_path, json.dumps(manifest, indent=1, sort_keys=True))
    beat_model = load_beat(beat, load_beat_dim(beat)) if beat else None
    encoder = build_image_encoder(image_encoder).eval() if image_encoder else None
    done = {shard["file"] for shard in manifest["shards"]}
    starts = range(0, len(rows), shard_size)
    bar = _progress(progress, len(rows), f"features {folder.name}")
    try:
        for number, start in enumerate(starts):
            name = f"shard-{number:05d}.safetensors"
            chunk = rows[start : start + shard_size]
            if name in done:
                bar.advance(len(chunk))
                continue
            tensors: dict[str, np.ndarray] = {}
            for row in chunk:
                made = _record_tensors(dataset, row, beat_model, encoder, image_view, context_images)
                tensors.update({key: value.astype(np.float16) for key, value in made.items()})
                bar.advance(1)
            temporary = folder / f".{name}.tmp"
            save_file(tensors, str(temporary))
            temporary.replace(folder / name)
            manifest["shards"].append({"file": name, "records": [row["record_id"] for row in chunk]})
            write_atomic(manifest_path, json.dumps(manifest, indent=1, sort_keys=True))
    finally:
        bar.close()
    return folder


def _check_selection(folder: Path, started: dict[str, Any], requested: dict[str, Any]) -> None:
    """Resuming needs the same selection; only --limit may grow (the first N records stay the first N)."""
    same_but_limit = {key: value for key, value in started.items() if key != "limit"} == \
        {key: value for key, value in requested.items() if key != "limit"}
    grown = requested.get("limit") is None or (started.get("limit") is not None and requested["limit"] >= started["limit"])
    if not (same_but_limit and grown):
        raise ConfigError(folder, f"the cache was started with {started}, not {requested}: shards would not line up "
                                  "(only a larger --limit may extend a cache)")


def _check_finished_shards(folder: Path, shards: list[dict[str, Any]], rows: list[dict[str, Any]], shard_size: int) -> None:
    """Every finished shard must hold exactly the records the selection puts there (a short last shard cannot grow)."""
    for number, shard in enumerate(shards):
        expected = [row["record_id"] for row in rows[number * shard_size : (number + 1) * shard_size]]
        if shard["records"] != expected:
            raise ConfigError(folder, f"{shard['file']} holds {len(shard['records'])} records that are not the selection's "
                                      f"records {number * shard_size}-{number * shard_size + len(expected) - 1}: "
                                      "shards would not line up; build a new cache")


def load_beat_dim(beat: str | Path) -> int:
    config = json.loads((Path(beat) / "config.json").read_text())
    return int(config["dim"])


class _Bar:
    def __init__(self, progress) -> None:
        self.progress = progress
        self.task = progress.add_task("", total=None) if progress else None

    def advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, count)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _progress(enabled: bool, total: int, description: str) -> _Bar:
    if not enabled:
        return _Bar(None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress.start()
    bar = _Bar(progress)
    progress.update(bar.task, total=total)
    return bar


class FeatureCache:
    """Read access to a finished (or partly finished) cache: features by record id, float32."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise DatasetLayoutError(self.folder, "not a feature cache (no manifest.json); run `heartcare gpt features`")
        self.manifest = json.loads(path.read_text())
        self.source = CacheSource(**self.manifest["source"])
        self._shard_of = {record: shard["file"] for shard in self.manifest["shards"] for record in shard["records"]}
        # column -> {shard: its side shard}: columns added to a cache made before them (heartcare.model.cache_columns)
        self._side_of = {column: self.manifest.get(f"{column}_shards", {}) for column in SIDE_COLUMNS}
        self._open: dict[str, Any] = {}
        self._keys: dict[str, set[str]] = {}

    def serves(self, dataset: str | Path) -> bool:
        """Whether this cache was built from the records of `dataset` (`records_digest`; older
        caches: the same card), wherever the cache lives."""
        return _same_records(self.manifest, Path(dataset))

    @property
    def knows_its_dataset(self) -> bool:
        """Whether the manifest records which dataset it was made from (caches of the first versions do not)."""
        return "dataset_records" in self.manifest or "dataset_card" in self.manifest

    def covers(self, item, config) -> bool:
        """Whether the cache holds every tensor the model `config` reads for a BenchItem."""
        from heartcare.model.examples import needed_keys

        return all(self.has(record_id, key) for record_id, key in needed_keys(item, config))

    @property
    def holds_recordings(self) -> bool:
        """Whether this cache has the recording descriptors (caches made before them do not)."""
        first = next((record for shard in self.manifest["shards"] for record in shard["records"]), None)
        return first is not None and self.has(first, f"recording/{first}")

    @property
    def holds_morphology(self) -> bool:
        """Whether this cache has the median beats' morphology (caches made before it do not: rebuild them)."""
        first = next((record for shard in self.manifest["shards"] for record in shard["records"]), None)
        return first is not None and self.has(first, f"morphology/{first}")

    def has(self, record_id: str, key: str) -> bool:
        shard = self._shard_of.get(record_id)
        if shard is None:
            return False
        side = self._side_shard(shard, key)
        return (side is not None and self._holds(side, key)) or self._holds(shard, key)

    def _side_shard(self, shard: str, key: str) -> str | None:
        """The added shard that may hold `key` beside `shard` ("texture/..." and "context_texture/..." in "texture-...")."""
        column = key.split("/", 1)[0].removeprefix("context_")
        return self._side_of.get(column, {}).get(shard)

    def _holds(self, shard: str, key: str) -> bool:
        if shard not in self._keys:
            self._keys[shard] = set(self._handle(shard).keys())
        return key in self._keys[shard]

    def _handle(self, shard: str):
        from safetensors import safe_open

        if shard not in self._open:
            self._open[shard] = safe_open(str(self.folder / shard), framework="numpy")
        return self._open[shard]

    def __contains__(self, record_id: str) -> bool:
        return record_id in self._shard_of

    def _get(self, record_id: str, key: str) -> np.ndarray:
        shard = self._shard_of.get(record_id)
        if shard is None:
            raise DatasetLayoutError(self.folder, f"record {record_id!r} is not in the feature cache (build it further with --resume)")
        if not self.has(record_id, key):
            raise DatasetLayoutError(self.folder / shard, f"no {key!r} in the cache (was the stream it belongs to cached?)")
        if not self._holds(shard, key):
            shard = self._side_shard(shard, key)
        return self._handle(shard).get_tensor(key).astype(np.float32)

    def signal(self, record_id: str) -> np.ndarray:
        return self._get(record_id, f"signal/{record_id}")

    def context(self, record_id: str) -> np.ndarray:
        return self._get(record_id, f"context/{record_id}")

    def recording(self, record_id: str, context: bool = False) -> np.ndarray:
        """[156] heartcare.ecg.recording descriptors of the record (or of its prediction context)."""
        return self._get(record_id, f"{'context_' if context else ''}recording/{record_id}")

    def morphology(self, record_id: str, context: bool = False) -> np.ndarray:
        """[heartcare.ecg.morphology.WIDTH] median-beat amplitudes and intervals of the record (or of its prediction context)."""
        return self._get(record_id, f"{'context_' if context else ''}morphology/{record_id}")

    def image(self, record_id: str, index: int = 0) -> np.ndarray:
        return self._get(record_id, f"image/{record_id}/{index}")

    def context_image(self, record_id: str) -> np.ndarray:
        return self._get(record_id, f"context_image/{record_id}")

    def texture(self, record_id: str, index: int = 0, context: bool = False) -> np.ndarray:
        """[heartcare.render.texture.texture_width()] trace texture of the record's k-th paper image (or drawn context)."""
        return self._get(record_id, f"context_texture/{record_id}" if context else f"texture/{record_id}/{index}")

    def page(self, record_id: str, index: int = 0, context: bool = False) -> np.ndarray:
        """[heartcare.model.page_cache.page_width()] what the digitiser read off the record's k-th paper image
        (or drawn context): morphology descriptors and a read flag (heartcare.model.page_cache)."""
        return self._get(record_id, f"context_page/{record_id}" if context else f"page/{record_id}/{index}")
