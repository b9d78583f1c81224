"""Every shipped task loads, selects what it says, and the tasks partition a real build's items."""

from __future__ import annotations

from collections import Counter

import pytest

from heartcare.bench.dataset import BenchDataset
from heartcare.bench.metrics import METRICS
from heartcare.bench.tasks import load_tasks, select_tasks, task_items
from heartcare.errors import ConfigError


def test_every_shipped_task_loads_with_known_metrics():
    tasks = load_tasks()
    assert len(tasks) == 28  # 8 closed + 8 open + 6 comparison + 2 report + 4 prediction
    for task in tasks.values():
        assert task.version >= 1 and task.description
        assert all(metric in METRICS for metric in task.metrics)
        assert task.primary == task.metrics[0] or task.primary in task.metrics
    groups = Counter(task.group for task in tasks.values())
    assert groups == {"bench-S": 8, "bench-I": 8, "bench-C": 6, "report": 2, "prediction": 4}


def test_selection_by_name_glob_and_group():
    assert [t.name for t in select_tasks(["closed-S-misc"])] == ["closed-S-misc"]
    assert len(select_tasks(["closed-*"])) == 8
    assert {t.name for t in select_tasks(["bench-C"])} == {f"comparison-{f}-{r}" for f in ("SS", "II", "SI")
                                                          for r in ("consecutive", "irrelevant")}
    with pytest.raises(ConfigError, match="no task matches 'closd-\\*'"):
        select_tasks(["closd-*"])


def test_tasks_partition_the_items_of_a_real_build(built_dataset):
    items = BenchDataset(built_dataset).items("test") + BenchDataset(built_dataset).items("train")
    owners = Counter()
    for task in load_tasks().values():
        for item in task_items(task, items):
            owners[item.id] += 1
            assert task.select["task"] == item.task
    assert set(owners.values()) == {1}, "an item belongs to no task or to two"
    assert len(owners) == len(items)


def test_selectors_read_the_item_fields():
    tasks = load_tasks()
    items = BenchDataset.__new__(BenchDataset)  # no folder needed: select on hand-made items
    del items
    from heartcare.bench.items import BenchItem, EcgRef

    two_second = BenchItem(id="a", task="signal_prediction", dimension="rhythm", modality="I", question="q", answer="<prediction>",
                           ecgs=(EcgRef("r", "I"),), meta={"horizon_s": 2.0, "context": [0, 1000], "target": [1000, 1500]})
    assert tasks["prediction-I-2s"].matches(two_second)
    assert not tasks["prediction-I-1s"].matches(two_second)
    assert not tasks["prediction-S-2s"].matches(two_second)
    pair = BenchItem(id="b", task="comparison_qa", dimension="rhythm", modality="C-SI", question="q", answer="A: x",
                     choices=("x", "y"), answer_index=0, meta={"relation": "irrelevant", "kind": "same_rhythm"})
    assert [name for name, task in tasks.items() if task.matches(pair)] == ["comparison-SI-irrelevant"]
