"""Shared fixtures: a real HeartAgent dataset built from simulated records, and a writer of
hand-made benchmark datasets whose items a test controls exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def write_bench_dataset(folder: Path, splits: dict[str, list], signals: dict[str, np.ndarray] | None = None) -> Path:
    """A minimal dataset folder in HeartAgent's format.

    splits: split -> list of heartcare.agent.description.QaItem; signals: record_id ->
    [12, samples] mV at 250 Hz (stored in one shard, like the builder does).
    """
    import pyarrow as pa

    from heartcare.agent.writer import qa_schema, records_schema, write_table

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps({"format_version": 1, "counts": {}}))
    for split, items in splits.items():
        write_table(folder / "qa" / f"{split}.parquet", pa.Table.from_pylist([item.to_row() for item in items], schema=qa_schema()))
    rows, arrays, offset = [], [], 0
    for record_id, signal in (signals or {}).items():
        rows.append({"record_id": record_id, "patient_id": f"P{record_id}", "split": "test", "source": "test",
                     "signal_fs": 250, "signal_samples": signal.shape[1], "signal_file": "signals/shard-00000.npy",
                     "signal_offset": offset, "images": []})
        arrays.append(signal.astype(np.float32))
        offset += signal.shape[1]
    (folder / "signals").mkdir(exist_ok=True)
    np.save(folder / "signals" / "shard-00000.npy", np.concatenate(arrays, axis=1) if arrays else np.zeros((12, 0), np.float32))
    write_table(folder / "records.parquet", pa.Table.from_pylist(rows, schema=records_schema()))
    return folder


FOLDS = (1, 2, 3, 4, 5, 6, 9, 10, 10, 10, 10, 10)  # PTB-XL folds per patient: 9 = valid, 10 = test


@pytest.fixture(scope="session")
def built_dataset(tmp_path_factory) -> Path:
    """A real HeartAgent build of 24 simulated records (every task, S and I items)."""
    from heartcare.agent.build import build_dataset
    from heartcare.agent.config import BuildConfig
    from heartcare.agent.inputs import MemorySource
    from heartcare.sim.simulate import SimulationSpec, simulate
    from heartcare.sources.record import LabelledRecord

    conditions = ({"normal": 0.0}, {"atrial_fibrillation": 0.8}, {"left_bundle_branch_block": 0.7},
                  {"sinus_bradycardia": 0.5}, {"first_degree_av_block": 0.6}, {"old_anterior_mi": 0.7},
                  {"right_bundle_branch_block": 0.7}, {"left_ventricular_hypertrophy": 0.7})
    records = []
    for index in range(24):  # 12 patients of two records: 6 train, 1 valid, 5 test (balancing needs 4 answers per kind)
        spec = SimulationSpec(conditions=conditions[index % len(conditions)], age=40 + index, sex="MF"[index % 2])
        simulated = simulate(spec, fs=500.0, seconds=10.0, seed=index)
        meta = {"record_id": f"sim_{index}", "age": 40 + index, "sex": "MF"[index % 2],
                "recording_date": f"2019-05-{10 + index % 3} 09:00:00", "strat_fold": FOLDS[index // 2]}
        records.append(LabelledRecord(ecg=simulated.ecg, labels=simulated.labels, report=simulated.report,
                                      patient_id=f"patient-{index // 2}", meta=meta))
    out = tmp_path_factory.mktemp("bench") / "ds"
    config = BuildConfig(sources=("ptbxl:memory",), out=str(out), images_per_record=1, image_presets=("clean",),
                         image_dpi=40.0, shard_size=8, seed=5, min_per_answer=1)  # a tiny build: keep thin kinds
    build_dataset(config, sources=[MemorySource(records)], progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_gpt_checkpoint(tmp_path_factory) -> Path:
    """A small random HeartcareGPT with both streams (tiny Llama, tiny Beat, tiny image encoder)."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from heartcare.model.tiny import tiny_heartcare_gpt

    return tiny_heartcare_gpt(tmp_path_factory.mktemp("tiny-gpt"))


@pytest.fixture(scope="session")
def start_uvicorn():
    """start(app) -> base URL of the app under a real uvicorn on 127.0.0.1 (a free port); stopped at session end."""
    import socket
    import threading
    import time

    uvicorn = pytest.importorskip("uvicorn")
    running = []

    def start(app) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        running.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def gpt_parts(built_dataset, tmp_path_factory) -> dict[str, Path]:
    """A tiny backbone, a small random Beat, and the tiny-encoder feature cache of the 24-record build."""
    import torch

    from heartcare.beat.config import BeatConfig
    from heartcare.beat.model import build_beat
    from heartcare.model.backbone import tiny_causal_lm
    from heartcare.model.feature_cache import build_feature_cache

    root = tmp_path_factory.mktemp("gpt-train")
    torch.manual_seed(0)
    beat = build_beat(BeatConfig(dim=32, encoder_depth=1, decoder_depth=1, prediction_depth=1, heads=2, head_dim=16,
                                 mlp_ratio=2, codebook_size=16)).save_pretrained(root / "beat")
    features = build_feature_cache(built_dataset, str(beat), "tiny", out=root / "features", shard_size=8, progress=False)
    return {"backbone": tiny_causal_lm(root / "lm"), "beat": beat, "features": features, "root": root}
