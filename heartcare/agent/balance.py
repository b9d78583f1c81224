"""Split-level answer balance for multiple-choice items, so no option text carries a prior.

Real label frequencies are skewed (NORM is 44% of PTB-XL), so a blind model that
picks the commonest answer, or the option text most often right in train, would beat
chance by far. For each (task, kind, modality) group of closed and comparison items
the valid and test splits keep the same number c of items per answer text (the c
that keeps the most items); answers with fewer items leave the split's vocabulary,
and everything dropped is counted. Distractors of non-fixed kinds are then re-drawn
from the group's kept answers only (never from an item's meta "excluded"), so each
text is offered about as often as it is right, and the correct letter is dealt in
turn. Train keeps its natural answers but gets its distractors re-drawn the same way
from its own answer vocabulary, so train and test items look alike.

Equal offer rates are not enough on their own: exclusions (a distractor is never true
of the record) correlate with how common an answer is, and a blind model that picks the
offered text most often right in train then lands well off chance (seen: 0.14 on a
2,000-record build's diagnosis items, chance 0.25). So valid/test also deal, item by
item, whether the correct answer is the train-commonest of its options, to one item in
K (K options), and draw the distractors to match.

A text is right one time in K only if it is offered K times as often as it is right, and
exclusions can make that impossible: a finding compatible with most records' findings
("non-diagnostic T abnormalities") may be a distractor for few items, so it is the answer
whenever it appears (seen: 52% of the test items offering it on a 6,000-record build, chance
25%, and a model shown another record's ECG picked it). Valid/test therefore keep only answers
that the other kept items allow as a distractor at least K - 1 times per item of theirs.

What an item leaves out can name its answer too. An item offers K of the group's U texts; an
answer whose items all exclude a text t leaves t out every time, and with balanced offers t is
left out only (U - K) times per answer in all, so an item missing t has that answer at least
1 / (U - K) of the time (seen: five rhythm texts, K = 4, pacemaker items excluding atrial
fibrillation: 28 of 36 test items without AF were pacemaker). Valid/test drop such answers too
(`absence_cue`).
"""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from heartcare.agent.description import stable_hash

LETTERS = "ABCDEFGH"
MULTIPLE_CHOICE_TASKS = ("closed_qa", "comparison_qa")
OPTIONS_MARKER = " Options: "
Group = tuple[str, str, str]  # (task, kind, modality)
CUE_MARGIN = 0.12  # above chance, in accuracy points: the audit's per-kind margin too (one number for both)


@dataclass
class GroupReport:
    """What balancing did to one (task, kind, modality) group of one split."""

    items_in: int = 0
    items_kept: int = 0
    per_answer: int = 0  # c: items kept per kept answer (0: natural distribution, train)
    fixed_options: bool = False
    answers_kept: int = 0
    dropped_answers: dict[str, int] = field(default_factory=dict)  # answer text -> items dropped with it
    dropped_over_quota: int = 0  # items of kept answers beyond c
    dropped_no_distractors: int = 0  # items whose allowed distractors in the vocabulary were too few
    dropped_seldom_distractors: dict[str, int] = field(default_factory=dict)  # answer -> items dropped: too
    # seldom allowed as a distractor by the other items to be right only one time in K
    dropped_absence_cues: dict[str, int] = field(default_factory=dict)  # answer -> items dropped: the
    # options its items must leave out would name it (`absence_cue`)
    kept_original_options: int = 0  # train items left as built for the same reason
    too_thin: bool = False  # c fell under min_per_answer: the kind leaves this split


def question_kind(task: str, dimension: str, meta: dict[str, Any]) -> str | None:
    """meta "kind" (contract 2), else the older closed subtopic; None for external items (ECG-QA)."""
    if meta.get("kind"):
        return str(meta["kind"])
    if meta.get("source"):
        return None
    if task == "closed_qa":
        return f"misc:{meta['subtopic']}" if meta.get("subtopic") else dimension
    return None


