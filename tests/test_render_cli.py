"""`heartcare render`: one file, a folder with a bad record (skipped and reported), presets, vector."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from heartcare.cli import main


def write_npy(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(2500) / 250.0
    signal = 0.8 * np.sin(2 * np.pi * 1.2 * t)[None, :] + 0.02 * rng.standard_normal((12, t.size))
    np.save(path, signal.astype(np.float32).T)  # [samples, leads], the common CSV/NPY orientation


def test_render_one_file_to_png_svg_pdf_and_photo(tmp_path):
    source = tmp_path / "record.npy"
    write_npy(source, 0)
    assert main(["render", str(source), "-o", str(tmp_path / "a.png"), "--fs", "250"]) == 0
    image = Image.open(tmp_path / "a.png")
    assert image.size == (1650, 1275) and "heartcare" in image.text
    assert main(["render", str(source), "-o", str(tmp_path / "a.svg"), "--fs", "250", "--layout", "6x2"]) == 0
    assert (tmp_path / "a.svg").read_text().count('class="trace"') == 12
    assert main(["render", str(source), "-o", str(tmp_path / "a.pdf"), "--fs", "250", "--layout", "12x1"]) == 0
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF-1.4")
    args = ["render", str(source), "-o", str(tmp_path / "p.jpg"), "--fs", "250", "--preset", "photo", "--seed", "3", "--dpi", "60"]
    assert main(args) == 0
    assert Image.open(tmp_path / "p.jpg").format == "JPEG"


def test_render_folder_skips_and_reports_bad_records(tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_npy(folder / "one.npy", 1)
    write_npy(folder / "sub" / "two.npy", 2)
    (folder / "broken.npy").write_bytes(b"not an array at all")
    out = tmp_path / "out"
    code = main(["render", str(folder), "-o", str(out), "--fs", "250", "--preset", "scan", "--workers", "1", "--dpi", "60"])
    assert code == 0
    assert (out / "one.png").is_file() and (out / "sub" / "two.png").is_file()
    skipped = json.loads((out / "skipped.json").read_text())
    assert [entry["record"] for entry in skipped] == ["broken.npy"]
    assert "broken.npy" in skipped[0]["reason"]
    assert "2 written" in capsys.readouterr().out
    parameters = json.loads(Image.open(out / "one.png").text["heartcare"])
    assert parameters["augment"]["preset"] == "scan"
    main(["render", str(folder), "-o", str(out), "--fs", "250", "--preset", "scan", "--dpi", "60"])
    assert "2 already there" in capsys.readouterr().out  # a re-run resumes


def test_render_missing_file_is_a_clean_error(tmp_path, capsys):
    assert main(["render", str(tmp_path / "nope.hea"), "-o", str(tmp_path / "x.png")]) == 1
    assert "nope.hea" in capsys.readouterr().err


def test_render_ptbxl_layout_dataset_with_workers(tmp_path, capsys):
    from heartcare.ecg.record import Ecg
    from heartcare.ecg.write import write_ecg

    root = tmp_path / "ptbxl"
    rows = ["ecg_id,patient_id,age,sex,scp_codes,strat_fold,filename_lr,filename_hr"]
    for ecg_id in (1, 2, 3):
        name = f"records500/00000/{ecg_id:05d}_hr"
        if ecg_id != 3:  # record 3 is listed but its files are missing
            t = np.arange(5000) / 500.0
            signal = np.tile(0.5 * np.sin(2 * np.pi * 1.1 * t), (12, 1)).astype(np.float32)
            (root / "records500" / "00000").mkdir(parents=True, exist_ok=True)
            write_ecg(Ecg(signal, 500.0), root / name, "wfdb")
        rows.append(f"{ecg_id},{ecg_id}.0,50,0,\"{{'NORM': 100.0}}\",1,{name.replace('500', '100').replace('_hr', '_lr')},{name}")
    (root / "ptbxl_database.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "images"
    assert main(["render", str(root), "-o", str(out), "--workers", "2", "--dpi", "60", "--layout", "6x2"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["00001.png", "00002.png"]
    skipped = json.loads((out / "skipped.json").read_text())
    assert [entry["record"] for entry in skipped] == ["3"] and "00003_hr" in skipped[0]["reason"]
    assert "2 written" in capsys.readouterr().out
