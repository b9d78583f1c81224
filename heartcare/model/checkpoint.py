"""HeartcareGPT checkpoints: only what trained (projectors, LoRA, ECG token rows) plus config.json.

The backbone and Beat are named in config.json and loaded from their own folders, so
a checkpoint of the CPU default is a few tens of MB. `merge` writes a standalone
folder instead: LoRA folded into the backbone, saved with its tokenizer beside the
projectors, which loads with no peft and no reference to the original backbone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from heartcare.errors import ConfigError, UnreadableFileError
from heartcare.model.config import LORA_TARGETS, PROJECTORS, GptConfig

CONFIG_FILE = "config.json"
FORMAT = "heartcare-gpt"
FILES = {"projectors": "projectors.safetensors", "lora": "lora.safetensors", "token_rows": "token_rows.safetensors"}
MERGED_BACKBONE = "language_model"
# Buffers a projector gained after checkpoints were written: a checkpoint without them loads them as built
# (identity input statistics; no answer prior kept, so finding_unasked_prior changes nothing there).
BUFFERS_OLD_CHECKPOINTS_LACK = ("input_mean", "input_scale", "answer_prior_shift")


def trained_state(model) -> dict[str, dict[str, Any]]:
    """file key -> {tensor name: tensor} of everything a stage can train."""
    projectors = {}
    for name in PROJECTORS:
        module = getattr(model, name)
        if module is not None:
            projectors.update({f"{name}.{key}": value for key, value in module.state_dict().items()})
    lora = {name: parameter.detach() for name, parameter in model.language_model.named_parameters() if "lora_" in name}
    rows = {f"matrix{index}": matrix.detach()[model.base_vocabulary :] for index, matrix in enumerate(model.embedding_matrices())}
    return {"projectors": projectors, "lora": lora, "token_rows": rows}


def save_pretrained(model, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write config.json + the trained tensors into `directory`, each file under a temporary name then
    renamed (the folder may also hold a run's training/ and logs/, which stay)."""
    from safetensors.torch import save_file

    from heartcare.atomic import write_atomic

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for key, tensors in trained_state(model).items():
        target = directory / FILES[key]
        if not tensors:
            target.unlink(missing_ok=True)  # e.g. LoRA after a merge: a stale file would not fit the config
            continue
        temporary = directory / f".{FILES[key]}.tmp"
        save_file({name: tensor.contiguous().cpu() for name, tensor in tensors.items()}, str(temporary))
        os.replace(temporary, target)
    document = {"format": FORMAT, "version": 1, "model": model.config.to_dict(), "base_vocabulary": model.base_vocabulary, **(extra or {})}
    write_atomic(directory / CONFIG_FILE, json.dumps(document, indent=2, sort_keys=True))
    return directory


def checkpoint_fingerprint(directory: str | Path) -> str | None:
    """A digest of what loading `directory` reads (config.json and every weights file, merged backbone
    included; the resume state under training/ is not the model), or None for a folder that is no checkpoint."""
    from heartcare.digest import files_digest

    folder = Path(directory)
    if not (folder / CONFIG_FILE).is_file():
        return None
    weights = [path for path in folder.rglob("*.safetensors") if "training" not in path.relative_to(folder).parts]
    return files_digest(folder, [folder / CONFIG_FILE, *weights])


