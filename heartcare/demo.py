"""`heartcare demo`: the whole pipeline on built-in data, on a laptop CPU, no download.

Steps (each prints what it did and writes under `--out`):
1. read the real 12-lead ECG that ships inside pydicom, measure it, draw it;
2. simulate a small labelled cohort in PTB-XL's layout and check `measure` on it;
3. draw simulated records as ECG paper;
4. train a small Beat tokenizer and evaluate it;
5. build a multimodal QA dataset with HeartAgent and print its card;
6. cache the ECG features, train a small HeartcareGPT with finding tokens (both stages, a few
   minutes) and ask it about the real DICOM ECG, with what its finding tokens read there;
7. benchmark Beat, HeartcareGPT (and its mismatched-ECG control) and a text-only control beside the floors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from heartcare.atomic import write_atomic

console = Console()


def real_ecg_path() -> Path:
    """pydicom's packaged `waveform_ecg.dcm`: a real 10 s, 1000 Hz 12-lead ECG."""
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm"))


def step_real_ecg(out: Path) -> None:
    from heartcare.ecg.measure import measure
    from heartcare.ecg.read import read_ecg

    ecg = read_ecg(real_ecg_path())
    summary = ecg.summary()
    console.print(
        f"[bold]{Path(ecg.name).name}[/]: {summary['seconds']} s, {ecg.fs:g} Hz, "
        f"{len(ecg.leads)} leads, source {summary['source']}"
    )
    values = measure(ecg).to_dict()
    device = {"hr_bpm": 61.1, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370, "axis_deg": 52}
    table = Table("measurement", "heartcare", "device (from the file's text)")
    for key, reference in device.items():
        value = values.get(key)
        table.add_row(key, "-" if value is None else f"{value:.1f}", str(reference))
    console.print(table)
    write_atomic(out / "real_ecg_measurements.json", json.dumps(values, indent=2))
    from heartcare.render import render

    image = render(ecg, "3x4+II", path=out / "real_ecg.png")
    console.print(f"drew it as ECG paper: {image}")


# Small enough for a laptop in minutes, large enough that every fold and condition appears.
COHORT_SIZE = 120


def cohort_folder(out: Path) -> Path:
    return out / "cohort"


def step_cohort(out: Path) -> None:
    from heartcare.sim import build_cohort
    from heartcare.sim.commands import print_validation
    from heartcare.sim.validate import validate_cohort

    root = build_cohort(COHORT_SIZE, cohort_folder(out), seed=0, workers=2)
    console.print(f"simulated cohort in PTB-XL's layout: {root}")
    print_validation(validate_cohort(root))


def step_draw(out: Path) -> None:
    from heartcare.render import augment, render
    from heartcare.sources.ptbxl import PtbXlDataset

    dataset = PtbXlDataset(cohort_folder(out), fs=500)
    folder = out / "images"
    folder.mkdir(exist_ok=True)
    for index, record in zip(range(3), dataset, strict=False):
        # every statement, most likely first (PTB-XL writes 0 where the likelihood was not stated)
        codes = ", ".join(sorted(record.labels, key=lambda code: -record.labels[code])) or "no statements"
        path = render(record.ecg, "3x4+II", path=folder / f"{record.record_id}.png")
        photo = augment(render(record.ecg, "3x4+II"), "photo", seed=index)
        from PIL import Image

        Image.fromarray(photo.image).save(folder / f"{record.record_id}_photo.jpg", quality=90)
        console.print(f"{record.record_id} ({codes}): {path} and a 'photo' variant")


# A demo-length Beat run: the cpu-small architecture for a few epochs on the small
# cohort (about two minutes on 2 cores). Its figures show the pipeline works end to
# end; the README's Beat figures come from `heartcare beat train --preset cpu-small`
# on a 2,000-record cohort.
DEMO_BEAT_EPOCHS = 5
DEMO_BEAT_CROPS_PER_EPOCH = 3_200  # 100 steps of 32 random crops per epoch


def step_beat(out: Path) -> None:
    from heartcare.beat.data import load_windows
    from heartcare.beat.evaluate import evaluate_windows, plot_examples
    from heartcare.beat.fit import fit
    from heartcare.beat.model import Beat

    checkpoint = out / "beat"
    result = fit(cohort_folder(out), checkpoint, "cpu-small", epochs=DEMO_BEAT_EPOCHS, resume=True,
                 crops_per_epoch=DEMO_BEAT_CROPS_PER_EPOCH)
    console.print(f"Beat (cpu-small, {DEMO_BEAT_EPOCHS} epochs): {result.steps} steps, checkpoint in {checkpoint}")
    model = Beat.from_pretrained(checkpoint)
    test = load_windows(cohort_folder(out), "test", model.config)
    metrics = evaluate_windows(model, test.signal, test.lead_mask, clinical=False)
    outputs = metrics.pop("_outputs")
    figure = plot_examples(test.signal, outputs, model.config.fs, checkpoint / "eval-test.png")
    write_atomic(checkpoint / "eval-test.json", json.dumps(metrics, indent=2))
    recon, code = metrics["recon"], metrics["code"]
    usage = " / ".join(f"{value:.0f}%" for value in code["usage_percent"])
    console.print(
        f"test fold ({metrics['windows']} windows, {metrics['bits_per_window']:.0f} bits each): "
        f"PRD {recon['prd_percent']:.1f}%, Pearson r {recon['pearson']:.2f}, "
        f"prediction r {metrics['pred']['pearson']:.2f} (periodic continuation alone "
        f"{metrics['pred_baseline']['pearson']:.2f}), Code% per level {usage} "
        f"(of {metrics['windows'] * model.config.queries} codes drawn per level); figure {figure}"
    )


