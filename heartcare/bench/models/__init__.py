"""The model-adapter registry: `--model NAME[:ARG]` -> an adapter.

Entries name "module:Class" so that listing or building one adapter never imports
another's heavy dependencies (transformers, openai, torch). Each class is built as
`Class(arg, context)` with `arg` the text after the first colon (None without one).
An adapter whose argument names files it answers from (a checkpoint, a predictions file)
says what they hold with a static `fingerprint(arg) -> str | None`: a run folder is tied
to that content, so a retrained checkpoint at the same path never reuses old answers.
"""

from __future__ import annotations

import importlib

from heartcare.bench.models.base import BenchModel, ModelContext, Output
from heartcare.errors import ConfigError

__all__ = ["MODELS", "FLOORS", "BenchModel", "ModelContext", "Output", "build_model", "model_fingerprint"]

MODELS: dict[str, str] = {
    "random": "heartcare.bench.models.floors:RandomModel",
    "majority": "heartcare.bench.models.floors:MajorityModel",
    "blind": "heartcare.bench.models.blind:BlindModel",
    "predictions": "heartcare.bench.models.predictions:PredictionsModel",
    "text-only": "heartcare.bench.models.text_only:TextOnlyModel",
    "openai": "heartcare.bench.models.openai_chat:OpenAIChatModel",
    "beat": "heartcare.bench.models.waveform:BeatModel",
    "periodic": "heartcare.bench.models.waveform:PeriodicModel",
    "heartcare-gpt": "heartcare.bench.models.heartcare_gpt:HeartcareGptModel",
    "probe": "heartcare.bench.models.probe:ProbeModel",
    "findings": "heartcare.bench.models.findings:FindingsModel",
}

# Shown beside every model in reports: a model is worth reading only above these.
FLOORS: tuple[str, ...] = ("random", "majority", "blind")


def split_spec(spec: str) -> tuple[str, str | None]:
    name, colon, argument = spec.partition(":")
    return name, (argument if colon else None)


def adapter_class(spec: str) -> tuple[type, str | None]:
    name, argument = split_spec(spec)
    if name not in MODELS:
        raise ConfigError(None, f"unknown model {name!r} in --model {spec!r}; expected one of {', '.join(sorted(MODELS))}")
    module_name, class_name = MODELS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name), argument


def build_model(spec: str, context: ModelContext) -> BenchModel:
    adapter, argument = adapter_class(spec)
    model = adapter(argument, context)
    model.name = spec
    return model


def model_fingerprint(spec: str) -> str | None:
    """A digest of the files `spec` answers from, or None for a model that names none."""
    adapter, argument = adapter_class(spec)
    fingerprint = getattr(adapter, "fingerprint", None)
    return None if fingerprint is None or argument is None else fingerprint(argument)
