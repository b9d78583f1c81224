"""Heartcare-Bench scoring speed on a PTB-XL-size test split: floors, parser + accuracy, ROUGE-L, F1-Bio, term F1.

    python benchmarks/bench.py [--closed 20000] [--open 6000] [--baseline-items 400] [--bertscore-baseline 150]
    python benchmarks/bench.py --data /path/to/dataset      # a HeartAgent dataset's test split
    python benchmarks/bench.py --quick                      # smoke run, a few seconds

Items are synthetic unless --data is given: closed items offer four SCP-ECG statements
and answer in varied phrasings (letters, "Answer: B", option text, contradictions,
refusals); open items are HeartAgent open answers and reports rebuilt from random label
sets, each "predicted" by a perturbed copy (a finding swapped, a sentence dropped, a
paraphrased opening). With --data the dataset's own references are perturbed the same way.

Baselines in the same run, checked to give the same numbers: the parser with its
pattern caches emptied before every item; rouge-score's RougeScorer called
per item; bert-score's BERTScorer (loaded once) called per item (batches of 1; calling
bert_score.score per item would also reload the encoder every time). Baselines run on
the first --baseline-items / --bertscore-baseline items and their rate is extrapolated
to the whole split (the table says so). Torch runs on one CPU thread unless --threads says
otherwise: on a shared 2-core machine two threads spin-wait on each other and BERTScore
per item gets ~50x slower, which would flatter the batched path.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.bench.items import LETTERS, BenchItem
from heartcare.bench.models.base import Output

PHRASINGS = (
    "{letter}", "({letter})", "{letter}.", "Answer: {letter}", "The answer is {letter}.", "{letter}: {text}",
    "The correct option is {letter}, {text}.", "{text}", "The ECG shows {text}.", "**{letter}**",
    "{wrong_letter}: {text}", "{letter} or {wrong_letter}", "I cannot tell from this tracing.", "{wrong_text}",
)
OPENINGS = ("The tracing shows", "Findings:", "On review,", "Overall the ECG is")


def synthetic_closed(count: int, rng: np.random.Generator) -> tuple[list[BenchItem], list[Output]]:
    """Closed items with four SCP statements as options and answers in PHRASINGS (some wrong or unparsable)."""
    from heartcare.sources.scp import statements

    pool = [statement.description for statement in statements().values()]
    items, outputs = [], []
    for index in range(count):
        choices = tuple(str(text) for text in rng.choice(pool, size=4, replace=False))
        answer = int(rng.integers(4))
        picked = answer if rng.random() < 0.7 else int(rng.integers(4))
        wrong = (picked + 1 + int(rng.integers(3))) % 4
        template = PHRASINGS[int(rng.integers(len(PHRASINGS)))]
        text = template.format(letter=LETTERS[picked], text=choices[picked], wrong_letter=LETTERS[wrong],
                               wrong_text=choices[wrong])
        items.append(BenchItem(id=f"c{index}", task="closed_qa", dimension="diagnosis", modality="S", question="",
                               answer=f"{LETTERS[answer]}: {choices[answer]}", choices=choices, answer_index=answer))
        outputs.append(Output(text=text))
    return items, outputs


def synthetic_open(count: int, rng: np.random.Generator) -> list[BenchItem]:
    """Open items (80 %) and reports (20 %) written by HeartAgent's own answer builders from random label sets."""
    from heartcare.agent.description import RecordDescription
    from heartcare.agent.questions.open import open_answer
    from heartcare.agent.questions.report import build_report
    from heartcare.sources.scp import statements

    codes = list(statements())
    weights = np.array([statement.prevalence for statement in statements().values()])
    items = []
    for index in range(count):
        chosen = rng.choice(codes, size=int(rng.integers(1, 4)), replace=False, p=weights / weights.sum())
        labels = {str(code): float(rng.choice([0, 35, 50, 80, 100])) for code in chosen}
        measurements = {"hr_bpm": float(rng.uniform(45, 130)), "pr_ms": float(rng.uniform(120, 220)),
                        "qrs_ms": float(rng.uniform(80, 150)), "qt_ms": float(rng.uniform(320, 460)),
                        "qtc_ms": float(rng.uniform(380, 490)), "axis_deg": float(rng.uniform(-60, 120))}
        description = RecordDescription(record_id=f"r{index}", patient_id=f"p{index}", labels=labels,
                                        age=int(rng.integers(20, 90)), sex="M" if rng.random() < 0.5 else "F",
                                        measurements=measurements)
        if rng.random() < 0.2:
            task, answer = "report", build_report(description)
        else:
            task, answer = "open_qa", open_answer(description, str(rng.choice(["diagnosis", "waveform", "rhythm"])))[0]
        items.append(BenchItem(id=f"o{index}", task=task, dimension="diagnosis", modality="S", question="",
                               answer=answer))
    return items


