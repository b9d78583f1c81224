"""`heartcare gpt readout`: linear readouts of a model's features and hidden states, scored like the bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("peft")

FINDINGS = ("normal ECG", "atrial fibrillation", "left bundle branch block", "first degree AV block")


def synthetic_items(count: int, seed: int):
    """Closed diagnosis items whose options come in a random order per item; the answer is FINDINGS[k]."""
    from heartcare.bench.items import BenchItem, EcgRef

    rng = np.random.default_rng(seed)
    items, answers = [], []
    for index in range(count):
        answer = int(rng.integers(len(FINDINGS)))
        order = rng.permutation(len(FINDINGS))
        choices = tuple(FINDINGS[k] for k in order)
        items.append(BenchItem(id=f"item-{seed}-{index}", task="closed_qa", dimension="diagnosis", modality="S",
                               question="Which finding?", answer="", choices=choices,
                               answer_index=choices.index(FINDINGS[answer]), ecgs=(EcgRef(f"r{index}", "S"),)))
        answers.append(answer)
    return items, np.array(answers)


def test_a_readout_of_vectors_that_carry_the_answer_scores_it_and_of_noise_scores_chance():
    from heartcare.model.readout import score_readout

    train, train_answers = synthetic_items(300, seed=0)
    valid, valid_answers = synthetic_items(200, seed=1)
    rng = np.random.default_rng(2)

    def carrying(answers):  # the answer one-hot plus noise, in 16 dimensions
        return np.eye(16)[answers] * 5 + rng.normal(size=(len(answers), 16))

    accuracy, scored = score_readout(carrying(train_answers), train, carrying(valid_answers), valid)
    assert scored == 200 and accuracy > 0.97  # options are matched by text: their order differs per item
    noise, _ = score_readout(rng.normal(size=(300, 16)), train, rng.normal(size=(200, 16)), valid)
    assert 0.1 < noise < 0.45  # four options: chance is 25%


def test_valid_items_of_a_kind_without_train_items_are_not_scored():
    from dataclasses import replace

    from heartcare.model.readout import score_readout

    train, answers = synthetic_items(50, seed=0)
    valid, valid_answers = synthetic_items(10, seed=1)
    valid = valid[:6] + [replace(item, dimension="rhythm") for item in valid[6:]]
    _, scored = score_readout(np.eye(8)[answers], train, np.eye(8)[valid_answers], valid)
    assert scored == 6


def test_layers_default_to_the_input_the_quarters_and_the_last():
    from heartcare.errors import ConfigError
    from heartcare.model.readout import readout_layers

    assert readout_layers(30, None) == [0, 7, 15, 22, 30]
    assert readout_layers(2, "all") == [0, 1, 2]
    assert readout_layers(30, "30,3") == [3, 30]
    with pytest.raises(ConfigError):
        readout_layers(30, "31")


@pytest.fixture(scope="module")
def trained(built_dataset, gpt_parts, tmp_path_factory) -> Path:
    from heartcare.train.gpt_run import train_gpt

    return train_gpt(built_dataset, gpt_parts["features"], "joint", "tiny", tmp_path_factory.mktemp("readout") / "model",
                     model_changes={"backbone": str(gpt_parts["backbone"]), "signal_dim": 32},
                     stage_changes={"max_steps": 2}, progress=False).out


@pytest.fixture(scope="module")
def model_and_items(built_dataset, gpt_parts, trained):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.checkpoint import from_pretrained
    from heartcare.model.feature_cache import FeatureCache

    model = from_pretrained(trained, load_encoders=False).eval()
    cache = FeatureCache(gpt_parts["features"])
    items = [item for item in BenchDataset(built_dataset).items("train") if item.task == "closed_qa"]
    chosen = [item for item in items if item.modality == "S"][:3] + [item for item in items if item.modality == "I"][:2]
    return model, cache, chosen


def test_summaries_of_a_batch_equal_those_of_each_item_alone(model_and_items):
    from heartcare.model.readout import summaries

    model, cache, items = model_and_items
    together = summaries(model, items, cache, [0, 1, 2], batch_size=len(items))  # prompts of unequal length: left-padded
    alone = [summaries(model, [item], cache, [0, 1, 2], batch_size=1) for item in items]
    for key, rows in together.items():
        for row, single in zip(rows, alone, strict=True):
            np.testing.assert_allclose(row, single[key][0], atol=2e-4, err_msg=str(key))


def test_the_answer_site_is_what_the_first_answer_token_is_predicted_from(model_and_items):
    from heartcare.model.examples import collate, encode_item
    from heartcare.model.readout import summaries

    model, cache, items = model_and_items
    last = model.language_model.config.num_hidden_layers
    rows = summaries(model, items, cache, [last])[("answer", last)]
    batch = collate([encode_item(item, cache, model.config, model.tokenizer, with_answer=False) for item in items],
                    model.tokenizer.pad_token_id, left=True)
    with torch.inference_mode():
        head = model.language_model.get_output_embeddings()
        np.testing.assert_allclose(head(torch.as_tensor(rows)).numpy(), model.logits(batch)[:, -1].numpy(), atol=1e-4)


def test_the_ecg_site_at_the_input_is_the_mean_of_the_projected_ecg_tokens(model_and_items):
    from heartcare.model.examples import item_features
    from heartcare.model.readout import summaries

    model, cache, items = model_and_items
    rows = summaries(model, items, cache, [0])[("ecg", 0)]
    for item, row in zip(items, rows, strict=True):
        tokens = []
        for features in item_features(item, cache, model.config):
            with torch.inference_mode():
                if features.signal is not None:
                    tokens.append(model.signal_projector(torch.as_tensor(np.asarray(features.signal)).float()))
                if features.image is not None:
                    tokens.append(model.image_projector(torch.as_tensor(np.asarray(features.image)).float()))
        expected = torch.cat(tokens).mean(0).numpy()
        np.testing.assert_allclose(row, expected, atol=1e-4, err_msg=item.id)


def test_the_spread_site_holds_each_streams_mean_then_its_spread_over_tokens(model_and_items):
    from heartcare.model.examples import item_features
    from heartcare.model.readout import summaries

    model, cache, items = model_and_items
    rows = summaries(model, items, cache, [0])
    widths = [model.config.signal_dim if model.config.uses_signal else 0,
              model.config.image_feature_dim if model.config.uses_image else 0]
    for index, item in enumerate(items):
        (features,) = item_features(item, cache, model.config)
        expected_mean, expected = [], []
        for stream, width in zip((features.signal, features.image), widths, strict=True):
            tokens = np.zeros((1, width)) if stream is None else np.asarray(stream, dtype=np.float32).reshape(-1, width)
            expected_mean.append(tokens.mean(0) if stream is not None else np.zeros(width))
            expected += [expected_mean[-1], tokens.std(0) if stream is not None else np.zeros(width)]
        spread_row = rows[("features_spread", None)][index]
        np.testing.assert_allclose(spread_row[:len(np.concatenate(expected))], np.concatenate(expected), atol=1e-5)
        np.testing.assert_allclose(rows[("features", None)][index][:sum(widths)], np.concatenate(expected_mean), atol=1e-5)
        assert not np.any(spread_row[len(np.concatenate(expected)):])  # one ECG: the second slot stays zero
        if features.signal is not None and len(np.asarray(features.signal).reshape(-1, widths[0])) > 1:
            assert np.any(spread_row[widths[0]:2 * widths[0]] > 0)  # tokens differ over time


def test_the_command_prints_a_table_and_writes_every_readout(built_dataset, gpt_parts, trained, tmp_path, capsys):
    from heartcare.cli import main

    out = tmp_path / "readout.json"
    code = main(["gpt", "readout", "--model", str(trained), "--data", str(built_dataset), "--features",
                 str(gpt_parts["features"]), "--tasks", "closed-*", "--layers", "all", "--split", "test", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| features |" in printed and "| features_spread |" in printed and "| ecg |" in printed and "| answer |" in printed and "layer 2" in printed
    report = json.loads(out.read_text())
    sites = sorted((readout["site"], readout["layer"] if readout["layer"] is not None else -1) for readout in report["readouts"])
    assert sites == sorted([("features", -1), ("features_spread", -1)]
                           + [(site, layer) for site in ("ecg", "answer") for layer in (0, 1, 2)])
    assert report["valid_items"] > 0 and report["layers"] == 2 and report["split"] == "test"
    assert {readout["scored"] for readout in report["readouts"]} == {report["valid_items"] - report["unscored"]}
    assert all(0.0 <= readout["accuracy"] <= 1.0 for readout in report["readouts"])
