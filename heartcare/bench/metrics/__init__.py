"""The metric registry: name -> how to score items, which direction is better, how to aggregate.

Every metric scores item by item (an array, one value per item; NaN = not scored,
e.g. no log-likelihoods from this adapter) and aggregates by the mean, so one
bootstrap over items gives every metric its interval and a paired bootstrap over
item ids compares two runs. Implementations live in sibling modules, named as
"module:function" and imported only when a task uses them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from heartcare.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    function: str  # "module:function" (items, outputs, context) -> float array [items]
    aggregation: Literal["mean"] = "mean"
    description: str = ""
    argument: str | None = None  # passed as the 4th positional argument when set (e.g. a lead name)


@dataclass
class ScoringContext:
    """What metrics may need beyond items and outputs.

    dataset: the BenchDataset (signal-prediction targets); options: metric settings,
    e.g. "bertscore_model" (a local encoder folder), "judge" (a JudgeConfig or None),
    "cache_dir" (a folder metrics may cache in).
    """

    dataset: Any = None
    options: dict[str, Any] = field(default_factory=dict)


def _metric(name: str, higher: bool, function: str, description: str) -> Metric:
    return Metric(name=name, higher_is_better=higher, function=function, description=description)


LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in [
        _metric("accuracy", True, "heartcare.bench.metrics.choice:accuracy",
                "the option parsed from the generated text is the correct one (unparsable = wrong)"),
        _metric("parse_rate", True, "heartcare.bench.metrics.choice:parse_rate",
                "share of outputs the answer parser could map to exactly one option"),
        _metric("loglik_accuracy", True, "heartcare.bench.metrics.choice:loglik_accuracy",
                "the option with the highest log-likelihood is the correct one (adapters that expose them)"),
        _metric("rouge_l", True, "heartcare.bench.metrics.rouge:rouge_l",
                "ROUGE-L F-measure against the reference answer (rouge-score's tokenizer)"),
        _metric("f1_bio", True, "heartcare.bench.metrics.bertscore:f1_bio",
                "BERTScore F1 against the reference (encoder configurable; default all-MiniLM-L6-v2)"),
        _metric("term_f1", True, "heartcare.bench.metrics.terms:term_f1",
                "F1 of the SCP-ECG concepts named in the answer vs the reference (analogue of F1-Rad)"),
        _metric("judge", True, "heartcare.bench.metrics.judge_metric:judge_score",
                "LLM-judge score 0-100 with the paper's 17-item weighted rubric (only with --judge)"),
        _metric("mse", False, "heartcare.bench.metrics.waveform:mse", "mean squared error, mV^2"),
        _metric("mae", False, "heartcare.bench.metrics.waveform:mae", "mean absolute error, mV"),
        _metric("pearson_r", True, "heartcare.bench.metrics.waveform:pearson_r",
                "Pearson r between predicted and target waveform, averaged over leads"),
        _metric("hr_error", False, "heartcare.bench.metrics.waveform:hr_error",
                "absolute heart-rate difference, bpm, of context+prediction vs context+target"),
        _metric("qrs_timing_error", False, "heartcare.bench.metrics.waveform:qrs_timing_error",
                "mean absolute time, ms, from each target QRS to the nearest predicted QRS"),
    ]
}
for _lead in LEADS:
    METRICS[f"pearson_r/{_lead}"] = Metric(
        name=f"pearson_r/{_lead}", higher_is_better=True, function="heartcare.bench.metrics.waveform:pearson_r_lead",
        description=f"Pearson r in lead {_lead}", argument=_lead,
    )


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(None, f"unknown metric {name!r}; expected one of {', '.join(sorted(METRICS))}")
    return METRICS[name]


def score(name: str, items: list, outputs: list, context: ScoringContext) -> np.ndarray:
    """Per-item values of metric `name` (float64 [items], NaN where not scored)."""
    metric = get_metric(name)
    module_name, function_name = metric.function.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    arguments = (items, outputs, context) + ((metric.argument,) if metric.argument is not None else ())
    values = np.asarray(function(*arguments), dtype=np.float64)
    if values.shape != (len(items),):
        raise ValueError(f"metric {name} returned shape {values.shape} for {len(items)} items")
    return values