def perturbed(reference: str, rng: np.random.Generator, pool: list[str]) -> str:
    """A plausible model answer: the reference with a finding swapped, a sentence dropped or a new opening."""
    from heartcare.sources.scp import statements

    text = reference
    roll = rng.random()
    if roll < 0.35:
        for description in (statement.description for statement in statements().values()):
            if description in text:
                text = text.replace(description, str(rng.choice(pool)), 1)
                break
    elif roll < 0.6 and "\n" in text:
        lines = text.split("\n")
        del lines[int(rng.integers(len(lines)))]
        text = "\n".join(lines)
    elif roll < 0.85:
        text = f"{rng.choice(OPENINGS)} {text[0].lower()}{text[1:]}"
    elif roll < 0.9:
        text = ""
    return text


def timed(function, *arguments) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function(*arguments)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--closed", type=int, default=20_000, help="synthetic closed items (PTB-XL test split size)")
    parser.add_argument("--open", type=int, default=6_000, help="synthetic open items (open QA + reports)")
    parser.add_argument("--baseline-items", type=int, default=400,
                        help="items for the parser and rouge-score baselines")
    parser.add_argument("--bertscore-baseline", type=int, default=150, help="items for the per-item BERTScore baseline")
    parser.add_argument("--data", type=Path, default=None, help="a HeartAgent dataset: score its test split instead")
    parser.add_argument("--bertscore-model", default=None, help="encoder folder (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a busy 2-core box more threads spin-wait)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 400 closed, 60 open items")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.closed, args.open, args.baseline_items, args.bertscore_baseline = 400, 60, 60, 8

    import torch

    torch.set_num_threads(args.threads)
    from heartcare.bench import parse
    from heartcare.bench.metrics import ScoringContext
    from heartcare.bench.metrics.bertscore import bertscore_f1, resolve_encoder, scorer
    from heartcare.bench.metrics.choice import accuracy, parse_rate
    from heartcare.bench.metrics.rouge import rouge_l
    from heartcare.bench.metrics.terms import term_f1
    from heartcare.sources.scp import statements

    rng = np.random.default_rng(0)
    pool = [statement.description for statement in statements().values()]
    if args.data:
        from heartcare.bench.dataset import BenchDataset

        test = BenchDataset(args.data).items("test")
        closed = [item for item in test if item.is_multiple_choice]
        closed_outputs = [Output(text=perturbed_choice(item, rng)) for item in closed]
        open_items = [item for item in test if item.task in ("open_qa", "report")]
        source = f"dataset {args.data} (test split)"
    else:
        closed, closed_outputs = synthetic_closed(args.closed, rng)
        open_items = synthetic_open(args.open, rng)
        source = "synthetic items"
    open_outputs = [Output(text=perturbed(item.answer_text, rng, pool)) for item in open_items]
    context = ScoringContext(options={"bertscore_model": args.bertscore_model})
    print(f"Heartcare-Bench scoring, {source}: {len(closed)} closed items, {len(open_items)} open items")

    rows: list[dict[str, Any]] = []

    def add(metric: str, items: int, seconds: float, baseline_items: int = 0, baseline_seconds: float = 0.0,
            equal: bool | None = None, baseline: str = "") -> None:
        rate = items / max(seconds, 1e-9)
        base_rate = baseline_items / max(baseline_seconds, 1e-9) if baseline_items else None
        rows.append({"metric": metric, "items": items, "seconds": round(seconds, 3), "items_per_s": round(rate, 1),
                     "baseline": baseline, "baseline_items": baseline_items,
                     "baseline_items_per_s": None if base_rate is None else round(base_rate, 1),
                     "speedup": None if base_rate is None else round(rate / base_rate, 1), "equal": equal})

    # Parser + accuracy, cold caches first (the run pays for compiling each option's pattern once),
    # against the same per-item parse with every pattern cache (ours and the re module's) emptied per item.
    import re

    parse._option.cache_clear()
    correct, seconds = timed(accuracy, closed, closed_outputs, context)
    parsed = parse_rate(closed, closed_outputs, context)
    subset = min(args.baseline_items, len(closed))

    def uncached() -> list[float]:
        values = []
        for item, output in zip(closed[:subset], closed_outputs[:subset], strict=True):
            parse._option.cache_clear()
            re.purge()
            values.append(float(parse.parse_choice(output.text or "", item.choices) == item.answer_index))
        return values

    theirs, base_seconds = timed(uncached)
    add("parser + accuracy", len(closed), seconds, subset, base_seconds, theirs == list(correct[:subset]),
        "parse, patterns compiled per item")

    # ROUGE-L against rouge-score per item.
    from rouge_score import rouge_scorer

    rouge_values, seconds = timed(rouge_l, open_items, open_outputs, context)
    subset = min(args.baseline_items, len(open_items))
    reference_scorer = rouge_scorer.RougeScorer(["rougeL"])
    pairs = list(zip(open_items[:subset], open_outputs[:subset], strict=True))
    theirs, base_seconds = timed(
        lambda: [reference_scorer.score(item.answer_text, output.text or "")["rougeL"].fmeasure for item, output in pairs]
    )
    add("ROUGE-L", len(open_items), seconds, subset, base_seconds,
        bool(np.allclose(rouge_values[:subset], theirs, rtol=0, atol=1e-9)), "rouge-score per item")

    # F1-Bio: load the encoder once (reported apart), then one batched call vs BERTScorer per item.
    path, layer = resolve_encoder(args.bertscore_model)
    # Load and warm up (the first forward passes of a process are several times slower).
    def load() -> Any:
        loaded = scorer(path, layer, None)
        loaded.score(["warm up"] * 2, ["warm-up run"] * 2)
        return loaded

    loaded, load_seconds = timed(load)
    predictions = [output.text or "" for output in open_outputs]
    references = [item.answer_text for item in open_items]
    bio_values, seconds = timed(bertscore_f1, predictions, references, path, 64, layer)
    subset = min(args.bertscore_baseline, len(open_items))

    def per_item() -> list[float]:
        values = []
        for item, output in zip(open_items[:subset], open_outputs[:subset], strict=True):
            text = output.text or ""
            values.append(float(loaded.score([text], [item.answer_text], batch_size=1)[2][0]) if text.strip() else 0.0)
        return values

    theirs, base_seconds = timed(per_item)
    add("F1-Bio (BERTScore)", len(open_items), seconds, subset, base_seconds,
        bool(np.allclose(bio_values[:subset], theirs, rtol=0, atol=1e-5)), "BERTScorer per item")

    term_values, seconds = timed(term_f1, open_items, open_outputs, context)
    add("term F1", len(open_items), seconds)

    # The floors (fitting on train included) answering every test item at once, against the same
    # adapter asked item by item, the straightforward loop; answers must agree.
    if args.data:
        train = BenchDataset(args.data).items("train")
    else:
        train = synthetic_closed(args.closed, np.random.default_rng(1))[0] + synthetic_open(args.open, np.random.default_rng(2))
    floor_items = closed + open_items
    for name in ("random", "majority", "blind"):
        ours, base, same, subset = time_floor(name, train, floor_items, args.baseline_items)
        add(f"floor {name}", len(floor_items), ours, subset, base, same, "the adapter asked per item")

    print(f"{'metric':20s} {'items':>7s} {'seconds':>8s} {'items/s':>10s} {'baseline items/s':>17s} {'speed-up':>9s} "
          f"{'same numbers':>13s}  baseline")
    for row in rows:
        base = "-" if row["baseline_items_per_s"] is None else f"{row['baseline_items_per_s']:.1f}"
        speed = "-" if row["speedup"] is None else f"{row['speedup']:.1f}x"
        equal = "-" if row["equal"] is None else ("yes" if row["equal"] else "NO")
        note = f"{row['baseline']} on {row['baseline_items']} items" if row["baseline"] else ""
        note += ", extrapolated" if row["baseline"] and row["baseline_items"] < row["items"] else ""
        print(f"{row['metric']:20s} {row['items']:7d} {row['seconds']:8.2f} {row['items_per_s']:10.1f} {base:>17s} "
              f"{speed:>9s} {equal:>13s}  {note}")
    print(f"encoder load (once per process): {load_seconds:.1f} s, {path} layer {layer}, "
          f"{torch.get_num_threads()} torch thread(s) on {'GPU' if loaded.device.startswith('cuda') else 'CPU'}")
    print(f"means: accuracy {correct.mean():.3f}, parse rate {parsed.mean():.3f}, ROUGE-L {rouge_values.mean():.3f}, "
          f"F1-Bio {bio_values.mean():.3f}, term F1 {term_values.mean():.3f}")
    checks = {f"{row['metric']}: same numbers as its baseline": row["equal"]
              for row in rows if row["equal"] is not None}
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        args.json.write_text(json.dumps({"source": source, "rows": rows, "checks": checks,
                                         "encoder_load_seconds": round(load_seconds, 2)}, indent=1))
    raise SystemExit(0 if all(checks.values()) else 1)


