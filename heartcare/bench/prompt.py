"""How a question is put to a language model, the same for every text adapter.

The dataset's question already carries its options ("Options: A: X; B: Y; ...");
adapters add one task instruction so that answers come in a form the parser reads,
and each task gets its own generation budget (a report needs far more tokens than a
letter; the reference code's single 40-token limit cut reports short).
"""

from __future__ import annotations

from heartcare.bench.items import BenchItem

SYSTEM_PROMPT = "You are a cardiologist reading 12-lead electrocardiograms. Answer precisely and concisely."

INSTRUCTIONS: dict[str, str] = {
    "closed_qa": "Answer with the letter of the correct option.",
    "comparison_qa": "Answer with the letter of the correct option.",
    "open_qa": "Answer in one or two sentences.",
    "report": "Write the report.",
    "signal_prediction": "Answer with <prediction>.",
}

MAX_NEW_TOKENS: dict[str, int] = {
    "closed_qa": 24,
    "comparison_qa": 24,
    "open_qa": 96,
    "report": 320,
    "signal_prediction": 8,
}


def user_text(item: BenchItem) -> str:
    """The text part of the user turn: the dataset question plus the task instruction."""
    instruction = INSTRUCTIONS.get(item.task, "")
    return f"{item.question} {instruction}".strip()


def max_new_tokens(item: BenchItem) -> int:
    return MAX_NEW_TOKENS.get(item.task, 64)
