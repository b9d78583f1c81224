"""End-to-end HeartAgent builds on a few simulated records (kept small: no slow mark)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from heartcare.agent.build import build_dataset
from heartcare.agent.config import BuildConfig
from heartcare.agent.inputs import MemorySource
from heartcare.agent.writer import load_signal
from heartcare.errors import ConfigError, InvalidSignalError
from heartcare.sources.record import LabelledRecord

SECRETS = ("Johanna", "Gruber", "MRN 99887766", "99887766", "+49 30 1234567", "gruber@klinik-example.de",
           "221 Baker Street", "1987-06-05", "2019-05-17", "patient-secret-4711")
CONDITIONS = ({"normal": 0.0}, {"atrial_fibrillation": 0.8}, {"left_bundle_branch_block": 0.7})


@pytest.fixture(scope="module")
def records() -> list[LabelledRecord]:
    from heartcare.sim.simulate import SimulationSpec, simulate

    made = []
    for index in range(6):
        simulated = simulate(SimulationSpec(conditions=CONDITIONS[index % 3], age=50 + index, sex="MF"[index % 2]),
                             fs=500.0, seconds=10.0, seed=index)
        report = (f"{simulated.report} Patient: Johanna Gruber, MRN 99887766, tel +49 30 1234567, "
                  "gruber@klinik-example.de, 221 Baker Street. Recorded 2019-05-17.")
        patient = f"patient-secret-47{11 + index // 2}"  # two records per patient
        meta = {"record_id": f"sim_{index}", "age": 50 + index, "sex": "MF"[index % 2], "name": "Johanna Gruber",
                "recording_date": f"2019-05-{17 + index % 2} 09:00:00", "strat_fold": (1, 9, 10)[index // 2],
                "birth_date": "1987-06-05", "phone": "+49 30 1234567"}
        made.append(LabelledRecord(ecg=simulated.ecg, labels=simulated.labels, report=report, patient_id=patient, meta=meta))
    return made


def config(out: Path, **overrides) -> BuildConfig:
    values = dict(sources=("ptbxl:memory",), out=str(out), images_per_record=1, image_presets=("clean",),
                  image_dpi=40.0, shard_size=2, seed=3)
    values.update(overrides)
    return BuildConfig(**values)


@pytest.fixture(scope="module")
def built(records, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("agent") / "ds"
    build_dataset(config(out), sources=[MemorySource(records)], progress=False)
    return out


def test_layout_schema_and_signals(built):
    for name in ("dataset.json", "README.md", "records.parquet", "qa/train.parquet", "qa/valid.parquet", "qa/test.parquet"):
        assert (built / name).is_file(), name
    records = pq.read_table(built / "records.parquet").to_pylist()
    assert len(records) == 6 and {r["split"] for r in records} == {"train", "valid", "test"}
    for row in records:
        signal = load_signal(built, row)
        assert signal.shape == (12, 2500) and signal.dtype == np.float32
        assert all((built / path).is_file() for path in row["images"])
        assert json.loads(row["image_parameters"])[0]["augment"]["preset"] == "clean"
    qa = pq.read_table(built / "qa" / "train.parquet")
    assert qa.schema.names == ["id", "task", "dimension", "modality", "question", "choices", "answer",
                               "answer_index", "ecgs", "meta"]
    tasks = set(qa.column("task").to_pylist())
    assert {"closed_qa", "open_qa", "report", "signal_prediction", "comparison_qa"} <= tasks
    ids = [i for split in ("train", "valid", "test") for i in pq.read_table(built / "qa" / f"{split}.parquet").column("id").to_pylist()]
    assert len(ids) == len(set(ids))
    card = json.loads((built / "dataset.json").read_text())
    assert card["split_overlap"] == {"patients_in_several_splits": 0, "waveforms_in_several_splits": 0}
    assert card["totals"]["items"] == len(ids)


def test_items_reference_records_of_their_own_split(built):
    split_of = {r["record_id"]: r["split"] for r in pq.read_table(built / "records.parquet").to_pylist()}
    for split in ("train", "valid", "test"):
        for ecgs in pq.read_table(built / "qa" / f"{split}.parquet").column("ecgs").to_pylist():
            assert all(split_of[e["record_id"]] == split for e in ecgs)


def test_every_single_ecg_task_has_matching_signal_and_image_items(built):
    from collections import Counter

    counts: Counter = Counter()
    for split in ("train", "valid", "test"):
        for row in pq.read_table(built / "qa" / f"{split}.parquet").to_pylist():
            if row["modality"] in ("S", "I"):
                counts[(row["task"], row["dimension"], row["modality"])] += 1
            if row["task"] == "signal_prediction" and row["modality"] == "I":
                meta = json.loads(row["meta"])
                assert (built / meta["image"]).is_file() and meta["image"].endswith("_context.png")
    single_tasks = {task for task, _, _ in counts}
    assert single_tasks == {"closed_qa", "open_qa", "report", "signal_prediction"}
    for task, dimension, _ in list(counts):
        assert counts[(task, dimension, "S")] == counts[(task, dimension, "I")] > 0, (task, dimension)
    rows = pq.read_table(built / "records.parquet").to_pylist()
    assert all(row["context_image"] and (built / row["context_image"]).is_file() for row in rows)


def test_card_embeds_the_label_plot_and_stats_prints_readable_text(built):
    from heartcare.agent.commands import dataset_stats

    readme = (built / "README.md").read_text()
    lines = readme.splitlines()
    link = lines.index("![labels](card/label_distribution.png)")  # relative to README.md, its own paragraph
    assert lines[link - 1] == "" and lines[link + 1] == ""
    assert (built / "card" / "label_distribution.png").read_bytes().startswith(b"\x89PNG")
    for heading in ("## Totals", "## Items per task x dimension x modality x split", "## Build config"):
        assert lines[lines.index(heading) + 1] == ""  # blank line after headings: tables and lists render
    text = dataset_stats(built)
    assert "plot: card/label_distribution.png" in text and "![" not in text
    assert "- images_per_record: 1" in text and "stage_ms_per_record: " in text
    assert all(len(line) < 200 for line in text.splitlines() if not line.startswith("|"))


def _all_text(root: Path) -> str:
    chunks = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        chunks.append(path.name)
        if path.suffix == ".parquet":
            chunks.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        else:
            chunks.append(path.read_bytes().decode("latin-1"))
    return "\n".join(chunks)


def test_no_planted_identifier_leaks_into_any_output_file(built):
    text = _all_text(built)
    for secret in SECRETS:
        assert secret not in text, secret


def test_resume_after_a_crash_is_byte_identical(records, built, tmp_path, monkeypatch):
    import heartcare.agent.build as build_module

    out = tmp_path / "ds"
    original = build_module.run_shard
    calls = []

    def crash_on_second_shard(shard, jobs):
        calls.append(shard)
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill between shards
        return original(shard, jobs)

    monkeypatch.setattr(build_module, "run_shard", crash_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(config(out), sources=[MemorySource(records)], progress=False)
    (out / "signals" / ".shard-00001.npy.x.tmp").write_bytes(b"half")  # a half-written file
    monkeypatch.setattr(build_module, "run_shard", original)
    with pytest.raises(ConfigError, match="--resume"):
        build_dataset(config(out), sources=[MemorySource(records)], progress=False)
    build_dataset(config(out, resume=True), sources=[MemorySource(records)], progress=False)

    def files(root: Path) -> dict[str, bytes]:
        found = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.name != "build_report.json":
                data = path.read_bytes()
                if path.name == "README.md":
                    data = data.split(b"## Build timing")[0]
                found[str(path.relative_to(root))] = data
        return found

    expected, actual = files(built), files(out)
    assert sorted(expected) == sorted(actual)
    assert [name for name in expected if expected[name] != actual[name]] == []


class FlakySource(MemorySource):
    def load(self, key):
        if key == "1":
            raise InvalidSignalError("/data/broken.hea", "flat leads")
        return super().load(key)


def test_bad_records_are_skipped_with_their_reason(records, tmp_path):
    result = build_dataset(config(tmp_path / "ds", images_per_record=0), sources=[FlakySource(records[:3])], progress=False)
    assert result.records == 2 and result.skipped == 1
    report = json.loads((tmp_path / "ds" / "build_report.json").read_text())
    assert "flat leads" in report["skipped"][0]["reason"]
    qa = pq.read_table(tmp_path / "ds" / "qa" / "train.parquet")
    assert "I" not in set(qa.column("modality").to_pylist())  # no images -> signal items only


def test_loads_with_hugging_face_datasets(built):
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(
        "parquet", data_files={split: str(built / "qa" / f"{split}.parquet") for split in ("train", "valid", "test")},
        cache_dir=str(built.parent / "hf_cache"),
    )
    assert loaded["train"].num_rows > 0 and "choices" in loaded["train"].column_names


def test_dicom_folder_source_hashes_file_names(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    import shutil

    from pydicom.data import get_testdata_file

    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(get_testdata_file("waveform_ecg.dcm"), folder / "Doe_Jonathan_19500101.dcm")
    dataset = pydicom.dcmread(folder / "Doe_Jonathan_19500101.dcm", stop_before_pixels=True)
    out = tmp_path / "ds"
    result = build_dataset(BuildConfig(sources=(f"dicom:{folder}",), out=str(out), images_per_record=0), progress=False)
    assert result.records == 1
    record = pq.read_table(out / "records.parquet").to_pylist()[0]
    assert record["record_id"].startswith("dicom_") and record["source"] == "dicom"
    text = _all_text(out)
    assert "Doe_Jonathan" not in text and "19500101" not in text
    assert "642341" not in text and "20130125" not in text and "2013-01-25" not in text  # patient id, date
    assert record["date"] is not None and record["date"] < "2013-01-25"  # shifted, not dropped
    name = str(dataset.get("PatientName", "") or "")
    for part in (p for p in name.replace("^", " ").split() if len(p) >= 3):
        assert part not in text, part


def test_pdf_folder_source_feeds_the_build(records, tmp_path):
    pytest.importorskip("pypdf")
    from heartcare.render import render

    folder = tmp_path / "pdfs"
    folder.mkdir()
    render(records[0].ecg, "3x4+II", format="pdf", path=folder / "Gruber_Johanna.pdf")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4 truncated")
    out = tmp_path / "ds"
    result = build_dataset(BuildConfig(sources=(f"pdf:{folder}",), out=str(out), images_per_record=0), progress=False)
    assert result.records == 1 and result.skipped == 1
    assert "Gruber" not in _all_text(out)
    row = pq.read_table(out / "records.parquet").to_pylist()[0]
    assert row["source"] == "pdf" and load_signal(out, row).shape == (12, 2500)
