"""HeartcareGPT stages through the one loop: what trains, exact resume, checkpoints the bench can run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")


@pytest.fixture(scope="module")
def parts(gpt_parts) -> dict[str, Path]:
    return gpt_parts


def run(built_dataset, parts, out: Path, stage: str = "warmup", init: Path | None = None, resume: bool = False,
        bench_tasks: tuple[str, ...] = (), learning_rate: float | None = None, max_per_answer: int | None = None,
        model: dict | None = None, **stage_changes):
    from heartcare.train.gpt_run import train_gpt

    model_changes = None if init else {"backbone": str(parts["backbone"]), "signal_dim": 32, **(model or {})}
    return train_gpt(built_dataset, parts["features"], stage, "tiny", out, init=init, resume=resume,
                     model_changes=model_changes, stage_changes=stage_changes or None, progress=False,
                     bench_tasks=bench_tasks, learning_rate=learning_rate, max_per_answer=max_per_answer)


def tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    found = {}
    for path in sorted(folder.glob("*.safetensors")):
        found.update({f"{path.stem}/{name}": tensor for name, tensor in load_file(str(path)).items()})
    return found


@pytest.fixture(scope="module")
def warmed(built_dataset, parts) -> Path:
    return run(built_dataset, parts, parts["root"] / "warmup").out


def test_warmup_trains_projectors_and_token_rows_but_not_lora(built_dataset, parts, warmed):
    from heartcare.model.build import build_model
    from heartcare.model.checkpoint import from_pretrained, trained_state

    document = json.loads((warmed / "config.json").read_text())
    assert document["stage"] == "warmup" and document["steps"] == 6 and document["train_items"] > 0
    trained = from_pretrained(warmed, load_encoders=False)
    fresh = build_model(trained.config, load_encoders=False)
    before, after = trained_state(fresh), trained_state(trained)
    for key in ("projectors", "token_rows"):
        assert any(not torch.equal(before[key][name], after[key][name]) for name in before[key]), key
    assert all(torch.equal(before["lora"][name], after["lora"][name]) for name in before["lora"])
    assert (warmed / "logs").is_dir() and (warmed / "training" / "trainer.json").is_file()
    saved = tensors(warmed / "training")
    assert not any("lora_" in name for name in saved)  # frozen parts never enter the resumable state


def test_joint_starts_from_warmup_and_trains_lora(built_dataset, parts, warmed):
    from heartcare.model.checkpoint import from_pretrained, trained_state

    joint = run(built_dataset, parts, parts["root"] / "joint", stage="joint", init=warmed).out
    before, after = trained_state(from_pretrained(warmed, load_encoders=False)), trained_state(from_pretrained(joint, load_encoders=False))
    assert any(not torch.equal(before["lora"][name], after["lora"][name]) for name in before["lora"])


def test_an_interrupted_stage_resumes_to_the_straight_run(built_dataset, parts, tmp_path, monkeypatch):
    from heartcare.model.gpt import HeartcareGPT

    straight = run(built_dataset, parts, tmp_path / "straight", checkpoint_every_steps=2).out
    calls = {"count": 0}
    original = HeartcareGPT.forward

    def interrupted(self, batch):
        if self.training:
            calls["count"] += 1
            if calls["count"] == 5:  # past the 2 warm-up steps and the step-4 checkpoint
                raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(HeartcareGPT, "forward", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(built_dataset, parts, tmp_path / "resumed", checkpoint_every_steps=2)
    monkeypatch.setattr(HeartcareGPT, "forward", original)
    resumed = run(built_dataset, parts, tmp_path / "resumed", resume=True, checkpoint_every_steps=2).out
    expected, got = tensors(straight), tensors(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[name], got[name], atol=1e-6) for name in expected)


def test_a_training_state_holds_only_the_ecg_token_rows_of_the_embedding(built_dataset, parts, warmed):
    from heartcare.model.checkpoint import from_pretrained

    model = from_pretrained(warmed, load_encoders=False)
    vocabulary, hidden = model.language_model.get_input_embeddings().weight.shape
    new_rows = vocabulary - model.base_vocabulary
    saved = tensors(warmed / "training")
    assert not any(tensor.ndim and tensor.shape[0] == vocabulary for tensor in saved.values())
    # per embedding matrix (the tiny backbone's input and output are untied): the new rows and AdamW's two moments
    assert sum(tuple(tensor.shape) == (new_rows, hidden) for tensor in saved.values()) == 3 * len(model.embedding_matrices())


def test_resuming_onto_other_frozen_rows_is_refused():
    from heartcare.errors import UnreadableFileError
    from heartcare.train.checkpoint import _restore_rows, _trim_rows

    weight = torch.arange(12.0).reshape(6, 2)
    trimmed, offsets, sums = _trim_rows({"embed": weight}, {"embed": 4})
    assert trimmed["embed"].shape == (2, 2) and offsets == {"embed": 4}
    restored = dict(trimmed)
    _restore_rows(restored, offsets, sums, {"embed": weight.clone()}, Path("model.safetensors"))
    assert torch.equal(restored["embed"], weight)
    other = weight.clone()
    other[0, 0] += 1.0
    with pytest.raises(UnreadableFileError, match="frozen rows"):
        _restore_rows(dict(trimmed), offsets, sums, {"embed": other}, Path("model.safetensors"))


def test_resuming_with_another_preset_or_stage_is_refused(built_dataset, parts, warmed, tmp_path):
    from heartcare.errors import ConfigError

    with pytest.raises(ConfigError):
        run(built_dataset, parts, warmed, resume=True, learning_rate=1.0)


def test_a_learning_rate_override_reaches_every_part_through_the_schedule(built_dataset, parts, warmed, tmp_path):
    import csv

    from heartcare.errors import ConfigError

    def rates(folder: Path) -> list[dict[str, float]]:
        with open(folder / "logs" / "train_log.csv") as handle:
            return [{key: float(value) for key, value in row.items() if key.startswith("lr")} for row in csv.DictReader(handle)]

    slower = run(built_dataset, parts, tmp_path / "slower", learning_rate=1e-4).out  # the tiny preset: 5e-3, 6 steps
    default, override = rates(warmed), rates(slower)
    assert len(default) == len(override) == 6 and set(default[0]) == set(override[0])
    assert any(key.startswith("lr/signal_projector") for key in override[0])
    for before, after in zip(default, override, strict=True):  # every part, every step: the same schedule at 1/50
        assert all(after[key] == pytest.approx(before[key] * 1e-4 / 5e-3, rel=1e-6) for key in before), (before, after)
    with pytest.raises(ConfigError, match="another stage"):  # a resume must keep the rate it started with
        run(built_dataset, parts, slower, resume=True, max_steps=8)


def test_the_bench_runs_a_checkpoint_with_the_ecg(built_dataset, parts, warmed, tmp_path):
    from heartcare.bench.runner import BenchConfig, run_bench

    result = run_bench(BenchConfig(data=built_dataset, model=f"heartcare-gpt:{warmed}", out=tmp_path / "run", limit=3,
                                   tasks=["closed-*", "comparison-*", "prediction-*"], floors=False, progress=False))
    document = json.loads((tmp_path / "run" / "results.json").read_text())
    assert document["model"] == f"heartcare-gpt:{warmed}" or document["model"].get("name") == f"heartcare-gpt:{warmed}"
    tasks = document["tasks"]
    assert {"closed-S-diagnosis", "closed-I-diagnosis", "comparison-SS-consecutive", "comparison-SI-irrelevant"} <= set(tasks)
    for name, block in tasks.items():  # the dual-stream model reads every form: nothing is not applicable but
        if not name.startswith("prediction-I"):  # image forecasts, which Beat cannot decode from a picture
            assert block["n_not_applicable"] == 0 and block["n_failed"] == 0 and block["n_scored"] == block["n"], name
    for name in ("closed-S-diagnosis", "comparison-SS-consecutive"):  # options are scored by log-likelihood too
        assert "loglik_accuracy" in tasks[name]["metrics"], tasks[name]["metrics"].keys()
    assert result is not None


def test_a_signal_only_model_marks_image_items_not_applicable(built_dataset, parts, tmp_path):
    from heartcare.bench.runner import BenchConfig, run_bench
    from heartcare.train.gpt_run import train_gpt

    signal_only = train_gpt(built_dataset, parts["features"], "warmup", "tiny", tmp_path / "signal-only",
                            model_changes={"backbone": str(parts["backbone"]), "signal_dim": 32, "image_encoder": None},
                            stage_changes={"max_steps": 2}, progress=False)
    assert signal_only.skipped["stream_missing"] > 0  # image items never trained on without an image stream
    run_bench(BenchConfig(data=built_dataset, model=f"heartcare-gpt:{signal_only.out}", out=tmp_path / "run", limit=2,
                          tasks=["closed-S-diagnosis", "closed-I-diagnosis"], floors=False, progress=False))
    tasks = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]
    assert tasks["closed-I-diagnosis"]["n_not_applicable"] == tasks["closed-I-diagnosis"]["n"] > 0
    assert tasks["closed-S-diagnosis"]["n_not_applicable"] == 0


def test_an_image_only_model_reads_signal_items_through_their_drawing(built_dataset, parts, tmp_path):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.runner import BenchConfig, run_bench
    from heartcare.model.config import GptConfig
    from heartcare.model.examples import item_features
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.train.gpt_run import train_gpt

    image_only = train_gpt(built_dataset, parts["features"], "warmup", "tiny", tmp_path / "image-only",
                           model_changes={"backbone": str(parts["backbone"]), "beat": None, "signal_items_see_image": False},
                           stage_changes={"max_steps": 2}, progress=False)
    assert image_only.skipped["stream_missing"] == 0  # Figure 5a's image-only row trains on the signal items too
    model_config = GptConfig.load(image_only.out / "config.json")
    cache = FeatureCache(parts["features"])
    item = next(item for item in BenchDataset(built_dataset).items("test") if item.task == "closed_qa" and item.modality == "S")
    (features,) = item_features(item, cache, model_config)
    assert features.signal is None and np.array_equal(features.image, cache.image(item.ecgs[0].record_id, 0))
    run_bench(BenchConfig(data=built_dataset, model=f"heartcare-gpt:{image_only.out}", out=tmp_path / "run", limit=2,
                          tasks=["closed-S-diagnosis", "closed-I-diagnosis"], floors=False, progress=False))
    tasks = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]
    for name in ("closed-S-diagnosis", "closed-I-diagnosis"):
        assert tasks[name]["n_not_applicable"] == 0 and tasks[name]["n_scored"] == tasks[name]["n"] > 0, name


def test_items_whose_features_the_cache_lacks_are_skipped_and_counted(built_dataset, parts, tmp_path):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.config import GptConfig
    from heartcare.model.feature_cache import FeatureCache, build_feature_cache
    from heartcare.train.gpt_run import select_items

    cache = FeatureCache(build_feature_cache(built_dataset, str(parts["beat"]), "tiny", out=tmp_path / "no-context",
                                             shard_size=8, context_images=False, progress=False))
    # signal items read no picture here, so only the image forecasts lack their (uncached) context image
    config = GptConfig(beat=str(parts["beat"]), image_encoder="tiny", image_feature_dim=16, signal_dim=32,
                       signal_items_see_image=False)
    items = BenchDataset(built_dataset).items("train")
    chosen, skipped = select_items(items, ("closed_qa", "signal_prediction"), 1.0, None, 0, config, cache)
    image_forecasts = [i for i in items if i.task == "signal_prediction" and i.ecgs[0].modality == "I"]
    assert image_forecasts and skipped["not_cached"] >= len(image_forecasts)
    assert not any(i.task == "signal_prediction" and i.ecgs[0].modality == "I" for i in chosen)
    assert any(i.task == "signal_prediction" and i.ecgs[0].modality == "S" for i in chosen)


def test_bench_tasks_keep_only_the_items_those_tasks_select(built_dataset, parts, tmp_path):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.train.gpt_run import of_bench_tasks

    items = BenchDataset(built_dataset).items("train")
    chosen = of_bench_tasks(items, ("closed-S-*", "comparison-SS-*"))
    assert chosen and {(item.task, item.modality) for item in chosen} == {("closed_qa", "S"), ("comparison_qa", "C-SS")}
    assert len(chosen) == sum(1 for item in items if (item.task, item.modality) in {("closed_qa", "S"), ("comparison_qa", "C-SS")})
    narrowed = run(built_dataset, parts, tmp_path / "closed-s", max_steps=1, bench_tasks=("closed-S-diagnosis",))
    expected = [item for item in items if item.task == "closed_qa" and item.modality == "S" and item.dimension == "diagnosis"]
    assert narrowed.train_items == len(expected) > 0
    assert json.loads((narrowed.out / "config.json").read_text())["bench_tasks"] == ["closed-S-diagnosis"]


def test_an_answer_cap_keeps_each_answer_of_a_kind_at_most_that_often(built_dataset, parts, tmp_path):
    from collections import Counter

    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.models.floors import question_kind
    from heartcare.train.gpt_run import cap_per_answer

    items = BenchDataset(built_dataset).items("train")
    key = lambda item: (*question_kind(item), item.modality, item.answer_text)  # noqa: E731
    before = Counter(key(item) for item in items if item.is_multiple_choice)
    assert max(before.values()) > 1  # the cap has something to do
    kept, dropped = cap_per_answer(items, 1, seed=0)
    after = Counter(key(item) for item in kept if item.is_multiple_choice)
    assert set(after) == set(before) and set(after.values()) == {1}  # every answer stays, once
    assert dropped == sum(before.values()) - len(before) == len(items) - len(kept)
    assert [item for item in kept if not item.is_multiple_choice] == [item for item in items if not item.is_multiple_choice]
    assert cap_per_answer(items, 1, seed=0)[0] == kept  # stable
    capped = run(built_dataset, parts, tmp_path / "capped", max_steps=1, bench_tasks=("closed-*",), max_per_answer=1)
    assert capped.skipped["answer_cap"] > 0 and json.loads((capped.out / "config.json").read_text())["max_per_answer"] == 1


def test_capped_items_get_distractors_that_carry_no_option_prior():
    """The build draws train distractors uniformly, so a text most records leave open ("T
    abnormality", excluded as a distractor by 45% of the other items here) is shown seldom and is
    right when shown more often than the rest; after the cap the draw is made again over the kept
    items, each text right about as often when offered, every item keeping its answer and ECGs."""
    from collections import Counter

    import numpy as np

    from heartcare.agent.balance import balance_rows
    from heartcare.bench.items import BenchItem
    from heartcare.train.gpt_run import cap_per_answer

    counts = {"normal ECG": 600, "inferior MI": 80, "anteroseptal MI": 60, "left ventricular hypertrophy": 50,
              "left anterior fascicular block": 40, "T abnormality": 40, "first degree AV block": 45}
    texts, rng, rows = list(counts), np.random.default_rng(0), []
    for answer, count in counts.items():
        for _ in range(count):
            excluded = ["T abnormality"] if answer != "T abnormality" and rng.random() < 0.45 else []
            options = [answer, *[text for text in texts if text != answer and text not in excluded][:3]]
            rows.append({"id": f"item{len(rows)}", "task": "closed_qa", "dimension": "diagnosis", "modality": "S",
                         "question": "Which diagnosis? Options: " + "; ".join(f"{'ABCD'[i]}: {t}" for i, t in enumerate(options)) + ".",
                         "answer": f"A: {answer}", "choices": options, "answer_index": 0,
                         "ecgs": [{"record_id": f"rec{len(rows)}", "modality": "S"}],
                         "meta": {"kind": "diagnosis", "excluded": excluded}})
    built = [BenchItem.from_row(row) for _, row in balance_rows(rows, seed=0, select=False)[0]]

    def rates(items):
        offered, right = Counter(), Counter()
        for item in items:
            offered.update(item.choices)
            right[item.answer_text] += 1
        return {text: right[text] / offered[text] for text in offered}

    redealt, _ = cap_per_answer(built, 40, seed=0)
    kept = {item.id for item in redealt}
    before = rates([item for item in built if item.id in kept])  # the same items with the build's options
    assert before["T abnormality"] > max(rate for text, rate in before.items() if text != "T abnormality") + 0.08
    assert all(abs(rate - 0.25) < 0.03 for rate in rates(redealt).values()), rates(redealt)
    assert [(item.id, item.answer_text, item.ecgs) for item in redealt] == [
        (item.id, item.answer_text, item.ecgs) for item in built if item.id in kept]
    for item in redealt:
        assert "T abnormality" not in set(item.choices) - {item.answer_text} or "T abnormality" not in item.meta["excluded"]
        assert item.question.endswith("Options: " + "; ".join(f"{'ABCD'[i]}: {t}" for i, t in enumerate(item.choices)) + ".")
        assert item.answer == f"{'ABCD'[item.answer_index]}: {item.answer_text}"


def test_resuming_over_other_items_is_refused(built_dataset, parts, tmp_path):
    from heartcare.errors import ConfigError

    out = tmp_path / "pinned"
    run(built_dataset, parts, out, max_steps=1, bench_tasks=("closed-*",))
    with pytest.raises(ConfigError, match="other items"):
        run(built_dataset, parts, out, resume=True, max_steps=1, bench_tasks=("comparison-*",))
    run(built_dataset, parts, out, resume=True, max_steps=1, bench_tasks=("closed-*",))  # the same items resume


def test_resuming_as_another_model_is_refused(built_dataset, parts, tmp_path):
    """A changed preset default or model flag must not silently retrain the saved tensors as another model."""
    from heartcare.errors import ConfigError

    out = tmp_path / "pinned-model"
    run(built_dataset, parts, out, max_steps=1)
    assert json.loads((out / "model.json").read_text())["answer_format"] == "letter-first"
    with pytest.raises(ConfigError, match=r"another model \(answer_format 'letter-first' -> 'text-first'\)"):
        run(built_dataset, parts, out, resume=True, max_steps=1, model={"answer_format": "text-first"})
    with pytest.raises(ConfigError, match="signal_summary False -> True"):
        run(built_dataset, parts, out, resume=True, max_steps=1, model={"signal_summary": True})
    run(built_dataset, parts, out, resume=True, max_steps=1)  # the same model resumes


def test_a_cache_of_other_records_is_refused(built_dataset, parts, tmp_path):
    """Record ids of another build mean other ECGs: training must not read their features."""
    import shutil

    from heartcare.errors import ConfigError
    from heartcare.train.gpt_run import train_gpt

    features = Path(shutil.copytree(parts["features"], tmp_path / "features"))
    manifest = json.loads((features / "manifest.json").read_text())
    manifest["dataset_records"] = "another build"
    (features / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="another dataset"):
        train_gpt(built_dataset, features, "warmup", "tiny", tmp_path / "out", progress=False,
                  model_changes={"backbone": str(parts["backbone"]), "signal_dim": 32})
