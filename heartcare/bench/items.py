"""One benchmark item as every adapter and metric sees it (a row of qa/{split}.parquet)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class EcgRef:
    """An ECG an item points at: its record and how the model gets it ("S" signal, "I" image)."""

    record_id: str
    modality: str


@dataclass(frozen=True)
class BenchItem:
    """A HeartAgent QA row, parsed (DESIGN.md "Dataset on disk").

    task: closed_qa | open_qa | comparison_qa | report | signal_prediction;
    modality: S | I | C-SS | C-II | C-SI; choices empty for free-text tasks;
    answer_index: the correct choice (-1 for free text); meta: the builder's JSON meta.
    """

    id: str
    task: str
    dimension: str
    modality: str
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    answer_index: int = -1
    ecgs: tuple[EcgRef, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices)

    @property
    def answer_text(self) -> str:
        """The reference free text ("A: X" answers lose their letter for text metrics)."""
        if self.is_multiple_choice and 0 <= self.answer_index < len(self.choices):
            return self.choices[self.answer_index]
        return self.answer

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.choices)]

    def attribute(self, name: str) -> Any:
        """An item field or a `meta.KEY` value (task selectors and breakdowns use these)."""
        if name.startswith("meta."):
            return self.meta.get(name.removeprefix("meta."))
        return getattr(self, name)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BenchItem:
        meta = row.get("meta") or {}
        return cls(
            id=str(row["id"]),
            task=str(row["task"]),
            dimension=str(row["dimension"]),
            modality=str(row["modality"]),
            question=str(row["question"]),
            answer=str(row["answer"]),
            choices=tuple(row.get("choices") or ()),
            answer_index=int(row.get("answer_index", -1) if row.get("answer_index") is not None else -1),
            ecgs=tuple(EcgRef(str(e["record_id"]), str(e["modality"])) for e in row.get("ecgs") or ()),
            meta=json.loads(meta) if isinstance(meta, str) else dict(meta),
        )
