"""The `openai:URL` adapter against a local OpenAI-compatible server the test starts.

The fake server decodes every content part and answers from what it decoded: record k's
signal starts at 10k mV and its image is grey level 40k, so a right letter can only come
back when the right ECGs arrived, decodable, in order, and answers map back to items.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from heartcare.agent.png import encode_png
from heartcare.bench.http_client import EndpointError
from heartcare.bench.items import LETTERS, BenchItem, EcgRef
from heartcare.bench.models.base import ModelContext
from heartcare.bench.models.openai_chat import (
    NO_ECG,
    NO_IMAGE,
    OpenAIChatModel,
    prediction_waveform,
)
from heartcare.bench.prompt import SYSTEM_PROMPT, max_new_tokens
from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.errors import ConfigError

RECORD_FS = 500
CONTEXT_IMAGE_LEVEL = 200  # distinct from every record image, to tell the two apart


class FakeDataset:
    """Records r0..r3: signal [12, 2000] = 10k + lead/100 + t/10000 mV; image grey 40k (r3 as JPEG)."""

    def __init__(self, root: Path) -> None:
        from PIL import Image

        self.path = root
        (root / "images").mkdir(exist_ok=True)
        for k in range(4):
            pixels = np.full((8, 8), 40 * k, np.uint8)
            if k == 3:
                Image.fromarray(pixels).save(root / "images" / "r3.jpg", quality=95)
            else:
                (root / "images" / f"r{k}.png").write_bytes(encode_png(pixels))
        (root / "images" / "r1_context.png").write_bytes(encode_png(np.full((8, 8), CONTEXT_IMAGE_LEVEL, np.uint8)))

    def signal(self, record_id: str) -> tuple[np.ndarray, float]:
        k = int(record_id[1:])
        lead = np.arange(12, dtype=np.float32)[:, None] / 100
        time_axis = np.arange(2000, dtype=np.float32)[None, :] / 10000
        return (10 * k + lead + time_axis).astype(np.float32), float(RECORD_FS)

    def image_paths(self, record_id: str) -> list[Path]:
        suffix = ".jpg" if record_id == "r3" else ".png"
        return [self.path / "images" / f"{record_id}{suffix}"]

    def prediction_context(self, item: BenchItem) -> np.ndarray:
        start, stop = item.meta["context"]
        return self.signal(item.ecgs[0].record_id)[0][:, start:stop]


def closed(item_id: str, record: str, modality: str, tag: str = "") -> BenchItem:
    k = int(record[1:])
    choices = ("w", "x", "y", "z")
    return BenchItem(item_id, "closed_qa", "diagnosis", modality, f"[{item_id}] Which? {tag} Options: A: w; B: x; C: y; D: z.",
                     f"{LETTERS[k % 4]}: {choices[k % 4]}", choices, k % 4, (EcgRef(record, modality),))


def compare(item_id: str, first: EcgRef, second: EcgRef) -> BenchItem:
    answer = 0 if int(first.record_id[1:]) > int(second.record_id[1:]) else 1
    modality = f"C-{first.modality}{second.modality}"
    return BenchItem(item_id, "comparison_qa", "rhythm", modality, f"[{item_id}] Which is faster? Options: A: first; B: second.",
                     "A: first" if answer == 0 else "B: second", ("first", "second"), answer, (first, second))


def predict(item_id: str, record: str, modality: str, tag: str = "") -> BenchItem:
    meta = {"context": [100, 600], "target": [600, 850], "fs": 250}
    if modality == "I":
        meta["image"] = f"images/{record}_context.png"
    return BenchItem(item_id, "signal_prediction", "rhythm", modality, f"Predict the next 1 s [{item_id}]. {tag}", "<prediction>",
                     ecgs=(EcgRef(record, modality),), meta=meta)


def decode_part(part: dict) -> dict:
    """What the server saw in one content part: kind, record index k, and details to check."""
    if part["type"] == "input_ecg":
        ecg = part["input_ecg"]
        assert ecg["format"] == "npy"
        array = np.load(io.BytesIO(base64.b64decode(ecg["data"])), allow_pickle=False)
        return {"kind": "S", "k": round(float(array[0, 0]) / 10), "fs": ecg["fs"], "array": array}
    from PIL import Image

    assert part["type"] == "image_url"
    header, data = part["image_url"]["url"].split(",", 1)
    assert header.startswith("data:") and header.endswith(";base64")
    level = int(np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"))[0, 0])
    return {"kind": "I", "k": round(level / 40), "level": level, "mime": header[5:].removesuffix(";base64")}


class FakeEndpoint(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        state = self.server.state
        assert self.path == "/v1/models"
        state["model_listings"] += 1
        self.reply(200, {"object": "list", "data": state["models"]})

    def do_POST(self):  # noqa: N802
        state = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        system, user = body["messages"]
        text = user["content"][-1]["text"]
        seen = [decode_part(part) for part in user["content"][:-1]]
        with state["lock"]:
            state["requests"].append({"body": body, "text": text, "seen": seen, "auth": self.headers.get("Authorization")})
            attempts = state["attempts"][text] = state["attempts"].get(text, 0) + 1
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        if "[fail-once]" in text and attempts == 1 or "[always-500]" in text:
            return self.reply(500, {"error": "boom"})
        if "[bad]" in text:
            return self.reply(400, {"error": "context too long"})
        if "[slow]" in text:
            time.sleep(1.5)
        message: dict = {"role": "assistant"}
        if "Predict" in text:
            # Reversed lead order: the adapter must reorder by name.
            fs = 500 if "[fs500]" in text else 250
            samples = 250 * fs // 250
            rows = [np.full(samples, STANDARD_LEADS.index(lead) + 100 * seen[0]["k"]).tolist() for lead in reversed(STANDARD_LEADS)]
            message.update(content="<prediction>", ecg_prediction={"fs": fs, "leads": list(reversed(STANDARD_LEADS)), "signal": rows})
        elif len(seen) == 2:
            message["content"] = "Answer: A" if seen[0]["k"] > seen[1]["k"] else "Answer: B"
        else:
            message["content"] = f"Answer: {LETTERS[seen[0]['k'] % 4]}"
        self.reply(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeEndpoint)
    httpd.daemon_threads = True
    httpd.state = {"lock": threading.Lock(), "requests": [], "attempts": {}, "model_listings": 0,
                   "models": [{"id": "hc-test", "input_modalities": ["text", "image", "ecg"]}, {"id": "other"}]}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def request_for(server, item: BenchItem) -> dict:
    """The one request the server got for `item`."""
    (request,) = [request for request in server.state["requests"] if request["text"].startswith(item.question)]
    return request


def make_model(server, tmp_path: Path, **options) -> OpenAIChatModel:
    options = {"backoff_s": 0.01, **options}
    context = ModelContext(dataset=FakeDataset(tmp_path), options=options)
    return OpenAIChatModel(f"http://127.0.0.1:{server.server_address[1]}/v1", context)


def test_parts_arrive_decodable_in_order_and_answers_map_back_to_items(server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    items = [
        closed("c1", "r1", "S"), closed("c2", "r2", "I"), closed("c3", "r3", "I"), closed("c0", "r0", "S"),
        compare("si", EcgRef("r2", "S"), EcgRef("r1", "I")), compare("ss", EcgRef("r0", "S"), EcgRef("r3", "S")),
        compare("is", EcgRef("r3", "I"), EcgRef("r1", "S")),
    ]
    model = make_model(server, tmp_path, concurrency=3)
    assert model.batch_size >= 3
    outputs = model.respond(items)
    assert [output.text for output in outputs] == [f"Answer: {LETTERS[item.answer_index]}" for item in items]
    assert len(server.state["requests"]) == len(items) and server.state["model_listings"] == 1
    for item in items:
        request = request_for(server, item)
        assert [(seen["kind"], seen["k"]) for seen in request["seen"]] == [(ref.modality, int(ref.record_id[1:])) for ref in item.ecgs]
        assert request["body"]["model"] == "hc-test"  # the first listed model
        assert request["body"]["max_tokens"] == max_new_tokens(item) and request["body"]["temperature"] == 0
        assert request["auth"] is None
        for seen in request["seen"]:
            if seen["kind"] == "S":
                assert seen["fs"] == RECORD_FS and seen["array"].dtype == np.float32
                assert seen["array"].shape == (12, 2000)
            else:
                assert seen["mime"] == ("image/jpeg" if seen["k"] == 3 else "image/png")
    np.testing.assert_array_equal(request_for(server, items[0])["seen"][0]["array"], model.dataset.signal("r1")[0])


def test_prediction_sends_only_the_context_and_returns_the_waveform(server, tmp_path):
    items = [predict("ps", "r2", "S"), predict("pi", "r1", "I"), predict("p5", "r2", "S", "[fs500]")]
    outputs = make_model(server, tmp_path).respond(items)
    signal_seen = request_for(server, items[0])["seen"][0]
    assert signal_seen["fs"] == 250 and signal_seen["array"].shape == (12, 500)
    np.testing.assert_array_equal(signal_seen["array"], FakeDataset(tmp_path).signal("r2")[0][:, 100:600])
    image_seen = request_for(server, items[1])["seen"][0]
    assert image_seen["level"] == CONTEXT_IMAGE_LEVEL  # the context sheet, not the record's image
    for output, k in zip(outputs, (2, 5, 2), strict=True):
        assert output.waveform.dtype == np.float32 and output.waveform.shape == (12, 250)
        # Row i must hold lead i's values although the server sent the leads reversed.
        np.testing.assert_allclose(output.waveform[:, 100], np.arange(12) + 100 * k, atol=1e-3)


def test_items_the_endpoint_cannot_take_are_not_applicable_without_a_request(server, tmp_path):
    server.state["models"] = [{"id": "plain"}]  # no input_modalities: images yes, ECG signals no
    items = [closed("c1", "r1", "S"), closed("c2", "r2", "I"), compare("si", EcgRef("r2", "S"), EcgRef("r1", "I"))]
    outputs = make_model(server, tmp_path).respond(items)
    assert [output.not_applicable for output in outputs] == [NO_ECG, None, NO_ECG]
    assert outputs[1].text == "Answer: C" and len(server.state["requests"]) == 1

    server.state["models"] = [{"id": "text", "input_modalities": ["text"]}]
    outputs = make_model(server, tmp_path).respond(items)
    assert [output.not_applicable for output in outputs] == [NO_ECG, NO_IMAGE, NO_ECG]
    assert len(server.state["requests"]) == 1


def test_openai_model_option_picks_the_entry_and_its_modalities(server, tmp_path):
    server.state["models"] = [{"id": "first", "input_modalities": ["text"]},
                              {"id": "wanted", "input_modalities": ["text", "ecg", "image"]}]
    outputs = make_model(server, tmp_path, openai_model="wanted").respond([closed("c1", "r1", "S")])
    assert outputs[0].text == "Answer: B" and outputs[0].extra["model"] == "wanted"
    assert server.state["requests"][0]["body"]["model"] == "wanted"


def test_a_500_is_retried(server, tmp_path):
    outputs = make_model(server, tmp_path).respond([closed("c1", "r1", "S", "[fail-once]"), closed("c2", "r2", "S")])
    assert [output.text for output in outputs] == ["Answer: B", "Answer: C"]
    assert len(server.state["requests"]) == 3


def test_client_errors_are_not_retried(server, tmp_path):
    with pytest.raises(EndpointError, match="HTTP 400"):
        make_model(server, tmp_path).respond([closed("c1", "r1", "S", "[bad]")])
    assert len(server.state["requests"]) == 1


def test_a_timeout_raises_and_answers_that_arrived_are_not_requested_again(server, tmp_path):
    model = make_model(server, tmp_path, timeout_s=0.3, retries=1)
    good, slow = closed("c1", "r1", "S"), closed("c2", "r2", "S", "[slow]")
    started = time.monotonic()
    with pytest.raises(EndpointError, match="c2"):
        model.respond([good, slow])
    assert time.monotonic() - started < 1.4  # two 0.3 s attempts, not the server's 1.5 s
    assert server.state["attempts"][slow.question + " Answer with the letter of the correct option."] == 2
    count = len(server.state["requests"])
    assert model.respond([good])[0].text == "Answer: B"  # the runner's per-item retry
    assert len(server.state["requests"]) == count


def test_persistent_server_errors_raise_after_the_retries(server, tmp_path):
    with pytest.raises(EndpointError, match="HTTP 500"):
        make_model(server, tmp_path, retries=2).respond([closed("c1", "r1", "S", "[always-500]")])
    assert len(server.state["requests"]) == 3


def test_the_key_is_sent_as_a_bearer_token(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HC_TEST_KEY", "secret")
    make_model(server, tmp_path, api_key_env="HC_TEST_KEY").respond([closed("c1", "r1", "S")])
    assert server.state["requests"][0]["auth"] == "Bearer secret"


def test_prediction_field_checks():
    signal = np.ones((12, 10)).tolist()
    assert prediction_waveform({"signal": signal}, 250, "x").shape == (12, 10)
    with pytest.raises(EndpointError, match="lacks lead"):
        prediction_waveform({"signal": signal[:3], "leads": ["V1", "V2", "V3"]}, 250, "x")
    with pytest.raises(EndpointError, match="unusable"):
        prediction_waveform({"signal": [[1.0, float("nan")]] * 12}, 250, "x")
    with pytest.raises(EndpointError, match="unusable"):
        prediction_waveform({"signal": signal, "leads": ["I"] * 12}, 250, "x")


def test_the_adapter_needs_a_url(tmp_path):
    with pytest.raises(ConfigError, match="endpoint URL"):
        OpenAIChatModel(None, ModelContext(dataset=None))
    with pytest.raises(ConfigError, match="endpoint URL"):
        OpenAIChatModel("127.0.0.1:8000", ModelContext(dataset=None))
