"""Which parameters a stage trains, at which learning rate: the optimiser's parameter groups.

Three sources, in order: the model's own `parameter_groups(stage)` (it also sets
requires_grad, e.g. HeartcareGPT's projectors / LoRA / token rows); else
`stage.trainable` read as sub-module names; else every parameter that requires
grad. Matrices get weight decay, biases and norms do not (as AdamW is usually run).
"""

from __future__ import annotations

from typing import Any

from heartcare.errors import ConfigError
from heartcare.train.config import StageConfig


def _split_decay(name: str, parameters: list, learning_rate: float, weight_decay: float) -> list[dict[str, Any]]:
    """One part -> a decayed group (ndim >= 2) and a "<name>.no_decay" group (biases, norms)."""
    decay = [parameter for parameter in parameters if parameter.ndim >= 2]
    no_decay = [parameter for parameter in parameters if parameter.ndim < 2]
    groups = [{"name": name, "params": decay, "lr": learning_rate, "weight_decay": weight_decay},
              {"name": f"{name}.no_decay", "params": no_decay, "lr": learning_rate, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def _from_submodules(model, stage: StageConfig) -> list[dict[str, Any]]:
    """stage.trainable as {sub-module name: lr}: freeze the rest of the model."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    groups, owner = [], {}
    for part, learning_rate in stage.trainable.items():
        try:
            module = model.get_submodule(part)
        except AttributeError as error:
            raise ConfigError(f"StageConfig {stage.name!r}", f"trainable part {part!r} is not a sub-module of "
                                                             f"{type(model).__name__}") from error
        parameters = list(module.parameters())
        for parameter in parameters:
            if id(parameter) in owner:
                raise ConfigError(f"StageConfig {stage.name!r}",
                                  f"trainable parts {owner[id(parameter)]!r} and {part!r} overlap")
            owner[id(parameter)] = part
            parameter.requires_grad_(True)
        groups += _split_decay(part, parameters, learning_rate, stage.weight_decay)
    return groups


def parameter_groups(model, stage: StageConfig) -> list[dict[str, Any]]:
    """[{"name", "params", "lr", "weight_decay"}] for `stage`, each parameter in one group at most."""
    if hasattr(model, "parameter_groups"):
        groups = [dict(group) for group in model.parameter_groups(stage)]
        for group in groups:
            missing = {"name", "params", "lr"} - set(group)
            if missing:
                raise ConfigError(f"{type(model).__name__}.parameter_groups", f"a group lacks {sorted(missing)}")
            group["params"] = list(group["params"])
            group["lr"] = float(group["lr"])
            group.setdefault("weight_decay", stage.weight_decay)
    elif stage.trainable:
        groups = _from_submodules(model, stage)
    else:
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        groups = _split_decay("all", trainable, stage.learning_rate, stage.weight_decay)
    groups = [group for group in groups if group["params"]]
    names = [group["name"] for group in groups]
    if not groups:
        raise ConfigError(f"StageConfig {stage.name!r}", "no parameters to train")
    if len(set(names)) != len(names):
        raise ConfigError(f"StageConfig {stage.name!r}", f"parameter group names repeat: {names}")
    seen: set[int] = set()
    for group in groups:
        for parameter in group["params"]:
            if id(parameter) in seen:
                raise ConfigError(f"StageConfig {stage.name!r}", f"a parameter of group {group['name']!r} is in "
                                                                 "another group too")
            seen.add(id(parameter))
    return groups
