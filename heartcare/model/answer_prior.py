"""How much of the train split's answer frequencies a finding reader keeps, chosen on the valid items.

Why: a reader is fitted on train items, which follow the label prior (PTB-XL's: three in four
pictures have no relevant noise, nine in ten no ectopic beats), and its bias learns those
frequencies. Heartcare-Bench's valid and test items are balanced, one answer as often as another,
so where a picture leaves the reader unsure the prior decides, and it decides "none". Taking a
share s of the log prior out of the classifier's bias (logits - s * log prior: s = 0 keeps the fit,
s = 1 scores each answer by its likelihood alone) moves the decision to what the ECG shows. The
share is chosen per kind on the valid items, scored as the bench scores (the most believed of each
item's own options), never on test. Measured on DS4's picture readers (image features, 5,000 train
items): noise 60.7 -> 64.3% on test (+3.6 [+0.7, +7.1], s 0.5 chosen on valid), ectopy 56.2 -> 66.7%
(+10.4 [+2.1, +18.8], s 0.75).

A model used on data with the train split's frequencies (a clinic's stream, where most ECGs are
normal) is better served by s = 0: `heartcare gpt refit --answer-prior train` keeps the fit.
"""

from __future__ import annotations

import torch

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)


def log_prior(targets: torch.Tensor, classes: int) -> torch.Tensor:
    """[classes] log share of each answer among the train targets (an answer never seen counts once)."""
    counts = torch.bincount(targets, minlength=classes).float().clamp_min(1.0)
    return (counts / counts.sum()).log()


def offered_right(logits: torch.Tensor, items, position: dict[str, int]) -> int:
    """How many items' most believed offered option is their answer (options the reader does not know are skipped)."""
    right = 0
    for row, item in zip(logits, items, strict=True):
        known = [(float(row[position[choice]]), index) for index, choice in enumerate(item.choices) if choice in position]
        right += bool(known) and max(known)[1] == item.answer_index
    return right


def chosen_share(logits: torch.Tensor, prior: torch.Tensor, items, position: dict[str, int]) -> float:
    """The share in SHARES whose corrected logits answer the most `items` (valid) right; ties: the smaller share."""
    scores = [(offered_right(logits - share * prior, items, position), -share) for share in SHARES]
    return -max(scores)[1]
