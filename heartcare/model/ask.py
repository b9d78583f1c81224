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
from heartcare.model.examples import collate, finding_input, signal_tokens


@dataclass
class Picture:
    """A picture of an ECG [H, W, 3] uint8; `render_parameters` when heartcare drew it (its PNG says so), so
    the image stream reads the 12 lead crops it was trained on instead of one whole view."""

    pixels: np.ndarray
    render_parameters: dict | None = None


@dataclass
class Question:
    """One request: the question text, its ECGs (an Ecg, a picture, or both per ECG), a token budget."""

    text: str
    ecgs: list[tuple[Ecg | None, Picture | np.ndarray | None]]
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


def ecg_features(model, ecg: Ecg | None, picture: Picture | np.ndarray | None) -> EcgFeatures:
    """What the model reads of one ECG (see the module docstring)."""
    from heartcare.model.features import drawn_page, drawn_views, image_views, signal_latents
    from heartcare.render.texture import trace_texture

    config = model.config
    signal = image = finding = None
    if ecg is not None and config.uses_signal:
        if model.beat is None:
            raise ConfigError("HeartcareGPT", "loaded without its Beat (load_encoders=False): it cannot read a signal")
        latents = signal_latents(model.beat, ecg)
        signal = signal_tokens(latents, config)
        if config.findings:
            from heartcare.ecg.morphology import morphology_features
            from heartcare.ecg.recording import recording_features

            finding = finding_input(latents, recording_features(ecg) if config.finding_recording else None,
                                    morphology=morphology_features(ecg) if config.finding_morphology else None)
    if config.uses_image:
        if model.image_encoder is None:
            raise ConfigError("HeartcareGPT", "loaded without its image encoder: it cannot read a picture")
        if picture is not None:
            picture = picture if isinstance(picture, Picture) else Picture(np.asarray(picture))
            views = image_views(picture.pixels[..., :3], picture.render_parameters, config.image_view)
            image = model.image_encoder.encode_images(views)
            page = picture.pixels[..., :3]
        elif ecg is not None and (signal is None or config.signal_items_see_image):
            image = model.image_encoder.encode_images(drawn_views(ecg, config.image_view))
            page = None
    if signal is None and image is None:
        raise ConfigError("HeartcareGPT", "nothing this model can read: give an ECG file (signal stream) or a picture (image stream)")
    image_finding = None
    if config.image_findings and signal is None and image is not None:
        texture = reading = None
        if config.image_finding_texture or config.image_finding_page:
            # an ECG file's texture and page reading come off the dataset's own sheet (3 x 4 + II), the sheet the readers were fitted on
            sheet = page if page is not None else drawn_page(ecg, "3x4+II")
            texture = trace_texture(sheet) if config.image_finding_texture else None
            if config.image_finding_page:
                from heartcare.render.digitize import page_morphology

                reading, _ = page_morphology(sheet)  # a page it cannot read is zeros with its flag 0, as in training
        image_finding = finding_input(image, views=config.image_finding_views, texture=texture, page=reading)
    return EcgFeatures(signal=signal, image=image, finding=finding, image_finding=image_finding)


def answer_encoded(model, encoded: list, budgets: list[int], on_token=None, cancelled=None,
                   options: list[list[str]] | None = None, chosen: dict[int, dict] | None = None) -> list[list[int]]:
    """Greedy answers of tokenised prompts in one left-padded batch, each row with its own token budget.

    on_token(row, token) and cancelled(row) are passed to `HeartcareGPT.generate` (streaming, hang-ups).
    With `options` (per row the options its question offers, heartcare.model.option_answers.question_options)
    and a model whose closed_answers is "options", a row offering two or more is answered by scoring them;
    its choice and scores land in `chosen[row]` when a dict is given, its tokens reach on_token all at once.
    """
    if not encoded:
        return []
    scored: dict[int, dict] = {}
    if options is not None and model.config.closed_answers == "options":
        from heartcare.model.option_answers import choose_options

        offering = [row for row, offered in enumerate(options) if len(offered) >= 2]
        scored = dict(zip(offering, choose_options(model, [encoded[row] for row in offering], [options[row] for row in offering]),
                          strict=True))
    answers: dict[int, list[int]] = {}
    for row, choice in scored.items():
        answers[row] = model.tokenizer(choice["answer"], add_special_tokens=False)["input_ids"]
        for token in answers[row] if on_token is not None else ():
            on_token(row, token)
    if chosen is not None:
        chosen.update(scored)
    rest = [row for row in range(len(encoded)) if row not in scored]
    if rest:
        batch = collate([encoded[row] for row in rest], model.tokenizer.pad_token_id, left=True)
        generated = model.generate(batch, [budgets[row] for row in rest],
                                   on_token=None if on_token is None else lambda index, token: on_token(rest[index], token),
                                   cancelled=None if cancelled is None else lambda index: cancelled(rest[index]))
        answers.update(zip(rest, generated, strict=True))
    return [answers[row] for row in range(len(encoded))]


