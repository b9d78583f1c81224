"""`findings:CHECKPOINT`: what a HeartcareGPT's finding tokens hold, answered without the language model.

A reference beside `heartcare-gpt:CHECKPOINT`: each closed single-ECG item of a kind the checkpoint
has a finding classifier for (signal items; image items too for a model with image finding tokens)
is answered with the option that classifier believes most (its probabilities over the kind's
answers, restricted to the item's options); a model with comparison tokens also answers the
same-rhythm and which-is-faster pairs from those tokens' beliefs, and one with named findings the
"which ECG shows X?" pairs. Where HeartcareGPT
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
            if self._compares(item):
                outputs.append(self._compare(item))
                continue
            stream = next((name for name, (modality, projector) in STREAMS.items()
                           if reads_finding(item, modality) and getattr(self.model, projector) is not None), None)
            kind = finding_kind(item) if stream else None
            if kind not in self.kinds:
                outputs.append(Output(not_applicable="no finding classifier reads this item (closed single-ECG items of a fitted kind, "
                                                     "and the pairs a model with comparison tokens compares)"))
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

    def _compares(self, item: BenchItem) -> bool:
        from heartcare.model.comparison_tokens import ANSWERS

        comparison = self.model.finding_projector.comparison
        return (comparison is not None and item.task == "comparison_qa" and len(item.ecgs) == 2
                and item.meta.get("kind") in dict(ANSWERS[:comparison.kinds])
                and all(ref.modality == "S" or self.model.image_finding_projector is not None for ref in item.ecgs))

    def _compare(self, item: BenchItem) -> Output:
        """A same-rhythm, which-is-faster or which-shows pair answered from the comparison tokens' beliefs
        (a which-shows question naming no finding the model knows gets no answer)."""
        import torch

        from heartcare.bench.prompt import user_text
        from heartcare.model.comparison_tokens import ANSWERS, named_finding, pair_reading
        from heartcare.model.findings import stream_input

        rows = []
        for ref in item.ecgs:
            stream, projector = ("signal", self.model.finding_projector) if ref.modality == "S" else ("image", self.model.image_finding_projector)
            rows.append((projector, torch.from_numpy(stream_input(self.features, ref.record_id, stream, self.model.config))))
        kind = item.meta["kind"]
        beliefs, _, shown = pair_reading(self.model, rows, named_finding(user_text(item), self.model.config))
        if kind == "which_shows":
            if shown is None:
                return Output(not_applicable="the question names no finding this model's which-shows token knows")
            probabilities = shown
        else:
            belief = beliefs[[name for name, _ in ANSWERS].index(kind)]
            probabilities = [belief, 1.0 - belief]
        known = {word: float(np.log(max(value, 1e-9))) for word, value in zip(dict(ANSWERS)[kind], probabilities, strict=True)}
        scores = [known.get(choice, UNSEEN_OPTION) for choice in item.choices]
        return Output(text=choice_text(item, int(np.argmax(scores))), option_logprobs=scores)

