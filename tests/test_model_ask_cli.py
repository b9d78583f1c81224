"""`heartcare gpt ask`: one ECG, or a pair with --compare, reaches the model in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")


def test_compare_sends_both_ecgs_in_order_and_answers(tiny_gpt_checkpoint: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import heartcare.model.ask as asking
    from heartcare.cli import main
    from heartcare.ecg.write import write_ecg
    from heartcare.sim.simulate import SimulationSpec, simulate

    files = []
    for name, seed in (("slow", 1), ("fast", 2)):
        ecg = simulate(SimulationSpec(conditions={"normal": 0.0}), fs=500.0, seconds=10.0, seed=seed).ecg
        files.append(write_ecg(ecg, tmp_path / name))
    seen, real_ask = [], asking.ask

    def recording_ask(model, questions, *args, **kwargs):
        seen.extend(questions)
        return real_ask(model, questions, *args, **kwargs)

    monkeypatch.setattr(asking, "ask", recording_ask)
    assert main(["gpt", "ask", "--model", str(tiny_gpt_checkpoint), str(files[0]), "Which ECG is faster?",
                 "--compare", str(files[1]), "--max-new-tokens", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert isinstance(document["answer"], str) and document["new_tokens"] <= 2
    (question,) = seen
    assert [Path(ecg.name).stem for ecg, _ in question.ecgs] == ["slow", "fast"]
    assert main(["gpt", "ask", "--model", str(tiny_gpt_checkpoint), str(files[0]), "Which rhythm?", "--max-new-tokens", "2"]) == 0
    assert len(seen[1].ecgs) == 1
