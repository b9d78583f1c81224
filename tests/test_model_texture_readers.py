"""Picture finding readers that also read the page's trace texture: cached, added to old caches, refitted into a trained model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from heartcare.errors import ConfigError  # noqa: E402
from heartcare.render.texture import texture_width, trace_texture  # noqa: E402


def _old_cache(built_dataset, beat, out, monkeypatch):
    """A feature cache as built before texture was cached (same layout, no texture keys)."""
    from heartcare.model import feature_cache

    with monkeypatch.context() as patch:
        patch.setattr(feature_cache, "picture_textures", lambda *args, **kwargs: {})
        return feature_cache.build_feature_cache(built_dataset, str(beat), "tiny", out=out, shard_size=8, progress=False)


def stopping_on_the_ninth(real):
    """`real`, but the ninth call (the first record of a cache's second 8-record shard) ends the session there."""
    calls = []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == 9:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return stopping


def test_an_old_cache_gets_each_pictures_texture_shard_by_shard_and_resumes(built_dataset, gpt_parts, tmp_path, monkeypatch):
    import json

    from heartcare.model import feature_cache
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.features import read_picture
    from heartcare.model.texture_cache import add_texture

    folder = _old_cache(built_dataset, gpt_parts["beat"], tmp_path / "old", monkeypatch)
    record = next(iter(FeatureCache(folder)._shard_of))
    assert not FeatureCache(folder).has(record, f"texture/{record}/0")
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(feature_cache, "picture_textures", stopping_on_the_ninth(feature_cache.picture_textures))
        add_texture(folder, built_dataset, progress=False)
    listed = json.loads((folder / "manifest.json").read_text())["texture_shards"]
    assert list(listed) == ["shard-00000.safetensors"] and not list(folder.glob(".*.tmp*"))[1:]
    shards = len(json.loads((folder / "manifest.json").read_text())["shards"])
    assert add_texture(folder, built_dataset, progress=False) == shards - 1  # resumed past the finished shard
    assert add_texture(folder, built_dataset, progress=False) == 0
    cache, fresh = FeatureCache(folder), FeatureCache(gpt_parts["features"])  # built since: texture in its own shards
    from heartcare.bench.dataset import BenchDataset

    bench = BenchDataset(built_dataset)
    for record in list(cache._shard_of)[::5]:
        expected = trace_texture(read_picture(bench.image_paths(record)[0]))
        assert np.allclose(cache.texture(record), expected, rtol=2e-3, atol=2e-3)
        assert np.array_equal(cache.texture(record), fresh.texture(record))
    from heartcare.errors import DatasetLayoutError

    with pytest.raises(DatasetLayoutError, match="not a HeartAgent dataset"):
        add_texture(folder, tmp_path, progress=False)


def test_each_kind_reads_the_column_group_that_reads_it_best_on_valid_or_on_held_out_train_items():
    from heartcare.model.findings import _fit_classifier, _fit_on_chosen_columns

    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 3, (300,), generator=generator)
    informative = torch.nn.functional.one_hot(targets, 3).float() + 0.3 * torch.randn(300, 3, generator=generator)
    many = torch.randn(300, 400, generator=generator)  # the wide group says nothing
    inputs = torch.cat([many, informative], dim=1)
    groups = {"views": slice(0, 400), "texture": slice(400, 403), "all": slice(0, 403)}
    classifier, chosen = _fit_on_chosen_columns(inputs[:200], targets[:200], 3, groups, inputs[200:], targets[200:])
    assert chosen == "texture" and not classifier.weight[:, :400].any() and classifier.weight[:, 400:].abs().sum() > 0
    assert (classifier(inputs[200:]).argmax(-1) == targets[200:]).float().mean() > 0.9
    swapped = torch.cat([informative, many], dim=1)  # the same data with the groups the other way round
    _, chosen = _fit_on_chosen_columns(swapped[:200], targets[:200], 3, {"views": slice(0, 3), "texture": slice(3, 403),
                                                                          "all": slice(0, 403)}, swapped[200:], targets[200:])
    assert chosen == "views"
    classifier, chosen = _fit_on_chosen_columns(inputs[:200], targets[:200], 3, groups, None, None)
    assert chosen == "texture" and not classifier.weight[:, :400].any()  # no valid items: chosen on every 5th train item
    fitted_on_all = _fit_classifier(inputs[:200, 400:], targets[:200], 3)
    assert torch.allclose(classifier.weight[:, 400:], fitted_on_all.weight)  # ... then fitted on all of them
    _, chosen = _fit_on_chosen_columns(inputs[:99], targets[:99], 3, groups, None, None)
    assert chosen == "all"  # too few to hold any out


