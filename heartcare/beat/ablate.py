"""Ablation over codebook size x context x separate/shared codebooks (paper Table 18 shape).

Each cell is a short training run from the same seed on random-offset crops of
the same cached training records (so every context length is cut from the same
data without re-reading it); it is scored on fixed-seed crops of the validation fold (total loss, recon, pred, Code% per level, PRD) and
placed on a rate-distortion plot (bits per second of ECG vs PRD) next to the
same-bit-rate k-means baseline. An interrupted ablation resumes: cells already in
`results.json` are kept when the plan (grid, budget, seed, data) is the same.
`without` turns heartcare's additions to the paper's architecture (config.ADDITIONS)
off in every cell, so a plan with them and one without measure what they add.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartcare.atomic import write_atomic, write_figure_atomic
from heartcare.beat.config import BeatConfig, preset, without_additions
from heartcare.errors import ConfigError
from heartcare.train.config import StageConfig

PLAN_FILE = "plan.json"
RESULTS_FILE = "results.json"

DEFAULT_SIZES = (256, 512, 1024)
DEFAULT_CONTEXTS = (500, 1000, 1500)


@dataclass(frozen=True)
class AblationPlan:
    """The grid and the budget of each run."""

    base: str = "cpu-small"
    sizes: tuple[int, ...] = DEFAULT_SIZES
    contexts: tuple[int, ...] = DEFAULT_CONTEXTS
    sharing: tuple[bool, ...] = (False, True)
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 2e-3
    crops_per_record: int = 8  # random-offset training crops per record per epoch
    seed: int = 0
    limit: int | None = None  # records per split (None = all)
    prediction_prior: str | None = None  # None = the base preset's
    without: tuple[str, ...] = ()  # heartcare additions turned off in every run (config.ADDITIONS)

    def __post_init__(self) -> None:
        without_additions(preset(self.base), self.without)  # names checked before any training

    def configs(self) -> list[BeatConfig]:
        base = preset(self.base)
        if self.prediction_prior is not None:
            base = base.with_changes(prediction_prior=self.prediction_prior)
        base = without_additions(base, self.without)
        return [base.with_changes(codebook_size=size, context=context, shared_codebook=shared)
                for context in self.contexts for size in self.sizes for shared in self.sharing]


@dataclass
class AblationRow:
    codebook_size: int
    context: int
    shared: bool
    metrics: dict[str, Any] = field(default_factory=dict)


def run_ablation(data: str | Path, out: str | Path, plan: AblationPlan, cache_dir: str | Path | None = None,
                 progress: bool = True) -> list[AblationRow]:
    """Train and score every cell; writes table.md, results.json and rate_distortion.png into `out`."""
    import torch

    from heartcare.beat.baseline import fit_baseline
    from heartcare.beat.crops import RecordCrops, load_records
    from heartcare.beat.evaluate import evaluate_windows
    from heartcare.beat.model import build_beat
    from heartcare.train.loop import evaluate_logs, train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = _finished_rows(out, plan, data)
    done = {(row.codebook_size, row.context, row.shared) for row in rows}
    baselines: dict[tuple[int, int], dict[str, float]] = {
        (row.codebook_size, row.context): row.metrics["baseline"] for row in rows
    }
    base = preset(plan.base)
    train_records = load_records(data, "train", base, cache_dir=cache_dir, limit=plan.limit)
    valid_records = load_records(data, "valid", base, cache_dir=cache_dir, limit=plan.limit)
    for config in plan.configs():
        if (config.codebook_size, config.context, config.shared_codebook) in done:
            continue  # finished before an interruption, with this same plan
        crops = RecordCrops(train_records, config)
        # Fixed-seed windows: one crop per validation record to score, one per training record for the baseline.
        valid = RecordCrops(valid_records, config)({"record": torch.arange(len(valid_records))},
                                                   torch.Generator().manual_seed(plan.seed))
        fixed_train = crops({"record": torch.arange(len(train_records))}, torch.Generator().manual_seed(plan.seed + 1))
        torch.manual_seed(plan.seed)
        model = build_beat(config)
        stage = StageConfig(name=f"K{config.codebook_size}-T{config.context}-{'shared' if config.shared_codebook else 'separate'}",
                            epochs=10_000, max_steps=plan.steps, batch_size=plan.batch_size,
                            learning_rate=plan.learning_rate, warmup_steps=min(50, plan.steps // 5),
                            seed=plan.seed, progress=progress)
        run_dir = out / "runs" / stage.name
        train(model, crops.index_data(plan.crops_per_record), stage, run_dir, batch_transform=crops)
        logs = evaluate_logs(model, valid, 64)
        key = (config.codebook_size, config.context)
        baseline = None
        if key not in baselines:
            baseline = fit_baseline(fixed_train["signal"].numpy(), config, seed=plan.seed)
        scored = evaluate_windows(model, valid["signal"].numpy(), valid["lead_mask"].numpy(), baseline=baseline,
                                  clinical=False, padding=valid["padding"].numpy())
        if baseline is not None:
            baselines[key] = {"prd_percent": scored["baseline"]["prd_percent"], "mse": scored["baseline"]["mse"],
                              "bits_per_second": scored["bits_per_second"]}
        rows.append(AblationRow(config.codebook_size, config.context, config.shared_codebook, {
            "loss": logs["loss"], "recon_mse": logs["recon/mse"], "pred_mse": logs["pred/mse"],
            "code_usage_percent": scored["code"]["usage_percent"], "prd_percent": scored["recon"]["prd_percent"],
            "bits_per_second": scored["bits_per_second"], "baseline": baselines[key],
        }))
        write_atomic(out / RESULTS_FILE, json.dumps([row.__dict__ for row in rows], indent=2))
    rows = _in_plan_order(rows, plan)
    write_atomic(out / "table.md", markdown_table(rows))
    plot_rate_distortion(rows, out / "rate_distortion.png")
    return rows


def _finished_rows(out: Path, plan: AblationPlan, data: str | Path) -> list[AblationRow]:
    """Rows an earlier run of the same plan in `out` finished; records the plan for a new one."""
    wanted = json.loads(json.dumps({**dataclasses.asdict(plan), "data": str(Path(data).resolve())}))
    saved_path = out / PLAN_FILE
    if saved_path.is_file():
        # A plan saved before `without` existed turned nothing off.
        saved = {"without": [], **json.loads(saved_path.read_text())}
        if saved != wanted:
            changed = sorted(key for key in wanted.keys() | saved.keys() if saved.get(key) != wanted.get(key))
            raise ConfigError(out, f"holds an ablation of another plan (differs in {', '.join(changed)}); "
                                   "choose another --out")
        if (out / RESULTS_FILE).is_file():
            return [AblationRow(**row) for row in json.loads((out / RESULTS_FILE).read_text())]
        return []
    write_atomic(saved_path, json.dumps(wanted, indent=2))
    return []


def _in_plan_order(rows: list[AblationRow], plan: AblationPlan) -> list[AblationRow]:
    order = {(c.codebook_size, c.context, c.shared_codebook): i for i, c in enumerate(plan.configs())}
    return sorted(rows, key=lambda row: order[(row.codebook_size, row.context, row.shared)])


def markdown_table(rows: list[AblationRow]) -> str:
    """Rows in the shape of the paper's Table 18 (plus PRD and the baseline's PRD)."""
    lines = [
        "| codebook | context | codebooks | total loss | recon | pred | Code% L1 | Code% L2 | PRD % | k-means PRD % | bits/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row.metrics
        usage = m["code_usage_percent"] + [float("nan")] * (2 - len(m["code_usage_percent"]))
        lines.append(
            f"| {row.codebook_size} | {row.context} | {'shared' if row.shared else 'separate'} | {m['loss']:.4f} | "
            f"{m['recon_mse']:.4f} | {m['pred_mse']:.4f} | {usage[0]:.2f} | {usage[1]:.2f} | {m['prd_percent']:.1f} | "
            f"{m['baseline']['prd_percent']:.1f} | {m['bits_per_second']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot_rate_distortion(rows: list[AblationRow], path: Path) -> Path:
    """Bits per second of ECG vs PRD for every run and the k-means baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for shared, marker in ((False, "o"), (True, "s")):
        chosen = [row for row in rows if row.shared == shared]
        axis.scatter([r.metrics["bits_per_second"] for r in chosen], [r.metrics["prd_percent"] for r in chosen],
                     marker=marker, label=f"Beat ({'shared' if shared else 'separate'} codebooks)")
    seen = {(r.codebook_size, r.context): r.metrics["baseline"] for r in rows}
    axis.scatter([b["bits_per_second"] for b in seen.values()], [b["prd_percent"] for b in seen.values()],
                 marker="x", color="black", label="k-means PQ baseline")
    axis.set_xlabel("bits per second of ECG")
    axis.set_ylabel("PRD % (validation, lower is better)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    try:
        return write_figure_atomic(figure, path)
    finally:
        plt.close(figure)
