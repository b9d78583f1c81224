"""RUN/report.md and RUN/report.html: the paper's tables, every model beside the floors.

Tables follow the paper (Closed-QA by S/I x dimension; Open-QA F1-Bio / ROUGE-L;
Comparison-QA by form x relation; Report judge / term F1 / ROUGE-L; Signal prediction),
then every figure with its 95% interval. Charts (matplotlib, when installed) show the
headline metric per task with intervals, and overlays of predicted vs target waveforms.
Both files read without a server: the HTML links figures by relative path.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from heartcare.atomic import write_atomic

DIMENSIONS = (("diagnosis", "Dia"), ("waveform", "Wav"), ("rhythm", "Rhy"), ("misc", "Misc"))
FORMS = ("SS", "II", "SI")
RELATIONS = (("consecutive", "cons"), ("irrelevant", "irr"))
PERCENT_METRICS = {"accuracy", "parse_rate", "loglik_accuracy", "f1_bio", "rouge_l", "term_f1"}


def rows_of(results_list: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(label, tasks block): each run's model, then each floor over the tasks of all runs, then chance."""
    rows: list[tuple[str, dict[str, Any]]] = []
    floors: dict[str, dict[str, Any]] = {}
    chance: dict[str, Any] = {}
    for results in results_list:
        if results["model"] in FLOOR_ORDER:  # a run of a floor itself joins that floor's row
            for task, entry in results.get("tasks", {}).items():
                floors.setdefault(results["model"], {}).setdefault(task, entry)
        else:
            rows.append((results["model"], results.get("tasks", {})))
            for name, block in (results.get("controls") or {}).items():
                rows.append((f"{results['model']}, {name} (control)", block.get("tasks", {})))
        for name, block in (results.get("floors") or {}).items():
            for task, entry in block.get("tasks", {}).items():
                floors.setdefault(name, {}).setdefault(task, entry)
        for task, block in results.get("tasks", {}).items():
            if "chance" in block:
                chance[task] = {"metrics": {"accuracy": {"value": block["chance"], "ci": [block["chance"]] * 2, "n": block["n"]}}}
    order = FLOOR_ORDER + sorted(set(floors) - set(FLOOR_ORDER))
    rows += [(f"{name} (floor)", floors[name]) for name in order if name in floors]
    if chance:
        rows.append(("chance", chance))
    return rows


def value(tasks: dict[str, Any], task: str, metric: str) -> float | None:
    entry = tasks.get(task, {}).get("metrics", {}).get(metric)
    return None if entry is None else entry["value"]


def cell(number: float | None, metric: str) -> str:
    if number is None:
        return "—"
    return f"{100 * number:.1f}" if metric in PERCENT_METRICS else f"{number:.3g}"


def signed_cell(number: float, metric: str) -> str:
    """A difference with its sign: +6.6 points, -0.012."""
    return f"{100 * number:+.1f}" if metric in PERCENT_METRICS else f"{number:+.3g}"


def average(numbers: list[float | None]) -> float | None:
    present = [number for number in numbers if number is not None]
    return sum(present) / len(present) if present else None


def table(title: str, header: list[str], body: list[list[str]], note: str = "") -> dict[str, Any]:
    return {"title": title, "header": header, "body": body, "note": note}


