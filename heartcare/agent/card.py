"""The dataset card: dataset.json (machine-readable) and README.md (for people).

Counts per task x dimension x modality x split, label distributions (a plot),
template diversity (distinct-n of questions and answers), answer balancing (what
each split kept and dropped), the shortcut audit (blind floors, answer checker, cell
sizes), split hygiene (patient and waveform overlap, both
expected 0), skipped records, the build config and timing. dataset.json carries no
timing so a resumed build is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from heartcare import __version__
from heartcare.agent.config import BuildConfig
from heartcare.agent.templates import distinct_n, phrasing_counts
from heartcare.atomic import write_atomic

FORMAT_VERSION = 2  # 2: balanced valid/test splits, "balance" and "audit" sections (issue 18)
TIMING_HEADING = "## Build timing"


def count_items(tables: dict[str, Any]) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
    """split -> task -> dimension -> modality -> items."""
    counts: dict[str, Any] = {}
    for split, table in tables.items():
        grouped = table.group_by(["task", "dimension", "modality"]).aggregate([("id", "count")]).to_pylist()
        nested: dict[str, Any] = {}
        for row in sorted(grouped, key=lambda r: (r["task"], r["dimension"], r["modality"])):
            nested.setdefault(row["task"], {}).setdefault(row["dimension"], {})[row["modality"]] = row["id_count"]
        counts[split] = nested
    return counts


def diversity(tables: dict[str, Any], sample: int = 20000, column: str = "question") -> dict[str, dict[str, float]]:
    """Distinct-1/2/3 of a text column per task (on up to `sample` items, first rows)."""
    import pyarrow.compute as pc

    result = {}
    for task in ("closed_qa", "open_qa", "comparison_qa", "report", "signal_prediction"):
        texts: list[str] = []
        for table in tables.values():
            chosen = table.filter(pc.equal(table.column("task"), task)).column(column).to_pylist()
            texts.extend(chosen[: sample - len(texts)])
        if texts:
            result[task] = {f"distinct_{n}": round(distinct_n(texts, n), 4) for n in (1, 2, 3)}
    return result


def label_distribution(records) -> dict[str, int]:
    counter: Counter[str] = Counter()
    for labels in records.column("labels").to_pylist():
        counter.update(list(json.loads(labels)))
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


# The label plot is drawn with Pillow: matplotlib took ~1.5 s per build (1 s of it
# importing pyplot), a tenth of a 400-record benchmark build; bars, ticks and rotated
# labels take Pillow milliseconds. Pixels depend only on the counts: stable bytes.
WIDTH, HEIGHT = 1000, 400  # the old 10 x 4 in figure at 100 dpi
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 90  # plot-area margins: y ticks left, rotated codes below
BAR_COLOUR = (176, 58, 46)
INK = (0, 0, 0)
GRID = (225, 225, 225)
TICKS = 5


def _nice_step(maximum: int) -> int:
    """A 1/2/5 x 10^k tick step giving about `TICKS` ticks up to `maximum`."""
    raw = max(maximum / TICKS, 1.0)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def bar_chart_png(bars: list[tuple[str, int]], title: str, ylabel: str = "records") -> bytes:
    """PNG bytes of a vertical bar chart of (label, count) pairs, labels rotated 90 degrees."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small, title_font = (ImageFont.load_default(size=size) for size in (12, 10, 15))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max((count for _, count in bars), default=0)
    step = _nice_step(top)
    scale_top = max(step * -(-top // step), step)  # the axis ends on a tick above the tallest bar
    for tick in range(0, scale_top + 1, step):
        y = TOP + plot_height - plot_height * tick / scale_top
        draw.line([(LEFT, y), (WIDTH - RIGHT, y)], fill=GRID)
        draw.text((LEFT - 6, y), str(tick), fill=INK, font=font, anchor="rm")
    slot = plot_width / max(len(bars), 1)
    for index, (label, count) in enumerate(bars):
        x0 = LEFT + index * slot + 0.15 * slot
        x1 = LEFT + (index + 1) * slot - 0.15 * slot
        y0 = TOP + plot_height - plot_height * count / scale_top
        draw.rectangle([(x0, y0), (x1, TOP + plot_height)], fill=BAR_COLOUR)
        width = int(draw.textlength(label, font=small)) + 2
        text = Image.new("L", (width, 14), 0)
        ImageDraw.Draw(text).text((0, 0), label, fill=255, font=small)
        rotated = text.rotate(90, expand=True)
        image.paste(INK, (int((x0 + x1) / 2 - 7), TOP + plot_height + 4), rotated)
    draw.line([(LEFT, TOP), (LEFT, TOP + plot_height), (WIDTH - RIGHT, TOP + plot_height)], fill=INK)
    draw.text((WIDTH / 2, TOP / 2), title, fill=INK, font=title_font, anchor="mm")
    label = Image.new("L", (int(draw.textlength(ylabel, font=font)) + 2, 14), 0)
    ImageDraw.Draw(label).text((0, 0), ylabel, fill=255, font=font)
    vertical = label.rotate(90, expand=True)
    image.paste(INK, (8, TOP + (plot_height - vertical.height) // 2), vertical)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _plot_labels(out: Path, distribution: dict[str, int]) -> str:
    """card/label_distribution.png: the 30 most frequent codes as bars (see `bar_chart_png`)."""
    data = bar_chart_png(list(distribution.items())[:30], "SCP-ECG label distribution (30 most frequent)")
    relative = "card/label_distribution.png"
    write_atomic(out / relative, data)
    return relative


def image_formats(config: BuildConfig) -> dict[str, str]:
    """Preset -> stored file format of its images (see `heartcare.agent.images`)."""
    from heartcare.agent.images import JPEG_PRESETS, JPEG_QUALITY

    return {
        preset: f"jpeg (quality of the preset's jpeg step, else {JPEG_QUALITY})" if preset in JPEG_PRESETS else "png"
        for preset in config.image_presets
    }


def write_card(
    out: Path, config: BuildConfig, records, tables: dict[str, Any], skipped: list[dict[str, str]],
    overlap: dict[str, int], timing: dict[str, float], rewrite_stats: dict[str, Any],
    balance: dict[str, Any] | None = None, audit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    counts = count_items(tables)
    distribution = label_distribution(records)
    splits = Counter(records.column("split").to_pylist())
    card = {
        "name": out.name,
        "format_version": FORMAT_VERSION,
        "heartcare_version": __version__,
        "sources": [spec.split(":")[0] for spec in config.sources],
        "build_config": config.to_dict(),
        "totals": {
            "records": records.num_rows,
            "items": sum(table.num_rows for table in tables.values()),
            "skipped": len(skipped),
            "records_per_split": {split: splits.get(split, 0) for split in ("train", "valid", "test")},
            "items_per_split": {split: table.num_rows for split, table in tables.items()},
        },
        "counts": counts,
        "split_overlap": overlap,
        "label_distribution": distribution,
        "template_phrasings": phrasing_counts(),
        "diversity": diversity(tables),
        "answer_diversity": diversity(tables, column="answer"),
        "balance": balance or {},
        "audit": audit or {},
        "rewrite": rewrite_stats,
        "image_formats": image_formats(config) if config.images_per_record > 0 else {},
        "files": {"records": "records.parquet", "qa": {split: f"qa/{split}.parquet" for split in tables}},
    }
    plot = _plot_labels(out, distribution)
    if plot:
        card["files"]["label_plot"] = plot
    write_atomic(out / "README.md", render_markdown(card, skipped, timing).encode())
    write_atomic(out / "dataset.json", json.dumps(card, indent=1, sort_keys=True).encode())
    return card


def render_balance(balance: dict[str, Any]) -> list[str]:
    """Markdown lines: what answer balancing kept and dropped per split (nothing is lost silently)."""
    lines = ["## Answer balance", "",
             "Valid and test keep the same number of items per answer text in every (task, kind, modality) group of",
             "multiple-choice items; distractors come from the kept answers, letters are dealt in turn. Answers that",
             "the other items allow too seldom as a distractor (so they would be right more than one time in K when",
             "offered) leave the split, and so do answers whose items must leave out a text that then names them.",
             "Train keeps its natural answers; its distractors are re-drawn the same way.", "",
             "| split | items in | kept | dropped: rare answers | dropped: over quota | dropped: too few distractors "
             "| dropped: answers seldom a distractor | dropped: answers named by a missing option |",
             "|---|---|---|---|---|---|---|---|"]
    for split, report in balance.items():
        t = report["totals"]
        lines.append(f"| {split} | {t['items_in']} | {t['items_kept']} | {t['dropped_answer_items']} | "
                     f"{t['dropped_over_quota']} | {t['dropped_no_distractors']} | "
                     f"{t.get('dropped_seldom_distractor_items', 0)} | {t.get('dropped_absence_cue_items', 0)} |")
    return lines


def render_markdown(
    card: dict[str, Any], skipped: list[dict[str, str]], timing: dict[str, Any] | None, terminal: bool = False
) -> str:
    """The human card (README.md); `terminal=True` is the same text for `heartcare agent stats`,
    naming the plot's file instead of embedding it."""
    lines = [
        f"# {card['name']}: a HeartAgent ECG instruction dataset",
        "",
        "Built by heartcare's HeartAgent (Heartcare Suite, arXiv 2506.05831). Load with",
        "`datasets.load_dataset(\"parquet\", data_files={\"train\": \"qa/train.parquet\", ...})`.",
        "",
        "## Totals",
        "",
        f"- records: {card['totals']['records']} ({', '.join(f'{k} {v}' for k, v in card['totals']['records_per_split'].items())})",
        f"- QA items: {card['totals']['items']} ({', '.join(f'{k} {v}' for k, v in card['totals']['items_per_split'].items())})",
        f"- skipped records: {card['totals']['skipped']} (reasons in build_report.json)",
        f"- patients in several splits: {card['split_overlap']['patients_in_several_splits']}; "
        f"waveforms in several splits: {card['split_overlap']['waveforms_in_several_splits']}",
        "",
        "## Items per task x dimension x modality x split",
        "",
        "| task | dimension | modality | " + " | ".join(card["counts"]) + " |",
        "|---|---|---|" + "---|" * len(card["counts"]),
    ]
    keys = sorted(
        {(t, d, m) for split in card["counts"].values() for t, dims in split.items() for d, mods in dims.items() for m in mods}
    )
    for task, dimension, modality in keys:
        values = [str(card["counts"][s].get(task, {}).get(dimension, {}).get(modality, 0)) for s in card["counts"]]
        lines.append(f"| {task} | {dimension} | {modality} | " + " | ".join(values) + " |")
    lines += ["", "## Template diversity", "", "| task | phrasings | distinct-1 | distinct-2 | distinct-3 |", "|---|---|---|---|---|"]
    for task, stats in card["diversity"].items():
        lines.append(
            f"| {task} | {card['template_phrasings'].get(task, '-')} | {stats['distinct_1']} | {stats['distinct_2']} | {stats['distinct_3']} |"
        )
    if card.get("answer_diversity"):
        lines += ["", "Answers:", "", "| task | distinct-1 | distinct-2 | distinct-3 |", "|---|---|---|---|"]
        lines += [f"| {task} | {stats['distinct_1']} | {stats['distinct_2']} | {stats['distinct_3']} |"
                  for task, stats in card["answer_diversity"].items()]
    if card.get("balance"):
        lines += ["", *render_balance(card["balance"])]
    if card.get("audit"):
        from heartcare.agent.audit import render_audit

        lines += ["", *render_audit(card["audit"])]
    if card.get("image_formats"):
        lines += ["", "## Images", "",
                  "Record sheets are drawn at the build's dpi and degraded by one preset each (parameters in",
                  "records.parquet `image_parameters`, including `format`). Clean and print sheets are PNG;",
                  "scanned and photographed paper is stored as JPEG, as scanners and phones write it: the",
                  "bytes of the preset's own final JPEG step (quality in `jpeg_quality`), so a file decodes to",
                  "exactly the recorded augmentation; about 10x smaller than PNG. Prediction context sheets are PNG.", ""]
        lines += [f"- {preset}: {kind}" for preset, kind in card["image_formats"].items()]
    lines += ["", "## Label distribution (records per SCP-ECG code)", ""]
    plot = card["files"].get("label_plot")
    if plot:
        # its own paragraph, path relative to this README (the dataset folder)
        lines += [f"plot: {plot} (in the dataset folder)" if terminal else f"![labels]({plot})", ""]
    lines.append(", ".join(f"{code} {count}" for code, count in list(card["label_distribution"].items())[:40]))
    lines += ["", "## Build config", ""]
    lines += [f"- {key}: {json.dumps(value)}" for key, value in sorted(card["build_config"].items())]
    if skipped:
        lines += ["", "## Skipped records (first 20)", ""] + [f"- {s['source']} {s['key']}: {s['reason']}" for s in skipped[:20]]
    if timing:
        lines += ["", TIMING_HEADING, ""]
        for key, value in timing.items():
            if isinstance(value, dict):  # e.g. worker ms per record by stage
                lines.append(f"- {key}: " + ", ".join(f"{name} {number}" for name, number in value.items()))
            else:
                lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"
