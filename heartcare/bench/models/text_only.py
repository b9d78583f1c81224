"""`text-only:PATH`: a local causal LM answers the question without the ECG.

This is the "does the ECG help at all" baseline every model score is read against
(DESIGN.md "An honest benchmark"): the same system prompt and question text a
multimodal model gets, through the model's own chat template, but no signal and no
image. Multiple-choice items also get option log-likelihoods, so accuracy can be read
from the generated letter and from the most likely option. Without PATH the default
SmolLM2-135M-Instruct backbone is used.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from pathlib import Path
from typing import Any

from heartcare.bench import prompt
from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.errors import ConfigError

NOT_APPLICABLE = "text-only models cannot produce a waveform"


class TextOnlyModel:
    """Greedy chat answers and option log-likelihoods from a local HF causal LM, ECG withheld."""

    batch_size = 8
    scoring_items = 8  # items whose prompts and options share one pair of forward passes

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        from heartcare.model.backbone import default_backbone_path, load_causal_lm

        self.name = f"text-only:{argument}" if argument else "text-only"
        self.context = context
        self.folder = Path(argument) if argument else default_backbone_path()
        self.model, self.tokenizer = load_causal_lm(self.folder)
        if not self.tokenizer.chat_template:
            raise ConfigError(self.folder, "the tokenizer has no chat template; text-only needs an instruction-tuned model")
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.stop_ids: set[int] = set(eos if isinstance(eos, list) else [eos])
        # transformers renamed `past_key_values` to `cache` (5.2x); take whichever this model's forward knows.
        parameters = inspect.signature(self.model.forward).parameters
        self.cache_argument = "cache" if "cache" in parameters else "past_key_values"

    def prompt_ids(self, item: BenchItem) -> list[int]:
        """The chat-templated prompt up to the assistant turn; the ECG is deliberately absent."""
        messages = [
            {"role": "system", "content": prompt.SYSTEM_PROMPT},
            {"role": "user", "content": prompt.user_text(item)},
        ]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template already wrote every special token the model expects.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def respond(self, items: list[BenchItem]) -> list[Output]:
        outputs: list[Output | None] = [None] * len(items)
        by_budget: dict[int, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            if item.task == "signal_prediction":
                outputs[index] = Output(not_applicable=NOT_APPLICABLE)
            else:
                by_budget[prompt.max_new_tokens(item)].append(index)
        # One generate call per budget: a 24-token letter never waits on a 320-token report.
        for budget, indices in by_budget.items():
            answers = self.generate([self.prompt_ids(items[index]) for index in indices], budget)
            for index, (text, count) in zip(indices, answers, strict=True):
                outputs[index] = Output(text=text, extra={"new_tokens": count})
        choice_indices = [index for index, item in enumerate(items) if outputs[index].not_applicable is None and item.is_multiple_choice]
        scores = self.option_logprobs([items[index] for index in choice_indices])
        for index, item_scores in zip(choice_indices, scores, strict=True):
            outputs[index].option_logprobs = item_scores
        return outputs  # type: ignore[return-value]

    def generate(self, prompts: list[list[int]], max_new_tokens: int) -> list[tuple[str, int]]:
        """(answer text, new-token count) per prompt: batched greedy decoding with the KV cache."""
        import torch

        input_ids, attention_mask = left_pad(prompts, self.tokenizer.pad_token_id)
        with torch.inference_mode():
            generated = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                eos_token_id=sorted(self.stop_ids),
                pad_token_id=self.tokenizer.pad_token_id,
            )
        answers = []
        for row in generated[:, input_ids.shape[1] :].tolist():
            stop = next((position for position, token in enumerate(row) if token in self.stop_ids), len(row))
            answers.append((self.tokenizer.decode(row[:stop], skip_special_tokens=True).strip(), stop))
        return answers

    def option_logprobs(self, items: list[BenchItem]) -> list[list[float]]:
        """Per item, per choice: sum of log p("{letter}: {choice}" tokens | prompt), batched across items."""
        scores: list[list[float]] = []
        for start in range(0, len(items), self.scoring_items):
            scores.extend(self._score_chunk(items[start : start + self.scoring_items]))
        return scores

    def _score_chunk(self, items: list[BenchItem]) -> list[list[float]]:
        """One prompt pass for the items, then one pass for all their options on the shared KV cache."""
        import torch

        prompt_ids, prompt_mask = left_pad([self.prompt_ids(item) for item in items], self.tokenizer.pad_token_id)
        owners, options = [], []  # per option row: the item it belongs to, its token ids
        for position, item in enumerate(items):
            for letter, choice in zip(item.letters, item.choices, strict=True):
                owners.append(position)
                options.append(self.tokenizer(f"{letter}: {choice}", add_special_tokens=False)["input_ids"])
        owner_index = torch.tensor(owners)
        width = max(len(option) for option in options)
        option_ids = torch.full((len(options), width), self.tokenizer.pad_token_id, dtype=torch.long)
        option_mask = torch.zeros((len(options), width), dtype=torch.long)
        for row, option in enumerate(options):  # right-padded: causal attention never looks ahead at the padding
            option_ids[row, : len(option)] = torch.tensor(option)
            option_mask[row, : len(option)] = 1
        # Left padding shifts every row; positions must count real tokens only.
        prompt_positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
        option_positions = prompt_mask.sum(-1, keepdim=True)[owner_index] + torch.arange(width)
        with torch.inference_mode():
            prompt_pass = self.model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=prompt_positions, use_cache=True, logits_to_keep=1)
            cache = getattr(prompt_pass, self.cache_argument)
            cache.reorder_cache(owner_index)  # one copy of its item's prompt per option row
            option_pass = self.model(
                input_ids=option_ids,
                attention_mask=torch.cat([prompt_mask[owner_index], option_mask], dim=-1),
                position_ids=option_positions,
                use_cache=True,
                **{self.cache_argument: cache},
            )
        # Token 0 is predicted by the prompt's last position, token k by option position k-1.
        logits = torch.cat([prompt_pass.logits[owner_index, -1:], option_pass.logits[:, :-1]], dim=1).float()  # [rows, width, vocab]
        token_logprobs = logits.log_softmax(-1).gather(-1, option_ids[..., None]).squeeze(-1) * option_mask  # [rows, width]
        scores: list[list[float]] = [[] for _ in items]
        for owner, total in zip(owners, token_logprobs.sum(-1).tolist(), strict=True):
            scores[owner].append(total)
        return scores


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """input_ids [B, T] and attention_mask [B, T] with every row right-aligned."""
    import torch

    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            input_ids[row, width - len(sequence) :] = torch.tensor(sequence, dtype=torch.long)
            attention_mask[row, width - len(sequence) :] = 1
    return input_ids, attention_mask
