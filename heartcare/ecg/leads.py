"""Lead names: the canonical 12-lead order, aliases, and reordering by name.

Files disagree on spelling (``avr``, ``AVR``, ``aVR``), on order (MIMIC-IV-ECG
stores aVF before aVL) and on which leads exist (Holter ``MLII``). Everything in
heartcare works on the canonical order below, so readers map by *name*, never by
position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from heartcare.errors import LeadError

STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
LIMB_LEADS: tuple[str, ...] = STANDARD_LEADS[:6]
PRECORDIAL_LEADS: tuple[str, ...] = STANDARD_LEADS[6:]

# Normalised spelling (lower case, no spaces/dashes/"lead" prefix) -> canonical name.
_ALIASES: dict[str, str] = {name.lower(): name for name in STANDARD_LEADS}
_ALIASES.update(
    {
        "1": "I", "2": "II", "3": "III", "ii": "II", "iii": "III",
        "mlii": "II", "mli": "I", "mliii": "III",
        "avr": "aVR", "avl": "aVL", "avf": "aVF",
        "-avr": "-aVR",
        "c1": "V1", "c2": "V2", "c3": "V3", "c4": "V4", "c5": "V5", "c6": "V6",
    }
)


def canonical_lead_name(name: str, source: str | None = None) -> str:
    """Map one lead label to its canonical spelling or raise `LeadError`."""
    key = re.sub(r"^(lead|ecg)[\s_:-]*", "", name.strip().lower())
    key = re.sub(r"[\s_]+", "", key)
    if key in _ALIASES and _ALIASES[key] != "-aVR":
        return _ALIASES[key]
    raise LeadError(source, f"unknown lead name {name!r}; expected one of {', '.join(STANDARD_LEADS)}")


@dataclass(frozen=True)
class CanonicalLeads:
    """A signal reordered to the standard 12 leads, with which leads were really present."""

    signal: np.ndarray  # float32 [12, samples] mV
    present: tuple[bool, ...]
    derived: tuple[str, ...]


def to_standard_leads(
    signal: np.ndarray, names: list[str] | tuple[str, ...], source: str | None = None
) -> CanonicalLeads:
    """Reorder `signal` [len(names), samples] into the standard 12 leads by name.

    Missing leads are zero-filled and marked absent. When only I and II exist the
    other limb leads are derived with Einthoven's and Goldberger's relations
    (III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2).
    """
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise LeadError(source, f"{len(names)} lead names for a signal of shape {signal.shape}")
    canonical = [canonical_lead_name(name, source) for name in names]
    duplicates = {name for name in canonical if canonical.count(name) > 1}
    if duplicates:
        raise LeadError(source, f"lead(s) {sorted(duplicates)} appear more than once")
    out = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=np.float32)
    present = [False] * len(STANDARD_LEADS)
    for row, name in zip(signal, canonical, strict=True):
        index = STANDARD_LEADS.index(name)
        out[index] = row
        present[index] = True
    derived: list[str] = []
    if present[0] and present[1]:
        lead_i, lead_ii = out[0], out[1]
        formulas = {
            "III": lead_ii - lead_i,
            "aVR": -(lead_i + lead_ii) / 2,
            "aVL": lead_i - lead_ii / 2,
            "aVF": lead_ii - lead_i / 2,
        }
        for name, values in formulas.items():
            index = STANDARD_LEADS.index(name)
            if not present[index]:
                out[index] = values
                present[index] = True
                derived.append(name)
    return CanonicalLeads(signal=out, present=tuple(present), derived=tuple(derived))