def step_dataset(out: Path) -> None:
    from heartcare.agent import BuildConfig, build_dataset
    from heartcare.agent.build import CONFIG_FILE
    from heartcare.agent.commands import dataset_stats

    config = BuildConfig(
        sources=(f"ptbxl:{cohort_folder(out)}",),
        out=str(out / "dataset"),
        workers=2,
        image_presets=("clean", "print", "scan", "photo"),
        # 12 test records: keep kinds with even one item per answer, or the bench step has nothing to ask
        # (a real build keeps a kind only with >= 5 per answer; see BuildConfig.min_per_answer).
        min_per_answer=1,
        resume=True,
    )
    marker = out / "dataset" / CONFIG_FILE
    if marker.is_file() and marker.read_text() != config.fingerprint():
        # A demo folder from an older heartcare: its dataset (and everything trained on it) is rebuilt,
        # never resumed under another configuration nor silently reused.
        console.print(f"{out / 'dataset'} was built by another heartcare version: rebuilding it")
        for stale in (out / "dataset", out / "gpt", out / "bench"):
            shutil.rmtree(stale, ignore_errors=True)
    build_dataset(config)
    console.print(dataset_stats(out / "dataset"), markup=False)


# HeartcareGPT in the demo: the cpu preset cut to a few minutes on 2 cores (warm-up, then joint LoRA).
DEMO_GPT_STEPS = {"warmup": 15, "joint": 15}
DEMO_GPT_BATCH = {"warmup": 8, "joint": 4}  # items per micro-batch (joint accumulates 2): about 5 s a step
DEMO_IMAGE_ENCODER = "efficientnet-lite0:256x64"  # lead crops are about 4:1; a wide input keeps their shape


def step_gpt(out: Path) -> None:
    from heartcare.model.ask import Question, ask
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.feature_cache import FeatureCache, build_feature_cache
    from heartcare.train.gpt_run import train_gpt

    data, folder = out / "dataset", out / "gpt"
    features = folder / "features"
    if (features / "manifest.json").is_file() and not FeatureCache(features).serves(data):
        shutil.rmtree(features)  # made from an earlier build of the demo dataset: its record ids mean other ECGs
    if not (features / "manifest.json").is_file() or not _cache_finished(features, data):
        build_feature_cache(data, str(out / "beat"), DEMO_IMAGE_ENCODER, out=features, shard_size=32,
                            resume=(features / "manifest.json").is_file())
    previous, previous_reused = None, True
    for stage, steps in DEMO_GPT_STEPS.items():
        checkpoint = folder / stage
        state = stage_state(checkpoint, steps, previous_reused)
        if state == "reuse":
            console.print(f"HeartcareGPT {stage}: reusing {checkpoint}")
            previous = checkpoint
            continue
        previous_reused = False
        resume = state == "resume"
        # Finding tokens (heartcare.model.findings): the recipe that reads the ECG within a CPU budget;
        # the warm-up builds the model, the joint stage keeps them.
        run = train_gpt(data, features, stage, "cpu", checkpoint, init=previous, resume=resume, finding_tokens=previous is None,
                        stage_changes={"max_steps": steps, "batch_size": DEMO_GPT_BATCH[stage], "checkpoint_every_steps": 5})
        loss = run.result.train_logs.get("loss", float("nan"))
        console.print(f"HeartcareGPT {stage}: {run.result.steps} steps on {run.train_items} train items, last loss {loss:.3f}; {checkpoint}")
        previous = checkpoint
    model = from_pretrained(previous)
    from heartcare.ecg.read import read_ecg

    ecg = read_ecg(real_ecg_path())
    # A closed question in the dataset's own form (its device text says sinus rhythm), then two free ones.
    questions = ["Which choice best matches the rhythm classification in this ECG? "
                 "Options: A: atrial fibrillation; B: sinus rhythm; C: sinus tachycardia; D: atrial flutter.",
                 "What is the rhythm of this ECG? Answer in one sentence.", "Is this ECG normal or abnormal?"]
    answers = ask(model, [Question(text, [(ecg, None)], 40) for text in questions])
    for question, answer in zip(questions, answers, strict=True):
        console.print(f"[bold]Q[/] (real DICOM ECG): {question}\n[bold]A[/]: {answer.text}  [dim]({answer.seconds:.2f} s)[/]")
    console.print("what its finding tokens read of that ECG (the classifier's top beliefs per question kind):")
    for kind, beliefs in answers[0].extra["findings"][0].items():
        console.print(f"  [dim]{kind}: " + ", ".join(f"{text} {chance:.2f}" for text, chance in beliefs.items()) + "[/]")


