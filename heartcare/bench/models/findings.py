"""`findings:CHECKPOINT`: what a HeartcareGPT's finding tokens hold, answered without the language model.

A reference beside `heartcare-gpt:CHECKPOINT`: each closed single-ECG item of a kind the checkpoint
has a finding classifier for (signal items; image items too for a model with image finding tokens)
is answered with the option that classifier believes most (its probabilities over the kind's
answers, restricted to the item's options). Where HeartcareGPT
scores below this, its language model has not learned to copy what the tokens say; where this
is near chance, the classifier is the limit. Other items are not applicable.
"""

from __future__ import annotations

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.bench.models.floors import choice_text
from heartcare.bench.models.heartcare_gpt import HeartcareGptModel, checkpoint_features
from heartcare.errors import ConfigError

UNSEEN_OPTION = float(np.log(1e-9))  # an option that is no answer the classifier knows (finite: JSON has no -inf)


class FindingsModel:
    batch_size = 256
    fingerprint = staticmethod(HeartcareGptModel.fingerprint)  # answers from the same checkpoint files

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        if not argument:
            raise ConfigError("--model", "findings needs a HeartcareGPT checkpoint with finding tokens: findings:PATH")
        from heartcare.model.checkpoint import from_pretrained

        self.name = f"findings:{argument}"
        self.model = from_pretrained(argument)
        if self.model.finding_projector is None:
            raise ConfigError(argument, "this HeartcareGPT has no finding tokens (train it with --finding-tokens)")
        self.features = checkpoint_features(argument, self.model, context.dataset)
        self.kinds = {kind: (index, answers) for index, (kind, answers) in enumerate(self.model.config.findings)}

    def respond(self, items: list[BenchItem]) -> list[Output]:
        import torch

        from heartcare.model.findings import STREAMS, finding_kind, reads_finding, stream_input

        outputs = []
        for item in items:
            stream = next((name for name, (modality, projector) in STREAMS.items()
                           if reads_finding(item, modality) and getattr(self.model, projector) is not None), None)
            kind = finding_kind(item) if stream else None
            if kind not in self.kinds:
                outputs.append(Output(not_applicable="no finding classifier reads this item (closed single-ECG items of a fitted kind only)"))
                continue
            index, answers = self.kinds[kind]
            projector = getattr(self.model, STREAMS[stream][1])
            row = torch.from_numpy(stream_input(self.features, item.ecgs[0].record_id, stream, self.model.config))
            with torch.inference_mode():
                belief = projector.probabilities(row.to(projector.input_mean.dtype))[index][0]
            known = dict(zip(answers, belief.float().clamp_min(1e-9).log().tolist(), strict=True))
            scores = [known.get(choice, UNSEEN_OPTION) for choice in item.choices]
            outputs.append(Output(text=choice_text(item, int(np.argmax(scores))), option_logprobs=scores))
        return outputs
