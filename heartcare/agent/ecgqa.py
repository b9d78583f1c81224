"""ECG-QA input (Oh et al., NeurIPS 2023 Datasets): its PTB-XL JSON mapped onto records.

Each ECG-QA entry names PTB-XL `ecg_id`s, a question_type (single-verify,
single-choose, single-query, comparison_consecutive-*, comparison_irrelevant-*), an
attribute type, the question and a list of answers. Entries whose ECGs are all in
the dataset (and in one split) become Misc / Comparison items in S (and I) form.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heartcare.agent.description import QaItem, item_id
from heartcare.errors import UnreadableFileError


def read_ecgqa(path: str | Path) -> list[dict[str, Any]]:
    """The entries of one ECG-QA JSON file (a list of objects)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UnreadableFileError(path, f"not an ECG-QA JSON file ({error})") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UnreadableFileError(path, "ECG-QA JSON must be a list of objects")
    return entries


def ecgqa_items(
    entries: list[dict[str, Any]], split_of: dict[str, str], with_images: bool
) -> dict[str, list[QaItem]]:
    """split -> items; entries with unknown ECGs or ECGs in different splits are left out."""
    result: dict[str, list[QaItem]] = {}
    for entry in entries:
        ids = entry.get("ecg_id") or []
        ids = ids if isinstance(ids, list) else [ids]
        record_ids = [f"ptbxl_{int(ecg_id)}" for ecg_id in ids]
        splits = {split_of.get(record_id) for record_id in record_ids}
        if not record_ids or None in splits or len(splits) != 1 or not entry.get("question"):
            continue
        split = splits.pop()
        question_type = str(entry.get("question_type", "single-query"))
        answers = [str(a) for a in entry.get("answer", [])]
        answer = ", ".join(answers) if answers else "none"
        verify = question_type.endswith("verify")
        comparison = question_type.startswith("comparison") and len(record_ids) == 2
        forms = (("C-SS", "S", "S"), ("C-II", "I", "I"), ("C-SI", "S", "I")) if comparison else (("S", "S", None), ("I", "I", None))
        for modality, left, right in forms:
            if "I" in (left, right) and not with_images:
                continue
            ecgs = ((record_ids[0], left), (record_ids[1], right)) if comparison else ((record_ids[0], left),)
            choices = ("yes", "no") if verify else ()
            result.setdefault(split, []).append(
                QaItem(
                    id=item_id("ecgqa", entry.get("question_id", entry["question"]), *record_ids, modality),
                    task="comparison_qa" if comparison else "closed_qa" if verify else "open_qa",
                    dimension="misc",
                    modality=modality,  # type: ignore[arg-type]
                    question=str(entry["question"]),
                    answer=answer,
                    choices=choices,
                    answer_index=choices.index(answer) if answer in choices else -1,
                    ecgs=ecgs,
                    meta={"source": "ecgqa", "question_type": question_type,
                          "attribute_type": entry.get("attribute_type"), "relation": question_type.split("-")[0].split("_")[-1]},
                )
            )
    return result