def stage_state(checkpoint: Path, steps: int, earlier_reused: bool) -> str:
    """What the demo does with a HeartcareGPT stage folder: "reuse" it (finished by an earlier demo run),
    "resume" it (interrupted), or train it "fresh", deleting what is stale first: a stage built on an
    earlier stage trained in this run, or an earlier demo's model without finding tokens."""
    done = checkpoint / "config.json"
    saved = json.loads(done.read_text()) if done.is_file() else {}
    if checkpoint.exists() and (not earlier_reused or (saved and not saved.get("model", {}).get("findings"))):
        shutil.rmtree(checkpoint)
        return "fresh"
    if saved.get("steps") == steps:
        return "reuse"
    return "resume" if (checkpoint / "training").is_dir() else "fresh"


def _cache_finished(features: Path, data: Path) -> bool:
    import pyarrow.parquet as pq

    from heartcare.model.feature_cache import FeatureCache

    cache = FeatureCache(features)
    return all(record in cache for record in pq.read_table(data / "records.parquet", columns=["record_id"]).column(0).to_pylist())


# The text-only control (SmolLM2-135M-Instruct, never shown the ECG) answers this many items per
# multiple-choice task of the demo's test split (about a second each on 2 cores); the floors are
# scored on the same items.
DEMO_TEXT_ONLY_LIMIT = 6


def step_bench(out: Path) -> None:
    from heartcare.bench.report import console_tables, write_report
    from heartcare.bench.runner import BenchConfig, answers_another_model, run_bench

    data, folder = out / "dataset", out / "bench"
    plans = [
        # Beat's prediction head and the periodic continuation it corrects, on every prediction item.
        BenchConfig(data=data, model=f"beat:{out / 'beat'}", out=folder / "beat", tasks=["prediction-*"]),
        BenchConfig(data=data, model="periodic", out=folder / "periodic", tasks=["prediction-*"], floors=False),
        # Does the ECG help at all? A language model that never sees it, beside the floors.
        BenchConfig(data=data, model="text-only", out=folder / "text-only", limit=DEMO_TEXT_ONLY_LIMIT,
                    tasks=["closed-*", "comparison-*"]),
        # The same backbone reading the ECG (a few minutes of training: expect little above the control),
        # and again with every item shown another item's ECG: the gap is what it takes from the ECG.
        BenchConfig(data=data, model=f"heartcare-gpt:{out / 'gpt' / 'joint'}", out=folder / "heartcare-gpt",
                    limit=DEMO_TEXT_ONLY_LIMIT, tasks=["closed-*", "comparison-*"], floors=False, mismatched_ecgs=True),
        # The floors on the free-text tasks (F1-Bio, ROUGE-L, ECG-term F1 of answers that never saw an ECG).
        BenchConfig(data=data, model="random", out=folder / "floors", tasks=["open-*", "report-*"]),
    ]
    for plan in plans:
        if answers_another_model(plan.out, plan.model):  # Beat or HeartcareGPT retrained since: ask again
            shutil.rmtree(plan.out)
    results = [run_bench(plan) for plan in plans]
    write_report(results, folder, predictions_folder=folder / "beat")
    print(console_tables(results))  # plain print: Markdown tables must not be wrapped at the terminal width
    console.print(f"report: {folder / 'report.html'} (one folder per run beside it; floors are fitted on train)")


STEPS: dict[str, Callable[[Path], None]] = {
    "real-ecg": step_real_ecg,
    "cohort": step_cohort,
    "draw": step_draw,
    "beat": step_beat,
    "dataset": step_dataset,
    "gpt": step_gpt,
    "bench": step_bench,
}


def run_demo(out: Path, steps: list[str] | None = None) -> None:
    """Run the demo steps in order, writing everything under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for name in steps or list(STEPS):
        started = time.perf_counter()
        console.rule(f"[bold cyan]{name}")
        STEPS[name](out)
        console.print(f"[dim]{name} took {time.perf_counter() - started:.1f} s[/]")
    console.print(f"[bold green]demo finished[/]: outputs in {out}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline on built-in data (CPU, no download)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for everything the demo writes")
    parser.add_argument("--steps", nargs="*", choices=list(STEPS), help="run only these steps")
    parser.set_defaults(handler=lambda args: run_demo(args.out, args.steps))
