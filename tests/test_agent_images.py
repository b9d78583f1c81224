"""Stored sheet images: PNG for clean/print, the preset's own JPEG for scan/photo."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from heartcare.agent.images import FORMAT_SUFFIX, augmented_file, draw_images, sample_steps
from heartcare.ecg.record import Ecg
from heartcare.render import PaperSpec, augment


@pytest.fixture(scope="module")
def sheet() -> tuple[np.ndarray, PaperSpec]:
    from heartcare.render.sheet import DEFAULT_HEADER_FIELDS, sheet_layers

    spec = PaperSpec(dpi=40)
    time = np.arange(2500) / 250
    signal = np.tile(np.sin(2 * np.pi * 1.1 * time) ** 21, (12, 1)).astype(np.float32)
    return sheet_layers(Ecg(signal, 250.0), "3x4+II", spec, "II", DEFAULT_HEADER_FIELDS).to_rgb(), spec


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("preset", ["print", "scan", "photo"])
def test_stored_file_is_exactly_the_recorded_augmentation(sheet, preset):
    image, spec = sheet
    for seed in range(4):
        expected = augment(image.copy(), preset, seed=seed, colours=spec.colours)
        assert sample_steps(image.shape, preset, seed, spec.colours) == expected.steps
        data, parameters = augmented_file(image.copy(), preset, seed, spec.colours)
        assert parameters["augment"] == expected.parameters()
        assert parameters["format"] == ("png" if preset == "print" else "jpeg")
        assert data.startswith(b"\x89PNG" if preset == "print" else b"\xff\xd8\xff")
        final_jpeg = expected.steps and expected.steps[-1]["step"] == "jpeg"
        if preset == "print" or final_jpeg:
            # the preset's own JPEG bytes: no second encode, same pixels as `augment`
            np.testing.assert_array_equal(decode(data), expected.image)
            if final_jpeg:
                assert parameters["jpeg_quality"] == expected.steps[-1]["quality"]
        else:
            assert parameters["jpeg_quality"] == 90
            assert np.abs(decode(data).astype(int) - expected.image).mean() < 8
        assert augmented_file(image.copy(), preset, seed, spec.colours)[0] == data  # deterministic


def test_draw_images_records_the_format_and_is_deterministic():
    time = np.arange(2500) / 250
    ecg = Ecg(np.tile(np.sin(2 * np.pi * 1.3 * time) ** 21, (12, 1)).astype(np.float32), 250.0)
    first = draw_images(ecg, 8, ("clean", "print", "scan", "photo"), np.random.default_rng(5), dpi=40)
    again = draw_images(ecg, 8, ("clean", "print", "scan", "photo"), np.random.default_rng(5), dpi=40)
    assert [data for data, _ in first] == [data for data, _ in again]
    seen = set()
    for data, parameters in first:
        preset = parameters["augment"]["preset"]
        assert parameters["format"] == ("jpeg" if preset in ("scan", "photo") else "png")
        assert FORMAT_SUFFIX[parameters["format"]] in ("png", "jpg")
        assert decode(data).shape == (PaperSpec(dpi=40).size_px[1], PaperSpec(dpi=40).size_px[0], 3)
        json.dumps(parameters)  # stored as JSON in records.parquet
        seen.add(preset)
    assert len(seen) >= 3
