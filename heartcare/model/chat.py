"""Prompts with ECG placeholders, in the backbone's own chat template, tokenised with answer-only labels.

Each ECG of an item becomes `<signal_start>` + one `<signal>` per signal token +
`<signal_end>` and/or `<image_start>` + one `<image>` per image token + `<image_end>`
inside the user turn, in the item's order (a comparison item carries two ECGs and
both reach the model). The model later writes the projected features over the
placeholders. Labels are -100 everywhere but the answer and the end-of-turn token
that closes it, so the model learns to stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from heartcare.errors import HeartcareError

SIGNAL_START, SIGNAL_END = "<signal_start>", "<signal_end>"
IMAGE_START, IMAGE_END = "<image_start>", "<image_end>"
PREDICTION = "<prediction>"
SIGNAL, IMAGE = "<signal>", "<image>"
SPECIAL_TOKENS = (SIGNAL_START, SIGNAL_END, IMAGE_START, IMAGE_END, PREDICTION, SIGNAL, IMAGE)
# Added only to models with finding tokens, so the paper's model keeps its vocabulary (and checkpoints their rows).
FINDING, IMAGE_FINDING = "<finding>", "<image_finding>"
COMPARISON = "<comparison>"  # a pair's comparison tokens (heartcare.model.comparison_tokens), after its second ECG
IGNORE = -100  # label of tokens the loss skips


class PromptTooLongError(HeartcareError):
    """The prompt and answer do not fit the context: never cut (a cut could split a placeholder run)."""


@dataclass
class EcgFeatures:
    """One ECG as the model reads it: signal tokens [n, signal_dim] (pooled Beat latents) and/or
    image features [views, feature_dim] (12 lead crops or 1 whole picture), and for a model with
    finding tokens the [1, 2 * signal_dim] row its finding projector reads (`image_finding`: the
    [1, 2 * feature_dim] row of a picture without a signal)."""

    signal: np.ndarray | None = None
    image: np.ndarray | None = None
    finding: np.ndarray | None = None
    image_finding: np.ndarray | None = None
    reading: str | None = None  # the finding readers' beliefs as words (heartcare.model.finding_words), after the block


@dataclass
class Encoded:
    """A tokenised item: input_ids and labels [T]; the features in placeholder order."""

    input_ids: list[int]
    labels: list[int]
    signal: list[np.ndarray] = field(default_factory=list)
    image: list[np.ndarray] = field(default_factory=list)
    finding: list[np.ndarray] = field(default_factory=list)
    image_finding: list[np.ndarray] = field(default_factory=list)
    # per pair with comparison tokens: where each ECG's finding row is, as (stream, index in that stream's list)
    comparison: list[tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=list)
    comparison_finding: list[int] = field(default_factory=list)  # per pair, the named finding its question names (-1: none)
    prompt_length: int = 0
    # the answers the question offers, per kind (heartcare.model.offered_answers), for each of its finding rows
    offered: np.ndarray | None = None


def ecg_block(ecg: EcgFeatures, image_tokens: int, finding_tokens: int = 0) -> str:
    """The placeholder text of one ECG (its finding tokens close its signal block, or its image block),
    then on its own line what its finding readers read, for a model with finding words."""
    parts = []
    if ecg.signal is not None:
        findings = FINDING * (len(ecg.finding) * finding_tokens) if ecg.finding is not None else ""
        parts.append(SIGNAL_START + SIGNAL * len(ecg.signal) + findings + SIGNAL_END)
    if ecg.image is not None:
        findings = IMAGE_FINDING * (len(ecg.image_finding) * finding_tokens) if ecg.image_finding is not None else ""
        parts.append(IMAGE_START + IMAGE * (len(ecg.image) * image_tokens) + findings + IMAGE_END)
    if ecg.reading is not None:
        parts.append("\n" + ecg.reading)
    return "".join(parts)


def user_content(ecgs: list[EcgFeatures], question: str, image_tokens: int, finding_tokens: int = 0, comparison_tokens: int = 0) -> str:
    """The user turn: each ECG's placeholders (numbered when there are several; a compared pair's
    `comparison_tokens` close the second), then the question."""
    if len(ecgs) == 1:
        return f"{ecg_block(ecgs[0], image_tokens, finding_tokens)}\n{question}"
    blocks = [f"ECG {index}: {ecg_block(ecg, image_tokens, finding_tokens)}" for index, ecg in enumerate(ecgs, start=1)]
    if comparison_tokens:
        blocks[-1] += COMPARISON * comparison_tokens
    return "\n".join([*blocks, question])


def finding_rows(ecgs: list[EcgFeatures], finding_tokens: int) -> list[tuple[str, int] | None]:
    """Per ECG, where its finding row lands in an Encoded (its signal's row first, else its picture's):
    ("finding" | "image_finding", index in that list), or None for an ECG without one."""
    counts = {"finding": 0, "image_finding": 0}
    places: list[tuple[str, int] | None] = []
    for ecg in ecgs:
        signal_row = bool(finding_tokens) and ecg.signal is not None and ecg.finding is not None
        image_row = bool(finding_tokens) and ecg.image is not None and ecg.image_finding is not None
        stream = "finding" if signal_row else "image_finding" if image_row else None
        places.append(None if stream is None else (stream, counts[stream]))
        counts["finding"] += signal_row
        counts["image_finding"] += image_row
    return places


def encode(
    tokenizer,
    ecgs: list[EcgFeatures],
    question: str,
    answer: str | None,
    system: str,
    image_tokens: int,
    max_length: int,
    where: str = "item",
    finding_tokens: int = 0,
    comparison_tokens: int = 0,
    named_finding: int = -1,
    offered: np.ndarray | None = None,
) -> Encoded:
    """Tokenise one item; answer=None gives the generation prompt only (inference). A pair whose ECGs
    both bring finding rows gets `comparison_tokens` placeholders (and `named_finding`, the index of
    the finding its question names, heartcare.model.comparison_tokens.named_finding). `offered`
    (heartcare.model.offered_answers) travels with the item to restrict its finding tokens.

    Raises PromptTooLongError naming `where` when prompt + answer exceed max_length.
    """
    places = finding_rows(ecgs, finding_tokens)
    pair = [(places[0], places[1])] if comparison_tokens and len(ecgs) == 2 and None not in places else []
    content = user_content(ecgs, question, image_tokens, finding_tokens, comparison_tokens if pair else 0)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": content}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = [] if answer is None else [*tokenizer(answer, add_special_tokens=False)["input_ids"], end_of_turn_id(tokenizer)]
    total = len(prompt_ids) + len(answer_ids)
    if total > max_length:
        raise PromptTooLongError(where, f"{total} tokens (prompt {len(prompt_ids)}, answer {len(answer_ids)}) exceed max_length {max_length}")
    return Encoded(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE] * len(prompt_ids) + answer_ids,
        signal=[ecg.signal for ecg in ecgs if ecg.signal is not None],
        image=[ecg.image for ecg in ecgs if ecg.image is not None],
        finding=[ecg.finding for ecg in ecgs if ecg.signal is not None and ecg.finding is not None and finding_tokens],
        image_finding=[ecg.image_finding for ecg in ecgs if ecg.image is not None and ecg.image_finding is not None and finding_tokens],
        comparison=pair,
        comparison_finding=[named_finding] * len(pair),
        prompt_length=len(prompt_ids),
        offered=offered,
    )


def end_of_turn_id(tokenizer) -> int:
    """The token that closes an assistant turn (ChatML's <|im_end|>; else the tokenizer's eos)."""
    for token in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        # A round trip, not `token in get_vocab()`: that builds the whole vocabulary per call (22 ms for
        # SmolLM2's 49k), which was two thirds of a GPU training step (a profile of stage 3 on an H200).
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and tokenizer.convert_ids_to_tokens(token_id) == token:
            return token_id
    if tokenizer.eos_token_id is None:
        raise HeartcareError("tokenizer", "no end-of-turn or eos token to close answers with")
    return int(tokenizer.eos_token_id)


def add_special_tokens(tokenizer, extra: tuple[str, ...] = ()) -> list[int]:
    """Add the ECG tokens (and `extra`, e.g. FINDING) to the tokenizer (idempotent); their ids in that order."""
    wanted = (*SPECIAL_TOKENS, *extra)
    missing = [token for token in wanted if token not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    return [tokenizer.convert_tokens_to_ids(token) for token in wanted]
