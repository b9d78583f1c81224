"""`BeatConfig`: every size and weight of the Beat tokenizer, saved in the checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from heartcare.errors import ConfigError

# Heartbeat periods the periodic prior looks for (continuation.py): 200 down to 30 bpm.
SHORTEST_PERIOD_S = 0.3
LONGEST_PERIOD_S = 2.0


def holds_a_period(samples: int, fs: float) -> bool:
    """Whether a window of `samples` at `fs` Hz is long enough to search for a heartbeat period."""
    return min(samples - 1, round(LONGEST_PERIOD_S * fs)) > max(1, round(SHORTEST_PERIOD_S * fs))


def _default_loss_weights() -> dict[str, float]:
    # Paper: loss = 1.0 recon + 0.5 pred + 0.25 VQ.
    return {"recon": 1.0, "pred": 0.5, "vq": 0.25}


@dataclass(frozen=True)
class BeatConfig:
    """Architecture and loss settings (defaults = the paper's Beat, sec. 3 / reference code)."""

    leads: int = 12
    fs: float = 250.0  # Hz; inputs are resampled to this rate before tokenizing
    context: int = 1000  # samples per window (4 s)
    horizon: int = 500  # samples the prediction head forecasts (2 s)
    patch: int = 25  # samples per patch; one patch holds all leads
    dim: int = 128  # model width
    encoder_depth: int = 6
    decoder_depth: int = 6
    prediction_depth: int = 2  # small transformer of the prediction head (paper: unstated)
    # "periodic": the head predicts a correction to the context's last period tiled forward
    # (scaled by a learned per-lead gain; see continuation.py); "none": the paper's head alone.
    # Checkpoints written before this field load as "none", as they were trained.
    prediction_prior: Literal["none", "periodic"] = "none"
    # heartcare's additions to the paper's architecture (see ADDITIONS); all off = the paper.
    # Checkpoints written before these fields load with them on, as they were trained.
    query_stretch: bool = False  # each query starts from a linear embedding of its own stretch of signal
    seeded_mask_tokens: bool = False  # decoder / prediction-head mask tokens start from the latents
    latent_projection: bool = False  # a Linear on the latents before the decoder's Transformer
    heads: int = 8
    head_dim: int = 64
    mlp_ratio: int = 4
    queries: int | None = None  # None = context / 50 (20 for 1000 samples)
    codebook_size: int = 512
    levels: int = 2
    shared_codebook: bool = False  # True = reference code's single codebook for all levels
    ema_decay: float = 0.8
    commitment: float = 1.0
    diversity: float = 0.3
    rotation_trick: bool = True
    kmeans_init: bool = False
    dead_code_threshold: float = 1e-3  # EMA usage below which a code is restarted
    # Also restart codes whose long-run share of assignments is below this fraction of
    # a uniform share (1 / codebook_size); 0 = off. Keeps Code% high on held-out data.
    rare_code_share: float = 0.0
    dropout: float = 0.0
    loss_weights: dict[str, float] = field(default_factory=_default_loss_weights)

    def __post_init__(self) -> None:
        def fail(problem: str) -> None:
            raise ConfigError("BeatConfig", problem)

        for name in ("leads", "context", "horizon", "patch", "dim", "heads", "head_dim",
                     "mlp_ratio", "codebook_size", "levels", "encoder_depth", "decoder_depth"):
            if int(getattr(self, name)) <= 0:
                fail(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.prediction_depth < 1:
            fail(f"prediction_depth must be >= 1, got {self.prediction_depth}")
        if self.prediction_prior not in ("none", "periodic"):
            fail(f"prediction_prior must be 'none' or 'periodic', got {self.prediction_prior!r}")
        if self.fs <= 0:
            fail(f"fs must be positive, got {self.fs}")
        if self.context % self.patch or self.horizon % self.patch:
            fail(f"context ({self.context}) and horizon ({self.horizon}) must be multiples of patch ({self.patch})")
        if self.prediction_prior == "periodic" and not holds_a_period(self.context, self.fs):
            fail(f"the periodic prediction prior needs a context longer than {SHORTEST_PERIOD_S} s; "
                 f"{self.context} samples at {self.fs} Hz is too short")
        if self.queries is None:
            if self.context % 50:
                fail(f"context {self.context} is not a multiple of 50; set queries explicitly")
            object.__setattr__(self, "queries", self.context // 50)
        if self.queries <= 0:
            fail(f"queries must be positive, got {self.queries}")
        if not 0.0 <= self.ema_decay < 1.0:
            fail(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.dropout < 1.0:
            fail(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.rare_code_share < 1.0:
            fail(f"rare_code_share must be in [0, 1), got {self.rare_code_share}")
        if self.commitment < 0 or self.diversity < 0:
            fail("commitment and diversity weights must be >= 0")
        unknown = set(self.loss_weights) - {"recon", "pred", "vq"}
        if unknown:
            fail(f"unknown loss weight(s) {sorted(unknown)}; expected recon, pred, vq")
        object.__setattr__(self, "loss_weights", {**_default_loss_weights(), **self.loss_weights})

    @property
    def patches(self) -> int:
        """Patch tokens per context window."""
        return self.context // self.patch

    @property
    def horizon_patches(self) -> int:
        return self.horizon // self.patch

    @property
    def bits_per_window(self) -> float:
        """Bits of the discrete code of one window: queries x levels x log2(codebook)."""
        import math

        return self.queries * self.levels * math.log2(self.codebook_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BeatConfig:
        """The config a saved dict describes; fields it predates take the value that
        reproduces what it was trained with (LEGACY_VALUES), not today's default."""
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ConfigError("BeatConfig", f"unknown field(s) {sorted(unknown)}")
        return cls(**{**LEGACY_VALUES, **values})

    def with_changes(self, **changes: Any) -> BeatConfig:
        """A copy with some fields changed; `queries` follows `context` unless given."""
        if "context" in changes and "queries" not in changes:
            changes["queries"] = None
        return replace(self, **changes)


# Values for fields a saved config predates: every checkpoint written before the
# additions were switchable was built with them on.
LEGACY_VALUES: dict[str, Any] = {"query_stretch": True, "seeded_mask_tokens": True, "latent_projection": True}

# heartcare's additions to the paper's Beat, by name, with the changes that turn each
# off (`heartcare beat ablate --without NAME`): the paper preset has them all off.
ADDITIONS: dict[str, dict[str, Any]] = {
    "query_stretch": {"query_stretch": False},
    "seeded_mask_tokens": {"seeded_mask_tokens": False},
    "latent_projection": {"latent_projection": False},
    "periodic_prior": {"prediction_prior": "none"},
}
ALL_ADDITIONS_ON: dict[str, Any] = {**LEGACY_VALUES, "prediction_prior": "periodic"}


def without_additions(config: BeatConfig, names: tuple[str, ...] | list[str]) -> BeatConfig:
    """`config` with the named additions (keys of ADDITIONS) turned off."""
    unknown = sorted(set(names) - set(ADDITIONS))
    if unknown:
        raise ConfigError("BeatConfig", f"unknown addition(s) {unknown}; choose from {sorted(ADDITIONS)}")
    changes: dict[str, Any] = {}
    for name in names:
        changes.update(ADDITIONS[name])
    return replace(config, **changes)


PresetName = Literal["paper", "cpu-small", "tiny"]

# Named configurations. "cpu-small" keeps the paper's interface (250 Hz, 1000-sample
# context, 20 queries, 2 x 512 codes, width 128) and shrinks only depth and heads, so
# its tokens are drop-in compatible; for its short schedule it seeds the codebooks by
# k-means and restarts rarely used codes (Code% on held-out data), and its prediction
# head corrects a periodic prior (next-2-s r 0.46 vs 0.34 for the head alone, same
# 3,000-step run; README) and it keeps heartcare's other additions on (ADDITIONS); "paper"
# is the paper's architecture exactly; "tiny" is for tests (additions on, as it always had).
PRESETS: dict[str, BeatConfig] = {
    "paper": BeatConfig(),
    "cpu-small": BeatConfig(encoder_depth=2, decoder_depth=2, prediction_depth=2, heads=4, head_dim=32,
                            kmeans_init=True, dead_code_threshold=0.1, rare_code_share=0.3, **ALL_ADDITIONS_ON),
    "tiny": BeatConfig(context=100, horizon=50, queries=5, dim=32, encoder_depth=1, decoder_depth=1,
                       prediction_depth=1, heads=2, head_dim=16, mlp_ratio=2, codebook_size=16, **LEGACY_VALUES),
}


def preset(name: str) -> BeatConfig:
    """The named preset; raises ConfigError listing the known names."""
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown Beat preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]