def prepare(model, question: Question, number: int = 1, features_of=None):
    """The tokenised prompt of one question with its ECGs' features (raises for what the model cannot read).

    features_of(model, ecg, picture): where features come from (default `ecg_features`; a server memoises it).
    """
    from heartcare.bench.prompt import SYSTEM_PROMPT
    from heartcare.model.comparison_tokens import named_finding
    from heartcare.model.offered_answers import offered_answers

    features_of = features_of or ecg_features
    features = [features_of(model, ecg, picture) for ecg, picture in question.ecgs]
    offered = offered_answers(question.text, model.config.findings) if model.config.finding_choices else None
    if model.config.finding_words:  # the readers' beliefs as words (heartcare.model.finding_words)
        from heartcare.model.finding_words import FindingWords

        features = FindingWords(model)(features, offered)
    return encode(model.tokenizer, features, question.text, None, question.system or SYSTEM_PROMPT,
                  model.config.image_tokens, model.config.max_length, where=f"question {number}",
                  finding_tokens=model.config.finding_tokens, comparison_tokens=model.config.comparison_tokens,
                  named_finding=named_finding(question.text, model.config), offered=offered)


def finish(model, question: Question, tokens: list[int], seconds: float) -> Answer:
    """The answer's text, and Beat's forecast when the model asked for `<prediction>`."""
    answer = Answer(text=model.decode(tokens), new_tokens=len(tokens), seconds=seconds)
    if model.asks_for_prediction(tokens):
        signals = [ecg for ecg, _ in question.ecgs if ecg is not None]
        if signals and model.beat is not None:
            answer.prediction, answer.prediction_fs = predict_next(model.beat, signals[-1])
        else:
            answer.extra["prediction_unavailable"] = "a forecast needs the ECG as signal and a Beat"
    return answer


def ask(model, questions: list[Question], on_token=None, cancelled=None) -> list[Answer]:
    """Answer a batch of questions about ECG files and pictures (one generation call, per-question budgets)."""
    started = time.perf_counter()
    from heartcare.model.option_answers import question_options

    encoded = [prepare(model, question, number + 1) for number, question in enumerate(questions)]
    chosen: dict[int, dict] = {}
    token_lists = answer_encoded(model, encoded, [question.max_new_tokens for question in questions], on_token, cancelled,
                                 options=[question_options(question.text) for question in questions], chosen=chosen)
    seconds = (time.perf_counter() - started) / max(len(questions), 1)
    answers = [finish(model, question, tokens, seconds) for question, tokens in zip(questions, token_lists, strict=True)]
    for row, choice in chosen.items():  # how the offered options scored, for a reader to check the answer against
        answers[row].extra["options"] = choice["scores"]
    if model.config.findings:  # what the finding tokens said, for a reader to check the answer against
        from heartcare.model.comparison_tokens import read_comparison
        from heartcare.model.findings import read_findings

        for answer, prompt in zip(answers, encoded, strict=True):
            answer.extra["findings"] = read_findings(model, prompt)
            if prompt.comparison:  # a pair: what its comparison tokens said (same rhythm? which is faster? which shows X?)
                answer.extra["comparison"] = read_comparison(model, prompt)
    return answers


def predict_next(beat, ecg: Ecg) -> tuple[np.ndarray, float]:
    """Beat's forecast after the ECG's last 4 s: ([12, horizon] mV, fs)."""
    from heartcare.model.features import context_latents, forecast

    _, prepared = context_latents(beat, ecg)
    predicted = forecast(beat, prepared)
    return predicted.signal.astype(np.float32), float(predicted.fs)
