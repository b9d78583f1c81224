"""The shortcut audit of a HeartAgent dataset: blind floors on test, an answer checker, cell sizes.

Blind baselines are fitted on train and scored on test per task x kind x modality,
next to chance: the majority answer per kind and the TF-IDF + logistic-regression
option scorer (both Heartcare-Bench floors, reused) and an option-text prior (each
text's train rate of being correct when offered). If any sits well above chance, the
wording gives answers away. The checker re-derives every multiple-choice answer from
records.parquet under the concept hierarchy (`heartcare.agent.answer_check`),
ignoring the builder's own "excluded" lists. Bench cells under 300 test items are
flagged: too few to rank models. On the balanced splits two cues a floor fitted on train
can miss are checked directly: an option text right well above chance when offered, and an
offered text right well above chance when another text of the kind is missing.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from heartcare.agent.balance import CUE_MARGIN, MULTIPLE_CHOICE_TASKS, question_kind
from heartcare.agent.description import stable_hash

MAX_TRAIN_OPTIONS = 50_000  # the blind scorer's train sample: keeps the audit to seconds on PTB-XL
MIN_CELL_ITEMS = 300  # issue 18: fewer test items cannot rank models
TASK_MARGIN, KIND_MARGIN, KIND_MIN_ITEMS = 0.05, CUE_MARGIN, 60  # issue 18 targets, in accuracy points over chance
BASELINES = ("majority", "option_prior", "tfidf")
OFFERED_MIN = 20  # offers of one text before its answer rate is judged
MISSING_MIN = 10  # items lacking one text before what they answer is judged
FAMILY_ALPHA = 0.05  # over all (missing text, offered text) pairs of a split, Bonferroni-corrected
RECORD_COLUMNS = ["record_id", "labels", "measurements", "noise", "infarct_stage", "extra_beats", "pacemaker"]


def item_kind(item) -> str:
    """The audit's question kind of a BenchItem (ECG-QA items go by their question type)."""
    return question_kind(item.task, item.dimension, item.meta) or str(item.meta.get("question_type") or item.dimension)


class _Items:
    """The part of BenchDataset the bench floors use: items per split."""

    def __init__(self, items: dict[str, list]) -> None:
        self._items = items

    def items(self, split: str) -> list:
        return self._items.get(split, [])


def sample_rows(table, seed: int):
    """Train rows for the blind floors, at most MAX_TRAIN_OPTIONS options (hash-ranked, so stable)."""
    import pyarrow.compute as pc

    sizes = pc.list_value_length(table.column("choices")).to_numpy(zero_copy_only=False)
    if sizes.sum() <= MAX_TRAIN_OPTIONS:
        return table
    ids = table.column("id").to_pylist()
    order = sorted(range(table.num_rows), key=lambda row: stable_hash(seed, "audit", ids[row]))
    taken, options = [], 0
    for row in order:
        if options + sizes[row] > MAX_TRAIN_OPTIONS:
            break
        taken.append(row)
        options += int(sizes[row])
    return table.take(sorted(taken))


def _option_prior(train: list, test: list) -> list[int]:
    """Per test item, the option whose text was most often right when offered in train (same kind, else any)."""
    offered: Counter[tuple[str, str]] = Counter()
    correct: Counter[tuple[str, str]] = Counter()
    for item in train:
        for scope in (item_kind(item), ""):
            for index, text in enumerate(item.choices):
                offered[(scope, text)] += 1
                correct[(scope, text)] += index == item.answer_index
    picks = []
    for item in test:
        def rate(text: str, kind: str = item_kind(item)) -> float:
            key = (kind, text) if offered[(kind, text)] else ("", text)
            return (correct[key] + 1) / (offered[key] + 2)  # unseen texts: 1/2, not 0/0

        rates = [rate(text) for text in item.choices]
        picks.append(rates.index(max(rates)))
    return picks


