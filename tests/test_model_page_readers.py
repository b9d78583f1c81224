"""Picture finding readers that also read what the digitiser reads off the page: cached beside an old
cache, refitted into a trained model, read the same way by `ask` and by a bench run without a cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.ecg.morphology import NAMES  # noqa: E402
from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model.page_cache import page_width  # noqa: E402


def _copy_of(features, folder):
    """The shared tiny cache copied, so that adding to it leaves the other tests' cache as built."""
    shutil.copytree(features, folder)
    return folder


def _expected(bench, record) -> tuple[np.ndarray, str | None]:
    from heartcare.render.digitize import page_morphology_of_file

    return page_morphology_of_file(str(bench.image_paths(record)[0]))


def test_an_old_cache_gets_each_pictures_page_reading_shard_by_shard_and_resumes(built_dataset, gpt_parts, tmp_path, monkeypatch):
    from test_model_texture_readers import stopping_on_the_ninth

    from heartcare.bench.dataset import BenchDataset
    from heartcare.errors import DatasetLayoutError
    from heartcare.model import page_cache
    from heartcare.model.feature_cache import FeatureCache

    folder = _copy_of(gpt_parts["features"], tmp_path / "cache")
    record = next(iter(FeatureCache(folder)._shard_of))
    assert not FeatureCache(folder).has(record, f"page/{record}/0")
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(page_cache, "picture_pages", stopping_on_the_ninth(page_cache.picture_pages))
        page_cache.add_page_morphology(folder, built_dataset, progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert list(manifest["page_shards"]) == ["shard-00000.safetensors"] and not list(folder.glob(".*.tmp"))
    assert page_cache.add_page_morphology(folder, built_dataset, progress=False) == len(manifest["shards"]) - 1
    assert page_cache.add_page_morphology(folder, built_dataset, progress=False) == 0
    cache, bench = FeatureCache(folder), BenchDataset(built_dataset)
    unread = json.loads((folder / "manifest.json").read_text())["page_unread"]
    for record in cache._shard_of:
        expected, reason = _expected(bench, record)
        reading = cache.page(record)
        assert reading.shape == (page_width(),) and np.array_equal(reading, expected)
        assert (reading[-1] == 1.0) == (reason is None)  # the flag says whether the page was read
        assert unread.get(f"page/{record}/0") == reason  # every page not read is listed with its reason
    assert any(cache.page(record)[-1] == 1.0 for record in cache._shard_of)  # the 40-dpi pages: some read, some not
    import pyarrow.parquet as pq

    from heartcare.render.digitize import page_morphology_of_file

    contexts = {row["record_id"]: row["context_image"] for row in pq.read_table(built_dataset / "records.parquet").to_pylist()
                if row.get("context_image")}
    assert contexts  # the drawn prediction contexts are pictures too
    for record, relative in contexts.items():
        expected, reason = page_morphology_of_file(str(built_dataset / relative))
        assert np.array_equal(cache.page(record, context=True), expected) and unread.get(f"context_page/{record}") == reason
    assert np.array_equal(cache.signal(record), FeatureCache(gpt_parts["features"]).signal(record))  # the rest kept
    with pytest.raises(DatasetLayoutError, match="not a HeartAgent dataset"):
        page_cache.add_page_morphology(folder, tmp_path, progress=False)


def test_worker_processes_write_what_one_process_writes(built_dataset, gpt_parts, tmp_path, capsys):
    from heartcare.cli import main
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.page_cache import add_page_morphology

    one, two = (_copy_of(gpt_parts["features"], tmp_path / name) for name in ("one", "two"))
    add_page_morphology(one, built_dataset, progress=False)
    command = ["gpt", "features", str(built_dataset), "--out", str(two), "--add-page-morphology", "--quiet"]
    assert main([*command, "--workers", "0"]) != 0 and "--workers" in capsys.readouterr().err
    assert main([*command, "--workers", "2"]) == 0  # the command line, in two worker processes
    assert "page readings written for 3 shard(s)" in capsys.readouterr().out
    first, second = FeatureCache(one), FeatureCache(two)
    assert all(np.array_equal(first.page(record), second.page(record)) for record in first._shard_of)
    read = lambda folder: json.loads((folder / "manifest.json").read_text())["page_unread"]  # noqa: E731
    assert read(one) == read(two)


def test_the_page_is_a_column_group_of_its_own_and_of_the_measured_columns():
    from heartcare.model.config import GptConfig
    from heartcare.model.findings import _fit_on_chosen_columns, input_groups
    from heartcare.render.texture import texture_width

    config = GptConfig(beat="b", findings=(("k", ("a", "b")),), image_findings=True, image_feature_dim=8, image_finding_views=12,
                       image_finding_texture=True, image_finding_page=True)
    groups = input_groups(config, "image")
    views = 14 * 8
    assert list(groups) == ["views", "texture", "page", "measured", "all"]
    assert groups["texture"] == slice(views, views + texture_width())
    assert groups["page"] == slice(views + texture_width(), views + texture_width() + page_width())
    measured = groups["measured"].tolist()
    assert measured == list(range(16)) + list(range(views, views + texture_width() + page_width()))  # summary, texture, page
    assert groups["all"] == slice(0, views + texture_width() + page_width())
    assert list(input_groups(config, "signal")) == ["all"]

    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 2, (300,), generator=generator)
    width = views + texture_width() + page_width()
    inputs = torch.randn(300, width, generator=generator)
    inputs[:, 3] += targets * 2.0  # half the signal in the features' summary, half in the page reading
    inputs[:, views + texture_width() + 5] += targets * 2.0
    classifier, chosen = _fit_on_chosen_columns(inputs[:200], targets[:200], 2, groups, inputs[200:], targets[200:])
    assert chosen == "measured"
    outside = torch.ones(width, dtype=torch.bool)
    outside[groups["measured"]] = False
    assert not classifier.weight[:, outside].any() and classifier.weight[:, [3, views + texture_width() + 5]].abs().min() > 0


