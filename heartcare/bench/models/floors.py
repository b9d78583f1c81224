"""The floors every model must clear: `random` and `majority`.

random: a uniformly drawn option; for free text, the answer of a random train item of
the same task and dimension; for signal prediction, the target of a random train item
(a real ECG stretch, just not this one). majority: the option whose text was most
often correct in train for the same question kind (task, dimension, subtopic or
comparison kind), else the most frequent correct letter; for free text, the most
frequent train answer; for signal prediction, the flat baseline (zeros), which is the
mean of baseline-corrected ECG. Both are seeded and fitted on the train split only.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from heartcare.agent.description import stable_hash
from heartcare.bench.dataset import prediction_samples
from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output


def question_kind(item: BenchItem) -> tuple[str, ...]:
    """The unit answer priors are learned per: task, dimension and the subtopic or comparison kind."""
    return (item.task, item.dimension, str(item.meta.get("subtopic") or item.meta.get("kind") or ""))


def choice_text(item: BenchItem, index: int) -> str:
    return f"{item.letters[index]}: {item.choices[index]}"


class TrainPool:
    """Train items grouped by question kind, loaded once per adapter."""

    def __init__(self, context: ModelContext) -> None:
        self.context = context
        self.by_kind: dict[tuple[str, ...], list[BenchItem]] = defaultdict(list)
        for item in context.dataset.items("train"):
            self.by_kind[question_kind(item)].append(item)
            self.by_kind[(item.task, item.dimension)].append(item)  # fallback for kinds train lacks

    def peers(self, item: BenchItem) -> list[BenchItem]:
        return self.by_kind.get(question_kind(item)) or self.by_kind.get((item.task, item.dimension)) or []


class RandomModel:
    batch_size = 256

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        self.name = "random"
        self.context = context
        self._pool: TrainPool | None = None

    @property
    def pool(self) -> TrainPool:
        if self._pool is None:
            self._pool = TrainPool(self.context)
        return self._pool

    def _rng(self, item: BenchItem) -> np.random.Generator:
        return np.random.default_rng([self.context.seed, stable_hash("random", item.id)])

    def respond(self, items: list[BenchItem]) -> list[Output]:
        outputs = []
        for item in items:
            rng = self._rng(item)
            if item.is_multiple_choice:
                outputs.append(Output(text=choice_text(item, int(rng.integers(len(item.choices))))))
                continue
            peers = self.pool.peers(item)
            if not peers:
                outputs.append(Output(not_applicable="no train items of this kind to draw from"))
                continue
            peer = peers[int(rng.integers(len(peers)))]
            if item.task == "signal_prediction":
                waveform = self.context.dataset.prediction_target(peer)
                outputs.append(Output(waveform=_fit_length(waveform, item)))
            else:
                outputs.append(Output(text=peer.answer_text))
        return outputs


class MajorityModel:
    batch_size = 1024

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        self.name = "majority"
        self.context = context
        self._fitted: dict[tuple[str, ...], tuple[Counter, Counter]] | None = None

    def _fit(self) -> dict[tuple[str, ...], tuple[Counter, Counter]]:
        """kind -> (correct option texts, correct letters) counted over train."""
        if self._fitted is None:
            fitted: dict[tuple[str, ...], tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
            for item in self.context.dataset.items("train"):
                texts, letters = fitted[question_kind(item)]
                if item.is_multiple_choice:
                    texts[item.answer_text] += 1
                    letters[item.answer_index] += 1
                else:
                    texts[item.answer] += 1
            self._fitted = dict(fitted)
        return self._fitted

    def respond(self, items: list[BenchItem]) -> list[Output]:
        fitted = self._fit()
        outputs = []
        for item in items:
            texts, letters = fitted.get(question_kind(item), (Counter(), Counter()))
            if item.task == "signal_prediction":
                outputs.append(Output(waveform=np.zeros((12, prediction_samples(item)), np.float32)))
            elif item.is_multiple_choice:
                outputs.append(Output(text=choice_text(item, _majority_choice(item, texts, letters))))
            elif texts:
                # Ties broken by text so the answer never depends on train order.
                outputs.append(Output(text=min(texts.items(), key=lambda pair: (-pair[1], pair[0]))[0]))
            else:
                outputs.append(Output(not_applicable="no train items of this kind"))
        return outputs


def _majority_choice(item: BenchItem, texts: Counter, letters: Counter) -> int:
    offered = [(texts.get(choice, 0), -index) for index, choice in enumerate(item.choices)]
    best_count, negative_index = max(offered)
    if best_count > 0:
        return -negative_index
    ranked = sorted(range(len(item.choices)), key=lambda index: (-letters.get(index, 0), index))
    return ranked[0]


def _fit_length(waveform: np.ndarray, item: BenchItem) -> np.ndarray:
    length = prediction_samples(item)
    if waveform.shape[1] >= length:
        return np.asarray(waveform[:, :length], np.float32)
    return np.pad(np.asarray(waveform, np.float32), ((0, 0), (0, length - waveform.shape[1])))
