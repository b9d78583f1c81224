"""The `probe` reference: a linear classifier that reads exactly the cached encoder features.

Synthetic features where the answer is written into the ECG (a class direction for closed
items, a rate coordinate for comparisons) must be read back on unseen records; the same
items with the features of other records must fall to chance, so a probe that ignores the
ECG or mixes up records cannot pass; a picture item must never read the signal.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("sklearn")

from heartcare.bench.items import BenchItem, EcgRef  # noqa: E402
from heartcare.bench.models.probe import ProbeModel, split_budget  # noqa: E402
from heartcare.model.feature_cache import CacheSource  # noqa: E402

FINDINGS = ("normal ECG", "left bundle branch block", "inferior myocardial infarction", "left ventricular hypertrophy")
SIGNAL_DIM, VIEWS, IMAGE_DIM = 16, 12, 8


class FakeCache:
    """The FeatureCache interface over in-memory arrays."""

    def __init__(self, signals: dict[str, np.ndarray], images: dict[str, np.ndarray]) -> None:
        self.signals, self.images = signals, images
        self.source = CacheSource("beat", "digest", "tiny", "crops")

    def __contains__(self, record_id: str) -> bool:
        return record_id in self.signals

    def signal(self, record_id: str) -> np.ndarray:
        return self.signals[record_id]

    def image(self, record_id: str, index: int = 0) -> np.ndarray:
        return self.images[record_id]


def make_records(rng: np.random.Generator, prefix: str, count: int, image_weight: float = 1.0) -> tuple[dict, dict, dict]:
    """Records with a finding (written along a direction of the signal and image features) and a rate."""
    truth, signals, images = {}, {}, {}
    for number in range(count):
        record = f"{prefix}{number}"
        finding, rate = int(rng.integers(len(FINDINGS))), float(rng.uniform(50, 110))
        signal = rng.normal(0, 1, (60, SIGNAL_DIM)).astype(np.float32)
        signal[:, finding] += 2.5
        signal[:, -1] += (rate - 80) / 10
        image = rng.normal(0, 1, (VIEWS, IMAGE_DIM)).astype(np.float32)
        image[:, finding] += image_weight
        truth[record], signals[record], images[record] = (finding, rate), signal, image
    return truth, signals, images


def closed_item(record: str, finding: int, rng: np.random.Generator, modality: str) -> BenchItem:
    order = list(rng.permutation(len(FINDINGS)))
    return BenchItem(id=f"closed-{modality}-{record}", task="closed_qa", dimension="diagnosis", modality=modality,
                     question="Which diagnosis? Options: ...", answer="", choices=tuple(FINDINGS[i] for i in order),
                     answer_index=order.index(finding), ecgs=(EcgRef(record, modality),), meta={"kind": "diagnosis"})


def rate_item(first: str, second: str, truth: dict) -> BenchItem:
    higher = truth[second][1] > truth[first][1]
    return BenchItem(id=f"rate-{first}-{second}-{truth[first][1]:.3f}", task="comparison_qa", dimension="rate", modality="C-SS",
                     question="Is the rate of the second ECG higher? Options: A: Yes; B: No.", answer="",
                     choices=("Yes", "No"), answer_index=0 if higher else 1,
                     ecgs=(EcgRef(first, "S"), EcgRef(second, "S")), meta={"kind": "higher_rate"})


def items_of(records: list[str], truth: dict, rng: np.random.Generator) -> list[BenchItem]:
    items = [closed_item(record, truth[record][0], rng, modality) for record in records for modality in ("S", "I")]
    for _ in range(4):  # four pairings of the records
        pairs = rng.permutation(len(records))
        items += [rate_item(records[a], records[b], truth) for a, b in zip(pairs[::2], pairs[1::2], strict=False)]
    return items


def probe_for(train_items: list[BenchItem], cache: FakeCache, budget: int | None = None) -> ProbeModel:
    probe = ProbeModel.__new__(ProbeModel)  # the constructor opens a cache folder; the rest is the real adapter
    probe.name, probe.cache, probe.source = "probe:test", cache, cache.source
    probe.context = SimpleNamespace(dataset=SimpleNamespace(items=lambda split: train_items), seed=0)
    probe._computed, probe._reducers, probe._classifiers, probe._memo = cache, None, None, {}
    probe.item_budget = budget
    return probe


def accuracy(probe: ProbeModel, items: list[BenchItem], task: str) -> float:
    chosen = [item for item in items if item.task == task]
    outputs = probe.respond(chosen)
    assert all(len(output.option_logprobs) == len(item.choices) for item, output in zip(chosen, outputs, strict=True))
    return float(np.mean([int(np.argmax(output.option_logprobs)) == item.answer_index
                          for item, output in zip(chosen, outputs, strict=True)]))


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    train_truth, train_signals, train_images = make_records(rng, "train", 400)
    test_truth, test_signals, test_images = make_records(rng, "test", 200)
    cache = FakeCache({**train_signals, **test_signals}, {**train_images, **test_images})
    train_items = items_of(sorted(train_truth), train_truth, rng)
    test_items = items_of(sorted(test_truth), test_truth, rng)
    return cache, train_items, test_items, test_signals, test_images


def test_the_probe_reads_the_answer_the_features_carry(world):
    cache, train_items, test_items, _, _ = world
    probe = probe_for(train_items, cache)
    assert accuracy(probe, test_items, "closed_qa") >= 0.9
    assert accuracy(probe, test_items, "comparison_qa") >= 0.8  # chance 0.5


def test_other_records_features_give_chance(world):
    cache, train_items, test_items, test_signals, test_images = world
    probe = probe_for(train_items, cache)
    probe.respond(train_items[:1])  # fit on the true features
    names = sorted(test_signals)
    shifted = dict(zip(names, names[1:] + names[:1], strict=True))  # every test ECG replaced by another's
    probe._memo = {key: value for key, value in probe._memo.items() if key[0] not in test_signals}
    probe._computed = FakeCache({name: test_signals[shifted[name]] for name in names},
                                {name: test_images[shifted[name]] for name in names})
    assert accuracy(probe, test_items, "closed_qa") < 0.45
    assert accuracy(probe, test_items, "comparison_qa") < 0.7


def test_image_items_never_see_the_signal():
    rng = np.random.default_rng(1)
    train_truth, train_signals, train_images = make_records(rng, "train", 300, image_weight=0.0)
    test_truth, test_signals, test_images = make_records(rng, "test", 150, image_weight=0.0)
    cache = FakeCache({**train_signals, **test_signals}, {**train_images, **test_images})
    probe = probe_for(items_of(sorted(train_truth), train_truth, rng), cache)
    test_items = [item for item in items_of(sorted(test_truth), test_truth, rng) if item.task == "closed_qa"]
    signal_items = [item for item in test_items if item.modality == "S"]
    image_items = [item for item in test_items if item.modality == "I"]
    assert accuracy(probe, signal_items, "closed_qa") >= 0.9
    assert accuracy(probe, image_items, "closed_qa") < 0.45  # the answer is only in the signal: chance for a picture


def test_free_text_and_unknown_kinds_are_not_applicable(world):
    cache, train_items, test_items, _, _ = world
    probe = probe_for(train_items, cache)
    record = test_items[0].ecgs[0].record_id
    open_item = BenchItem(id="open", task="open_qa", dimension="diagnosis", modality="S", question="What do you see?",
                          answer="normal ECG", ecgs=(EcgRef(record, "S"),))
    unknown = BenchItem(id="axis", task="closed_qa", dimension="misc", modality="S", question="Axis? Options: ...",
                        answer="A: normal", choices=("normal", "left"), answer_index=0, ecgs=(EcgRef(record, "S"),),
                        meta={"kind": "misc:axis"})
    outputs = probe.respond([open_item, unknown])
    assert "multiple-choice" in outputs[0].not_applicable
    assert "no train item of kind" in outputs[1].not_applicable


def test_an_item_budget_fits_on_that_many_train_items_and_reads_less(world):
    cache, train_items, test_items, _, _ = world
    budget = 24
    grouped = probe_for(train_items, cache, budget)._train_items()
    chosen = [item.id for items in grouped.values() for item in items]
    assert len(chosen) == budget and set(chosen) <= {item.id for item in train_items}
    assert chosen == [item.id for items in probe_for(train_items, cache, budget)._train_items().values() for item in items]
    everything = probe_for(train_items, cache, 10**6)._train_items()
    assert sum(map(len, everything.values())) == len(train_items)
    # too few examples for the rate comparison: the budgeted probe reads it worse than the full one
    assert accuracy(probe_for(train_items, cache, budget), test_items, "comparison_qa") < \
        accuracy(probe_for(train_items, cache), test_items, "comparison_qa") - 0.1


def test_a_budget_is_read_from_the_model_argument():
    from heartcare.errors import ConfigError

    assert split_budget("runs/features@2400") == ("runs/features", 2400)
    assert split_budget("runs/features") == ("runs/features", None)
    assert split_budget("runs/v@2/features") == ("runs/v@2/features", None)
    with pytest.raises(ConfigError, match="N >= 1"):
        split_budget("runs/features@0")