def _picks(outputs, items) -> list[int]:
    """Chosen option index per Output (option scores if given, else the "X: text" answer)."""
    picks = []
    for output, item in zip(outputs, items, strict=True):
        if output.option_logprobs:
            scores = output.option_logprobs
            picks.append(scores.index(max(scores)))
        else:
            letter = (output.text or "?")[0]
            picks.append(item.letters.find(letter))
    return picks


def blind_baselines(train: list, test: list, seed: int, note: str = "", tfidf_train: list | None = None) -> dict[str, Any]:
    """Accuracy of the blind floors on test multiple-choice items, per task x kind x modality and rolled up.

    train: the items the counting floors (majority, option prior) are fitted on, as the bench
    fits them; tfidf_train: the (sampled) items the TF-IDF scorer is fitted on (default:
    train); note: how they were sampled. Counting floors fitted on a sample would rank
    close answers by sampling noise and measure the sample, not the dataset.
    """
    from heartcare.bench.models.base import ModelContext
    from heartcare.bench.models.floors import MajorityModel

    context = ModelContext(dataset=_Items({"train": train}), seed=seed)  # type: ignore[arg-type]
    picks = {"majority": _picks(MajorityModel(None, context).respond(test), test), "option_prior": _option_prior(train, test)}
    try:
        from heartcare.bench.models.blind import BlindModel

        sampled = ModelContext(dataset=_Items({"train": train if tfidf_train is None else tfidf_train}), seed=seed)  # type: ignore[arg-type]
        picks["tfidf"] = _picks(BlindModel(None, sampled).respond(test), test)
    except Exception as error:  # scikit-learn missing (ConfigError), or train without both classes
        note = f"{note}; tfidf not run: {error}"
    cells: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for position, item in enumerate(test):
        for key in ((item.task, item_kind(item), item.modality), (item.task, item_kind(item), ""), (item.task, "", "")):
            cell = cells[key]
            cell["items"] += 1
            cell["chance"] += 1 / len(item.choices)
            for name, chosen in picks.items():
                cell[name] += chosen[position] == item.answer_index
    rows = []
    for (task, kind, modality), cell in sorted(cells.items()):
        count = int(cell["items"])
        row = {"task": task, "kind": kind or "all", "modality": modality or "all", "items": count}
        row.update({name: round(cell[name] / count, 4) for name in ("chance", *picks)})
        margin = TASK_MARGIN if not kind else KIND_MARGIN
        row["flag"] = bool((not modality) and (not kind or count >= KIND_MIN_ITEMS)
                           and max(row[name] for name in picks) - row["chance"] > margin)
        rows.append(row)
    return {"note": note, "train_items": len(train), "test_items": len(test), "cells": rows,
            "flagged": [f"{r['task']}/{r['kind']}" for r in rows if r["flag"]]}


def offered_answer_rates(items: list, min_offered: int = OFFERED_MIN) -> dict[str, Any]:
    """Per question kind and option text: how often the text is the answer when it is offered, in one split.

    Why: a text that is rarely drawn as a distractor is the answer whenever it appears, and a model
    that learns to pick it scores above chance without the ECG; a floor fitted on another split's
    rates (the option prior above) misses this when that split's label prior differs (found in the
    signal-diagnosis items of a 6,000-record build: one finding the answer of 52% of the test items
    offering it, the others 21%). Texts offered fewer than `min_offered` times are not judged."""
    offered: Counter[tuple[str, str]] = Counter()
    answered: Counter[tuple[str, str]] = Counter()
    chance: dict[tuple[str, str], float] = defaultdict(float)
    for item in items:
        for index, text in enumerate(item.choices):
            key = (item_kind(item), text)
            offered[key] += 1
            answered[key] += index == item.answer_index
            chance[key] += 1 / len(item.choices)
    rows = [{"kind": kind, "text": text, "offered": count, "answer_rate": round(answered[(kind, text)] / count, 4),
             "chance": round(chance[(kind, text)] / count, 4)}
            for (kind, text), count in sorted(offered.items()) if count >= min_offered]
    flagged = [row for row in rows if row["answer_rate"] - row["chance"] > KIND_MARGIN]
    return {"min_offered": min_offered, "texts": len(rows), "flagged": flagged}


