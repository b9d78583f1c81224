"""A same-bit-rate baseline: k-means product quantisation of 12-lead patches.

Beat spends queries x levels x log2(K) bits per window (20 x 2 x 9 = 360 bits for
4 s). The baseline spends the same: it cuts each window into queries x levels
equal time segments (all leads together, 25 samples each at the defaults) and
codes every segment with one of K k-means centroids (log2 K bits). What differs
is only *how* the bits are used: fixed segments versus learned queries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heartcare.beat.config import BeatConfig
from heartcare.errors import ConfigError, UnreadableFileError


@dataclass
class KMeansBaseline:
    """centroids: [K, leads * segment]; segments per window = bits / log2(K)."""

    centroids: np.ndarray
    segment: int
    leads: int

    @property
    def codebook_size(self) -> int:
        return int(self.centroids.shape[0])

    def bits_per_window(self, context: int) -> float:
        return (context // self.segment) * float(np.log2(self.codebook_size))

    def _segments(self, windows: np.ndarray) -> np.ndarray:
        """[N, leads, T] -> [N * T / segment, leads * segment]."""
        count, leads, samples = windows.shape
        if samples % self.segment:
            raise ConfigError("KMeansBaseline", f"window length {samples} is not a multiple of segment {self.segment}")
        pieces = windows.reshape(count, leads, samples // self.segment, self.segment).transpose(0, 2, 1, 3)
        return pieces.reshape(-1, leads * self.segment)

    def encode(self, windows: np.ndarray) -> np.ndarray:
        """[N, leads, T] -> codes [N, T / segment]."""
        import torch

        vectors = torch.from_numpy(np.ascontiguousarray(self._segments(windows), dtype=np.float32))
        centroids = torch.from_numpy(self.centroids)
        codes = torch.cat([torch.cdist(chunk, centroids).argmin(1) for chunk in vectors.split(65536)])
        return codes.numpy().reshape(windows.shape[0], -1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """codes [N, S] -> windows [N, leads, S * segment]."""
        count, segments = codes.shape
        pieces = self.centroids[codes].reshape(count, segments, self.leads, self.segment)
        return pieces.transpose(0, 2, 1, 3).reshape(count, self.leads, segments * self.segment)

    def reconstruct(self, windows: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(windows))

    def save(self, path: str | Path) -> None:
        from safetensors.numpy import save_file

        save_file({"centroids": self.centroids}, str(path), metadata={"segment": str(self.segment), "leads": str(self.leads)})

    @classmethod
    def load(cls, path: str | Path) -> KMeansBaseline:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata()
                return cls(handle.get_tensor("centroids"), int(metadata["segment"]), int(metadata["leads"]))
        except (OSError, KeyError, json.JSONDecodeError) as error:
            raise UnreadableFileError(path, f"not a k-means baseline file ({error})") from error


def segment_for(config: BeatConfig) -> int:
    """Segment length giving the baseline exactly Beat's bits per window."""
    segments = config.queries * config.levels
    if config.context % segments:
        raise ConfigError("KMeansBaseline", f"context {config.context} not divisible into {segments} segments")
    return config.context // segments


def fit_baseline(windows: np.ndarray, config: BeatConfig, iterations: int = 20, max_vectors: int = 60_000, seed: int = 0) -> KMeansBaseline:
    """k-means (k-means++-free: random init, Lloyd iterations, empty clusters re-seeded).

    windows: [N, leads, >= context] normalised; only the context part is used.
    """
    import torch

    segment = segment_for(config)
    baseline = KMeansBaseline(np.zeros((config.codebook_size, config.leads * segment), np.float32), segment, config.leads)
    vectors = baseline._segments(np.ascontiguousarray(windows[:, :, : config.context]))
    generator = np.random.default_rng(seed)
    if len(vectors) > max_vectors:
        vectors = vectors[generator.choice(len(vectors), max_vectors, replace=False)]
    data = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    size = config.codebook_size
    centroids = data[torch.from_numpy(generator.choice(len(data), size, replace=len(data) < size))].clone()
    for _ in range(iterations):
        assign = torch.cdist(data, centroids).argmin(1)
        counts = torch.bincount(assign, minlength=size)
        sums = torch.zeros_like(centroids).index_add_(0, assign, data)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None].float()
        empty = int((~filled).sum())
        if empty:  # re-seed unused centroids on random data points
            centroids[~filled] = data[torch.from_numpy(generator.integers(0, len(data), empty))]
    baseline.centroids = centroids.numpy()
    return baseline
