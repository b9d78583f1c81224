"""Comparison tokens: what the two ECGs of a pair say about each other, written in answer words.

Finding tokens (heartcare.model.findings) tell the LLM what each ECG shows; a comparison item
then asks it to compare two soft words, which a small backbone learns slowly. Most comparison
items ask one of two things: do the ECGs share a rhythm, and which one is faster (76% of the
6,000-record build's test comparisons). Both follow from per-ECG readings the finding
projectors already make, so a pair gets two more tokens after its second ECG:

- same rhythm: P = sum over rhythms of P1(r) * P2(r) from the rhythm finding classifier, written
  as P * "Yes" + (1 - P) * "No";
- which is faster: P = sigmoid((rate1 - rate2) / scale) from each ECG's estimated heart rate (a
  ridge regression of the measured rate on the finding input, `FindingProjector.rate`), written
  as P * "the first ECG" + (1 - P) * "the second ECG".

A model with named findings (`GptConfig.named_findings`) gives each pair a third token for the
rest of the items, "which ECG shows finding X?" (first / second / both / neither). X is named in
the question, so the token reads the question too: the longest named finding whose words it
contains (`named_finding`). Each ECG's presence head (`FindingProjector.presence`, one logistic
output per named finding, fitted on the train records' labels) gives p1 and p2 of X, written as
p1(1-p2) * "the first ECG" + (1-p1)p2 * "the second ECG" + p1 p2 * "both ECGs" + (1-p1)(1-p2) *
"neither ECG"; a question naming no known finding gets the four rows' mean.

The answer rows start at the backbone's embeddings of those words and train with the finding
projector; so does the scale. Why these: on the signal pairs of that build's validation split, a
linear model on the difference of the two finding inputs tells the faster ECG 99.0% of the time
and the rhythm-belief product the same-rhythm answer 86.0%.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import torch
from torch import nn

from heartcare.model.config import RHYTHM_KIND

__all__ = ["ANSWERS", "RHYTHM_KIND", "ComparisonTokens", "chosen_rate_fit", "fit_rate", "fit_rates", "named_finding",
           "pair_reading", "read_comparison", "rhythm_index", "shown_beliefs"]

# (kind, its answers in the words comparison items use: heartcare.agent.questions.comparison.FIXED_OPTIONS);
# the third only for a model with named findings
ANSWERS = (("same_rhythm", ("Yes", "No")), ("higher_rate", ("the first ECG", "the second ECG")),
           ("which_shows", ("the first ECG", "the second ECG", "both ECGs", "neither ECG")))
RATE_SCALE_BPM = 5.0  # the starting scale: rates 5 bpm apart give 73% to the faster one
RATE_RIDGE = 1.0  # ridge penalty of the rate regression on standardised inputs (thousands of records: mild)
RATE_RIDGES = (1.0, 10.0, 100.0, 1_000.0, 10_000.0)  # the penalties tried when valid records can choose


class ComparisonTokens(nn.Module):
    """Per pair: [kinds, hidden] (same rhythm, which is faster, and with `named` which shows the named
    finding) from both ECGs' rhythm beliefs, rates and presence of that finding."""

    def __init__(self, hidden: int, named: bool = False) -> None:
        super().__init__()
        self.kinds = len(ANSWERS) if named else 2
        self.answers = nn.ParameterList(nn.Parameter(torch.randn(len(words), hidden) * 0.02) for _, words in ANSWERS[:self.kinds])
        self.log_rate_scale = nn.Parameter(torch.tensor(math.log(RATE_SCALE_BPM)))

    def beliefs(self, rhythm: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """rhythm [pairs, 2, rhythms] probabilities, rate [pairs, 2] bpm -> [pairs, 2]: P(same rhythm), P(first faster)."""
        same = (rhythm[:, 0] * rhythm[:, 1]).sum(dim=-1).clamp(0.0, 1.0)
        faster = torch.sigmoid((rate[:, 0] - rate[:, 1]) / self.log_rate_scale.exp())
        return torch.stack([same, faster], dim=1)

    def forward(self, rhythm: torch.Tensor, rate: torch.Tensor, presence: torch.Tensor | None = None,
                named: torch.Tensor | None = None) -> torch.Tensor:
        """-> [pairs * kinds, hidden]: per pair its same-rhythm token, its which-is-faster token and (with
        named findings) its which-shows token from presence [pairs, 2] (P of the named finding in each
        ECG) where named [pairs] (bool) is set."""
        beliefs = self.beliefs(rhythm, rate)
        weights = [torch.stack([beliefs[:, index], 1 - beliefs[:, index]], dim=1) for index in range(2)]
        if self.kinds == len(ANSWERS):
            if presence is None or named is None:
                raise ValueError("this model's pairs have a which-shows token: it needs each ECG's presence of the named finding")
            weights.append(shown_beliefs(presence, named))
        tokens = [weight @ rows.to(weight.dtype) for weight, rows in zip(weights, self.answers, strict=True)]
        return torch.stack(tokens, dim=1).reshape(-1, tokens[0].shape[-1])


def shown_beliefs(presence: torch.Tensor, named: torch.Tensor) -> torch.Tensor:
    """presence [pairs, 2], named [pairs] -> [pairs, 4]: P(first only), P(second only), P(both), P(neither),
    the two ECGs read independently; uniform where the question names no known finding."""
    first, second = presence[:, 0], presence[:, 1]
    table = torch.stack([first * (1 - second), (1 - first) * second, first * second, (1 - first) * (1 - second)], dim=1)
    return torch.where(named[:, None], table, torch.full_like(table, 0.25))


def named_finding(question: str, config) -> int:
    """Which of a GptConfig's named findings a question names: the longest whose words it contains
    (so "inferior myocardial infarction" wins over "myocardial infarction"); -1 for none."""
    text = question.lower()
    best, length = -1, 0
    for index, (_, words) in enumerate(config.named_findings):
        if len(words) > length and re.search(rf"(?<!\w){re.escape(words.lower())}(?!\w)", text):
            best, length = index, len(words)
    return best


def fit_rates(inputs: torch.Tensor, rates: torch.Tensor, ridges: tuple[float, ...]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Ridge regressions of bpm on standardised inputs [N, width], one per penalty -> [(weight [width],
    bias)]: closed form, centred so the penalty leaves the mean rate alone. Solved over the smaller of
    the two sides: the 12 lead crops side by side make a picture's input 17,920 wide, where a width x
    width system would take 2.5 GB and minutes, and N x N (N <= 5,000 records) seconds; both give the
    same weights. The Gram matrix is formed once for all penalties."""
    inputs, rates = inputs.double(), rates.double()
    mean_input, mean_rate = inputs.mean(dim=0), rates.mean()
    centred, target = inputs - mean_input, rates - mean_rate
    records, width = centred.shape
    primal = width <= records
    gram = centred.T @ centred if primal else centred @ centred.T
    identity = torch.eye(gram.shape[0], dtype=torch.float64)
    fits = []
    for ridge in ridges:
        if primal:
            weight = torch.linalg.solve(gram + ridge * identity, centred.T @ target)
        else:
            weight = centred.T @ torch.linalg.solve(gram + ridge * identity, target)
        fits.append((weight, mean_rate - mean_input @ weight))
    return fits


def fit_rate(inputs: torch.Tensor, rates: torch.Tensor, ridge: float = RATE_RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """One ridge regression (`fit_rates` with one penalty)."""
    return fit_rates(inputs, rates, (ridge,))[0]


def chosen_rate_fit(train: tuple[torch.Tensor, torch.Tensor], valid: tuple[torch.Tensor, torch.Tensor] | None,
                    ridges: tuple[float, ...] = RATE_RIDGES) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(weight, bias, penalty): the penalty of `ridges` with the smallest mean absolute error on `valid`
    (inputs, bpm), RATE_RIDGE without valid records. Why: a picture's 17,920 inputs for a few thousand
    records let a mild penalty interpolate train (0.01 bpm) and miss by 5.5 bpm on valid."""
    if valid is None or not len(valid[1]):
        return (*fit_rate(*train), RATE_RIDGE)
    fits = fit_rates(*train, ridges)
    errors = [float((valid[0].double() @ weight + bias - valid[1].double()).abs().mean()) for weight, bias in fits]
    best = min(range(len(ridges)), key=errors.__getitem__)
    return (*fits[best], ridges[best])


def rhythm_index(config) -> int:
    """Which of a GptConfig's finding kinds the comparison tokens read the rhythm from."""
    return [kind for kind, _ in config.findings].index(RHYTHM_KIND)


@torch.no_grad()
def pair_reading(model, rows: list[tuple[nn.Module, torch.Tensor]], named: int = -1) -> tuple[list[float], list[float], list[float] | None]:
    """Two ECGs as (their finding projector, their [1, width] finding row) -> ([P same rhythm, P first
    faster], [rate1, rate2] bpm, [P first, second, both, neither show named finding `named`] or None
    when no finding is named or the model has no which-shows token): what the pair's comparison tokens carry."""
    kind = rhythm_index(model.config)
    rhythms, rates, presences = [], [], []
    for projector, row in rows:
        row = row.to(projector.input_mean.dtype)
        rhythms.append(projector.probabilities(row)[kind][0])
        rates.append(projector.rates(row)[0])
        if named >= 0 and projector.presence is not None:
            presences.append(projector.presences(row)[0, named])
    beliefs = model.finding_projector.comparison.beliefs(torch.stack(rhythms)[None], torch.stack(rates)[None])[0]
    shown = None
    if len(presences) == 2:
        shown = shown_beliefs(torch.stack(presences)[None].float(), torch.tensor([True]))[0].tolist()
    return beliefs.float().tolist(), [float(rate) for rate in rates], shown


def read_comparison(model, encoded) -> dict[str, Any] | None:
    """What a tokenised pair's comparison tokens told the LLM: P(same rhythm), P(the first is faster),
    each ECG's estimated rate and, for a question naming a finding, which ECG shows it; None for a
    question without compared ECGs."""
    if not encoded.comparison:
        return None
    rows = [(model.finding_projector if stream == "finding" else model.image_finding_projector,
             torch.from_numpy(np.asarray(getattr(encoded, stream)[index]))) for stream, index in encoded.comparison[0]]
    named = encoded.comparison_finding[0] if encoded.comparison_finding else -1
    (same, faster), rates, shown = pair_reading(model, rows, named)
    reading: dict[str, Any] = {"same_rhythm": round(same, 4), "first_faster": round(faster, 4), "rates_bpm": [round(rate, 1) for rate in rates]}
    if shown is not None:
        code, words = model.config.named_findings[named]
        reading["named_finding"] = {"code": code, "words": words,
                                    **{answer: round(value, 4) for answer, value in zip(ANSWERS[2][1], shown, strict=True)}}
    return reading
