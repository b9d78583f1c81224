"""HeartcareGPT on CPU: ECG-token overhead, train() vs a plain peft loop, time to first token, feature cache speed.

    python benchmarks/gpt.py [--backbone PATH] [--beat PATH] [--data DATASET] [--threads 2] [--batch 8]
                             [--warmup-steps 2] [--steps 5] [--limit 8] [--new-tokens 32] [--json FILE]
    python benchmarks/gpt.py --quick      # tiny random backbone, Beat and image encoder: a smoke run (~30 s)

Four measurements, each against a baseline run in the same process:
1. ECG-token overhead: one training step (forward + backward + AdamW; projectors + LoRA
   trainable, as the joint stage) on a batch whose prompts carry ECG placeholders (features
   spliced by masked_scatter) vs the same batch with every placeholder replaced by a text
   token (same shape, no features). Steps alternate so both see the same machine load; the
   median step is compared. Target: overhead <= 10 %.
2. Training throughput: heartcare's `train()` (accelerate, schedule, clipping, logging) on an
   ItemDataset vs a hand-written loop (benchmarks/gpt_baseline.py): the same backbone loaded with transformers, peft LoRA
   of the same config, projectors of the same shape, embeddings spliced by hand, AdamW at the
   same rate, gradient clipping at the same norm, and the very same batches (same sampler
   order and heartcare's own collate_fn, checked), collated inside each loop; the plain model
   computes its loss the usual way (`labels=`, logits at every position). Same threads and steps; warm-up steps are
   excluded; items/s = batch / median step. The loop's checkpoint saves are timed apart and
   kept out of the figure. Target: heartcare >= 1.0x the plain loop.
3. Time to first token for the real 12-lead DICOM that ships with pydicom and one question:
   Beat latents + drawn-image features + the LLM prefill (greedy, max_new_tokens=1), medians
   of --repeats warm runs; then decode tokens/s over --new-tokens tokens (KV cache on, the end
   token masked so every run decodes the same count). Baseline: the same LM on a text-only
   prompt of the same length. Target: TTFT < 1 s.
4. Feature cache: `build_feature_cache` records/s over --limit train records of a small
   HeartAgent dataset (24 simulated records built in a temp folder unless --data), vs the same
   encoders on the same records held in memory (no Parquet, PNG or safetensors I/O).
The machine may be shared: absolute figures wander, ratios measured side by side less so. On a
2-core box where another process keeps both cores busy, 2 torch threads spin-wait on each other
and every op pays for it (a tiny model's step was measured 30x slower than on 1 thread): use
--threads 1 there.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt_baseline import PlainParts, heartcare_loop, plain_loop, step_seconds  # noqa: E402  (beside this script)

REPOSITORY = Path(__file__).resolve().parents[1]
DEMO_BEAT = REPOSITORY / "demo-output" / "beat"
QUESTION = "What does this 12-lead ECG show? Describe the rhythm and any abnormality."
JOINT_RATE = 3e-4  # the cpu preset's joint-stage rate, for projectors and LoRA alike
TARGET_OVERHEAD = 0.10
TARGET_THROUGHPUT_RATIO = 1.0
TARGET_FIRST_TOKEN_SECONDS = 1.0


@dataclass
class Row:
    """One line of the table; ratio = heartcare / baseline (None when there is no baseline)."""

    benchmark: str
    unit: str
    heartcare: float
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None else self.heartcare / max(self.baseline, 1e-12)


def decode_rate(long_seconds: float, one_token_seconds: float, tokens: int) -> float:
    """Tokens/s of decoding: the tokens after the first over the time they add to a one-token run. On a busy
    machine that difference can vanish in the noise (a rate of 7e9 tokens/s made the ratio print 0.00x); then
    the whole run's rate, a lower bound since it includes the prefill."""
    added = long_seconds - one_token_seconds
    return (tokens - 1) / added if added > 0 else tokens / long_seconds


