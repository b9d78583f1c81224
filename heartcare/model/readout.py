"""Where a trained HeartcareGPT loses the answer: linear readouts of what it holds, layer by layer.

A model that answers at chance while `probe:` reads the same features well has failed somewhere
between its inputs and its answer. Fitting one small linear classifier per question kind on
frozen summaries of train items, and scoring it on valid items as the bench scores a model (the
best-scoring of the item's own options), says how far the answer survives:

- `features`: what the projectors receive (each ECG's cached features, averaged over tokens);
- `features_spread`: the same with each stream's spread (standard deviation over its tokens)
  beside the mean: how much the recordings vary over time carries part of the diagnosis that the
  mean drops (signal diagnosis of a 6,000-record build, the 60 Beat latents of a record: mean
  70.8%, mean and spread 86.1%);
- `ecg`: the mean hidden state over the ECG placeholder positions, per layer;
- `answer`: the hidden state at the last prompt position, where the first answer token is predicted.

If `features` is high and `ecg` stays high but `answer` is near chance, the ECG reaches the
model and is lost before the decision; if `answer` is high but the model's own answers are at
chance, the output mapping has not learned to use it. Multiple-choice items only. Needs
scikit-learn (the `bench` extra).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.probe import item_group
from heartcare.errors import ConfigError

SITES = ("features", "features_spread", "ecg", "answer")
MAX_ECGS = 2  # a comparison item's pair
READOUT_STRENGTH = 0.05  # inverse L2 strength (scikit-learn's C), as the probe uses for standardised inputs


@dataclass(frozen=True)
class Readout:
    """Accuracy of one linear readout on the valid (or test) items (`layer` None for the features site)."""

    site: str
    layer: int | None
    accuracy: float
    scored: int


@dataclass(frozen=True)
class ReadoutReport:
    readouts: list[Readout]
    train_items: int
    valid_items: int
    unscored: int  # valid items of a question kind no train item has (not counted in accuracies)
    chance: float  # mean of 1 / options over the scored valid items
    layers: int  # decoder layers of the backbone (hidden-state index 0 is the spliced input)
    split: str = "valid"  # where valid_items come from

    def to_json(self) -> dict:
        return {**asdict(self), "readouts": [asdict(readout) for readout in self.readouts]}


def readout_layers(count: int, requested: str | None) -> list[int]:
    """"all", a comma list, or None: the input, the quarter points and the last of `count` decoder layers."""
    if requested == "all":
        return list(range(count + 1))
    if requested:
        try:
            chosen = sorted({int(part) for part in requested.split(",")})
        except ValueError as error:
            raise ConfigError("--layers", f"expected 'all' or comma-separated layer numbers, got {requested!r}") from error
        if chosen[0] < 0 or chosen[-1] > count:
            raise ConfigError("--layers", f"layers run from 0 (the input) to {count}, got {requested!r}")
        return chosen
    return sorted({0, count // 4, count // 2, 3 * count // 4, count})


def summaries(model, items: list[BenchItem], cache, layers: list[int], batch_size: int = 16) -> dict[tuple[str, int | None], np.ndarray]:
    """Per (site, layer), one row per item: see the module docstring for the sites."""
    import torch

    from heartcare.model.chat import IMAGE, SIGNAL
    from heartcare.model.examples import collate, encode_item, item_features

    rows: dict[tuple[str, int | None], list[np.ndarray]] = defaultdict(list)
    placeholder_ids = [model.token_ids[token] for token in (SIGNAL, IMAGE) if token in model.token_ids]
    from heartcare.model.finding_words import reader_of

    reader = reader_of(model)
    model.eval()
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        encoded = [encode_item(item, cache, model.config, model.tokenizer, with_answer=False, reader=reader) for item in chunk]
        batch = collate(encoded, model.tokenizer.pad_token_id, left=True)  # left: every prompt ends at the last position
        with torch.inference_mode():
            states = model.hidden_states(batch)
        ecg = torch.isin(batch["input_ids"], torch.tensor(placeholder_ids)).unsqueeze(-1).float()
        for layer in layers:
            hidden = states[layer].float()
            rows[("ecg", layer)].append(((hidden * ecg).sum(1) / ecg.sum(1).clamp_min(1)).numpy())
            rows[("answer", layer)].append(hidden[:, -1].numpy())
        per_item = [item_features(item, cache, model.config) for item in chunk]
        rows[("features", None)].append(np.stack([_feature_vector(features, model.config) for features in per_item]))
        rows[("features_spread", None)].append(np.stack([_feature_vector(features, model.config, spread=True)
                                                         for features in per_item]))
    return {key: np.concatenate(parts) for key, parts in rows.items()}


def _feature_vector(per_ecg, config, spread: bool = False) -> np.ndarray:
    """Each ECG's streams averaged over their tokens (spread: then their standard deviations), in a fixed
    layout (ECG slot, then signal, image), zeros where an item has no such ECG or stream, so items of
    every form stack into one array."""
    widths = (config.signal_dim if config.uses_signal else 0, config.image_feature_dim if config.uses_image else 0)
    if len(per_ecg) > MAX_ECGS:
        raise ConfigError("readout", f"an item with {len(per_ecg)} ECGs; readouts lay out at most {MAX_ECGS}")
    statistics = 2 if spread else 1
    vector = np.zeros(MAX_ECGS * statistics * sum(widths), dtype=np.float32)
    for slot, features in enumerate(per_ecg):
        start = slot * statistics * sum(widths)
        for stream, width in zip((features.signal, features.image), widths, strict=True):
            if stream is not None:
                tokens = np.asarray(stream, dtype=np.float32).reshape(-1, width)
                vector[start:start + width] = tokens.mean(0)
                if spread:
                    vector[start + width:start + 2 * width] = tokens.std(0)
            start += statistics * width
    return vector


def score_readout(train_vectors: np.ndarray, train_items: list[BenchItem], valid_vectors: np.ndarray,
                  valid_items: list[BenchItem], seed: int = 0) -> tuple[float, int]:
    """Fit one classifier per question kind on (vector -> answer text); -> (valid accuracy, items scored).

    A valid item counts as right when its correct option has the highest probability among its own
    options (an option never seen as a train answer of that kind scores lowest)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    by_group: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, item in enumerate(train_items):
        by_group[item_group(item)].append(index)
    correct = scored = 0
    fitted: dict[tuple[str, ...], tuple] = {}
    for index, item in enumerate(valid_items):
        group = item_group(item)
        if group not in by_group:
            continue
        if group not in fitted:
            chosen = by_group[group]
            answers = [train_items[row].answer_text for row in chosen]
            scaler = StandardScaler().fit(train_vectors[chosen])
            classifier = None
            if len(set(answers)) > 1:
                classifier = LogisticRegression(C=READOUT_STRENGTH, max_iter=2000, random_state=seed)
                classifier.fit(scaler.transform(train_vectors[chosen]), answers)
            fitted[group] = (scaler, classifier, answers[0])
        scaler, classifier, only_answer = fitted[group]
        if classifier is None:
            probabilities = {only_answer: 1.0}
        else:
            row = classifier.predict_proba(scaler.transform(valid_vectors[index:index + 1]))[0]
            probabilities = dict(zip(classifier.classes_, row, strict=True))
        option_scores = [probabilities.get(choice, -1.0) for choice in item.choices]
        correct += int(np.argmax(option_scores)) == item.answer_index
        scored += 1
    return (correct / scored if scored else float("nan")), scored