def per_answer_count(counts: dict[str, int], minimum_answers: int) -> int:
    """The c maximising c x (answers with >= c items), with at least `minimum_answers` answers kept (0: none)."""
    best, best_kept = 0, 0
    for candidate in sorted(set(counts.values())):
        answers = sum(count >= candidate for count in counts.values())
        # ties keep the smaller c: more distinct answers make a richer test
        if answers >= minimum_answers and candidate * answers > best_kept:
            best, best_kept = candidate, candidate * answers
    return best


def format_options(options: list[str]) -> str:
    return "; ".join(f"{LETTERS[index]}: {text}" for index, text in enumerate(options))


def with_options(row: dict[str, Any], options: list[str], position: int) -> dict[str, Any]:
    """The row with new choices and letter: the trailing " Options: ..." of the question is rebuilt."""
    question = row["question"]
    cut = question.rfind(OPTIONS_MARKER)
    stem = question[:cut] if cut >= 0 else question
    return {
        **row,
        "question": f"{stem}{OPTIONS_MARKER}{format_options(options)}.",
        "choices": list(options),
        "answer": f"{LETTERS[position]}: {options[position]}",
        "answer_index": position,
    }


@dataclass(slots=True)
class _Entry:
    index: int  # position in the split's row list
    row: dict[str, Any]
    answer: str
    excluded: frozenset[str]
    rank: tuple[int, str]
    fixed: bool


def _entries_by_group(rows: list[dict[str, Any]], seed: int) -> dict[Group, list[_Entry]]:
    groups: dict[Group, list[_Entry]] = defaultdict(list)
    for index, row in enumerate(rows):
        choices = row.get("choices") or []
        position = row.get("answer_index")
        if row["task"] not in MULTIPLE_CHOICE_TASKS or not choices or position is None or not 0 <= position < len(choices):
            continue
        meta = json.loads(row["meta"]) if isinstance(row["meta"], str) else dict(row["meta"] or {})
        kind = question_kind(row["task"], row["dimension"], meta)
        if kind is None:
            continue
        records = sorted(ecg["record_id"] for ecg in row.get("ecgs") or [])
        # Ranked by record, not item id: the S and I items of one record (or pair) rank alike, so
        # a split tends to keep or drop both forms of the same question.
        rank = (stable_hash(seed, "balance", row["task"], kind, *records), row["id"])
        answer = choices[position]
        excluded = frozenset((*meta.get("excluded", ()), answer))
        fixed = bool(meta.get("fixed_options"))
        groups[(row["task"], kind, row["modality"])].append(_Entry(index, row, answer, excluded, rank, fixed))
    return groups


def _is_fixed(entries: list[_Entry]) -> bool:
    """Fixed options (yes/no, first/second): flagged in meta, or every item offers the same set."""
    return any(e.fixed for e in entries) or len({frozenset(e.row["choices"]) for e in entries}) == 1


def _quota(entries: list[_Entry], vocabulary: set[str], c: int) -> list[_Entry]:
    """The first c entries (in the given rank order) of each answer in the vocabulary."""
    taken: Counter[str] = Counter()
    kept = []
    for entry in entries:
        if entry.answer in vocabulary and taken[entry.answer] < c:
            taken[entry.answer] += 1
            kept.append(entry)
    return kept


def seldom_distractor(kept: list[_Entry]) -> str | None:
    """The answer the other items allow as a distractor least, if too seldom to be right one time in K.

    An answer t of n items (K options each) must be offered (K - 1) x n times as a distractor;
    it can be offered only by items that do not exclude it (an item's own answer is excluded)."""
    need: Counter[str] = Counter()
    for entry in kept:
        need[entry.answer] += len(entry.row["choices"]) - 1
    capacity = {text: sum(text not in entry.excluded for entry in kept) for text in need}
    worst = min(need, key=lambda text: (capacity[text] / need[text], text), default=None)
    return worst if worst is not None and capacity[worst] < need[worst] else None


