"""`train_gpt`: one HeartcareGPT stage (warmup or joint) on a dataset's cached features, through the one loop.

The output folder is the checkpoint: config.json and the trained tensors (what
`from_pretrained` reads), training/ (the loop's resumable state), logs/ (CSV) and
learning_curve.png. The joint stage starts from the warm-up checkpoint (`init`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heartcare.agent.description import stable_hash
from heartcare.errors import ConfigError, HeartcareError

VALID_ITEMS = 256  # valid loss is a learning-curve signal, not the benchmark: a fixed sample keeps it cheap
ITEMS_FILE = "items.json"  # which train items a run reads; a resume must read the same ones
MODEL_FILE = "model.json"  # the model settings a run started with; a resume must keep them


@dataclass
class GptRun:
    """What `train_gpt` did: the checkpoint folder, items used and skipped, the loop's result."""

    out: Path
    train_items: int
    skipped: dict[str, int]
    result: Any


def select_items(items: list, tasks: tuple[str, ...], fraction: float, max_items: int | None, seed: int, config,
                 cache=None) -> tuple[list, dict[str, int]]:
    """Train items of the stage's tasks that the model can read (and the cache covers), a stable
    hash-ranked fraction; skips counted by reason."""
    chosen, skipped = [], {"other_task": 0, "stream_missing": 0, "not_cached": 0}
    for item in items:
        if item.task not in tasks:
            skipped["other_task"] += 1
        elif any(ref.modality != "S" and not config.uses_image for ref in item.ecgs):  # a signal ECG: latents or drawing
            skipped["stream_missing"] += 1
        elif cache is not None and not cache.covers(item, config):
            skipped["not_cached"] += 1
        else:
            chosen.append(item)
    ranked = sorted(chosen, key=lambda item: stable_hash(seed, "gpt-train", item.id))
    keep = max(1, round(len(ranked) * fraction)) if ranked else 0
    if max_items is not None:
        keep = min(keep, max_items)
    skipped["fraction"] = len(ranked) - keep
    # the loop shuffles per epoch; the kept set is stored in dataset order for readability
    kept = {item.id for item in ranked[:keep]}
    return [item for item in chosen if item.id in kept], skipped


