"""Benchmark tasks: small YAML files in `tasks/`, each a named, versioned selection of items.

A task file says which items it takes (`select`: item fields or `meta.KEY` values that
must all match), which metrics score them (the first, or `primary`, is the headline),
and optional `breakdown` attributes reported separately (comparison kind, misc
subtopic). `include: _base.yaml` pulls shared settings; `select` dicts merge.
Files whose name starts with "_" are bases, not tasks.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from heartcare.bench.items import BenchItem
from heartcare.errors import ConfigError

TASK_PACKAGE = "heartcare.bench.tasks"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    version: int
    description: str
    group: str
    select: dict[str, Any]
    metrics: tuple[str, ...]
    primary: str
    breakdown: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        from heartcare.bench.metrics import METRICS

        unknown = [name for name in self.metrics if name not in METRICS]
        if unknown:
            raise ConfigError(f"task {self.name}", f"unknown metric(s) {', '.join(unknown)}")
        if self.primary not in self.metrics:
            raise ConfigError(f"task {self.name}", f"primary metric {self.primary!r} is not among its metrics")

    def matches(self, item: BenchItem) -> bool:
        return all(item.attribute(key) == value for key, value in self.select.items())


def _read(name: str) -> dict[str, Any]:
    import yaml

    text = resources.files(TASK_PACKAGE).joinpath(name).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{TASK_PACKAGE}/{name}", "a task file must be a mapping")
    base_name = data.pop("include", None)
    if base_name is None:
        return data
    base = _read(base_name)
    merged = {**base, **data}
    merged["select"] = {**base.get("select", {}), **data.get("select", {})}
    return merged


def task_from_dict(data: dict[str, Any], source: str) -> TaskSpec:
    try:
        return TaskSpec(
            name=str(data["name"]),
            version=int(data["version"]),
            description=str(data.get("description", "")),
            group=str(data.get("group", "")),
            select=dict(data["select"]),
            metrics=tuple(data["metrics"]),
            primary=str(data.get("primary", data["metrics"][0])),
            breakdown=tuple(data.get("breakdown", ())),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(source, f"invalid task file: {error!r}") from error


def load_tasks() -> dict[str, TaskSpec]:
    """Every shipped task, by name, in file order."""
    tasks: dict[str, TaskSpec] = {}
    for entry in sorted(resources.files(TASK_PACKAGE).iterdir(), key=lambda path: path.name):
        if entry.name.endswith(".yaml") and not entry.name.startswith("_"):
            task = task_from_dict(_read(entry.name), f"{TASK_PACKAGE}/{entry.name}")
            tasks[task.name] = task
    return tasks


def select_tasks(patterns: list[str] | None = None) -> list[TaskSpec]:
    """Tasks named by `patterns` (names, globs such as 'closed-*', or groups such as 'bench-S'); all when None."""
    tasks = load_tasks()
    if not patterns:
        return list(tasks.values())
    chosen: dict[str, TaskSpec] = {}
    for pattern in patterns:
        matched = [task for task in tasks.values() if fnmatch.fnmatchcase(task.name, pattern) or task.group == pattern]
        if not matched:
            raise ConfigError(None, f"no task matches {pattern!r}; `heartcare bench list` shows the tasks and groups")
        chosen.update((task.name, task) for task in matched)
    return [task for task in tasks.values() if task.name in chosen]


def task_items(task: TaskSpec, items: list[BenchItem]) -> list[BenchItem]:
    return [item for item in items if task.matches(item)]