def absence_cue(kept: list[_Entry], margin: float = CUE_MARGIN) -> str | None:
    """The answer its items' left-out texts name most clearly, if above chance + margin.

    With U texts in the vocabulary and K options per item, balanced offers leave each text out
    (U - K) times per answer; a share f of one answer's items excluding text t leave t out
    whatever is dealt, so when t is missing that answer is the right one at least f / (U - K)
    of the time, against 1 / K by chance."""
    vocabulary = {entry.answer for entry in kept}
    options = max((len(entry.row["choices"]) for entry in kept), default=0)
    left_out = len(vocabulary) - options
    if left_out <= 0:
        return None  # every item offers every text: nothing is missing
    by_answer: dict[str, list[_Entry]] = defaultdict(list)
    for entry in kept:
        by_answer[entry.answer].append(entry)
    worst, largest = None, 1 / options + margin
    for answer, items in sorted(by_answer.items()):
        for text in sorted(vocabulary - {answer}):
            named = sum(text in entry.excluded for entry in items) / len(items) / left_out
            if named > largest:
                worst, largest = answer, named
    return worst


def _select(entries: list[_Entry], fixed: bool, report: GroupReport, min_per_answer: int = 1) -> list[_Entry]:
    """Exactly c items per kept answer; items that could not get enough distractors are left out first.

    A group whose c falls under `min_per_answer` keeps nothing: with one or two items per answer,
    which distractors an exclusion list leaves cannot be equalised and a blind scorer finds a
    prior (seen: "new finding" at c = 2 gave the majority floor 53% where chance is 25%).
    Answers the other kept items allow too seldom as a distractor (`seldom_distractor`), then
    answers whose items' left-out texts name them (`absence_cue`), leave the vocabulary one at a
    time, and c is chosen again without them.
    """
    options = max(len(e.row["choices"]) for e in entries)
    minimum = len({text for e in entries for text in e.row["choices"]}) if fixed else options
    eligible = sorted(entries, key=lambda e: e.rank)
    seldom: set[str] = set()
    cues: set[str] = set()
    for _ in range(8 + len(entries)):  # each round drops items or one answer, so this ends
        pool = [e for e in eligible if e.answer not in seldom | cues]
        counts = Counter(e.answer for e in pool)
        c = per_answer_count(dict(counts), minimum)
        vocabulary = {answer for answer, count in counts.items() if count >= c} if c else set()
        if fixed or not c:
            break
        # dropping short items can shrink the vocabulary, which can make others short
        usable = [e for e in eligible if e.answer not in vocabulary or len(vocabulary - e.excluded) >= len(e.row["choices"]) - 1]
        if len(usable) < len(eligible):
            eligible = usable
            continue
        quota = _quota(pool, vocabulary, c)
        scarce = seldom_distractor(quota)
        if scarce is not None:
            seldom.add(scarce)
            continue
        named = absence_cue(quota)
        if named is None:
            break
        cues.add(named)
    if 0 < c < min_per_answer:
        report.too_thin, c, vocabulary = True, 0, set()
    report.per_answer, report.answers_kept = c, len(vocabulary)
    report.dropped_no_distractors = len(entries) - len(eligible)
    kept = _quota(eligible, vocabulary, c)
    for entry in eligible:
        if entry.answer in seldom and not report.too_thin:
            report.dropped_seldom_distractors[entry.answer] = report.dropped_seldom_distractors.get(entry.answer, 0) + 1
        elif entry.answer in cues and not report.too_thin:
            report.dropped_absence_cues[entry.answer] = report.dropped_absence_cues.get(entry.answer, 0) + 1
        elif entry.answer not in vocabulary:
            report.dropped_answers[entry.answer] = report.dropped_answers.get(entry.answer, 0) + 1
    report.dropped_over_quota = len(eligible) - len(kept) - sum(report.dropped_answers.values()) \
        - sum(report.dropped_seldom_distractors.values()) - sum(report.dropped_absence_cues.values())
    report.dropped_answers = dict(sorted(report.dropped_answers.items()))
    report.dropped_seldom_distractors = dict(sorted(report.dropped_seldom_distractors.items()))
    report.dropped_absence_cues = dict(sorted(report.dropped_absence_cues.items()))
    return kept


