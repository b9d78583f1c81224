"""The served app through FastAPI's TestClient: page, native routes, OpenAI routes, key, limits, metrics."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("pydicom")
torch = pytest.importorskip("torch")

from fastapi.testclient import TestClient  # noqa: E402

from heartcare.serve.app import create_app  # noqa: E402
from heartcare.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture(scope="module")
def dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()


@pytest.fixture(scope="module")
def model(tiny_gpt_checkpoint):
    from heartcare.model.gpt import HeartcareGPT

    return HeartcareGPT.from_pretrained(tiny_gpt_checkpoint)


@pytest.fixture
def client(model):
    with TestClient(create_app(ServeSettings(), model=model)) as client:
        yield client


def upload(client, data: bytes, name: str = "ecg.dcm", **form) -> dict:
    response = client.post("/api/uploads", files=[("files", (name, data, "application/octet-stream"))], data=form)
    assert response.status_code == 200, response.text
    return response.json()


def ask_body(parts: list[dict], **extra) -> dict:
    return {"messages": [{"role": "user", "content": [*parts, {"type": "text", "text": "What is the rhythm?"}]}],
            "max_tokens": 12, **extra}


def assert_openai_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "type" in error
    return error


def test_without_a_model_the_page_drawing_measurements_and_forecast_work_but_chat_says_why(tiny_gpt_checkpoint, dicom_bytes):
    settings = ServeSettings(beat=tiny_gpt_checkpoint.parent / "beat")
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.status_code == 200 and 'data-testid="file"' in page.text
        capabilities = client.get("/api/capabilities").json()
        assert capabilities["chat"] is False and capabilities["forecast"] is True and "chat" in capabilities["needs_model"]
        described = upload(client, dicom_bytes)
        rows = {row["key"]: row for row in described["summary"]["measurements"]}
        assert 55 < rows["hr_bpm"]["heartcare"] < 67  # the cart: RR 982 ms = 61 bpm
        drawing = client.get(f"/api/uploads/{described['id']}/drawing.png")
        assert drawing.headers["content-type"] == "image/png" and drawing.content.startswith(b"\x89PNG")
        svg = client.get(f"/api/uploads/{described['id']}/drawing.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content[:400]
        forecast = client.post(f"/api/uploads/{described['id']}/prediction").json()
        assert forecast["fs"] == 250 and len(forecast["signal"]) == 12 and len(forecast["signal"][0]) == 500
        assert client.get("/v1/models").json()["data"] == []
        assert_openai_error(client.post("/v1/chat/completions", json=ask_body([])), 503, "model_not_loaded")


def test_models_list_the_served_model_with_its_modalities(client):
    entry = client.get("/v1/models").json()["data"][0]
    assert entry["object"] == "model" and set(entry["input_modalities"]) == {"text", "ecg", "image"}


def test_streamed_chunks_add_up_to_the_plain_answer(client, dicom_bytes):
    file_id = upload(client, dicom_bytes)["id"]
    body = ask_body([{"type": "file", "file": {"file_id": file_id}}])
    plain = client.post("/v1/chat/completions", json=body).json()
    assert plain["object"] == "chat.completion" and plain["usage"]["completion_tokens"] > 0
    assert plain["usage"]["prompt_tokens"] > 100  # the ECG tokens reached the prompt
    content = plain["choices"][0]["message"]["content"]
    pieces, finish = [], None
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        chunk = json.loads(event)
        assert chunk["object"] == "chat.completion.chunk"
        pieces.append(chunk["choices"][0]["delta"].get("content") or "")
        finish = chunk["choices"][0]["finish_reason"] or finish
    assert "".join(pieces).strip() == content and finish == plain["choices"][0]["finish_reason"]


def test_an_inline_ecg_part_answers_as_the_uploaded_file_does(client, dicom_bytes):
    file_id = upload(client, dicom_bytes)["id"]
    by_file = client.post("/v1/chat/completions", json=ask_body([{"type": "file", "file": {"file_id": file_id}}])).json()
    inline = {"type": "input_ecg", "input_ecg": {"data": base64.b64encode(dicom_bytes).decode(), "format": "dicom"}}
    by_part = client.post("/v1/chat/completions", json=ask_body([inline])).json()
    assert by_part["choices"][0]["message"]["content"] == by_file["choices"][0]["message"]["content"]
    assert by_part["usage"] == by_file["usage"]


def test_two_ecgs_both_reach_the_model(client, dicom_bytes):
    file_id = upload(client, dicom_bytes)["id"]
    one = client.post("/v1/chat/completions", json=ask_body([{"type": "file", "file": {"file_id": file_id}}])).json()
    two = client.post("/v1/chat/completions", json=ask_body([{"type": "file", "file": {"file_id": file_id}}] * 2)).json()
    assert two["usage"]["prompt_tokens"] > one["usage"]["prompt_tokens"] + 50


def test_a_prediction_answer_carries_the_waveform(client, model, dicom_bytes, monkeypatch):
    from heartcare.model.chat import PREDICTION

    original = model.generate

    def answers_prediction(batch, budgets, **kwargs):
        original(batch, budgets, **kwargs)  # the real forward pass, then the answer a trained model gives
        return [[model.token_ids[PREDICTION]] for _ in range(batch["input_ids"].shape[0])]

    monkeypatch.setattr(model, "generate", answers_prediction)
    file_id = upload(client, dicom_bytes)["id"]
    message = client.post("/v1/chat/completions", json=ask_body([{"type": "file", "file": {"file_id": file_id}}])).json()
    field = message["choices"][0]["message"]["ecg_prediction"]
    assert field["fs"] == 250 and len(field["leads"]) == 12 and len(field["signal"][0]) == 500
    assert message["choices"][0]["message"]["content"] == "<prediction>"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"messages": []}, 400, "invalid_value"),
    (ask_body([], n=2), 400, "invalid_value"),
    (ask_body([], max_tokens=100000), 400, "invalid_value"),
    (ask_body([], model="gpt-4o"), 404, "model_not_found"),
    (ask_body([{"type": "file", "file": {"file_id": "file-unknown"}}]), 404, "file_not_found"),
    (ask_body([{"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest"}}]), 400, "url_not_allowed"),
    (ask_body([{"type": "input_ecg", "input_ecg": {"data": "!!notbase64", "format": "dicom"}}]), 400, "invalid_value"),
    (ask_body([{"type": "input_ecg", "input_ecg": {"data": base64.b64encode(b"garbage" * 40).decode(), "format": "dicom"}}]),
     400, "invalid_input"),
    (ask_body([{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]), 400, "invalid_value"),
])
def test_bad_chat_requests_get_openai_errors(client, body, status, code):
    assert_openai_error(client.post("/v1/chat/completions", json=body), status, code)


def test_bad_uploads_get_errors_naming_the_file(client, dicom_bytes):
    for name, data, code in (("junk.bin", b"\x00\x01garbage" * 50, "invalid_input"), ("cut.dcm", dicom_bytes[:2000], "invalid_input")):
        response = client.post("/api/uploads", files=[("files", (name, data))])
        assert name in assert_openai_error(response, 400, code)["message"]


def test_an_oversized_upload_is_413_before_it_is_read(model, dicom_bytes):
    settings = ServeSettings(max_upload_mb=0.05)  # 51 KiB; the DICOM is ~240 KiB
    with TestClient(create_app(settings, model=model)) as client:
        assert_openai_error(client.post("/api/uploads", files=[("files", ("big.dcm", dicom_bytes))]), 413, "upload_too_large")
        inline = {"type": "input_ecg", "input_ecg": {"data": base64.b64encode(dicom_bytes).decode(), "format": "dicom"}}
        assert_openai_error(client.post("/v1/chat/completions", json=ask_body([inline])), 413, "upload_too_large")


def test_the_api_key_is_required_everywhere_but_the_page_and_health(model, monkeypatch):
    monkeypatch.setenv("HEARTCARE_TEST_KEY", "s3cret-key")
    with TestClient(create_app(ServeSettings(api_key_env="HEARTCARE_TEST_KEY"), model=model)) as client:
        assert client.get("/").status_code == 200 and client.get("/healthz").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-key"}):
            assert_openai_error(client.get("/v1/models", headers=headers), 401, "invalid_api_key")
            assert client.get("/metrics", headers=headers).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret-key"}).status_code == 200


def test_a_full_queue_answers_429(client, monkeypatch):
    from heartcare.serve.engine import QueueFullError

    engine = client.app.state.server.engine

    def full(job):
        raise QueueFullError

    monkeypatch.setattr(engine, "submit", full)
    assert_openai_error(client.post("/v1/chat/completions", json=ask_body([])), 429, "queue_full")


def test_metrics_count_requests_latency_and_tokens(client):
    answer = client.post("/v1/chat/completions", json=ask_body([])).json()
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'heartcare_requests_total{route="/v1/chat/completions",method="POST",status="200"} 1' in text
    assert 'heartcare_request_seconds_bucket{route="/healthz",le="+Inf"} 1' in text
    assert f"heartcare_generated_tokens_total {answer['usage']['completion_tokens']}" in text
    assert "heartcare_queue_depth 0" in text


def test_cors_is_off_unless_configured(model):
    request = {"headers": {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}}
    with TestClient(create_app(ServeSettings(), model=model)) as client:
        assert "access-control-allow-origin" not in client.options("/v1/models", **request).headers
    with TestClient(create_app(ServeSettings(cors_origins=("https://elsewhere.example",)), model=model)) as client:
        assert client.options("/v1/models", **request).headers["access-control-allow-origin"] == "https://elsewhere.example"


def test_the_report_pdf_holds_the_report(client, dicom_bytes):
    import io

    from pypdf import PdfReader

    file_id = upload(client, dicom_bytes)["id"]
    response = client.post(f"/api/uploads/{file_id}/report.pdf", json={"text": "Sinus rhythm at 61 bpm. Normal ECG."})
    assert response.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Sinus rhythm at 61 bpm" in text and "Not a medical device" in text
    bad = client.post(f"/api/uploads/{file_id}/report.pdf", content=b"not json", headers={"Content-Type": "application/json"})
    assert_openai_error(bad, 400, "invalid_json")


def test_a_sheet_heartcare_drew_is_read_as_its_12_lead_crops_a_photo_as_one_view(client, dicom_bytes):
    from PIL import Image
    from pydicom.data import get_testdata_file

    from heartcare.ecg.read import read_ecg
    from heartcare.render.output import render

    drawn = render(read_ecg(get_testdata_file("waveform_ecg.dcm")), format="png")  # carries its render parameters
    photo = io.BytesIO()
    Image.open(io.BytesIO(drawn)).convert("RGB").save(photo, format="PNG")  # the same pixels, no parameters

    def prompt_tokens(png: bytes) -> int:
        part = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}
        return client.post("/v1/chat/completions", json=ask_body([part])).json()["usage"]["prompt_tokens"]

    image_tokens = client.app.state.server.model.config.image_tokens
    assert prompt_tokens(drawn) - prompt_tokens(photo.getvalue()) == (12 - 1) * image_tokens


def test_a_body_declared_above_the_limit_is_refused_before_a_byte_is_read():
    from heartcare.serve.body_limit import BodyLimit

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    guard = BodyLimit(app, max_bytes=1000)
    scope = {"type": "http", "path": "/api/uploads", "headers": [(b"content-length", str(10 * 2**20).encode())]}
    asyncio.run(guard(scope, receive, send))
    assert not reached and sent[0]["status"] == 413 and b"upload_too_large" in sent[1]["body"]


def test_a_chunked_body_growing_past_the_limit_is_413(model):
    with TestClient(create_app(ServeSettings(max_upload_mb=0.05), model=model)) as client:

        def chunks():
            for _ in range(64):
                yield b"x" * 8192

        response = client.post("/v1/chat/completions", content=chunks(), headers={"Content-Type": "application/json"})
        assert_openai_error(response, 413, "upload_too_large")


def test_follow_up_questions_about_an_upload_reuse_its_features_inline_ecgs_do_not(client, dicom_bytes):
    memo = client.app.state.server.engine.features
    file_id = upload(client, dicom_bytes)["id"]
    body = ask_body([{"type": "file", "file": {"file_id": file_id}}])
    first = client.post("/v1/chat/completions", json=body).json()
    hits = memo.hits
    second = client.post("/v1/chat/completions", json=body).json()
    assert memo.hits == hits + 1 and second["choices"][0]["message"] == first["choices"][0]["message"]
    inline = {"type": "input_ecg", "input_ecg": {"data": base64.b64encode(dicom_bytes).decode(), "format": "dicom"}}
    for _ in range(2):
        client.post("/v1/chat/completions", json=ask_body([inline]))
    assert memo.hits == hits + 1


def test_the_ecgs_of_a_request_reach_the_model_in_their_order(client, dicom_bytes, monkeypatch):
    first = upload(client, dicom_bytes, "first.dcm")["id"]
    second = upload(client, dicom_bytes, "second.dcm")["id"]
    engine = client.app.state.server.engine
    seen = []
    memo = engine.features

    def recording(model, ecg, picture):
        seen.append(ecg.meta["upload"])
        return memo(model, ecg, picture)

    monkeypatch.setattr(engine, "features", recording)
    parts = [{"type": "file", "file": {"file_id": second}}, {"type": "file", "file": {"file_id": first}}]
    client.post("/v1/chat/completions", json=ask_body(parts))
    assert seen == ["second.dcm", "first.dcm"]