@pytest.fixture(scope="module")
def refitted(built_dataset, gpt_parts, tmp_path_factory):
    from heartcare.model.refit import refit_readers
    from heartcare.train.gpt_run import train_gpt

    root = tmp_path_factory.mktemp("refit")
    changes = {"backbone": str(gpt_parts["backbone"]), "signal_dim": 32}
    run = train_gpt(built_dataset, gpt_parts["features"], "warmup", "tiny", root / "warmup", model_changes=changes,
                    progress=False, finding_tokens=True)
    with pytest.MonkeyPatch.context() as patch:
        _test_items_as_valid(patch)
        report = refit_readers(run.out, built_dataset, gpt_parts["features"], root / "texture", {"image_finding_texture": True})
    return run.out, root / "texture", report


def _test_items_as_valid(patch) -> None:
    """The 24-record build's one valid patient has no closed items; its test items stand in for valid here,
    so that the choices made on valid (columns, prior share) are made at all."""
    from heartcare.bench.dataset import BenchDataset

    items = BenchDataset.items
    patch.setattr(BenchDataset, "items", lambda self, split: items(self, "test" if split == "valid" else split))


def test_a_refit_widens_only_the_picture_readers_and_keeps_what_the_language_model_learned(refitted):
    from heartcare.model.checkpoint import from_pretrained, trained_state

    source, out, report = refitted
    before, after = from_pretrained(source, load_encoders=False), from_pretrained(out, load_encoders=False)
    assert after.config.image_finding_texture and not before.config.image_finding_texture
    old, new = before.image_finding_projector, after.image_finding_projector
    assert new.classifiers[0].in_features == old.classifiers[0].in_features + texture_width()
    assert all(torch.equal(kept, rows) for kept, rows in zip(old.answers, new.answers, strict=True))  # trained rows carried over
    state_before, state_after = trained_state(before), trained_state(after)
    for key in ("lora", "token_rows"):
        assert state_before[key].keys() == state_after[key].keys()
        assert all(torch.equal(state_before[key][name], state_after[key][name]) for name in state_before[key])
    untouched = [name for name in state_before["projectors"] if not name.startswith("image_finding_projector.")]
    assert untouched and all(torch.equal(state_before["projectors"][name], state_after["projectors"][name]) for name in untouched)
    kinds = {kind: entry for kind, entry in report["image_finding_projector"].items() if isinstance(entry, dict) and "columns" in entry}
    assert kinds and {entry["columns"] for entry in kinds.values()} - {"all"}  # chosen on (stand-in) valid items
    width = new.classifiers[0].in_features
    views = width - texture_width()
    for index, (kind, _) in enumerate(after.config.findings):
        weight = new.classifiers[index].weight
        if kind in kinds and kinds[kind]["columns"] == "views":
            assert not weight[:, views:].any()
        if kind in kinds and kinds[kind]["columns"] == "texture":
            assert not weight[:, :views].any()


def first_picture_reading(model, cache, bench):
    """(the first picture finding item of test, its record, what the model's picture readers read of it from `cache`)."""
    from heartcare.model.examples import item_features
    from heartcare.model.findings import reads_finding

    picture = next(item for item in bench.items("test") if reads_finding(item, "I"))
    row = item_features(picture, cache, model.config)[0].image_finding
    assert row.shape == (1, model.image_finding_projector.classifiers[0].in_features)
    return picture, picture.ecgs[0].record_id, row


def test_a_refitted_model_reads_each_pictures_texture_from_the_cache_and_from_a_picture(refitted, built_dataset, gpt_parts):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.ask import ecg_features
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.examples import needed_keys
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.features import read_picture

    _, out, _ = refitted
    model = from_pretrained(out)
    cache = FeatureCache(gpt_parts["features"])
    bench = BenchDataset(built_dataset)
    picture, record, row = first_picture_reading(model, cache, bench)
    assert np.array_equal(row[0, -texture_width():], cache.texture(record))
    assert (record, f"texture/{record}/0") in needed_keys(picture, model.config)
    page = read_picture(bench.image_paths(record)[0])
    asked = ecg_features(model, None, page).image_finding
    assert np.allclose(asked[0, -texture_width():], trace_texture(page))  # `ask` reads the page it is given