def paper_tables(rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    tables = []
    closed = [f"closed-{m}-{d}" for m in "SI" for d, _ in DIMENSIONS]
    header = ["model"] + [f"{m}-{short}" for m in "SI" for _, short in DIMENSIONS] + ["avg"]
    body = [[label] + [cell(value(t, name, "accuracy"), "accuracy") for name in closed]
            + [cell(average([value(t, name, "accuracy") for name in closed]), "accuracy")] for label, t in rows]
    tables.append(table("Closed-QA accuracy (%)", header, body, "Parsed from the generated text; unparsable = wrong."))
    opened = [f"open-{m}-{d}" for m in "SI" for d, _ in DIMENSIONS]
    body = [[label] + [f"{cell(value(t, name, 'f1_bio'), 'f1_bio')} / {cell(value(t, name, 'rouge_l'), 'rouge_l')}"
                       for name in opened] for label, t in rows]
    tables.append(table("Open-QA F1-Bio / ROUGE-L (%)", ["model"] + header[1:-1], body))
    compared = [f"comparison-{f}-{r}" for f in FORMS for r, _ in RELATIONS]
    body = [[label] + [cell(value(t, name, "accuracy"), "accuracy") for name in compared]
            + [cell(average([value(t, name, "accuracy") for name in compared]), "accuracy")] for label, t in rows]
    tables.append(table("Comparison-QA accuracy (%)", ["model"] + [f"{f[0]}-{f[1]} {short}" for f in FORMS for _, short in RELATIONS] + ["avg"], body,
                        "cons = same patient (consecutive), irr = different patients (irrelevant)."))
    body = [[label] + [cell(value(t, f"report-{m}", metric), metric) for m in "SI" for metric in ("judge", "term_f1", "rouge_l")]
            for label, t in rows]
    tables.append(table("Report generation: judge (0-100) / ECG-term F1 (%) / ROUGE-L (%)",
                        ["model"] + [f"{m} {name}" for m in "SI" for name in ("judge", "term F1", "R-L")], body,
                        "The judge column is empty unless the run used --judge."))
    predicted = [f"prediction-{m}-{h}" for m in "SI" for h in ("2s", "1s")]
    metrics = (("mse", "MSE mV²"), ("mae", "MAE mV"), ("pearson_r", "r"), ("hr_error", "HR error bpm"), ("qrs_timing_error", "QRS Δt ms"))
    body = [[label, name] + [cell(value(t, name, metric), metric) for metric, _ in metrics]
            for label, t in rows for name in predicted if t.get(name, {}).get("metrics")]
    tables.append(table("Signal prediction", ["model", "task"] + [title for _, title in metrics], body,
                        "MSE alone rewards timid forecasts (a flat line scores well): read it beside r and the QRS timing."))
    for entry in tables:  # a model that answers none of a table's tasks (Beat in Closed-QA) gets no row there
        entry["body"] = [row for row in entry["body"] if not set(row[1:]) <= EMPTY_CELLS | set(TASK_NAMES)]
    return [entry for entry in tables if entry["body"]]


EMPTY_CELLS = {"—", "— / —"}
FLOOR_ORDER = ["random", "majority", "blind"]
TASK_NAMES = [f"prediction-{m}-{h}" for m in "SI" for h in ("2s", "1s")]


def console_tables(results_list: list[dict[str, Any]]) -> str:
    """The paper tables as Markdown, for a terminal (the interval table stays in report.md)."""
    first = results_list[0]
    title = f"Heartcare-Bench on {first['dataset']['path']} ({first['split']})"
    tables = paper_tables(rows_of(results_list)) + [control_table(results_list), following_table(results_list)]
    return markdown([entry for entry in tables if entry["body"]], title, [], [])


def interval_table(results_list: list[dict[str, Any]]) -> dict[str, Any]:
    body = []
    for label, tasks in rows_of(results_list):
        for task, block in tasks.items():
            for metric, entry in block["metrics"].items():
                if "/" in metric:
                    continue  # per-lead r: in results.json
                low, high = entry["ci"]
                body.append([label, task, metric, cell(entry["value"], metric), f"[{cell(low, metric)}, {cell(high, metric)}]",
                             str(entry["n"])])
    return table("Every figure with its bootstrap 95% interval", ["model", "task", "metric", "value", "95% CI", "n"], body)


def control_table(results_list: list[dict[str, Any]]) -> dict[str, Any]:
    """Each model minus its own control run, paired over the same items (`--mismatched-ecgs`)."""
    body = []
    for results in results_list:
        for name, control in (results.get("controls") or {}).items():
            for task, block in (control.get("model_minus_control") or {}).items():
                for metric, entry in block["metrics"].items():
                    low, high = entry["ci"]
                    body.append([f"{results['model']} - {name}", task, metric, cell(entry["a"], metric), cell(entry["b"], metric),
                                 signed_cell(entry["difference"], metric),
                                 f"[{signed_cell(low, metric)}, {signed_cell(high, metric)}]", f"{entry['p_value']:.3f}",
                                 str(entry["n"])])
    return table("What the ECG adds: the model minus its control, paired over the same items (bootstrap 95% interval)",
                 ["model - control", "task", "metric", "model", "control", "difference", "95% CI", "p", "n"], body,
                 "An interval above zero: the model's own ECG raised the score beyond what the questions and "
                 "another record's ECG give.")


def following_table(results_list: list[dict[str, Any]]) -> dict[str, Any]:
    """How often each model, shown another item's ECG, picks that ECG's own answer (`--mismatched-ecgs`)."""
    body = []
    for results in results_list:
        for name, control in (results.get("controls") or {}).items():
            for task, entry in (control.get("follows_shown_ecg") or {}).items():
                low, high = entry["ci"]
                body.append([f"{results['model']} - {name}", task, cell(entry["with_shown_ecg"], "accuracy"),
                             cell(entry["with_own_ecg"], "accuracy"), signed_cell(entry["difference"], "accuracy"),
                             f"[{signed_cell(low, 'accuracy')}, {signed_cell(high, 'accuracy')}]",
                             f"{entry['p_value']:.3f}", str(entry["n"])])
    return table("Does the answer follow the ECG shown? The shown ECG's own answer, a wrong option for the item: "
                 "picked under the control and with the item's own ECG (%)",
                 ["model - control", "task", "picked, shown that ECG", "picked, own ECG", "difference", "95% CI", "p", "n"],
                 body, "An interval above zero: the answer moves with the recording it is shown.")


def markdown(tables: list[dict[str, Any]], title: str, figures: list[str], preamble: list[str]) -> str:
    lines = [f"# {title}", "", *preamble, ""]
    for entry in tables:
        lines += [f"## {entry['title']}", ""]
        if not entry["body"]:
            lines += ["(no items)", ""]
            continue
        lines.append("| " + " | ".join(entry["header"]) + " |")
        lines.append("|" + "---|" * len(entry["header"]))
        lines += ["| " + " | ".join(row) + " |" for row in entry["body"]]
        if entry["note"]:
            lines += ["", entry["note"]]
        lines.append("")
    for figure in figures:
        lines += [f"![{figure}]({figure})", ""]
    return "\n".join(lines)


def html_page(tables: list[dict[str, Any]], title: str, figures: list[str], preamble: list[str]) -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
             "tr:nth-child(even){background:#f6f6f6}</style>", f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in preamble]
    for entry in tables:
        parts.append(f"<h2>{html.escape(entry['title'])}</h2>")
        parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in entry["header"]) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in entry["body"]]
        parts.append("</table>")
        if entry["note"]:
            parts.append(f"<p><small>{html.escape(entry['note'])}</small></p>")
    parts += [f"<p><img src='{html.escape(figure)}' style='max-width:100%'></p>" for figure in figures]
    return "\n".join(parts) + "\n"


