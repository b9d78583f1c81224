"""PTB-XL label prior: marginals match the table, label sets are coherent, cohorts built from it agree with their labels."""

from __future__ import annotations

import ast
from collections import Counter

import numpy as np
import pytest

from heartcare.sim.label_prior import EXCLUSIONS, NORMAL_RHYTHMS, label_stats, sample_label_sets

N = 20_000


@pytest.fixture(scope="module")
def sets() -> list[dict[str, float]]:
    return sample_label_sets(N, seed=11)


def test_every_code_frequency_matches_ptbxl_within_sampling_error(sets):
    counts = Counter(code for labels in sets for code in labels)
    stats = label_stats()
    assert len(stats) == 71 and set(counts) <= set(stats)
    chi_square = 0.0
    for code, facts in stats.items():
        error = np.sqrt(facts.fraction * (1 - facts.fraction) / N)
        assert abs(counts[code] / N - facts.fraction) <= 4.5 * error + 5e-4, (code, counts[code] / N, facts.fraction)
        chi_square += ((counts[code] / N - facts.fraction) / error) ** 2
    # 71 codes: about 71 when every marginal is right; 106-131 without the calibration (1AVB -14%, IRBBB -9%)
    assert chi_square < 100, chi_square
    assert abs(counts["NORM"] / N - 0.43632) < 0.015 and abs(counts["SR"] / N - 0.76851) < 0.015


def test_likelihoods_use_ptbxl_scale_with_the_table_share_at_100(sets):
    stats = label_stats()
    at_100, carried = Counter(), Counter()
    for labels in sets:
        for code, likelihood in labels.items():
            assert likelihood in (0.0, 15.0, 35.0, 50.0, 80.0, 100.0)
            if "diagnostic" not in stats[code].kind:
                assert likelihood in (0.0, 100.0), (code, likelihood)  # rhythm and form: unstated or certain
            carried[code] += 1
            at_100[code] += likelihood == 100.0
    for code, count in carried.items():
        if count >= 300:
            share = stats[code].share_at_100
            assert abs(at_100[code] / count - share) <= 4 * np.sqrt(share * (1 - share) / count) + 0.01, code
    assert at_100["SR"] == 0 and at_100["NORM"] / carried["NORM"] > 0.7


def test_label_sets_are_clinically_coherent(sets):
    stats = label_stats()
    rhythms = {code for code, facts in stats.items() if facts.kind == "rhythm"}
    for labels in sets:
        stated_rhythms = rhythms & set(labels)
        assert len(stated_rhythms) <= 1, labels
        if "NORM" in labels:
            assert set(labels) - {"NORM"} <= set(NORMAL_RHYTHMS), labels
        else:
            assert set(labels) - set(NORMAL_RHYTHMS), labels  # an abnormal record says what is abnormal
        for keeper, ruled_out in EXCLUSIONS:
            if keeper in labels:
                assert not set(ruled_out) & set(labels), (keeper, labels)
    no_rhythm = sum(not rhythms & set(labels) for labels in sets) / N
    assert 0.02 < no_rhythm < 0.04  # PTB-XL's rhythm statements cover 97.1% of records


def test_same_seed_same_sets_other_seed_other_sets():
    assert sample_label_sets(500, 3) == sample_label_sets(500, 3)
    assert sample_label_sets(500, 3) != sample_label_sets(500, 4)
    assert sample_label_sets(0, 3) == []


def test_prior_plans_follow_ptbxl_demographics_and_simulate_what_the_labels_say():
    from heartcare.sim.prior_cohort import conditions_for, prior_plans

    plans = prior_plans(3000, seed=2)
    assert plans == prior_plans(3000, seed=2) and len(plans) == 3000
    ages = np.array([plan.age for plan in plans])
    assert abs(ages.mean() - 59.8) < 1.5 and abs(ages.std() - 17.0) < 1.5 and ages.min() >= 2 and ages.max() <= 95
    assert abs(np.mean([plan.sex == "M" for plan in plans]) - 0.52) < 0.03
    per_patient = Counter(plan.patient_id for plan in plans)
    assert set(per_patient.values()) == {1, 2, 3} and 0.05 < sum(v > 1 for v in per_patient.values()) / len(per_patient) < 0.2
    folds = {}
    for plan in plans:
        assert folds.setdefault(plan.patient_id, plan.strat_fold) == plan.strat_fold  # patient-disjoint folds
        labels = ast.literal_eval(plan.extra["scp_codes"])
        for code, condition in (("AFIB", "atrial_fibrillation"), ("CLBBB", "left_bundle_branch_block"),
                                ("1AVB", "first_degree_av_block"), ("PACE", "paced"), ("SBRAD", "sinus_bradycardia")):
            assert (code in labels) <= (condition in plan.conditions), (code, plan.conditions)
        assert ("NORM" in labels) == ("normal" in plan.conditions)
    counts = Counter(code for plan in plans for code in ast.literal_eval(plan.extra["scp_codes"]))
    assert abs(counts["NORM"] / 3000 - 0.436) < 0.04 and abs(counts["AFIB"] / 3000 - 0.069) < 0.02
    assert conditions_for({"INJAS": 100.0, "ASMI": 100.0, "SR": 0.0}, np.random.default_rng(0)).keys() == {"acute_anterior_mi"}


def test_cohort_cli_writes_the_prior_labels_and_refuses_a_mixed_folder(tmp_path):
    import pandas as pd

    from heartcare.cli import main
    from heartcare.errors import DatasetLayoutError
    from heartcare.sim.cohort import build_cohort
    from heartcare.sim.prior_cohort import prior_plans

    assert main(["sim", "cohort", "--n", "4", "--out", str(tmp_path / "c"), "--seed", "5", "--label-prior", "ptbxl"]) == 0
    database = pd.read_csv(tmp_path / "c" / "ptbxl_database.csv")
    assert list(database["scp_codes"]) == [plan.extra["scp_codes"] for plan in prior_plans(4, 5)]
    with pytest.raises(DatasetLayoutError, match="label prior"):
        build_cohort(4, tmp_path / "c", seed=5, progress=False)
