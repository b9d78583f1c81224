"""LLM rewriting against a local OpenAI-compatible server the test starts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from heartcare.agent.rewrite import LlmRewriter, endpoint, keeps_labels


class FakeChat(BaseHTTPRequestHandler):
    calls: list[dict] = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.calls.append({"body": body, "auth": self.headers.get("Authorization")})
        if FakeChat.fail_first > 0:
            FakeChat.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        prompt = body["messages"][0]["content"]
        text = prompt.split("\n\n", 1)[1]
        # Drops the label when the prompt mentions "drop": the rewrite must be rejected.
        reply = "Rhythm: normal." if "drop" in text else "In other words: " + text
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    FakeChat.calls = []
    FakeChat.fail_first = 0
    httpd = HTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_rewrite_retries_caches_and_checks_labels(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "secret")
    FakeChat.fail_first = 2  # two 503s, then success: backoff must carry us through
    client = LlmRewriter(server, "tiny", "TEST_LLM_KEY", tmp_path, requests_per_second=100, backoff_s=0.01)
    text = "The rhythm is consistent with atrial fibrillation, rate 120 bpm."
    rewritten = client.rewrite(text, "answer", ["atrial fibrillation"])
    assert rewritten.startswith("In other words:") and "atrial fibrillation" in rewritten
    assert len(FakeChat.calls) == 3 and FakeChat.calls[-1]["auth"] == "Bearer secret"
    assert FakeChat.calls[-1]["body"]["model"] == "tiny"

    again = LlmRewriter(server, "tiny", "TEST_LLM_KEY", tmp_path, requests_per_second=100, backoff_s=0.01)
    assert again.rewrite(text, "answer", ["atrial fibrillation"]) == rewritten
    assert len(FakeChat.calls) == 3 and again.stats["cached"] == 1  # served from the disk cache

    dropped = "drop: consistent with atrial fibrillation"
    assert client.rewrite(dropped, "answer", ["atrial fibrillation"]) == dropped  # rejected -> template
    assert client.stats["rejected"] == 1


def test_unreachable_endpoint_falls_back_to_the_template(tmp_path):
    client = LlmRewriter("http://127.0.0.1:9", "m", "NO_KEY", tmp_path, retries=1, backoff_s=0.01, timeout_s=1)
    assert client.rewrite("possible sinus arrhythmia", "answer", ["sinus arrhythmia"]) == "possible sinus arrhythmia"
    assert client.stats["failed"] == 1


def test_label_check_and_endpoint_forms():
    assert keeps_labels("QRS 96 ms, possible LVH", "possible LVH with a 96 ms QRS", ["LVH"])
    assert not keeps_labels("QRS 96 ms", "QRS 98 ms", [])
    assert endpoint("http://h:1") == "http://h:1/v1/chat/completions"
    assert endpoint("http://h:1/v1/") == "http://h:1/v1/chat/completions"


def test_rewrite_table_rewrites_open_answers_only(server, tmp_path):
    import numpy as np

    from heartcare.agent.config import BuildConfig
    from heartcare.agent.description import RecordDescription
    from heartcare.agent.questions.closed import closed_items
    from heartcare.agent.questions.open import open_items
    from heartcare.agent.rewrite import rewrite_table
    from heartcare.agent.writer import items_table

    # QWAVE gives the waveform dimension an answer, so every dimension has an open item (4 rewrites)
    description = RecordDescription("r1", "p1", {"AFIB": 0.0, "IMI": 80.0, "QWAVE": 0.0}, 70, "F", {"hr_bpm": 110.0})
    rng = np.random.default_rng(0)
    items = closed_items(description, rng, ("S",)) + open_items(description, rng, ("S",))
    config = BuildConfig(sources=("ptbxl:x",), out=str(tmp_path / "ds"), llm_url=server, llm_model="tiny",
                         llm_requests_per_second=1000)
    table, stats = rewrite_table(items_table(items), config, tmp_path / "cache")
    rows = table.to_pylist()
    assert all(r["answer"].startswith("In other words:") for r in rows if r["task"] == "open_qa")
    assert not any(r["answer"].startswith("In other words:") for r in rows if r["task"] == "closed_qa")
    assert stats["accepted"] == 4 and stats["rejected"] == 0
