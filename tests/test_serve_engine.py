"""The generation engine: requests decoded together answer as they would alone; full queues refuse; hang-ups free slots."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartcare.model.ask import Question, ask  # noqa: E402
from heartcare.serve.engine import GenerationEngine, Job, QueueFullError  # noqa: E402
from heartcare.serve.metrics import Metrics  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_gpt_checkpoint):
    from heartcare.model.gpt import HeartcareGPT

    return HeartcareGPT.from_pretrained(tiny_gpt_checkpoint)


def picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=(64, 96, 3), dtype=np.uint8)


def questions() -> list[Question]:
    texts = ["What is the rhythm?", "Is there a block?", "Axis?", "Describe the ST segment in detail please."]
    return [Question(text, [(None, picture(number))], max_new_tokens=6 + 3 * number) for number, text in enumerate(texts)]


async def run_jobs(engine: GenerationEngine, jobs_questions: list[Question]) -> list[tuple[str, list[str], object]]:
    loop = asyncio.get_running_loop()
    jobs = [Job(question, loop) for question in jobs_questions]
    for job in jobs:
        engine.submit(job)
    results = []
    for job in jobs:
        deltas = []
        while True:
            kind, value = await job.events.get()
            if kind == "delta":
                deltas.append(value)
            else:
                results.append((kind, deltas, value))
                break
    return results


def test_batched_answers_equal_one_at_a_time_and_share_generation_calls(model, monkeypatch):
    alone = [ask(model, [question])[0] for question in questions()]
    calls = []
    original = model.generate

    def counting(batch, budgets, **kwargs):
        calls.append(batch["input_ids"].shape[0])
        return original(batch, budgets, **kwargs)

    monkeypatch.setattr(model, "generate", counting)
    engine = GenerationEngine(model, Metrics(), max_queue=8, max_batch=4, batch_wait_s=0.5)
    results = asyncio.run(_submit_then_start(engine, questions()))
    engine.stop()
    assert calls == [4]  # one batch of four, not four calls
    for (kind, deltas, answer), expected in zip(results, alone, strict=True):
        assert kind == "answer" and answer.text == expected.text and answer.new_tokens == expected.new_tokens
        assert "".join(deltas).strip() == expected.text  # the stream adds up to the answer


async def _submit_then_start(engine, jobs_questions):
    task = asyncio.create_task(run_jobs(engine, jobs_questions))
    await asyncio.sleep(0.05)  # all four wait in the queue before the worker looks
    engine.start()
    return await task


def test_a_full_queue_refuses_at_once():
    engine = GenerationEngine(model=None, metrics=Metrics(), max_queue=2)  # never started: nothing drains it

    async def fill():
        loop = asyncio.get_running_loop()
        engine.submit(Job(questions()[0], loop))
        engine.submit(Job(questions()[0], loop))
        with pytest.raises(QueueFullError):
            engine.submit(Job(questions()[0], loop))

    asyncio.run(fill())
    assert engine.metrics.rejected == 1 and engine.depth == 2


def test_a_cancelled_request_stops_mid_batch_and_the_others_finish(model):
    engine = GenerationEngine(model, Metrics(), max_batch=2, batch_wait_s=0.5)
    long_questions = [Question("Describe everything.", [(None, picture(1))], max_new_tokens=40),
                      Question("And this one?", [(None, picture(2))], max_new_tokens=40)]

    async def scenario():
        loop = asyncio.get_running_loop()
        jobs = [Job(question, loop) for question in long_questions]
        for job in jobs:
            engine.submit(job)
        engine.start()
        kind, _ = await jobs[0].events.get()  # the first token of the first request: it is running
        jobs[0].cancelled.set()
        while (event := await jobs[1].events.get())[0] == "delta":
            pass
        return jobs, event

    jobs, (kind, answer) = asyncio.run(scenario())
    engine.stop()
    assert kind == "answer"
    assert len(jobs[0].tokens) < 40  # stopped, not decoded to its budget
    expected = ask(model, [long_questions[1]])[0]
    assert answer.text == expected.text


def test_a_request_cancelled_while_waiting_is_never_decoded(model, monkeypatch):
    prepared = []
    import heartcare.serve.engine as engine_module

    original = engine_module.prepare

    def tracking(model_, question, number=1, **options):
        prepared.append(question.text)
        return original(model_, question, number, **options)

    monkeypatch.setattr(engine_module, "prepare", tracking)
    engine = GenerationEngine(model, Metrics(), max_batch=4, batch_wait_s=0.2)

    async def scenario():
        loop = asyncio.get_running_loop()
        gone, kept = Job(Question("gone", [(None, picture(3))], 4), loop), Job(Question("kept", [(None, picture(4))], 4), loop)
        engine.submit(gone)
        engine.submit(kept)
        gone.cancelled.set()  # the client hung up before its turn
        engine.start()
        while (await kept.events.get())[0] == "delta":
            pass

    asyncio.run(scenario())
    engine.stop()
    assert prepared == ["kept"]


def test_one_bad_request_fails_alone(model):
    engine = GenerationEngine(model, Metrics(), max_batch=2, batch_wait_s=0.3)
    too_long = Question("x " * 5000, [(None, picture(5))], 4)  # longer than the context: refused, never cut
    fine = Question("Rhythm?", [(None, picture(6))], 4)
    results = asyncio.run(_submit_then_start(engine, [too_long, fine]))
    engine.stop()
    assert results[0][0] == "error" and "exceed max_length" in str(results[0][2])
    assert results[1][0] == "answer"


def test_each_row_of_a_batch_stops_at_its_own_budget(model):
    from heartcare.model.ask import answer_encoded, prepare

    encoded = [prepare(model, question) for question in questions()]
    short = answer_encoded(model, encoded, [2, 3, 4, 5])
    long = answer_encoded(model, encoded, [40, 40, 40, 40])
    for tokens, full, budget in zip(short, long, [2, 3, 4, 5], strict=True):
        assert len(tokens) <= budget and tokens == full[:budget]  # greedy: a prefix of the longer answer
    assert any(len(full) > 5 for full in long)  # the budgets really cut something
