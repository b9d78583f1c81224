"""The answer prior: how much of the train split's answer frequencies a finding reader keeps, chosen on valid."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from heartcare.model.answer_prior import SHARES, chosen_share, log_prior, offered_right  # noqa: E402


@dataclasses.dataclass
class Item:
    choices: tuple[str, ...]
    answer_index: int


POSITION = {"none": 0, "drift": 1, "static": 2}


def test_the_log_prior_counts_answers_and_an_unseen_answer_once():
    prior = log_prior(torch.tensor([0, 0, 0, 1]), 3)
    assert torch.allclose(prior.exp(), torch.tensor([3 / 5, 1 / 5, 1 / 5]))


def test_only_offered_options_are_scored():
    logits = torch.tensor([[5.0, 1.0, 0.0]])
    assert offered_right(logits, [Item(("drift", "static"), 0)], POSITION) == 1  # "none" is not offered
    assert offered_right(logits, [Item(("none", "drift"), 1)], POSITION) == 0


def test_the_share_that_answers_balanced_valid_items_best_is_chosen_and_ties_keep_the_smaller():
    prior = log_prior(torch.tensor([0] * 8 + [1, 2]), 3)  # train: "none" eight times in ten
    # an unsure reader: its likelihood favours the truth a little, its bias carries the prior
    likelihood = torch.tensor([[0.0, 0.6, 0.0], [0.0, 0.0, 0.6], [0.6, 0.0, 0.0]])
    items = [Item(("none", "drift"), 1), Item(("none", "static"), 1), Item(("none", "drift"), 0)]
    share = chosen_share(likelihood + prior, prior, items, POSITION)
    assert share > 0 and offered_right(likelihood + prior - share * prior, items, POSITION) == 3
    assert offered_right(likelihood + prior, items, POSITION) == 1  # the fit as it is answers "none" every time
    sure = torch.tensor([[0.0, 9.0, 0.0], [0.0, 0.0, 9.0], [9.0, 0.0, 0.0]])  # right at every share: nothing to take out
    assert chosen_share(sure + prior, prior, items, POSITION) == SHARES[0] == 0.0
