"""`probe:FEATURE_CACHE`: a linear classifier on the frozen encoders' features, a reference for HeartcareGPT.

It reads what HeartcareGPT's projectors receive (the cache's Beat latents and lead-crop
image features: a signal ECG brings both, an image ECG its image only) and of the question
only its kind, and fits one logistic regression per question kind on the train items whose
records the cache holds; the answer is the best-scoring of the item's own options. Where
HeartcareGPT scores below this probe, its language side has not yet learned to read what
the encoders give; where the probe itself is near chance, the encoders are the limit.
Multiple-choice items only. Needs scikit-learn (the `bench` extra).

`probe:FEATURE_CACHE@N` fits on at most N train items in all (a stable hash-ranked sample over
every kind): the probe's score with as many items as a HeartcareGPT run has seen says whether
that run could have learned to read the ECG from so few examples at all.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from heartcare.agent.description import stable_hash
from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.bench.models.floors import choice_text, question_kind
from heartcare.errors import ConfigError

SIGNAL_COMPONENTS, IMAGE_COMPONENTS = 64, 192  # principal components kept per stream (fitted on train records)
MAX_ITEMS_PER_KIND = 20_000  # a stable hash-ranked sample; enough for a linear model of a few hundred inputs
UNSEEN_OPTION = float(np.log(1e-9))  # an option never the answer of a train item of this kind


def item_group(item: BenchItem) -> tuple[str, ...]:
    """What one classifier serves: the question kind, the ECG forms (they set the input layout) and,
    for comparison items that name a finding in the question, that finding."""
    return (*question_kind(item), item.modality, str(item.meta.get("finding") or ""))


def split_budget(argument: str) -> tuple[str, int | None]:
    """"PATH@N" -> (PATH, N); "PATH" -> (PATH, None)."""
    folder, at, budget = argument.rpartition("@")
    if not at or not budget.isdigit():
        return argument, None
    if int(budget) < 1:
        raise ConfigError("--model", f"probe:PATH@N needs N >= 1 train items, got {budget}")
    return folder, int(budget)


class StreamReducer:
    """Standardise then project one stream's record vectors onto its first principal components."""

    def __init__(self, components: int, seed: int) -> None:
        self.components, self.seed = components, seed
        self.mean = self.scale = self.basis = None

    def fit(self, vectors: np.ndarray) -> StreamReducer:
        from sklearn.decomposition import PCA

        self.mean, self.scale = vectors.mean(0), vectors.std(0) + 1e-6
        pca = PCA(n_components=min(self.components, *vectors.shape), svd_solver="randomized", random_state=self.seed)
        self.basis = pca.fit((vectors - self.mean) / self.scale)
        return self

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return self.basis.transform((vectors - self.mean) / self.scale)


def signal_summary(latents: np.ndarray) -> np.ndarray:
    """A record's Beat latents [n, dim] as their mean and spread per dimension (records differ in length)."""
    return np.concatenate([latents.mean(0), latents.std(0)])


