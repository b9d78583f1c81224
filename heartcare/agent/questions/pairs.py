"""What a comparison question knows about each ECG of a pair, and how pairs are chosen.

A `PairReading` is one record's view for comparisons: its label codes, what it surely
shows (strong labels and what they imply), what cannot be ruled out (the hierarchy's
`compatible`), its rhythm and its rate. Pairs are same-patient ("consecutive", in date
order) or drawn from different patients ("irrelevant"); nothing here is quadratic in
the split size: partners are drawn at random from small indexes with a few tries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from heartcare.agent.description import RecordDescription, stable_hash
from heartcare.agent.vocabulary import ANSWER_THRESHOLD
from heartcare.sources.scp import statements

Pair = tuple[RecordDescription, RecordDescription]
MIN_RATE_DIFFERENCE_BPM = 10.0  # closer measured rates are not a fair "which is faster" question
SINUS_CODES = frozenset({"SR", "STACH", "SBRAD", "SARRH"})
# Normal statements are not findings that can be "new" or "shown" in a two-ECG question.
NOT_FINDINGS = frozenset({"NORM", "SR"})
PARTNER_TRIES = 16


@lru_cache(maxsize=8192)
def _possible(codes: frozenset[str]) -> frozenset[str]:
    from heartcare.agent.hierarchy import compatible

    return frozenset(compatible(codes))


@lru_cache(maxsize=8192)
def _implied(codes: frozenset[str]) -> frozenset[str]:
    from heartcare.agent.hierarchy import implied

    return frozenset(implied(codes))


@lru_cache(maxsize=1)
def _order() -> dict[str, int]:
    return {code: index for index, code in enumerate(statements())}


@dataclass(frozen=True)
class PairReading:
    """One record as comparisons see it.

    codes: every label code (any likelihood); shown: findings surely present (strong
    labels and what they imply, normal statements left out); possible: codes that
    cannot be ruled out; rhythm: every rhythm label; primary_rhythm: the non-sinus
    rhythm if any, else the sinus one; rate: measured bpm or None.
    """

    description: RecordDescription
    codes: frozenset[str]
    shown: frozenset[str]
    possible: frozenset[str]
    rhythm: frozenset[str]
    primary_rhythm: str | None
    rate: float | None

    @property
    def patient(self) -> str:
        return self.description.patient_id


@dataclass(frozen=True)
class PairQuestion:
    """One comparison question before it is written out per modality.

    answer: the fixed option's index (yes/no, first/second, first/second/both/neither);
    -1 for "new finding", whose letter is dealt per modality. finding: the SCP code asked.
    """

    kind: str
    relation: str
    first: RecordDescription
    second: RecordDescription
    answer: int = -1
    finding: str | None = None


def read_pair_view(description: RecordDescription) -> PairReading:
    """The comparison view of one record (labels -> hierarchy sets, rhythm, rate)."""
    table = statements()
    codes = frozenset(code for code in description.labels if code in table)
    strong = frozenset(code for code, value in description.certain_labels().items() if code in table and value >= ANSWER_THRESHOLD)
    shown = frozenset(code for code in _implied(strong) if code in table and code not in NOT_FINDINGS)
    rhythm = frozenset(code for code in strong if "rhythm" in table[code].kinds)
    ranked = sorted(rhythm, key=lambda code: (code in SINUS_CODES, _order()[code]))
    rate = description.measurements.get("hr_bpm")
    return PairReading(
        description=description, codes=codes, shown=shown, possible=_possible(codes) | codes,
        rhythm=rhythm, primary_rhythm=ranked[0] if ranked else None, rate=None if rate is None else float(rate),
    )


def _family(code: str) -> str:
    return "sinus" if code in SINUS_CODES else code


def same_rhythm_answer(first: PairReading, second: PairReading) -> int | None:
    """0 (yes) when the rhythm statements are identical, 1 (no) when the main rhythms
    clearly differ, None when it is debatable (SR vs sinus bradycardia, a rhythm one
    record cannot rule out, a record without a rhythm statement)."""
    if first.primary_rhythm is None or second.primary_rhythm is None:
        return None
    if first.rhythm == second.rhythm:
        return 0
    a, b = first.primary_rhythm, second.primary_rhythm
    if _family(a) != _family(b) and a not in second.possible and b not in first.possible:
        return 1
    return None


def higher_rate_answer(first: PairReading, second: PairReading) -> int | None:
    """0 when the first ECG is faster by the margin, 1 when the second is, else None."""
    if first.rate is None or second.rate is None or abs(first.rate - second.rate) < MIN_RATE_DIFFERENCE_BPM:
        return None
    return 0 if first.rate > second.rate else 1


def new_findings(earlier: PairReading, later: PairReading) -> list[str]:
    """Findings the later ECG surely shows and the earlier one surely lacks."""
    return sorted((code for code in later.shown if code not in earlier.possible), key=_order().__getitem__)


def shows_answer(first: PairReading, second: PairReading, code: str) -> int | None:
    """Which ECG shows `code`: 0 first, 1 second, 2 both, 3 neither; None if one is unsure."""
    def state(reading: PairReading) -> bool | None:
        return True if code in reading.shown else False if code not in reading.possible else None

    one, two = state(first), state(second)
    if one is None or two is None:
        return None
    return {(True, False): 0, (False, True): 1, (True, True): 2, (False, False): 3}[(one, two)]


def _dated(records: list[RecordDescription]) -> list[RecordDescription]:
    return sorted(records, key=lambda d: (d.date or "", d.record_id))


def by_patient(descriptions: Sequence[RecordDescription]) -> dict[str, list[RecordDescription]]:
    """Patient -> records in date order (record id breaks ties)."""
    grouped: dict[str, list[RecordDescription]] = defaultdict(list)
    for description in descriptions:
        grouped[description.patient_id].append(description)
    return {patient: _dated(records) for patient, records in sorted(grouped.items())}


def consecutive_pairs(descriptions: Sequence[RecordDescription]) -> list[Pair]:
    """Successive recordings of each patient, (earlier, later)."""
    pairs: list[Pair] = []
    for records in by_patient(descriptions).values():
        pairs.extend(zip(records[:-1], records[1:], strict=True))
    return pairs


def same_patient_pairs(descriptions: Sequence[RecordDescription]) -> list[Pair]:
    """Every (earlier, later) pair of one patient's recordings: the reserve for balancing."""
    pairs: list[Pair] = []
    for records in by_patient(descriptions).values():
        pairs.extend((records[i], records[j]) for i in range(len(records)) for j in range(i + 1, len(records)))
    return pairs


