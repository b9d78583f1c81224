"""The `Accelerator` of one `train` call: processes, devices and the mixed precision the hardware has."""

from __future__ import annotations

import logging

from heartcare.train.config import StageConfig

log = logging.getLogger("heartcare.train")


def usable_precision(requested: str) -> tuple[str, str | None]:
    """`requested` if this machine runs it natively, else "no" -> (precision, why it fell back or None).

    CUDA: bf16 needs an Ampere-or-newer GPU, fp16 any GPU. CPU: bf16 when oneDNN has
    native bf16 kernels (AVX512-BF16 / AMX); fp16 autocast on CPU is emulated, so never.
    """
    import torch

    if requested == "no":
        return "no", None
    if torch.cuda.is_available():
        if requested == "bf16" and not torch.cuda.is_bf16_supported():
            return "no", "this GPU has no bf16"
        return requested, None
    if requested == "bf16":
        native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)()
        return ("bf16", None) if native else ("no", "this CPU has no native bf16")
    return "no", "fp16 needs a GPU"


def make_accelerator(stage: StageConfig):
    """A fresh `Accelerator` for `stage` -> (accelerator, the mixed precision actually used)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    precision, reason = usable_precision(stage.mixed_precision)
    # accelerate keeps one process-wide state and refuses a second Accelerator with another
    # precision; stages run one after another in one process (and a loop left early leaves
    # its dataloader registered), so each train() starts from a clean state. The process
    # group (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    accelerator = Accelerator(mixed_precision=precision, gradient_accumulation_steps=stage.gradient_accumulation_steps)
    if accelerator.device.type == "cuda":
        # Left-padded batches give padding queries no key to attend to. On H100/H200 with
        # torch 2.11+, cuDNN attention's backward turns such rows into NaN gradients when the
        # padded length is 64 mod 128 (pytorch/pytorch#196678); a stage-3 run here went NaN
        # by step 10. The memory-efficient and flash kernels handle these rows.
        import torch

        torch.backends.cuda.enable_cudnn_sdp(False)
    if reason is not None and accelerator.is_main_process:
        log.warning("stage %r: mixed_precision %r requested but %s; training in full precision",
                    stage.name, stage.mixed_precision, reason)
    return accelerator, precision
