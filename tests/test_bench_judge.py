"""The LLM judge and the `judge` metric against a fake judge server the test starts."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from heartcare.bench.items import BenchItem
from heartcare.bench.judge import JudgeConfig, judge_reports, load_rubric, parse_verdict
from heartcare.bench.metrics import ScoringContext, score
from heartcare.bench.models.base import Output
from heartcare.errors import ConfigError

# The paper's rubric, in its order ("Judge rubric for reports"): the YAML must match it.
PAPER_WEIGHTS = [10, 10, 8, 7, 7, 8, 7, 4, 4, 4, 3, 5, 4, 3, 3, 5, 5]


def verdict(offset: int) -> dict[str, int]:
    """Distinct per-item scores, so a weighting slip changes the total."""
    return {key: (offset + 13 * index) % 101 for index, key in enumerate(load_rubric().keys)}


class FakeJudge(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][1]["content"]
        candidate = prompt.split("Candidate report:\n<<<\n", 1)[1].split("\n>>>", 1)[0]
        with state["lock"]:
            state["requests"].append(body)
            attempts = state["attempts"][candidate] = state["attempts"].get(candidate, 0) + 1
        offset = int(re.search(r"#(\d+)", candidate).group(1)) if "#" in candidate else 0
        scores = verdict(offset)
        if "[500-once]" in candidate and attempts == 1:
            return self.reply(500, {"error": "overloaded"})
        if "[no-json-mode]" in candidate and "response_format" in body:
            return self.reply(400, {"error": {"message": "Unsupported parameter: response_format"}})
        if "[malformed]" in candidate or "[malformed-once]" in candidate and attempts == 1:
            content = "The report is quite good, I would say 80."
        elif "[fenced]" in candidate:
            content = "Here you go:\n```json\n" + json.dumps(scores, indent=1) + "\n```\nKeys as in {the rubric}."
        elif "[missing]" in candidate:
            content = json.dumps({key: value for key, value in list(scores.items())[1:]})
        elif "[range]" in candidate:
            content = json.dumps({**scores, "privacy": 120})
        else:
            content = json.dumps(scores)
        self.reply(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudge)
    httpd.daemon_threads = True
    httpd.state = {"lock": threading.Lock(), "requests": [], "attempts": {}}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def config(server, tmp_path, **changes) -> JudgeConfig:
    settings = {"url": f"http://127.0.0.1:{server.server_address[1]}/v1", "model": "judge-test",
                "cache_dir": tmp_path / "cache", "backoff_s": 0.01, "concurrency": 3, **changes}
    return JudgeConfig(**settings)


def judge_one(server, tmp_path, candidate: str, **changes):
    return judge_reports(config(server, tmp_path, **changes), ["Write the report."], ["Sinus rhythm."], [candidate])[0]


def test_the_rubric_is_the_papers():
    rubric = load_rubric()
    assert len(rubric.items) == 17 and len(set(rubric.keys)) == 17
    assert [item.weight for item in rubric.items] == PAPER_WEIGHTS
    assert all(len(item.description) > 20 for item in rubric.items)


def test_the_score_is_the_weighted_mean_and_results_keep_their_order(server, tmp_path):
    candidates = [f"Candidate #{offset}" for offset in (3, 50, 0, 77)]
    results = judge_reports(config(server, tmp_path), ["Q"] * 4, ["Reference report."] * 4, candidates)
    for result, offset in zip(results, (3, 50, 0, 77), strict=True):
        values = list(verdict(offset).values())
        expected = sum(weight * value for weight, value in zip(PAPER_WEIGHTS, values, strict=True)) / 97
        assert result.error is None and result.score == pytest.approx(expected)
        assert result.items == {key: float(value) for key, value in verdict(offset).items()}
    assert results[0].score != results[1].score
    body = server.state["requests"][0]
    prompt = body["messages"][1]["content"]
    assert "Reference report." in prompt and all(key in prompt for key in load_rubric().keys)
    assert body["model"] == "judge-test" and body["temperature"] == 0 and body["response_format"] == {"type": "json_object"}


def test_fenced_json_is_read(server, tmp_path):
    result = judge_one(server, tmp_path, "Candidate #5 [fenced]")
    assert result.error is None and result.items == {key: float(value) for key, value in verdict(5).items()}


def test_malformed_replies_are_asked_again_then_recorded(server, tmp_path):
    result = judge_one(server, tmp_path, "Candidate [malformed]", format_retries=2)
    assert result.score is None and "invalid verdict after 3 attempt(s)" in result.error
    assert len(server.state["requests"]) == 3
    assert not list((tmp_path / "cache").rglob("*.json"))  # failures are never cached

    result = judge_one(server, tmp_path, "Candidate #9 [malformed-once]")
    assert result.score is not None and result.items["privacy"] == verdict(9)["privacy"]
    retry = server.state["requests"][-1]["messages"]
    assert [message["role"] for message in retry] == ["system", "user", "assistant", "user"]
    assert "not a JSON object" in retry[-1]["content"]


@pytest.mark.parametrize(("tag", "problem"), [("[missing]", "missing rubric keys: abnormal_features"), ("[range]", "privacy must be")])
def test_incomplete_or_out_of_range_verdicts_fail(server, tmp_path, tag, problem):
    result = judge_one(server, tmp_path, f"Candidate {tag}", format_retries=1)
    assert result.score is None and problem in result.error and len(server.state["requests"]) == 2


def test_a_cached_verdict_makes_no_request(server, tmp_path):
    first = judge_one(server, tmp_path, "Candidate #21")
    assert len(server.state["requests"]) == 1 and not first.cached
    again = judge_one(server, tmp_path, "Candidate #21", concurrency=1)  # a new session, same cache
    assert again.cached and again.score == first.score and len(server.state["requests"]) == 1
    other_model = judge_one(server, tmp_path, "Candidate #21", model="another-judge")
    assert not other_model.cached and len(server.state["requests"]) == 2
    (entry,) = [path for path in (tmp_path / "cache").rglob("*.json") if "judge-test" in path.read_text()]
    assert json.loads(entry.read_text())["model"] == "judge-test"


def test_server_errors_are_retried_and_rejected_parameters_dropped(server, tmp_path):
    assert judge_one(server, tmp_path, "Candidate #2 [500-once]").score is not None
    assert len(server.state["requests"]) == 2
    result = judge_one(server, tmp_path, "Candidate #2 [no-json-mode]")
    assert result.score is not None and "response_format" not in server.state["requests"][-1]


def test_an_unreachable_judge_is_an_error_not_a_crash(tmp_path):
    bad = JudgeConfig(url="http://127.0.0.1:9/v1", model="m", retries=1, backoff_s=0.01, timeout_s=1)
    result = judge_reports(bad, ["q"], ["r"], ["c"])[0]
    assert result.score is None and "failed after 2 attempt(s)" in result.error


def test_parse_verdict_edges():
    rubric = load_rubric()
    scores = verdict(1)
    assert parse_verdict("Scores: " + json.dumps(scores) + " - done.", rubric)["pacing"] == scores["pacing"]
    with pytest.raises(ValueError, match="must be a number"):
        parse_verdict(json.dumps({**scores, "pacing": True}), rubric)
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_verdict("[1, 2]", rubric)


def test_bad_configs_and_inputs_are_refused(server, tmp_path):
    with pytest.raises(ConfigError):
        JudgeConfig(url="http://x/v1", model="")
    with pytest.raises(ConfigError):
        JudgeConfig(url="http://x/v1", model="m", concurrency=0)
    with pytest.raises(ConfigError, match="2 candidates"):
        judge_reports(config(server, tmp_path), ["q"], ["r"], ["a", "b"])


def report(item_id: str) -> BenchItem:
    return BenchItem(item_id, "report", "diagnosis", "S", f"Write the report {item_id}.", "Sinus rhythm, rate 70 bpm.")


def test_the_metric_is_off_unless_a_judge_is_given(server, tmp_path):
    items = [report("a"), report("b")]
    outputs = [Output(text="Candidate #1"), Output(text="Candidate #2")]
    assert np.isnan(score("judge", items, outputs, ScoringContext(options={"judge": None}))).all()
    assert np.isnan(score("judge", items, outputs, ScoringContext())).all()
    assert server.state["requests"] == []


def test_the_metric_scores_answers_and_counts_judge_failures(server, tmp_path):
    items = [report(name) for name in "abcd"]
    outputs = [Output(text="Candidate #1"), Output(not_applicable="endpoint does not accept ECG signals"),
               Output(text="Candidate [malformed]"), Output(text=None)]
    context = ScoringContext(options={"judge": config(server, tmp_path, format_retries=0)})
    values = score("judge", items, outputs, context)
    expected = judge_one(server, tmp_path, "Candidate #1").score
    assert values[0] == pytest.approx(expected) and np.isnan(values[1:]).all()
    assert context.options["judge_failures"] == 1
    assert [error["id"] for error in context.options["judge_errors"]] == ["c"]
    sent = [request["messages"][1]["content"] for request in server.state["requests"]]
    assert "Sinus rhythm, rate 70 bpm." in sent[0] and not any("None" in text.split("Candidate report:")[1] for text in sent)