def read_document(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise UnreadableFileError(directory, "not a HeartcareGPT checkpoint (no config.json); train one with `heartcare gpt train`")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UnreadableFileError(path, f"not valid JSON ({error})") from error
    if document.get("format") != FORMAT:
        raise UnreadableFileError(path, f"not a HeartcareGPT checkpoint (format {document.get('format')!r})")
    return document


def adapted_module(parameter: str) -> str:
    """The module name a LoRA parameter adapts ("...mlp.down_proj.lora_A.default.weight" -> "down_proj")."""
    return parameter.split(".lora_", 1)[0].rsplit(".", 1)[-1]


def from_pretrained(directory: str | Path, load_encoders: bool = True, overrides: dict[str, Any] | None = None):
    """Build the model named in config.json and load the trained tensors (strict: every tensor must fit)."""
    from safetensors.torch import load_file

    from heartcare.model.build import build_model

    directory = Path(directory).expanduser()
    document = read_document(directory)
    values = dict(document["model"])
    if values.get("backbone") == MERGED_BACKBONE:
        values["backbone"] = str(directory / MERGED_BACKBONE)
    config = GptConfig.from_dict({**values, **(overrides or {})})
    model = build_model(config, load_encoders=load_encoders)
    if model.base_vocabulary != document.get("base_vocabulary", model.base_vocabulary):
        raise UnreadableFileError(directory, f"the backbone's vocabulary changed ({model.base_vocabulary} vs {document['base_vocabulary']} when saved)")
    expected = trained_state(model)
    for key, tensors in expected.items():
        path = directory / FILES[key]
        if not tensors:
            continue
        if not path.is_file():
            raise UnreadableFileError(path, f"missing; the config asks for {key}")
        try:
            stored = load_file(str(path))
        except Exception as error:  # safetensors raises its own types
            raise UnreadableFileError(path, f"not a readable safetensors file ({error})") from error
        if key == "projectors":  # checkpoints from before input standardisation / the kept prior shift: as built
            stored.update({name: tensor for name, tensor in tensors.items() if name.endswith(BUFFERS_OLD_CHECKPOINTS_LACK) and name not in stored})
        if key == "lora" and "lora_targets" in (overrides or {}):
            # Adapters on modules the saved model did not adapt (targets widened on purpose, e.g. the MLPs
            # for a joint stage started from a warm-up) start as built: B is zero, so the model still
            # computes what it computed when saved. Dropping a saved target still fails below.
            saved_targets = set(values.get("lora_targets") or LORA_TARGETS)
            stored.update({name: tensor for name, tensor in tensors.items()
                           if name not in stored and adapted_module(name) not in saved_targets})
        mismatched = sorted(set(stored) ^ set(tensors)) + [name for name in tensors if name in stored and stored[name].shape != tensors[name].shape]
        if mismatched:
            raise UnreadableFileError(path, f"tensors do not fit the model: {mismatched[:4]}")
        _load(model, key, stored)
    return model


def _load(model, key: str, stored: dict) -> None:
    import torch

    with torch.no_grad():
        if key == "projectors":
            for name in PROJECTORS:
                module = getattr(model, name)
                if module is not None:
                    prefix = f"{name}."
                    module.load_state_dict({k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)})
        elif key == "lora":
            parameters = dict(model.language_model.named_parameters())
            for name, tensor in stored.items():
                parameters[name].copy_(tensor)
        else:
            for index, matrix in enumerate(model.embedding_matrices()):
                matrix[model.base_vocabulary :] = stored[f"matrix{index}"]


def merge(directory: str | Path, out: str | Path) -> Path:
    """A standalone checkpoint at `out`: LoRA merged into the backbone (saved with its tokenizer) + projectors."""
    model = from_pretrained(directory, load_encoders=False)
    if model.config.lora_rank == 0:
        raise ConfigError(directory, "this checkpoint has no LoRA adapters to merge")
    out = Path(out)
    if out.exists():
        raise ConfigError(out, "already exists; choose a new folder for the merged model")
    merged_language_model = model.language_model.merge_and_unload()
    model.language_model = merged_language_model
    model.config = model.config.with_changes(backbone=MERGED_BACKBONE, lora_rank=0)
    save_pretrained(model, out)
    merged_language_model.save_pretrained(out / MERGED_BACKBONE)
    model.tokenizer.save_pretrained(out / MERGED_BACKBONE)
    return out


# Settings that shape a model's inputs without parameters of their own: a trained checkpoint can take
# them on or drop them without training (e.g. to measure what the offered answers add to a model).
SETTABLE = frozenset({"finding_choices", "finding_temperature", "finding_unasked_prior", "closed_answers", "reader_weight"})


def with_settings(source: str | Path, out: str | Path, changes: dict[str, Any], chosen: dict[str, Any] | None = None) -> Path:
    """Copy checkpoint `source` (its weights, not its training state or logs) to `out` with config
    settings in SETTABLE changed; the new config.json names its source (and `chosen`: how a setting
    was chosen, e.g. the valid table of a reader weight). Refuses other settings."""
    import shutil

    from heartcare.atomic import write_atomic

    source, out = Path(source), Path(out)
    refused = sorted(set(changes) - SETTABLE)
    if refused:
        raise ConfigError("heartcare gpt set", f"{', '.join(refused)} cannot change without training (settable: {', '.join(sorted(SETTABLE))})")
    if out.resolve() == source.resolve():
        raise ConfigError(out, "write the changed model to a new folder: the source is its record")
    document = read_document(source)
    model = GptConfig.from_dict({**document["model"], **changes})  # validated: e.g. finding_choices needs findings
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        if (source / name).is_file():
            temporary = out / f".{name}.tmp"
            shutil.copyfile(source / name, temporary)
            os.replace(temporary, out / name)
    merged = source / MERGED_BACKBONE
    if merged.is_dir():
        shutil.copytree(merged, out / MERGED_BACKBONE, dirs_exist_ok=True)
    document = {**document, "model": model.to_dict(), "derived_from": {"checkpoint": str(source.resolve()), "changes": changes,
                                                                                **({"chosen": chosen} if chosen else {})}}
    write_atomic(out / CONFIG_FILE, json.dumps(document, indent=2, sort_keys=True))
    return out