def test_a_refit_refuses_other_settings_and_its_own_folder(refitted, built_dataset, gpt_parts, tmp_path):
    from heartcare.model.refit import refit_readers

    source, _, _ = refitted
    with pytest.raises(ConfigError, match="cannot be refitted"):
        refit_readers(source, built_dataset, gpt_parts["features"], tmp_path / "x", {"lora_rank": 8})
    with pytest.raises(ConfigError, match="new folder"):
        refit_readers(source, built_dataset, gpt_parts["features"], source, {"image_finding_texture": True})


def test_a_refit_for_balanced_questions_takes_the_chosen_share_of_the_train_prior_out_of_each_reader(refitted, built_dataset, gpt_parts,
                                                                                                   tmp_path):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.answer_prior import log_prior
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.findings import STREAMS, _sample
    from heartcare.model.refit import refit_readers

    source, kept_prior, _ = refitted
    from heartcare.model import answer_prior

    with pytest.MonkeyPatch.context() as patch:
        _test_items_as_valid(patch)
        # on 5 stand-in valid items the best share is often 0, which would leave nothing to see: 0.75 is taken here
        # (the choice itself: tests/test_model_answer_prior.py)
        patch.setattr(answer_prior, "chosen_share", lambda *args: 0.75)
        report = refit_readers(source, built_dataset, gpt_parts["features"], tmp_path / "balanced", {"image_finding_texture": True},
                               answer_prior="valid")
    assert set(report) == {"finding_projector", "image_finding_projector"}  # both streams refitted
    plain, balanced = from_pretrained(kept_prior, load_encoders=False), from_pretrained(tmp_path / "balanced", load_encoders=False)
    bench, cache = BenchDataset(built_dataset), FeatureCache(gpt_parts["features"])
    checked = 0
    for stream, (modality, name) in STREAMS.items():
        train = _sample(bench.items("train"), 0, modality)
        for index, (kind, answers) in enumerate(balanced.config.findings):
            entry = report[name].get(kind, {})
            if "prior_share" not in entry:
                continue
            targets = torch.tensor([answers.index(item.choices[item.answer_index]) for item in train[kind]
                                    if item.choices[item.answer_index] in answers and item.ecgs[0].record_id in cache])
            assert entry["prior_share"] == 0.75
            ours, theirs = getattr(balanced, name).classifiers[index], getattr(plain, name).classifiers[index]
            # the share taken out is kept beside the bias, to be put back where a question does not ask the kind
            kept = getattr(balanced, name).answer_prior_shift.split([len(words) for _, words in balanced.config.findings])[index]
            assert torch.allclose(kept, 0.75 * log_prior(targets, len(answers)), atol=1e-6)
            if stream == "image":  # the same fit as the refit that keeps the prior, bias moved by the chosen share
                assert torch.allclose(ours.weight, theirs.weight)
                assert torch.allclose(ours.bias, theirs.bias - entry["prior_share"] * log_prior(targets, len(answers)), atol=1e-5)
            checked += 1
    assert checked > 0
    assert not any(getattr(plain, name).answer_prior_shift.any() for _, name in STREAMS.values())  # a fit keeping the prior


def test_a_bench_run_without_a_cache_reads_each_pictures_texture_from_the_page(built_dataset):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.models.heartcare_gpt import DatasetFeatures
    from heartcare.model.features import read_picture
    from heartcare.model.image_encoders import build_image_encoder

    bench = BenchDataset(built_dataset)
    features = DatasetFeatures(bench, None, build_image_encoder("tiny").eval(), "crops")
    record = next(item.ecgs[0].record_id for item in bench.items("test") if item.ecgs[0].modality == "I")
    expected = trace_texture(read_picture(bench.image_paths(record)[0]))
    assert np.allclose(features.texture(record), expected, rtol=2e-3, atol=2e-3) and expected[-1] == 1.0
