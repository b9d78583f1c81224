"""`heartcare beat ...`: train, evaluate, tokenize files, predict, ablate.

Imports stay inside handlers so `heartcare --help` does not load torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from heartcare.beat.config import ADDITIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("beat", help="Beat ECG tokenizer: train, eval, encode/decode/predict, ablate")
    commands = parser.add_subparsers(dest="beat_command", metavar="BEAT_COMMAND")

    train = commands.add_parser("train", help="train Beat on a PTB-XL-layout folder (folds 1-8 train, 9 valid)")
    train.add_argument("--data", type=Path, required=True, help="PTB-XL-layout folder (real or `heartcare sim cohort`)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint folder (config.json + model.safetensors)")
    train.add_argument("--preset", default=None,
                       help="paper | cpu-small | tiny (default cpu-small; resuming: the run's own)")
    train.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    train.add_argument("--prediction-prior", choices=["none", "periodic"], default=None,
                       help="override the preset's prediction prior (periodic: the head corrects the last period tiled forward)")
    train.add_argument("--resume", action="store_true",
                       help="continue from OUT/training exactly (same preset, seed, limit; --epochs may change)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--limit", type=int, default=None, help="only the first N records per split")
    train.add_argument("--cache", type=Path, default=None, help="window cache folder (default DATA/.heartcare_cache)")
    train.set_defaults(handler=run_train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on a split or on single ECG files (on the "
                                                "windows `beat encode` cuts, the first left-padded)")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--data", type=Path, default=None, help="PTB-XL-layout folder")
    evaluate.add_argument("--split", choices=["train", "valid", "test"], default="test")
    evaluate.add_argument("--file", type=Path, action="append", default=[], help="evaluate on these ECG files instead")
    evaluate.add_argument("--fs", type=float, default=None, help="sampling rate for CSV/NPY --file inputs")
    evaluate.add_argument("--allow-flat-leads", action="store_true", help="mask constant (flat) leads, e.g. a lead-off, instead of rejecting the file")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.add_argument("--figure", type=Path, default=None, help="figure path (default CHECKPOINT/eval-SPLIT.png)")
    evaluate.add_argument("--no-baseline", action="store_true", help="skip the k-means baseline")
    evaluate.add_argument("--limit", type=int, default=None)
    evaluate.add_argument("--cache", type=Path, default=None)
    evaluate.set_defaults(handler=run_eval)

    for name, help_text in (("encode", "ECG files/folders -> token files"),
                            ("decode", "token files/folders -> ECG files (mV, model rate)"),
                            ("predict", "ECG files/folders -> the 2 s after each record's end as ECG files")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("inputs", nargs="+", type=Path)
        command.add_argument("--model", type=Path, required=True, help="Beat checkpoint folder")
        command.add_argument("--out", type=Path, required=True, help="output folder")
        command.add_argument("--fs", type=float, default=None, help="sampling rate for CSV/NPY inputs")
        if name != "decode":
            command.add_argument("--allow-flat-leads", action="store_true", help="mask constant (flat) leads, e.g. a lead-off, instead of rejecting the file")
        command.add_argument("--format", choices=["wfdb", "npy", "csv"], default="npy", help="ECG output format")
        command.add_argument("--quiet", action="store_true", help="no progress bar")
        if name in ("encode", "predict"):
            command.add_argument("--workers", type=int, default=1,
                                 help="processes reading and cleaning files, a block at a time (folders of 500+ files)")
            command.add_argument("--batch-windows", type=int, default=128,
                                 help="4-s windows (of many files) per model call")
        command.set_defaults(handler=run_files, beat_files=name)

    ablate = commands.add_parser("ablate", help="codebook size x context x shared/separate ablation (Table 18)")
    ablate.add_argument("--data", type=Path, required=True)
    ablate.add_argument("--out", type=Path, default=Path("beat-ablation"))
    ablate.add_argument("--steps", type=int, default=300, help="optimiser steps per run")
    ablate.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ablate.add_argument("--contexts", type=int, nargs="+", default=[500, 1000, 1500])
    ablate.add_argument("--sharing", choices=["both", "separate", "shared"], default="both")
    ablate.add_argument("--preset", default="cpu-small", help="base configuration")
    ablate.add_argument("--prediction-prior", choices=["none", "periodic"], default=None,
                        help="override the base preset's prediction prior")
    ablate.add_argument("--without", nargs="+", default=[], choices=sorted(ADDITIONS), metavar="ADDITION",
                        help=f"turn these heartcare additions off in every run ({', '.join(sorted(ADDITIONS))})")
    ablate.add_argument("--limit", type=int, default=None)
    ablate.add_argument("--cache", type=Path, default=None)
    ablate.set_defaults(handler=run_ablate)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_train(args: argparse.Namespace) -> int:
    from heartcare.beat.config import preset
    from heartcare.beat.fit import DEFAULT_PRESET, fit

    config = None  # the preset's (or, resuming, the checkpoint's) unless overridden here
    if args.prediction_prior is not None:
        config = preset(args.preset or DEFAULT_PRESET).with_changes(prediction_prior=args.prediction_prior)
    result = fit(args.data, args.out, args.preset, epochs=args.epochs, resume=args.resume, seed=args.seed,
                 limit=args.limit, cache_dir=args.cache, config=config)
    print(f"trained {result.steps} steps on {result.train_windows} windows in {result.seconds:.0f} s "
          f"({result.skipped} records skipped); checkpoint in {result.out}")
    for name, value in sorted(result.valid_logs.items()):
        print(f"  valid {name}: {value:.4f}")
    return 0


def _print_metrics(metrics: dict) -> None:
    recon, pred, code = metrics["recon"], metrics["pred"], metrics["code"]
    print(f"windows: {metrics['windows']}  bits/window: {metrics['bits_per_window']:.0f}  bits/s: {metrics['bits_per_second']:.0f}")
    print(f"reconstruction: MSE {recon['mse']:.4f}  PRD {recon['prd_percent']:.1f}%  SNR {recon['snr_db']:.2f} dB  r {recon['pearson']:.3f}")
    print("  per-lead r: " + " ".join(f"{k}={v:.2f}" for k, v in recon["pearson_per_lead"].items() if v is not None))
    print(f"windows with left padding: {metrics['padded_windows']}  with a horizon to forecast: {metrics['forecast_windows']}")
    if pred is None:
        print("prediction: not scored (no window is followed by a whole horizon)")
    else:
        print(f"prediction: MSE {pred['mse']:.4f}  r {pred['pearson']:.3f}")
    if "pred_baseline" in metrics:
        base = metrics["pred_baseline"]
        print(f"  baseline ({base['name']}): MSE {base['mse']:.4f}  r {base['pearson']:.3f}")
    for level, (usage, perplexity) in enumerate(zip(code["usage_percent"], code["perplexity"], strict=True), start=1):
        print(f"codebook level {level}: Code% {usage:.2f}  perplexity {perplexity:.1f}")
    if "baseline" in metrics:
        base = metrics["baseline"]
        print(f"baseline ({base['name']}, {base['bits_per_window']:.0f} bits): MSE {base['mse']:.4f}  PRD {base['prd_percent']:.1f}%  SNR {base['snr_db']:.2f} dB")
    clinical = metrics.get("clinical", {})
    if clinical.get("available"):
        def shown(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2f}"

        print(f"clinical: |dHR| {shown(clinical['hr_abs_error_bpm'])} bpm ({clinical['hr_measured_pairs']} pairs)  "
              f"|dQRS| {shown(clinical['qrs_abs_error_ms'])} ms ({clinical['qrs_measured_pairs']} pairs)")
    elif clinical:
        print(f"clinical: not measured ({clinical.get('reason')})")


def run_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from heartcare.atomic import write_atomic
    from heartcare.beat.evaluate import evaluate_windows, plot_examples
    from heartcare.beat.model import Beat
    from heartcare.errors import ConfigError, HeartcareError, InvalidSignalError

    model = Beat.from_pretrained(args.checkpoint)
    config = model.config
    baseline = None
    # Scored: exactly the windows `beat encode` cuts from each record (scoring.py).
    if args.file:
        from heartcare.beat.scoring import concatenate, windows_of_ecg
        from heartcare.ecg.read import read_ecg

        parts = []
        for path in args.file:  # a bad file is reported and the others are still evaluated
            try:
                parts.append(windows_of_ecg(read_ecg(path, fs=args.fs, allow_flat_leads=args.allow_flat_leads), config))
            except HeartcareError as error:
                print(f"skipped {error}", file=sys.stderr)
        if not parts:
            raise InvalidSignalError("beat eval", "none of the --file inputs could be evaluated (reasons above)")
        scored, label = concatenate(parts), "files"
    elif args.data is not None:
        from heartcare.beat.scoring import load_scoring_windows

        scored = load_scoring_windows(args.data, args.split, config, cache_dir=args.cache, limit=args.limit)
        label = args.split
    else:
        raise ConfigError("beat eval", "give --data DIR (with --split) or --file PATH")
    if not args.no_baseline:
        baseline = _baseline(model, args)
    metrics = evaluate_windows(model, scored.signal, scored.lead_mask, baseline=baseline, scales=scored.scales,
                               padding=scored.padding, has_future=scored.has_future)
    outputs = metrics.pop("_outputs")
    # Figures show windows that are followed by a forecast horizon where there are some.
    shown = np.flatnonzero(scored.has_future) if scored.has_future.any() else np.arange(len(scored))
    figure = plot_examples(scored.signal[shown], _subset(outputs, shown), config.fs,
                           args.figure or args.checkpoint / f"eval-{label}.png")
    metrics["figure"] = str(figure)
    metrics["split"] = label
    write_atomic(args.checkpoint / f"eval-{label}.json", json.dumps(metrics, indent=2))
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)
        print(f"figure: {figure}")
    return 0


def _subset(outputs, rows):
    """The model outputs of some windows only."""
    from heartcare.beat.evaluate import Predictions

    return Predictions(outputs.reconstruction[rows], outputs.prediction[rows], outputs.codes[rows])


def _baseline(model, args: argparse.Namespace):
    """The same-bit-rate k-means baseline, fitted on the training fold once and kept in the checkpoint."""
    from heartcare.beat.baseline import KMeansBaseline, fit_baseline
    from heartcare.beat.data import load_windows

    path = args.checkpoint / f"baseline-kmeans-{model.config.codebook_size}.safetensors"
    if path.is_file():
        return KMeansBaseline.load(path)
    if args.data is None:
        return None  # no training data to fit it on
    train_set = load_windows(args.data, "train", model.config, cache_dir=args.cache, limit=args.limit)
    baseline = fit_baseline(train_set.signal, model.config)
    baseline.save(path)
    return baseline


def run_files(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from heartcare.atomic import write_atomic
    from heartcare.beat.batch import FilesReport, claim_outputs, encode_files, predict_files
    from heartcare.beat.files import decode_tokens, expand_inputs, output_name
    from heartcare.beat.model import Beat
    from heartcare.beat.tokens import TOKEN_SUFFIX, TokenFile
    from heartcare.ecg.write import write_ecg
    from heartcare.errors import HeartcareError

    model = Beat.from_pretrained(args.model)
    suffixes = (TOKEN_SUFFIX,) if args.beat_files == "decode" else None
    paths = expand_inputs(args.inputs, suffixes) if suffixes else expand_inputs(args.inputs)
    args.out.mkdir(parents=True, exist_ok=True)
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=args.quiet) as bar:
        task = bar.add_task(f"{args.beat_files} ({len(paths)} files)", total=len(paths))

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if args.beat_files == "encode":
            report = encode_files(model, paths, args.out, fs=args.fs, allow_flat_leads=args.allow_flat_leads,
                                  workers=args.workers, batch_windows=args.batch_windows, progress=advance)
        elif args.beat_files == "predict":
            report = predict_files(model, paths, args.out, fs=args.fs, allow_flat_leads=args.allow_flat_leads,
                                   workers=args.workers, batch_windows=args.batch_windows, format=args.format,
                                   progress=advance)
        else:  # decode: one token file at a time (each is already many windows)
            report = FilesReport()
            for path in claim_outputs(paths, report):
                try:
                    decoded = decode_tokens(model, TokenFile.load(path))
                    report.written.append(write_ecg(decoded, args.out / output_name(path), format=args.format))
                except HeartcareError as error:
                    report.skipped.append({"path": str(path), "reason": str(error)})
                advance(len(report.written) + len(report.skipped), len(paths))
    written, skipped = len(report.written), report.skipped
    if skipped:
        write_atomic(args.out / f"skipped-{args.beat_files}.json", json.dumps(skipped, indent=2))
        for item in skipped[:10]:
            print(f"skipped {item['path']}: {item['reason']}")
        if len(skipped) > 10:
            print(f"... {len(skipped) - 10} more in {args.out / f'skipped-{args.beat_files}.json'}")
    print(f"{args.beat_files}: {written} written to {args.out}, {len(skipped)} skipped")
    return 0 if written or not paths else 1


def run_ablate(args: argparse.Namespace) -> int:
    from heartcare.beat.ablate import AblationPlan, markdown_table, run_ablation

    sharing = {"both": (False, True), "separate": (False,), "shared": (True,)}[args.sharing]
    plan = AblationPlan(base=args.preset, sizes=tuple(args.sizes), contexts=tuple(args.contexts), sharing=sharing,
                        steps=args.steps, limit=args.limit, prediction_prior=args.prediction_prior,
                        without=tuple(args.without))
    rows = run_ablation(args.data, args.out, plan, cache_dir=args.cache)
    print(markdown_table(rows))
    print(f"table, results.json and rate_distortion.png in {args.out}")
    return 0
