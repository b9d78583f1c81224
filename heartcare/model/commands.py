"""`heartcare gpt features|train|ask|merge|set|refit|curve|ablate|readout`: thin wrappers over the HeartcareGPT library functions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gpt", help="HeartcareGPT: feature cache, training stages, asking about an ECG")
    commands = parser.add_subparsers(dest="gpt_command", metavar="GPT_COMMAND")

    features = commands.add_parser("features", help="cache Beat latents and image features of every record of a dataset")
    features.add_argument("dataset", type=Path, help="a HeartAgent dataset folder")
    features.add_argument("--beat", type=Path, default=None, help="Beat checkpoint folder (signal stream)")
    features.add_argument("--image-encoder", default="efficientnet-lite0", help="efficientnet-lite0 | siglip:PATH | tiny | none")
    features.add_argument("--image-view", choices=("crops", "whole"), default="crops", help="12 lead crops or the whole picture")
    features.add_argument("--out", type=Path, default=None, help="cache folder (default DATASET/features/NAME)")
    features.add_argument("--shard-size", type=int, default=256, help="records per shard (unit of resume)")
    features.add_argument("--limit", type=int, default=None, help="only the first N records")
    features.add_argument("--split", action="append", default=None, choices=("train", "valid", "test"),
                          help="only records of this split (repeatable; default all)")
    features.add_argument("--skip-context-images", action="store_true",
                          help="skip the drawn 4-s prediction contexts (read only by image signal-prediction items)")
    features.add_argument("--resume", action="store_true", help="finish an interrupted cache")
    features.add_argument("--add-texture", action="store_true",
                          help="give the cache at --out, made before trace texture was cached, its pictures' texture (resumable)")
    features.add_argument("--add-page-morphology", action="store_true",
                          help="give the cache at --out what the digitiser reads off each picture (heartcare.model.page_cache; "
                               "~0.45 s a page per worker, resumable)")
    features.add_argument("--workers", type=int, default=1, help="processes digitising pages (--add-page-morphology)")
    features.add_argument("--quiet", action="store_true")
    features.set_defaults(handler=run_features)

    train = commands.add_parser("train", help="train one stage (warmup: projectors; joint: + LoRA) on cached features")
    train.add_argument("--data", type=Path, required=True, help="a HeartAgent dataset folder")
    train.add_argument("--features", type=Path, required=True, help="its feature cache (`heartcare gpt features`)")
    train.add_argument("--stage", choices=("warmup", "joint"), required=True)
    train.add_argument("--preset", choices=("paper", "cpu", "tiny"), default="cpu")
    train.add_argument("--init", type=Path, default=None, help="checkpoint to start from (the warm-up checkpoint for joint)")
    train.add_argument("--out", type=Path, required=True, help="checkpoint folder (resumable with --resume)")
    train.add_argument("--max-steps", type=int, default=None, help="override the preset's step budget")
    train.add_argument("--epochs", type=int, default=None, metavar="N",
                       help="passes over the items (default: the preset's, 1; --max-steps stops it too; a resume may extend it)")
    train.add_argument("--gradient-checkpointing", action="store_true",
                       help="recompute the LLM's activations in the backward pass: less memory, about a third more time")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="override the preset's learning rate of every trained part (a resume must keep it)")
    train.add_argument("--backbone", default=None, help="local HF causal-LM folder (default: the preset's / SmolLM2)")
    train.add_argument("--no-signal", action="store_true", help="ablation: image stream only")
    train.add_argument("--no-image", action="store_true", help="ablation: signal stream only")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    train.add_argument("--answer-format", choices=("letter-first", "text-first"), default=None,
                       help='multiple-choice training targets: "B: text" (the dataset\'s) or "text (B)" (default: the preset\'s)')
    train.add_argument("--tasks", action="append", default=None, metavar="PATTERN",
                       help="train only on the items of these bench tasks (names, globs such as 'closed-*', groups); "
                            "repeatable")
    train.add_argument("--max-per-answer", type=int, default=None, metavar="N",
                       help="at most N train items per answer of each question kind (the train split follows the "
                            "label prior; valid and test are balanced)")
    train.add_argument("--signal-pool", type=int, default=None, metavar="N",
                       help="average N consecutive Beat latents into one signal token (1: all 20 per 4-s window; "
                            "default: the preset's, cpu 5)")
    train.add_argument("--signal-summary", action="store_true",
                       help="two more signal tokens per ECG: the mean and the spread of all its Beat latents")
    train.add_argument("--finding-tokens", action="store_true",
                       help="one more token per ECG and closed question kind: a classifier's belief over the kind's answers, "
                            "written in the backbone's own word embeddings (fitted on the train split first, from the Beat "
                            "latents of a signal, from the image features of a picture; a model trained from scratch only)")
    train.add_argument("--finding-words", action="store_true",
                       help="also write the finding readers' beliefs as words after each ECG ('Reading: rhythm: sinus "
                            "bradycardia or sinus rhythm; ...'), which the LLM can copy; needs finding tokens and --freeze finding_readers")
    train.add_argument("--finding-morphology", action="store_true",
                       help="the signal finding readers also read the median beats' amplitudes per lead and the intervals "
                            "(heartcare.ecg.morphology; needs --finding-tokens and a feature cache built with them)")
    train.add_argument("--finding-choices", action="store_true",
                       help="each finding token believes only the answers its question offers (its options), renormalised; "
                            "needs finding tokens (a model from --init may take it on)")
    train.add_argument("--image-finding-texture", action="store_true",
                       help="the picture finding readers also read each page's trace texture (needs --finding-tokens)")
    train.add_argument("--image-finding-page", action="store_true",
                       help="... and what the digitiser reads off each page (needs --finding-tokens and a cache given "
                            "`gpt features --add-page-morphology`)")
    train.add_argument("--answer-prior", choices=("train", "valid"), default="train",
                       help="valid: take out of each new finding reader the share of the train answer prior chosen on "
                            "the valid items (balanced questions; heartcare.model.answer_prior); train: keep the fit")
    train.add_argument("--freeze", action="append", default=None, metavar="PART",
                       help="hold this trained part of the stage where it starts (repeatable; e.g. finding_readers: the "
                            "finding tokens' fitted classifiers and rate / presence heads, so that only the language "
                            "model and the words learn)")
    train.add_argument("--lora-targets", default=None, metavar="NAMES",
                       help="comma-separated module names LoRA adapts (default: attention, q_proj,k_proj,v_proj,o_proj; "
                            "add gate_proj,up_proj,down_proj for the MLPs)")
    train.add_argument("--no-calibration", action="store_true",
                       help="keep the projectors' plain initialisation (default: fitted to the features and the backbone's embedding scale)")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(handler=run_train)

    ask = commands.add_parser("ask", help="ask a trained HeartcareGPT about an ECG file and/or a picture of one")
    ask.add_argument("--model", type=Path, required=True, help="HeartcareGPT checkpoint folder")
    ask.add_argument("ecg", type=Path, nargs="?", default=None, help="an ECG file heartcare reads (optional with --image)")
    ask.add_argument("question")
    ask.add_argument("--image", type=Path, default=None, help="a PNG/JPEG photo or scan of an ECG")
    ask.add_argument("--compare", type=Path, default=None, metavar="ECG_FILE",
                     help="a second ECG file: the question is about the pair (the first is ECG 1, this ECG 2)")
    ask.add_argument("--max-new-tokens", type=int, default=96)
    ask.add_argument("--plot", type=Path, default=None, help="draw a <prediction> answer after the record (PNG)")
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(handler=run_ask)

    merge = commands.add_parser("merge", help="fold LoRA into the backbone: a standalone checkpoint folder")
    merge.add_argument("model", type=Path)
    merge.add_argument("--out", type=Path, required=True)
    merge.set_defaults(handler=run_merge)

    settings = commands.add_parser("set", help="copy a trained checkpoint with an input setting changed (no training)")
    settings.add_argument("model", type=Path)
    settings.add_argument("--finding-choices", choices=("on", "off"), default=None,
                          help="finding tokens believe only the answers the question offers (on) or all of a kind's (off)")
    settings.add_argument("--finding-temperature", type=float, default=None, metavar="T",
                          help="sharpen each finding token's belief to belief ** (1 / T) (0 = the believed answer alone, 1 = as trained)")
    settings.add_argument("--unasked-prior", choices=("on", "off"), default=None,
                          help="finding tokens of kinds the question does not ask read with the train answer prior put back "
                               "(on; needs --finding-choices) or as fitted (off)")
    settings.add_argument("--closed-answers", choices=("generate", "options"), default=None,
                          help="a question offering options is answered by writing (generate) or by scoring each option (options)")
    settings.add_argument("--reader-weight", default=None, metavar="W|valid",
                          help="with --closed-answers options: W x the asked finding reader's log belief joins each option's "
                               "likelihood (0 = the language model alone); 'valid' chooses W on the valid items of --data")
    settings.add_argument("--data", type=Path, default=None, help="with --reader-weight valid: the HeartAgent dataset it was trained on")
    settings.add_argument("--tasks", action="append", default=None,
                          help="with --reader-weight valid: bench task patterns to choose on (default closed-*)")
    settings.add_argument("--limit", type=int, default=60, help="with --reader-weight valid: items per task (a seeded sample)")
    settings.add_argument("--out", type=Path, required=True)
    settings.set_defaults(handler=run_set)

    refit = commands.add_parser("refit", help="copy a trained checkpoint with its picture finding readers fitted again on a wider input")
    refit.add_argument("model", type=Path)
    refit.add_argument("--data", type=Path, required=True, help="the HeartAgent dataset it was trained on (train records fit the readers)")
    refit.add_argument("--features", type=Path, required=True,
                       help="its feature cache (with texture: `gpt features --add-texture`; page readings: --add-page-morphology)")
    refit.add_argument("--image-finding-texture", choices=("on", "off"), default=None,
                       help="the picture readers also read the page's trace texture (on) or not (off); default: as the model")
    refit.add_argument("--image-finding-page", choices=("on", "off"), default=None,
                       help="the picture readers also read what the digitiser reads off the page (on) or not (off); default: as the model")
    refit.add_argument("--answer-prior", choices=("train", "valid"), default="train",
                       help="keep the train split's answer frequencies in the readers (train), or take out the share "
                            "chosen on the balanced valid items, signal readers refitted too (valid)")
    refit.add_argument("--out", type=Path, required=True)
    refit.set_defaults(handler=run_refit)

    curve = commands.add_parser("curve", help="learning curves of consecutive runs (warmup, joint, continuations) end to end")
    curve.add_argument("runs", type=Path, nargs="+", help="checkpoint folders in training order (each has logs/)")
    curve.add_argument("--out", type=Path, required=True, help="PNG to write")
    curve.add_argument("--metric", default="loss")
    curve.set_defaults(handler=run_curve)

    ablate = commands.add_parser("ablate", help="the paper's ablations (Figures 4, 5a): train and bench each variant, one table")
    ablate.add_argument("--data", type=Path, required=True, help="a HeartAgent dataset folder")
    ablate.add_argument("--beat", type=Path, required=True, help="the trained Beat checkpoint folder")
    ablate.add_argument("--image-encoder", required=True, help="efficientnet-lite0 | siglip:PATH | tiny")
    ablate.add_argument("--out", type=Path, required=True, help="grid folder (re-running resumes it)")
    ablate.add_argument("--preset", choices=("paper", "cpu", "tiny"), default="cpu")
    ablate.add_argument("--variants", default=None, help="comma-separated, e.g. full,no-warmup,signal-only (default: all: "
                                                         "also no-beat-pretraining, neither, image-only, whole-image)")
    ablate.add_argument("--warmup-steps", type=int, default=None, help="override the preset's warm-up step budget")
    ablate.add_argument("--joint-steps", type=int, default=None, help="override the preset's joint step budget")
    ablate.add_argument("--warmup-epochs", type=int, default=None, metavar="N",
                        help="passes over the warm-up items (default: the preset's, cpu 1; the step budget stops it too)")
    ablate.add_argument("--joint-epochs", type=int, default=None, metavar="N", help="passes over the joint items (as above)")
    ablate.add_argument("--bench-limit", type=int, default=200, help="at most N test items per task (a seeded sample)")
    ablate.add_argument("--tasks", action="append", default=None,
                        help="bench tasks: names, globs or groups (repeatable; default closed-*, comparison-*)")
    ablate.add_argument("--backbone", default=None, help="local HF causal-LM folder (default: the preset's / SmolLM2)")
    ablate.add_argument("--text-only", action="store_true", help="also bench the backbone without the ECG")
    ablate.add_argument("--train-tasks", action="append", default=None, metavar="PATTERN",
                        help="train every stage only on the items of these bench tasks (as `gpt train --tasks`); repeatable")
    ablate.add_argument("--learning-rate", type=float, default=None, help="every trained part at this rate (as `gpt train`)")
    ablate.add_argument("--max-per-answer", type=int, default=None, metavar="N",
                        help="at most N train items per answer of a question kind (as `gpt train`)")
    ablate.add_argument("--finding-tokens", action="store_true",
                        help="every variant with a signal stream gets finding tokens (as gpt train --finding-tokens)")
    ablate.add_argument("--signal-summary", action="store_true",
                        help="two more signal tokens per ECG, the mean and spread of its Beat latents (as `gpt train`)")
    ablate.add_argument("--answer-format", choices=("letter-first", "text-first"), default=None,
                        help='multiple-choice training targets, "B: text" or "text (B)" (as `gpt train`; default: the '
                             "preset's)")
    ablate.add_argument("--split", action="append", default=None, choices=("train", "valid", "test"),
                        help="bench these splits and pool their items (repeatable; default test)")
    ablate.add_argument("--mismatched-ecgs", action="store_true",
                        help="also answer every item with another item's ECG: columns for what the ECG adds and whether "
                             "answers follow the ECG shown")
    ablate.add_argument("--features", type=Path, default=None,
                        help="an existing feature cache of --beat and --image-encoder on the 12 lead crops, used instead "
                             "of building the same one again")
    ablate.add_argument("--gradient-checkpointing", action="store_true",
                        help="every stage recomputes activations in backward: about a tenth of the activation memory for "
                             "about 1.3x the step time (as `gpt train`)")
    ablate.add_argument("--quiet", action="store_true")
    ablate.set_defaults(handler=run_ablate)

    readout = commands.add_parser("readout", help="where a trained model loses the answer: linear readouts of its "
                                                  "features and hidden states, layer by layer")
    readout.add_argument("--model", type=Path, required=True, help="HeartcareGPT checkpoint folder")
    readout.add_argument("--data", type=Path, required=True, help="a HeartAgent dataset folder")
    readout.add_argument("--features", type=Path, required=True, help="its feature cache (train and valid records)")
    readout.add_argument("--tasks", action="append", required=True, metavar="PATTERN",
                         help="bench tasks whose multiple-choice items to read out (names, globs, groups); repeatable")
    readout.add_argument("--train-items", type=int, default=1500, help="fit on at most N train items (a stable sample)")
    readout.add_argument("--valid-items", type=int, default=400, help="score on at most N items of --split")
    readout.add_argument("--split", choices=("valid", "test"), default="valid", help="the items readouts are scored on")
    readout.add_argument("--layers", default=None, help="'all' or comma-separated (default: input, quarters, last)")
    readout.add_argument("--out", type=Path, default=None, help="also write the readouts as JSON")
    readout.set_defaults(handler=run_readout)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_features(args: argparse.Namespace) -> int:
    from heartcare.errors import ConfigError
    from heartcare.model.feature_cache import build_feature_cache

    if args.add_texture:
        from heartcare.model.texture_cache import add_texture

        if args.out is None:
            raise ConfigError("--add-texture", "needs --out: the cache folder to add to")
        written = add_texture(args.out, args.dataset, progress=not args.quiet)
        print(f"{args.out}: texture written for {written} shard(s)")
        return 0
    if args.add_page_morphology:
        from heartcare.model.page_cache import add_page_morphology

        if args.out is None:
            raise ConfigError("--add-page-morphology", "needs --out: the cache folder to add to")
        if args.workers < 1:
            raise ConfigError("--workers", f"must be at least 1, got {args.workers}")
        written = add_page_morphology(args.out, args.dataset, progress=not args.quiet, workers=args.workers)
        print(f"{args.out}: page readings written for {written} shard(s)")
        return 0
    encoder = None if args.image_encoder in ("none", "") else args.image_encoder
    folder = build_feature_cache(args.dataset, str(args.beat) if args.beat else None, encoder, args.image_view, args.out,
                                 args.shard_size, args.limit, args.resume, progress=not args.quiet,
                                 splits=tuple(args.split) if args.split else None, context_images=not args.skip_context_images)
    print(folder)
    return 0


def run_train(args: argparse.Namespace) -> int:
    from heartcare.train.gpt_run import train_gpt

    model_changes = {}
    if args.backbone:
        model_changes["backbone"] = args.backbone
    if args.no_signal:
        model_changes["beat"] = None
    if args.no_image:
        model_changes["image_encoder"] = None
    if args.answer_format:
        model_changes["answer_format"] = args.answer_format
    if args.signal_pool is not None:
        model_changes["signal_pool"] = args.signal_pool
    if args.signal_summary:
        model_changes["signal_summary"] = True
    if args.lora_targets:
        model_changes["lora_targets"] = tuple(name.strip() for name in args.lora_targets.split(",") if name.strip())
    stage_changes = {"max_steps": args.max_steps} if args.max_steps else {}
    if args.epochs is not None:
        stage_changes["epochs"] = args.epochs
    if args.gradient_checkpointing:
        stage_changes["gradient_checkpointing"] = True
    run = train_gpt(args.data, args.features, args.stage, args.preset, args.out, args.init, args.resume,
                    model_changes or None, stage_changes or None, progress=not args.quiet, calibrate=not args.no_calibration,
                    bench_tasks=tuple(args.tasks or ()), learning_rate=args.learning_rate,
                    max_per_answer=args.max_per_answer, finding_tokens=args.finding_tokens,
                    frozen_parts=tuple(args.freeze or ()), finding_words=args.finding_words,
                    finding_morphology=args.finding_morphology, finding_choices=args.finding_choices,
                    picture_columns=tuple(column for column, wanted in (("texture", args.image_finding_texture),
                                                                        ("page", args.image_finding_page)) if wanted),
                    answer_prior=args.answer_prior)
    logs = {key: round(value, 4) for key, value in run.result.train_logs.items() if key in ("loss", "lr")}
    valid = {key: round(value, 4) for key, value in run.result.valid_logs.items() if key == "loss"}
    print(f"{run.out}: {args.stage} ({args.preset}) {run.result.steps} steps on {run.train_items} items, "
          f"{run.result.seconds:.1f} s; last train {logs}, valid {valid}")
    return 0


def run_ask(args: argparse.Namespace) -> int:
    from heartcare.ecg.read import read_ecg
    from heartcare.model.ask import Question, ask
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.features import read_picture

    if args.ecg is None and args.image is None:
        raise SystemExit("give an ECG file, --image PICTURE, or both")
    model = from_pretrained(args.model)
    ecg = read_ecg(args.ecg) if args.ecg else None
    picture = read_picture(args.image) if args.image else None
    ecgs = [(ecg, picture)] + ([(read_ecg(args.compare), None)] if args.compare else [])
    (answer,) = ask(model, [Question(args.question, ecgs, args.max_new_tokens)])
    if answer.prediction is not None and args.plot and ecg is not None:
        _plot_prediction(ecg, answer.prediction, answer.prediction_fs, args.plot)
    if args.json:
        document = {"answer": answer.text, "new_tokens": answer.new_tokens, "seconds": round(answer.seconds, 3), **answer.extra}
        if answer.prediction is not None:
            document.update(prediction=answer.prediction.round(4).tolist(), prediction_fs=answer.prediction_fs, units="mV")
        print(json.dumps(document))
    else:
        print(answer.text)
        if answer.prediction is not None:
            print(f"(forecast: {answer.prediction.shape[1]} samples at {answer.prediction_fs:g} Hz"
                  + (f", drawn to {args.plot})" if args.plot else "; --plot FILE draws it)"))
    return 0


def _plot_prediction(ecg, prediction, fs, path: Path) -> None:
    from heartcare.model.forecast_plot import plot_forecast

    plot_forecast(ecg, prediction, fs, path)


def run_merge(args: argparse.Namespace) -> int:
    from heartcare.model.checkpoint import merge

    print(merge(args.model, args.out))
    return 0


def run_set(args: argparse.Namespace) -> int:
    from heartcare.errors import ConfigError
    from heartcare.model.checkpoint import with_settings

    changes: dict[str, object] = {}
    if args.finding_choices is not None:
        changes["finding_choices"] = args.finding_choices == "on"
    if args.finding_temperature is not None:
        changes["finding_temperature"] = args.finding_temperature
    if args.unasked_prior is not None:
        changes["finding_unasked_prior"] = args.unasked_prior == "on"
    if args.closed_answers is not None:
        changes["closed_answers"] = args.closed_answers
    chosen = None
    if args.reader_weight == "valid":
        chosen = _valid_reader_weight(args, changes)
        changes["reader_weight"] = chosen["weight"]
    elif args.reader_weight is not None:
        try:
            changes["reader_weight"] = float(args.reader_weight)
        except ValueError:
            raise ConfigError("--reader-weight", f"a number or 'valid', got {args.reader_weight!r}") from None
    if not changes:
        raise ConfigError("heartcare gpt set", "name a setting to change: --finding-choices, --finding-temperature, --unasked-prior, "
                                               "--closed-answers or --reader-weight")
    print(with_settings(args.model, args.out, changes, chosen))
    return 0


def _valid_reader_weight(args: argparse.Namespace, changes: dict[str, object]) -> dict:
    """Choose the reader weight on valid items (the other `changes` in force) and print the table it was chosen from."""
    from heartcare.errors import ConfigError
    from heartcare.model.reader_weight import choose_reader_weight

    if args.data is None:
        raise ConfigError("--reader-weight valid", "needs --data, the dataset whose valid items choose it")
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit", f"must be at least 1, got {args.limit}")
    chosen = choose_reader_weight(args.model, args.data, tuple(args.tasks or ("closed-*",)), args.limit, settings=changes)
    tasks = [task for task in next(iter(chosen["table"].values())) if task != "mean"]
    print(f"reader weight on {chosen['items']} valid items ({chosen['with_reader']} with a reader, {chosen['unreadable']} unreadable)")
    print("weight  " + "  ".join(f"{task:>20}" for task in tasks) + "      mean")
    for weight, row in chosen["table"].items():
        print(f"{weight:>6}  " + "  ".join(f"{row[task]:20.1f}" for task in tasks) + f"  {row['mean']:8.2f}")
    print(f"chosen: {chosen['weight']}")
    return chosen


def run_refit(args: argparse.Namespace) -> int:
    from heartcare.errors import ConfigError
    from heartcare.model.refit import refit_readers

    changes = {f"image_finding_{name}": value == "on" for name, value in (("texture", args.image_finding_texture),
                                                                          ("page", args.image_finding_page)) if value is not None}
    if not changes:
        raise ConfigError("heartcare gpt refit", "name what the picture readers read: --image-finding-texture and/or --image-finding-page")
    report = refit_readers(args.model, args.data, args.features, args.out, changes, answer_prior=args.answer_prior)
    for projector, kinds in report.items():
        for kind, entry in kinds.items():
            if isinstance(entry, dict) and "train_items" in entry:
                print(f"{projector:24} {kind:34} train {entry.get('train_accuracy', float('nan')):.3f} "
                      f"valid {entry.get('valid_accuracy', float('nan')):.3f} columns {entry.get('columns', '-'):8} "
                      f"prior share {entry.get('prior_share', 0.0)}")
    print(args.out)
    return 0


def run_curve(args: argparse.Namespace) -> int:
    from heartcare.train.plot import plot_learning_curves

    print(plot_learning_curves([run / "logs" for run in args.runs], args.out, args.metric, labels=[run.name for run in args.runs]))
    return 0


def run_readout(args: argparse.Namespace) -> int:
    import torch

    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.readout import format_report, run_readouts, write_report

    if args.train_items < 2 or args.valid_items < 1:
        raise SystemExit("--train-items must be >= 2 and --valid-items >= 1")
    model = from_pretrained(args.model, load_encoders=False)
    cache = FeatureCache(args.features)
    with torch.inference_mode():
        report = run_readouts(model, BenchDataset(args.data), cache, tuple(args.tasks), args.train_items, args.valid_items,
                              args.layers, split=args.split)
    print(format_report(report))
    if args.out:
        write_report(report, args.out)
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from heartcare.train.ablation import DEFAULT_TASKS, Recipe, run_ablations

    tasks = [name for entry in args.tasks for name in entry.split(",") if name] if args.tasks else list(DEFAULT_TASKS)
    variants = [name for name in args.variants.split(",") if name] if args.variants else None
    recipe = Recipe(tuple(args.train_tasks or ()), args.learning_rate, args.max_per_answer, args.finding_tokens)
    report = run_ablations(args.data, args.beat, args.image_encoder, args.out, args.preset, variants, tasks,
                           args.bench_limit, args.warmup_steps, args.joint_steps, args.backbone, progress=not args.quiet,
                           model_changes={**({"signal_summary": True} if args.signal_summary else {}),
                                          **({"answer_format": args.answer_format} if args.answer_format else {})} or None,
                           include_text_only=args.text_only, recipe=recipe, splits=tuple(args.split or ("test",)),
                           control=args.mismatched_ecgs, features=args.features, warmup_epochs=args.warmup_epochs,
                           joint_epochs=args.joint_epochs, gradient_checkpointing=args.gradient_checkpointing)
    print(report.markdown.read_text())
    return 0
