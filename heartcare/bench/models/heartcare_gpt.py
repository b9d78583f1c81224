"""`heartcare-gpt:CHECKPOINT`: a trained HeartcareGPT answering bench items with the ECG.

Features come from the checkpoint's feature cache when it covers the item's records
(the same tensors training read), else are computed from the dataset's signals and
images with the same code. Items whose ECG form the model cannot read (an image to a
signal-only ablation) are not applicable, never answered blind. A `<prediction>`
answer to a signal item becomes Beat's forecast of the item's context.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.bench.prompt import max_new_tokens
from heartcare.errors import ConfigError


class DatasetFeatures:
    """The FeatureCache interface computed on demand from a BenchDataset (memoised per record)."""

    def __init__(self, dataset, beat, image_encoder, image_view: str, cache=None, pages: bool = False) -> None:
        self.dataset, self.beat, self.image_encoder, self.image_view, self.cache = dataset, beat, image_encoder, image_view, cache
        self.pages = pages  # also digitise each picture (GptConfig.image_finding_page): slow, so only when read
        # per (record, with the drawn prediction context): only image signal-prediction items read that
        # picture, and encoding it costs as much as the record's own image
        self._tensors: dict[tuple[str, bool], dict[str, np.ndarray]] = {}

    def _record(self, record_id: str, context_image: bool) -> dict[str, np.ndarray]:
        key = (record_id, context_image)
        if key not in self._tensors:
            from heartcare.model.feature_cache import _record_tensors

            row = self.dataset.record(record_id)
            tensors = _record_tensors(Path(self.dataset.path), row, self.beat, self.image_encoder, self.image_view,
                                      context_images=context_image)
            self._tensors[key] = {name: value.astype(np.float16).astype(np.float32) for name, value in tensors.items()}
            if self.pages and self.image_encoder is not None:
                from heartcare.model.page_cache import picture_pages

                pages, _ = picture_pages(Path(self.dataset.path), row, context_image)  # an unread page is zeros with its flag 0
                self._tensors[key].update(pages)
        return self._tensors[key]

    def _get(self, record_id: str, key: str, cached) -> np.ndarray:
        if self.cache is not None and self.cache.has(record_id, key):
            return cached(record_id)
        context_image = key.startswith(("context_image/", "context_texture/", "context_page/"))
        if not context_image and (record_id, True) in self._tensors:
            return self._tensors[(record_id, True)][key]
        return self._record(record_id, context_image)[key]

    def signal(self, record_id: str) -> np.ndarray:
        return self._get(record_id, f"signal/{record_id}", lambda r: self.cache.signal(r))

    def context(self, record_id: str) -> np.ndarray:
        return self._get(record_id, f"context/{record_id}", lambda r: self.cache.context(r))

    def recording(self, record_id: str, context: bool = False) -> np.ndarray:
        key = f"{'context_' if context else ''}recording/{record_id}"
        return self._get(record_id, key, lambda r: self.cache.recording(r, context))

    def morphology(self, record_id: str, context: bool = False) -> np.ndarray:
        key = f"{'context_' if context else ''}morphology/{record_id}"
        return self._get(record_id, key, lambda r: self.cache.morphology(r, context))

    def image(self, record_id: str, index: int = 0) -> np.ndarray:
        return self._get(record_id, f"image/{record_id}/{index}", lambda r: self.cache.image(r, index))

    def context_image(self, record_id: str) -> np.ndarray:
        return self._get(record_id, f"context_image/{record_id}", lambda r: self.cache.context_image(r))

    def texture(self, record_id: str, index: int = 0, context: bool = False) -> np.ndarray:
        key = f"context_texture/{record_id}" if context else f"texture/{record_id}/{index}"
        return self._get(record_id, key, lambda r: self.cache.texture(r, index, context))

    def page(self, record_id: str, index: int = 0, context: bool = False) -> np.ndarray:
        key = f"context_page/{record_id}" if context else f"page/{record_id}/{index}"
        return self._get(record_id, key, lambda r: self.cache.page(r, index, context))


def checkpoint_features(argument: str, model, dataset) -> DatasetFeatures:
    """Features for a checkpoint's answers: its training feature cache when that cache was built from
    `dataset` (record ids of another build mean other ECGs), else computed with the model's encoders."""
    from heartcare.model.checkpoint import read_document
    from heartcare.model.feature_cache import FeatureCache

    cache = None
    features = read_document(Path(argument)).get("features")
    if features and (Path(features) / "manifest.json").is_file():
        candidate = FeatureCache(features)
        if candidate.serves(dataset.path):
            cache = candidate
    return DatasetFeatures(dataset, model.beat, model.image_encoder, model.config.image_view, cache,
                           pages=model.config.image_finding_page)


