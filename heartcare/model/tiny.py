"""`tiny_heartcare_gpt(folder)`: a small random HeartcareGPT checkpoint with both streams, built offline in seconds.

For tests, the served app's load benchmark and trying the API without training: a 2-layer
Llama with a byte-level tokenizer, a small random Beat with the real window geometry, and
the seeded random `tiny` image encoder. Its answers are noise; its shapes and code paths
are the real ones.
"""

from __future__ import annotations

from pathlib import Path

TINY_IMAGE_FEATURES = 16


def tiny_heartcare_gpt(folder: str | Path, seed: int = 0) -> Path:
    """Write backbone/, beat/ and checkpoint/ under `folder`; return the checkpoint folder."""
    import torch

    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat
    from heartcare.model.backbone import tiny_causal_lm
    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import save_pretrained
    from heartcare.model.config import GptConfig

    folder = Path(folder)
    backbone = tiny_causal_lm(folder / "backbone", seed=seed)
    torch.manual_seed(seed)
    beat_config = BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                             mlp_ratio=2, codebook_size=16)
    beat = build_beat(beat_config).save_pretrained(folder / "beat")
    config = GptConfig(backbone=str(backbone), beat=str(beat), image_encoder="tiny", image_feature_dim=TINY_IMAGE_FEATURES,
                       signal_dim=32, lora_rank=4, lora_alpha=8, max_length=2048, seed=seed)
    return save_pretrained(build_model(config), folder / "checkpoint")
