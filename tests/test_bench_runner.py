"""The harness end to end: scoring from saved predictions, floors, resume, failures, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heartcare.bench.dataset import BenchDataset
from heartcare.bench.models import MODELS
from heartcare.bench.models.base import Output
from heartcare.bench.runner import BenchConfig, answers_another_model, run_bench
from heartcare.errors import ConfigError, DatasetLayoutError, UnreadableFileError

CHOICE_TASKS = ["closed-*", "comparison-*"]


def write_predictions(path: Path, dataset: Path, answer) -> Path:
    """A predictions file: `answer(item)` -> a dict with output / waveform for each test item."""
    lines = []
    for item in BenchDataset(dataset).items("test"):
        entry = answer(item)
        if entry is not None:
            lines.append(json.dumps({"id": item.id, **entry}))
    path.write_text("\n".join(lines) + "\n")
    return path


def run(dataset: Path, model: str, out: Path, **options) -> dict:
    return run_bench(BenchConfig(data=dataset, model=model, out=out, progress=False, **options))


def test_every_correct_answer_scores_one_and_every_wrong_answer_zero(built_dataset, tmp_path):
    def correct(item):
        if item.task == "signal_prediction":
            target = BenchDataset(built_dataset).prediction_target(item)
            np.save(tmp_path / f"{item.id}.npy", target)
            return {"waveform": f"{item.id}.npy"}
        return {"output": item.answer}

    def wrong(item):
        if item.is_multiple_choice:
            return {"output": item.letters[(item.answer_index + 1) % len(item.choices)]}
        return None  # free text and waveforms left out: missing items count as wrong

    tasks = CHOICE_TASKS + ["report-*", "prediction-S-*"]
    good = run(built_dataset, f"predictions:{write_predictions(tmp_path / 'good.jsonl', built_dataset, correct)}",
               tmp_path / "good", tasks=tasks, floors=False)
    bad = run(built_dataset, f"predictions:{write_predictions(tmp_path / 'bad.jsonl', built_dataset, wrong)}",
              tmp_path / "bad", tasks=tasks, floors=False)
    for name, block in good["tasks"].items():
        metrics = {key: entry["value"] for key, entry in block["metrics"].items()}
        if name.startswith(("closed", "comparison")):
            assert metrics["accuracy"] == 1.0 and metrics["parse_rate"] == 1.0, name
            assert bad["tasks"][name]["metrics"]["accuracy"]["value"] == 0.0, name
        elif name.startswith("report"):
            assert metrics["rouge_l"] == pytest.approx(1.0) and metrics["term_f1"] == pytest.approx(1.0), name
            assert bad["tasks"][name]["metrics"]["rouge_l"]["value"] == 0.0
            assert bad["tasks"][name]["n_missing"] == bad["tasks"][name]["n"]
        else:
            assert metrics["mse"] == 0.0 and metrics["mae"] == 0.0, name
            assert metrics["pearson_r"] == pytest.approx(1.0)
            assert bad["tasks"][name]["metrics"]["mse"]["value"] > 0.001
    records = [json.loads(line) for line in (tmp_path / "good" / "predictions.jsonl").read_text().splitlines()]
    assert all(record["correct"] for record in records if "correct" in record)
    assert (tmp_path / "good" / "report.md").read_text().count("| predictions:") >= 3


@pytest.mark.parametrize(("line", "problem"), [
    ('{"id": "nope", "output": "A"}', "unknown item id 'nope'"),
    ("{not json", "not a JSON object"),
    ('{"output": "A"}', 'string "id"'),
    ('{"id": "ID", "output": 3}', '"output" must be a string'),
])
def test_bad_predictions_files_name_file_and_line(built_dataset, tmp_path, line, problem):
    first = BenchDataset(built_dataset).items("test")[0]
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": first.id, "output": "A"}) + "\n" + line.replace("ID", first.id) + "\n")
    with pytest.raises(UnreadableFileError, match=problem) as raised:
        run(built_dataset, f"predictions:{path}", tmp_path / "run", floors=False)
    assert f"{path}:2" in str(raised.value)


def test_a_repeated_id_is_refused(built_dataset, tmp_path):
    first = BenchDataset(built_dataset).items("test")[0]
    path = tmp_path / "p.jsonl"
    path.write_text((json.dumps({"id": first.id, "output": "A"}) + "\n") * 2)
    with pytest.raises(UnreadableFileError, match="appears twice"):
        run(built_dataset, f"predictions:{path}", tmp_path / "run", floors=False)


def test_missing_and_foreign_dataset_folders(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no such dataset folder"):
        run(tmp_path / "absent", "random", tmp_path / "run")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "data.csv").write_text("x")
    with pytest.raises(DatasetLayoutError, match="not a HeartAgent dataset"):
        run(tmp_path / "foreign", "random", tmp_path / "run")


def test_unknown_model_and_task(built_dataset, tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'gpt9'"):
        run(built_dataset, "gpt9:x", tmp_path / "run", floors=False)
    with pytest.raises(ConfigError, match="no task matches"):
        run(built_dataset, "random", tmp_path / "run2", tasks=["nothing-*"])


class Scripted:
    """A test adapter: answers the correct letter, records what it was asked, misbehaves on cue."""

    asked: list[str] = []
    interrupt_after: int | None = None
    always_fails: set[str] = set()
    attempts: dict[str, int] = {}
    batch_size = 8

    def __init__(self, argument, context):
        self.name = "scripted"

    def respond(self, items):
        if Scripted.interrupt_after is not None and len(Scripted.asked) >= Scripted.interrupt_after:
            raise KeyboardInterrupt
        for item in items:
            Scripted.attempts[item.id] = Scripted.attempts.get(item.id, 0) + 1
        if any(item.id in Scripted.always_fails for item in items):
            raise RuntimeError("endpoint timed out")
        Scripted.asked.extend(item.id for item in items)
        return [Output(text=item.letters[item.answer_index]) if item.modality != "C-II"
                else Output(not_applicable="no images here") for item in items]


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setitem(MODELS, "scripted", f"{__name__}:Scripted")
    Scripted.asked, Scripted.interrupt_after, Scripted.always_fails, Scripted.attempts = [], None, set(), {}
    return Scripted


def without_timing(results: dict) -> dict:
    return {key: value for key, value in results.items() if key != "timing"}


def test_an_interrupted_run_resumes_to_the_straight_result(built_dataset, tmp_path, scripted):
    straight = run(built_dataset, "scripted", tmp_path / "straight", tasks=CHOICE_TASKS)
    total = len(scripted.asked)
    scripted.asked, scripted.interrupt_after = [], 24
    with pytest.raises(KeyboardInterrupt):
        run(built_dataset, "scripted", tmp_path / "resumed", tasks=CHOICE_TASKS)
    assert len(scripted.asked) == 24
    scripted.asked, scripted.interrupt_after = [], None
    resumed = run(built_dataset, "scripted", tmp_path / "resumed", tasks=CHOICE_TASKS)
    assert len(scripted.asked) == total - 24, "cached answers were asked again"
    assert without_timing(resumed) == without_timing(straight)
    assert (tmp_path / "resumed" / "results.json").read_text().split('"timing"')[0] == \
        (tmp_path / "straight" / "results.json").read_text().split('"timing"')[0]


def test_failed_items_are_retried_recorded_and_counted_wrong(built_dataset, tmp_path, scripted):
    items = [item for item in BenchDataset(built_dataset).items("test") if item.task == "closed_qa" and item.modality == "S"]
    victim = items[0]
    scripted.always_fails = {victim.id}
    results = run(built_dataset, "scripted", tmp_path / "run", tasks=["closed-S-*"], floors=False, retries=1)
    task = next(name for name, block in results["tasks"].items() if block["n_failed"])
    block = results["tasks"][task]
    assert block["n_failed"] == 1 and block["n_scored"] == block["n"]
    assert block["metrics"]["accuracy"]["value"] == pytest.approx((block["n"] - 1) / block["n"])
    assert scripted.attempts[victim.id] == 3  # the batch twice (1 retry), then alone once
    records = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()}
    assert "timed out" in records[victim.id]["failed"] and records[victim.id]["correct"] is False
    scripted.always_fails = set()
    again = run(built_dataset, "scripted", tmp_path / "run", tasks=["closed-S-*"], floors=False)
    assert again["tasks"][task]["n_failed"] == 0, "a failed item is asked again on resume"
    assert again["tasks"][task]["metrics"]["accuracy"]["value"] == 1.0
    assert scripted.attempts[victim.id] == 4


def test_not_applicable_items_are_counted_not_scored(built_dataset, tmp_path, scripted):
    results = run(built_dataset, "scripted", tmp_path / "run", tasks=["comparison-II-*", "comparison-SS-*"], floors=False)
    for name, block in results["tasks"].items():
        if "-II-" in name:
            assert block["n_not_applicable"] == block["n"] and "accuracy" not in block["metrics"]
            assert block["not_applicable_reasons"] == ["no images here"]
        else:
            assert block["n_not_applicable"] == 0 and block["metrics"]["accuracy"]["value"] == 1.0


def test_a_run_folder_of_another_run_is_refused(built_dataset, tmp_path):
    run(built_dataset, "random", tmp_path / "run", tasks=["closed-S-diagnosis"], floors=False)
    with pytest.raises(ConfigError, match="another run.*model: 'random' -> 'majority'"):
        run(built_dataset, "majority", tmp_path / "run", tasks=["closed-S-diagnosis"], floors=False)
    with pytest.raises(ConfigError, match="seed: 0 -> 1"):
        run(built_dataset, "random", tmp_path / "run", tasks=["closed-S-diagnosis"], floors=False, seed=1)


def test_a_run_folder_is_tied_to_the_content_its_model_answers_from(built_dataset, tmp_path):
    """A predictions file rewritten at the same path is another model: its run folder's cached answers
    must not be served for it. Models that name no files keep no fingerprint (old folders still resume)."""
    def answer(letter_offset: int):
        return lambda item: {"output": item.letters[(item.answer_index + letter_offset) % len(item.choices)]} \
            if item.is_multiple_choice else None

    path = write_predictions(tmp_path / "answers.jsonl", built_dataset, answer(0))
    first = run(built_dataset, f"predictions:{path}", tmp_path / "run", tasks=["closed-S-diagnosis"], floors=False)
    assert run(built_dataset, f"predictions:{path}", tmp_path / "run", tasks=["closed-S-diagnosis"],
               floors=False)["model_fingerprint"] == first["model_fingerprint"]  # the same file resumes
    assert not answers_another_model(tmp_path / "run", f"predictions:{path}")
    write_predictions(path, built_dataset, answer(1))
    assert answers_another_model(tmp_path / "run", f"predictions:{path}")  # what the demo and the grid redo
    with pytest.raises(ConfigError, match="another run.*model_fingerprint"):
        run(built_dataset, f"predictions:{path}", tmp_path / "run", tasks=["closed-S-diagnosis"], floors=False)
    assert "model_fingerprint" not in run(built_dataset, "random", tmp_path / "random", tasks=["closed-S-diagnosis"],
                                          floors=False)
    assert not answers_another_model(tmp_path / "random", "random")


def test_same_seed_same_results_and_limit_is_a_seeded_sample(built_dataset, tmp_path):
    first = run(built_dataset, "random", tmp_path / "a", tasks=CHOICE_TASKS, limit=5)
    second = run(built_dataset, "random", tmp_path / "b", tasks=CHOICE_TASKS, limit=5)
    assert without_timing(first) == without_timing(second)
    assert all(block["n"] <= 5 for block in first["tasks"].values())
    other = run(built_dataset, "random", tmp_path / "c", tasks=CHOICE_TASKS, limit=5, seed=1)
    assert without_timing(other) != without_timing(first)
    assert set(first["floors"]) == {"majority", "blind"}  # the model itself is not repeated as a floor


def test_a_tiny_causal_lm_runs_end_to_end_as_text_only(built_dataset, tmp_path):
    from heartcare.model.backbone import tiny_causal_lm

    folder = tiny_causal_lm(tmp_path / "tiny")
    results = run(built_dataset, f"text-only:{folder}", tmp_path / "run", tasks=["closed-S-*", "prediction-S-2s"],
                  limit=2, floors=False)
    for name, block in results["tasks"].items():
        if name.startswith("closed"):
            assert block["n_scored"] == block["n"] == 2
            assert {"accuracy", "parse_rate", "loglik_accuracy"} <= set(block["metrics"])
            assert all(0 <= entry["value"] <= 1 for entry in block["metrics"].values())
        else:
            assert block["n_not_applicable"] == block["n"] and not block["metrics"]
    assert "text-only" in (tmp_path / "run" / "report.md").read_text()


def test_an_openai_endpoint_end_to_end(built_dataset, tmp_path):
    """A local endpoint without ECG input that always answers "A": images are scored, signals not applicable."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Endpoint(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            self.reply({"object": "list", "data": [{"id": "tiny-served", "input_modalities": ["text", "image"]}]})

        def do_POST(self):  # noqa: N802
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert request["model"] == "tiny-served"
            self.reply({"id": "x", "object": "chat.completion", "model": "tiny-served",
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "A"}}]})

        def reply(self, payload):
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        results = run(built_dataset, f"openai:{url}", tmp_path / "run", tasks=["closed-S-diagnosis", "closed-I-diagnosis"],
                      floors=False, model_options={"concurrency": 2, "backoff_s": 0.01})
    finally:
        server.shutdown()
    assert results["served_model"] == {"id": "tiny-served", "accepts_ecg": False, "accepts_image": True}
    signal, image = results["tasks"]["closed-S-diagnosis"], results["tasks"]["closed-I-diagnosis"]
    assert signal["n_not_applicable"] == signal["n"] > 0
    items = [item for item in BenchDataset(built_dataset).items("test") if item.task == "closed_qa"
             and item.modality == "I" and item.dimension == "diagnosis"]
    assert image["n_scored"] == len(items)
    assert image["metrics"]["accuracy"]["value"] == pytest.approx(np.mean([item.answer_index == 0 for item in items]))
