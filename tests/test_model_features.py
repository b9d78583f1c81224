"""The feature cache: every record's Beat latents and image features, resumable, checked against its source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")


@pytest.fixture(scope="module")
def small_beat(tmp_path_factory) -> Path:
    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat

    torch.manual_seed(0)
    config = BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16, mlp_ratio=2, codebook_size=16)
    return build_beat(config).save_pretrained(tmp_path_factory.mktemp("features") / "beat")


@pytest.fixture(scope="module")
def cache_folder(built_dataset, small_beat, tmp_path_factory) -> Path:
    from heartcare.model.feature_cache import build_feature_cache

    return build_feature_cache(built_dataset, str(small_beat), "tiny", out=tmp_path_factory.mktemp("features") / "cache",
                               shard_size=10, progress=False)


def test_every_record_gets_its_streams_with_the_right_shapes(built_dataset, cache_folder):
    import pyarrow.parquet as pq

    from heartcare.model.feature_cache import FeatureCache

    cache = FeatureCache(cache_folder)
    records = pq.read_table(built_dataset / "records.parquet").to_pylist()
    assert all(row["record_id"] in cache for row in records)
    for row in records:
        windows = -(-row["signal_samples"] // 1000)
        assert cache.signal(row["record_id"]).shape == (windows * 20, 32)
        assert cache.image(row["record_id"], 0).shape == (12, 16)  # 12 lead crops of the paper image
        if row["prediction_start"] is not None and row["prediction_start"] >= 0:
            assert cache.context(row["record_id"]).shape == (20, 32)
            assert cache.context_image(row["record_id"]).shape == (12, 16)
    first, second = records[0]["record_id"], records[1]["record_id"]
    assert not np.allclose(cache.signal(first)[-20:], cache.signal(second)[-20:])


def test_cached_latents_equal_beat_on_the_stored_signal(built_dataset, cache_folder, small_beat):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.ecg.leads import STANDARD_LEADS
    from heartcare.ecg.record import Ecg
    from heartcare.model.build import load_beat
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.features import signal_latents

    dataset, cache, beat = BenchDataset(built_dataset), FeatureCache(cache_folder), load_beat(small_beat, 32)
    record_id = sorted(dataset.records)[3]
    signal, fs = dataset.signal(record_id)
    direct = signal_latents(beat, Ecg(signal, fs, list(STANDARD_LEADS)))
    assert np.allclose(cache.signal(record_id), direct, atol=2e-2)  # stored as float16
    swapped = signal.copy()
    swapped[[1, 6]] = swapped[[6, 1]]  # II and V1 exchanged (unlike shapes; I and II can quantise alike): other latents
    assert not np.allclose(signal_latents(beat, Ecg(swapped, fs, list(STANDARD_LEADS))), direct, atol=2e-2)


def test_an_interrupted_build_resumes_to_the_same_cache(built_dataset, small_beat, cache_folder, tmp_path, monkeypatch):
    from safetensors.numpy import load_file

    from heartcare.errors import ConfigError
    from heartcare.model import feature_cache

    out = tmp_path / "cache"
    calls = {"count": 0}
    original = feature_cache._record_tensors

    def failing(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 15:  # inside the second shard
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(feature_cache, "_record_tensors", failing)
    with pytest.raises(KeyboardInterrupt):
        feature_cache.build_feature_cache(built_dataset, str(small_beat), "tiny", out=out, shard_size=10, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [shard["file"] for shard in manifest["shards"]] == ["shard-00000.safetensors"]
    assert not list(out.glob(".*.tmp"))
    with pytest.raises(ConfigError, match="--resume"):
        feature_cache.build_feature_cache(built_dataset, str(small_beat), "tiny", out=out, shard_size=10, progress=False)
    monkeypatch.setattr(feature_cache, "_record_tensors", original)
    feature_cache.build_feature_cache(built_dataset, str(small_beat), "tiny", out=out, shard_size=10, resume=True, progress=False)
    for shard in sorted(cache_folder.glob("shard-*.safetensors")):
        expected, resumed = load_file(str(shard)), load_file(str(out / shard.name))
        assert expected.keys() == resumed.keys()
        assert all(np.array_equal(expected[key], resumed[key]) for key in expected)


def test_a_cache_refuses_a_different_beat_on_resume(built_dataset, cache_folder, tmp_path):
    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat
    from heartcare.errors import ConfigError
    from heartcare.model.feature_cache import build_feature_cache

    torch.manual_seed(1)
    other = build_beat(BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                                  mlp_ratio=2, codebook_size=16)).save_pretrained(tmp_path / "other")
    with pytest.raises(ConfigError, match="made from"):
        build_feature_cache(built_dataset, str(other), "tiny", out=cache_folder, shard_size=10, resume=True, progress=False)


def test_a_larger_limit_extends_a_cache_to_the_same_shards(built_dataset, small_beat, cache_folder, tmp_path):
    from safetensors.numpy import load_file

    from heartcare.errors import ConfigError
    from heartcare.model.feature_cache import FeatureCache, build_feature_cache

    def build(out, limit, resume=False):
        return build_feature_cache(built_dataset, str(small_beat), "tiny", out=out, shard_size=10, limit=limit, resume=resume,
                                   progress=False)

    grown = build(tmp_path / "grown", 20)
    assert len(FeatureCache(grown).manifest["shards"]) == 2
    with pytest.raises(ConfigError, match="larger --limit"):
        build(grown, 10, resume=True)
    build(grown, None, resume=True)
    full = sorted(path.name for path in cache_folder.glob("shard-*.safetensors"))
    assert sorted(path.name for path in grown.glob("shard-*.safetensors")) == full
    for name in full:
        expected, extended = load_file(str(cache_folder / name)), load_file(str(grown / name))
        assert expected.keys() == extended.keys()
        assert all(np.array_equal(expected[key], extended[key]) for key in expected)
    assert FeatureCache(grown).manifest["selection"]["limit"] is None
    manifest = json.loads((grown / "manifest.json").read_text())
    del manifest["dataset_card"], manifest["dataset_records"]  # a cache from before either was recorded adopts
    (grown / "manifest.json").write_text(json.dumps(manifest))                  # the dataset it is resumed with
    build(grown, None, resume=True)
    assert FeatureCache(grown).serves(built_dataset)
    manifest["dataset_records"] = "another build"
    (grown / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="another dataset"):
        build(grown, None, resume=True)
    short = build(tmp_path / "short", 15)  # its second shard holds 5 records: a larger limit would misplace records
    with pytest.raises(ConfigError, match="would not line up"):
        build(short, 30, resume=True)


def test_features_computed_on_demand_equal_the_cached_ones(built_dataset, small_beat, cache_folder):
    import pyarrow.parquet as pq

    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.models.heartcare_gpt import DatasetFeatures
    from heartcare.model.build import load_beat
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.image_encoders import build_image_encoder

    computed = DatasetFeatures(BenchDataset(built_dataset), load_beat(small_beat, 32), build_image_encoder("tiny").eval(), "crops")
    cache = FeatureCache(cache_folder)
    rows = [row for row in pq.read_table(built_dataset / "records.parquet").to_pylist() if row["context_image"]][:2]
    assert rows
    for row in rows:
        record = row["record_id"]
        assert np.allclose(computed.image(record, 0), cache.image(record, 0), atol=1e-3)
        assert np.allclose(computed.signal(record), cache.signal(record), atol=2e-2)
        assert np.allclose(computed.context_image(record), cache.context_image(record), atol=1e-3)
        assert not np.allclose(computed.context_image(record), computed.image(record, 0), atol=1e-3)
        assert np.allclose(computed.context(record), cache.context(record), atol=2e-2)


def test_a_cache_serves_a_rebuild_with_the_same_records_and_no_other(built_dataset, cache_folder, tmp_path):
    """Valid/test balanced again (a new card, the same records and files): the features still hold; a changed record does not."""
    import shutil

    from heartcare.errors import ConfigError
    from heartcare.model.feature_cache import FeatureCache, build_feature_cache, card_digest

    rebuilt = Path(shutil.copytree(built_dataset, tmp_path / "rebuilt"))
    card = json.loads((rebuilt / "dataset.json").read_text())
    card["balance_note"] = "valid and test dealt again"
    (rebuilt / "dataset.json").write_text(json.dumps(card))
    assert card_digest(rebuilt) != card_digest(built_dataset)
    cache = FeatureCache(cache_folder)
    assert cache.serves(built_dataset) and cache.serves(rebuilt)

    legacy = Path(shutil.copytree(cache_folder, tmp_path / "legacy"))  # made before the records digest was kept
    manifest = json.loads((legacy / "manifest.json").read_text())
    del manifest["dataset_records"]
    (legacy / "manifest.json").write_text(json.dumps(manifest))
    assert FeatureCache(legacy).serves(built_dataset) and not FeatureCache(legacy).serves(rebuilt)
    build_feature_cache(built_dataset, cache.source.beat, "tiny", out=legacy, shard_size=10, resume=True, progress=False)
    assert FeatureCache(legacy).serves(rebuilt)  # resumed on its own build, it learns the records digest

    signal = sorted((rebuilt / "signals").rglob("*.npy"))[0]
    signal.write_bytes(signal.read_bytes() + b"\0" * 8)  # one signal file changed: the latents no longer hold
    assert not cache.serves(rebuilt)
    with pytest.raises(ConfigError, match="another dataset"):
        build_feature_cache(rebuilt, cache.source.beat, "tiny", out=legacy, shard_size=10, resume=True, progress=False)
    shutil.copy(built_dataset / "records.parquet", rebuilt / "records.parquet")
    other = Path(shutil.copytree(built_dataset, tmp_path / "other"))
    records = other / "records.parquet"
    records.write_bytes(records.read_bytes()[:-1] + b"\1")
    assert not cache.serves(other)
