"""`Beat`: encoder -> residual quantiser -> decoder, plus a prediction head (paper sec. 3).

Public surface: `encode`, `decode`, `predict`, `forward(batch) -> (loss, logs)`,
`save_pretrained` / `from_pretrained` (config.json + model.safetensors).
Inputs are Beat-normalised signals (see `heartcare.beat.data.normalize_window`).
"""

from __future__ import annotations

import json
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
from heartcare.beat.parallel import window_parallel
from heartcare.beat.quantizer import ResidualQuantizer
from heartcare.errors import ConfigError, InvalidSignalError, UnreadableFileError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


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
        # A tensor stays on its device; anything else goes to the model's.
        device = x.device if isinstance(x, torch.Tensor) else self.device
        x = torch.as_tensor(np.asarray(x) if isinstance(x, np.ndarray) else x, dtype=torch.float32, device=device)
        if x.ndim == 2:
            x = x.unsqueeze(0)
        if x.ndim != 3:
            raise InvalidSignalError("Beat input", f"expected [leads, samples] or [batch, leads, samples], got shape {tuple(x.shape)}")
        batch, leads, samples = x.shape
        if leads > self.config.leads or leads == 0 or samples == 0:
            raise InvalidSignalError("Beat input", f"got {leads} leads x {samples} samples; the model takes 1-{self.config.leads} leads and at least 1 sample")
        if not torch.isfinite(x).all():
            raise InvalidSignalError("Beat input", "signal contains NaN or infinite values")
        mask = torch.zeros(batch, self.config.leads, dtype=torch.bool, device=x.device)
        mask[:, :leads] = True
        if lead_mask is not None:
            given = torch.as_tensor(lead_mask, dtype=torch.bool, device=x.device)
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
                compiled(torch.zeros(1, self.config.leads, self.config.context, device=self.device))
        except Exception:  # any backend failure: stay eager rather than break encoding
            return False
        # Not registered as a submodule: checkpoints keep only the encoder's own weights.
        object.__setattr__(self, "_compiled_encoder", compiled)
        return True

    @property
    def device(self) -> torch.device:
        """Where the weights are (inputs that are not tensors are placed here)."""
        return self.encoder.patch_embedding.weight.device

    def _encode_windows(self, windows: torch.Tensor, bfloat16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes [N, queries, levels], quantised latents [N, queries, dim]) of windows [N, leads, context].

        The eager encoder runs through `window_parallel` (chunks of windows on a CPU thread
        pool); each chunk is quantised in its own thread too (nearest codes are per window),
        so no serial step follows the pool. The torch.compile'd encoder keeps intra-op
        threading (its kernels fix their thread count when compiled).
        """
        compiled = None if bfloat16 else self.__dict__.get("_compiled_encoder")
        if compiled is not None:
            return self.quantizer.encode(compiled(windows).float())
        codes, latents = window_parallel(windows, lambda part: self._encode_chunk(part, bfloat16))
        return codes, latents

    def _encode_chunk(self, windows: torch.Tensor, bfloat16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        # Autocast is per thread (like inference mode, which `window_parallel` sets): set it here.
        with torch.autocast(windows.device.type, dtype=torch.bfloat16, enabled=bfloat16):
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
        # Codes index the codebooks, so they go where the codebooks are.
        tensor = torch.as_tensor(codes.codes if isinstance(codes, BeatCodes) else codes, dtype=torch.long, device=self.device)
        if tensor.ndim == 2:
            tensor = tensor.unsqueeze(0)
        queries, levels = self.config.queries, self.config.levels
        if tensor.ndim != 3 or tensor.shape[1] % queries or tensor.shape[2] != levels:
            raise InvalidSignalError("Beat codes", f"expected [batch, windows * {queries}, {levels}], got {tuple(tensor.shape)}")
        if tensor.min() < 0 or tensor.max() >= self.config.codebook_size:
            raise InvalidSignalError("Beat codes", f"codes must lie in 0..{self.config.codebook_size - 1}")
        batch, windows = tensor.shape[0], tensor.shape[1] // queries
        latents = self.quantizer.lookup(tensor.reshape(batch * windows, queries, levels))
        signal = window_parallel(latents, lambda part: (self.decoder(part),))[0]  # (B * W, L, context)
        signal = signal.reshape(batch, windows, self.config.leads, -1).permute(0, 2, 1, 3).reshape(batch, self.config.leads, -1)
        return signal[:, :, padding:]

    @torch.inference_mode()
    def predict(self, x: torch.Tensor | np.ndarray, lead_mask: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """The `horizon` samples after x: [B, leads, T] -> [B, leads, horizon] (from the last window)."""
        x, _ = self._as_batch(x, lead_mask)
        last = segment_windows(x[:, :, -self.config.context :], self.config.context)[0]
        return window_parallel(last, lambda windows: (self.forecast(windows, self.encoder(windows)),))[0]

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
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Namespaced loss terms as tensors ("loss" is their weighted sum; see `forward`).

        batch["signal"]: [B, leads, context + horizon] normalised; optional batch["lead_mask"]:
        [B, leads] bool; optional batch["padding"]: [B] zero samples left-padded onto the start
        of each context (as `segment_windows` pads a record's first window). Losses average
        over present leads and real samples only, so zero-filled leads and padding neither
        help nor hurt; the padded window itself is trained on, as it is what encoding yields.
        """
        config = self.config
        signal = batch["signal"]
        if signal.ndim != 3 or signal.shape[1] != config.leads or signal.shape[2] != config.context + config.horizon:
            raise InvalidSignalError("Beat batch", f"expected signal [B, {config.leads}, {config.context + config.horizon}], got {tuple(signal.shape)}")
        mask = batch.get("lead_mask")
        mask = torch.ones(signal.shape[:2], dtype=torch.bool, device=signal.device) if mask is None else mask.bool()
        lead_weights = mask[:, :, None].to(signal.dtype)  # (B, L, 1)
        signal = signal * lead_weights
        context, future = signal[:, :, : config.context], signal[:, :, config.context :]
        sample_weights = torch.ones_like(context[:, :1])  # (B, 1, context)
        padding = batch.get("padding")
        if padding is not None:
            positions = torch.arange(config.context, device=signal.device)
            sample_weights = (positions[None, None, :] >= padding.to(signal.device)[:, None, None]).to(signal.dtype)
        latents = self.encoder(context)
        quantized = self.quantizer(latents)
        reconstruction = self.decoder(quantized.quantized)
        # The paper's prediction head reads the unquantised latents.
        prediction = self.forecast(context, latents)
        recon_weights = lead_weights * sample_weights  # (B, L, context)
        recon_mse = ((reconstruction - context) ** 2 * recon_weights).sum() / recon_weights.sum().clamp_min(1.0)
        pred_mse = ((prediction - future) ** 2 * lead_weights).sum() / (lead_weights.sum() * config.horizon).clamp_min(1.0)
        vq_loss = quantized.commit_loss + quantized.diversity_loss
        weights = config.loss_weights
        terms = {
            "loss": weights["recon"] * recon_mse + weights["pred"] * pred_mse + weights["vq"] * vq_loss,
            "recon/mse": recon_mse,
            "pred/mse": pred_mse,
            "vq/commit": quantized.commit_loss,
            "vq/diversity": quantized.diversity_loss,
        }
        for level in range(quantized.perplexity.shape[0]):
            terms[f"vq/perplexity{level + 1}"] = quantized.perplexity[level]
        return terms

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The training contract: batch (see `loss_terms`) -> (weighted loss, namespaced float logs)."""
        terms = self.loss_terms(batch)
        return terms["loss"], {name: float(value.detach()) for name, value in terms.items()}

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

