"""`predictions:FILE.jsonl`: score outputs saved by any other tool.

One JSON object per line: `{"id": ITEM_ID, "output": TEXT}`; optionally
`"option_logprobs": [..]` for multiple-choice items; for signal prediction
`{"id": ..., "waveform": PATH_TO_NPY}` ([12, samples] mV at 250 Hz; a relative path is
taken from the file's folder; never unpickled). The whole file is checked before
anything is scored: a malformed line, an id that is not in the evaluated split or a
repeated id is an error naming the file and line. Items the file lacks are answered
with nothing and so counted wrong (the runner reports how many).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.bench.items import BenchItem
from heartcare.bench.models.base import ModelContext, Output
from heartcare.digest import files_digest
from heartcare.errors import ConfigError, UnreadableFileError


def read_predictions(path: Path, known_ids: set[str]) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise UnreadableFileError(path, "no such predictions file")
    entries: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise UnreadableFileError(where, f"not a JSON object: {error.msg}") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise UnreadableFileError(where, 'each line must be an object with a string "id"')
            if "output" not in entry and "waveform" not in entry:
                raise UnreadableFileError(where, 'a line needs "output" (text) or "waveform" (a .npy path)')
            if "output" in entry and not isinstance(entry["output"], str | None):
                raise UnreadableFileError(where, '"output" must be a string')
            if entry["id"] not in known_ids:
                raise UnreadableFileError(where, f"unknown item id {entry['id']!r} (not in the evaluated split)")
            if entry["id"] in entries:
                raise UnreadableFileError(where, f"item id {entry['id']!r} appears twice")
            entry["_line"] = where
            entries[entry["id"]] = entry
    return entries


def load_waveform(path: Path, where: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UnreadableFileError(where, f"waveform {path}: {error}") from None
    if array.ndim != 2 or array.shape[0] != 12 or not np.issubdtype(array.dtype, np.number):
        raise UnreadableFileError(where, f"waveform {path} must be a numeric [12, samples] array, got {array.shape} {array.dtype}")
    return array.astype(np.float32)


class PredictionsModel:
    batch_size = 4096

    @staticmethod
    def fingerprint(argument: str) -> str | None:
        path = Path(argument)
        return files_digest(path.parent, [path]) if path.is_file() else None

    def __init__(self, argument: str | None, context: ModelContext) -> None:
        if not argument:
            raise ConfigError(None, "predictions needs a file: --model predictions:FILE.jsonl")
        self.name = f"predictions:{argument}"
        self.path = Path(argument)
        known = {item.id for item in context.dataset.items(context.split)}
        self.entries = read_predictions(self.path, known)

    def respond(self, items: list[BenchItem]) -> list[Output]:
        outputs = []
        for item in items:
            entry = self.entries.get(item.id)
            if entry is None:
                outputs.append(Output(extra={"missing": True}))
                continue
            waveform = None
            if entry.get("waveform"):
                waveform_path = Path(entry["waveform"])
                if not waveform_path.is_absolute():
                    waveform_path = self.path.parent / waveform_path
                waveform = load_waveform(waveform_path, entry["_line"])
            logprobs = entry.get("option_logprobs")
            outputs.append(Output(text=entry.get("output"), waveform=waveform,
                                  option_logprobs=[float(value) for value in logprobs] if logprobs else None))
        return outputs