def run_readouts(model, dataset, cache, tasks: tuple[str, ...], train_limit: int = 1500, valid_limit: int = 400,
                 layers: str | None = None, seed: int = 0, split: str = "valid") -> ReadoutReport:
    """Readouts of `model` on the multiple-choice items of the bench `tasks` (train items fit, `split` items score)."""
    from heartcare.train.gpt_presets import TASKS
    from heartcare.train.gpt_run import of_bench_tasks, select_items

    def pick(part: str, limit: int) -> list[BenchItem]:
        pool = [item for item in of_bench_tasks(dataset.items(part), tasks) if item.is_multiple_choice]
        chosen, _ = select_items(pool, TASKS, 1.0, limit, seed, model.config, cache)
        return chosen

    if split not in ("valid", "test"):
        raise ConfigError("--split", f"readouts score on valid or test items, got {split!r}")
    train_items, valid_items = pick("train", train_limit), pick(split, valid_limit)
    if not train_items or not valid_items:
        raise ConfigError(dataset.path, f"no multiple-choice {'train' if not train_items else split} items of tasks "
                                        f"{list(tasks)} that the model reads and the feature cache holds")
    count = model.language_model.config.num_hidden_layers
    chosen_layers = readout_layers(count, layers)
    train_rows = summaries(model, train_items, cache, chosen_layers)
    valid_rows = summaries(model, valid_items, cache, chosen_layers)
    readouts = []
    for site, layer in train_rows:
        accuracy, scored = score_readout(train_rows[(site, layer)], train_items, valid_rows[(site, layer)], valid_items, seed)
        readouts.append(Readout(site, layer, accuracy, scored))
    groups = {item_group(item) for item in train_items}
    scored_items = [item for item in valid_items if item_group(item) in groups]
    chance = float(np.mean([1 / len(item.choices) for item in scored_items])) if scored_items else float("nan")
    return ReadoutReport(readouts, len(train_items), len(valid_items), len(valid_items) - len(scored_items), chance, count,
                         split)


def format_report(report: ReadoutReport) -> str:
    """A table: one row per site, one column per layer (the features site has one value)."""
    layers = sorted({readout.layer for readout in report.readouts if readout.layer is not None})
    header = "| site | " + " | ".join(["input features"] + [f"layer {layer}" for layer in layers]) + " |"
    lines = [header, "|" + "---|" * (len(layers) + 2)]
    for site in SITES:
        cells = {readout.layer: readout for readout in report.readouts if readout.site == site}
        if not cells:
            continue
        values = [cells.get(None)] + [cells.get(layer) for layer in layers]
        lines.append(f"| {site} | " + " | ".join("" if cell is None else f"{100 * cell.accuracy:.1f}" for cell in values) + " |")
    lines.append(f"{report.split} accuracy (%) of linear readouts fitted on {report.train_items} train items, scored on "
                 f"{report.valid_items - report.unscored} {report.split} items (chance {100 * report.chance:.1f}); "
                 f"layer 0 is the spliced input, {report.layers} the last")
    return "\n".join(lines)


def write_report(report: ReadoutReport, path: Path) -> None:
    import json

    from heartcare.atomic import write_atomic

    write_atomic(path, json.dumps(report.to_json(), indent=2))