# ---- parts: dataset, Beat, backbone, feature cache ------------------------------------------
def simulated_dataset(out: Path, records: int = 24) -> Path:
    """A HeartAgent build of simulated records (every task; 12 patients of two records, half in train)."""
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.inputs import MemorySource
    from heartcare.sim.simulate import SimulationSpec, simulate
    from heartcare.sources.record import LabelledRecord

    conditions = ({"normal": 0.0}, {"atrial_fibrillation": 0.8}, {"left_bundle_branch_block": 0.7},
                  {"sinus_bradycardia": 0.5}, {"first_degree_av_block": 0.6}, {"right_bundle_branch_block": 0.7})
    folds = (1, 2, 3, 4, 5, 6, 9, 10, 10, 10, 10, 10)  # PTB-XL folds per patient: 1-8 train, 9 valid, 10 test
    labelled = []
    for index in range(records):
        spec = SimulationSpec(conditions=conditions[index % len(conditions)], age=40 + index, sex="MF"[index % 2])
        simulated = simulate(spec, fs=500.0, seconds=10.0, seed=index)
        meta = {"record_id": f"sim_{index}", "age": 40 + index, "sex": "MF"[index % 2],
                "recording_date": f"2019-05-{10 + index % 3} 09:00:00", "strat_fold": folds[index // 2 % len(folds)]}
        labelled.append(LabelledRecord(ecg=simulated.ecg, labels=simulated.labels, report=simulated.report,
                                       patient_id=f"patient-{index // 2}", meta=meta))
    # min_per_answer=1: a tiny build would otherwise drop answers too rare to balance
    config = BuildConfig(sources=("ptbxl:memory",), out=str(out), images_per_record=1, image_presets=("clean",),
                         image_dpi=40.0, shard_size=8, seed=5, min_per_answer=1)
    build_dataset(config, sources=[MemorySource(labelled)], progress=False)
    return out


def beat_checkpoint(args: argparse.Namespace, scratch: Path) -> tuple[Path, str]:
    """(Beat folder, how it was chosen): --beat, else demo-output/beat, else a random one saved to scratch."""
    from heartcare.beat.config import BeatConfig, preset
    from heartcare.beat.model import build_beat

    if args.beat is not None:
        return args.beat, "--beat"
    if not args.quick and DEMO_BEAT.is_dir():
        return DEMO_BEAT, "demo-output/beat"
    torch.manual_seed(0)
    if args.quick:  # the paper's interface (20 queries per 4-s window) at a test model's width
        config = BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                            mlp_ratio=2, codebook_size=16)
        return build_beat(config).save_pretrained(scratch / "beat"), "random tiny"
    return build_beat(preset("cpu-small")).save_pretrained(scratch / "beat"), "random cpu-small"


def backbone_folder(args: argparse.Namespace, scratch: Path) -> Path:
    from heartcare.model.backbone import default_backbone_path, quiet_progress, tiny_causal_lm

    if args.backbone is not None:
        return args.backbone
    if not args.quick:
        return default_backbone_path()
    with quiet_progress():
        return tiny_causal_lm(scratch / "tiny-lm")


def train_rows(dataset: Path, limit: int) -> list[dict[str, Any]]:
    """The records build_feature_cache takes for splits=("train",), limit=limit, in its order."""
    import pyarrow.parquet as pq

    rows = [row for row in pq.read_table(dataset / "records.parquet").to_pylist() if row["split"] == "train"]
    return rows[:limit]


def encoders_alone(dataset: Path, rows: list[dict[str, Any]], beat: Path, image_encoder: str, view: str) -> float:
    """Seconds for the cache's encoder work on `rows` with every input already in memory (the baseline of 4).

    Loading Beat and the image encoder is timed, as build_feature_cache loads them too.
    """
    from heartcare.agent.questions.prediction import CONTEXT_SAMPLES
    from heartcare.agent.writer import load_signal
    from heartcare.ecg.leads import STANDARD_LEADS
    from heartcare.ecg.record import Ecg
    from heartcare.model.build import load_beat
    from heartcare.model.feature_cache import load_beat_dim
    from heartcare.model.features import context_latents, image_views, read_picture, signal_latents
    from heartcare.model.image_encoders import build_image_encoder

    inputs = []
    for row in rows:
        signal = load_signal(dataset, row)
        ecg = Ecg(signal, float(row["signal_fs"]), list(STANDARD_LEADS))
        start = row.get("prediction_start")
        context = None
        if start is not None and start >= 0:
            context = Ecg(np.ascontiguousarray(signal[:, int(start): int(start) + CONTEXT_SAMPLES]), ecg.fs, list(STANDARD_LEADS))
        parameters = json.loads(row["image_parameters"]) if row.get("image_parameters") else []
        pictures = [image_views(read_picture(dataset / relative), parameters[index] if index < len(parameters) else None, view)
                    for index, relative in enumerate(row.get("images") or [])]
        if row.get("context_image"):
            pictures.append(image_views(read_picture(dataset / row["context_image"]), row.get("context_image_parameters"), view))
        inputs.append((ecg, context, pictures))
    started = time.perf_counter()
    beat_model = load_beat(beat, load_beat_dim(beat))
    encoder = build_image_encoder(image_encoder)
    for ecg, context, pictures in inputs:
        signal_latents(beat_model, ecg)
        if context is not None:
            context_latents(beat_model, context)
        for views in pictures:
            encoder.encode_images(views)
    return time.perf_counter() - started


def measure_feature_cache(dataset: Path, beat: Path, image_encoder: str, limit: int, scratch: Path) -> tuple[Row, Path]:
    from heartcare.model.feature_cache import build_feature_cache

    started = time.perf_counter()
    folder = build_feature_cache(dataset, str(beat), image_encoder, out=scratch / "features", limit=limit,
                                 splits=("train",), progress=False)
    seconds = time.perf_counter() - started
    rows = train_rows(dataset, limit)
    baseline = encoders_alone(dataset, rows, beat, image_encoder, "crops")
    row = Row("feature cache", "records/s", len(rows) / seconds, len(rows) / baseline, "encoders alone, inputs in memory")
    return row, folder


# ---- training: ECG overhead and the loop against a plain one -------------------------------
def joint_stage(args: argparse.Namespace, steps: int):
    """The cpu preset's joint stage, trimmed to a benchmark: projectors + LoRA, no accumulation, no mid-run saves."""
    from heartcare.train.gpt_presets import preset

    stage, _ = preset("cpu").stage("joint")
    trainable = {"signal_projector": JOINT_RATE, "image_projector": JOINT_RATE, "lora": JOINT_RATE}
    # one micro-batch per step, so a step is one batch on both sides; warmup_steps=0 keeps the rate flat like the plain loop
    return replace(stage, batch_size=args.batch, gradient_accumulation_steps=1, max_steps=steps, epochs=1, warmup_steps=0,
                   checkpoint_every_steps=None, progress=False, threads=args.threads, trainable=trainable)


def text_only(batch: dict[str, torch.Tensor], placeholder_ids: list[int], base_vocabulary: int, seed: int = 0) -> dict:
    """The batch with every ECG placeholder replaced by a text token drawn from the batch's own text: same shape, no features."""
    input_ids = batch["input_ids"].clone()
    placeholders = torch.isin(input_ids, torch.tensor(placeholder_ids))
    text = input_ids[(batch["attention_mask"] == 1) & ~placeholders & (input_ids < base_vocabulary)]
    draw = torch.randint(len(text), (int(placeholders.sum()),), generator=torch.Generator().manual_seed(seed))
    input_ids[placeholders] = text[draw]
    return {"input_ids": input_ids, "attention_mask": batch["attention_mask"], "labels": batch["labels"]}


def measure_ecg_overhead(model, batch: dict, stage, args: argparse.Namespace) -> Row:
    from heartcare.model.chat import IMAGE, SIGNAL

    plain = text_only(batch, [model.token_ids[SIGNAL], model.token_ids[IMAGE]], model.base_vocabulary)
    optimizer = torch.optim.AdamW(model.parameter_groups(stage), lr=stage.learning_rate, betas=stage.betas)
    model.train()

    def step(inputs: dict) -> float:
        started = time.perf_counter()
        loss, _ = model(inputs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"ecg": [], "text": []}
    for round_index in range(args.warmup_steps + args.steps):
        # alternate, and swap who goes first each round, so bursts of other load hit both alike
        order = (("ecg", batch), ("text", plain)) if round_index % 2 == 0 else (("text", plain), ("ecg", batch))
        for name, inputs in order:
            seconds = step(inputs)
            if round_index >= args.warmup_steps:
                times[name].append(seconds)
    tokens = int(batch["attention_mask"].sum())
    return Row(f"training step, {len(batch['input_ids'])} x {batch['input_ids'].shape[1]} tokens ({tokens} real) with ECG",
               "s (median)", statistics.median(times["ecg"]), statistics.median(times["text"]),
               "same tokens, all text, no features", higher_is_better=False)


def measure_training(model, dataset, collator, stage, config, backbone: Path, args: argparse.Namespace,
                     scratch: Path) -> tuple[Row, dict]:
    from heartcare.model.build import lora_targets
    from heartcare.model.chat import IMAGE, SIGNAL

    needed = stage.batch_size * stage.max_steps
    if len(dataset) < needed:
        raise SystemExit(f"{len(dataset)} training items, {needed} needed for one epoch of {stage.max_steps} steps: raise --limit")
    stamps, heartcare_batches, saves = heartcare_loop(model, dataset, stage, collator, scratch / "train-run")
    targets = lora_targets(model.language_model.get_base_model(), config.lora_targets)
    parts = PlainParts(backbone, model.language_model.get_input_embeddings().weight.shape[0], config, targets)
    plain_stamps, plain_batches = plain_loop(parts, dataset, stage, collator, model.token_ids[SIGNAL], model.token_ids[IMAGE],
                                               JOINT_RATE)
    same = len(heartcare_batches) == len(plain_batches) and all(
        torch.equal(ours, theirs) for ours, theirs in zip(heartcare_batches, plain_batches, strict=True))
    ours = statistics.median(step_seconds(stamps, args.warmup_steps))
    theirs = statistics.median(step_seconds(plain_stamps, args.warmup_steps))
    row = Row(f"training, train() loop, batch {stage.batch_size}", "items/s", stage.batch_size / ours,
              stage.batch_size / theirs, "transformers + peft, hand-written loop")
    return row, {"same_batches": same, "checkpoint_saves": len(saves), "checkpoint_seconds": sum(saves)}


# ---- inference: time to first token and decode speed ---------------------------------------
@contextmanager
def decode_exactly(language_model, tokens: int):
    """Mask the end token for `tokens` new tokens (min_new_tokens on the backbone's generation config), so
    every run decodes the same count however the untrained projectors steer the answer."""
    config = language_model.generation_config
    previous = config.min_new_tokens
    config.min_new_tokens = tokens
    try:
        yield
    finally:
        config.min_new_tokens = previous


def measure_first_token(model, args: argparse.Namespace) -> tuple[list[Row], dict]:
    from pydicom.data import get_testdata_file

    from heartcare.bench.prompt import SYSTEM_PROMPT
    from heartcare.ecg.read import read_ecg
    from heartcare.model.chat import IMAGE, SIGNAL, EcgFeatures, encode
    from heartcare.model.examples import collate, signal_tokens
    from heartcare.model.features import drawn_views, signal_latents

    ecg = read_ecg(get_testdata_file("waveform_ecg.dcm"))
    config, pad = model.config, model.tokenizer.pad_token_id
    model.eval()

    def first_token() -> tuple[dict[str, float], dict]:
        """One request as `heartcare gpt ask` serves it, each stage timed (mirrors ask.ecg_features) -> (seconds, batch)."""
        started = time.perf_counter()
        signal = signal_tokens(signal_latents(model.beat, ecg), config)
        after_beat = time.perf_counter()
        image = model.image_encoder.encode_images(drawn_views(ecg, config.image_view))
        after_image = time.perf_counter()
        encoded = encode(model.tokenizer, [EcgFeatures(signal=signal, image=image)], QUESTION, None, SYSTEM_PROMPT,
                         config.image_tokens, config.max_length)
        batch = collate([encoded], pad, left=True)
        model.generate(batch, max_new_tokens=1)
        finished = time.perf_counter()
        return {"beat": after_beat - started, "image": after_image - after_beat, "prefill": finished - after_image,
                "total": finished - started}, batch

    cold, _ = first_token()  # first call of the process: kernel selection, lazy imports
    runs = [first_token()[0] for _ in range(args.repeats)]
    batch = first_token()[1]
    text = text_only(batch, [model.token_ids[SIGNAL], model.token_ids[IMAGE]], model.base_vocabulary)
    language_model = model.language_model

    def text_generate(tokens: int) -> float:
        started = time.perf_counter()
        with torch.no_grad():
            language_model.generate(input_ids=text["input_ids"], attention_mask=text["attention_mask"], max_new_tokens=tokens,
                                    do_sample=False, num_beams=1, use_cache=True, pad_token_id=pad)
        return time.perf_counter() - started

    def ecg_generate(tokens: int) -> float:
        started = time.perf_counter()
        model.generate(batch, max_new_tokens=tokens)
        return time.perf_counter() - started

    text_generate(1)
    text_prefill = statistics.median(text_generate(1) for _ in range(args.repeats))
    with decode_exactly(language_model, args.new_tokens):
        ecg_long = statistics.median(ecg_generate(args.new_tokens) for _ in range(args.repeats))
        text_long = statistics.median(text_generate(args.new_tokens) for _ in range(args.repeats))
    ecg_prefill = statistics.median(ecg_generate(1) for _ in range(args.repeats))
    decode = decode_rate(ecg_long, ecg_prefill, args.new_tokens)
    text_decode = decode_rate(text_long, text_prefill, args.new_tokens)
    median = {stage: statistics.median(run[stage] for run in runs) for stage in ("beat", "image", "prefill", "total")}
    prompt = int(batch["input_ids"].shape[1])
    baseline = "same LM, text-only prompt of equal length"
    rows = [
        Row(f"time to first token, 1 ECG + question ({prompt} tokens)", "s", median["total"], text_prefill, baseline, False),
        Row("  feature extraction: Beat latents", "s", median["beat"], higher_is_better=False),
        Row("  feature extraction: image (draw + encoder)", "s", median["image"], higher_is_better=False),
        Row("  LLM prefill (prompt + 1 token)", "s", median["prefill"], text_prefill, baseline, False),
        Row(f"decode, {args.new_tokens} new tokens, KV cache", "tokens/s", decode, text_decode, baseline),
    ]
    return rows, {"cold_first_token_seconds": cold["total"], "prompt_tokens": prompt,
                  "signal_tokens": int((batch["input_ids"] == model.token_ids[SIGNAL]).sum()),
                  "image_tokens": int((batch["input_ids"] == model.token_ids[IMAGE]).sum())}


# ---- the run --------------------------------------------------------------------------------
def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", type=Path, default=None, help="HF causal-LM folder (default: packaged SmolLM2-135M)")
    parser.add_argument("--beat", type=Path, default=None, help="Beat checkpoint (default: demo-output/beat, else random cpu-small)")
    parser.add_argument("--image-encoder", default=None, help="image encoder spec (default efficientnet-lite0:256x64; tiny with --quick)")
    parser.add_argument("--data", type=Path, default=None, help="a HeartAgent dataset (default: 24 simulated records, built in a temp folder)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads, for every measurement")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup-steps", type=int, default=2, help="training steps run before timing starts")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--limit", type=int, default=8, help="train records in the feature cache")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens for the decode rate")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per inference figure (median)")
    parser.add_argument("--quick", action="store_true", help="tiny random backbone, Beat and image encoder; small batch")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.warmup_steps, args.steps, args.limit = 4, 1, 3, 4
        args.new_tokens, args.repeats = 8, 2
    if args.image_encoder is None:
        args.image_encoder = "tiny" if args.quick else "efficientnet-lite0:256x64"
    if args.steps < 1 or args.warmup_steps < 0 or args.new_tokens < 2 or args.repeats < 1:
        parser.error("--steps >= 1, --warmup-steps >= 0, --new-tokens >= 2 and --repeats >= 1")
    return args


