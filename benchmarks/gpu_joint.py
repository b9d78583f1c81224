"""Stage 3 (joint LoRA) of HeartcareGPT through `accelerate launch` on a GPU, with a backbone larger than the CPU default.

    python benchmarks/gpu_joint.py --data DATASET --features CACHE [--tokenizer FOLDER] [--steps 60]
                                   [--resume-steps 20] [--shapes smollm2-135m,llama-1b,qwen2.5-7b] [--out DIR] [--json FILE]

Needs a CUDA GPU (it refuses to run without one: nothing here is a CPU figure). Model weights
cannot be downloaded on the machines this was written for, so each backbone is a randomly
initialised Llama (or Qwen2, the paper's 7B family) of a given shape that speaks SmolLM2's tokenizer (--tokenizer: any HF folder
with a tokenizer; default the converted SmolLM2 in the heartcare cache). The figures are about
the code path and its cost, not about answers: a random backbone learns only the answer format.

For each shape, the real command runs in a subprocess:
    accelerate launch --num_processes 1 --mixed_precision bf16 -m heartcare.cli gpt train
        --data DATASET --features CACHE --stage joint --preset paper --backbone BACKBONE --max-steps N
then the same with --resume and N + --resume-steps (the checkpoint is picked up and extended).
Baseline: the SmolLM2-135M shape (hidden 576, 30 layers, 9 heads, 3 key-value heads), the CPU
default's architecture, in the same run. The table gives parameters, the precision the loop used,
seconds per optimiser step (loop time / steps; paper preset: 4 x 4 accumulation = 16 items a
step), items/s, peak GPU memory (logged by the loop on CUDA), and the first and last logged loss.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
ITEMS_PER_STEP = 16  # the paper preset's joint stage: batch 4, accumulation 4
SHAPES = {
    # name: (family, hidden, intermediate, layers, attention heads, key-value heads, tied embeddings)
    "smollm2-135m": ("llama", 576, 1536, 30, 9, 3, True),
    "llama-1b": ("llama", 2048, 5632, 22, 32, 4, True),  # TinyLlama-1.1B's shape
    "qwen2.5-7b": ("qwen2", 3584, 18944, 28, 28, 4, False),  # the paper's backbone's shape (SmolLM2's 49k vocabulary)
    "tiny": ("llama", 64, 128, 2, 4, 2, True),  # the test of this script, on a CPU
    "tiny-qwen2": ("qwen2", 64, 128, 2, 4, 2, False),
}
RESULT_LINE = re.compile(r": joint \((\w+)\) (\d+) steps on (\d+) items, ([\d.]+) s")


def random_backbone(folder: Path, shape: str, tokenizer_folder: Path, seed: int = 0, device: str = "cuda") -> tuple[Path, int]:
    """A randomly initialised Llama or Qwen2 of `shape` with the tokenizer of `tokenizer_folder` -> (folder, parameters)."""
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
    family, hidden, intermediate, layers, heads, kv_heads, tied = SHAPES[shape]
    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}[family]
    config = config_class(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate,
                          num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                          max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=tied,
                          bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    with torch.device(device):  # initialising a billion parameters is minutes on a CPU, seconds on a GPU
        model = model_class(config)
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id)
    # Saved in bf16 (half the disk and load time of a 7B folder); the loop loads it in the config's dtype.
    model.to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder, parameters


def launch(data: Path, features: Path, backbone: Path, out: Path, steps: int, resume: bool) -> dict:
    """One `accelerate launch ... heartcare gpt train` -> its reported precision, steps, items and seconds."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
               "--mixed_precision", "bf16", "--dynamo_backend", "no", "-m", "heartcare.cli", "gpt", "train",
               "--data", str(data), "--features", str(features), "--stage", "joint", "--preset", "paper",
               "--backbone", str(backbone), "--out", str(out), "--max-steps", str(steps), "--quiet"]
    if resume:
        command.append("--resume")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPOSITORY)
    if finished.returncode != 0:
        raise SystemExit(f"accelerate launch failed ({finished.returncode}):\n{finished.stdout[-3000:]}\n{finished.stderr[-6000:]}")
    match = RESULT_LINE.search(finished.stdout)
    if match is None:
        raise SystemExit(f"no result line in the output:\n{finished.stdout[-3000:]}")
    document = json.loads((out / "training" / "trainer.json").read_text())
    return {"preset": match.group(1), "steps": int(match.group(2)), "items": int(match.group(3)),
            "seconds": float(match.group(4)), "precision": document.get("mixed_precision_used")}


