"""Offered answers: a finding token that believes only what the question offers.

A finding token (heartcare.model.findings) is the reader's belief over all of a kind's answers
written as a soft word. A closed question offers four of them; where the reader's top answer is
not offered ("non-specific ST changes" when the options are four infarcts), the token is a blend
of words the LLM must first narrow to the options, which a small backbone does poorly: model M
gave its readers' own answer on 82% of the test items (rhythm pictures 63%), while the readers,
scored over each item's own options, were right on 78.6% of them.

With `GptConfig.finding_choices` each finding token's belief is renormalised over the answers the
question names, when it names at least two of that kind's (`offered_answers`); a kind whose
answers the question does not name keeps its whole belief. The question is read as text, the same
for a bench item (its options are in the prompt) and for `heartcare gpt ask`; so the ECG reader is
conditioned on the instruction, as InstructBLIP's Q-Former is. One answer named alone ("Does this
ECG show atrial fibrillation?") leaves the kind unrestricted: a belief over one answer says nothing.

The offer also says which kinds the question asks (one flag per kind after the answers), for a
model whose readers had the train split's answer prior taken out (heartcare.model.answer_prior):
the kind a balanced question asks is read without it, the tokens of the kinds it does not ask
(`GptConfig.finding_unasked_prior`) with it, so they say the record's likeliest answer. Why: with the
prior taken out of every token, DS4's picture ectopy token called sinus arrhythmia records "atrial
premature complexes" and the language model, reading that beside a right rhythm token, answered
atrial fibrillation (Mtpg/T0c: picture rhythm copied 85%, where Mtp/T0c, before the page, copied 96%).
"""

from __future__ import annotations

import numpy as np

SMALLEST_OFFER = 2  # fewer named answers than this leave the kind's belief whole


def offered_answers(question: str, findings: tuple[tuple[str, tuple[str, ...]], ...]) -> np.ndarray:
    """[sum of the kinds' answer counts + kinds] float32 of 0/1: per kind (in `findings` order, a
    GptConfig's), 1 for each answer the question names when it names >= SMALLEST_OFFER of them, else 1
    for all; then per kind 1 when the question asks it (names >= SMALLEST_OFFER of its answers)."""
    from heartcare.bench.parse import named_options

    parts, asked = [], []
    for _, answers in findings:
        named = named_options(question, answers)
        mask = np.ones(len(answers), dtype=np.float32)
        asked.append(float(len(named) >= SMALLEST_OFFER))
        if asked[-1]:
            mask[:] = 0.0
            mask[sorted(named)] = 1.0
        parts.append(mask)
    return np.concatenate([*parts, np.asarray(asked, dtype=np.float32)])


def split_offer(offered, widths: list[int]):
    """offered [N, sum(widths) + kinds] (rows of `offered_answers`) -> (per kind its [N, width] mask,
    [N, kinds] asked flags); a row of another width is an error naming both."""
    expected = sum(widths) + len(widths)
    if offered.ndim != 2 or offered.shape[-1] != expected:
        raise ValueError(f"offered answers {tuple(offered.shape)}: expected [rows, {expected}] "
                         f"({sum(widths)} answers + {len(widths)} asked flags)")
    *masks, asked = offered.split([*widths, len(widths)], dim=-1)
    return list(masks), asked


def restricted(belief, offered):
    """belief [N, answers] (rows summing to 1), offered [N, answers] 0/1 -> the belief renormalised over
    the offered answers (a row offering none keeps its belief; a vanishing offered mass is spread evenly)."""
    import torch

    kept = belief * offered
    mass = kept.sum(dim=-1, keepdim=True)
    even = offered / offered.sum(dim=-1, keepdim=True).clamp_min(1.0)
    renormalised = torch.where(mass > 1e-12, kept / mass.clamp_min(1e-12), even)
    return torch.where(offered.sum(dim=-1, keepdim=True) > 0, renormalised, belief)
