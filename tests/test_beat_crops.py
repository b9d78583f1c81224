"""Random-offset training crops: normalisation matches the window path, crops are seeded and in range,
and a training run fed by crops resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.crops import RecordCrops, RecordSet, normalize_batch  # noqa: E402
from heartcare.beat.data import normalize_window  # noqa: E402
from heartcare.beat.model import build_beat  # noqa: E402
from heartcare.train.config import StageConfig  # noqa: E402
from heartcare.train.loop import train  # noqa: E402


def _records(count: int = 6, samples: int = 400) -> RecordSet:
    generator = np.random.default_rng(3)
    signal = generator.normal(size=(count, 12, samples)).astype(np.float32) * 0.4 + 0.2
    lengths = np.full(count, samples, dtype=np.int64)
    lengths[0] = 120  # a short record: left-padded with zeros, as Beat segments
    signal[0, :, : samples - 120] = 0
    mask = np.ones((count, 12), dtype=bool)
    mask[1, 7:] = False
    signal[1, 7:] = 0
    return RecordSet(signal, lengths, mask, [str(i) for i in range(count)])


def test_normalize_batch_matches_normalize_window() -> None:
    records = _records()
    for row in (1, 2):
        expected, _ = normalize_window(records.signal[row, :, :150], reference=100)
        got = normalize_batch(torch.from_numpy(records.signal[row : row + 1, :, :150]),
                              torch.from_numpy(records.lead_mask[row : row + 1]), 100)[0].numpy()
        assert np.allclose(got, expected * records.lead_mask[row][:, None], atol=1e-5)


def test_crops_are_seeded_in_range_and_normalised() -> None:
    config = preset("tiny")  # window = 150 samples
    crops = RecordCrops(_records(), config)
    batch = {"record": torch.tensor([0, 1, 2, 3, 4, 5, 2, 2])}
    first = crops(batch, torch.Generator().manual_seed(5))
    again = crops(batch, torch.Generator().manual_seed(5))
    other = crops(batch, torch.Generator().manual_seed(6))
    assert first["signal"].shape == (8, 12, config.context + config.horizon)
    assert torch.equal(first["signal"], again["signal"]) and not torch.equal(first["signal"], other["signal"])
    assert not torch.equal(first["signal"][2], first["signal"][6])  # same record, different offsets
    assert torch.allclose(first["signal"][2:, :, : config.context].mean(dim=2), torch.zeros(6, 12), atol=1e-5)
    assert not first["lead_mask"][1, 7:].any() and (first["signal"][1, 7:] == 0).all()
    # The short record (120 real samples) is used whole: its window starts with 30 padded
    # samples (constant per lead after mean removal, as in `prepare_window`).
    padded = first["signal"][0, :, :30]
    assert torch.allclose(padded, padded[:, :1].expand(-1, 30)) and first["signal"][0, :, 30:].std() > 0.1
    assert crops.index_data(3)["record"].tolist() == list(range(6)) * 3


def _stage(**changes) -> StageConfig:
    values = {"epochs": 2, "batch_size": 4, "learning_rate": 3e-3, "warmup_steps": 1, "progress": False}
    return StageConfig(**{**values, **changes})


def test_training_on_crops_resumes_exactly(tmp_path) -> None:
    config = preset("tiny")
    crops = RecordCrops(_records(), config)
    data = crops.index_data(2)  # 12 items -> 3 batches per epoch

    def model():
        torch.manual_seed(0)
        return build_beat(config)

    straight = model()
    train(straight, data, _stage(max_steps=5), tmp_path / "a", batch_transform=crops)
    first = model()
    train(first, data, _stage(max_steps=2), tmp_path / "b", batch_transform=crops)
    second = model()
    train(second, data, _stage(max_steps=5), tmp_path / "b", resume=True, batch_transform=crops)
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_crops_per_record_keep_the_epoch_size() -> None:
    from heartcare.beat.fit import CROPS_PER_EPOCH, crops_per_record

    budget = CROPS_PER_EPOCH["cpu-small"]
    assert crops_per_record(budget, 1_600) == 8  # a 2,000-record cohort's training folds
    assert crops_per_record(budget, 4_000) == 3
    assert crops_per_record(budget, 17_440) == 1  # PTB-XL size: every record still seen once
    assert crops_per_record(budget, 0) >= 1


def test_some_crops_start_with_left_padding_as_a_records_first_window() -> None:
    """Crops whose context starts before the record, zero there as when Beat segments a
    record's first window, are trained on (about a third by default)."""
    config = preset("tiny")  # context 100, window 150
    records = _records()
    rows = torch.tensor([2, 3, 4, 5] * 50)
    padded = RecordCrops(records, config, padded_share=1.0)({"record": rows}, torch.Generator().manual_seed(1))
    padding = padded["padding"]
    assert ((padding >= 1) & (padding <= config.context - 1)).all() and padding.unique().numel() > 20
    for index in range(8):  # the real part: the record's start, normalised on the real context samples
        row, pad = int(rows[index]), int(padding[index])
        assert (padded["signal"][index, :, :pad] == 0).all()
        start = records.signal.shape[2] - int(records.lengths[row])
        raw = records.signal[row, :, start : start + config.context + config.horizon - pad]
        expected, _ = normalize_window(raw, reference=config.context - pad)
        assert np.allclose(padded["signal"][index, :, pad:].numpy(), expected * records.lead_mask[row][:, None], atol=1e-4)
    plain = RecordCrops(records, config, padded_share=0.0)({"record": rows}, torch.Generator().manual_seed(1))
    assert (plain["padding"] == 0).all()
    default = RecordCrops(records, config)({"record": rows}, torch.Generator().manual_seed(1))
    assert 0.2 < float((default["padding"] > 0).float().mean()) < 0.5
    short = RecordCrops(records, config, padded_share=0.0)({"record": torch.tensor([0])}, torch.Generator())
    # A short record (120 of 150 samples) is always padded, by at least what it lacks.
    assert config.context + config.horizon - 120 <= int(short["padding"][0]) < config.context
    # The loss trains on padded crops and skips their padding (see test_beat_properties).
    model = build_beat(config)
    loss, _ = model(padded)
    assert torch.isfinite(loss)
