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

The answer rows start at the backbone's embeddings of those words and train with the finding
projector; so does the scale. Why these two and not the others: on the signal pairs of that
build's validation split, a linear model on the difference of the two finding inputs tells the
faster ECG 99.0% of the time and the rhythm-belief product the same-rhythm answer 86.0%, while
"which shows finding X" names X in the question and is left to the LLM reading both ECGs' tokens.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from heartcare.model.config import RHYTHM_KIND

__all__ = ["ANSWERS", "RHYTHM_KIND", "ComparisonTokens", "chosen_rate_fit", "fit_rate", "fit_rates", "pair_reading", "read_comparison", "rhythm_index"]

# (kind, its two answers in the words comparison items use: heartcare.agent.questions.comparison.FIXED_OPTIONS)
ANSWERS = (("same_rhythm", ("Yes", "No")), ("higher_rate", ("the first ECG", "the second ECG")))
TOKENS = len(ANSWERS)
RATE_SCALE_BPM = 5.0  # the starting scale: rates 5 bpm apart give 73% to the faster one
RATE_RIDGE = 1.0  # ridge penalty of the rate regression on standardised inputs (thousands of records: mild)
RATE_RIDGES = (1.0, 10.0, 100.0, 1_000.0, 10_000.0)  # the penalties tried when valid records can choose


class ComparisonTokens(nn.Module):
    """Per pair: [2, hidden] (same rhythm, which is faster) from both ECGs' rhythm beliefs and rates."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.answers = nn.ParameterList(nn.Parameter(torch.randn(2, hidden) * 0.02) for _ in ANSWERS)
        self.log_rate_scale = nn.Parameter(torch.tensor(math.log(RATE_SCALE_BPM)))

    def beliefs(self, rhythm: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """rhythm [pairs, 2, rhythms] probabilities, rate [pairs, 2] bpm -> [pairs, 2]: P(same rhythm), P(first faster)."""
        same = (rhythm[:, 0] * rhythm[:, 1]).sum(dim=-1).clamp(0.0, 1.0)
        faster = torch.sigmoid((rate[:, 0] - rate[:, 1]) / self.log_rate_scale.exp())
        return torch.stack([same, faster], dim=1)

    def forward(self, rhythm: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """-> [pairs * 2, hidden]: per pair its same-rhythm token, then its which-is-faster token."""
        beliefs = self.beliefs(rhythm, rate)
        tokens = [torch.stack([beliefs[:, index], 1 - beliefs[:, index]], dim=1) @ rows.to(beliefs.dtype)
                  for index, rows in enumerate(self.answers)]
        return torch.stack(tokens, dim=1).reshape(-1, tokens[0].shape[-1])


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
def pair_reading(model, rows: list[tuple[nn.Module, torch.Tensor]]) -> tuple[list[float], list[float]]:
    """Two ECGs as (their finding projector, their [1, width] finding row) -> ([P same rhythm,
    P first faster], [rate1, rate2] bpm): what the pair's comparison tokens carry."""
    kind = rhythm_index(model.config)
    rhythms, rates = [], []
    for projector, row in rows:
        row = row.to(projector.input_mean.dtype)
        rhythms.append(projector.probabilities(row)[kind][0])
        rates.append(projector.rates(row)[0])
    beliefs = model.finding_projector.comparison.beliefs(torch.stack(rhythms)[None], torch.stack(rates)[None])[0]
    return beliefs.float().tolist(), [float(rate) for rate in rates]


def read_comparison(model, encoded) -> dict[str, Any] | None:
    """What a tokenised pair's comparison tokens told the LLM: P(same rhythm), P(the first is faster) and
    each ECG's estimated rate; None for a question without compared ECGs."""
    if not encoded.comparison:
        return None
    rows = [(model.finding_projector if stream == "finding" else model.image_finding_projector,
             torch.from_numpy(np.asarray(getattr(encoded, stream)[index]))) for stream, index in encoded.comparison[0]]
    (same, faster), rates = pair_reading(model, rows)
    return {"same_rhythm": round(same, 4), "first_faster": round(faster, 4), "rates_bpm": [round(rate, 1) for rate in rates]}
