"""HeartcareGPT: Beat latents and image features spliced into any Hugging Face causal LM (DSPA).

Composed from injected parts (`build_model` turns a `GptConfig` into them): a causal
LM with LoRA adapters on attention, its tokenizer with the ECG tokens added, a signal
projector and an image projector, and, for inference on raw ECGs, the frozen Beat
and image encoder. Training reads cached features, so a step runs only the
projectors and the LLM. Which parts train is stage data: `parameter_groups(stage)`
maps the part names of `StageConfig.trainable` to parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from heartcare.errors import ConfigError
from heartcare.model.chat import (
    COMPARISON,
    FINDING,
    IMAGE,
    IMAGE_FINDING,
    PREDICTION,
    SIGNAL,
    SPECIAL_TOKENS,
    end_of_turn_id,
)
from heartcare.model.config import PROJECTORS, GptConfig
from heartcare.model.projectors import ImageProjector, SignalProjector
from heartcare.model.streaming import RowStops, RowStreamer, TokenCallback

# finding_readers: the finding projectors' fitted classifiers and rate / presence heads, a part of their own
# so that a stage can hold them at their fit while the rest of those projectors trains.
FINDING_PROJECTORS = ("finding_projector", "image_finding_projector")
PARTS = (*PROJECTORS, "finding_readers", "lora", "token_rows")


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counted over real tokens only, so a left-padded row reads as if unpadded."""
    return (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


class FeatureCountError(ConfigError):
    """Placeholders and features disagree: a silent mismatch would shift every ECG token."""


class HeartcareGPT(nn.Module):
    def __init__(
        self,
        config: GptConfig,
        language_model: nn.Module,
        tokenizer: Any,
        signal_projector: SignalProjector | None,
        image_projector: ImageProjector | None,
        base_vocabulary: int,
        beat: nn.Module | None = None,
        image_encoder: nn.Module | None = None,
        finding_projector: nn.Module | None = None,
        image_finding_projector: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.language_model = language_model
        self.tokenizer = tokenizer
        self.signal_projector = signal_projector
        self.image_projector = image_projector
        self.finding_projector = finding_projector  # heartcare.model.findings; None = the paper's DSPA
        self.image_finding_projector = image_finding_projector
        self.base_vocabulary = base_vocabulary  # ids from here on are the ECG tokens (their rows may train)
        extra = ((FINDING,) * (finding_projector is not None) + (IMAGE_FINDING,) * (image_finding_projector is not None)
                 + (COMPARISON,) * (finding_projector is not None and finding_projector.comparison is not None))
        self.token_ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (*SPECIAL_TOKENS, *extra)}
        self.end_of_turn = end_of_turn_id(tokenizer)
        # Frozen encoders are kept out of the module tree: they never train and never enter a checkpoint.
        self._encoders: dict[str, Any] = {"beat": beat, "image": image_encoder}
        self._row_hooks: list = []

    # ---- checkpoints (heartcare.model.checkpoint) ------------------------------------
    @classmethod
    def from_pretrained(cls, directory, load_encoders: bool = True) -> HeartcareGPT:
        """The model a checkpoint folder names (backbone, Beat, encoder) with its trained tensors."""
        from heartcare.model.checkpoint import from_pretrained

        return from_pretrained(directory, load_encoders=load_encoders)

    def save_pretrained(self, directory, extra: dict[str, Any] | None = None):
        """config.json + what trains (projectors, LoRA, ECG token rows)."""
        from heartcare.model.checkpoint import save_pretrained

        return save_pretrained(self, directory, extra)

    # ---- parts and stages -----------------------------------------------------------
    @property
    def beat(self):
        return self._encoders["beat"]

    @property
    def image_encoder(self):
        return self._encoders["image"]

    def embedding_matrices(self) -> list[nn.Parameter]:
        """The input embedding and, when not tied to it, the output head: the two homes of token rows."""
        matrices = [self.language_model.get_input_embeddings().weight]
        output = self.language_model.get_output_embeddings()
        if output is not None and output.weight is not matrices[0]:
            matrices.append(output.weight)
        return matrices

    def part_parameters(self, part: str) -> list[nn.Parameter]:
        if part in PROJECTORS:
            projector = getattr(self, part)
            if projector is None:
                return []
            readers = {id(parameter) for parameter in projector.reader_parameters()} if part in FINDING_PROJECTORS else set()
            return [parameter for parameter in projector.parameters() if id(parameter) not in readers]
        if part == "finding_readers":
            projectors = [getattr(self, name) for name in FINDING_PROJECTORS]
            return [parameter for projector in projectors if projector is not None for parameter in projector.reader_parameters()]
        if part == "lora":
            return [p for name, p in self.language_model.named_parameters() if "lora_" in name]
        if part == "token_rows":
            return self.embedding_matrices()
        raise ConfigError("StageConfig.trainable", f"unknown part {part!r}; expected one of {', '.join(PARTS)}")

    def parameter_groups(self, stage) -> list[dict[str, Any]]:
        """Freeze everything, then unfreeze the stage's parts: [{"name", "params", "lr", "weight_decay"}]."""
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        for hook in self._row_hooks:
            hook.remove()
        self._row_hooks = []
        trainable = dict(stage.trainable) or dict.fromkeys((*PROJECTORS, "finding_readers"), stage.learning_rate)
        groups = []
        for part, learning_rate in trainable.items():
            parameters = self.part_parameters(part)
            if not parameters:
                continue
            for parameter in parameters:
                parameter.requires_grad_(True)
            if part == "token_rows":  # only the new rows learn: zero the gradient of the backbone's own rows
                self._row_hooks = [matrix.register_hook(self._keep_new_rows) for matrix in parameters]
            # No decay on embeddings (it would move the frozen rows even with zero gradients), biases or norms.
            decayed = [p for p in parameters if p.ndim >= 2 and part != "token_rows"]
            plain = [p for p in parameters if not (p.ndim >= 2 and part != "token_rows")]
            for suffix, members, decay in (("", decayed, stage.weight_decay), (".no_decay", plain, 0.0)):
                if members:
                    groups.append({"name": part + suffix, "params": members, "lr": float(learning_rate), "weight_decay": decay})
        if not groups:
            raise ConfigError(f"StageConfig {stage.name!r}", f"no parameters to train in parts {sorted(trainable)}")
        return groups

    def frozen_leading_rows(self) -> dict[str, int]:
        """{parameter name: leading rows that never train}: the backbone's own rows of an embedding matrix
        that trains only its ECG token rows (training checkpoints store just the rest)."""
        names = {id(parameter): name for name, parameter in self.named_parameters()}
        return {names[id(matrix)]: self.base_vocabulary for matrix in self.embedding_matrices()
                if matrix.requires_grad and id(matrix) in names and self._row_hooks}

    def _keep_new_rows(self, gradient: torch.Tensor) -> torch.Tensor:
        gradient = gradient.clone()
        gradient[: self.base_vocabulary] = 0
        return gradient

    def gradient_checkpointing_enable(self) -> None:
        """Keep only each decoder layer's input in training and recompute the rest in the backward
        pass: activation memory drops from every layer's intermediates to one tensor per layer, for
        about one more forward pass of time (benchmarks/gpt_memory.py). Non-reentrant, so the frozen
        LLM of the warm-up stage still passes gradients to the projectors; dropout masks are replayed."""
        language_model = self.language_model  # transformers 5 renamed the call; 4.x has only the old name
        enable = getattr(language_model, "activation_checkpointing_enable", None) or language_model.gradient_checkpointing_enable
        enable({"use_reentrant": False})

    def gradient_checkpointing_disable(self) -> None:
        language_model = self.language_model
        disable = getattr(language_model, "activation_checkpointing_disable", None) or language_model.gradient_checkpointing_disable
        disable()

    # ---- embedding and the training contract ----------------------------------------
    def embed(self, input_ids: torch.Tensor, signal: torch.Tensor | None, image: torch.Tensor | None,
              finding: torch.Tensor | None = None, image_finding: torch.Tensor | None = None,
              comparison_index: torch.Tensor | None = None, comparison_finding: torch.Tensor | None = None,
              finding_offered: torch.Tensor | None = None, image_finding_offered: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [B, T] with placeholders; signal [Ns, signal_dim]; image [Ni, feature_dim]; finding
        [Nf, 2 * signal_dim]; image_finding [Nj, 2 * feature_dim]; comparison_index [pairs, 2] (rows of
        finding then image_finding, heartcare.model.examples.comparison_index) and comparison_finding
        [pairs] (the named finding each pair's question names, -1 none); finding_offered [Nf, answers]
        and image_finding_offered [Nj, answers] (a model with finding_choices) -> [B, T, hidden]."""
        embeddings = self.language_model.get_input_embeddings()(input_ids)
        streams = [(SIGNAL, signal, self.signal_projector), (IMAGE, image, self.image_projector)]
        offers = {}
        for token, features, projector, offered in ((FINDING, finding, self.finding_projector, finding_offered),
                                                    (IMAGE_FINDING, image_finding, self.image_finding_projector, image_finding_offered)):
            if projector is not None or features is not None:
                streams.append((token, features, projector))
                offers[token] = offered
        for token, features, projector in streams:
            mask = input_ids == self.token_ids.get(token, -1)
            slots = int(mask.sum())
            if features is None or len(features) == 0:
                if slots:
                    raise FeatureCountError("HeartcareGPT", f"{slots} {token} placeholders but no features")
                continue
            if projector is None:
                raise FeatureCountError("HeartcareGPT", f"{token} features given but this model has no such stream")
            offered = offers.get(token)
            if token in offers:  # a finding projector: the question's offered answers, the setting's sharpness
                projected = projector(features.to(embeddings.dtype), offered, self.config.finding_temperature)
            else:
                projected = projector(features.to(embeddings.dtype))
            if projected.shape[0] != slots:
                raise FeatureCountError("HeartcareGPT", f"{slots} {token} placeholders but {projected.shape[0]} projected tokens")
            embeddings = embeddings.masked_scatter(mask.unsqueeze(-1), projected.to(embeddings.dtype))
        return self._embed_comparisons(embeddings, input_ids, finding, image_finding, comparison_index, comparison_finding)

    def _embed_comparisons(self, embeddings: torch.Tensor, input_ids: torch.Tensor, finding: torch.Tensor | None,
                           image_finding: torch.Tensor | None, comparison_index: torch.Tensor | None,
                           comparison_finding: torch.Tensor | None) -> torch.Tensor:
        """Write each pair's comparison tokens (heartcare.model.comparison_tokens) over its placeholders."""
        mask = input_ids == self.token_ids.get(COMPARISON, -1)
        slots = int(mask.sum())
        pairs = 0 if comparison_index is None else len(comparison_index)
        if slots != pairs * self.config.comparison_tokens:
            raise FeatureCountError("HeartcareGPT", f"{slots} {COMPARISON} placeholders but {pairs} compared pairs")
        if not pairs:
            return embeddings
        from heartcare.model.comparison_tokens import rhythm_index

        rhythm_kind = rhythm_index(self.config)
        rhythms, rates, presences = [], [], []
        for rows, projector in ((finding, self.finding_projector), (image_finding, self.image_finding_projector)):
            if rows is not None and len(rows) and projector is not None:
                rows = rows.to(projector.input_mean.dtype)
                rhythms.append(projector.probabilities(rows)[rhythm_kind])
                rates.append(projector.rates(rows))
                if projector.presence is not None:
                    presences.append(projector.presences(rows))
        rhythm, rate = torch.cat(rhythms)[comparison_index], torch.cat(rates)[comparison_index]
        presence = named = None
        if self.config.named_findings:
            if comparison_finding is None or len(comparison_finding) != pairs:
                raise FeatureCountError("HeartcareGPT", f"{pairs} compared pairs but no named finding per pair")
            named = comparison_finding >= 0
            chosen = comparison_finding.clamp_min(0)[:, None].expand(-1, 2)
            presence = torch.cat(presences)[comparison_index].gather(2, chosen[..., None]).squeeze(-1)
        tokens = self.finding_projector.comparison(rhythm, rate, presence, named)
        return embeddings.masked_scatter(mask.unsqueeze(-1), tokens.to(embeddings.dtype))

    def embed_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """`embed` of a collated batch (its feature keys: signal, image, finding, image_finding, comparison_index,
        comparison_finding)."""
        return self.embed(batch["input_ids"], batch.get("signal"), batch.get("image"), batch.get("finding"), batch.get("image_finding"),
                          batch.get("comparison_index"), batch.get("comparison_finding"),
                          batch.get("finding_offered"), batch.get("image_finding_offered"))

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """batch: input_ids, attention_mask, labels [B, T]; signal [Ns, dim], image [Ni, D] -> (answer-token loss, logs)."""
        logits, targets = self._answer_logits(batch)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        return loss, {"loss": float(loss.detach()), "answer_tokens": float((targets != -100).sum())}

    def answer_logprobs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """[B]: per row, the summed log-probability of its labelled (answer) tokens given the prompt and ECGs."""
        logits, targets = self._answer_logits(batch)
        scored = targets != -100
        picked = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * scored).sum(dim=-1)

    def _answer_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, K, vocabulary], targets [B, K]) over the positions from the first answer token on.

        Logits are computed only from there (`logits_to_keep`): with the batch left-padded that is
        the last few positions of every row, and the output head over a 49k vocabulary at every
        prompt position was a third of a CPU step.
        """
        labels, mask = batch["labels"], batch["attention_mask"]
        embeddings = self.embed_batch(batch)
        answered = (labels != -100).any(dim=0).nonzero()
        if len(answered) == 0:
            raise ValueError("a batch without answer tokens")
        first = max(int(answered[0]), 1)
        keep = labels.shape[1] - first + 1  # logits at first - 1 .. T - 1 predict tokens first .. T
        output = self.language_model(inputs_embeds=embeddings, attention_mask=mask, position_ids=positions(mask),
                                     logits_to_keep=keep, use_cache=False)  # a training pass: no KV cache to build
        return output.logits[:, :-1].float(), labels[:, first:]

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """[B, T, vocabulary] next-token logits of a batch (tests, option scoring)."""
        mask = batch["attention_mask"]
        embeddings = self.embed_batch(batch)
        return self.language_model(inputs_embeds=embeddings, attention_mask=mask, position_ids=positions(mask)).logits

    def hidden_states(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Per layer, [B, T, hidden] (the spliced input embeddings first, then each decoder layer's output)."""
        mask = batch["attention_mask"]
        embeddings = self.embed_batch(batch)
        output = self.language_model(inputs_embeds=embeddings, attention_mask=mask, position_ids=positions(mask),
                                     output_hidden_states=True, logits_to_keep=1)
        return output.hidden_states

    # ---- generation -----------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        batch: dict[str, torch.Tensor],
        max_new_tokens: int | Sequence[int],
        use_cache: bool = True,
        on_token: TokenCallback | None = None,
        cancelled: Callable[[int], bool] | None = None,
    ) -> list[list[int]]:
        """Greedy answers of a left-padded batch (input_ids, attention_mask, signal, image): new token ids per row.

        max_new_tokens: one budget for all rows or one per row. on_token(row, token) sees each
        new token as it is decoded; a row whose cancelled(row) turns true stops there. The end
        token is dropped from the answers.
        """
        from transformers import StoppingCriteriaList

        rows = batch["input_ids"].shape[0]
        budgets = [max_new_tokens] * rows if isinstance(max_new_tokens, int) else list(max_new_tokens)
        if len(budgets) != rows or min(budgets) <= 0:
            raise ConfigError("HeartcareGPT.generate", f"need {rows} positive token budgets, got {budgets}")
        embeddings = self.embed_batch(batch)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.end_of_turn
        streamer = RowStreamer(rows, self.end_of_turn, budgets, on_token) if on_token is not None else None
        generated = self.language_model.generate(
            inputs_embeds=embeddings,
            attention_mask=batch["attention_mask"],
            max_new_tokens=max(budgets),
            do_sample=False,
            num_beams=1,
            use_cache=use_cache,
            eos_token_id=[self.end_of_turn],
            pad_token_id=pad,
            stopping_criteria=StoppingCriteriaList([RowStops(cancelled)] if cancelled is not None else []),
            streamer=streamer,
        )
        answers = []  # decoding ran to the largest budget: each row is cut to its own here
        for row, budget in zip(generated.tolist(), budgets, strict=True):
            answer = []
            for token in row[:budget]:
                if token == self.end_of_turn:
                    break
                answer.append(token)
            answers.append(answer)
        return answers

    def decode(self, token_ids: list[int]) -> str:
        """Generated ids -> text; `<prediction>` is kept as written so callers can see it was asked for."""
        return self.tokenizer.decode(token_ids, skip_special_tokens=False).strip()

    def asks_for_prediction(self, token_ids: list[int]) -> bool:
        return bool(token_ids) and token_ids[0] == self.token_ids[PREDICTION]
