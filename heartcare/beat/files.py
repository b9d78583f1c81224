"""Beat on ECG files: encode to token files, decode them to ECGs, predict the next 2 s.

Every entry point takes a file in any format `read_ecg` reads; folders are
expanded to the ECG files inside them. Signals are resampled to the model's rate,
cleaned and Beat-normalised over the whole record before tokenizing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heartcare.beat.config import BeatConfig
from heartcare.beat.data import normalize_window, to_model_rate
from heartcare.beat.tokens import TOKEN_SUFFIX, TokenFile
from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.ecg.record import Ecg
from heartcare.ecg.windows import NormalizationStats, denormalize_beat
from heartcare.errors import UnreadableFileError

# Suffixes that mark one ECG record inside a folder (a WFDB record is found by its header).
ECG_SUFFIXES = (".hea", ".dcm", ".npy", ".csv", ".mat")


def expand_inputs(paths: Iterable[str | Path], suffixes: tuple[str, ...] = ECG_SUFFIXES) -> list[Path]:
    """Files as given, folders expanded (recursively, sorted) to files with `suffixes`."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                name = candidate.name.lower()
                if candidate.is_file() and any(name.endswith(suffix) for suffix in suffixes):
                    # a WFDB .mat beside a .hea is read through the header
                    if name.endswith(".mat") and candidate.with_suffix(".hea").exists():
                        continue
                    found.append(candidate)
        elif path.exists() or path.with_suffix(".hea").exists():
            found.append(path)
        else:
            raise UnreadableFileError(path, "no such file or folder")
    return found


def output_name(path: Path) -> str:
    """A file stem without ECG/token suffixes, e.g. 'rec.hea' -> 'rec', 'rec.beat.safetensors' -> 'rec'."""
    name = path.name
    for suffix in (TOKEN_SUFFIX, *ECG_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@dataclass
class PreparedRecord:
    """One ECG made ready for Beat: resampled, cleaned, normalised over the whole record
    and masked (signal [leads, samples]), with what its token file keeps."""

    signal: np.ndarray
    stats: NormalizationStats
    leads: list[str]
    lead_mask: np.ndarray
    source: str


def prepare_record(ecg: Ecg, config: BeatConfig) -> PreparedRecord:
    """One ECG (any rate, length, lead set) -> the normalised signal Beat encodes."""
    prepared = to_model_rate(ecg, config)
    mask = prepared.lead_mask
    signal, stats = normalize_window(prepared.signal * mask[:, None])
    return PreparedRecord(signal * mask[:, None], stats, list(prepared.leads), mask, ecg.name)


def token_file(record: PreparedRecord, codes: np.ndarray, windows: int, padding: int, config: BeatConfig) -> TokenFile:
    """A prepared record's codes [windows * queries, levels] -> its TokenFile."""
    return TokenFile(
        codes=codes,
        config=config,
        windows=windows,
        padding=padding,
        stats=record.stats,
        leads=record.leads,
        lead_mask=[bool(v) for v in record.lead_mask],
        source=record.source,
    )


def encode_ecg(model, ecg: Ecg) -> TokenFile:
    """One ECG (any rate, length, lead set) -> TokenFile."""
    record = prepare_record(ecg, model.config)
    codes = model.encode(record.signal, record.lead_mask)
    return token_file(record, codes.codes[0].cpu().numpy(), codes.windows, codes.padding, model.config)


def decode_tokens(model, tokens: TokenFile) -> Ecg:
    """TokenFile -> Ecg in mV at the model's rate (masked leads stay zero)."""
    from heartcare.beat.model import BeatCodes

    if tokens.config.to_dict() != model.config.to_dict():
        raise UnreadableFileError(tokens.source or "tokens", "token file was made by a different Beat configuration")
    import torch

    codes = torch.from_numpy(tokens.codes).unsqueeze(0)
    signal = model.decode(BeatCodes(codes, torch.empty(0), tokens.windows, tokens.padding))[0].cpu().numpy()
    mask = np.asarray(tokens.lead_mask, dtype=bool)
    signal = denormalize_beat(signal, tokens.stats) * mask[:, None]
    return Ecg(signal, model.config.fs, tuple(tokens.leads), {"lead_mask": list(mask), "source": "beat-decode",
                                                              "record_id": output_name(Path(tokens.source or "decoded"))})


@dataclass
class PreparedContext:
    """The last `context` samples of one record, cleaned at the model's rate, normalised
    with their own statistics and left-padded with zeros when the record is shorter:
    what a forecast continues. `end_s` is where the record ends and so where the forecast starts."""

    window: np.ndarray
    lead_mask: np.ndarray
    stats: NormalizationStats
    record_id: str
    end_s: float


def prepare_context(ecg: Ecg, config: BeatConfig) -> PreparedContext:
    """One ECG (any rate, length, lead set) -> the window Beat's forecast starts from.

    Always the record's end, never a better-looking stretch earlier on: the forecast
    must continue the record, not overlap it.
    """
    prepared = to_model_rate(ecg, config)
    mask = prepared.lead_mask
    window, stats = normalize_window(prepared.signal[:, -config.context :] * mask[:, None])
    if window.shape[1] < config.context:  # zeros in normalised units, as Beat's own segmentation pads
        window = np.pad(window, ((0, 0), (config.context - window.shape[1], 0)))
    record_id = str(ecg.meta.get("record_id") or output_name(Path(ecg.name)))
    return PreparedContext(window * mask[:, None], mask, stats, record_id, prepared.samples / config.fs)


@dataclass
class Forecast:
    """The last context of a record and Beat's prediction of what follows, both in mV."""

    context: Ecg
    prediction: Ecg


def forecast_of(prepared: PreparedContext, predicted: np.ndarray, config: BeatConfig) -> Forecast:
    """A prepared context and the model's normalised prediction [leads, horizon] -> Forecast in mV."""
    mask = prepared.lead_mask
    meta = {"lead_mask": [bool(v) for v in mask], "source": "beat-predict", "record_id": prepared.record_id}
    context = Ecg(denormalize_beat(prepared.window, prepared.stats) * mask[:, None], config.fs, STANDARD_LEADS,
                  {**meta, "end_s": prepared.end_s})
    prediction = Ecg(denormalize_beat(predicted, prepared.stats) * mask[:, None], config.fs, STANDARD_LEADS,
                     {**meta, "start_s": prepared.end_s})
    return Forecast(context, prediction)


def predict_ecg(model, ecg: Ecg) -> Forecast:
    """Predict the `horizon` samples after the end of `ecg` from its last `context` samples."""
    prepared = prepare_context(ecg, model.config)
    predicted = model.predict(prepared.window, prepared.lead_mask)[0].cpu().numpy()
    return forecast_of(prepared, predicted, model.config)