def train_gpt(
    dataset: str | Path,
    features: str | Path,
    stage_name: str,
    preset_name: str,
    out: str | Path,
    init: str | Path | None = None,
    resume: bool = False,
    model_changes: dict[str, Any] | None = None,
    stage_changes: dict[str, Any] | None = None,
    progress: bool = True,
    calibrate: bool = True,
    bench_tasks: tuple[str, ...] = (),
    learning_rate: float | None = None,
    max_per_answer: int | None = None,
    finding_tokens: bool = False,
    frozen_parts: tuple[str, ...] = (),
    finding_words: bool = False,
    finding_morphology: bool = False,
    finding_choices: bool = False,
    picture_columns: tuple[str, ...] = (),
    answer_prior: str = "train",
) -> GptRun:
    """Train one stage; model_changes / stage_changes override preset fields (ablations, tests).

    A model built from scratch (no `init`) has its projectors calibrated on the train items
    first (`calibrate_projectors`); calibrate=False keeps the plain initialisation.
    `bench_tasks` (Heartcare-Bench task names, globs or groups) keeps only the train and valid
    items those tasks would select, e.g. ('closed-*', 'comparison-*') to train on what is measured.
    `learning_rate` puts every trained part (and the schedule's base) at that rate; the presets keep
    one rate for all parts of a stage, so this changes the stage's rate without changing its mix.
    `max_per_answer` keeps at most that many train items per answer of each question kind
    (`cap_per_answer`, which draws their distractors again): the train split follows the label
    prior, valid and test are balanced. `finding_tokens` gives a model built from scratch finding tokens
    (heartcare.model.findings): one per closed kind of the train split, its classifier fitted before the
    first step on every train record the cache holds (not only the stage's items); pictures get them too
    when the model has an image stream. `frozen_parts` takes parts out of the stage's trainable ones,
    e.g. ("finding_readers",) holds the fitted finding classifiers where they were fitted. `finding_words`
    also writes the readers' beliefs as words after each ECG (heartcare.model.finding_words), on a model
    from `init` or one given finding tokens here; the readers must then be frozen. `finding_morphology`
    has the signal readers of new finding tokens also read the median beats' morphology
    (heartcare.ecg.morphology), which the feature cache must hold. `finding_choices` restricts each
    finding token's belief to the answers its question offers (heartcare.model.offered_answers), on a
    model from `init` with finding tokens or one given them here. `picture_columns` ("texture", "page")
    has new picture readers also read those feature-cache columns (GptConfig.image_finding_texture /
    image_finding_page), and `answer_prior` "valid" takes the train prior's share chosen on valid out of
    new readers (heartcare.model.answer_prior): what `heartcare gpt refit` does to a trained model, done
    at the first fit."""
    from dataclasses import replace

    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import from_pretrained, save_pretrained
    from heartcare.model.config import GptConfig
    from heartcare.model.examples import Collator, ItemDataset
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.train.gpt_presets import preset
    from heartcare.train.loop import train

    chosen = preset(preset_name)
    stage, data = chosen.stage(stage_name)
    stage = replace(stage, progress=progress and stage.progress, **(stage_changes or {}))
    if learning_rate is not None:
        stage = replace(stage, learning_rate=learning_rate, trainable={part: learning_rate for part in stage.trainable})
    if frozen_parts:
        stage = replace(stage, trainable=_without_parts(stage.trainable, frozen_parts))
    cache = FeatureCache(features)
    bench = BenchDataset(dataset)
    train_pool, valid_pool = bench.items("train"), bench.items("valid")
    if finding_tokens and init is not None:
        raise ConfigError("--finding-tokens", "a model started from --init keeps its own tokens; ask for finding tokens when training from scratch")
    if finding_words and init is None and not finding_tokens:
        raise ConfigError("--finding-words", "finding words write what the finding readers read: give --finding-tokens, or --init a model with them")
    if finding_morphology and (init is not None or not finding_tokens):
        raise ConfigError("--finding-morphology", "the morphology is read by new finding readers: give --finding-tokens "
                          "on a model trained from scratch (a model from --init keeps what its readers read)")
    if finding_morphology and not cache.holds_morphology:
        raise ConfigError(features, "this feature cache has no morphology (built before heartcare.ecg.morphology): "
                          "build it again with `heartcare gpt features` to train with --finding-morphology")
    if (picture_columns or answer_prior != "train") and (init is not None or not finding_tokens):
        raise ConfigError("--image-finding-* / --answer-prior", "they shape the fit of new finding readers: give --finding-tokens "
                          "on a model trained from scratch (`heartcare gpt refit` refits a trained model's)")
    for column in picture_columns:
        if not _holds_picture_column(cache, column):
            raise ConfigError(features, f"this feature cache has no picture {column}: add it with "
                                        f"`heartcare gpt features DATASET --out {features} --add-{COLUMN_FLAGS[column]}`")
    if finding_choices and init is None and not finding_tokens:
        raise ConfigError("--finding-choices", "it restricts the finding tokens: give --finding-tokens, or --init a model with them")
    if init is not None:
        overrides = {**(model_changes or {}), **({"finding_words": True} if finding_words else {}),
                     **({"finding_choices": True} if finding_choices else {})}
        model = from_pretrained(init, load_encoders=False, overrides=overrides or None)
    else:
        source = cache.source
        streams = {"beat": source.beat, "image_encoder": source.image_encoder, "image_view": source.image_view}
        config = GptConfig(**{**streams, **chosen.model, **(model_changes or {})})
        if finding_tokens:
            from heartcare.model.config import RHYTHM_KIND
            from heartcare.model.findings import finding_vocabulary, reads_finding

            pictures = config.uses_image and any(reads_finding(item, "I") for item in train_pool)
            # Caches made before heartcare.ecg.recording lack the descriptors: the tokens then read the latents only.
            recording = cache.holds_recordings
            # With lead crops the image tokens also read the 12 crops side by side (which lead shows it).
            views = 12 if pictures and config.image_view == "crops" else 0
            vocabulary = finding_vocabulary(train_pool)
            # A pair gets comparison tokens when its ECGs' rhythms and rates can be read (measured rates to fit on).
            rates = measured_rates(bench)
            compared = RHYTHM_KIND in dict(vocabulary) and len(rates) >= 2
            # ... and a which-shows token when train pairs name findings (their presence fitted on the records' labels)
            named = named_vocabulary(train_pool) if compared else ()
            config = config.with_changes(findings=vocabulary, image_findings=pictures, finding_recording=recording,
                                         finding_morphology=finding_morphology,
                                         image_finding_views=views, comparison_findings=compared, named_findings=named,
                                         finding_words=finding_words, finding_choices=finding_choices,
                                         image_finding_texture=pictures and "texture" in picture_columns,
                                         image_finding_page=pictures and "page" in picture_columns)
        if config.uses_image:
            config = config.with_changes(image_feature_dim=_cached_width(cache))
        model = build_model(config, load_encoders=False)
    _check_cache(cache, model.config)
    if cache.knows_its_dataset and not cache.serves(dataset):
        raise ConfigError(features, f"this feature cache was built from another dataset than {dataset}")
    all_train, all_valid = train_pool, valid_pool
    if bench_tasks:
        train_pool, valid_pool = (of_bench_tasks(pool, bench_tasks) for pool in (train_pool, valid_pool))
    items, skipped = select_items(train_pool, data.tasks, data.fraction, data.max_items, stage.seed, model.config, cache)
    if max_per_answer is not None:
        items, skipped["answer_cap"] = cap_per_answer(items, max_per_answer, stage.seed)
    if not items:
        raise ConfigError(dataset, f"no train items for stage {stage_name!r} (skipped: {skipped})")
    valid, _ = select_items(valid_pool, data.tasks, 1.0, VALID_ITEMS, stage.seed, model.config, cache)
    pad = model.tokenizer.pad_token_id
    out = Path(out)
    _pin_items(out, items, bench_tasks, resume)
    _pin_model(out, model.config, resume)
    words = _finding_words(model, stage)
    train_data = ItemDataset(items, cache, model.config, model.tokenizer, reader=words)
    calibration = None
    if init is None and calibrate:
        from heartcare.model.calibration import calibrate_projectors

        calibration = calibrate_projectors(model, train_data, Collator(pad), seed=stage.seed)
        if model.finding_projector is not None:
            from heartcare.model.findings import fit_findings

            calibration.update(fit_findings(model, all_train, cache, calibration["text_embedding_norm"],
                                            valid_items=all_valid, seed=stage.seed, rates=measured_rates(bench),
                                            labels=record_findings(bench) if model.config.named_findings else None,
                                            answer_prior=answer_prior))
            if words is not None:
                words.forget()  # read again by the fitted readers, not the zeroed ones calibration saw
    result = train(
        model,
        train_data,
        stage,
        out,
        valid_data=ItemDataset(valid, cache, model.config, model.tokenizer, reader=words) if valid else None,
        resume=resume,
        collate_fn=Collator(pad),
    )
    save_pretrained(model, out, extra={"stage": stage_name, "preset": preset_name, "features": str(Path(features).resolve()),
                                       "train_items": len(items), "skipped": skipped, "steps": result.steps,
                                       **({"bench_tasks": list(bench_tasks)} if bench_tasks else {}),
                                       **({"max_per_answer": max_per_answer} if max_per_answer is not None else {}),
                                       **({"calibration": calibration} if calibration else {})})
    _plot(out)
    return GptRun(out, len(items), skipped, result)


