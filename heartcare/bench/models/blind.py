"""`blind`: a text-only option scorer that never sees a signal or an image.

For multiple-choice items a TF-IDF + logistic-regression model, fitted on train, scores
each option from its own text (overall and within its question kind) and from the
question stem; the best-scoring option is the answer and the scores are returned as
option log-likelihoods. For free text it answers with the train answer of the most
similar train question (TF-IDF cosine, same task and dimension). If this floor scores
well above chance, the dataset leaks the answer through its wording (DESIGN.md, "An
honest benchmark"). Needs scikit-learn (the `bench` extra).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.bench.models.floors import choice_text, question_kind
from heartcare.errors import ConfigError

_OPTIONS = re.compile(r"\s*Options:.*$", re.DOTALL)


def stem(question: str) -> str:
    """The question without its option list (every option shares it, so it cannot rank them)."""
    return _OPTIONS.sub("", question)


def option_document(item: BenchItem, option: str) -> str:
    """Option words, the same words tagged with the question kind, and stem words tagged as such."""
    kind = "_".join(question_kind(item)).replace(" ", "_")
    option_words = re.findall(r"[a-z0-9]+", option.lower())
    stem_words = re.findall(r"[a-z0-9]+", stem(item.question).lower())
    return " ".join(option_words + [f"{kind}__{word}" for word in option_words] + [f"stem__{word}" for word in stem_words])


class BlindModel:
    batch_size = 4096

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        try:
            import sklearn  # noqa: F401
        except ImportError as error:
            raise ConfigError(None, "the blind floor needs scikit-learn: pip install 'heartcare[bench]'") from error
        self.name = "blind"
        self.context = context
        self._choice_model = None
        self._text_index: dict[tuple[str, str], tuple[object, object, list[str]]] | None = None

    def _fit_choices(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        documents, labels = [], []
        for item in self.context.dataset.items("train"):
            if item.is_multiple_choice:
                for index, option in enumerate(item.choices):
                    documents.append(option_document(item, option))
                    labels.append(int(index == item.answer_index))
        if len(set(labels)) < 2:
            return None
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, token_pattern=r"\S+")
        features = vectorizer.fit_transform(documents)
        classifier = LogisticRegression(C=4.0, max_iter=2000, random_state=self.context.seed)
        classifier.fit(features, labels)
        return vectorizer, classifier

    def _fit_text(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        grouped: dict[tuple[str, str], list[BenchItem]] = defaultdict(list)
        for item in self.context.dataset.items("train"):
            if not item.is_multiple_choice and item.task != "signal_prediction":
                grouped[(item.task, item.dimension)].append(item)
        index = {}
        for key, items in grouped.items():
            answers = [item.answer for item in items]
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            try:
                matrix = vectorizer.fit_transform([item.question for item in items])
            except ValueError:  # questions without a single word: nothing to match on, answer the commonest
                index[key] = (None, None, [Counter(answers).most_common(1)[0][0]])
                continue
            index[key] = (vectorizer, matrix, answers)
        return index

    def respond(self, items: list[BenchItem]) -> list[Output]:
        outputs: list[Output | None] = [None] * len(items)
        choice_positions = [position for position, item in enumerate(items) if item.is_multiple_choice]
        if choice_positions:
            if self._choice_model is None:
                self._choice_model = self._fit_choices() or False
            for position, scores in zip(choice_positions, self._score_choices([items[p] for p in choice_positions]), strict=True):
                item = items[position]
                if scores is None:
                    outputs[position] = Output(not_applicable="train has no multiple-choice items to fit on")
                else:
                    outputs[position] = Output(text=choice_text(item, int(np.argmax(scores))), option_logprobs=scores)
        for position, item in enumerate(items):
            if outputs[position] is not None:
                continue
            if item.task == "signal_prediction":
                outputs[position] = Output(not_applicable="the blind floor answers text questions only")
            else:
                outputs[position] = self._nearest_answer(item)
        return outputs  # type: ignore[return-value]

    def _score_choices(self, items: list[BenchItem]) -> list[list[float] | None]:
        if not self._choice_model:
            return [None] * len(items)
        vectorizer, classifier = self._choice_model
        documents = [option_document(item, option) for item in items for option in item.choices]
        probabilities = classifier.predict_log_proba(vectorizer.transform(documents))[:, 1]
        scores, start = [], 0
        for item in items:
            scores.append([float(value) for value in probabilities[start : start + len(item.choices)]])
            start += len(item.choices)
        return scores

    def _nearest_answer(self, item: BenchItem) -> Output:
        if self._text_index is None:
            self._text_index = self._fit_text()
        entry = self._text_index.get((item.task, item.dimension))
        if entry is None:
            return Output(not_applicable="no train items of this task and dimension")
        vectorizer, matrix, answers = entry
        if vectorizer is None:
            return Output(text=answers[0])
        similarity = (matrix @ vectorizer.transform([item.question]).T).toarray().ravel()  # type: ignore[attr-defined]
        return Output(text=answers[int(np.argmax(similarity))])
