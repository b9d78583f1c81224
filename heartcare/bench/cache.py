"""The per-item answer cache of a run: what makes an interrupted run resume.

One JSON line per answered item, appended and flushed batch by batch, so a killed run
loses at most the batch in flight; a torn last line is ignored on reading. Waveforms
go to `.npy` files beside it (written atomically, never unpickled on reading).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from heartcare.atomic import write_atomic
from heartcare.bench.models.base import Output


def slug(spec: str) -> str:
    """A file name for a model spec ('openai:http://h:8/v1' -> 'openai_http_h_8_v1')."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", spec).strip("_")[:120] or "model"


class AnswerCache:
    def __init__(self, folder: Path, spec: str) -> None:
        self.folder = folder
        self.path = folder / f"{slug(spec)}.jsonl"
        self.waveforms = folder / f"{slug(spec)}-waveforms"

    def load(self) -> dict[str, dict[str, Any]]:
        """item id -> cached record (the last one wins, so a retried failure replaces its record)."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return records
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line a killed run was writing
            if isinstance(record, dict) and "id" in record:
                records[record["id"]] = record
        return records

    def append(self, records: list[tuple[str, Output, str | None, float]]) -> None:
        """(item id, output, failure or None, seconds) per item, one flushed write."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for item_id, output, failure, seconds in records:
            waveform_name = None
            if output.waveform is not None:
                waveform_name = f"{self.waveforms.name}/{slug(item_id)}.npy"
                buffer = io.BytesIO()
                np.save(buffer, np.asarray(output.waveform, np.float32), allow_pickle=False)
                write_atomic(self.folder / waveform_name, buffer.getvalue())
            lines.append(json.dumps({
                "id": item_id, "text": output.text, "option_logprobs": output.option_logprobs,
                "waveform": waveform_name, "not_applicable": output.not_applicable, "failed": failure,
                "extra": output.extra, "seconds": round(seconds, 4),
            }, sort_keys=True))
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def output(self, record: dict[str, Any]) -> Output:
        waveform = None
        if record.get("waveform"):
            waveform = np.load(self.folder / record["waveform"], allow_pickle=False)
        return Output(text=record.get("text"), option_logprobs=record.get("option_logprobs"), waveform=waveform,
                      not_applicable=record.get("not_applicable"), extra=record.get("extra") or {})
