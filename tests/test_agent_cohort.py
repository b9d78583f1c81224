"""A build of the demo's 120-record simulated cohort: every comparison kind, balanced.

Slow (simulates 120 records and builds them, ~30-60 s on a busy machine); the
balancing logic itself is covered fast in test_agent_questions.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from heartcare.agent.build import build_dataset
from heartcare.agent.config import BuildConfig

pytestmark = pytest.mark.slow
SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from heartcare.sim.cohort import build_cohort

    root = tmp_path_factory.mktemp("cohort120")
    build_cohort(120, root / "cohort", seed=0, workers=1, progress=False)
    config = BuildConfig(sources=(f"ptbxl:{root / 'cohort'}",), out=str(root / "ds"), images_per_record=1,
                         image_presets=("clean",), image_dpi=40.0)
    build_dataset(config, progress=False)
    return root / "ds"


def test_every_comparison_question_type_is_present_with_balanced_answers(built):
    answers: dict[tuple[str, str, str], Counter] = {}
    for split in SPLITS:
        for row in pq.read_table(built / "qa" / f"{split}.parquet").to_pylist():
            if row["task"] == "comparison_qa":
                meta = json.loads(row["meta"])
                answers.setdefault((meta["relation"], meta["kind"], row["modality"]), Counter())[row["answer_index"]] += 1
    # Same-patient pairs get time-ordered kinds; different patients get "which of the two shows X" instead of
    # "what is new" (no time between two people). A 120-record cohort has too few follow-ups whose rhythm changes
    # for a balanced same-patient "same rhythm?" set, so present-if-possible there; the rest must be present.
    plan = {"consecutive": (("higher_rate", 2, True), ("same_rhythm", 2, False), ("new_finding", 4, False)),
            "irrelevant": (("higher_rate", 2, True), ("same_rhythm", 2, True), ("which_shows", 4, True))}
    for relation, kinds in plan.items():
        for kind, options, required in kinds:
            for modality in ("C-SS", "C-II", "C-SI"):
                counts = answers.get((relation, kind, modality))
                assert counts or not required, (relation, kind, modality)
                if not counts:
                    continue
                # answers dealt in turn per split: each split adds at most one extra
                spread = max(counts[i] for i in range(options)) - min(counts[i] for i in range(options))
                assert spread <= len(SPLITS) and min(counts[i] for i in range(options)) > 0, (relation, kind, modality, counts)
    assert not any(relation == "irrelevant" and kind == "new_finding" for relation, kind, _ in answers)


def test_signal_and_image_items_match_and_the_cohort_reaches_paper_scale(built):
    rows = [row for split in SPLITS for row in pq.read_table(built / "qa" / f"{split}.parquet").to_pylist()]
    single = Counter((row["task"], row["dimension"], row["modality"]) for row in rows if row["modality"] in ("S", "I"))
    assert all(single[(task, dimension, "S")] == single[(task, dimension, "I")] for task, dimension, _ in single)
    records = pq.read_table(built / "records.parquet").num_rows
    # >= 400,000 items from 21,799 records needs >= 18.4 items per record
    assert records == 120 and len(rows) / records >= 18.4