def _finding_words(model, stage):
    """The model's FindingWords (None without finding words). Its readings are remembered per ECG, so
    the readers they come from must not train in this stage."""
    from heartcare.model.finding_words import reader_of

    if model.config.finding_words and "finding_readers" in stage.trainable:
        raise ConfigError("--finding-words", "the words are read once per ECG by the fitted readers: "
                          "hold them with --freeze finding_readers")
    return reader_of(model)


def _without_parts(trainable: dict[str, float], frozen: tuple[str, ...]) -> dict[str, float]:
    """The stage's trainable parts less `frozen`; a frozen part the stage does not train is a mistake."""
    unknown = sorted(set(frozen) - set(trainable))
    if unknown:
        raise ConfigError("--freeze", f"this stage does not train {', '.join(unknown)}; it trains {', '.join(trainable)}")
    kept = {part: rate for part, rate in trainable.items() if part not in frozen}
    if not kept:
        raise ConfigError("--freeze", "every part of the stage would be frozen")
    return kept


def measured_rates(bench) -> dict[str, float]:
    """record id -> the heart rate HeartAgent measured (bpm), for the records that have one."""
    rates = {}
    for record, row in bench.records.items():
        values = row.get("measurements") or {}
        values = json.loads(values) if isinstance(values, str) else values
        if values.get("hr_bpm") is not None:
            rates[record] = float(values["hr_bpm"])
    return rates


