"""The named baseline of benchmarks/gpt.py's throughput row: a hand-written transformers + peft
training loop over the very batches heartcare's `train()` draws, and the stamps both loops leave.

The plain model is the backbone loaded with transformers, peft LoRA of the same config and
projectors of HeartcareGPT's shapes, embeddings spliced by hand, its loss computed the usual
way (`labels=`, logits at every position); heartcare's loop is timed through its
`batch_transform` hook, its checkpoint saves timed apart.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import torch


@contextmanager
def timed_saves(record: list[float]):
    """Time every checkpoint save of heartcare's loop (the module-level name the loop calls)."""
    from heartcare.train import loop

    original = loop.save_checkpoint

    def saving(*arguments, **keywords):
        started = time.perf_counter()
        try:
            return original(*arguments, **keywords)
        finally:
            record.append(time.perf_counter() - started)

    loop.save_checkpoint = saving
    try:
        yield
    finally:
        loop.save_checkpoint = original


def heartcare_loop(model, dataset, stage, collator, out: Path) -> tuple[list[float], list[torch.Tensor], list[float]]:
    """(stamps when each batch reached the model, the batches' input_ids, checkpoint save seconds) of train()."""
    from heartcare.train.loop import train

    stamps: list[float] = []
    seen: list[torch.Tensor] = []

    def stamp(batch: dict, generator: torch.Generator) -> dict:  # batch_transform runs right before the forward
        stamps.append(time.perf_counter())
        seen.append(batch["input_ids"])
        return batch

    saves: list[float] = []
    with timed_saves(saves):
        train(model, dataset, stage, out, batch_transform=stamp, collate_fn=collator)
    return stamps, seen, saves


class PlainParts(torch.nn.Module):
    """The plain loop's model: a transformers causal LM with peft LoRA and two projectors of HeartcareGPT's shapes."""

    def __init__(self, backbone: Path, vocabulary: int, config, targets: list[str]) -> None:
        super().__init__()
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        from heartcare.model.backbone import quiet_progress

        with quiet_progress():
            language_model = AutoModelForCausalLM.from_pretrained(backbone, dtype=torch.float32, local_files_only=True)
        language_model.resize_token_embeddings(vocabulary, mean_resizing=False)
        hidden = language_model.get_input_embeddings().weight.shape[1]
        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=targets, bias="none")
        self.language_model = get_peft_model(language_model, lora)  # freezes the backbone, LoRA trainable
        self.signal_projector = torch.nn.Sequential(torch.nn.Linear(config.signal_dim, hidden), torch.nn.GELU(),
                                                    torch.nn.LayerNorm(hidden))
        self.image_tokens = config.image_tokens
        self.image_projector = torch.nn.Sequential(torch.nn.Linear(config.image_feature_dim, hidden), torch.nn.GELU(),
                                                   torch.nn.Linear(hidden, hidden * config.image_tokens))

    def loss(self, batch: dict, signal_id: int, image_id: int) -> torch.Tensor:
        embeddings = self.language_model.get_input_embeddings()(batch["input_ids"]).clone()  # [B, T, hidden]
        input_ids = batch["input_ids"]
        if "signal" in batch:
            embeddings[input_ids == signal_id] = self.signal_projector(batch["signal"])
        if "image" in batch:
            image = self.image_projector(batch["image"])  # [Ni, tokens * hidden]
            embeddings[input_ids == image_id] = image.reshape(len(batch["image"]) * self.image_tokens, -1)
        return self.language_model(inputs_embeds=embeddings, attention_mask=batch["attention_mask"], labels=batch["labels"]).loss


def plain_loop(parts: PlainParts, dataset, stage, collator, signal_id: int, image_id: int,
               learning_rate: float) -> tuple[list[float], list[torch.Tensor]]:
    """The hand-written loop over the batches train() draws: (stamps before each forward, their input_ids)."""
    from torch.utils.data import BatchSampler

    from heartcare.train.data import EpochSampler

    trainable = [parameter for parameter in parts.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, betas=stage.betas, weight_decay=stage.weight_decay)
    sampler = EpochSampler(len(dataset), stage.seed)  # epoch 0: the order train() uses
    stamps: list[float] = []
    seen: list[torch.Tensor] = []
    parts.train()
    for step, indices in enumerate(BatchSampler(sampler, stage.batch_size, drop_last=False)):
        if step >= stage.max_steps:
            break
        batch = collator([dataset[index] for index in indices])  # heartcare's own collate_fn: identical batches
        stamps.append(time.perf_counter())
        seen.append(batch["input_ids"])
        loss = parts.loss(batch, signal_id, image_id)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, stage.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return stamps, seen


def step_seconds(stamps: list[float], warmup: int) -> list[float]:
    """Seconds between consecutive batches reaching the model, warm-up steps dropped (a step's interval
    holds its forward, backward and optimiser step and the loading of the next batch)."""
    return [later - earlier for earlier, later in zip(stamps[warmup:-1], stamps[warmup + 1:], strict=True)]
