"""Asking HeartcareGPT about ECGs: features of each ECG, batched greedy generation, `<prediction>` -> waveform.

An ECG file gives its signal to Beat and, when the model has an image stream, its
drawing (6 x 2 crops) to the image encoder; a picture alone (photo, scan) gives the
image stream only, as one whole view. When the answer starts with `<prediction>`,
Beat's prediction head continues the signal's last 4 s: [12, 500] mV at 250 Hz.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from heartcare.ecg.record import Ecg
from heartcare.errors import ConfigError
from heartcare.model.chat import EcgFeatures, encode
from heartcare.model.examples import collate, pool


@dataclass
class Question:
    """One request: the question text, its ECGs (an Ecg, a picture [H, W, 3], or both per ECG), a token budget."""

    text: str
    ecgs: list[tuple[Ecg | None, np.ndarray | None]]
    max_new_tokens: int = 96
    system: str | None = None


@dataclass
class Answer:
    text: str
    prediction: np.ndarray | None = None  # [12, horizon] mV at `prediction_fs`
    prediction_fs: float | None = None
    new_tokens: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def ecg_features(model, ecg: Ecg | None, picture: np.ndarray | None) -> EcgFeatures:
    """What the model reads of one ECG (see the module docstring)."""
    from heartcare.model.features import drawn_views, signal_latents

    config = model.config
    signal = image = None
    if ecg is not None and config.uses_signal:
        if model.beat is None:
            raise ConfigError("HeartcareGPT", "loaded without its Beat (load_encoders=False): it cannot read a signal")
        signal = pool(signal_latents(model.beat, ecg), config.signal_pool)
    if config.uses_image:
        if model.image_encoder is None:
            raise ConfigError("HeartcareGPT", "loaded without its image encoder: it cannot read a picture")
        if picture is not None:
            image = model.image_encoder.encode_images([np.asarray(picture)[..., :3]])
        elif ecg is not None and (signal is None or config.signal_items_see_image):
            image = model.image_encoder.encode_images(drawn_views(ecg, config.image_view))
    if signal is None and image is None:
        raise ConfigError("HeartcareGPT", "nothing this model can read: give an ECG file (signal stream) or a picture (image stream)")
    return EcgFeatures(signal=signal, image=image)


def answer_encoded(model, encoded: list, budgets: list[int]) -> list[list[int]]:
    """Greedy answers of tokenised prompts, batched per token budget (the KV cache is on)."""
    answers: list[list[int] | None] = [None] * len(encoded)
    pad = model.tokenizer.pad_token_id
    for budget in sorted(set(budgets)):
        positions = [index for index, value in enumerate(budgets) if value == budget]
        batch = collate([encoded[index] for index in positions], pad, left=True)
        for index, tokens in zip(positions, model.generate(batch, budget), strict=True):
            answers[index] = tokens
    return [answer or [] for answer in answers]


def ask(model, questions: list[Question]) -> list[Answer]:
    """Answer a batch of questions about ECG files and pictures."""
    from heartcare.bench.prompt import SYSTEM_PROMPT

    started = time.perf_counter()
    encoded = []
    for number, question in enumerate(questions):
        features = [ecg_features(model, ecg, picture) for ecg, picture in question.ecgs]
        encoded.append(encode(model.tokenizer, features, question.text, None, question.system or SYSTEM_PROMPT,
                              model.config.image_tokens, model.config.max_length, where=f"question {number + 1}"))
    token_lists = answer_encoded(model, encoded, [question.max_new_tokens for question in questions])
    seconds = (time.perf_counter() - started) / max(len(questions), 1)
    answers = []
    for question, tokens in zip(questions, token_lists, strict=True):
        answer = Answer(text=model.decode(tokens), new_tokens=len(tokens), seconds=seconds)
        if model.asks_for_prediction(tokens):
            signals = [ecg for ecg, _ in question.ecgs if ecg is not None]
            if signals and model.beat is not None:
                answer.prediction, answer.prediction_fs = predict_next(model.beat, signals[-1])
            else:
                answer.extra["prediction_unavailable"] = "a forecast needs the ECG as signal and a Beat"
        answers.append(answer)
    return answers


def predict_next(beat, ecg: Ecg) -> tuple[np.ndarray, float]:
    """Beat's forecast after the ECG's last 4 s: ([12, horizon] mV, fs)."""
    from heartcare.model.features import context_latents, forecast

    _, prepared = context_latents(beat, ecg)
    predicted = forecast(beat, prepared)
    return predicted.signal.astype(np.float32), float(predicted.fs)
