"""HeartcareGPT's option log-likelihoods (the bench's loglik_accuracy): each option scored as the model writes answers."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")


def tiny_model(parts, answer_format: str):
    from heartcare.model.build import build_model
    from heartcare.model.config import GptConfig

    torch.manual_seed(0)
    config = GptConfig(backbone=str(parts["backbone"]), beat=str(parts["beat"]), image_encoder="tiny", image_feature_dim=16,
                       signal_dim=32, answer_format=answer_format)
    return build_model(config, load_encoders=False).eval()


def one_by_one(model, item, cache) -> list[float]:
    """The same scores from full logits of each option alone (no padding, no logits_to_keep)."""
    from heartcare.model.examples import collate, encode_item

    scores = []
    for index, choice in enumerate(item.choices):
        option = dataclasses.replace(item, answer_index=index, answer=f"{item.letters[index]}: {choice}")
        batch = collate([encode_item(option, cache, model.config, model.tokenizer, with_answer=True)], model.tokenizer.pad_token_id)
        with torch.no_grad():
            logprobs = model.logits(batch)[0, :-1].float().log_softmax(-1)
        targets = batch["labels"][0, 1:]
        scored = targets != -100
        scores.append(float(logprobs[scored].gather(-1, targets[scored].unsqueeze(-1)).sum()))
    return scores


@pytest.mark.parametrize("answer_format", ["letter-first", "text-first"])
def test_option_scores_equal_each_options_own_log_likelihood(built_dataset, gpt_parts, answer_format):
    from heartcare.bench.dataset import BenchDataset
    from heartcare.bench.models.heartcare_gpt import option_logprobs
    from heartcare.model.feature_cache import FeatureCache

    cache = FeatureCache(gpt_parts["features"])
    model = tiny_model(gpt_parts, answer_format)
    train = BenchDataset(built_dataset).items("train")
    items = [item for item in train if item.task == "closed_qa"][:3] + [item for item in train if item.task == "comparison_qa"][:2]
    assert len(items) == 5 and len({len(item.question) for item in items}) > 1  # prompts of several lengths share batches
    scores = option_logprobs(model, items, cache)
    for item, item_scores in zip(items, scores, strict=True):
        assert len(item_scores) == len(item.choices) and len(set(item_scores)) > 1
        assert item_scores == pytest.approx(one_by_one(model, item, cache), abs=1e-3)