def strictly_dated(pair: Pair) -> bool:
    """Both dates known and the first earlier: only then may a question speak of time."""
    first, second = pair
    return bool(first.date and second.date and first.date < second.date)


def balanced_pairs(
    primary: list[Pair], reserve: list[Pair], answer: Callable[[Pair], int | None], classes: int, seed: int, tag: str
) -> list[tuple[Pair, int]]:
    """(pair, answer) with every class equally often.

    Each class takes its `primary` pairs first, then `reserve` pairs (both ranked by a
    hash, so the choice does not depend on list order), up to the largest primary
    class; all classes are cut to the smallest. Empty when a class has no pair.
    """
    def key(pair: Pair) -> tuple[str, str]:
        return (pair[0].record_id, pair[1].record_id)

    def ranked(pairs: list[Pair]) -> list[Pair]:
        return sorted(pairs, key=lambda pair: stable_hash(seed, tag, *key(pair)))

    found: list[list[Pair]] = [[] for _ in range(classes)]
    primary_counts = [0] * classes
    seen: set[tuple[str, str]] = set()
    for index, pair in enumerate(ranked(primary) + ranked(reserve)):
        value = answer(pair)
        if value is None or key(pair) in seen:
            continue
        seen.add(key(pair))
        found[value].append(pair)
        primary_counts[value] += index < len(primary)
    size = min(min(len(group) for group in found), max(max(primary_counts), 1))
    chosen = [(pair, value) for value, group in enumerate(found) for pair in group[:size]]
    return sorted(chosen, key=lambda entry: key(entry[0]))


class PartnerFinder:
    """Draws a partner of another patient for an anchor record, with a condition."""

    def __init__(self, readings: list[PairReading]) -> None:
        self.readings = readings
        self.by_rhythm: dict[frozenset[str], list[int]] = defaultdict(list)
        self.by_code: dict[str, list[int]] = defaultdict(list)
        for index, reading in enumerate(readings):
            self.by_rhythm[reading.rhythm].append(index)
            for code in reading.shown:
                self.by_code[code].append(index)
        self.rhythm_keys = sorted(self.by_rhythm, key=sorted)

    def find(
        self, anchor: PairReading, rng: np.random.Generator, accept: Callable[[PairReading], bool],
        pool: Sequence[int] | None = None, tries: int = PARTNER_TRIES,
    ) -> PairReading | None:
        """A random record of `pool` (default: all) from another patient that `accept`s."""
        candidates = range(len(self.readings)) if pool is None else pool
        if not candidates:
            return None
        for _ in range(tries):
            partner = self.readings[candidates[int(rng.integers(len(candidates)))]]
            if partner.patient != anchor.patient and accept(partner):
                return partner
        return None

    def find_other_rhythm(self, anchor: PairReading, rng: np.random.Generator) -> PairReading | None:
        """A partner whose rhythm clearly differs: random records first, then a random rhythm group
        (so a split where nearly everyone is in sinus rhythm still yields "No" pairs)."""
        def differs(partner: PairReading) -> bool:
            return same_rhythm_answer(anchor, partner) == 1

        if len(self.rhythm_keys) < 2:
            return None
        partner = self.find(anchor, rng, differs)
        if partner is not None:
            return partner
        for _ in range(PARTNER_TRIES // 2):
            group = self.by_rhythm[self.rhythm_keys[int(rng.integers(len(self.rhythm_keys)))]]
            partner = self.find(anchor, rng, differs, group, tries=2)
            if partner is not None:
                return partner
        return None
