"""What a model adapter is: items in, one `Output` per item out.

An adapter is built from its spec argument (`--model NAME:ARG`) and a `ModelContext`
(the dataset, for floors fitted on train and for loading signals and images; the run's
seed; request options). It answers a batch of items at a time; the runner retries,
caches and records failures, so adapters stay simple.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from heartcare.bench.dataset import BenchDataset
from heartcare.bench.items import BenchItem


@dataclass
class Output:
    """A model's answer to one item.

    text: generated text (None for waveform-only answers); option_logprobs: one
    log-likelihood per choice, for adapters that expose them; waveform: [12, samples]
    mV at 250 Hz for signal prediction; not_applicable: why the model cannot answer this
    item at all (e.g. an endpoint without ECG input); such items are reported apart,
    never scored as wrong nor silently dropped.
    """

    text: str | None = None
    option_logprobs: list[float] | None = None
    waveform: np.ndarray | None = None
    not_applicable: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelContext:
    dataset: BenchDataset
    seed: int = 0
    split: str = "test"
    options: dict[str, Any] = field(default_factory=dict)  # timeout_s, concurrency, retries, ...


class BenchModel(Protocol):
    name: str  # the spec as given, e.g. "text-only:/models/smollm2"
    batch_size: int  # items per `respond` call

    def respond(self, items: list[BenchItem]) -> list[Output]:
        """One Output per item, in order; raise to have the runner retry the batch."""
        ...
