"""Choosing the reader weight of option answers (heartcare.model.option_answers) on valid items.

Each valid multiple-choice item of the chosen tasks (a seeded sample of `limit` per task, the
bench's own `--limit` sample) is scored once: the language model's log-likelihood of every
option and the asked reader's log belief. Every weight of the grid then answers from those
scores, and the weight with the best mean per-task accuracy wins (the smallest on ties: the less
the reader overrides the language model, the better). Test items are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

VALID_BATCH = 16  # items per scoring pass


def score_valid_items(checkpoint: str | Path, dataset: str | Path, tasks: Sequence[str] = ("closed-*",),
                      limit: int | None = 60, seed: int = 0, progress: bool = True,
                      settings: dict[str, Any] | None = None) -> tuple[list[tuple], int]:
    """-> ([(language scores, reader scores or None, right index, task) per scored item], items the model cannot read);
    `settings`: config settings changed at the same time (e.g. finding_choices), in force while scoring."""
    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.models.base import ModelContext
    from heartcare.bench.models.heartcare_gpt import HeartcareGptModel, option_logprobs
    from heartcare.bench.runner import selected_items
    from heartcare.bench.tasks import select_tasks
    from heartcare.model.examples import StreamMissingError, encode_item
    from heartcare.model.option_answers import reader_scores
    from heartcare.train.progress import ProgressBar

    bench = BenchDataset(dataset)
    adapter = HeartcareGptModel(str(checkpoint), ModelContext(bench, seed=seed, split="valid"))
    model = adapter.model
    model.config = model.config.with_changes(**(settings or {}))
    chosen = selected_items(select_tasks(list(tasks)), bench.items("valid"), limit, seed)
    work = [(task, item) for task, items in chosen.items() for item in items if item.is_multiple_choice]
    scored, unreadable = [], 0
    bar = ProgressBar("valid options", len(work), 0, enabled=progress)
    try:
        for start in range(0, len(work), VALID_BATCH):
            batch, prompts = [], []
            for task, item in work[start : start + VALID_BATCH]:
                try:
                    prompts.append(encode_item(item, adapter.features, model.config, model.tokenizer, with_answer=False,
                                               reader=adapter.reader))
                    batch.append((task, item))
                except StreamMissingError:
                    unreadable += 1
            language = option_logprobs(model, [item for _, item in batch], adapter.features, adapter.reader) if batch else []
            for (task, item), prompt, own in zip(batch, prompts, language, strict=True):
                scored.append((own, reader_scores(model, prompt, item.choices), item.answer_index, task))
            bar.update(min(start + VALID_BATCH, len(work)), "")
    finally:
        bar.stop()
    return scored, unreadable


def choose_reader_weight(checkpoint: str | Path, dataset: str | Path, tasks: Sequence[str] = ("closed-*",),
                         limit: int | None = 60, seed: int = 0, progress: bool = True,
                         settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"weight": the chosen weight, "table": per weight, per task and "mean", valid accuracy in %, "items",
    "unreadable", "with_reader": items a reader speaks to, and where the sample came from}."""
    from heartcare.errors import ConfigError
    from heartcare.model.option_answers import chosen_weight

    scored, unreadable = score_valid_items(checkpoint, dataset, tasks, limit, seed, progress, settings)
    if not scored:
        raise ConfigError(dataset, f"no valid multiple-choice items of {', '.join(tasks)} this model can read to choose a reader weight on")
    weight, table = chosen_weight(scored)
    return {"weight": weight, "table": table, "items": len(scored), "unreadable": unreadable,
            "with_reader": sum(reader is not None for _, reader, _, _ in scored),
            "split": "valid", "tasks": list(tasks), "limit": limit, "seed": seed, "data": str(Path(dataset).resolve())}
