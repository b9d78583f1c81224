"""`Beat`: encoder -> residual quantiser -> decoder, plus a prediction head (paper sec. 3).

Public surface: `encode`, `decode`, `predict`, `forward(batch) -> (loss, logs)`,
`save_pretrained` / `from_pretrained` (config.json + model.safetensors).
Inputs are Beat-normalised signals (see `heartcare.beat.data.normalize_window`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from heartcare.atomic import write_atomic
from heartcare.beat.config import BeatConfig
from heartcare.beat.continuation import periodic_continuation
from heartcare.beat.decoder import PatchDecoder, build_decoder, build_prediction_head
from heartcare.beat.encoder import BeatEncoder
from heartcare.beat.quantizer import ResidualQuantizer
from heartcare.errors import ConfigError, InvalidSignalError, UnreadableFileError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

# Window-parallel encoding (see `_encode_windows`): windows per single-threaded call (the
# paper encoder's best one-thread rate, measured over 16-128) and the fewest per call
# worth a thread of its own.
ENCODE_CHUNK = 64
ENCODE_MIN_CHUNK = 8
_encode_lock = threading.Lock()  # the thread-count switch is process-wide: one switcher at a time
_encode_pools: dict[int, ThreadPoolExecutor] = {}
# A forked child inherits the pools but not their threads (work sent there would wait forever).
os.register_at_fork(after_in_child=_encode_pools.clear)


def _in_inference_mode(work: Callable[[torch.Tensor], tuple], part: torch.Tensor) -> tuple:
    """`work(part)` in inference mode: the mode is per thread, so pool threads set it themselves."""
    with torch.inference_mode():
        return work(part)


@dataclass
class BeatCodes:
    """Tokens of one batch: codes [B, windows * queries, levels] long, latents
    [B, windows * queries, dim] (quantised); `padding` zero samples were added on
    the left before right-to-left segmentation, so decoding can drop them."""

    codes: torch.Tensor
    latents: torch.Tensor
    windows: int
    padding: int


def segment_windows(x: torch.Tensor, length: int) -> tuple[torch.Tensor, int, int]:
    """[B, L, T] -> ([B * W, L, length], W, padding): cut right-to-left, left-pad the first piece.

    The newest samples always fill a whole window (as in the paper); only the
    oldest piece is padded with zeros on its left.
    """
    batch, leads, samples = x.shape
    windows = max(1, -(-samples // length))
    padding = windows * length - samples
    if padding:
        x = torch.nn.functional.pad(x, (padding, 0))
    pieces = x.reshape(batch, leads, windows, length).permute(0, 2, 1, 3)
    return pieces.reshape(batch * windows, leads, length), windows, padding


class Beat(nn.Module):
    """The Beat tokenizer, composed from injected parts (see `build_beat`)."""

    def __init__(
        self,
        config: BeatConfig,
        encoder: BeatEncoder,
        quantizer: ResidualQuantizer,
        decoder: PatchDecoder,
        prediction_head: PatchDecoder,
    ) -> None:
        super().__init__()
        self.config = config
        self.encoder, self.quantizer = encoder, quantizer
        self.decoder, self.prediction_head = decoder, prediction_head
        # Per-lead weight of the periodic prior; it starts at a half because the prior's
        # mistimed beats cost twice under MSE, and training sets how far to trust it.
        periodic = config.prediction_prior == "periodic"
        self.prior_gain = nn.Parameter(torch.full((config.leads,), 0.5)) if periodic else None

    # ---- input handling -------------------------------------------------------------
    def _as_batch(self, x: torch.Tensor | np.ndarray, lead_mask: torch.Tensor | np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Any [L, T] or [B, L, T] with L <= leads -> ([B, leads, T] float32, mask [B, leads] bool).

        Fewer leads than the model's are taken as the first ones in canonical order
        and zero-padded; masked leads are zeroed so they carry no information.
        """
        x = torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x, dtype=torch.float32)
        if x.ndim == 2:
            x = x.unsqueeze(0)
        if x.ndim != 3:
            raise InvalidSignalError("Beat input", f"expected [leads, samples] or [batch, leads, samples], got shape {tuple(x.shape)}")
        batch, leads, samples = x.shape
        if leads > self.config.leads or leads == 0 or samples == 0:
            raise InvalidSignalError("Beat input", f"got {leads} leads x {samples} samples; the model takes 1-{self.config.leads} leads and at least 1 sample")
        if not torch.isfinite(x).all():
            raise InvalidSignalError("Beat input", "signal contains NaN or infinite values")
        mask = torch.zeros(batch, self.config.leads, dtype=torch.bool)
        mask[:, :leads] = True
        if lead_mask is not None:
            given = torch.as_tensor(lead_mask, dtype=torch.bool)
            given = given.expand(batch, -1) if given.ndim == 1 else given
            if given.shape[1] != leads and given.shape[1] != self.config.leads:
                raise InvalidSignalError("Beat input", f"lead_mask has {given.shape[1]} entries for {leads} leads")
            mask[:, : given.shape[1]] &= given
        if leads < self.config.leads:
            x = torch.nn.functional.pad(x, (0, 0, 0, self.config.leads - leads))
        if lead_mask is not None and not bool(mask.all()):
            x = x * mask[:, :, None]
        return x, mask

    def compile_encoder(self) -> bool:
        """Compile the encoder with `torch.compile` (inductor: fused norms/activations, C++ kernels)
        for faster inference; returns False (and leaves the eager encoder) when compilation is
        unavailable here, e.g. no C++ compiler. The first call after this pays the compile time.
        The compiled encoder runs with intra-op threads, so on shared cores it can be slower
        than the eager window-parallel path (benchmarks/beat.py reports both)."""
        try:
            compiled = torch.compile(self.encoder, dynamic=False)
            with torch.inference_mode():
                compiled(torch.zeros(1, self.config.leads, self.config.context))
        except Exception:  # any backend failure: stay eager rather than break encoding
            return False
        # Not registered as a submodule: checkpoints keep only the encoder's own weights.
        object.__setattr__(self, "_compiled_encoder", compiled)
        return True

    def _encode_windows(self, windows: torch.Tensor, bfloat16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes [N, queries, levels], quantised latents [N, queries, dim]) of windows [N, leads, context].

        The eager encoder runs window-parallel (see `_window_parallel`); each chunk is
        quantised in its own thread too (nearest codes are per window), so no serial step
        follows the pool. The torch.compile'd encoder keeps intra-op threading (its
        kernels fix their thread count when compiled).
        """
        compiled = None if bfloat16 else self.__dict__.get("_compiled_encoder")
        if compiled is not None:
            return self.quantizer.encode(compiled(windows).float())
        codes, latents = self._window_parallel(windows, lambda part: self._encode_chunk(part, bfloat16))
        return codes, latents

    def _window_parallel(
        self, windows: torch.Tensor, work: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]
    ) -> tuple[torch.Tensor, ...]:
        """`work` over windows [N, ...], concatenated along N: with T > 1 torch threads and
        enough windows, on chunks of windows in T Python threads with one torch thread each
        (windows are independent, so the result is the same).

        Intra-op threading pays a thread barrier after every small op (norm, GELU,
        attention per layer) and stalls whenever the OS deschedules one of its threads;
        measured on 2 shared cores, one thread per chunk roughly doubled the encoder's rate.
        Fewer than 2 x ENCODE_MIN_CHUNK windows run on one thread: there the barriers
        dominate (batch 1: 19 ms on one thread, 860 ms on two busy shared cores).
        """
        threads = torch.get_num_threads()
        count = windows.shape[0]
        if threads < 2 or not _encode_lock.acquire(blocking=False):
            return work(windows)
        try:
            torch.set_num_threads(1)
            try:
                if count < 2 * ENCODE_MIN_CHUNK:  # too few to split: one thread, no barriers
                    return work(windows)
                chunk = max(ENCODE_MIN_CHUNK, min(ENCODE_CHUNK, -(-count // threads)))
                pool = _encode_pools.get(threads) or _encode_pools.setdefault(
                    threads, ThreadPoolExecutor(threads, thread_name_prefix="beat-encode")
                )
                parts = list(pool.map(lambda part: _in_inference_mode(work, part), windows.split(chunk)))
            finally:
                torch.set_num_threads(threads)
        finally:
            _encode_lock.release()
        return tuple(torch.cat(outputs) for outputs in zip(*parts, strict=True))

    def _encode_chunk(self, windows: torch.Tensor, bfloat16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        # Autocast is per thread (like inference mode, which `_window_parallel` sets): set it here.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            latents = self.encoder(windows)
        return self.quantizer.encode(latents.float())  # the codebook search stays float32

    # ---- public API -----------------------------------------------------------------
    @torch.inference_mode()
    def encode(
        self, x: torch.Tensor | np.ndarray, lead_mask: torch.Tensor | np.ndarray | None = None, bfloat16: bool = False
    ) -> BeatCodes:
        """x: [B, leads, T] or [leads, T] normalised, any T -> BeatCodes (windows in time order).

        bfloat16: run the encoder's matrix products in bfloat16 (about twice the
        float32 rate on CPUs with AVX512-BF16/AMX); the codebook search stays float32.
        """
        windows, count, padding = self.segment(x, lead_mask)
        codes, latents = self._encode_windows(windows, bfloat16)
        batch = windows.shape[0] // count
        return BeatCodes(
            codes=codes.reshape(batch, count * self.config.queries, -1),
            latents=latents.reshape(batch, count * self.config.queries, -1),
            windows=count,
            padding=padding,
        )

    def segment(
        self, x: torch.Tensor | np.ndarray, lead_mask: torch.Tensor | np.ndarray | None = None
    ) -> tuple[torch.Tensor, int, int]:
        """x: [B, leads, T] or [leads, T] normalised, any T -> (windows [B * W, leads, context], W, padding).

        The checked, lead-padded input cut right-to-left exactly as `encode` cuts it; with
        `encode_windows` it lets windows of records of different lengths share encoder calls.
        """
        x, _ = self._as_batch(x, lead_mask)
        return segment_windows(x, self.config.context)

    @torch.inference_mode()
    def encode_windows(self, windows: torch.Tensor, bfloat16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """windows [N, leads, context] from `segment` -> (codes [N, queries, levels], latents [N, queries, dim])."""
        expected = (self.config.leads, self.config.context)
        if windows.ndim != 3 or tuple(windows.shape[1:]) != expected:
            raise InvalidSignalError("Beat windows", f"expected [N, {expected[0]}, {expected[1]}], got {tuple(windows.shape)}")
        return self._encode_windows(windows, bfloat16)

    @torch.inference_mode()
    def decode(self, codes: BeatCodes | torch.Tensor) -> torch.Tensor:
        """BeatCodes or codes [B, windows * queries, levels] -> signal [B, leads, samples]."""
        padding = codes.padding if isinstance(codes, BeatCodes) else 0
        tensor = codes.codes if isinstance(codes, BeatCodes) else torch.as_tensor(codes, dtype=torch.long)
        if tensor.ndim == 2:
            tensor = tensor.unsqueeze(0)
        queries, levels = self.config.queries, self.config.levels
        if tensor.ndim != 3 or tensor.shape[1] % queries or tensor.shape[2] != levels:
            raise InvalidSignalError("Beat codes", f"expected [batch, windows * {queries}, {levels}], got {tuple(tensor.shape)}")
        if tensor.min() < 0 or tensor.max() >= self.config.codebook_size:
            raise InvalidSignalError("Beat codes", f"codes must lie in 0..{self.config.codebook_size - 1}")
        batch, windows = tensor.shape[0], tensor.shape[1] // queries
        latents = self.quantizer.lookup(tensor.reshape(batch * windows, queries, levels))
        signal = self._window_parallel(latents, lambda part: (self.decoder(part),))[0]  # (B * W, L, context)
        signal = signal.reshape(batch, windows, self.config.leads, -1).permute(0, 2, 1, 3).reshape(batch, self.config.leads, -1)
        return signal[:, :, padding:]

    @torch.inference_mode()
    def predict(self, x: torch.Tensor | np.ndarray, lead_mask: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """The `horizon` samples after x: [B, leads, T] -> [B, leads, horizon] (from the last window)."""
        x, _ = self._as_batch(x, lead_mask)
        last = segment_windows(x[:, :, -self.config.context :], self.config.context)[0]
        return self._window_parallel(last, lambda windows: (self.forecast(windows, self.encoder(windows)),))[0]

    def forecast(self, context: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """The next `horizon` samples of windows context [B, leads, context] from their
        unquantised latents: the prediction head's output or, with the periodic prior, the
        head's correction (it reads the prior too) plus the prior times a learned gain."""
        if self.prior_gain is None:
            return self.prediction_head(latents)
        with torch.no_grad():  # the prior has no parameters: a fixed input to the correction
            prior = periodic_continuation(context, self.config.horizon, self.config.fs)
        return self.prediction_head(latents, prior) + self.prior_gain[:, None] * prior

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor | np.ndarray, lead_mask: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """encode then decode: [B, leads, T] -> [B, leads, T]."""
        return self.decode(self.encode(x, lead_mask))

    # ---- training -------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """batch["signal"]: [B, leads, context + horizon] normalised; optional batch["lead_mask"]: [B, leads].

        Returns the weighted loss and namespaced logs. Losses average over present
        leads only, so zero-filled leads neither help nor hurt.
        """
        config = self.config
        signal = batch["signal"]
        if signal.ndim != 3 or signal.shape[1] != config.leads or signal.shape[2] != config.context + config.horizon:
            raise InvalidSignalError("Beat batch", f"expected signal [B, {config.leads}, {config.context + config.horizon}], got {tuple(signal.shape)}")
        mask = batch.get("lead_mask")
        mask = torch.ones(signal.shape[:2], dtype=torch.bool) if mask is None else mask.bool()
        weights = mask[:, :, None].to(signal.dtype)
        signal = signal * weights
        context, future = signal[:, :, : config.context], signal[:, :, config.context :]
        latents = self.encoder(context)
        quantized = self.quantizer(latents)
        reconstruction = self.decoder(quantized.quantized)
        prediction = self.forecast(context, latents)
        present = weights.sum().clamp_min(1.0)
        recon_mse = ((reconstruction - context) ** 2 * weights).sum() / (present * config.context)
        pred_mse = ((prediction - future) ** 2 * weights).sum() / (present * config.horizon)
        vq_loss = quantized.commit_loss + quantized.diversity_loss
        w = config.loss_weights
        loss = w["recon"] * recon_mse + w["pred"] * pred_mse + w["vq"] * vq_loss
        logs = {
            "loss": float(loss.detach()),
            "recon/mse": float(recon_mse.detach()),
            "pred/mse": float(pred_mse.detach()),
            "vq/commit": float(quantized.commit_loss.detach()),
            "vq/diversity": float(quantized.diversity_loss.detach()),
        }
        for level, value in enumerate(quantized.perplexity.tolist()):
            logs[f"vq/perplexity{level + 1}"] = value
        return loss, logs

    # ---- checkpoints ----------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors (each atomically) into `directory`."""
        from safetensors.torch import save

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().contiguous() for name, tensor in self.state_dict().items()}
        write_atomic(directory / WEIGHTS_FILE, save(state, metadata={"format": "pt", "model": "beat"}))
        write_atomic(directory / CONFIG_FILE, self.config.to_json())
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> Beat:
        """Load a folder written by `save_pretrained` (no pickle involved)."""
        from safetensors.torch import load_file

        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise UnreadableFileError(path, "missing; a Beat checkpoint folder holds config.json and model.safetensors")
        try:
            config = BeatConfig.from_dict(json.loads(config_path.read_text()))
        except json.JSONDecodeError as error:
            raise UnreadableFileError(config_path, f"not valid JSON ({error})") from error
        except ConfigError as error:  # e.g. a field from a newer heartcare
            raise UnreadableFileError(config_path, error.problem) from error
        model = build_beat(config)
        try:
            state = load_file(str(weights_path))
        except Exception as error:  # safetensors raises its own error types
            raise UnreadableFileError(weights_path, f"not a readable safetensors file ({error})") from error
        expected = model.state_dict()
        missing = [name for name in expected if name not in state]
        unexpected = [name for name in state if name not in expected]
        resized = [f"{name} {tuple(state[name].shape)} vs {tuple(tensor.shape)}"
                   for name, tensor in expected.items() if name in state and state[name].shape != tensor.shape]
        if missing or unexpected or resized:
            raise UnreadableFileError(weights_path, f"weights do not match {CONFIG_FILE}: missing {missing[:3]}, "
                                                    f"unexpected {unexpected[:3]}, other shapes {resized[:3]}")
        model.load_state_dict(state)
        return model.eval()


def build_beat(config: BeatConfig) -> Beat:
    """Turn a config into a model of injected parts."""
    quantizer = ResidualQuantizer(
        dim=config.dim,
        codebook_size=config.codebook_size,
        levels=config.levels,
        shared_codebook=config.shared_codebook,
        decay=config.ema_decay,
        commitment=config.commitment,
        diversity=config.diversity,
        rotation_trick=config.rotation_trick,
        kmeans_init=config.kmeans_init,
        dead_code_threshold=config.dead_code_threshold,
        rare_code_share=config.rare_code_share,
    )
    return Beat(config, BeatEncoder(config), quantizer, build_decoder(config), build_prediction_head(config))