class HeartcareGptModel:
    batch_size = 16

    @staticmethod
    def fingerprint(argument: str) -> str | None:
        from heartcare.model.checkpoint import checkpoint_fingerprint

        return checkpoint_fingerprint(argument)

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        if not argument:
            raise ConfigError("--model", "heartcare-gpt needs a checkpoint folder: heartcare-gpt:PATH")
        from heartcare.model.checkpoint import from_pretrained

        self.name = f"heartcare-gpt:{argument}"
        self.context = context
        self.model = from_pretrained(argument)
        self.features = checkpoint_features(argument, self.model, context.dataset)
        from heartcare.model.finding_words import reader_of

        self.reader = reader_of(self.model)

    def respond(self, items: list[BenchItem]) -> list[Output]:
        from heartcare.model.ask import answer_encoded, predict_next
        from heartcare.model.examples import StreamMissingError, encode_item

        outputs: list[Output | None] = [None] * len(items)
        encoded: dict[int, object] = {}
        for position, item in enumerate(items):
            try:
                encoded[position] = encode_item(item, self.features, self.model.config, self.model.tokenizer, with_answer=False,
                                                reader=self.reader)
            except StreamMissingError as error:
                outputs[position] = Output(not_applicable=error.problem)
        choice_positions = [position for position in encoded if items[position].is_multiple_choice]
        scores = option_logprobs(self.model, [items[position] for position in choice_positions], self.features, self.reader)
        option_scores = dict(zip(choice_positions, scores, strict=True))
        by_options = set(choice_positions) if self.model.config.closed_answers == "options" else set()
        generated = [position for position in encoded if position not in by_options]
        answers = answer_encoded(self.model, [encoded[p] for p in generated], [max_new_tokens(items[p]) for p in generated])
        for position in by_options:
            outputs[position] = Output(text=self._option_answer(items[position], option_scores[position], encoded[position]),
                                       option_logprobs=option_scores[position])
        for position, tokens in zip(generated, answers, strict=True):
            item = items[position]
            output = Output(text=self.model.decode(tokens), option_logprobs=option_scores.get(position))
            if item.task == "signal_prediction" and self.model.asks_for_prediction(tokens):
                if item.ecgs[0].modality == "S" and self.model.beat is not None:
                    output.waveform = self._forecast(item, predict_next)
                else:
                    output = Output(not_applicable="a forecast is decoded from the signal; this item shows an image")
            outputs[position] = output
        return [output or Output(not_applicable="no answer") for output in outputs]

    def _option_answer(self, item: BenchItem, language: list[float], encoded) -> str:
        """The offered option the model scores best (heartcare.model.option_answers), in its answer form."""
        from heartcare.model.option_answers import fused_choice, option_answer, reader_scores

        weight = self.model.config.reader_weight
        reader = reader_scores(self.model, encoded, item.choices) if weight else None
        return option_answer(self.model.config, item.letters, item.choices, fused_choice(language, reader, weight))

    def _forecast(self, item: BenchItem, predict_next) -> np.ndarray:
        from heartcare.bench.dataset import prediction_samples
        from heartcare.bench.models.waveform import at_rate, context_ecg

        fs = float(item.meta["fs"])
        waveform, rate = predict_next(self.model.beat, context_ecg(self.context.dataset.prediction_context(item), fs))
        from heartcare.ecg.leads import STANDARD_LEADS
        from heartcare.ecg.record import Ecg

        forecast = at_rate(Ecg(waveform, rate, list(STANDARD_LEADS)), fs)
        return forecast[:, : prediction_samples(item)]


def option_logprobs(model, items: list[BenchItem], features, reader=None) -> list[list[float]]:
    """Per multiple-choice item, per option: log p(the option written as the model was trained to
    write answers, "B: text" or "text (B)" | prompt and ECGs), end-of-turn included, so `loglik_accuracy` can say whether a
    model ranks the right finding first even where its generated letter follows a prior."""
    import dataclasses

    from heartcare.model.examples import encode_item
    from heartcare.model.option_answers import option_logprobs_of

    rows = [encode_item(dataclasses.replace(item, answer_index=index, answer=f"{item.letters[index]}: {item.choices[index]}"), features,
                        model.config, model.tokenizer, with_answer=True, reader=reader)
            for item in items for index in range(len(item.choices))]
    scores = option_logprobs_of(model, rows)
    result, offset = [], 0
    for item in items:
        result.append(scores[offset : offset + len(item.choices)])
        offset += len(item.choices)
    return result
