"""Finding tokens: what a record's Beat latents say, written in the backbone's own word embeddings.

A third projector beside DSPA's two (`GptConfig.findings`; off by default, so the paper's
model is unchanged). Per ECG with a signal it reads the mean and spread of the Beat latents
and, for each closed question kind, writes one token: the classifier's probabilities over
that kind's answers (e.g. the 42 diagnostic statements) times one embedding row per answer,
initialised to the backbone's own embedding of the answer's words. So the token reads as a
soft word the backbone already knows, and answering becomes copying it.

Why: on 2 cores the DSPA route reads little of the ECG (39.4% on signal diagnosis) although a
linear probe on the same features reads 81.8%; linear readouts along the model showed the
diagnosis held by the ECG tokens but not reaching the answer position. The classifier is
fitted before the first step on the train split only (`fit_findings`), then trains on with
the rest of the stage through the language-model loss. With `image_findings` a picture without
a signal gets the same tokens from a second projector over its image features (mean and spread
over its views), fitted on the image items.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn

from heartcare.agent.description import stable_hash
from heartcare.bench.models.floors import question_kind
from heartcare.model.examples import finding_input
from heartcare.model.projectors import _Standardised

FIT_ITEMS_PER_KIND = 5_000  # a stable hash-ranked sample per kind: plenty for a linear model of 2 x 128 inputs
FIT_WEIGHT_DECAY = 1e-3
FIT_ITERATIONS = 200
SMALLEST_ANSWERS = 2  # a kind whose train items all share one answer has nothing to classify


def finding_kind(item) -> str:
    """The group an item's answer belongs to: its question kind, as `task/dimension/subtopic`."""
    return "/".join(question_kind(item))


# stream -> (the ECG form its classifiers read, the model's projector, its cache tensor)
STREAMS = {"signal": ("S", "finding_projector"), "image": ("I", "image_finding_projector")}


def reads_finding(item, modality: str = "S") -> bool:
    """Closed multiple-choice items on one ECG of `modality`: what a finding classifier can be fitted on."""
    return (item.task == "closed_qa" and item.is_multiple_choice and len(item.ecgs) == 1
            and item.ecgs[0].modality == modality and 0 <= item.answer_index < len(item.choices))


def stream_input(cache, record_id: str, stream: str, config) -> np.ndarray:
    """[1, width]: what the stream's finding projector of a model with `config` (a GptConfig) reads of a record."""
    if stream == "signal":
        return finding_input(cache.signal(record_id), cache.recording(record_id) if config.finding_recording else None,
                             morphology=cache.morphology(record_id) if config.finding_morphology else None)
    texture = cache.texture(record_id, 0) if config.image_finding_texture else None
    page = cache.page(record_id, 0) if config.image_finding_page else None
    return finding_input(cache.image(record_id, 0), views=config.image_finding_views, texture=texture, page=page)


