"""Dataset items as model inputs: cached features per ECG, tokenised prompts, padded batches.

Which stream an ECG reaches (`item_features`): a signal ECG ("S") gives its Beat
latents and, when the model has an image stream and `signal_items_see_image`, its
paper image too (as `heartcare gpt ask` draws an ECG file); a model without a signal
stream reads a signal ECG through its drawing alone (as `ask` does), so the Figure 5a
rows answer the same items. An image ECG ("I") gives only the picture; a model without
an image stream cannot take it: the caller counts such items as not applicable, never
silently answers without the ECG.
"""

from __future__ import annotations

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.prompt import SYSTEM_PROMPT, user_text
from heartcare.errors import HeartcareError
from heartcare.model.chat import IGNORE, EcgFeatures, Encoded, encode
from heartcare.model.config import GptConfig


class StreamMissingError(HeartcareError):
    """The item shows its ECG in a form this model cannot read (e.g. an image to a signal-only model)."""


def pool(latents: np.ndarray, group: int) -> np.ndarray:
    """[n, dim] -> [n / group, dim]: means of consecutive runs (group divides Beat's 20 queries per window)."""
    if group == 1:
        return latents
    return latents.reshape(-1, group, latents.shape[-1]).mean(axis=1)


def signal_tokens(latents: np.ndarray, config: GptConfig) -> np.ndarray:
    """[n, dim] Beat latents of one ECG -> the rows its signal placeholders receive: the pooled latents,
    then (`signal_summary`) their mean and their spread over the whole record."""
    pooled = pool(latents, config.signal_pool)
    if not config.signal_summary:
        return pooled
    summary = np.stack([latents.mean(axis=0), latents.std(axis=0)]).astype(latents.dtype)
    return np.concatenate([pooled, summary])


def finding_input(latents: np.ndarray, recording: np.ndarray | None = None, views: int = 0,
                  morphology: np.ndarray | None = None, texture: np.ndarray | None = None,
                  page: np.ndarray | None = None) -> np.ndarray:
    """[n, dim] Beat latents (or [views, dim] image features) of one ECG -> [1, 2 * dim]: their mean and
    spread, what a finding projector (heartcare.model.findings) reads (linear readouts of a record's
    latents by mean and spread held 86% of the diagnosis). A fixed width whatever n: a photo gives one
    view where a drawn sheet gives 12 lead crops. `recording` ([156] heartcare.ecg.recording
    descriptors) is appended when the model reads it (GptConfig.finding_recording), then `morphology`
    (heartcare.ecg.morphology, GptConfig.finding_morphology), and with `views` the
    first `views` rows side by side (GptConfig.image_finding_views; zeros where a picture has fewer, as a
    photo read whole has one), then a picture's `texture` (heartcare.render.texture, GptConfig.image_finding_texture),
    then what the digitiser read off its `page` (heartcare.model.page_cache, GptConfig.image_finding_page)."""
    parts = [latents.mean(axis=0), latents.std(axis=0)] + [np.asarray(extra).reshape(-1) for extra in (recording, morphology)
                                                           if extra is not None]
    if views:
        side_by_side = np.zeros((views, latents.shape[1]), dtype=np.float32)
        side_by_side[: min(views, len(latents))] = latents[:views]
        parts.append(side_by_side.reshape(-1))
    parts += [np.asarray(extra).reshape(-1) for extra in (texture, page) if extra is not None]
    return np.concatenate(parts)[None].astype(np.float32)


def sees_drawing(config: GptConfig) -> bool:
    """Whether a signal ECG also reaches the image stream: always for a model without a signal stream."""
    return config.uses_image and (config.signal_items_see_image or not config.uses_signal)


def item_features(item: BenchItem, cache, config: GptConfig) -> list[EcgFeatures]:
    """One EcgFeatures per ECG of the item, in order (see the module docstring for the policy)."""
    prediction = item.task == "signal_prediction"
    features = []
    for ref in item.ecgs:
        signal = image = finding = None
        if ref.modality == "S":
            if config.uses_signal:  # GptConfig refuses a model with no stream: one of the two reads it
                latents = cache.context(ref.record_id) if prediction else cache.signal(ref.record_id)
                signal = signal_tokens(latents, config)
                if config.findings:
                    recording = cache.recording(ref.record_id, context=prediction) if config.finding_recording else None
                    morphology = cache.morphology(ref.record_id, context=prediction) if config.finding_morphology else None
                    finding = finding_input(latents, recording, morphology=morphology)
            if sees_drawing(config):
                image = cache.context_image(ref.record_id) if prediction else cache.image(ref.record_id, 0)
        else:
            if not config.uses_image:
                raise StreamMissingError(item.id, "a paper image, but this model has no image stream")
            image = cache.context_image(ref.record_id) if prediction else cache.image(ref.record_id, 0)
        image_finding = None
        if config.image_findings and signal is None and image is not None:
            texture = cache.texture(ref.record_id, context=prediction) if config.image_finding_texture else None
            page = cache.page(ref.record_id, context=prediction) if config.image_finding_page else None
            image_finding = finding_input(image, views=config.image_finding_views, texture=texture, page=page)
        features.append(EcgFeatures(signal=signal, image=image, finding=finding, image_finding=image_finding))
    return features