def binomial_tail(successes: int, trials: int, probability: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, probability), summed in log space (no scipy needed)."""
    if successes <= 0:
        return 1.0
    if probability <= 0.0:
        return 0.0
    if probability >= 1.0:
        return 1.0
    log_p, log_q = math.log(probability), math.log1p(-probability)
    terms = [math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p + (trials - k) * log_q
             for k in range(successes, trials + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(term - top) for term in terms))


def missing_option_cues(items: list, min_items: int = MISSING_MIN, alpha: float = FAMILY_ALPHA) -> dict[str, Any]:
    """Per question kind: does the text an item leaves out say which offered text is right?

    Every item of a kind offers K of the kind's texts; an answer whose items exclude a text never
    offer it, so "t missing -> that answer" can beat chance with every text right one time in K
    when offered (seen: 28 of 36 test rhythm items without atrial fibrillation were pacemaker).
    For each (missing text, offered text) pair with at least `min_items` items, the offered text's
    answer rate against its chance (1/K per item) is tested one-sided, Bonferroni over the pairs;
    a pair is flagged when it is significant and more than the kind margin above chance."""
    universe: dict[str, set[str]] = defaultdict(set)
    for item in items:
        universe[item_kind(item)].update(item.choices)
    count: Counter[tuple[str, str, str]] = Counter()
    right: Counter[tuple[str, str, str]] = Counter()
    chance: dict[tuple[str, str, str], float] = defaultdict(float)
    for item in items:
        kind = item_kind(item)
        for missing in universe[kind] - set(item.choices):
            for index, text in enumerate(item.choices):
                key = (kind, missing, text)
                count[key] += 1
                right[key] += index == item.answer_index
                chance[key] += 1 / len(item.choices)
    judged = [key for key in sorted(count) if count[key] >= min_items]
    flagged = []
    for key in judged:
        rate, expected = right[key] / count[key], chance[key] / count[key]
        p_value = binomial_tail(right[key], count[key], expected)
        if rate - expected > KIND_MARGIN and p_value < alpha / len(judged):
            flagged.append({"kind": key[0], "missing": key[1], "text": key[2], "items": count[key],
                            "answer_rate": round(rate, 4), "chance": round(expected, 4), "p_value": float(f"{p_value:.3g}")})
    return {"min_items": min_items, "pairs": len(judged), "alpha": alpha, "flagged": flagged}


def audit_failures(audit: dict[str, Any]) -> list[str]:
    """What makes `heartcare agent audit` exit 1: wrong answers, a blind baseline over its margin,
    an option text of a balanced split right well above chance when offered, or when another is missing."""
    failures = [f"{count} answer-check violations" for count in [audit["answer_check"]["violations"]] if count]
    failures += [f"blind baseline above chance: {cell}" for cell in audit["baselines"]["flagged"]]
    failures += [f"{split}: {row['kind']} option {row['text']!r} is the answer {row['answer_rate']:.2f} of the "
                 f"{row['offered']} times offered (chance {row['chance']:.2f})"
                 for split, rates in (audit.get("offered_answer_rates") or {}).items() for row in rates["flagged"]]
    failures += [f"{split}: {row['kind']} items without {row['missing']!r} have the answer {row['text']!r} "
                 f"{row['answer_rate']:.2f} of the {row['items']} times (chance {row['chance']:.2f}, p {row['p_value']:.2g})"
                 for split, cues in (audit.get("missing_option_cues") or {}).items() for row in cues["flagged"]]
    return failures


def cell_counts(test_rows: list) -> dict[str, Any]:
    """Test items per bench cell (task x dimension x modality; comparison kind x form), cells under 300 flagged."""
    cells = Counter((item.task, item.dimension, item.modality) for item in test_rows)
    comparison = Counter((item_kind(item), item.modality) for item in test_rows if item.task == "comparison_qa")
    rows = [{"task": t, "dimension": d, "modality": m, "items": n} for (t, d, m), n in sorted(cells.items())]
    pairs = [{"kind": k, "modality": m, "items": n} for (k, m), n in sorted(comparison.items())]
    small = [f"{r['task']}/{r['dimension']}/{r['modality']}" for r in rows if r["items"] < MIN_CELL_ITEMS]
    small += [f"comparison_qa/{r['kind']}/{r['modality']}" for r in pairs if r["items"] < MIN_CELL_ITEMS]
    return {"cells": rows, "comparison": pairs, "under_300": small}


def _bench_items(table, text: bool = True) -> list:
    """BenchItems of a table; text=False leaves question and answer empty (cell counts need neither)."""
    from heartcare.bench.items import BenchItem

    if not text:
        table = table.drop_columns([name for name in ("question", "answer") if name in table.column_names])
    return [BenchItem.from_row(row if text else {**row, "question": "", "answer": ""}) for row in table.to_pylist()]


def _multiple_choice(table):
    import pyarrow as pa
    import pyarrow.compute as pc

    chosen = table.filter(pc.is_in(table.column("task"), pa.array(MULTIPLE_CHOICE_TASKS)))
    return chosen.filter(pc.greater(pc.list_value_length(chosen.column("choices")), 0))


def audit_tables(tables: dict[str, Any], records, seed: int) -> dict[str, Any]:
    """The audit of a build's qa tables (split -> Arrow table) and records.parquet table."""
    from heartcare.agent.answer_check import check_answers, items_from_table

    choice_tables = {split: _multiple_choice(table) for split, table in tables.items()}
    checked = [item for table in choice_tables.values() for item in items_from_table(table)]
    baselines: dict[str, Any] = {"note": "no test items", "cells": [], "flagged": []}
    if "test" in tables and choice_tables["test"].num_rows:
        train = choice_tables.get("train", _multiple_choice(tables["test"]).slice(0, 0))
        sample = sample_rows(train, seed)
        note = f"majority and option prior fitted on all {train.num_rows} train items, tf-idf on {sample.num_rows}"
        note += f" (hash-ranked sample of at most {MAX_TRAIN_OPTIONS} options)" if sample.num_rows < train.num_rows else ""
        counted = _bench_items(train.select(["id", "task", "dimension", "modality", "choices", "answer_index", "ecgs", "meta"]), text=False)
        baselines = blind_baselines(counted, _bench_items(choice_tables["test"]), seed, note, _bench_items(sample))
    every_test = _bench_items(tables["test"].select(["id", "task", "dimension", "modality", "meta"]), text=False) if "test" in tables else []
    columns = ["id", "task", "dimension", "modality", "choices", "answer_index", "ecgs", "meta"]
    balanced = {split: _bench_items(table.select(columns), text=False) for split, table in choice_tables.items() if split != "train"}
    return {
        "baselines": baselines,
        "offered_answer_rates": {split: offered_answer_rates(items) for split, items in balanced.items()},
        "missing_option_cues": {split: missing_option_cues(items) for split, items in balanced.items()},
        "answer_check": check_answers(checked, records.select(RECORD_COLUMNS).to_pylist()),
        "test_cells": cell_counts(every_test),
    }