def _top_flags(entries: list[_Entry], vocabulary: list[str], prior: Counter) -> dict[int, bool]:
    """Per entry index: must its answer be the train-commonest of its options?

    Dealt so that one item in K is (K options): an item whose answer outranks every allowed
    text must be, one with too few lower-ranked allowed texts cannot be, and the rest are
    dealt in rank (hash) order at the rate that brings the total to N / K.
    """
    order = {text: position for position, text in enumerate(sorted(vocabulary, key=lambda t: (-prior[t], t)))}
    forced, free = {}, []
    for entry in entries:
        count = len(entry.row["choices"])
        allowed = [order[text] for text in vocabulary if text not in entry.excluded]
        higher = sum(rank < order[entry.answer] for rank in allowed)
        lower = len(allowed) - higher
        if higher == 0:
            forced[entry.index] = True
        elif lower < count - 1:
            forced[entry.index] = False
        else:
            free.append(entry)
    target = sum(1 / len(e.row["choices"]) for e in entries) - sum(forced.values())
    rate = min(max(target / len(free), 0.0), 1.0) if free else 0.0
    flags, owed = dict(forced), 0.0
    for entry in free:
        owed += rate
        flags[entry.index] = owed >= 0.5
        owed -= flags[entry.index]
    return flags


def _redraw(
    entries: list[_Entry], rng: random.Random, equalise: bool, report: GroupReport, prior: Counter | None = None,
    proportional: bool = False,
) -> dict[int, dict[str, Any]]:
    """New distractors from the group's answer vocabulary and a dealt letter, per entry index.

    entries come in rank order and `rng` is seeded per group, so the result does not depend
    on row order. equalise (balanced splits): pick the allowed texts offered least so far
    (ties at random), so every text is offered as often as the others despite exclusions, and
    deal whether the answer is the option most often right in train (`prior`: train answer
    counts of the kind) to one item in K. proportional (unequal answer counts, e.g. a capped
    train set): pick the texts offered least per time they are the answer, so each is right
    about as often when offered as any other. Otherwise draw uniformly: the build's train split,
    whose option prior then follows its answer counts, the ranking valid and test are dealt against.
    """
    vocabulary = sorted({e.answer for e in entries})
    answers = Counter(e.answer for e in entries)
    offered = Counter(answers)
    prior = prior or Counter()
    rank = {text: (-prior[text], text) for text in vocabulary}
    flags = _top_flags(entries, vocabulary, prior) if equalise else {}

    def scarcity(text: str) -> float:  # offers so far per time the text is the answer: lowest is drawn first
        return offered[text] / answers[text] if proportional else offered[text]

    dealt: Counter[int] = Counter()
    rewritten: dict[int, dict[str, Any]] = {}
    for entry in entries:
        count = len(entry.row["choices"])
        candidates = [text for text in vocabulary if text not in entry.excluded]
        if len(candidates) < count - 1:
            report.kept_original_options += 1
            continue
        if equalise or proportional:
            rng.shuffle(candidates)  # random order among equally offered texts (nsmallest is stable)
            higher = [text for text in candidates if rank[text] < rank[entry.answer]]
            if equalise and not flags[entry.index]:  # one text that outranks the answer, then the scarcest of the rest
                first = min(higher, key=scarcity)
                rest = [text for text in candidates if text != first]
                distractors = [first, *heapq.nsmallest(count - 2, rest, key=scarcity)]
                rng.shuffle(distractors)
            else:
                if equalise:
                    candidates = [text for text in candidates if text not in higher]
                distractors = heapq.nsmallest(count - 1, candidates, key=scarcity)
                if proportional:
                    rng.shuffle(distractors)
            offered.update(distractors)
        else:
            distractors = rng.sample(candidates, count - 1)
        position = dealt[count] % count
        dealt[count] += 1
        options = distractors[:position] + [entry.answer] + distractors[position:]
        rewritten[entry.index] = with_options(entry.row, options, position)
    return rewritten