class ProbeModel:
    batch_size = 4096

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        if not argument:
            raise ConfigError("--model", "probe needs a feature cache folder: probe:PATH (`heartcare gpt features`)")
        try:
            import sklearn  # noqa: F401
        except ImportError as error:
            raise ConfigError(None, "the probe needs scikit-learn: pip install 'heartcare[bench]'") from error
        from heartcare.model.feature_cache import FeatureCache

        self.name = f"probe:{argument}"
        folder, self.item_budget = split_budget(argument)
        self.context = context
        self.cache = FeatureCache(folder)
        if not self.cache.serves(context.dataset.path):
            raise ConfigError(argument, f"this feature cache was built from another dataset than {context.dataset.path}")
        self.source = self.cache.source
        self._computed = None
        self._memo: dict[tuple[str, str], np.ndarray] = {}  # reduced stream vectors per (record, stream)
        self._reducers: dict[str, StreamReducer] | None = None
        self._classifiers: dict[tuple[str, ...], tuple[object, object, list[str]]] | None = None

    # -- features ---------------------------------------------------------------------------------
    def _features(self):
        """Cached tensors, else computed from the dataset with the cache's own Beat and image encoder."""
        if self._computed is None:
            from heartcare.bench.models.heartcare_gpt import DatasetFeatures
            from heartcare.model.build import load_beat
            from heartcare.model.feature_cache import load_beat_dim
            from heartcare.model.image_encoders import build_image_encoder

            beat = load_beat(self.source.beat, load_beat_dim(self.source.beat)) if self.source.beat else None
            encoder = build_image_encoder(self.source.image_encoder).eval() if self.source.image_encoder else None
            self._computed = DatasetFeatures(self.context.dataset, beat, encoder, self.source.image_view, self.cache)
        return self._computed

    def _stream(self, record_id: str, stream: str, features) -> np.ndarray:
        if stream == "signal":
            return signal_summary(features.signal(record_id).astype(np.float32))
        return features.image(record_id, 0).astype(np.float32).reshape(-1)

    def _streams_of(self, ref) -> tuple[str, ...]:
        streams = []
        if ref.modality == "S" and self.source.beat:
            streams.append("signal")
        if self.source.image_encoder:
            streams.append("image")
        return tuple(streams)

    def _reduced(self, record_id: str, stream: str, features) -> np.ndarray:
        key = (record_id, stream)
        if key not in self._memo:
            self._memo[key] = self._reducers[stream](self._stream(record_id, stream, features)[None])[0]
        return self._memo[key]

    def _item_vector(self, item: BenchItem, features) -> np.ndarray:
        per_ecg = [np.concatenate([self._reduced(ref.record_id, stream, features) for stream in self._streams_of(ref)])
                   for ref in item.ecgs]
        if len(per_ecg) == 2 and per_ecg[0].shape == per_ecg[1].shape:
            per_ecg.append(per_ecg[0] - per_ecg[1])  # comparisons hinge on the difference
        return np.concatenate(per_ecg)

    # -- fitting ----------------------------------------------------------------------------------
    def _train_items(self) -> dict[tuple[str, ...], list[BenchItem]]:
        usable = [item for item in self.context.dataset.items("train")
                  if item.is_multiple_choice and item.task != "signal_prediction" and item.ecgs
                  and all(ref.record_id in self.cache for ref in item.ecgs)]
        if self.item_budget is not None:
            usable = sorted(usable, key=lambda item: stable_hash(self.context.seed, "probe-budget", item.id))[: self.item_budget]
        grouped: dict[tuple[str, ...], list[BenchItem]] = defaultdict(list)
        for item in usable:
            grouped[item_group(item)].append(item)
        return {group: sorted(items, key=lambda item: stable_hash(self.context.seed, "probe", item.id))[:MAX_ITEMS_PER_KIND]
                for group, items in grouped.items()}

    def _fit(self) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        grouped = self._train_items()
        if not grouped:
            raise ConfigError(self.cache.folder, "the cache holds no record of any multiple-choice train item: nothing to fit")
        records = sorted({ref.record_id for items in grouped.values() for item in items for ref in item.ecgs})
        streams = [stream for stream, used in (("signal", self.source.beat), ("image", self.source.image_encoder)) if used]
        self._reducers = {}
        for stream in streams:
            size = SIGNAL_COMPONENTS if stream == "signal" else IMAGE_COMPONENTS
            vectors = np.stack([self._stream(record, stream, self.cache) for record in records])
            self._reducers[stream] = StreamReducer(size, self.context.seed).fit(vectors)
            self._memo.update({(record, stream): row for record, row in zip(records, self._reducers[stream](vectors), strict=True)})
        self._classifiers = {}
        for group, items in grouped.items():
            answers = [item.choices[item.answer_index] for item in items]
            inputs = np.stack([self._item_vector(item, self.cache) for item in items])
            scaler = StandardScaler().fit(inputs)
            if len(set(answers)) == 1:
                self._classifiers[group] = (scaler, None, answers[:1])
                continue
            classifier = LogisticRegression(C=0.05, max_iter=2000, random_state=self.context.seed)
            classifier.fit(scaler.transform(inputs), answers)
            self._classifiers[group] = (scaler, classifier, list(classifier.classes_))

    # -- answering --------------------------------------------------------------------------------
    def respond(self, items: list[BenchItem]) -> list[Output]:
        if self._classifiers is None:
            self._fit()
        outputs = []
        for item in items:
            if not item.is_multiple_choice or item.task == "signal_prediction":
                outputs.append(Output(not_applicable="the probe answers multiple-choice items only"))
            elif item_group(item) not in self._classifiers:
                outputs.append(Output(not_applicable=f"no train item of kind {item_group(item)} in the feature cache"))
            else:
                scores = self._scores(item)
                outputs.append(Output(text=choice_text(item, int(np.argmax(scores))), option_logprobs=scores))
        return outputs

    def _scores(self, item: BenchItem) -> list[float]:
        scaler, classifier, classes = self._classifiers[item_group(item)]
        if classifier is None:
            return [0.0 if choice == classes[0] else UNSEEN_OPTION for choice in item.choices]
        vector = scaler.transform(self._item_vector(item, self._features())[None])
        probabilities = np.maximum(classifier.predict_proba(vector)[0], np.exp(UNSEEN_OPTION))  # finite: JSON has no -inf
        log_probabilities = dict(zip(classes, np.log(probabilities), strict=True))
        return [float(log_probabilities.get(choice, UNSEEN_OPTION)) for choice in item.choices]

