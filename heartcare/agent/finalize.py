"""Stage 2 of a build: merge shards, drop duplicates, pair ECGs, write the final files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from heartcare.agent.config import BuildConfig
from heartcare.agent.description import QaItem
from heartcare.agent.process import description_from_row
from heartcare.agent.questions.comparison import comparison_set
from heartcare.agent.splits import SPLITS, drop_cross_split_duplicates, overlap_report
from heartcare.agent.writer import items_table, read_shard, write_table
from heartcare.atomic import write_atomic


def _comparison(descriptions, config: BuildConfig) -> list[QaItem]:
    modalities = ("C-SS", "C-II", "C-SI") if config.images_per_record > 0 else ("C-SS",)
    return comparison_set(descriptions, config.seed, config.comparison_per_record, modalities)


def _balance(tables: dict[str, Any], config: BuildConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Valid and test keep c items per answer (no option prior); train only gets re-drawn distractors."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from heartcare.agent.balance import (
        MULTIPLE_CHOICE_TASKS,
        answer_prior,
        balance_table,
        summarise,
    )

    balanced, report, prior = {}, {}, None
    # train first: valid/test deal their distractors against train's answer frequencies
    for split in sorted(tables, key=lambda name: name != "train"):
        table = tables[split]
        balanced[split], groups = balance_table(table, config.seed, select=split != "train",
                                                min_per_answer=config.min_per_answer, prior=prior)
        if split == "train":
            chosen = balanced[split].filter(pc.is_in(balanced[split].column("task"), pa.array(MULTIPLE_CHOICE_TASKS)))
            prior = answer_prior(chosen.select(["id", "task", "dimension", "modality", "choices", "answer_index",
                                                "ecgs", "meta"]).to_pylist())
        report[split] = {"totals": summarise(groups), "groups": groups}
    return {split: balanced[split] for split in tables}, report


def _one_split_per_patient(records):
    """A patient whose records carry different folds joins the split of their first record."""
    import pyarrow as pa

    patients = records.column("patient_id").to_pylist()
    splits = records.column("split").to_pylist()
    first: dict[str, str] = {}
    for patient, split in zip(patients, splits, strict=True):
        first.setdefault(patient, split)
    fixed = [first[patient] for patient in patients]
    if fixed == splits:
        return records
    index = records.schema.get_field_index("split")
    return records.set_column(index, "split", pa.array(fixed, pa.string()))


def finalize(
    out: Path, config: BuildConfig, shard_count: int, timing: dict[str, float], started: float, progress: bool = True
) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    record_parts, qa_parts, skipped = [], [], []
    for shard in range(shard_count):
        records, qa, notes = read_shard(out, shard)
        record_parts.append(records)
        qa_parts.append(qa)
        skipped.extend(notes)
    records = pa.concat_tables(record_parts) if record_parts else None
    qa = pa.concat_tables(qa_parts) if qa_parts else None
    if records is None or records.num_rows == 0:
        from heartcare.errors import HeartcareError

        raise HeartcareError(out, f"no usable record; {len(skipped)} skipped: {skipped[:3]}")

    records = _one_split_per_patient(records)
    # Duplicates across splits would leak test answers into training: drop the later copy.
    drops = drop_cross_split_duplicates(
        records.column("record_id").to_pylist(), records.column("split").to_pylist(), records.column("waveform_hash").to_pylist()
    )
    if drops:
        dropped = pa.array([d.record_id for d in drops])
        records = records.filter(pc.invert(pc.is_in(records.column("record_id"), dropped)))
        skipped.extend({"source": "build", "key": d.record_id, "reason": d.reason} for d in drops)
    split_of = dict(zip(records.column("record_id").to_pylist(), records.column("split").to_pylist(), strict=True))

    # Single-ECG items follow their record into its split (items of dropped records vanish).
    first_record = pc.struct_field(pc.list_element(qa.column("ecgs"), 0), [0])
    item_split = pa.array([split_of.get(record_id) for record_id in first_record.to_pylist()], pa.string())
    rows = records.to_pylist()
    rewrite_stats: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    ecgqa: dict[str, list[QaItem]] = {}
    for spec in config.sources:
        if spec.startswith("ecgqa:"):
            from heartcare.agent.ecgqa import ecgqa_items, read_ecgqa

            for split, found in ecgqa_items(read_ecgqa(spec[6:]), split_of, config.images_per_record > 0).items():
                ecgqa.setdefault(split, []).extend(found)
    for split in SPLITS:
        single = qa.filter(pc.equal(item_split, split))
        descriptions = [description_from_row(row) for row in rows if row["split"] == split]
        extra = _comparison(descriptions, config) + ecgqa.get(split, [])
        if config.llm_url:
            from heartcare.agent.rewrite import rewrite_table

            single, stats = rewrite_table(single, config, out / "llm_cache")
            rewrite_stats[split] = stats
        tables[split] = pa.concat_tables([single, items_table(extra)])
    stage_two = time.perf_counter()
    tables, balance = _balance(tables, config)
    timing = {**timing, "balance_s": round(time.perf_counter() - stage_two, 1)}

    write_table(out / "records.parquet", records)
    for split, table in tables.items():
        write_table(out / "qa" / f"{split}.parquet", table)
    overlap = overlap_report(
        records.column("patient_id").to_pylist(), records.column("split").to_pylist(), records.column("waveform_hash").to_pylist()
    )
    from heartcare.agent.audit import audit_tables
    from heartcare.agent.card import write_card

    audit_started = time.perf_counter()
    # The shortcut audit runs in every build, so every card states its blind floors.
    audit = audit_tables(tables, records, config.seed)
    timing = {**timing, "audit_s": round(time.perf_counter() - audit_started, 1)}
    timing = {**timing, "total_s": round(time.perf_counter() - started, 1), "finalize_s": round(time.perf_counter() - stage_two, 1)}
    card = write_card(out, config, records, tables, skipped, overlap, timing, rewrite_stats, balance, audit)
    report = {"skipped": skipped, "timing": timing, "rewrite": rewrite_stats}
    write_atomic(out / "build_report.json", json.dumps(report, indent=1).encode())
    return card["totals"]
