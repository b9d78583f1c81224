"""One reading per record: the finding set every QA builder answers from.

Closed, open, report (and comparison "new finding") answers of a record are all
derived from this one `Reading`, so they never contradict each other. Rules:
PTB-XL likelihood 0 means "stated, likelihood unknown" (asserted); findings below
the answer threshold are hedged, never replaced by a normal phrasing; a dimension's
normal phrasing is an answer only where the findings make that dimension normal;
measurements that cannot exist or disagree with the labels are dropped, not printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from heartcare.agent.description import RecordDescription
from heartcare.agent.hierarchy import (
    compatible,
    excluded_texts,
    implied,
    measurement_group,
    normal_holds,
)
from heartcare.agent.questions.findings import findings
from heartcare.agent.vocabulary import (
    ANSWER_THRESHOLD,
    AXIS_CLASSES,
    NORMAL_PHRASES,
    MiscFact,
    axis_class,
    describe_code,
    misc_facts,
)

DIMENSIONS = ("diagnosis", "waveform", "rhythm")
PR_LIMIT_MS = 200.0  # first-degree AV block: PR > 200 ms (ACC/AHA/HRS 2018)
WIDE_QRS_MS = 120.0  # complete bundle-branch block: QRS >= 120 ms (AHA/ACCF/HRS 2009, part III)
LONG_QTC_MS = 480.0  # beyond it a QTc without a long-QT statement is not trusted
NORMAL_QTC_MS = 440.0  # below it a long-QT statement and the measurement disagree


@dataclass(frozen=True)
class Finding:
    """One labelled statement of a dimension: code, effective likelihood (0 -> 100), stated raw value."""

    code: str
    likelihood: float
    stated: float

    @property
    def text(self) -> str:
        return describe_code(self.code)

    @property
    def plain(self) -> bool:
        """Stated as fact: PTB-XL's 0 (no likelihood given) or 100."""
        return self.stated <= 0 or self.stated >= 100


@dataclass(frozen=True)
class DimensionReading:
    """A dimension's findings (strongest first) and whether its normal phrasing is the answer."""

    dimension: str
    findings: tuple[Finding, ...]
    normal: bool  # no finding and the record's codes make the dimension normal

    @property
    def answer(self) -> str | None:
        """Closed answer: the strongest finding's plain text, else the normal phrasing, else None."""
        if self.findings:
            return self.findings[0].text
        return NORMAL_PHRASES[self.dimension] if self.normal else None

    @property
    def answer_code(self) -> str | None:
        return self.findings[0].code if self.findings else None

    @property
    def answer_likelihood(self) -> float:
        return self.findings[0].likelihood if self.findings else 100.0

    @property
    def codes(self) -> list[str]:
        return [finding.code for finding in self.findings]


@dataclass(frozen=True)
class Reading:
    """Everything the builders say about one record."""

    record_id: str
    codes: frozenset[str]  # every labelled code, whatever its likelihood
    implied: frozenset[str]
    compatible: frozenset[str]
    excluded: tuple[str, ...]  # option texts that may never be distractors for this record
    dimensions: dict[str, DimensionReading]
    misc: dict[str, MiscFact]
    measurements: dict[str, float | None]  # only values that exist and agree with the labels
    wide_qrs: str | None  # "wide QRS complexes" / "possibly wide QRS complexes" from conduction findings

    @property
    def asserted(self) -> frozenset[str]:
        """Codes stated at or above the answer threshold (likelihood 0 counts as stated)."""
        return frozenset(
            finding.code for dimension in self.dimensions.values() for finding in dimension.findings
            if finding.likelihood >= ANSWER_THRESHOLD
        )


def guarded_measurements(description: RecordDescription, codes: frozenset[str]) -> dict[str, float | None]:
    """`measure` values that can exist and agree with the labels; the others become None."""
    values = dict(description.measurements)
    pr, qrs, qtc = values.get("pr_ms"), values.get("qrs_ms"), values.get("qtc_ms")
    prolonged = bool(codes & measurement_group("prolonged_pr"))
    if pr is not None and (codes & measurement_group("no_pr_interval") or (pr > PR_LIMIT_MS) != prolonged):
        values["pr_ms"] = None
    if qrs is not None and (
        (qrs >= WIDE_QRS_MS and not codes & measurement_group("wide_qrs"))
        or (qrs < WIDE_QRS_MS and codes & measurement_group("complete_bundle_branch_block"))
    ):
        values["qrs_ms"] = None
    long_qt = bool(codes & measurement_group("long_qt"))
    if qtc is not None and ((qtc >= LONG_QTC_MS and not long_qt) or (qtc < NORMAL_QTC_MS and long_qt)):
        values["qt_ms"] = values["qtc_ms"] = None
    hr = values.get("hr_bpm")
    if hr is not None and ((codes & measurement_group("tachycardia") and hr <= 100)
                           or (codes & measurement_group("bradycardia") and hr >= 60)):
        values["hr_bpm"] = None
    axis = values.get("axis_deg")
    if axis is not None and ((codes & measurement_group("left_axis") and axis_class(axis) != AXIS_CLASSES[1])
                             or (codes & measurement_group("right_axis") and axis_class(axis) != AXIS_CLASSES[2])):
        values["axis_deg"] = None
    return values


def _wide_qrs(description: RecordDescription) -> str | None:
    """The QRS-width sign a bundle-branch block / IVCD / pre-excitation / pacing finding carries."""
    group = measurement_group("wide_qrs")
    strongest = max((value for code, value in description.certain_labels().items() if code in group), default=0.0)
    if strongest >= ANSWER_THRESHOLD:
        return "wide QRS complexes"
    return "possibly wide QRS complexes" if strongest >= 30 else None


def read(description: RecordDescription) -> Reading:
    """Derive the record's reading (cheap: the hierarchy closures are cached per code set)."""
    codes = frozenset(description.labels)
    dimensions = {}
    for dimension in DIMENSIONS:
        ranked = tuple(
            Finding(code, likelihood, float(description.labels[code])) for code, likelihood in findings(description, dimension)
        )
        # Only the waveform has a normal phrasing that is no code: it holds when no finding
        # and no conduction/hypertrophy/infarct statement implies an abnormal waveform.
        normal = not ranked and dimension == "waveform" and normal_holds("waveform", codes)
        dimensions[dimension] = DimensionReading(dimension, ranked, normal)
    implied_codes = implied(codes)
    return Reading(
        record_id=description.record_id,
        codes=codes,
        implied=implied_codes,
        compatible=compatible(codes),
        excluded=tuple(excluded_texts(codes)),
        dimensions=dimensions,
        misc=misc_facts(description),
        measurements=guarded_measurements(description, implied_codes),
        wide_qrs=_wide_qrs(description),
    )


_last: tuple[RecordDescription, Reading] | None = None


def reading_of(description: RecordDescription) -> Reading:
    """`read`, reusing the last result for the same description object (closed, open, report ask in turn)."""
    global _last
    last = _last  # one read of the global, so a concurrent caller cannot swap it mid-check
    if last is None or last[0] is not description:
        last = (description, read(description))
        _last = last
    return last[1]