def needed_keys(item: BenchItem, config: GptConfig) -> list[tuple[str, str]]:
    """(record id, cache key) of every tensor `item_features` reads for this item (streams the model lacks skipped)."""
    prediction = item.task == "signal_prediction"
    keys = []
    for ref in item.ecgs:
        record = ref.record_id
        image = f"context_image/{record}" if prediction else f"image/{record}/0"
        if ref.modality == "S":
            if config.uses_signal:
                keys.append((record, f"context/{record}" if prediction else f"signal/{record}"))
                if config.finding_recording:
                    keys.append((record, f"context_recording/{record}" if prediction else f"recording/{record}"))
                if config.finding_morphology:
                    keys.append((record, f"context_morphology/{record}" if prediction else f"morphology/{record}"))
            if sees_drawing(config):
                keys.append((record, image))
        elif config.uses_image:
            keys.append((record, image))
        if ref.modality != "S" or not config.uses_signal:
            for column in ("texture", "page") if config.image_findings else ():
                if getattr(config, f"image_finding_{column}"):
                    keys.append((record, f"context_{column}/{record}" if prediction else f"{column}/{record}/0"))
    return keys


def training_answer(item: BenchItem, config: GptConfig) -> str:
    """The answer a model learns to write: the item's own, or for `text-first` multiple choice "text (B)"."""
    if config.answer_format == "text-first" and item.is_multiple_choice and 0 <= item.answer_index < len(item.choices):
        return f"{item.choices[item.answer_index]} ({item.letters[item.answer_index]})"
    return item.answer


def encode_item(item: BenchItem, cache, config: GptConfig, tokenizer, with_answer: bool, reader=None) -> Encoded:
    """The item's prompt (and answer, for training) tokenised with its features; `reader` (a
    heartcare.model.finding_words.FindingWords) writes the readings of a model with finding words."""
    from heartcare.model.comparison_tokens import named_finding
    from heartcare.model.offered_answers import offered_answers

    answer = training_answer(item, config) if with_answer else None
    question = user_text(item)
    features = item_features(item, cache, config)
    offered = offered_answers(question, config.findings) if config.finding_choices else None
    if config.finding_words:
        if reader is None:
            raise HeartcareError(f"item {item.id}", "this model writes finding words: encoding needs its reader (FindingWords)")
        features = reader(features, offered)
    return encode(tokenizer, features, question, answer, SYSTEM_PROMPT,
                  config.image_tokens, config.max_length, where=f"item {item.id}", finding_tokens=config.finding_tokens,
                  comparison_tokens=config.comparison_tokens, named_finding=named_finding(question, config), offered=offered)


class ItemDataset:
    """A map-style dataset of training examples (tokenised lazily: a step reads only its batch)."""

    def __init__(self, items: list[BenchItem], cache, config: GptConfig, tokenizer, reader=None) -> None:
        self.items, self.cache, self.config, self.tokenizer, self.reader = items, cache, config, tokenizer, reader

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Encoded:
        return encode_item(self.items[index], self.cache, self.config, self.tokenizer, with_answer=True, reader=self.reader)


def collate(examples: list[Encoded], pad_id: int, left: bool = False) -> dict:
    """Encoded examples -> a batch: input_ids, attention_mask, labels [B, T] padded (right for training,
    left for generation), signal [Ns, dim], image [Ni, D] and finding [Nf, 2 * dim] concatenated in placeholder order."""
    import torch

    length = max(len(example.input_ids) for example in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example.input_ids)
        span = slice(length - size, length) if left else slice(0, size)
        ids[row, span] = torch.tensor(example.input_ids)
        labels[row, span] = torch.tensor(example.labels)
        mask[row, span] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    for name in ("signal", "image", "finding", "image_finding"):
        parts = [part for example in examples for part in getattr(example, name)]
        if parts:
            batch[name] = torch.from_numpy(np.concatenate(parts).astype(np.float32))
    for name in ("finding", "image_finding"):  # each finding row with its question's offered answers
        offers = [example.offered for example in examples for _ in getattr(example, name) if example.offered is not None]
        if offers and len(offers) == len(batch.get(name, ())):
            batch[f"{name}_offered"] = torch.from_numpy(np.stack(offers).astype(np.float32))
        elif offers:
            raise HeartcareError("batch", "some examples carry offered answers and some do not: encode them with one config")
    pairs = comparison_index(examples)
    if pairs is not None:
        batch["comparison_index"] = pairs
        batch["comparison_finding"] = torch.tensor([named for example in examples for named in example.comparison_finding], dtype=torch.long)
    return batch


def comparison_index(examples: list[Encoded]):
    """[pairs, 2] long: each pair's two ECGs as rows of the batch's finding readings, the signal rows
    ("finding") of every example first, then the picture rows ("image_finding"); None without pairs."""
    import torch

    total_signal_rows = sum(len(example.finding) for example in examples)
    offsets = {"finding": 0, "image_finding": total_signal_rows}
    rows = []
    for example in examples:
        for pair in example.comparison:
            rows.append([offsets[stream] + index for stream, index in pair])
        offsets["finding"] += len(example.finding)
        offsets["image_finding"] += len(example.image_finding)
    return torch.tensor(rows, dtype=torch.long) if rows else None


class Collator:
    """A picklable collate_fn for DataLoader workers; left padding by default, so every row's answer
    ends at the last position and the loss needs logits of the last few positions only."""

    def __init__(self, pad_id: int, left: bool = True) -> None:
        self.pad_id, self.left = pad_id, left

    def __call__(self, examples: list[Encoded]) -> dict:
        return collate(examples, self.pad_id, self.left)