def named_vocabulary(items) -> tuple[tuple[str, str], ...]:
    """(SCP code, the words questions use) of every finding a comparison item of `items` names ("which
    ECG shows X?"), sorted by code."""
    from heartcare.agent.vocabulary import describe_code
    from heartcare.sources.scp import statements

    codes = {item.meta.get("finding") for item in items if item.task == "comparison_qa" and item.meta.get("kind") == "which_shows"}
    return tuple((code, describe_code(code)) for code in sorted(code for code in codes if code in statements()))


def record_findings(bench) -> dict[str, frozenset[str]]:
    """record id -> the SCP codes it shows: its labels and every statement they imply."""
    from heartcare.agent.hierarchy import implied

    labels = {}
    for record, row in bench.records.items():
        codes = row.get("labels") or {}
        labels[record] = implied(json.loads(codes) if isinstance(codes, str) else codes)
    return labels


def cap_per_answer(items: list, limit: int, seed: int) -> tuple[list, int]:
    """At most `limit` multiple-choice items per (question kind, ECG form, answer), a stable hash-ranked
    choice, in their order, their distractors drawn again over the kept items (`redeal_options`);
    free-text items are all kept. -> (kept, how many were dropped).

    Why: the train split follows the label prior (46.8% of the signal-diagnosis answers of the
    6,000-record PTB-XL-prior build are "normal ECG"; 11.1% of valid and 14.3% of test answers),
    and a model that has seen few items learns to answer the prior instead of reading the ECG."""
    from heartcare.bench.models.floors import question_kind

    if limit < 1:
        raise ConfigError("--max-per-answer", f"must be >= 1, got {limit}")
    groups: dict[tuple, list] = {}
    for item in items:
        if item.is_multiple_choice:
            groups.setdefault((*question_kind(item), item.modality, item.answer_text), []).append(item)
    dropped = {item.id for group in groups.values()
               for item in sorted(group, key=lambda item: stable_hash(seed, "answer-cap", item.id))[limit:]}
    return redeal_options([item for item in items if item.id not in dropped], seed), len(dropped)


def redeal_options(items: list, seed: int) -> list:
    """The items with the distractors of their multiple-choice items drawn again over these items.

    Why: the build draws train distractors uniformly, so a text is right when offered about as
    often as it is an answer, and exclusions bend that further (a finding compatible with most
    records is seldom a distractor, so it is right whenever shown). A model trained on the capped
    items would learn those rates instead of reading the ECG; drawn in proportion to the capped
    answer counts, each text is right about as often when offered as any other."""
    from heartcare.agent.balance import balance_rows
    from heartcare.bench.items import BenchItem

    rows = [{"id": item.id, "task": item.task, "dimension": item.dimension, "modality": item.modality,
             "question": item.question, "answer": item.answer, "choices": list(item.choices),
             "answer_index": item.answer_index, "meta": item.meta,
             "ecgs": [{"record_id": ecg.record_id, "modality": ecg.modality} for ecg in item.ecgs]} for item in items]
    redrawn, _ = balance_rows(rows, seed, select=False, proportional=True)
    return [BenchItem.from_row(row) for _, row in redrawn]


