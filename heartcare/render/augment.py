"""`augment`: seeded, composable, recorded image degradations (the paper's
"Diversified Image Generator"), from a pristine sheet to a phone photo of a
crumpled printout.

A preset is data: an ordered list of (step, probability, parameter ranges).
`augment` draws every parameter from one seeded generator and returns them with
the image, so `replay(image, result.steps)` reproduces it bit for bit.

Speed: the recipe runs on one Pillow image (one conversion in, one out). A run of
consecutive geometric steps (rotation, perspective, scale_crop) is composed into one
homography and resampled once; a run of consecutive shading steps (creases, shadow)
multiplies its gain fields and applies them once. `replay` is the definition: the
same records always give the same pixels, whether produced by `augment` or stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from heartcare.errors import ConfigError
from heartcare.render.augment_geometry import warp
from heartcare.render.augment_shading import shade
from heartcare.render.augment_steps import STEPS
from heartcare.render.paper import PaperColours

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class StepChoice:
    """One step of a preset: applied with `probability`, parameters drawn within `ranges`."""

    name: str
    probability: float = 1.0
    ranges: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in STEPS:
            raise ConfigError(None, f"unknown augmentation step {self.name!r}; known: {', '.join(STEPS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(None, f"step {self.name!r}: probability must be in 0..1, got {self.probability}")

    def __hash__(self) -> int:
        return hash((self.name, self.probability, repr(sorted(self.ranges.items()))))


# Ordered as light reaches a camera: paper colours, handling, lighting, geometry, optics, sensor, codec.
# (Pen marks and patches come before folds and shadows, which shade them too.)
PRESETS: dict[str, tuple[StepChoice, ...]] = {
    "clean": (),
    "print": (
        StepChoice("recolour", 1.0, {"greyscale_p": 0.3, "tint": 0.4}),
        StepChoice("pen_marks", 0.3, {"count": (1, 2)}),
        StepChoice("brightness_contrast", 0.5, {"brightness": (-8, 8), "contrast": (0.92, 1.05)}),
        StepChoice("blur", 0.6, {"radius": (0.2, 0.6)}),
        StepChoice("noise", 0.5, {"sigma": (1.0, 3.0)}),
    ),
    "scan": (
        StepChoice("recolour", 1.0, {"greyscale_p": 0.5, "no_grid_p": 0.2, "tint": 0.6}),
        StepChoice("pen_marks", 0.3),
        StepChoice("creases", 0.3, {"count": (1, 2), "strength": (0.05, 0.15), "wrinkle": (0.0, 0.03)}),
        StepChoice("rotation", 1.0, {"degrees": (-2.0, 2.0)}),
        StepChoice("scale_crop", 0.5, {"zoom": (1.0, 1.05)}),
        StepChoice("brightness_contrast", 1.0, {"brightness": (-15, 15), "contrast": (0.85, 1.1)}),
        StepChoice("blur", 0.8, {"radius": (0.4, 1.0)}),
        StepChoice("noise", 1.0, {"sigma": (2.0, 5.0)}),
        StepChoice("jpeg", 0.8, {"quality": (70, 92)}),
    ),
    "photo": (
        StepChoice("recolour", 1.0, {"greyscale_p": 0.1, "no_grid_p": 0.05, "tint": 1.0}),
        StepChoice("pen_marks", 0.4),
        StepChoice("occlusion", 0.3),
        StepChoice("creases", 0.8, {"count": (1, 4), "strength": (0.1, 0.3)}),
        StepChoice("shadow", 0.7),
        StepChoice("perspective", 1.0, {"shift": (0.0, 0.06)}),
        StepChoice("rotation", 1.0, {"degrees": (-5.0, 5.0)}),
        StepChoice("scale_crop", 0.7, {"zoom": (1.0, 1.12)}),
        StepChoice("brightness_contrast", 1.0, {"brightness": (-30, 20), "contrast": (0.75, 1.1)}),
        StepChoice("blur", 1.0, {"radius": (0.5, 1.6)}),
        StepChoice("noise", 1.0, {"sigma": (3.0, 9.0)}),
        StepChoice("jpeg", 1.0, {"quality": (45, 85)}),
    ),
}


@dataclass(frozen=True)
class AugmentResult:
    """The augmented image [H, W, 3] uint8 and every applied step with its drawn parameters."""

    image: np.ndarray
    steps: list[dict[str, Any]]
    preset: str | None
    seed: int

    def parameters(self) -> dict[str, Any]:
        """JSON-ready record (stored next to dataset images)."""
        return {"preset": self.preset, "seed": self.seed, "steps": self.steps}


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ConfigError(None, f"augment needs a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ConfigError(None, f"augment needs an [H, W, 3] image, got shape {image.shape}")
    return np.ascontiguousarray(image[..., :3])


def augment(
    image: np.ndarray,
    preset: str | tuple[StepChoice, ...] | list[StepChoice] = "photo",
    seed: int = 0,
    colours: PaperColours | None = None,
) -> AugmentResult:
    """Degrade a rendered sheet with a named preset (clean, print, scan, photo) or a list of steps.

    colours: the colours the sheet was drawn with (for re-inking); defaults to PaperSpec's.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ConfigError(None, f"unknown augmentation preset {preset!r}; known: {', '.join(PRESETS)}")
        name, choices = preset, PRESETS[preset]
    else:
        name, choices = None, tuple(preset)
    colours = colours or PaperColours()
    image = _as_rgb(image)
    rng = np.random.default_rng(seed)
    applied: list[dict[str, Any]] = []
    for choice in choices:
        # draw the coin and parameters even when skipped, so steps do not shift each other's randomness
        apply_step = rng.random() < choice.probability
        params = STEPS[choice.name].sample(rng, image.shape, **choice.ranges)
        if not apply_step:
            continue
        if choice.name == "recolour":
            params.update(source_paper=list(colours.paper), source_grid=list(colours.major_grid), source_ink=list(colours.ink))
        applied.append({"step": choice.name, **params})
    return AugmentResult(replay(image, applied), applied, name, seed)


def replay(image: np.ndarray, steps: list[dict[str, Any]]) -> np.ndarray:
    """Apply recorded steps (from `AugmentResult.steps`) again: same input, same output.

    image: [H, W, 3] (or [H, W]) uint8; returns a new [H, W, 3] uint8 array.
    """
    if not steps:
        return _as_rgb(image).copy()  # "clean": no round trip through Pillow
    return np.array(replay_picture(image, steps))


def replay_picture(image: np.ndarray, steps: list[dict[str, Any]]) -> Image.Image:
    """`replay` returning the Pillow RGB image: for callers that encode it next (JPEG/PNG),
    which saves converting to an array and back."""
    from PIL import Image

    for record in steps:
        if record.get("step") not in STEPS:
            raise ConfigError(None, f"unknown augmentation step {record.get('step')!r} in recorded parameters")
    picture = Image.fromarray(_as_rgb(image))
    index = 0
    while index < len(steps):
        kind = STEPS[steps[index]["step"]].kind
        if kind in ("geometry", "shading"):
            end = index
            while end < len(steps) and STEPS[steps[end]["step"]].kind == kind:
                end += 1
            picture = (warp if kind == "geometry" else shade)(picture, list(steps[index:end]))
            index = end
            continue
        params = {key: value for key, value in steps[index].items() if key != "step"}
        picture = STEPS[steps[index]["step"]].picture(picture, **params)
        index += 1
    return picture
