"""Finding words: what the finding readers read of an ECG, written as words in the user turn.

A finding token (heartcare.model.findings) hands the LLM softmax(classifier) @ answer rows, each
row the mean embedding of an answer's tokens. Answers that share most of their words ("sinus
bradycardia" / "sinus tachycardia", "inferior" / "anteroseptal myocardial infarction") have
nearly equal means, and the LLM tells them apart poorly: model K named the rhythm its signal
tokens held on 75% of the test items where the tokens alone were right on 96%. Words are what a
language model copies best, so a model with `finding_words` also gets, after each ECG's block,

    Reading: diagnosis: normal ECG or ...; rhythm: sinus bradycardia; ...

per kind its most believed answers, most believed first, until they hold COVERED of the belief (at
most SHOWN_ANSWERS). No percentages: the order is what a choice needs, and numbers cost tokens (each
ECG's reading already adds about 70 tokens to a prompt of about 170). The probabilities themselves
are in `heartcare gpt ask`'s output (heartcare.model.findings.read_findings).
The readers are the same fitted classifiers; the tokens stay. Words are read once per ECG and
remembered, so a training stage must hold the readers where they are (`--freeze finding_readers`).

The words say what the tokens say: with `finding_choices` a kind's words name only the answers the
question offers (heartcare.model.offered_answers), and `finding_temperature` sharpens them as it
does the tokens (at 0 each kind names its one believed answer). Otherwise a token could carry the
believed option while the words beside it led with an answer the question never offered.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from heartcare.model.chat import EcgFeatures
from heartcare.model.findings import SHOWN_ANSWERS

COVERED = 0.8  # stop listing a kind's answers once they hold this much of the belief


def kind_label(kind: str) -> str:
    """'closed_qa/misc/infarct_stage' -> 'infarct stage': the words a question about the kind uses."""
    return kind.rsplit("/", 1)[-1].replace("_", " ")


def reading_text(findings: tuple[tuple[str, tuple[str, ...]], ...], beliefs: list[np.ndarray]) -> str:
    """One line: per kind (GptConfig.findings order), its most believed answers joined by "or"."""
    parts = []
    for (kind, answers), belief in zip(findings, beliefs, strict=True):
        belief = np.asarray(belief, dtype=np.float64).reshape(-1)
        shown, held = [], 0.0
        for index in np.argsort(-belief, kind="stable")[:SHOWN_ANSWERS]:
            shown.append(answers[index])
            held += belief[index]
            if held >= COVERED:
                break
        parts.append(f"{kind_label(kind)}: {' or '.join(shown)}")
    return "Reading: " + "; ".join(parts) + "."


class FindingWords:
    """features -> the same features with `reading` filled, from a HeartcareGPT's finding readers.

    Readings are remembered per finding row: valid while the readers stay as they are (`forget`
    after they change, e.g. once they are fitted)."""

    def __init__(self, model) -> None:
        self.model = model
        self.memo: dict[tuple[str, bytes], str] = {}

    def forget(self) -> None:
        self.memo.clear()

    def __call__(self, features: list[EcgFeatures], offered: np.ndarray | None = None) -> list[EcgFeatures]:
        """`offered`: the question's offered answers ([all kinds' answers] 0/1), read by a model with
        finding_choices as its tokens read them; None (or a model without them) reads every answer."""
        return [self._read(ecg, offered if self.model.config.finding_choices else None) for ecg in features]

    def _read(self, ecg: EcgFeatures, offered: np.ndarray | None) -> EcgFeatures:
        # The row the finding tokens read: the signal's, else the picture's (heartcare.model.chat.finding_rows).
        if ecg.signal is not None and ecg.finding is not None:
            stream, row, projector = "signal", ecg.finding, self.model.finding_projector
        elif ecg.image is not None and ecg.image_finding is not None:
            stream, row, projector = "image", ecg.image_finding, self.model.image_finding_projector
        else:
            return ecg
        row = np.ascontiguousarray(row, dtype=np.float32)
        digest = hashlib.blake2b(row.tobytes(), digest_size=16)
        if offered is not None:
            digest.update(np.ascontiguousarray(offered, dtype=np.float32).tobytes())
        key = (stream, digest.digest())
        if key not in self.memo:
            import torch

            with torch.no_grad():
                rows = torch.from_numpy(row).to(device=projector.input_mean.device, dtype=projector.input_mean.dtype)
                offer = None if offered is None else torch.from_numpy(np.asarray(offered, dtype=np.float32)).to(rows.device)[None]
                beliefs = projector.beliefs(rows.reshape(1, -1), offer, self.model.config.finding_temperature)
            self.memo[key] = reading_text(self.model.config.findings, [belief[0].float().cpu().numpy() for belief in beliefs])
        return replace(ecg, reading=self.memo[key])


def reader_of(model):
    """The model's FindingWords, or None for a model without finding words."""
    return FindingWords(model) if model.config.finding_words else None
