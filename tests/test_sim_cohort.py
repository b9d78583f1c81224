"""The simulated PTB-XL-layout cohort: layout, labels, patients, folds, resume, adapter, CLI."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from heartcare.errors import DatasetLayoutError
from heartcare.sim.cohort import DATABASE_COLUMNS, build_cohort, record_paths
from heartcare.sim.cohort_plan import plan_cohort
from heartcare.sources.ptbxl import PtbXlDataset
from heartcare.sources.scp import statements, superclasses


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return build_cohort(24, tmp_path_factory.mktemp("cohort"), seed=5, progress=False)


def test_layout_and_columns(cohort):
    database = pd.read_csv(cohort / "ptbxl_database.csv")
    assert list(database.columns) == DATABASE_COLUMNS and len(database) == 24
    assert set(database["sex"]) <= {0, 1} and database["strat_fold"].between(1, 10).all()
    for _, row in database.iterrows():
        assert (cohort / f"{row.filename_hr}.hea").is_file() and (cohort / f"{row.filename_hr}.dat").is_file()
        assert (cohort / f"{row.filename_lr}.hea").is_file()
        codes = ast.literal_eval(row.scp_codes)
        assert codes and set(codes) <= set(statements())
    assert database.loc[0, "filename_hr"] == "records500/00000/00001_hr"
    statements_table = pd.read_csv(cohort / "scp_statements.csv", index_col=0)
    assert {"description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"} <= set(statements_table.columns)
    assert statements_table.loc["NORM", "diagnostic_class"] == "NORM"
    truth = pd.read_csv(cohort / "sim_ground_truth.csv")
    assert {"hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "axis_deg", "conditions", "severity"} <= set(truth.columns)


def test_wfdb_files_hold_the_simulated_signal_in_millivolts(cohort):
    import wfdb

    high = wfdb.rdrecord(str(cohort / "records500/00000/00001_hr"))
    low = wfdb.rdrecord(str(cohort / "records100/00000/00001_lr"))
    assert high.fs == 500 and high.p_signal.shape == (5000, 12) and high.units[0] == "mV"
    assert low.fs == 100 and low.p_signal.shape == (1000, 12)
    assert high.sig_name[:6] == ["I", "II", "III", "AVR", "AVL", "AVF"]
    assert 0.2 < np.abs(high.p_signal).max() < 6.0


def test_label_frequencies_follow_ptbxl():
    plans = plan_cohort(600, seed=0)
    primary = pd.Series([plan.primary_class for plan in plans]).value_counts(normalize=True)
    assert 0.36 < primary["NORM"] < 0.52
    for name in ("MI", "STTC", "CD", "HYP"):
        assert primary[name] > 0.04, name


def test_patients_have_repeat_visits_at_later_dates_and_folds_are_patient_disjoint():
    plans = plan_cohort(300, seed=1)
    by_patient: dict[int, list] = {}
    for plan in plans:
        by_patient.setdefault(plan.patient_id, []).append(plan)
    repeat = [visits for visits in by_patient.values() if len(visits) > 1]
    assert len(repeat) >= 20
    for visits in repeat:
        dates = [visit.recording_date for visit in visits]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        assert len({visit.strat_fold for visit in visits}) == 1
        assert len({visit.sex for visit in visits}) == 1
    folds = pd.Series([plan.strat_fold for plan in plans])
    assert set(folds) == set(range(1, 11)) and folds.value_counts().min() >= 15


def test_acute_infarcts_evolve_into_old_ones():
    from heartcare.sim.cohort_plan import _evolve

    rng = np.random.default_rng(0)
    assert "old_anterior_mi" in _evolve({"acute_anterior_mi": 0.5}, rng)


def test_plan_is_deterministic():
    assert plan_cohort(50, seed=3) == plan_cohort(50, seed=3)
    assert plan_cohort(50, seed=3) != plan_cohort(50, seed=4)


def test_resume_redraws_only_missing_records_and_reproduces_them(tmp_path):
    out = build_cohort(6, tmp_path / "c", seed=2, progress=False)
    hea = out / (record_paths(3)[1] + ".hea")
    original = (out / (record_paths(3)[1] + ".dat")).read_bytes()
    kept = out / record_paths(1)[2]
    kept_mtime = kept.stat().st_mtime_ns
    # A run killed mid-record: sidecar missing, header missing, a temp file left behind.
    (out / record_paths(3)[2]).unlink()
    hea.unlink()
    (hea.parent / ".tmp-leftover").mkdir()
    (out / "ptbxl_database.csv").unlink()
    build_cohort(6, out, seed=2, progress=False)
    assert hea.is_file() and (out / (record_paths(3)[1] + ".dat")).read_bytes() == original
    assert not (hea.parent / ".tmp-leftover").exists()
    assert kept.stat().st_mtime_ns == kept_mtime
    assert len(pd.read_csv(out / "ptbxl_database.csv")) == 6
    with pytest.raises(DatasetLayoutError, match="seed"):
        build_cohort(6, out, seed=9, progress=False)


def test_sidecar_is_complete_json(cohort):
    sidecar = json.loads((cohort / record_paths(1)[2]).read_text())
    assert {"database", "ground_truth", "plan"} <= set(sidecar)


def test_the_ptbxl_adapter_reads_the_cohort(cohort):
    dataset = PtbXlDataset(cohort, fs=500)
    records = list(dataset)
    assert len(records) == len(dataset) == 24 and not dataset.skipped
    first = records[0]
    assert first.ecg.signal.shape == (12, 5000) and first.ecg.fs == 500
    assert first.report and first.labels and first.patient_id
    database = pd.read_csv(cohort / "ptbxl_database.csv")
    for record, codes in zip(records, database["scp_codes"], strict=True):
        assert record.labels == ast.literal_eval(codes)  # the labels as written, none lost or renamed
        # every simulated record carries a diagnostic statement; NORM never sits beside a finding
        assert superclasses(record.labels), record.labels
        assert ("NORM" in record.labels) == (superclasses(record.labels) == ["NORM"]), record.labels
    low = PtbXlDataset(cohort, fs=100, folds=[first.meta["strat_fold"]])
    assert all(record.ecg.fs == 100 for record in low)


def main(argv: list[str]) -> int:
    """Run `heartcare sim ...` through this package's own parser (other subcommands may be mid-build)."""
    import argparse

    from heartcare.sim import commands

    parser = argparse.ArgumentParser(prog="heartcare")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


