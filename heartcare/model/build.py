"""`build_model(config)`: names in a GptConfig -> a HeartcareGPT of real modules.

The backbone is loaded from a local folder (or the packaged SmolLM2), the ECG tokens
are added to its tokenizer with their embedding rows set to the mean of the existing
rows (a neutral start the warm-up stage can move), LoRA adapters are attached to the
attention projections with peft, and the projectors are created from a seeded RNG, so
the same config always builds the same untrained model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from heartcare.errors import ConfigError
from heartcare.model.config import GptConfig

# Attention projections under the names other backbones give them (Phi-3 fuses q, k and v).
FUSED_ATTENTION = ("qkv_proj", "o_proj")


def backbone_folder(config: GptConfig) -> Path:
    from heartcare.model.backbone import default_backbone_path

    return default_backbone_path() if config.backbone == "default" else Path(config.backbone).expanduser()


def lora_targets(language_model, wanted: tuple[str, ...]) -> list[str]:
    """The wanted module names the backbone has (or its fused equivalents); none at all is an error."""
    names = {name.rsplit(".", 1)[-1] for name, _ in language_model.named_modules()}
    present = [name for name in wanted if name in names]
    separate = {"q_proj", "k_proj", "v_proj"}
    if separate & set(wanted) and not separate & set(present):  # q, k and v fused into one projection
        present += [name for name in FUSED_ATTENTION if name in names and name not in present]
    if not present:
        raise ConfigError("GptConfig.lora_targets", f"the backbone has none of {list(wanted)} (nor {list(FUSED_ATTENTION)})")
    return present


def load_beat(path: str | Path, signal_dim: int):
    """A frozen Beat from its checkpoint folder; its latent width must match the config."""
    from heartcare.beat.model import Beat

    beat = Beat.from_pretrained(path)
    for parameter in beat.parameters():
        parameter.requires_grad_(False)
    if beat.config.dim != signal_dim:
        raise ConfigError(path, f"Beat latents are {beat.config.dim} wide but GptConfig.signal_dim is {signal_dim}")
    return beat.eval()


def load_image_encoder(spec: str, feature_dim: int):
    from heartcare.model.image_encoders import build_image_encoder

    encoder = build_image_encoder(spec)
    if encoder.feature_dim != feature_dim:
        raise ConfigError(spec, f"the encoder gives {encoder.feature_dim}-wide features but GptConfig.image_feature_dim is {feature_dim}")
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return encoder.eval()


def build_model(config: GptConfig, load_encoders: bool = True):
    """A HeartcareGPT for `config`; load_encoders=False skips Beat and the image encoder (training on cached features)."""
    import torch

    from heartcare.model.backbone import load_causal_lm
    from heartcare.model.chat import COMPARISON, FINDING, IMAGE_FINDING, add_special_tokens
    from heartcare.model.gpt import HeartcareGPT
    from heartcare.model.projectors import ImageProjector, SignalProjector

    language_model, tokenizer = load_causal_lm(backbone_folder(config), config.dtype)
    base_vocabulary = language_model.get_input_embeddings().weight.shape[0]
    new_ids = add_special_tokens(tokenizer, (FINDING,) * bool(config.findings) + (IMAGE_FINDING,) * config.image_findings
                                 + (COMPARISON,) * config.comparison_findings)
    if min(new_ids) < base_vocabulary or max(new_ids) >= base_vocabulary + len(new_ids):
        # a tokenizer already holding some of the tokens would leave rows shared with the backbone
        base_vocabulary = min(base_vocabulary, min(new_ids))
    language_model.resize_token_embeddings(max(len(tokenizer), max(new_ids) + 1), mean_resizing=False)
    with torch.no_grad():
        for matrix in _embedding_matrices(language_model):
            matrix[base_vocabulary:] = matrix[:base_vocabulary].mean(dim=0)
    hidden = language_model.get_input_embeddings().weight.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        signal_projector = SignalProjector(config.signal_dim, hidden) if config.uses_signal else None
        image_projector = ImageProjector(config.image_feature_dim, hidden, config.image_tokens) if config.uses_image else None
        finding_projector = image_finding_projector = None
        if config.findings:
            from heartcare.model.findings import FindingProjector

            counts = [len(answers) for _, answers in config.findings]
            from heartcare.ecg.morphology import WIDTH as MORPHOLOGY_WIDTH
            from heartcare.ecg.recording import WIDTH

            pairs = config.comparison_findings  # rate heads on both streams, the pair's tokens beside the signal's
            named = len(config.named_findings)  # presence heads on both streams for the which-shows token
            width = 2 * config.signal_dim + WIDTH * config.finding_recording + MORPHOLOGY_WIDTH * config.finding_morphology
            finding_projector = FindingProjector(width, hidden, counts,
                                                 rate=pairs, comparison=pairs, presence=named,
                                                 unasked_prior=config.finding_unasked_prior)
            if config.image_findings:
                image_finding_projector = build_image_finding_projector(config, hidden)
        if config.lora_rank:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                              target_modules=lora_targets(language_model, config.lora_targets), bias="none")
            with warnings.catch_warnings():  # peft asks transformers a deprecated property on every wrap
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
                language_model = get_peft_model(language_model, lora)
    dtype = getattr(torch, config.dtype)
    for projector in (signal_projector, image_projector, finding_projector, image_finding_projector):
        if projector is not None:
            projector.to(dtype)
    beat = load_beat(config.beat, config.signal_dim) if load_encoders and config.uses_signal else None
    image_encoder = load_image_encoder(config.image_encoder, config.image_feature_dim) if load_encoders and config.uses_image else None
    model = HeartcareGPT(config, language_model, tokenizer, signal_projector, image_projector, base_vocabulary, beat, image_encoder,
                         finding_projector, image_finding_projector)
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # stages unfreeze what they train
    return model.eval()


def _embedding_matrices(language_model):
    matrices = [language_model.get_input_embeddings().weight]
    output = language_model.get_output_embeddings()
    if output is not None and output.weight is not matrices[0]:
        matrices.append(output.weight)
    return matrices


def build_image_finding_projector(config: GptConfig, hidden: int):
    """The image stream's FindingProjector of a model with `config` (image_findings), unfitted."""
    from heartcare.model.findings import FindingProjector
    from heartcare.model.page_cache import page_width
    from heartcare.render.texture import texture_width

    width = ((2 + config.image_finding_views) * config.image_feature_dim + texture_width() * config.image_finding_texture
             + page_width() * config.image_finding_page)
    counts = [len(answers) for _, answers in config.findings]
    return FindingProjector(width, hidden, counts, rate=config.comparison_findings, presence=len(config.named_findings),
                            unasked_prior=config.finding_unasked_prior)
