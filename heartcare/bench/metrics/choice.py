"""Multiple-choice metrics: accuracy from generated text (primary, as in the paper) and from log-likelihoods."""

from __future__ import annotations

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import Output
from heartcare.bench.parse import parse_choice


def parsed_choices(items: list[BenchItem], outputs: list[Output]) -> list[int | None]:
    return [
        None if output.text is None else parse_choice(output.text, item.choices)
        for item, output in zip(items, outputs, strict=True)
    ]


def accuracy(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """1 where the parsed option is the answer; no text, nothing parsable or several options = 0."""
    return np.array(
        [float(choice == item.answer_index) for item, choice in zip(items, parsed_choices(items, outputs), strict=True)]
    )


def parse_rate(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    return np.array([float(choice is not None) for choice in parsed_choices(items, outputs)])


def loglik_accuracy(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """1 where the highest option log-likelihood is the answer's; NaN for adapters without them."""
    values = []
    for item, output in zip(items, outputs, strict=True):
        scores = output.option_logprobs
        if scores is None or len(scores) != len(item.choices):
            values.append(np.nan)
        else:
            values.append(float(int(np.argmax(scores)) == item.answer_index))
    return np.array(values)