def of_bench_tasks(items: list, patterns: tuple[str, ...]) -> list:
    """The items that at least one of the bench tasks named by `patterns` selects, in their order."""
    from heartcare.bench.tasks import select_tasks

    tasks = select_tasks(list(patterns))
    return [item for item in items if any(task.matches(item) for task in tasks)]


def _pin_items(out: Path, items: list, bench_tasks: tuple[str, ...], resume: bool) -> None:
    """Record which items a run reads; refuse a resume that would read others.

    Why: batches are drawn by position in the item list, so a resume over another list (other
    --tasks, a feature cache extended since) would silently train on other batches than the
    straight run, and "resumes exactly" would not hold."""
    import hashlib
    import json

    from heartcare.atomic import write_atomic

    digest = hashlib.sha256("\n".join(item.id for item in items).encode()).hexdigest()
    pinned = {"bench_tasks": list(bench_tasks), "count": len(items), "sha256": digest}
    path = out / ITEMS_FILE
    if resume and path.is_file():
        saved = json.loads(path.read_text())
        if saved != pinned:
            raise ConfigError(out, f"was trained on other items ({saved['count']} items, tasks {saved['bench_tasks'] or 'all'}); "
                                   f"this run selects {len(items)} (tasks {list(bench_tasks) or 'all'}): resume with the "
                                   "original --tasks and feature cache, or train into another folder")
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(pinned, indent=2))


def _pin_model(out: Path, config, resume: bool) -> None:
    """Record the model settings a run starts with; refuse a resume that would build another model.

    Why: the trained tensors fit models that differ in how they read or answer (summary tokens,
    pooling, answer format), so a resume after a changed preset default or flag would load and
    go on training a different model without a word. `extra` is notes, not settings."""
    import json

    from heartcare.atomic import write_atomic

    settings = json.loads(json.dumps({key: value for key, value in config.to_dict().items() if key != "extra"}))
    path = out / MODEL_FILE
    if resume and path.is_file():
        saved = json.loads(path.read_text())
        changed = [f"{key} {saved.get(key)!r} -> {settings.get(key)!r}" for key in sorted(set(saved) | set(settings))
                   if saved.get(key) != settings.get(key)]
        if changed:
            raise ConfigError(out, f"was trained as another model ({'; '.join(changed)}): resume with the original "
                                   "settings (preset, --init and the model flags), or train into another folder")
        return
    write_atomic(path, json.dumps(settings, indent=2, sort_keys=True))


def _cached_width(cache) -> int:
    """The image feature width stored in the cache (read from its first image tensor)."""
    first = cache.manifest["shards"][0]["records"][0] if cache.manifest["shards"] else None
    if first is None:
        raise ConfigError(cache.folder, "the feature cache is empty")
    return int(cache.image(first, 0).shape[-1])


COLUMN_FLAGS = {"texture": "texture", "page": "page-morphology"}  # picture column -> its `gpt features --add-*` flag


def _holds_picture_column(cache, column: str) -> bool:
    """Whether the cache holds `column` ("texture", "page") for the first picture it lists."""
    first = next((record for shard in cache.manifest["shards"] for record in shard["records"]
                  if cache.has(record, f"image/{record}/0")), None)
    return first is not None and cache.has(first, f"{column}/{first}/0")


def _check_cache(cache, config) -> None:
    source = cache.source
    if config.uses_signal and (source.beat is None or Path(source.beat).resolve() != Path(config.beat).resolve()):
        raise ConfigError(cache.folder, f"the cache holds latents of Beat {source.beat}, the model reads Beat {config.beat}")
    if config.uses_image and (source.image_encoder != config.image_encoder or source.image_view != config.image_view):
        raise ConfigError(cache.folder, f"the cache holds {source.image_encoder} {source.image_view} features, "
                                        f"the model reads {config.image_encoder} {config.image_view}")


def _plot(out: Path) -> None:
    try:
        from heartcare.train.plot import plot_learning_curve

        plot_learning_curve(out / "logs", out / "learning_curve.png")
    except (ImportError, HeartcareError, FileNotFoundError):  # matplotlib missing or no log rows yet: the CSV stays
        pass
