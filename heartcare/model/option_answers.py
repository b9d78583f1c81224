"""Answering a question that offers options by scoring them, with the asked finding reader's evidence.

A closed question names its options ("Options: A: X; B: Y; ..."). With `GptConfig.closed_answers =
"options"` the model does not write its answer token by token: it scores each offered option as
it was trained to write it (log p("X (A)" | prompt, ECGs), end of turn included), adds
`reader_weight` times the log belief of the finding reader whose kind the question asks (over the
offered answers, at temperature 1), and answers the best option in its own answer form. Weight 0
is the language model's own likelihood alone; a large weight is the reader alone.

Why: greedy writing loses where a kind's answer rows are alike. A finding token is a blend of
answer rows, each the mean embedding of the answer's tokens, and "sinus bradycardia" and "sinus
tachycardia" have nearly equal means: P/T0u wrote "sinus tachycardia" on 14 of its 15 test picture
rhythm items where it parted from its reader (the reader right on all 15), while its own
likelihood ranked the right option first on 80.9% of those items against 69.1% written. Scoring
the offered options is how multiple-choice questions are put to language models (lm-eval's
log-likelihood tasks). The reader's belief is late fusion of two of the model's own estimates:
the finding token hands the language model only the believed answer at temperature 0, so how sure
the reader was is lost on the way; the weight puts it back at the answer. The weight is chosen on
valid items (`heartcare gpt set --closed-answers options --reader-weight valid`), never on test.

Questions without options (open questions, reports, `<prediction>`) are always generated, as are
options a model cannot score against a reader (a pair of ECGs, a kind no reader knows): there the
weight is 0 and the language model's likelihood decides alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # the grid `--reader-weight valid` chooses from
SMALLEST_BELIEF = 1e-6  # a reader's zero belief in an option is a large penalty, never -inf
OPTION_ROWS = 16  # option sequences per forward pass

_OPTIONS = re.compile(r"Options:\s*(.+?)\s*\.?\s*$", re.DOTALL)
_OPTION = re.compile(r"(?:^|;\s*)([A-Z]):\s*")
_SENTENCE_END = re.compile(r"\.\s+")


def question_options(text: str) -> list[str]:
    """The options a question offers in the dataset's form ("... Options: A: X; B: Y; C: Z."), in
    letter order; [] when it offers none or its letters are not A, B, C, ... in order."""
    found = _OPTIONS.search(text)
    if not found:
        return []
    body = found.group(1)
    marks = list(_OPTION.finditer(body))
    letters = [mark.group(1) for mark in marks]
    if len(marks) < 2 or letters != [chr(ord("A") + index) for index in range(len(marks))]:
        return []
    ends = [mark.start() for mark in marks[1:]] + [len(body)]
    options = [body[mark.end() : end].strip() for mark, end in zip(marks, ends, strict=True)]
    options[-1] = _SENTENCE_END.split(options[-1], maxsplit=1)[0]  # an instruction may follow the last option
    options = [option.rstrip(".;").strip() for option in options]
    return options if all(options) else []


def option_answer(config, letters: Sequence[str], choices: Sequence[str], index: int) -> str:
    """Option `index` written as the model writes answers: "text (B)" (text-first) or "B: text"."""
    if config.answer_format == "text-first":
        return f"{choices[index]} ({letters[index]})"
    return f"{letters[index]}: {choices[index]}"


def reader_scores(model, encoded, choices: Sequence[str]) -> list[float] | None:
    """Per option, the log belief of the reader of the kind the question asks, for a one-ECG prompt
    whose offered answers include every option; None where no reader speaks to the options (no
    finding rows, two ECGs, an option outside every asked kind)."""
    import numpy as np
    import torch

    rows = [(row, model.finding_projector) for row in encoded.finding] + [
        (row, model.image_finding_projector) for row in encoded.image_finding]
    if len(rows) != 1 or rows[0][1] is None or encoded.offered is None:
        return None
    row, projector = rows[0]
    features = torch.from_numpy(np.asarray(row)).to(projector.input_mean.dtype)
    offered = torch.from_numpy(np.asarray(encoded.offered))[None]
    with torch.inference_mode():
        beliefs = projector.beliefs(features, offered, temperature=1.0)
    kinds = len(model.config.findings)
    asked = offered[0, -kinds:]
    for kind, ((_, answers), belief) in enumerate(zip(model.config.findings, beliefs, strict=True)):
        position = {answer: index for index, answer in enumerate(answers)}
        if asked[kind] > 0 and all(choice in position for choice in choices):
            return [math.log(max(float(belief[0, position[choice]]), SMALLEST_BELIEF)) for choice in choices]
    return None


def fused_choice(language: Sequence[float], reader: Sequence[float] | None, weight: float) -> int:
    """The option with the highest language-model log-likelihood + weight x reader log belief (first on ties)."""
    scores = list(language) if reader is None or weight == 0.0 else [
        own + weight * evidence for own, evidence in zip(language, reader, strict=True)]
    return max(range(len(scores)), key=lambda index: (scores[index], -index))


def chosen_weight(scored: Sequence[tuple[Sequence[float], Sequence[float] | None, int, str]],
                  weights: Sequence[float] = WEIGHTS) -> tuple[float, dict[str, dict[str, float]]]:
    """scored: per item (language scores, reader scores or None, right index, task) -> (the weight with the
    best mean per-task accuracy, the smallest on ties; per weight, per task and "mean", the accuracy in %)."""
    if not scored:
        raise ValueError("no scored items to choose a reader weight on")
    table: dict[str, dict[str, float]] = {}
    for weight in weights:
        per_task: dict[str, list[bool]] = {}
        for language, reader, answer, task in scored:
            per_task.setdefault(task, []).append(fused_choice(language, reader, weight) == answer)
        row = {task: round(100.0 * sum(hits) / len(hits), 2) for task, hits in sorted(per_task.items())}
        row["mean"] = round(sum(row.values()) / len(per_task), 2)
        table[str(weight)] = row
    best = max(weights, key=lambda weight: (table[str(weight)]["mean"], -weight))
    return best, table


def option_logprobs_of(model, rows: list) -> list[float]:
    """Per tokenised row (prompt + one option as its answer), log p(answer tokens | prompt and ECGs)."""
    import torch

    from heartcare.model.examples import Collator

    collate, scores = Collator(model.tokenizer.pad_token_id), []
    with torch.inference_mode():
        for start in range(0, len(rows), OPTION_ROWS):
            scores.extend(model.answer_logprobs(collate(rows[start : start + OPTION_ROWS])).tolist())
    return scores


def with_answer(model, encoded, answer: str):
    """A tokenised prompt (chat.encode with answer=None) with `answer` and the end of turn appended as its labels."""
    from dataclasses import replace

    from heartcare.model.chat import IGNORE, PromptTooLongError, end_of_turn_id

    answer_ids = [*model.tokenizer(answer, add_special_tokens=False)["input_ids"], end_of_turn_id(model.tokenizer)]
    total = len(encoded.input_ids) + len(answer_ids)
    if total > model.config.max_length:
        raise PromptTooLongError("question", f"{total} tokens with the option {answer!r} exceed max_length {model.config.max_length}")
    return replace(encoded, input_ids=[*encoded.input_ids, *answer_ids], labels=[IGNORE] * len(encoded.input_ids) + answer_ids)


def choose_options(model, encoded: list, options: list[list[str]]) -> list[dict]:
    """Per prompt and its offered options (>= 2), the option the model answers: {"index", "answer" (its
    text in the model's answer form), "scores": per option its language-model log-likelihood and reader
    log belief (None where no reader speaks to the options)}. All options of all prompts in one pass."""
    letters = [[chr(ord("A") + index) for index in range(len(offered))] for offered in options]
    rows = [with_answer(model, prompt, option_answer(model.config, marks, offered, index))
            for prompt, offered, marks in zip(encoded, options, letters, strict=True) for index in range(len(offered))]
    language = option_logprobs_of(model, rows)
    weight, chosen, offset = model.config.reader_weight, [], 0
    for prompt, offered, marks in zip(encoded, options, letters, strict=True):
        own = language[offset : offset + len(offered)]
        offset += len(offered)
        reader = reader_scores(model, prompt, offered) if model.finding_projector is not None else None
        index = fused_choice(own, reader, weight)
        chosen.append({"index": index, "answer": option_answer(model.config, marks, offered, index),
                       "scores": {mark: {"language": round(score, 4), "reader": None if reader is None else round(reader[number], 4)}
                                  for number, (mark, score) in enumerate(zip(marks, own, strict=True))}})
    return chosen