def audit_dataset(dataset: str | Path) -> dict[str, Any]:
    """The audit of a built dataset folder (what `heartcare agent audit` prints)."""
    import pyarrow.parquet as pq

    from heartcare.errors import DatasetLayoutError

    folder = Path(dataset)
    card_file = folder / "dataset.json"
    if not card_file.is_file():
        raise DatasetLayoutError(folder, "dataset.json not found (not a HeartAgent dataset)")
    seed = int(json.loads(card_file.read_text()).get("build_config", {}).get("seed", 0))
    tables = {split: pq.read_table(path) for split in ("train", "valid", "test") if (path := folder / "qa" / f"{split}.parquet").is_file()}
    if "test" not in tables or not (folder / "records.parquet").is_file():
        raise DatasetLayoutError(folder, "qa/test.parquet or records.parquet missing")
    return audit_tables(tables, pq.read_table(folder / "records.parquet"), seed)


def render_audit(audit: dict[str, Any]) -> list[str]:
    """Markdown lines of the audit (the card's "Audit" section and `heartcare agent audit`)."""
    baselines, check, cells = audit["baselines"], audit["answer_check"], audit["test_cells"]
    lines = ["## Audit", "",
             "Blind baselines, fitted on train and scored on test, never see an ECG: majority answer per kind, option-text",
             "prior (how often each text was right when offered in train) and TF-IDF + logistic regression over stem and option.",
             f"Targets: within {TASK_MARGIN:.2f} of chance per task, within {KIND_MARGIN:.2f} per kind with >= {KIND_MIN_ITEMS} test items.",
             f"{baselines['note']}.", "",
             "| task | kind | modality | items | chance | majority | option prior | tf-idf | flag |", "|---|---|---|---|---|---|---|---|---|"]
    for row in baselines["cells"]:
        values = [str(row.get(name, "-")) for name in ("chance", *BASELINES)]
        lines.append(f"| {row['task']} | {row['kind']} | {row['modality']} | {row['items']} | " + " | ".join(values)
                     + f" | {'ABOVE CHANCE' if row['flag'] else ''} |")
    violations = "not run" if check["violations"] is None else check["violations"]
    lines += ["", f"Answer checker ({check['note']}):", "",
              f"- items checked: {check['checked']}; violations: **{violations}**",
              f"- unchecked (wording or kind the checker does not know): {check['unchecked']}"]
    lines += [f"  - {kind}: {count}" for kind, count in check["unchecked_by_kind"].items()]
    lines += [f"- violation: {example[:180]}" for example in check["examples"]]
    lines += ["", f"Test items per bench cell; cells under {MIN_CELL_ITEMS} items cannot rank models "
              f"({len(cells['under_300'])} of {len(cells['cells']) + len(cells['comparison'])} cells).", "",
              "| task | dimension / kind | modality | test items |", "|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['dimension']} | {r['modality']} | {r['items']} |" for r in cells["cells"]]
    lines += [f"| comparison_qa | {r['kind']} | {r['modality']} | {r['items']} |" for r in cells["comparison"]]
    for split, rates in (audit.get("offered_answer_rates") or {}).items():
        lines += ["", f"Option texts of {split} that are the answer more than {KIND_MARGIN:.2f} above chance when offered "
                  f"(rarely drawn as distractors: picked on sight, they score without the ECG); {len(rates['flagged'])} of "
                  f"{rates['texts']} texts offered >= {rates['min_offered']} times.", ""]
        if rates["flagged"]:
            lines += ["| kind | option text | offered | answer when offered | chance |", "|---|---|---|---|---|"]
            lines += [f"| {r['kind']} | {r['text']} | {r['offered']} | {r['answer_rate']} | {r['chance']} |" for r in rates["flagged"]]
    for split, cues in (audit.get("missing_option_cues") or {}).items():
        lines += ["", f"Option texts of {split} that are the answer more than {KIND_MARGIN:.2f} above chance when another text "
                  f"of the kind is missing: {len(cues['flagged'])}",
                  f"(an answer whose items exclude that text; one-sided binomial, Bonferroni over {cues['pairs']} pairs with "
                  f">= {cues['min_items']} items, alpha {cues['alpha']}).", ""]
        if cues["flagged"]:
            lines += ["| kind | missing text | answer | items | answer rate | chance | p |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['kind']} | {r['missing']} | {r['text']} | {r['items']} | {r['answer_rate']} | {r['chance']} | "
                      f"{r['p_value']} |" for r in cues["flagged"]]
    return lines

