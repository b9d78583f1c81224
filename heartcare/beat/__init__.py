"""Beat: the dual-level residual-VQ ECG tokenizer (Heartcare Suite, arXiv 2506.05831, sec. 3).

4 s of 12-lead ECG at 250 Hz -> 20 query tokens, each quantised by two residual
codebooks (core C1, residual C2). Torch is imported only by the modules that
need it, so `import heartcare.beat` and `BeatConfig` stay light.
"""

from heartcare.beat.config import PRESETS, BeatConfig, preset

__all__ = ["PRESETS", "BeatConfig", "preset"]
