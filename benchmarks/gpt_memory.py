"""HeartcareGPT training memory: activations kept for the backward pass, with gradient checkpointing vs without.

    python benchmarks/gpt_memory.py [--backbone PATH] [--beat PATH] [--threads 2] [--steps 3] [--json FILE]
    python benchmarks/gpt_memory.py --quick      # tiny random backbone, Beat and image encoder (~20 s)

For the `cpu` preset's warm-up stage (projectors and ECG token rows train, LLM frozen; batch 16)
and joint stage (+ LoRA; micro-batch 8), on real HeartAgent items of a small simulated build
with their cached features (as `heartcare gpt train` collates them):
- activation memory: bytes of every tensor the forward pass saves for the backward pass
  (counted by a `saved_tensors_hooks` pair around one training step; exact, the same on any
  machine). With `--gradient-checkpointing` each decoder layer keeps only its input.
- step time: forward + backward + AdamW, checkpointed and plain steps alternating (the order
  swapped each round, so load from other processes hits both alike), median of --steps.
Baseline: the same step without checkpointing (the default). Targets: checkpointing keeps at
most half the activation bytes, for at most 1.5x the step time (one more forward pass of the
decoder layers is about a third of a step).
Gradients are the same either way (tests/test_model_gpt.py checks it); this measures the price.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt import Row, backbone_folder, beat_checkpoint, print_table, simulated_dataset  # noqa: E402  (beside this script)

TARGET_ACTIVATION_RATIO = 0.5
TARGET_TIME_RATIO = 1.5


def training_step(model, optimizer, batch: dict) -> tuple[float, int]:
    """(seconds, bytes saved for backward) of one forward + backward + AdamW step."""
    kept = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        kept[0] += tensor.numel() * tensor.element_size()
        return tensor

    started = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss, _ = model(batch)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started, kept[0]


def measure_stage(model, stage, batch: dict, steps: int) -> tuple[list[Row], dict]:
    optimizer = torch.optim.AdamW(model.parameter_groups(stage), lr=stage.learning_rate, betas=stage.betas)
    model.train()
    seconds: dict[bool, list[float]] = {True: [], False: []}
    kept: dict[bool, int] = {}
    for round_index in range(steps + 1):  # round 0 warms both paths up and is not timed
        for on in ((True, False) if round_index % 2 == 0 else (False, True)):
            if on:
                model.gradient_checkpointing_enable()
            else:
                model.gradient_checkpointing_disable()
            step_seconds, step_kept = training_step(model, optimizer, batch)
            kept.setdefault(on, step_kept)
            if round_index > 0:
                seconds[on].append(step_seconds)
    model.gradient_checkpointing_disable()
    shape = f"{len(batch['input_ids'])} x {batch['input_ids'].shape[1]} tokens"
    mebibyte = 2**20
    rows = [Row(f"{stage.name}: activations kept for backward, {shape}", "MiB", kept[True] / mebibyte,
                kept[False] / mebibyte, "no checkpointing", higher_is_better=False),
            Row(f"{stage.name}: training step, {shape}", "s (median)", statistics.median(seconds[True]),
                statistics.median(seconds[False]), "no checkpointing", higher_is_better=False)]
    return rows, {"stage": stage.name, "kept_bytes": {"checkpointed": kept[True], "plain": kept[False]},
                  "seconds": {"checkpointed": seconds[True], "plain": seconds[False]}}


def arguments(argv: list[str] | None = None) -> Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", type=Path, default=None, help="HF causal-LM folder (default: packaged SmolLM2-135M)")
    parser.add_argument("--beat", type=Path, default=None, help="Beat checkpoint (default: demo-output/beat, else random cpu-small)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per path and stage")
    parser.add_argument("--quick", action="store_true", help="tiny random backbone, Beat and image encoder")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps >= 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = arguments(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.build import build_model
    from heartcare.model.config import GptConfig
    from heartcare.model.examples import Collator, ItemDataset
    from heartcare.model.feature_cache import FeatureCache, build_feature_cache, load_beat_dim
    from heartcare.model.image_encoders import build_image_encoder
    from heartcare.train.gpt_presets import preset
    from heartcare.train.gpt_run import select_items

    image_encoder = "tiny" if args.quick else "efficientnet-lite0:256x64"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="heartcare_bench_gpt_memory_") as folder:
        scratch = Path(folder)
        dataset = simulated_dataset(scratch / "dataset")
        beat, beat_source = beat_checkpoint(Namespace(beat=args.beat, quick=args.quick), scratch)
        backbone = backbone_folder(Namespace(backbone=args.backbone, quick=args.quick), scratch)
        print(f"HeartcareGPT training memory: {torch.get_num_threads()} torch thread(s), backbone {backbone}, "
              f"Beat {beat} ({beat_source}), image encoder {image_encoder}")
        features = build_feature_cache(dataset, str(beat), image_encoder, out=scratch / "features", splits=("train",),
                                       progress=False)
        chosen = preset("cpu")
        config = GptConfig(backbone=str(backbone), beat=str(beat), image_encoder=image_encoder,
                           signal_dim=load_beat_dim(beat), image_feature_dim=build_image_encoder(image_encoder).feature_dim,
                           **chosen.model)
        model = build_model(config, load_encoders=False)
        cache = FeatureCache(features)
        rows, notes = [], []
        for name in ("warmup", "joint"):
            stage, data = chosen.stage(name)
            items, _ = select_items(BenchDataset(dataset).items("train"), data.tasks, 1.0, None, stage.seed, config, cache)
            train_data = ItemDataset(items, cache, config, model.tokenizer)
            batch = Collator(model.tokenizer.pad_token_id)([train_data[index] for index in range(min(stage.batch_size, len(train_data)))])
            stage_rows, stage_notes = measure_stage(model, stage, batch, args.steps)
            rows += stage_rows
            notes.append(stage_notes)
    print_table(rows)
    activation_rows, time_rows = rows[0::2], rows[1::2]
    checks = {f"{row.benchmark.split(':')[0]}: checkpointing keeps <= {TARGET_ACTIVATION_RATIO:.0%} of the activations "
              f"(measured {row.ratio:.0%})": row.ratio <= TARGET_ACTIVATION_RATIO for row in activation_rows}
    checks.update({f"{row.benchmark.split(':')[0]}: checkpointed step <= {TARGET_TIME_RATIO:g}x the plain step "
                   f"(measured {row.ratio:.2f}x)": row.ratio <= TARGET_TIME_RATIO for row in time_rows})
    print(f"notes: {args.steps} timed steps per path (median), alternating; whole run {time.perf_counter() - started:.0f} s")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    report = {"threads": args.threads, "quick": args.quick, "checks": checks, "stages": notes,
              "rows": [{"benchmark": row.benchmark, "unit": row.unit, "heartcare": row.heartcare, "baseline": row.baseline,
                        "ratio": row.ratio} for row in rows]}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
