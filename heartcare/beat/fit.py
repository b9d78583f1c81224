"""Train Beat on a PTB-XL-layout folder: windows -> model -> the shared training loop.

The output folder is itself a Beat checkpoint (config.json + model.safetensors,
refreshed every epoch) with the resumable trainer state in `training/` and the
logs in `logs/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from heartcare.atomic import write_atomic
from heartcare.beat.config import BeatConfig, preset
from heartcare.beat.model import CONFIG_FILE, Beat, build_beat
from heartcare.errors import ConfigError
from heartcare.train.config import StageConfig
from heartcare.train.loop import CHECKPOINT_DIR

DEFAULT_PRESET = "cpu-small"
RUN_FILE = "run.json"  # the preset, seed, record limit and crop budget a run started with

# The paper's stage (AdamW 1e-4, cosine, batch 32, clip 1.0, 50 epochs) and a CPU
# stage that reaches a useful tokenizer on the simulated cohort in minutes.
STAGES: dict[str, StageConfig] = {
    "paper": StageConfig(name="beat", epochs=50, batch_size=32, learning_rate=1e-4, warmup_steps=500),
    # 8 epochs of ~12,800 random crops (see CROPS_PER_EPOCH): ~3,200 steps, ~13 min on 2 cores.
    "cpu-small": StageConfig(name="beat-cpu-small", epochs=8, batch_size=32, learning_rate=2e-3, warmup_steps=100,
                             min_learning_rate_ratio=0.05, threads=2),
    "tiny": StageConfig(name="beat-tiny", epochs=2, batch_size=8, learning_rate=1e-3, warmup_steps=2),
}
# Training windows per epoch: 0 = the one quality-chosen window per record (the paper's
# setting); n > 0 = random-offset crops of the cached 250-Hz records, as many per record
# as make about n windows (at least one each), so an epoch costs the same time on a
# 2,000-record cohort (8 crops each) as on a PTB-XL-size one (1 each).
CROPS_PER_EPOCH: dict[str, int] = {"paper": 0, "cpu-small": 12_800, "tiny": 0}


def crops_per_record(windows_per_epoch: int, records: int) -> int:
    """Crops of each record per epoch for a budget of `windows_per_epoch` windows."""
    return max(1, round(windows_per_epoch / max(records, 1)))


@dataclass
class FitResult:
    """Where the checkpoint is, how many windows were used and the last logs."""

    out: Path
    train_windows: int
    valid_windows: int
    steps: int
    seconds: float
    valid_logs: dict[str, float]
    skipped: int


def fit(
    data: str | Path,
    out: str | Path,
    preset_name: str | None = None,
    epochs: int | None = None,
    resume: bool = False,
    config: BeatConfig | None = None,
    stage: StageConfig | None = None,
    seed: int = 0,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    crops_per_epoch: int | None = None,
) -> FitResult:
    """Train (or resume training) a Beat tokenizer on `data`'s folds 1-8, validating on fold 9.

    preset_name: the preset (architecture, stage, crop budget); default: the one the
    resumed run used, else cpu-small. A folder that already holds a checkpoint is only
    continued with `resume` and the same preset, seed, record limit and crop budget
    (an exact resume); `epochs` may change (the cosine schedule follows the new total).
    """
    import torch

    from heartcare.beat.data import load_windows
    from heartcare.train.loop import train

    out = Path(out)
    saved = _saved_run(out, resume)
    preset_name = preset_name or (saved or {}).get("preset") or DEFAULT_PRESET
    if resume and (out / CONFIG_FILE).is_file():
        saved_config = Beat.from_pretrained(out).config  # resuming keeps the saved architecture
        if config is not None and config != saved_config:
            raise ConfigError(out, "holds a checkpoint of a different configuration; resume without overrides "
                                   "or train into another --out")
        config = saved_config
    config = config or preset(preset_name)
    stage = stage or STAGES.get(preset_name, STAGES["paper"])
    changes = {"progress": progress, "seed": seed}
    if epochs is not None:
        changes["epochs"] = epochs
    stage = StageConfig.from_dict({**stage.to_dict(), **changes})
    if stage.threads:
        torch.set_num_threads(stage.threads)
    budget = CROPS_PER_EPOCH.get(preset_name, 0) if crops_per_epoch is None else crops_per_epoch
    run = {"preset": preset_name, "seed": seed, "limit": limit, "crops_per_epoch": budget}
    if saved is not None:  # an exact resume needs the same data plan and stage
        changed = [f"{key} {saved.get(key)!r} -> {value!r}" for key, value in run.items() if saved.get(key) != value]
        if changed:
            raise ConfigError(out, f"was trained with other settings ({'; '.join(changed)}); resume with the "
                                   "original ones or train into another --out")
    write_atomic(out / RUN_FILE, json.dumps(run, indent=2))
    transform = None
    if budget > 0:
        from heartcare.beat.crops import RecordCrops, load_records

        records = load_records(data, "train", config, cache_dir=cache_dir, limit=limit)
        transform = RecordCrops(records, config)
        crops = crops_per_record(budget, len(records))
        train_tensors, train_count, train_skipped = transform.index_data(crops), len(records) * crops, len(records.skipped)
    else:
        train_set = load_windows(data, "train", config, cache_dir=cache_dir, limit=limit)
        train_tensors, train_count, train_skipped = train_set.tensors(), len(train_set), len(train_set.skipped)
    valid_set = load_windows(data, "valid", config, cache_dir=cache_dir, limit=limit)
    torch.manual_seed(seed)
    model = build_beat(config)

    def save(epoch: int, logs: dict[str, float]) -> None:
        model.save_pretrained(out)

    result = train(model, train_tensors, stage, out, valid_data=valid_set.tensors(), resume=resume, on_epoch_end=save,
                   batch_transform=transform)
    model.save_pretrained(out)
    return FitResult(out, train_count, len(valid_set), result.steps, result.seconds, result.valid_logs,
                     train_skipped + len(valid_set.skipped))


def _saved_run(out: Path, resume: bool) -> dict | None:
    """The settings a run in `out` started with (None for a new run or one from before they
    were saved); refuses to overwrite a checkpoint without `resume`."""
    holds = (out / CONFIG_FILE).is_file() or (out / CHECKPOINT_DIR).exists()
    if holds and not resume:
        raise ConfigError(out, "already holds a Beat checkpoint; pass --resume to continue it or choose another --out")
    if not resume or not (out / RUN_FILE).is_file():
        return None
    try:
        return json.loads((out / RUN_FILE).read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(out / RUN_FILE, f"unreadable run settings ({error})") from error
