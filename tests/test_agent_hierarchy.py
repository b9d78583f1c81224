"""The SCP concept hierarchy: implications, compatibility and the distractors it forbids."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.agent.description import RecordDescription
from heartcare.agent.hierarchy import (
    _expand,
    compatible,
    excluded_texts,
    hierarchy,
    implied,
    normal_holds,
)
from heartcare.agent.questions.closed import closed_items
from heartcare.errors import ConfigError
from heartcare.sources.scp import statements


def describe(labels: dict[str, float], record_id: str = "r") -> RecordDescription:
    measurements = {"hr_bpm": 75.0, "pr_ms": 160.0, "qrs_ms": 100.0, "qt_ms": 380.0, "qtc_ms": 410.0, "axis_deg": 40.0}
    return RecordDescription(record_id=record_id, patient_id="p", labels=labels, age=60, sex="F", measurements=measurements)


def distractors(description: RecordDescription, seeds: int = 30) -> dict[str, set[str]]:
    """Dimension -> every distractor offered over many draws."""
    offered: dict[str, set[str]] = {}
    for seed in range(seeds):
        for item in closed_items(description, np.random.default_rng(seed), ("S",)):
            wrong = {text for index, text in enumerate(item.choices) if index != item.answer_index}
            offered.setdefault(item.dimension, set()).update(wrong)
            assert not wrong & set(item.meta["excluded"]), item.meta
    return offered


def test_hierarchy_loads_and_names_only_ptbxl_codes():
    table = hierarchy()
    known = set(statements())
    assert set(table.implies) <= known and set(table.compatible) <= known
    assert all(targets <= known for targets in table.implies.values())
    with pytest.raises(ConfigError, match="XYZ"):
        _expand(["XYZ"], {}, "test")
    with pytest.raises(ConfigError, match="unknown group"):
        _expand(["@nothing"], {}, "test")


def test_implications_are_transitive():
    assert {"SVARR"} <= implied(["AFIB"])
    assert {"SVTAC", "SVARR"} <= implied(["PSVT"])
    assert {"IMI", "PMI", "LMI", "ILMI", "IPMI"} <= implied(["IPLMI"])
    assert {"VCLVH", "HVOLT"} <= implied(["LVH"])
    assert "LPR" in implied(["1AVB"]) and "ABQRS" in implied(["CLBBB"]) and "PRC(S)" in implied(["PVC"])
    assert "SR" in implied(["STACH"]) and "SR" in implied(["SBRAD"])


@pytest.mark.parametrize(
    ("labels", "never"),
    [
        ({"AFIB": 0.0, "ISC_": 100.0}, {"supraventricular arrhythmia", "atrial fibrillation", "supraventricular tachycardia"}),
        ({"LVH": 100.0, "SR": 0.0}, {"high QRS voltage", "voltage criteria (QRS) for left ventricular hypertrophy"}),
        ({"1AVB": 100.0, "SR": 0.0}, {"prolonged PR interval", "first degree AV block"}),
        ({"CLBBB": 100.0, "SR": 0.0, "STD_": 0.0},
         {"abnormal QRS", "non-specific intraventricular conduction disturbance (block)"}),
        ({"PVC": 0.0, "SR": 0.0, "NORM": 100.0}, {"premature complex(es)"}),
        ({"IMI": 100.0, "SR": 0.0, "INVT": 0.0}, {"Q waves present", "abnormal QRS"}),
        ({"STACH": 0.0, "NORM": 100.0}, {"sinus rhythm"}),
    ],
)
def test_true_implied_and_compatible_statements_are_never_distractors(labels, never):
    codes = set(labels)
    texts = set(excluded_texts(codes))
    implied_texts = {statements()[code].description for code in implied(codes)}
    assert never <= texts and implied_texts <= texts
    offered = set().union(*distractors(describe(labels)).values())
    assert not offered & (never | implied_texts), offered & (never | implied_texts)


def test_normal_phrasings_follow_the_findings():
    # NORM is incompatible with any abnormal diagnostic code, so "normal ECG" is a fair distractor there
    assert "normal ECG" not in excluded_texts({"IMI", "SR"})
    assert not {code for code in compatible({"NORM", "SR"}) if statements()[code].is_kind("diagnostic")} - {"NORM"}
    # a bundle-branch block rules out a normal waveform; AF rules out sinus rhythm, sinus tachycardia does not
    assert not normal_holds("waveform", {"CRBBB"}) and normal_holds("waveform", {"NORM", "SR"})
    assert "sinus rhythm" not in excluded_texts({"AFIB"}) and "sinus rhythm" in excluded_texts({"STACH"})
    # the offered normal phrasing really is offered when false
    assert "normal ECG" in distractors(describe({"IMI": 100.0, "SR": 0.0}), seeds=80)["diagnosis"]
    assert "sinus rhythm" in distractors(describe({"AFIB": 0.0, "NORM": 0.0}), seeds=80)["rhythm"]


def test_specific_alternatives_stay_fair_distractors():
    # umbrella statements reached by implication do not swallow their siblings
    assert "AFLT" not in compatible({"AFIB"}) and "PAC" not in compatible({"PVC"}) and "STE_" not in compatible({"STD_"})
    assert "ILBBB" not in compatible({"CLBBB"}) and "IRBBB" not in compatible({"CRBBB"})