def test_the_page_reading_needs_picture_finding_tokens():
    from heartcare.model.config import GptConfig

    with pytest.raises(ConfigError, match="image_finding_page"):
        GptConfig(beat="b", findings=(("k", ("a", "b")),), image_finding_page=True)


@pytest.fixture(scope="module")
def refitted(built_dataset, gpt_parts, tmp_path_factory):
    from heartcare.model.page_cache import add_page_morphology
    from heartcare.model.refit import refit_readers
    from heartcare.train.gpt_run import train_gpt

    root = tmp_path_factory.mktemp("page-refit")
    features = _copy_of(gpt_parts["features"], root / "features")
    add_page_morphology(features, built_dataset, progress=False)
    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32}
    run = train_gpt(built_dataset, features, "warmup", "tiny", root / "warmup", model_changes=changes, progress=False,
                    finding_tokens=True)
    report = refit_readers(run.out, built_dataset, features, root / "page", {"image_finding_page": True})
    return run.out, root / "page", features, report


def test_a_refit_with_the_page_widens_the_picture_readers_by_its_reading(refitted):
    from heartcare.model.checkpoint import from_pretrained

    source, out, _, report = refitted
    before, after = from_pretrained(source, load_encoders=False), from_pretrained(out, load_encoders=False)
    assert after.config.image_finding_page and not before.config.image_finding_page
    assert (after.image_finding_projector.classifiers[0].in_features
            == before.image_finding_projector.classifiers[0].in_features + page_width())
    assert report["image_finding_projector"]["records"] > 0


def test_a_refitted_model_reads_the_page_from_the_cache_from_a_picture_and_without_a_cache(refitted, built_dataset):
    from test_model_texture_readers import first_picture_reading

    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.models.heartcare_gpt import DatasetFeatures
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.examples import needed_keys
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.findings import reads_finding

    _, out, features, _ = refitted
    model = from_pretrained(out)
    cache, bench = FeatureCache(features), BenchDataset(built_dataset)
    picture, record, row = first_picture_reading(model, cache, bench)
    assert np.array_equal(row[0, -page_width():], cache.page(record))
    assert (record, f"page/{record}/0") in needed_keys(picture, model.config)
    signal_item = next(item for item in bench.items("test") if reads_finding(item, "S"))
    assert not any(key.startswith("page/") for _, key in needed_keys(signal_item, model.config))  # a signal item reads no page
    computed = DatasetFeatures(bench, model.beat, model.image_encoder, model.config.image_view, pages=True)
    assert np.array_equal(computed.page(record), _expected(bench, record)[0])  # a bench run on another build digitises