def finding_vocabulary(items) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(kind, its answers sorted) for every closed kind of `items` (the train split) with 2+ answers,
    over signal and image items alike (a kind asks the same of both forms)."""
    answers: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if reads_finding(item, "S") or reads_finding(item, "I"):
            answers[finding_kind(item)].add(item.choices[item.answer_index])
    return tuple((kind, tuple(sorted(found))) for kind, found in sorted(answers.items()) if len(found) >= SMALLEST_ANSWERS)


class FindingProjector(_Standardised):
    """[N, 2 * signal_dim] -> [N * kinds, hidden]: per kind, softmax(classifier) @ answer embeddings.

    With `rate` it also estimates each ECG's heart rate in bpm, with `presence` the probability of
    each of that many named findings (a logistic output each), and with `comparison` it holds the
    comparison tokens of a pair (heartcare.model.comparison_tokens) that read those readings."""

    def __init__(self, input_dim: int, hidden: int, answers_per_kind: list[int], rate: bool = False, comparison: bool = False,
                 presence: int = 0, unasked_prior: bool = False) -> None:
        super().__init__(input_dim)
        self.classifiers = nn.ModuleList(nn.Linear(input_dim, count) for count in answers_per_kind)
        # The share of the train prior the fit took out of each answer's bias (heartcare.model.answer_prior);
        # with `unasked_prior` it goes back into the kinds a question does not ask (GptConfig.finding_unasked_prior).
        self.register_buffer("answer_prior_shift", torch.zeros(sum(answers_per_kind)))
        self.unasked_prior = unasked_prior
        self.answers = nn.ParameterList(nn.Parameter(torch.randn(count, hidden) * 0.02) for count in answers_per_kind)
        self.rate = nn.Linear(input_dim, 1) if rate else None
        self.presence = nn.Linear(input_dim, presence) if presence else None
        if comparison:
            from heartcare.model.comparison_tokens import ComparisonTokens

            self.comparison = ComparisonTokens(hidden, named=bool(presence))
        else:
            self.comparison = None

    def rates(self, rows: torch.Tensor) -> torch.Tensor:
        """[N]: each ECG's estimated heart rate in bpm (a model with comparison tokens)."""
        return self.rate(self.standardise(rows)).squeeze(-1)

    def presences(self, rows: torch.Tensor) -> torch.Tensor:
        """[N, named findings]: the probability that each ECG shows each named finding."""
        return torch.sigmoid(self.presence(self.standardise(rows)))

    def reader_parameters(self) -> list[nn.Parameter]:
        """What reads the ECG (the classifiers, rate and presence heads, fitted before the first step):
        the `finding_readers` part of a stage; the rest (answer rows, comparison tokens) writes words."""
        readers = [self.classifiers, self.rate, self.presence]
        return [parameter for module in readers if module is not None for parameter in module.parameters()]

    @property
    def tokens(self) -> int:
        return len(self.classifiers)

    def logits(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """Per kind, [N, answers]: the classifier's scores."""
        standardised = self.standardise(rows)
        return [classifier(standardised) for classifier in self.classifiers]

    def probabilities(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """Per kind, [N, answers]: the classifier's belief."""
        return [logits.softmax(dim=-1) for logits in self.logits(rows)]

    def beliefs(self, rows: torch.Tensor, offered: torch.Tensor | None = None, temperature: float = 1.0) -> list[torch.Tensor]:
        """`probabilities`, each kind's renormalised over the answers its question offers when `offered`
        ([N, all kinds' answers + kinds] 0/1, heartcare.model.offered_answers) is given (with
        `unasked_prior`, the kinds it does not ask read with the train prior put back), then sharpened by
        `temperature` (heartcare.model.belief_temperature; 1 keeps it)."""
        from heartcare.model.belief_temperature import sharpened

        logits = self.logits(rows)
        if offered is None:
            return [sharpened(scores.softmax(dim=-1), temperature) for scores in logits]
        from heartcare.model.offered_answers import restricted, split_offer

        widths = [scores.shape[-1] for scores in logits]
        if offered.shape[0] != rows.shape[0]:
            raise ValueError(f"offered answers {tuple(offered.shape)} for {rows.shape[0]} rows")
        masks, asked = split_offer(offered.to(logits[0].dtype), widths)
        if self.unasked_prior:
            shifts = self.answer_prior_shift.to(logits[0].dtype).split(widths)
            logits = [scores + (1.0 - asked[:, kind, None]) * shift for kind, (scores, shift) in enumerate(zip(logits, shifts, strict=True))]
        return [sharpened(restricted(scores.softmax(dim=-1), mask), temperature) for scores, mask in zip(logits, masks, strict=True)]

    def forward(self, rows: torch.Tensor, offered: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        """rows [N, input] -> [N * kinds, hidden]: each kind's belief (over the offered answers, with
        `offered`; sharpened by `temperature`) @ its answer rows."""
        beliefs = self.beliefs(rows, offered, temperature)
        tokens = [belief @ answers.to(belief.dtype) for belief, answers in zip(beliefs, self.answers, strict=True)]
        return torch.stack(tokens, dim=1).reshape(rows.shape[0] * self.tokens, -1)


SHOWN_ANSWERS = 3  # per kind, the classifier's most believed answers a reader is shown


@torch.no_grad()
def read_findings(model, encoded) -> list[dict[str, dict[str, float]]]:
    """Per ECG of a tokenised question that carries finding rows (signals first, then pictures), per
    kind, the classifier's most believed answers and their probabilities: what the tokens told the LLM
    (over the question's offered answers, for a model with finding_choices; at its finding_temperature)."""
    readings = []
    for rows, projector in ((encoded.finding, model.finding_projector), (encoded.image_finding, model.image_finding_projector)):
        if projector is None:
            continue
        for row in rows:
            row = torch.from_numpy(np.asarray(row)).to(projector.input_mean.dtype)
            offered = None if encoded.offered is None else torch.from_numpy(encoded.offered)[None]
            beliefs = projector.beliefs(row, offered, model.config.finding_temperature)
            reading = {}
            for (kind, answers), belief in zip(model.config.findings, beliefs, strict=True):
                top = torch.topk(belief[0].float(), min(SHOWN_ANSWERS, len(answers)))
                reading[kind] = {answers[int(index)]: round(float(value), 4) for value, index in zip(top.values, top.indices, strict=True)}
            readings.append(reading)
    return readings


def answer_embeddings(model, answers: tuple[str, ...], target_norm: float) -> torch.Tensor:
    """[answers, hidden]: the mean input embedding of each answer's tokens, scaled to `target_norm`."""
    table = model.language_model.get_input_embeddings().weight
    rows = []
    for answer in answers:
        ids = model.tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
        row = table[torch.tensor(ids)].detach().float().mean(dim=0)
        rows.append(row * (target_norm / float(row.norm().clamp_min(1e-6))))
    return torch.stack(rows)


def _sample(items, seed: int, modality: str) -> dict[str, list]:
    grouped: dict[str, list] = defaultdict(list)
    for item in items:
        if reads_finding(item, modality):
            grouped[finding_kind(item)].append(item)
    return {kind: sorted(members, key=lambda item: stable_hash(seed, "findings", item.id))[:FIT_ITEMS_PER_KIND]
            for kind, members in grouped.items()}


def _fit_classifier(inputs: torch.Tensor, targets: torch.Tensor, classes: int) -> nn.Linear:
    """Multinomial logistic regression (L2-penalised, full-batch L-BFGS) on standardised inputs."""
    classifier = nn.Linear(inputs.shape[1], classes)
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    optimiser = torch.optim.LBFGS(classifier.parameters(), max_iter=FIT_ITERATIONS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(classifier(inputs), targets) + FIT_WEIGHT_DECAY * classifier.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    return classifier


def input_groups(config, stream: str) -> dict[str, slice | torch.Tensor]:
    """The column groups of a stream's finding input that a kind's classifier may be fitted on alone. For a
    picture read with its texture and/or its page reading: the image features ("views"), each of those,
    with the page reading also the measured columns together (the features' mean and spread, texture
    and page: "measured"), and everything ("all"); else one group, "all"."""
    extras = [(name, width) for name, width, used in (("texture", _texture_width(), config.image_finding_texture),
                                                      ("page", _page_width(), config.image_finding_page)) if used]
    if stream != "image" or not extras:
        return {"all": slice(None)}
    views = (2 + config.image_finding_views) * config.image_feature_dim
    groups: dict[str, slice | torch.Tensor] = {"views": slice(0, views)}
    start = views
    for name, width in extras:
        groups[name] = slice(start, start + width)
        start += width
    if config.image_finding_page:  # the pooled features' summary beside the measurements, without 12 views of 1,280 columns
        groups["measured"] = torch.cat([torch.arange(0, 2 * config.image_feature_dim), torch.arange(views, start)])
    groups["all"] = slice(0, start)
    return groups


def _texture_width() -> int:
    from heartcare.render.texture import texture_width

    return texture_width()


def _page_width() -> int:
    from heartcare.model.page_cache import page_width

    return page_width()


HELD_OUT_EVERY = 5  # a kind without valid items chooses its columns on every 5th train item (the rows are hash-ranked)
SMALLEST_HELD_OUT = 20  # ... when that leaves at least this many to choose on


def _fit_on_chosen_columns(inputs: torch.Tensor, targets: torch.Tensor, classes: int, groups: dict[str, slice | torch.Tensor],
                           valid_inputs: torch.Tensor | None, valid_targets: torch.Tensor | None) -> tuple[nn.Linear, str]:
    """A kind's classifier fitted on each column group, the one right most often on the valid items kept
    (ties: the earlier group), as a Linear over every column (zero weight elsewhere). A kind without valid
    items (the bench's valid split has no rhythm items) chooses on every 5th train item, held out of that
    fit, then is fitted on all of them; with too few of those, "all".

    Why: one L2-penalised reader over 18,000 image-feature columns and 77 texture columns leans on the
    many; picture noise is read at 52.8% from the image features, 59.5% from the texture alone and 55.8%
    from both (valid, benchmarks/texture_readability.py), so each kind reads what reads it best."""
    if len(groups) == 1:
        return _fit_classifier(inputs, targets, classes), "all"
    if valid_inputs is None:
        held_out = torch.arange(len(targets)) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
        if int(held_out.sum()) < SMALLEST_HELD_OUT:
            return _fit_classifier(inputs, targets, classes), "all"
        _, name = _fit_on_chosen_columns(inputs[~held_out], targets[~held_out], classes, groups, inputs[held_out], targets[held_out])
        chosen, columns = _fit_classifier(inputs[:, groups[name]], targets, classes), groups[name]
    else:
        best = None
        for candidate, candidate_columns in groups.items():
            classifier = _fit_classifier(inputs[:, candidate_columns], targets, classes)
            right = int((classifier(valid_inputs[:, candidate_columns].float()).argmax(-1) == valid_targets).sum())
            if best is None or right > best[0]:
                best = (right, candidate, classifier, candidate_columns)
        _, name, chosen, columns = best
    whole = nn.Linear(inputs.shape[1], classes)
    with torch.no_grad():
        nn.init.zeros_(whole.weight)
        whole.weight[:, columns] = chosen.weight
        whole.bias.copy_(chosen.bias)
    return whole, name


def fit_findings(model, train_items, cache, target_norm: float, valid_items=(), seed: int = 0,
                 rates: dict[str, float] | None = None, labels: dict[str, frozenset[str]] | None = None,
                 streams: tuple[str, ...] = tuple(STREAMS), answer_rows: bool = True, answer_prior: str = "train") -> dict[str, Any]:
    """Fit each finding projector of `model` on the train items' records (features from `cache`) and set
    its answer rows to the backbone's embeddings of the answers; return, per projector, each kind's
    train / valid accuracy (top-1 over all the kind's answers). A model with comparison tokens also
    fits each projector's rate head on `rates` (record id -> measured bpm), its presence head on
    `labels` (record id -> the codes it shows, implied ones included) when it has named findings, and
    sets the comparison tokens' answer rows. Only the `streams` named are fitted; with answer_rows=False
    every answer row is left as it is (heartcare.model.refit keeps rows trained with the language model).
    answer_prior "valid" takes out of each classifier the share of the train split's answer frequencies
    chosen on the valid items (heartcare.model.answer_prior); "train" keeps the fit as it is."""
    if answer_prior not in ("train", "valid"):
        raise ValueError(f"answer_prior must be 'train' or 'valid', got {answer_prior!r}")
    report = {}
    for stream, (modality, name) in STREAMS.items():
        projector = getattr(model, name)
        if projector is not None and stream in streams:
            report[name] = _fit_stream(model, stream, modality, train_items, cache, target_norm, valid_items, seed, answer_rows,
                                       answer_prior)
            if projector.rate is not None:
                report[name]["rate"] = _fit_rate_head(model, stream, modality, train_items, valid_items, cache, rates or {}, seed)
            if projector.presence is not None:
                report[name]["presence"] = _fit_presence_head(model, stream, modality, train_items, valid_items, cache, labels or {}, seed)
    comparison = model.finding_projector.comparison if model.finding_projector is not None else None
    if comparison is not None and answer_rows and "signal" in streams:
        from heartcare.model.comparison_tokens import ANSWERS

        with torch.no_grad():
            for rows, (_, words) in zip(comparison.answers, ANSWERS, strict=False):  # a model without named findings has two
                rows.copy_(answer_embeddings(model, words, target_norm).to(rows.dtype))
    return report


def _stream_records(items, modality: str, cache, known: dict, seed: int, salt: str) -> list[str]:
    """The records a stream's finding items read that the cache holds and `known` describes (hash-ranked, capped)."""
    found = {item.ecgs[0].record_id for item in items if reads_finding(item, modality)}
    ranked = sorted((record for record in found if record in cache and known.get(record) is not None),
                    key=lambda record: stable_hash(seed, salt, record))
    return ranked[:FIT_ITEMS_PER_KIND]


@torch.no_grad()
def _fit_presence_head(model, stream: str, modality: str, train_items, valid_items, cache, labels: dict[str, frozenset[str]],
                       seed: int) -> dict[str, Any]:
    """Fit the projector's presence head (one L2-penalised logistic regression per named finding, full-batch
    L-BFGS) on the train records' labels; report the mean balanced accuracy at 0.5 over the findings."""
    projector = getattr(model, STREAMS[stream][1])
    codes = [code for code, _ in model.config.named_findings]

    def table(records: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.concatenate([stream_input(cache, record, stream, model.config) for record in records])
        targets = torch.tensor([[float(code in labels[record]) for code in codes] for record in records])
        return projector.standardise(torch.from_numpy(rows)).float(), targets

    train = _stream_records(train_items, modality, cache, labels, seed, "presence")
    if len(train) < 2:
        raise ValueError(f"the which-shows token needs the labels of at least 2 train records of the {stream} stream")
    inputs, targets = table(train)
    head = nn.Linear(inputs.shape[1], len(codes))
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    optimiser = torch.optim.LBFGS(head.parameters(), max_iter=FIT_ITERATIONS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(head(inputs), targets) + FIT_WEIGHT_DECAY * head.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    projector.presence.load_state_dict({key: value.to(projector.input_mean.dtype) for key, value in head.state_dict().items()})
    report: dict[str, Any] = {"findings": len(codes), "train_records": len(train),
                              "train_balanced_accuracy": balanced_accuracy(head(inputs) > 0, targets > 0.5)}
    valid = _stream_records(valid_items, modality, cache, labels, seed, "presence")
    if valid:
        valid_inputs, valid_targets = table(valid)
        report.update(valid_records=len(valid), valid_balanced_accuracy=balanced_accuracy(head(valid_inputs) > 0, valid_targets > 0.5))
    return report


def balanced_accuracy(said: torch.Tensor, truth: torch.Tensor) -> float:
    """[records, findings] booleans -> the mean over findings (those with both classes present) of the
    mean of the recall of shown and of not shown."""
    scores = []
    for column in range(truth.shape[1]):
        shown = truth[:, column]
        if shown.any() and (~shown).any():
            hit = said[:, column] == shown
            scores.append((float(hit[shown].float().mean()) + float(hit[~shown].float().mean())) / 2)
    return round(float(np.mean(scores)), 4) if scores else float("nan")


@torch.no_grad()
def _fit_rate_head(model, stream: str, modality: str, train_items, valid_items, cache, rates: dict[str, float], seed: int) -> dict[str, Any]:
    """Ridge-fit the projector's rate head on the records its stream reads (train items' records with a
    measured rate), report train / valid mean absolute error in bpm."""
    from heartcare.model.comparison_tokens import chosen_rate_fit

    projector = getattr(model, STREAMS[stream][1])

    def records(items) -> list[str]:
        return _stream_records(items, modality, cache, rates, seed, "rate")

    def table(chosen: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.concatenate([stream_input(cache, record, stream, model.config) for record in chosen])
        return projector.standardise(torch.from_numpy(rows)).float(), torch.tensor([float(rates[record]) for record in chosen])

    def error(inputs: torch.Tensor, targets: torch.Tensor) -> float:
        estimates = projector.rate(inputs.to(projector.rate.weight.dtype)).squeeze(-1).float()
        return round(float((estimates - targets).abs().mean()), 2)

    train, valid = records(train_items), records(valid_items)
    if len(train) < 2:
        raise ValueError(f"comparison tokens need the measured heart rate of at least 2 train records of the {stream} stream")
    train_table, valid_table = table(train), (table(valid) if valid else None)
    weight, bias, ridge = chosen_rate_fit(train_table, valid_table)  # the penalty chosen on valid records
    projector.rate.weight.copy_(weight[None].to(projector.rate.weight.dtype))
    projector.rate.bias.copy_(bias.reshape(1).to(projector.rate.bias.dtype))
    report: dict[str, Any] = {"train_records": len(train), "ridge": ridge, "train_mae_bpm": error(*train_table)}
    if valid_table is not None:
        report.update(valid_records=len(valid), valid_mae_bpm=error(*valid_table))
    return report


@torch.no_grad()
def _fit_stream(model, stream: str, modality: str, train_items, cache, target_norm: float, valid_items, seed: int,
                answer_rows: bool = True, answer_prior: str = "train") -> dict[str, Any]:
    projector = getattr(model, STREAMS[stream][1])
    vocabulary = model.config.findings
    train, valid = _sample(train_items, seed, modality), _sample(valid_items, seed, modality)
    records = sorted({item.ecgs[0].record_id for members in train.values() for item in members if item.ecgs[0].record_id in cache})
    if len(records) < 2:
        raise ValueError(f"{stream} finding tokens need the features of at least 2 train records in the cache")
    def read(record: str) -> np.ndarray:
        return stream_input(cache, record, stream, model.config)

    memo = {record: read(record) for record in records}
    projector._fit_input(torch.from_numpy(np.concatenate(list(memo.values()))))
    report: dict[str, Any] = {"records": len(records)}
    shifts = projector.answer_prior_shift.zero_().split([len(answers) for _, answers in vocabulary])
    for index, (kind, answers) in enumerate(vocabulary):
        position = {answer: slot for slot, answer in enumerate(answers)}

        def table(members, memo=memo, position=position):
            usable = [item for item in members if item.choices[item.answer_index] in position and item.ecgs[0].record_id in cache]
            for item in usable:
                if item.ecgs[0].record_id not in memo:
                    memo[item.ecgs[0].record_id] = read(item.ecgs[0].record_id)
            if not usable:
                return None, None, []
            inputs = projector.standardise(torch.from_numpy(np.concatenate([memo[item.ecgs[0].record_id] for item in usable])))
            return inputs, torch.tensor([position[item.choices[item.answer_index]] for item in usable]), usable

        inputs, targets, _ = table(train.get(kind, []))
        if answer_rows:
            projector.answers[index].copy_(answer_embeddings(model, answers, target_norm).to(projector.answers[index].dtype))
        if inputs is None:
            report[kind] = {"train_items": 0}
            continue
        valid_inputs, valid_targets, valid_usable = table(valid.get(kind, []))
        fitted, columns = _fit_on_chosen_columns(inputs.float(), targets, len(answers), input_groups(model.config, stream),
                                                 valid_inputs, valid_targets)
        entry = {"answers": len(answers), "train_items": len(targets), "columns": columns,
                 "train_accuracy": round(float((fitted(inputs.float()).argmax(-1) == targets).float().mean()), 4)}
        if answer_prior == "valid" and valid_inputs is not None:
            from heartcare.model.answer_prior import chosen_share, log_prior

            prior = log_prior(targets, len(answers))
            entry["prior_share"] = share = chosen_share(fitted(valid_inputs.float()), prior, valid_usable, position)
            fitted.bias.sub_(share * prior)
            shifts[index].copy_(share * prior)
        projector.classifiers[index].load_state_dict({key: value.to(projector.answers[index].dtype) for key, value in fitted.state_dict().items()})
        if valid_inputs is not None:
            entry["valid_items"] = len(valid_targets)
            entry["valid_accuracy"] = round(float((fitted(valid_inputs.float()).argmax(-1) == valid_targets).float().mean()), 4)
        report[kind] = entry
    return report
