"""Beat on files and folders: token files, CLI train/eval/encode/decode/predict/ablate, baseline."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.baseline import KMeansBaseline, fit_baseline  # noqa: E402
from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.continuation import dominant_period, periodic_continuation  # noqa: E402
from heartcare.beat.data import normalize_window  # noqa: E402
from heartcare.beat.evaluate import code_usage, distortion  # noqa: E402
from heartcare.beat.files import decode_tokens, encode_ecg, predict_ecg  # noqa: E402
from heartcare.beat.model import build_beat  # noqa: E402
from heartcare.beat.scoring import windows_of_ecg  # noqa: E402
from heartcare.beat.tokens import TOKEN_VERSION, TokenFile  # noqa: E402
from heartcare.cli import main  # noqa: E402
from heartcare.ecg.record import Ecg  # noqa: E402
from heartcare.errors import ConfigError, InvalidSignalError, UnreadableFileError  # noqa: E402


def _ecg(seconds: float = 3.0, fs: float = 500.0, seed: int = 0) -> Ecg:
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * fs)) / fs
    beats = np.exp(-(((time % 0.8) - 0.4) ** 2) / 2e-4)  # a spike train at 75 bpm
    gains = rng.uniform(0.3, 1.5, size=(12, 1))
    return Ecg((gains * beats + 0.02 * rng.standard_normal((12, time.size))).astype(np.float32), fs)


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return build_beat(preset("tiny")).eval()


def test_normalize_window_uses_reference_part() -> None:
    signal = np.vstack([np.r_[np.ones(10), 100 * np.ones(5)]] * 2) + np.arange(15)
    window, stats = normalize_window(signal.astype(np.float32), reference=10)
    assert np.allclose(window[:, :10].mean(axis=1), 0, atol=1e-5)
    assert stats.std == pytest.approx(np.arange(10).std(), rel=1e-4)


def test_token_file_roundtrip_and_decode(tiny, tmp_path) -> None:
    tokens = encode_ecg(tiny, _ecg())
    config = tiny.config
    assert tokens.codes.shape == (tokens.windows * config.queries, config.levels)
    path = tokens.save(tmp_path / "rec.beat.safetensors")
    loaded = TokenFile.load(path)
    assert np.array_equal(loaded.codes, tokens.codes) and loaded.config == config
    assert loaded.padding == tokens.padding and loaded.stats.std == pytest.approx(tokens.stats.std)
    decoded = decode_tokens(tiny, loaded)
    assert decoded.fs == config.fs and decoded.samples == int(3.0 * config.fs)


def test_token_file_rejects_other_files(tmp_path) -> None:
    from safetensors.numpy import save_file

    save_file({"codes": np.zeros((2, 2), np.int16)}, str(tmp_path / "x.safetensors"), metadata={"format": "other"})
    with pytest.raises(UnreadableFileError, match="format"):
        TokenFile.load(tmp_path / "x.safetensors")
    save_file({"codes": np.zeros((2, 2), np.int16)}, str(tmp_path / "y.safetensors"),
              metadata={"format": "heartcare-beat-tokens", "version": str(TOKEN_VERSION + 1)})
    with pytest.raises(UnreadableFileError, match="newer"):
        TokenFile.load(tmp_path / "y.safetensors")
    (tmp_path / "z.safetensors").write_bytes(b"junk")
    with pytest.raises(UnreadableFileError):
        TokenFile.load(tmp_path / "z.safetensors")


def test_predict_and_scoring_windows(tiny) -> None:
    forecast = predict_ecg(tiny, _ecg())
    assert forecast.prediction.signal.shape == (12, tiny.config.horizon)
    scored = windows_of_ecg(_ecg(), tiny.config)
    assert scored.signal.shape[1:] == (12, tiny.config.context + tiny.config.horizon)
    assert scored.lead_mask.shape == (len(scored), 12) and (scored.scales > 0).all()


def test_metrics_are_right_on_known_inputs() -> None:
    x = np.random.default_rng(0).standard_normal((3, 12, 50)).astype(np.float32)
    mask = np.ones((3, 12), bool)
    perfect = distortion(x, x, mask)
    assert perfect["mse"] == 0 and perfect["prd_percent"] == 0 and perfect["pearson"] == pytest.approx(1.0)
    half = distortion(x, 0.5 * x, mask)
    assert half["prd_percent"] == pytest.approx(50.0, rel=1e-4)
    assert half["snr_db"] == pytest.approx(20 * np.log10(2), rel=1e-4)
    usage = code_usage(np.array([[[0, 1], [1, 1]]]), codebook_size=4)
    assert usage["usage_percent"] == [50.0, 25.0]
    assert usage["perplexity"][0] == pytest.approx(2.0) and usage["perplexity"][1] == pytest.approx(1.0)


def test_periodic_continuation_finds_the_period_and_repeats_it() -> None:
    fs, horizon = 250.0, 500
    time = np.arange(1000 + horizon) / fs
    signals = []
    for period in (0.6, 0.8, 1.25):  # 100, 75 and 48 bpm
        beats = np.exp(-(((time % period) - period / 2) ** 2) / 2e-4)
        signals.append(np.outer(np.linspace(0.5, 1.5, 12), beats))
    windows = np.stack(signals).astype(np.float32)
    context, future = windows[:, :, :1000], windows[:, :, 1000:]
    assert dominant_period(torch.from_numpy(context), fs).tolist() == [150, 200, 312]  # 0.6, 0.8, 1.25 s in samples (1.248 s)
    forecast = periodic_continuation(context, horizon, fs)
    assert forecast.shape == future.shape
    # Whole-sample periods repeat exactly; 1.25 s is not a whole number of samples (312.5) and drifts a little.
    assert np.abs(forecast[:2] - future[:2]).max() < 1e-6
    assert distortion(future[2:], forecast[2:], np.ones((1, 12), bool))["pearson"] > 0.5
    assert torch.equal(periodic_continuation(torch.from_numpy(context), horizon, fs), torch.from_numpy(forecast))
    with pytest.raises(ValueError, match="too short"):
        dominant_period(torch.from_numpy(context[:, :, :50]), fs)


def test_kmeans_baseline_matches_bits_and_learns(tmp_path) -> None:
    config = preset("tiny")
    rng = np.random.default_rng(0)
    windows = np.repeat(rng.standard_normal((1, 12, config.context + config.horizon)), 40, axis=0).astype(np.float32)
    baseline = fit_baseline(windows, config, iterations=5)
    assert baseline.bits_per_window(config.context) == config.bits_per_window
    rebuilt = baseline.reconstruct(np.ascontiguousarray(windows[:, :, : config.context]))
    assert distortion(windows[:, :, : config.context], rebuilt, np.ones((40, 12), bool))["prd_percent"] < 20
    baseline.save(tmp_path / "b.safetensors")
    assert np.array_equal(KMeansBaseline.load(tmp_path / "b.safetensors").centroids, baseline.centroids)


def test_cli_encode_decode_predict_on_folder(tiny, tmp_path, capsys) -> None:
    tiny.save_pretrained(tmp_path / "model")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for index in range(2):
        np.save(inputs / f"rec{index}.npy", _ecg(seed=index).signal)
    (inputs / "broken.npy").write_bytes(b"nope")
    assert main(["beat", "encode", str(inputs), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "tokens"), "--fs", "500"]) == 0
    assert sorted(p.name for p in (tmp_path / "tokens").glob("*.beat.safetensors")) == ["rec0.beat.safetensors", "rec1.beat.safetensors"]
    skipped = json.loads((tmp_path / "tokens" / "skipped-encode.json").read_text())
    assert skipped[0]["path"].endswith("broken.npy")
    assert main(["beat", "decode", str(tmp_path / "tokens"), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "decoded")]) == 0
    assert len(list((tmp_path / "decoded").glob("*.npy"))) == 2
    assert main(["beat", "predict", str(inputs / "rec0.npy"), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "pred"), "--fs", "500"]) == 0
    assert len(list((tmp_path / "pred").glob("*"))) >= 1
    assert main(["beat", "eval", str(tmp_path / "nowhere")]) == 1
    assert "config.json" in capsys.readouterr().err


def _folder_of_records(folder, lengths_seconds: list[float]) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, seconds in enumerate(lengths_seconds):
        paths.append(folder / f"rec{index}.npy")
        np.save(paths[-1], _ecg(seconds=seconds, seed=index).signal)
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_encode_equals_file_by_file(tiny, tmp_path, monkeypatch, workers) -> None:
    from heartcare.beat import batch
    from heartcare.ecg.read import read_ecg

    # Records of different lengths (1, 2 and 3 windows, one left-padded) share encoder calls.
    paths = _folder_of_records(tmp_path / "inputs", [3.0, 1.3, 7.0, 4.0, 2.2])
    np.save(tmp_path / "inputs" / "nan.npy", np.full((12, 1000), np.nan, np.float32))
    paths.insert(2, tmp_path / "inputs" / "nan.npy")
    monkeypatch.setattr(batch, "FEWEST_FILES_FOR_WORKERS", 0)  # use worker processes even for a few files
    monkeypatch.setattr(batch, "FILES_PER_TASK", 2)
    seen: list[tuple[int, int]] = []
    report = batch.encode_files(tiny, paths, tmp_path / "tokens", fs=500, workers=workers, batch_windows=4,
                                progress=lambda done, total: seen.append((done, total)))
    assert [item["path"] for item in report.skipped] == [str(paths[2])]
    assert "nan.npy" in report.skipped[0]["reason"]
    assert [p.name for p in report.written] == [f"rec{index}.beat.safetensors" for index in range(5)]
    for path in paths[:2] + paths[3:]:
        expected = encode_ecg(tiny, read_ecg(path, fs=500))
        written = TokenFile.load(tmp_path / "tokens" / f"{path.stem}.beat.safetensors")
        assert np.array_equal(written.codes, expected.codes)
        assert (written.windows, written.padding) == (expected.windows, expected.padding)
        assert written.stats.std == pytest.approx(expected.stats.std)
    assert seen[-1] == (6, 6) and [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_batch_encode_never_overwrites_a_same_named_output(tiny, tmp_path) -> None:
    from heartcare.beat.batch import encode_files

    first = _folder_of_records(tmp_path / "a", [3.0])[0]
    second = _folder_of_records(tmp_path / "b", [3.0])[0]  # also rec0.npy
    report = encode_files(tiny, [first, second], tmp_path / "tokens", fs=500)
    assert [p.name for p in report.written] == ["rec0.beat.safetensors"]
    assert report.skipped == [{"path": str(second), "reason": f"same output name 'rec0' as {first}"}]


def test_forecast_continues_the_records_end_not_its_best_stretch(tiny) -> None:
    from heartcare.beat.data import to_model_rate
    from heartcare.beat.files import prepare_context

    # The last 4 s are noisy, so a quality-based choice would read an earlier stretch.
    ecg = _ecg(seconds=10.0)
    noisy = ecg.signal.copy()
    noisy[:, -2000:] += np.random.default_rng(1).standard_normal((12, 2000)).astype(np.float32)
    ecg = Ecg(noisy, ecg.fs)
    config = tiny.config
    end = to_model_rate(ecg, config).signal[:, -config.context :]
    forecast = predict_ecg(tiny, ecg)
    assert forecast.prediction.meta["start_s"] == pytest.approx(10.0)
    assert np.allclose(forecast.context.signal, end, atol=1e-4)
    # A record shorter than the context is left-padded in normalised units (zeros there).
    short = prepare_context(_ecg(seconds=1.0), config)
    assert short.window.shape == (12, config.context) and short.end_s == pytest.approx(1.0)
    assert np.all(short.window[:, : config.context - int(config.fs)] == 0)


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_predict_equals_file_by_file(tiny, tmp_path, monkeypatch, workers) -> None:
    from heartcare.beat import batch
    from heartcare.ecg.read import read_ecg

    paths = _folder_of_records(tmp_path / "inputs", [3.0, 1.3, 7.0, 4.0])
    np.save(tmp_path / "inputs" / "nan.npy", np.full((12, 1000), np.nan, np.float32))
    paths.insert(1, tmp_path / "inputs" / "nan.npy")
    duplicate = _folder_of_records(tmp_path / "other", [3.0])[0]  # also rec0.npy
    monkeypatch.setattr(batch, "FEWEST_FILES_FOR_WORKERS", 0)
    monkeypatch.setattr(batch, "FILES_PER_TASK", 2)
    report = batch.predict_files(tiny, [*paths, duplicate], tmp_path / "pred", fs=500, workers=workers,
                                 batch_windows=2)
    assert [item["path"] for item in report.skipped] == [str(duplicate), str(paths[1])]
    assert "nan.npy" in report.skipped[1]["reason"]
    assert [p.name for p in report.written] == [f"rec{index}_prediction.npy" for index in range(4)]
    for path in paths[:1] + paths[2:]:
        expected = predict_ecg(tiny, read_ecg(path, fs=500)).prediction
        written = read_ecg(tmp_path / "pred" / f"{path.stem}_prediction.npy")
        assert written.fs == tiny.config.fs and written.signal.shape == (12, tiny.config.horizon)
        assert np.allclose(written.signal, expected.signal, atol=1e-5)


def test_decode_never_overwrites_a_same_named_output(tiny, tmp_path, capsys) -> None:
    tiny.save_pretrained(tmp_path / "model")
    for folder in ("a", "b"):
        encode_ecg(tiny, _ecg()).save(tmp_path / "tokens" / folder / "rec.beat.safetensors")
    assert main(["beat", "decode", str(tmp_path / "tokens"), "--model", str(tmp_path / "model"),
                 "--out", str(tmp_path / "decoded"), "--quiet"]) == 0
    assert "1 written" in capsys.readouterr().out
    skipped = json.loads((tmp_path / "decoded" / "skipped-decode.json").read_text())
    assert len(skipped) == 1 and "same output name 'rec'" in skipped[0]["reason"]


def test_flat_leads_are_skipped_or_masked_on_request(tiny, tmp_path, capsys) -> None:
    signal = _ecg(seconds=3.0).signal
    signal[6] = 0.0  # V1 lead-off (a missing limb lead would be derived from I and II)
    np.save(tmp_path / "lead_off.npy", signal)
    tiny.save_pretrained(tmp_path / "model")
    common = [str(tmp_path / "lead_off.npy"), "--model", str(tmp_path / "model"), "--fs", "500", "--quiet"]
    assert main(["beat", "encode", *common, "--out", str(tmp_path / "rejected")]) == 1
    assert "--allow-flat-leads" in capsys.readouterr().out
    assert main(["beat", "encode", *common, "--out", str(tmp_path / "masked"), "--allow-flat-leads"]) == 0
    tokens = TokenFile.load(tmp_path / "masked" / "lead_off.beat.safetensors")
    assert tokens.lead_mask == [index != 6 for index in range(12)]
    assert main(["beat", "predict", *common, "--out", str(tmp_path / "pred"), "--allow-flat-leads"]) == 0
    assert np.all(np.load(tmp_path / "pred" / "lead_off_prediction.npy")[6] == 0)


def test_eval_scores_exactly_the_windows_encode_cuts_and_skips_a_bad_file(tiny, tmp_path, capsys) -> None:
    """`beat eval --file` scores every window `encode_ecg` produces (the left-padded first
    one and a record shorter than a window included) and skips an unreadable file."""
    tiny.save_pretrained(tmp_path / "model")
    config = tiny.config
    long, short = _ecg(seconds=3.0), _ecg(seconds=0.5 * config.context / config.fs)
    np.save(tmp_path / "long.npy", long.signal)
    np.save(tmp_path / "short.npy", short.signal)
    (tmp_path / "bad.npy").write_text("not an array")
    common = ["beat", "eval", str(tmp_path / "model"), "--fs", "500", "--no-baseline", "--json",
              "--figure", str(tmp_path / "eval.png")]
    files = ["--file", str(tmp_path / "long.npy"), "--file", str(tmp_path / "short.npy"), "--file", str(tmp_path / "bad.npy")]
    assert main([*common, *files]) == 0
    captured = capsys.readouterr()
    assert "bad.npy" in captured.err
    metrics = json.loads(captured.out)
    encoded = [encode_ecg(tiny, ecg) for ecg in (long, short)]
    assert metrics["windows"] == sum(tokens.windows for tokens in encoded)
    assert metrics["padded_windows"] == sum(tokens.padding > 0 for tokens in encoded) == 2
    # The long record's windows but its last are followed by a whole horizon.
    assert metrics["forecast_windows"] == encoded[0].windows - 1
    (tmp_path / "long.npy").unlink()
    (tmp_path / "short.npy").unlink()
    assert main([*common, "--file", str(tmp_path / "bad.npy")]) == 1
    assert "none of the --file inputs" in capsys.readouterr().err


def test_token_file_refuses_codes_int16_cannot_hold(tiny, tmp_path) -> None:
    tokens = encode_ecg(tiny, _ecg())
    tokens.codes[0, 0] = tiny.config.codebook_size  # one past the codebook
    with pytest.raises(InvalidSignalError, match="outside the codebook's 0..15"):
        tokens.save(tmp_path / "a.beat.safetensors")
    tokens.codes[0, 0] = -1
    with pytest.raises(InvalidSignalError, match="outside"):
        tokens.save(tmp_path / "a.beat.safetensors")
    tokens.codes[0, 0] = 0
    huge = dataclasses.replace(tokens, config=tiny.config.with_changes(codebook_size=2**15 + 1))
    with pytest.raises(ConfigError, match="int16"):
        huge.save(tmp_path / "b.beat.safetensors")
    assert not list(tmp_path.iterdir())  # nothing half-written
    # The largest codebook int16 holds is accepted and its top code survives the round trip.
    largest = dataclasses.replace(tokens, config=tiny.config.with_changes(codebook_size=2**15), codes=tokens.codes.copy())
    largest.codes[0, 0] = 2**15 - 1
    assert TokenFile.load(largest.save(tmp_path / "c.beat.safetensors")).codes[0, 0] == 2**15 - 1
    # A file whose codes lie outside its own codebook (written by other software) is refused on reading.
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = tokens.save(tmp_path / "d.beat.safetensors")
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata()
    codes = load_file(str(path))["codes"]
    codes[0, 0] = 100
    save_file({"codes": codes}, str(path), metadata=metadata)
    with pytest.raises(UnreadableFileError, match="outside the codebook"):
        TokenFile.load(path)