def log_rows(out: Path) -> list[dict[str, float]]:
    with (out / "logs" / "train_log.csv").open(newline="") as handle:
        return [{key: float(value) for key, value in row.items() if value not in ("", None)} for row in csv.DictReader(handle)]


def run_shape(shape: str, args: argparse.Namespace, work: Path, device: str = "cuda") -> dict:
    backbone, parameters = random_backbone(work / f"backbone-{shape}", shape, args.tokenizer, device=device)
    out = work / f"joint-{shape}"
    first = launch(args.data, args.features, backbone, out, args.steps, resume=False)
    resumed = launch(args.data, args.features, backbone, out, args.steps + args.resume_steps, resume=True) if args.resume_steps else None
    rows = log_rows(out)
    memory = max((row.get("gpu_memory_gib", 0.0) for row in rows), default=0.0)
    return {
        "shape": shape, "parameters": parameters, "precision": first["precision"], "train_items": first["items"],
        "steps": first["steps"], "seconds_per_step": first["seconds"] / max(first["steps"], 1),
        "items_per_second": first["steps"] * ITEMS_PER_STEP / max(first["seconds"], 1e-9),
        "peak_gpu_memory_gib": memory, "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"],
        "resumed_to_step": resumed["steps"] if resumed else None, "logged_steps": [int(row["step"]) for row in rows],
    }


def print_table(results: list[dict]) -> None:
    baseline = results[0]
    print(f"{'backbone (random init)':24} {'params':>8} {'prec':>5} {'s/step':>7} {'items/s':>8} {'vs base':>8} "
          f"{'GPU GiB':>8} {'loss first -> last':>20} {'resumed to':>10}")
    for result in results:
        ratio = result["seconds_per_step"] / baseline["seconds_per_step"]
        print(f"{result['shape']:24} {result['parameters'] / 1e9:7.2f}B {result['precision']:>5} {result['seconds_per_step']:7.3f} "
              f"{result['items_per_second']:8.1f} {ratio:7.2f}x {result['peak_gpu_memory_gib']:8.2f} "
              f"{result['first_loss']:9.3f} -> {result['last_loss']:7.3f} {result['resumed_to_step'] or '-':>10}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a HeartAgent dataset folder")
    parser.add_argument("--features", type=Path, required=True, help="its feature cache (`heartcare gpt features`)")
    parser.add_argument("--tokenizer", type=Path, default=None, help="HF folder with a tokenizer (default: the cached SmolLM2)")
    parser.add_argument("--steps", type=int, default=60, help="optimiser steps of the first run")
    parser.add_argument("--resume-steps", type=int, default=20, help="steps added by the resumed run (0: no resume)")
    parser.add_argument("--shapes", default="smollm2-135m,llama-1b,qwen2.5-7b", help="comma-separated; the first is the baseline")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: this benchmark measures the GPU path only", file=sys.stderr)
        return 2
    if args.tokenizer is None:
        from heartcare.model.backbone import cache_folder

        args.tokenizer = cache_folder() / "models" / "SmolLM2-135M-Instruct-Q4_1"
    shapes = [shape.strip() for shape in args.shapes.split(",") if shape.strip()]
    unknown = [shape for shape in shapes if shape not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; expected some of {', '.join(SHAPES)}")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as temporary:
        work = args.out or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        results = []
        for shape in shapes:
            results.append(run_shape(shape, args, work))
            print(json.dumps(results[-1]), flush=True)
            if args.json:  # after every shape: a later one running out of time keeps the earlier figures
                args.json.write_text(json.dumps(results, indent=2))
            shutil.rmtree(work / f"backbone-{shape}", ignore_errors=True)  # a 7B folder is 15 GB of disk
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
