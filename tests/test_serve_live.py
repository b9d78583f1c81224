"""A real uvicorn on 127.0.0.1: the official `openai` client unchanged, and the bench's `openai:URL` adapter end to end."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("pydicom")
openai = pytest.importorskip("openai")

KEY_ENV = "HEARTCARE_LIVE_TEST_KEY"


@pytest.fixture(scope="module")
def live_server(tiny_gpt_checkpoint, start_uvicorn):
    """(base URL, key): the app with a bearer key under a real uvicorn."""
    import os

    from heartcare.serve.app import create_app
    from heartcare.serve.settings import ServeSettings

    os.environ[KEY_ENV] = "live-test-key"
    yield start_uvicorn(create_app(ServeSettings(model=tiny_gpt_checkpoint, api_key_env=KEY_ENV))), "live-test-key"
    os.environ.pop(KEY_ENV, None)


@pytest.fixture(scope="module")
def dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()


def test_the_official_openai_client_works_unchanged(live_server, dicom_bytes, tmp_path):
    url, key = live_server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    model = client.models.list().data[0].id
    upload_path = tmp_path / "ecg.dcm"
    upload_path.write_bytes(dicom_bytes)
    with upload_path.open("rb") as handle:
        file = client.files.create(file=handle, purpose="user_data")
    assert file.id.startswith("file-") and file.bytes == len(dicom_bytes)
    content = [{"type": "file", "file": {"file_id": file.id}}, {"type": "text", "text": "What is the rhythm?"}]
    plain = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], max_tokens=10)
    assert plain.choices[0].message.role == "assistant" and plain.usage.completion_tokens > 0
    streamed = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], max_tokens=10,
                                              stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert text.strip() == plain.choices[0].message.content
    inline = {"type": "input_ecg", "input_ecg": {"data": base64.b64encode(dicom_bytes).decode(), "format": "dicom"}}
    by_part = client.chat.completions.create(model=model, messages=[{"role": "user", "content": [inline, content[1]]}],
                                             max_tokens=10)
    assert by_part.choices[0].message.content == plain.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_the_bench_openai_adapter_evaluates_the_served_model(live_server, built_dataset, tmp_path, monkeypatch):
    from heartcare.bench.runner import BenchConfig, run_bench

    url, key = live_server
    monkeypatch.setenv("SERVE_TEST_KEY", key)
    run_bench(BenchConfig(data=built_dataset, model=f"openai:{url}/v1", out=tmp_path / "run", limit=3,
                          tasks=["closed-*", "comparison-*", "prediction-S*"], floors=False, progress=False,
                          model_options={"api_key_env": "SERVE_TEST_KEY", "concurrency": 4}))
    tasks = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]
    assert {"closed-S-diagnosis", "closed-I-diagnosis", "comparison-SI-irrelevant"} <= set(tasks)
    for name, block in tasks.items():  # signal, image and mixed items all reach the served model and come back
        assert block["n_failed"] == 0 and block["n_not_applicable"] == 0 and block["n_scored"] == block["n"] > 0, name


def test_a_client_that_hangs_up_mid_stream_frees_its_slot(live_server, dicom_bytes):
    import httpx

    url, key = live_server
    headers = {"Authorization": f"Bearer {key}"}
    body = {"max_tokens": 200, "stream": True, "messages": [{"role": "user", "content": "Describe a normal ECG at length."}]}

    def generated_tokens() -> int:
        metrics = httpx.get(f"{url}/metrics", headers=headers).text
        return int(next(line for line in metrics.splitlines() if line.startswith("heartcare_generated_tokens_total")).split()[1])

    before = generated_tokens()
    with httpx.Client(timeout=60) as client:
        full = client.post(f"{url}/v1/chat/completions", json={**body, "stream": False}, headers=headers).json()
    assert full["usage"]["completion_tokens"] == 200  # this prompt runs to its budget when nobody hangs up
    after_full = generated_tokens()
    assert after_full - before == 200
    with httpx.Client(timeout=60) as client, client.stream("POST", f"{url}/v1/chat/completions", json=body,
                                                            headers=headers) as response:
        next(response.iter_lines())  # the first chunk arrived: the request is decoding; now hang up
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/healthz").json()["queue_depth"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert generated_tokens() - after_full < 150  # stopped early: its slot is free for others
