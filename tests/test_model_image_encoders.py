"""Image encoders: registry, preprocessing, pooled features, strict EfficientNet-Lite0 weights, SigLIP folders."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch.nn.functional as F  # noqa: E402

from heartcare.errors import ConfigError  # noqa: E402
from heartcare.model import efficientnet  # noqa: E402
from heartcare.model.image_encoders import IMAGE_ENCODERS, build_image_encoder  # noqa: E402


@pytest.fixture(scope="module")
def lite0():
    return build_image_encoder("efficientnet-lite0")


@pytest.fixture(scope="module")
def ecg_crops() -> list[np.ndarray]:
    """Lead II and V1 of a normal ECG, then lead II of atrial fibrillation (rendered at 60 dpi)."""
    from heartcare.render.crops import lead_crops
    from heartcare.render.paper import PaperSpec
    from heartcare.sim.simulate import SimulationSpec, simulate

    spec = PaperSpec(dpi=60.0)
    normal = lead_crops(simulate(SimulationSpec(), fs=500.0, seconds=10.0, seed=1).ecg, spec)
    fibrillation = lead_crops(simulate(SimulationSpec(conditions={"atrial_fibrillation": 0.8}), fs=500.0, seconds=10.0, seed=2).ecg, spec)
    return [normal[1], normal[6], fibrillation[1]]


def test_registry_names_and_unknown_specs_fail_clearly() -> None:
    assert set(IMAGE_ENCODERS) == {"efficientnet-lite0", "siglip", "tiny"}
    with pytest.raises(ConfigError, match=r"unknown image encoder 'clip'.*efficientnet-lite0\[:WxH\], siglip:PATH, tiny"):
        build_image_encoder("clip")
    with pytest.raises(ConfigError, match="input size WxH"):
        build_image_encoder("efficientnet-lite0:wide")
    with pytest.raises(ConfigError, match="takes no argument"):
        build_image_encoder("tiny:3")
    with pytest.raises(ConfigError, match="needs a local folder"):
        build_image_encoder("siglip")


def test_tiny_encoder_is_seeded_and_leaves_the_callers_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first, second = build_image_encoder("tiny"), build_image_encoder("tiny")
    assert torch.rand(1) == before
    assert first.feature_dim == 16 and first.image_size == (48, 32)
    assert not first.training and not any(p.requires_grad for p in first.parameters())
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20, 70, 3), dtype=np.uint8), rng.integers(0, 256, (300, 90, 3), dtype=np.uint8)]
    features = first.encode_images(images)
    assert features.shape == (2, 16) and features.dtype == np.float32
    np.testing.assert_array_equal(features, second.encode_images(images))
    assert not np.allclose(features[0], features[1])


def test_preprocess_resizes_any_input_and_normalises() -> None:
    from PIL import Image

    tiny = build_image_encoder("tiny")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (13, 200, 3), dtype=np.uint8)
    pixels = tiny.preprocess([image, np.zeros((5, 5, 3), np.uint8), np.full((400, 7), 255, np.uint8)])
    assert pixels.shape == (3, 3, 32, 48) and pixels.dtype == torch.float32
    expected = np.asarray(Image.fromarray(image).resize((48, 32), Image.Resampling.BILINEAR)) / 255 * 2 - 1
    np.testing.assert_allclose(pixels[0].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert (pixels[1] == -1).all() and (pixels[2] == 1).all()  # grey input becomes RGB too
    assert tiny.preprocess([]).shape == (0, 3, 32, 48)
    with pytest.raises(ConfigError, match=r"image 0: expected uint8 \[h, w, 3\]"):
        tiny.preprocess([np.zeros((8, 8, 3), np.float32)])


def test_tiny_forward_is_the_mean_of_its_convolutions() -> None:
    tiny = build_image_encoder("tiny")
    pixels = torch.randn(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    first, second = tiny.layers[0], tiny.layers[2]
    hidden = F.relu(F.conv2d(pixels, first.weight, first.bias, stride=2, padding=1))
    manual = F.relu(F.conv2d(hidden, second.weight, second.bias, stride=2, padding=1)).mean(dim=(2, 3))
    torch.testing.assert_close(tiny(pixels), manual)


def test_encode_images_batches_and_restores_training_mode() -> None:
    tiny = build_image_encoder("tiny").train()
    images = [np.random.default_rng(seed).integers(0, 256, (40, 40, 3), dtype=np.uint8) for seed in range(5)]
    np.testing.assert_allclose(tiny.encode_images(images, batch_size=2), tiny.encode_images(images), atol=1e-6)
    assert tiny.training
    assert tiny.encode_images([]).shape == (0, 16)


def test_same_padding_puts_the_odd_pixel_after_like_tensorflow() -> None:
    convolution = efficientnet.SameConv2d(3, 4, 3, stride=2, bias=False)
    x = torch.randn(1, 3, 10, 7)
    out = convolution(x)
    assert out.shape == (1, 4, 5, 4)
    # 10 rows: total pad 1 -> (0 top, 1 bottom); 7 columns: total pad 2 -> (1 left, 1 right).
    torch.testing.assert_close(out, F.conv2d(F.pad(x, [1, 1, 0, 1]), convolution.weight, stride=2))


def test_efficientnet_preprocess_uses_tensorflow_lite_scaling(lite0) -> None:
    assert lite0.feature_dim == 1280 and lite0.image_size == (224, 224)
    pixels = lite0.preprocess([np.full((30, 60, 3), 255, np.uint8), np.zeros((224, 224, 3), np.uint8)])
    assert pixels.shape == (2, 3, 224, 224)
    assert torch.allclose(pixels[0], torch.tensor(1.0)) and torch.allclose(pixels[1], torch.tensor(-127 / 128))


def test_efficientnet_weights_fill_every_tensor_including_batchnorm_statistics(lite0) -> None:
    path = efficientnet.packaged_weights()
    state = efficientnet.read_weights(path)
    loaded = lite0.network.state_dict()
    assert len(loaded) == len(state) == 296
    for key, tensor in state.items():
        torch.testing.assert_close(loaded[efficientnet.rename_key(key)], tensor)
    running_var = lite0.network.blocks[5].depthwise.norm.running_var
    assert not torch.allclose(running_var, torch.ones_like(running_var))  # not a fresh BatchNorm


def test_efficientnet_loading_is_strict() -> None:
    path = efficientnet.packaged_weights()
    state = efficientnet.read_weights(path)
    missing = dict(state)
    del missing["_blocks.7._bn1.running_mean"]
    with pytest.raises(ConfigError, match=r"efficientnet-lite0-57934424\.pth.*missing: blocks\.7\.depthwise\.norm\.running_mean"):
        efficientnet.load_weights(efficientnet.EfficientNetLite(), missing, path)
    extra = {**state, "_blocks.3._se_reduce.weight": torch.zeros(1)}
    with pytest.raises(ConfigError, match="unused: _blocks.3._se_reduce.weight"):
        efficientnet.load_weights(efficientnet.EfficientNetLite(), extra, path)
    wrong = {**state, "_fc.bias": torch.zeros(10)}
    with pytest.raises(ConfigError, match=r"wrong shape: classifier\.bias \(10,\) != \(1000,\)"):
        efficientnet.load_weights(efficientnet.EfficientNetLite(), wrong, path)
    with pytest.raises(ConfigError, match="cannot read EfficientNet weights"):
        efficientnet.read_weights(path.parent / "absent.pth")


def test_efficientnet_features_are_the_classifiers_pooled_input(lite0) -> None:
    pixels = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features = lite0(pixels)
        torch.testing.assert_close(features, lite0.network.feature_map(pixels).mean(dim=(2, 3)))
        torch.testing.assert_close(lite0.network.classifier(features), lite0.network(pixels))
    assert features.shape == (2, 1280) and (features >= 0).all() and (features <= 6).all()  # ReLU6 head


def test_efficientnet_reads_ecg_crops_reproducibly(lite0, ecg_crops) -> None:
    features = lite0.encode_images(ecg_crops)
    assert features.shape == (3, 1280) and features.dtype == np.float32 and np.isfinite(features).all()
    np.testing.assert_allclose(features[:1], lite0.encode_images(ecg_crops[:1]), atol=1e-5)  # batch-independent
    assert np.abs(features[0] - features[1]).max() > 0.1 and np.abs(features[0] - features[2]).max() > 0.1
    random_init = efficientnet.EfficientNetLite().eval()
    with torch.no_grad():
        untrained = random_init.pooled(lite0.preprocess(ecg_crops[:1])).numpy()
    assert not np.allclose(features[0], untrained[0], atol=1e-2)


def test_efficientnet_recognises_a_photograph(lite0) -> None:
    matplotlib = importlib.util.find_spec("matplotlib")
    photo = Path(matplotlib.origin).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg" if matplotlib else None
    if photo is None or not photo.is_file():
        pytest.skip("matplotlib's sample photo is not installed")
    from PIL import Image

    pixels = lite0.preprocess([np.asarray(Image.open(photo).convert("RGB"))])
    with torch.no_grad():
        logits = lite0.network(pixels)
    assert logits.argmax().item() == 652  # ImageNet "military uniform": Rear Admiral Hopper in uniform


def test_importing_the_registry_loads_no_weights() -> None:
    code = ("import torch\ncalls = []\ntorch.load = lambda *a, **k: calls.append(a)\n"
            "import heartcare.model.image_encoders\nassert not calls, calls\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def write_tiny_siglip(folder: Path) -> Path:
    from transformers import SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=32, patch_size=8)
    torch.manual_seed(0)
    SiglipVisionModel(config).save_pretrained(folder)
    processor = {"image_processor_type": "SiglipImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
                 "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def test_siglip_folder_gives_pooled_features(tmp_path: Path, ecg_crops) -> None:
    folder = write_tiny_siglip(tmp_path / "siglip")
    encoder = build_image_encoder(f"siglip:{folder}")
    assert encoder.feature_dim == 32 and encoder.image_size == (32, 32) and encoder.resample == "bicubic"
    features = encoder.encode_images(ecg_crops)
    assert features.shape == (3, 32) and features.dtype == np.float32
    np.testing.assert_array_equal(features, build_image_encoder(f"siglip:{folder}").encode_images(ecg_crops))
    with torch.no_grad():
        pooled = encoder.model(pixel_values=encoder.preprocess(ecg_crops)).pooler_output
    np.testing.assert_allclose(features, pooled.numpy(), atol=1e-5)
    assert not np.allclose(features[0], features[2])


def test_siglip_folder_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.*no such SigLIP folder"):
        build_image_encoder(f"siglip:{tmp_path / 'absent'}")
    folder = write_tiny_siglip(tmp_path / "siglip")
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(ConfigError, match="not a SigLIP folder"):
        build_image_encoder(f"siglip:{folder}")


def test_efficientnet_takes_a_wide_input_size_for_lead_crops(lite0, ecg_crops) -> None:
    wide = build_image_encoder("efficientnet-lite0:256x64")
    assert wide.spec == "efficientnet-lite0:256x64" and wide.image_size == (256, 64)
    assert wide.preprocess(ecg_crops[:2]).shape == (2, 3, 64, 256)
    features = wide.encode_images(ecg_crops)
    assert features.shape == (len(ecg_crops), 1280) and not np.allclose(features, lite0.encode_images(ecg_crops), atol=1e-3)