def answer_prior(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Counter]:
    """(task, kind) -> how often each text is the correct answer in these (train) rows, all modalities."""
    prior: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for (task, kind, _), entries in _entries_by_group(rows, 0).items():
        prior[(task, kind)].update(e.answer for e in entries)
    return dict(prior)


def balance_rows(
    rows: list[dict[str, Any]], seed: int, select: bool, min_per_answer: int = 1,
    prior: dict[tuple[str, str], Counter] | None = None, proportional: bool = False,
) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Rows of one split balanced (select=True: valid/test) or with re-drawn distractors only (train).

    rows: qa rows (meta as JSON text); prior: `answer_prior` of train, which valid/test deal
    against; proportional (select=False): distractors drawn in proportion to how often each text
    is the answer (`_redraw`), for a training set that should carry no option prior. Returns ((input position, row) of the rows kept, in order; "task/kind/modality"
    -> GroupReport as a dict).
    """
    replaced: dict[int, dict[str, Any] | None] = {}
    reports: dict[str, dict[str, Any]] = {}
    for (task, kind, modality), entries in sorted(_entries_by_group(rows, seed).items()):
        report = GroupReport(items_in=len(entries))
        report.fixed_options = _is_fixed(entries)
        entries = sorted(entries, key=lambda e: e.rank)
        if select:
            kept = _select(entries, report.fixed_options, report, min_per_answer)
            kept_indices = {e.index for e in kept}
            replaced.update({e.index: None for e in entries if e.index not in kept_indices})
        else:
            kept = entries
            report.answers_kept = len({e.answer for e in entries})
        if not report.fixed_options:
            rng = random.Random(stable_hash(seed, "distractors", task, kind, modality))
            replaced.update(_redraw(kept, rng, select, report, (prior or {}).get((task, kind)), proportional))
        report.items_kept = len(kept)
        reports[f"{task}/{kind}/{modality}"] = asdict(report)
    result = [(index, replaced.get(index, row)) for index, row in enumerate(rows)]
    return [(index, row) for index, row in result if row is not None], reports


def balance_table(table, seed: int, select: bool, min_per_answer: int = 1,
                  prior: dict[tuple[str, str], Counter] | None = None):
    """`balance_rows` on a qa/{split} Arrow table: only multiple-choice rows are touched."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pc.is_in(table.column("task"), pa.array(MULTIPLE_CHOICE_TASKS))
    if not pc.any(mask).as_py():
        return table, {}
    indices = pa.array(np.arange(table.num_rows, dtype=np.int64))
    chosen_positions = pc.filter(indices, mask).to_numpy()
    balanced, reports = balance_rows(table.filter(mask).to_pylist(), seed, select, min_per_answer, prior)
    # rewritten rows go back where they were, so the split keeps its item order
    order = "__order"
    rest = table.filter(pc.invert(mask)).append_column(order, pc.filter(indices, pc.invert(mask)))
    replaced = pa.Table.from_pylist([row for _, row in balanced], schema=table.schema).append_column(
        order, pa.array(chosen_positions[[index for index, _ in balanced]], pa.int64())
    )
    merged = pa.concat_tables([rest, replaced]).sort_by(order)
    return merged.drop_columns([order]), reports


def summarise(reports: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Totals of one split's group reports: items in, kept and dropped (by reason)."""
    keys = ("items_in", "items_kept", "dropped_over_quota", "dropped_no_distractors", "kept_original_options")
    totals = {key: sum(report[key] for report in reports.values()) for key in keys}
    totals["dropped_answer_items"] = sum(sum(report["dropped_answers"].values()) for report in reports.values())
    totals["dropped_seldom_distractor_items"] = sum(sum(report.get("dropped_seldom_distractors", {}).values())
                                                    for report in reports.values())
    totals["dropped_absence_cue_items"] = sum(sum(report.get("dropped_absence_cues", {}).values())
                                              for report in reports.values())
    totals["groups_too_thin"] = sum(bool(report.get("too_thin")) for report in reports.values())
    return totals