def test_ask_reads_the_page_of_a_real_ecg_drawn_on_the_datasets_sheet(refitted):
    """pydicom's packaged ECG (RR 982 ms: 61 bpm) drawn on the 3 x 4 + II sheet; the digitiser reads it
    back and the finding input carries what it read, rate included."""
    pydicom = pytest.importorskip("pydicom")
    from heartcare.ecg.read import read_ecg
    from heartcare.model.ask import ecg_features
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.features import drawn_page

    _, out, _, _ = refitted
    model = from_pretrained(out)
    ecg = read_ecg(pydicom.data.get_testdata_file("waveform_ecg.dcm"))
    reading = ecg_features(model, None, drawn_page(ecg, "3x4+II")).image_finding[0, -page_width():]
    assert reading[-1] == 1.0  # read
    assert abs(reading[NAMES.index("hr_bpm_scaled")] * 100.0 - 61.1) < 3.0


def test_refit_names_what_the_readers_read(refitted, tmp_path, capsys):
    from heartcare.cli import main

    source, _, features, _ = refitted
    assert main(["gpt", "refit", str(source), "--data", str(features), "--features", str(features), "--out", str(tmp_path / "x")]) != 0
    assert "--image-finding-page" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_training_from_scratch_with_the_page_and_the_valid_prior_fits_what_a_refit_fits(refitted, built_dataset, gpt_parts, tmp_path):
    """`gpt train --finding-tokens --image-finding-texture --image-finding-page --answer-prior valid`: one
    fit at the start, the same readers (and the same prior shift kept) as a warm-up refitted with them."""
    from test_model_texture_readers import _test_items_as_valid

    from heartcare.model import answer_prior
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.refit import refit_readers
    from heartcare.render.texture import texture_width
    from heartcare.train.gpt_run import train_gpt

    source, _, features, _ = refitted
    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32}
    with pytest.MonkeyPatch.context() as patch:
        _test_items_as_valid(patch)
        patch.setattr(answer_prior, "chosen_share", lambda *args: 0.75)
        refit_readers(source, built_dataset, features, tmp_path / "refit", {"image_finding_texture": True, "image_finding_page": True},
                      answer_prior="valid")
        run = train_gpt(built_dataset, features, "warmup", "tiny", tmp_path / "scratch", model_changes=changes, progress=False,
                        finding_tokens=True, picture_columns=("texture", "page"), answer_prior="valid", stage_changes={"max_steps": 1},
                        frozen_parts=("finding_readers",))
    scratch, refit, plain = (from_pretrained(folder, load_encoders=False) for folder in (run.out, tmp_path / "refit", source))
    assert scratch.config.image_finding_texture and scratch.config.image_finding_page
    assert (scratch.image_finding_projector.classifiers[0].in_features
            == plain.image_finding_projector.classifiers[0].in_features + texture_width() + page_width())
    for name in ("finding_projector", "image_finding_projector"):
        ours, theirs = getattr(scratch, name), getattr(refit, name)
        assert ours.answer_prior_shift.any() and torch.allclose(ours.answer_prior_shift, theirs.answer_prior_shift, atol=1e-6)
        for mine, its in zip(ours.classifiers, theirs.classifiers, strict=True):
            assert torch.allclose(mine.weight, its.weight, atol=1e-4) and torch.allclose(mine.bias, its.bias, atol=1e-4)


def test_training_with_a_picture_column_the_cache_lacks_or_from_a_trained_model_is_refused(refitted, built_dataset, gpt_parts,
                                                                                          tmp_path, capsys):
    from heartcare.cli import main

    source, _, features, _ = refitted
    common = ["gpt", "train", "--data", str(built_dataset), "--stage", "warmup", "--preset", "tiny", "--quiet"]
    assert main([*common, "--features", str(gpt_parts["features"]), "--finding-tokens", "--image-finding-page",
                 "--backbone", str(gpt_parts["backbone"]), "--out", str(tmp_path / "a")]) != 0
    assert "--add-page-morphology" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main([*common, "--features", str(features), "--init", str(source), "--answer-prior", "valid", "--out", str(tmp_path / "b")]) != 0
    assert "gpt refit" in capsys.readouterr().err and not (tmp_path / "b").exists()
