"""The `judge` metric: LLM-judge rubric score 0-100 per report, off unless a judge is configured.

With `context.options["judge"]` None (or absent) every item is NaN: the metric costs
nothing and never calls out unless the run asked for it (`--judge`). Items without text
(not applicable, failed) are NaN and not sent. A judge call that fails is NaN too and
counted, so a report can say "judge failed on N items" rather than average over
fewer items silently: the runner reads `context.options["judge_failures"]` (an int,
added to on each call) and `context.options["judge_errors"]` (a list of
{"id", "error"}).
"""

from __future__ import annotations

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import Output


def judge_score(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Weighted rubric total per item (float64 [items], NaN when off, unanswered or the judge failed)."""
    from heartcare.bench.judge import judge_reports

    values = np.full(len(items), np.nan)
    config = context.options.get("judge")
    if config is None:
        return values
    answered = [
        index for index, output in enumerate(outputs) if output.text is not None and output.not_applicable is None
    ]
    results = judge_reports(
        config,
        [items[index].question for index in answered],
        [items[index].answer_text for index in answered],
        [outputs[index].text for index in answered],
    )
    errors = context.options.setdefault("judge_errors", [])
    for index, result in zip(answered, results, strict=True):
        if result.score is None:
            errors.append({"id": items[index].id, "error": result.error})
        else:
            values[index] = result.score
    context.options["judge_failures"] = context.options.get("judge_failures", 0) + sum(
        result.score is None for result in results
    )
    return values