class ItemsOnly:
    """The part of a BenchDataset the text floors use: the items of each split."""

    def __init__(self, splits: dict[str, list[BenchItem]]) -> None:
        self.splits = splits

    def items(self, split: str) -> list[BenchItem]:
        return self.splits[split]


def time_floor(name: str, train: list[BenchItem], test: list[BenchItem], baseline_items: int) -> tuple[float, float, bool, int]:
    """(seconds for all items batched, seconds for the first `baseline_items` one by one, same answers, subset)."""
    from heartcare.bench.models import ModelContext, build_model

    context = ModelContext(dataset=ItemsOnly({"train": train, "test": test}))
    build_model(name, context).respond(test[:1])  # imports (sklearn, ...) are not what either side is timed on
    positions = np.linspace(0, len(test) - 1, min(baseline_items, len(test))).round().astype(int)

    def batched_run() -> list:
        model, answers = build_model(name, context), []
        for start in range(0, len(test), model.batch_size):
            answers.extend(model.respond(test[start : start + model.batch_size]))
        return answers

    def single_run() -> list:
        # Evenly spaced items, so the loop meets every task (and pays every fit) the batched run does.
        model = build_model(name, context)
        return [model.respond([test[position]])[0] for position in positions]

    # Best of three: the floors take milliseconds, so one garbage-collector pause would decide a single run.
    batched, ours = min((timed(batched_run) for _ in range(3)), key=lambda pair: pair[1])
    singles, base = min((timed(single_run) for _ in range(3)), key=lambda pair: pair[1])
    same = all(batched[position].text == single.text for position, single in zip(positions, singles, strict=True))
    return ours, base, same, len(positions)


def perturbed_choice(item: BenchItem, rng: np.random.Generator) -> str:
    """A phrasing of the right (70 %) or a random option for a dataset's multiple-choice item."""
    count = len(item.choices)
    picked = item.answer_index if rng.random() < 0.7 else int(rng.integers(count))
    wrong = (picked + 1 + int(rng.integers(max(count - 1, 1)))) % count
    template = PHRASINGS[int(rng.integers(len(PHRASINGS)))]
    return template.format(letter=LETTERS[picked], text=item.choices[picked], wrong_letter=LETTERS[wrong],
                           wrong_text=item.choices[wrong])


if __name__ == "__main__":
    main()
