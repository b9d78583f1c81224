"""A trained HeartcareGPT with its picture finding readers fitted again on a wider input, the rest kept.

Why: the language model of a model with finding tokens copies what the readers believe (Mc gives
its readers' option on 89% of closed items), so a reader that reads more of a picture, such as the
page's trace texture (`GptConfig.image_finding_texture`) or what the digitiser reads off it
(`GptConfig.image_finding_page`), should reach the answers without training
the language model again. The image finding projector is rebuilt at the new input width and its
readers (input standardisation, one classifier per kind, the rate and presence heads of a model
with comparison tokens) are fitted exactly as `heartcare gpt train` fits them from scratch, on
every train record of the dataset; what writes words (each kind's answer rows, trained with the
language model) is carried over unchanged, as are the LoRA adapters, the other projectors and the
new token rows.

With `answer_prior="valid"` the readers of both streams are fitted again and each kind's classifier
gives up the share of the train split's answer frequencies chosen on the valid items
(heartcare.model.answer_prior): Heartcare-Bench's valid and test items are balanced where train
follows the label prior.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heartcare.errors import ConfigError

REFITTABLE = frozenset({"image_finding_texture", "image_finding_page"})


def refit_readers(source: str | Path, dataset: str | Path, features: str | Path, out: str | Path,
                  changes: dict[str, Any], answer_prior: str = "train", seed: int = 0) -> dict[str, Any]:
    """Write to `out` the checkpoint `source` with `changes` (settings in REFITTABLE) and its picture
    readers (with answer_prior "valid": the signal readers too) fitted again; -> the fit's report
    (per stream and kind: train and valid accuracy, the columns read, the prior share taken out)."""
    import torch

    from heartcare.atomic import write_atomic
    from heartcare.bench.dataset import BenchDataset
    from heartcare.model.build import build_image_finding_projector
    from heartcare.model.checkpoint import (
        CONFIG_FILE,
        from_pretrained,
        read_document,
        save_pretrained,
    )
    from heartcare.model.feature_cache import FeatureCache
    from heartcare.model.findings import STREAMS, fit_findings
    from heartcare.train.gpt_run import measured_rates, record_findings

    source, out = Path(source), Path(out)
    refused = sorted(set(changes) - REFITTABLE)
    if refused:
        raise ConfigError("heartcare gpt refit", f"{', '.join(refused)} cannot be refitted (refittable: {', '.join(sorted(REFITTABLE))})")
    if out.resolve() == source.resolve():
        raise ConfigError(out, "write the refitted model to a new folder: the source is its record")
    cache = FeatureCache(features)
    if cache.knows_its_dataset and not cache.serves(dataset):
        raise ConfigError(features, f"this feature cache was built from another dataset than {dataset}")
    model = from_pretrained(source, load_encoders=False)
    if model.image_finding_projector is None:
        raise ConfigError(source, "this model has no picture finding readers to refit (it was trained without image_findings)")
    config = model.config.with_changes(**changes)
    old = model.image_finding_projector
    hidden = old.answers[0].shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        new = build_image_finding_projector(config, hidden).to(old.answers[0].dtype)
    model.config, model.image_finding_projector = config, new
    bench = BenchDataset(dataset)
    streams = ("image", "signal") if answer_prior == "valid" else ("image",)
    report = fit_findings(model, bench.items("train"), cache, target_norm=0.0, valid_items=bench.items("valid"), seed=seed,
                          rates=measured_rates(bench), labels=record_findings(bench) if config.named_findings else None,
                          streams=streams, answer_rows=False, answer_prior=answer_prior)
    with torch.no_grad():  # the answer rows were trained with the language model: they are what it copies
        for kept, rows in zip(old.answers, new.answers, strict=True):
            rows.copy_(kept)
    document = read_document(source)
    kept = {key: value for key, value in document.items() if key not in ("format", "version", "model", "base_vocabulary")}
    save_pretrained(model, out, extra={**kept, "features": str(Path(features).resolve())})  # the cache its readers read
    document = read_document(out)
    document["derived_from"] = {"checkpoint": str(source.resolve()), "changes": changes, "answer_prior": answer_prior,
                                "refitted": [STREAMS[stream][1] + " readers" for stream in streams],
                                "data": str(Path(dataset).resolve()), "features": str(Path(features).resolve())}
    write_atomic(out / CONFIG_FILE, json.dumps(document, indent=2, sort_keys=True))
    write_atomic(out / "refit_report.json", json.dumps(report, indent=2, sort_keys=True))
    return report