def print_table(rows: list[Row]) -> None:
    width = max(len(row.benchmark) for row in rows)
    print(f"| {'benchmark':{width}s} | {'unit':10s} | {'heartcare':>10s} | {'baseline':>10s} | {'ratio':>7s} | better | baseline is")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 9}|--------|------------")
    for row in rows:
        baseline = "-" if row.baseline is None else f"{row.baseline:10.3f}"
        ratio = "-" if row.ratio is None else f"{row.ratio:6.2f}x"
        better = "higher" if row.higher_is_better else "lower"
        print(f"| {row.benchmark:{width}s} | {row.unit:10s} | {row.heartcare:10.3f} | {baseline:>10s} | {ratio:>7s} | {better:6s} | {row.baseline_name}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = arguments(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.build import build_model
    from heartcare.model.config import GptConfig
    from heartcare.model.examples import Collator, ItemDataset
    from heartcare.model.feature_cache import FeatureCache, load_beat_dim
    from heartcare.model.image_encoders import build_image_encoder
    from heartcare.train.gpt_presets import preset
    from heartcare.train.gpt_run import select_items

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="heartcare_bench_gpt_") as folder:
        scratch = Path(folder)
        dataset = args.data or simulated_dataset(scratch / "dataset")
        beat, beat_source = beat_checkpoint(args, scratch)
        backbone = backbone_folder(args, scratch)
        print(f"HeartcareGPT benchmark: {torch.get_num_threads()} torch thread(s), backbone {backbone}, "
              f"Beat {beat} ({beat_source}), image encoder {args.image_encoder}, dataset {dataset}")

        cache_row, features = measure_feature_cache(dataset, beat, args.image_encoder, args.limit, scratch)
        chosen = preset("cpu")
        feature_dim = build_image_encoder(args.image_encoder).feature_dim
        config = GptConfig(backbone=str(backbone), beat=str(beat), image_encoder=args.image_encoder,
                           signal_dim=load_beat_dim(beat), image_feature_dim=feature_dim, **chosen.model)
        model = build_model(config)  # with Beat and the image encoder: the same model trains and answers
        stage = joint_stage(args, args.warmup_steps + args.steps + 1)  # +1: the last timed step ends when the next batch arrives
        cache = FeatureCache(features)
        items, _ = select_items(BenchDataset(dataset).items("train"), chosen.stage("joint")[1].tasks, 1.0, None,
                                stage.seed, config, cache)
        train_data = ItemDataset(items, cache, config, model.tokenizer)
        collator = Collator(model.tokenizer.pad_token_id)  # train()'s batches, padded as heartcare pads them
        first_batch = collator([train_data[index] for index in range(min(args.batch, len(train_data)))])

        overhead_row = measure_ecg_overhead(model, first_batch, stage, args)
        training_row, training_notes = measure_training(model, train_data, collator, stage, config, backbone, args, scratch)
        inference_rows, inference_notes = measure_first_token(model, args)

    rows = [overhead_row, training_row, *inference_rows, cache_row]
    print_table(rows)
    overhead = overhead_row.ratio - 1
    checks = {
        f"ECG-token overhead <= {TARGET_OVERHEAD:.0%} of a text step (measured {overhead:+.1%})": overhead <= TARGET_OVERHEAD,
        f"train() items/s >= {TARGET_THROUGHPUT_RATIO:.1f}x the plain loop (measured {training_row.ratio:.3f}x)":
            training_row.ratio >= TARGET_THROUGHPUT_RATIO,
        f"time to first token < {TARGET_FIRST_TOKEN_SECONDS:g} s (measured {inference_rows[0].heartcare:.3f} s)":
            inference_rows[0].heartcare < TARGET_FIRST_TOKEN_SECONDS,
        "heartcare and the plain loop trained on the same batches": training_notes["same_batches"],
    }
    print(f"notes: {args.warmup_steps} warm-up + {args.steps} timed steps per loop (median step); "
          f"train()'s {training_notes['checkpoint_saves']} checkpoint save(s) took {training_notes['checkpoint_seconds']:.2f} s, "
          f"excluded from items/s; prompt {inference_notes['prompt_tokens']} tokens "
          f"({inference_notes['signal_tokens']} signal, {inference_notes['image_tokens']} image); "
          f"cold first request {inference_notes['cold_first_token_seconds']:.2f} s; "
          f"feature cache over {args.limit} train records; whole run {time.perf_counter() - started:.0f} s")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    report = {"threads": args.threads, "quick": args.quick, "checks": checks, **training_notes, **inference_notes,
              "rows": [{"benchmark": row.benchmark, "unit": row.unit, "heartcare": row.heartcare, "baseline": row.baseline,
                        "ratio": row.ratio, "baseline_name": row.baseline_name, "higher_is_better": row.higher_is_better}
                       for row in rows]}
    if not all(math.isfinite(row.heartcare) for row in rows):
        print("FAIL  some figure is not finite")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
