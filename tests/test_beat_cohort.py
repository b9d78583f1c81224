"""Beat end to end on a small simulated PTB-XL-layout cohort: windows, train, resume, eval, ablate."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.data import SPLIT_FOLDS, load_windows  # noqa: E402
from heartcare.cli import main  # noqa: E402
from heartcare.errors import ConfigError, DatasetLayoutError  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from heartcare.sim.cohort import build_cohort

    root = tmp_path_factory.mktemp("cohort")
    build_cohort(20, root, seed=0, progress=False)
    return root


def test_windows_follow_folds_and_are_cached(cohort) -> None:
    import pandas as pd

    table = pd.read_csv(cohort / "ptbxl_database.csv")
    config = preset("tiny")
    train = load_windows(cohort, "train", config)
    assert len(train) == int(table["strat_fold"].isin(SPLIT_FOLDS["train"]).sum())
    assert train.signal.shape[1:] == (12, config.context + config.horizon)
    assert np.allclose(train.signal[:, :, : config.context].mean(axis=2), 0, atol=1e-4)
    assert list((cohort / ".heartcare_cache" / "beat").glob("train-*.safetensors"))
    again = load_windows(cohort, "train", config)
    assert np.array_equal(again.signal, train.signal) and again.record_ids == train.record_ids


def test_bad_dataset_folder(tmp_path) -> None:
    with pytest.raises(DatasetLayoutError, match="ptbxl_database.csv"):
        load_windows(tmp_path, "train", preset("tiny"))


@pytest.mark.slow
def test_cli_train_resume_eval(cohort, tmp_path, capsys) -> None:
    out = tmp_path / "beat"
    assert main(["beat", "train", "--data", str(cohort), "--out", str(out), "--preset", "tiny", "--epochs", "1",
                 "--prediction-prior", "periodic"]) == 0
    assert (out / "config.json").is_file() and (out / "training" / "trainer.json").is_file()
    assert json.loads((out / "config.json").read_text())["prediction_prior"] == "periodic"
    steps = json.loads((out / "training" / "trainer.json").read_text())["step"]
    assert main(["beat", "train", "--data", str(cohort), "--out", str(out), "--preset", "tiny", "--epochs", "2", "--resume"]) == 0
    assert json.loads((out / "training" / "trainer.json").read_text())["step"] == 2 * steps
    assert json.loads((out / "config.json").read_text())["prediction_prior"] == "periodic"  # resume keeps it
    capsys.readouterr()
    assert main(["beat", "eval", str(out), "--data", str(cohort), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"recon", "pred", "pred_baseline", "code", "baseline", "clinical", "figure"} <= set(metrics)
    assert set(metrics["pred_baseline"]) == {"name", "mse", "pearson"}
    assert len(metrics["code"]["usage_percent"]) == 2
    assert (out / "eval-test.png").stat().st_size > 1000


def test_train_never_overwrites_a_checkpoint_and_resumes_only_the_same_run(cohort, tmp_path, capsys) -> None:
    out = tmp_path / "beat"
    base = ["beat", "train", "--data", str(cohort), "--out", str(out), "--epochs", "1", "--limit", "12"]
    assert main([*base, "--preset", "tiny"]) == 0
    assert json.loads((out / "run.json").read_text())["preset"] == "tiny"
    weights = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert main([*base, "--preset", "tiny"]) == 1  # no --resume: the checkpoint stays as it was
    assert "already holds a Beat checkpoint; pass --resume" in capsys.readouterr().err
    assert main([*base, "--preset", "cpu-small", "--resume"]) == 1
    assert "preset 'tiny' -> 'cpu-small'" in capsys.readouterr().err
    assert main([*base[:-1], "13", "--resume"]) == 1
    assert "limit 12 -> 13" in capsys.readouterr().err
    assert main([*base, "--resume", "--prediction-prior", "periodic"]) == 1
    assert "different configuration" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == weights
    steps = json.loads((out / "training" / "trainer.json").read_text())["step"]
    base[base.index("--epochs") + 1] = "2"
    assert main([*base, "--resume"]) == 0  # the run's own preset (tiny), one more epoch
    assert json.loads((out / "training" / "trainer.json").read_text())["step"] == 2 * steps


def test_ablation_resumes_the_same_plan_and_refuses_another(cohort, tmp_path, monkeypatch) -> None:
    from heartcare.beat import ablate

    out = tmp_path / "ablation"
    plan = ablate.AblationPlan(base="tiny", sizes=(16,), contexts=(100,), steps=2, limit=8)
    first = ablate.run_ablation(cohort, out, plan, progress=False)
    assert [row.shared for row in first] == [False, True]
    results = json.loads((out / "results.json").read_text())
    (out / "results.json").write_text(json.dumps(results[1:]))  # as if interrupted before the first cell ended
    from heartcare.train import loop

    trained: list[str] = []
    original_train = loop.train

    def counting_train(model, data, stage, out_dir, **kwargs):
        trained.append(stage.name)
        return original_train(model, data, stage, out_dir, **kwargs)

    monkeypatch.setattr(loop, "train", counting_train)  # run_ablation imports it at call time
    again = ablate.run_ablation(cohort, out, plan, progress=False)
    assert trained == ["K16-T100-separate"]
    assert [(row.shared, row.metrics["recon_mse"]) for row in again][1] == (True, results[1]["metrics"]["recon_mse"])
    assert "| 16 | 100 | separate |" in (out / "table.md").read_text().splitlines()[2]
    with pytest.raises(ConfigError, match="another plan .*steps"):
        ablate.run_ablation(cohort, out, dataclasses.replace(plan, steps=3), progress=False)
    with pytest.raises(ConfigError, match="another plan .*without"):
        ablate.run_ablation(cohort, out, dataclasses.replace(plan, without=("query_stretch",)), progress=False)
    # A plan saved before `without` existed turned nothing off: it still resumes.
    saved = json.loads((out / "plan.json").read_text())
    saved.pop("without")
    (out / "plan.json").write_text(json.dumps(saved))
    assert len(ablate.run_ablation(cohort, out, plan, progress=False)) == 2


def test_ablation_can_turn_each_addition_off() -> None:
    from heartcare.beat.ablate import AblationPlan
    from heartcare.beat.config import ADDITIONS

    plan = AblationPlan(base="cpu-small", sizes=(16,), contexts=(500,), without=tuple(ADDITIONS))
    assert all(config == config.with_changes(query_stretch=False, seeded_mask_tokens=False, latent_projection=False,
                                             prediction_prior="none") for config in plan.configs())
    assert all(config.query_stretch for config in AblationPlan(base="cpu-small").configs())
    with pytest.raises(ConfigError, match="unknown addition"):
        AblationPlan(without=("bogus",))


def test_eval_windows_of_a_split_are_the_windows_encode_cuts(cohort) -> None:
    from heartcare.beat.files import encode_ecg, prepare_record
    from heartcare.beat.model import build_beat
    from heartcare.beat.scoring import load_scoring_windows
    from heartcare.sources.ptbxl import PtbXlDataset

    config = preset("tiny").with_changes(context=300)  # a 10-s record: 9 windows, the first left-padded
    torch.manual_seed(0)
    model = build_beat(config).eval()
    scored = load_scoring_windows(cohort, "test", config)
    records = [record.ecg for record in PtbXlDataset(cohort, fs=500, folds=SPLIT_FOLDS["test"])]
    expected = [model.segment(prepare_record(ecg, config).signal)[0] for ecg in records]
    assert len(scored) == sum(len(windows) for windows in expected)
    assert np.allclose(scored.signal[:, :, : config.context], torch.cat(expected).numpy(), atol=1e-5)
    assert (scored.padding > 0).sum() == len(records) and scored.padding[0] == 9 * 300 - 2500
    codes = model.encode(torch.from_numpy(scored.signal[:, :, : config.context]), torch.from_numpy(scored.lead_mask)).codes
    first = encode_ecg(model, records[0])
    assert torch.equal(codes[: first.windows].reshape(-1, config.levels), torch.from_numpy(first.codes))


def test_cli_ablate_writes_table_and_plot(cohort, tmp_path) -> None:
    out = tmp_path / "ablation"
    assert main(["beat", "ablate", "--data", str(cohort), "--out", str(out), "--preset", "tiny", "--steps", "2",
                 "--sizes", "16", "--contexts", "100", "--prediction-prior", "periodic", "--without", "query_stretch"]) == 0
    assert json.loads((out / "plan.json").read_text())["without"] == ["query_stretch"]
    table = (out / "table.md").read_text().splitlines()
    assert len(table) == 4 and "| 16 | 100 | separate |" in table[2] and "| 16 | 100 | shared |" in table[3]
    assert (out / "rate_distortion.png").is_file()