def test_cli_cohort_and_record(tmp_path, capsys):
    assert main(["sim", "cohort", "--n", "3", "--out", str(tmp_path / "cli"), "--seed", "1"]) == 0
    assert len(pd.read_csv(tmp_path / "cli" / "ptbxl_database.csv")) == 3
    assert main(["sim", "record", "--list"]) == 0
    assert "left_bundle_branch_block" in capsys.readouterr().out
    assert main(["sim", "record", str(tmp_path / "one"), "--condition", "atrial_fibrillation=0.7", "--format", "npy"]) == 0
    assert "trial fibrillation" in capsys.readouterr().out


def test_a_cohort_can_grow_reusing_its_records(tmp_path):
    small = build_cohort(4, tmp_path / "g", seed=6, progress=False)
    first = (small / (record_paths(2)[1] + ".dat")).read_bytes()
    build_cohort(7, small, seed=6, progress=False)
    database = pd.read_csv(small / "ptbxl_database.csv")
    assert len(database) == 7 and (small / (record_paths(2)[1] + ".dat")).read_bytes() == first
    fresh = build_cohort(7, tmp_path / "fresh", seed=6, progress=False)
    pd.testing.assert_frame_equal(database, pd.read_csv(fresh / "ptbxl_database.csv"))


def test_cli_preview_draws_png_sheets(tmp_path, capsys):
    assert main(["sim", "preview", str(tmp_path), "--condition", "normal", "--condition", "paced"]) == 0
    for name in ("normal", "paced"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
