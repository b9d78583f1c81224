"""benchmarks/gpu_joint.py: the `accelerate launch` stage-3 path it drives, run here on a CPU with the tiny shape."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_joint.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_joint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on machines without a GPU")
def test_it_refuses_to_report_cpu_figures_as_gpu_ones(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path), "--features", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr


def test_a_launched_joint_run_trains_resumes_and_is_reported(built_dataset, tmp_path):
    """The real command under `accelerate launch` (paper preset, LoRA, calibrated projectors), then --resume."""
    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat
    from heartcare.model.backbone import tiny_causal_lm
    from heartcare.model.feature_cache import build_feature_cache

    script = load_script()
    torch.manual_seed(0)
    beat = build_beat(BeatConfig(dim=128, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                                 mlp_ratio=2, codebook_size=16)).save_pretrained(tmp_path / "beat")
    features = build_feature_cache(built_dataset, str(beat), "tiny", out=tmp_path / "features", shard_size=8, progress=False)
    args = argparse.Namespace(data=built_dataset, features=features, tokenizer=tiny_causal_lm(tmp_path / "lm"), steps=2, resume_steps=1)
    result = script.run_shape("tiny", args, tmp_path / "work", device="cpu")
    assert result["steps"] == 2 and result["resumed_to_step"] == 3 and result["train_items"] > 0
    assert result["logged_steps"] == [2, 3]  # the resumed run appended to the same log
    assert result["precision"] in ("bf16", "no") and result["parameters"] > 0
    assert 0 < result["seconds_per_step"] and all(map(torch.isfinite, torch.tensor([result["first_loss"], result["last_loss"]])))


def test_the_qwen2_shape_is_a_qwen2_that_heartcare_loads(tmp_path):
    """The 7B row's family, built at the tiny size: a Qwen2 with untied embeddings and the given tokenizer."""
    from heartcare.model.backbone import load_causal_lm, tiny_causal_lm

    script = load_script()
    tokenizer_folder = tiny_causal_lm(tmp_path / "lm")
    folder, parameters = script.random_backbone(tmp_path / "qwen", "tiny-qwen2", tokenizer_folder, device="cpu")
    model, tokenizer = load_causal_lm(folder)
    family, hidden, _, layers, heads, kv_heads, tied = script.SHAPES["tiny-qwen2"]
    assert family == model.config.model_type == "qwen2" and not tied and not model.config.tie_word_embeddings
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.num_key_value_heads) == (hidden, layers, kv_heads)
    assert parameters == sum(parameter.numel() for parameter in model.parameters())
    assert model.get_input_embeddings().weight.data_ptr() != model.get_output_embeddings().weight.data_ptr()
    assert model.dtype == torch.float32  # saved in bf16, loaded in the config's dtype
