"""The one training loop: stages as data (`StageConfig`), `train(model, data, stage, out)`.

Any model with `forward(batch) -> (loss, logs)` trains here (Beat now, HeartcareGPT later).
"""

from heartcare.train.config import StageConfig

__all__ = ["StageConfig"]