def write_report(results_list: list[dict[str, Any]], out: Path, predictions_folder: Path | None = None) -> list[Path]:
    """report.md, report.html and figures/ in `out` for one or more runs' results."""
    from heartcare.bench.report_figures import draw_figures

    rows = rows_of(results_list)
    tables = paper_tables(rows) + [control_table(results_list), following_table(results_list), interval_table(results_list)]
    first = results_list[0]
    preamble = [f"Dataset {first['dataset']['path']} (format {first['dataset']['version']}, fingerprint "
                f"{first['dataset']['fingerprint']}), split {first['split']}, seed {first['seed']}, "
                f"heartcare {first['heartcare_version']}."]
    for results in results_list:
        failed = sum(block["n_failed"] for block in results.get("tasks", {}).values())
        not_applicable = sum(block["n_not_applicable"] for block in results.get("tasks", {}).values())
        total = sum(block["n"] for block in results.get("tasks", {}).values())
        preamble.append(f"{results['model']}: {total} items, {failed} failed (scored wrong), {not_applicable} not applicable (not scored).")
    figures = draw_figures(results_list, rows, out, predictions_folder)
    title = "Heartcare-Bench: " + ", ".join(results["model"] for results in results_list)
    written = [write_atomic(out / "report.md", markdown(tables, title, figures, preamble)),
               write_atomic(out / "report.html", html_page(tables, title, figures, preamble))]
    return written


def load_results(run: Path) -> dict[str, Any]:
    from heartcare.errors import UnreadableFileError

    path = run / "results.json" if run.is_dir() else run
    if not path.is_file():
        raise UnreadableFileError(path, "no results.json here; run `heartcare bench run` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UnreadableFileError(path, f"not valid JSON: {error.msg} (line {error.lineno})") from None
