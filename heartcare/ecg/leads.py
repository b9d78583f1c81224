"""Lead names: the canonical 12-lead order, aliases, and reordering by name.

Files disagree on spelling (``avr``, ``AVR``, ``Lead aVR``, ``MDC_ECG_LEAD_AVR``), on
order (MIMIC-IV-ECG stores aVF before aVL) and on which leads exist (Holter ``MLII``,
PTB's Frank leads ``vx vy vz``, right-sided ``V4R``). Everything in heartcare works on
the canonical order below, so readers map by *name*, never by position. Channels that
are not one of the 12 standard leads are kept beside them as *extra* leads (known ones
under a canonical name such as ``X`` or ``V4R``), never a reason to reject a record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from heartcare.errors import LeadError

STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
LIMB_LEADS: tuple[str, ...] = STANDARD_LEADS[:6]
PRECORDIAL_LEADS: tuple[str, ...] = STANDARD_LEADS[6:]
# Non-standard leads heartcare knows by name: Frank orthogonal leads, posterior and
# right-sided chest leads. They are kept as extras, never mapped onto the 12.
EXTRA_LEADS: tuple[str, ...] = ("X", "Y", "Z", "V7", "V8", "V9", "V3R", "V4R", "V5R", "V6R")

# Normalised spelling (see `lead_key`) -> canonical standard name.
_ALIASES: dict[str, str] = {name.lower(): name for name in STANDARD_LEADS}
_ALIASES.update(
    {
        "1": "I", "2": "II", "3": "III",
        "mlii": "II", "mli": "I", "mliii": "III",
        "di": "I", "dii": "II", "diii": "III",  # Brazilian/Portuguese derivations (CODE)
        "c1": "V1", "c2": "V2", "c3": "V3", "c4": "V4", "c5": "V5", "c6": "V6",
    }
)
# Normalised spelling -> canonical extra name.
_EXTRA_ALIASES: dict[str, str] = {name.lower(): name for name in EXTRA_LEADS}
_EXTRA_ALIASES.update({"vx": "X", "vy": "Y", "vz": "Z", "frankx": "X", "franky": "Y", "frankz": "Z"})

# Prefixes that carry no lead information: "Lead V1", "ECG II", HL7's "MDC_ECG_LEAD_V1".
_PREFIX = re.compile(r"^(mdc_ecg_lead_|lead|ecg)[\s_:-]*")


def lead_key(name: str) -> str:
    """The spelling-free key of a lead label: 'Lead V-1 ' -> 'v1', 'MDC_ECG_LEAD_AVR' -> 'avr'.

    A leading minus is kept, because Cabrera-format carts label the inverted lead '-aVR'.
    """
    key = _PREFIX.sub("", str(name).strip().lower())
    key = re.sub(r"[\s_.]+", "", key)
    sign, rest = ("-", key[1:]) if key.startswith("-") else ("", key)
    return sign + rest.replace("-", "")


def canonical_lead_name(name: str, source: str | None = None) -> str:
    """Map one lead label to its canonical standard spelling or raise `LeadError`."""
    key = lead_key(name)
    if key in _ALIASES:
        return _ALIASES[key]
    raise LeadError(source, f"unknown lead name {name!r}; expected one of {', '.join(STANDARD_LEADS)}")


def extra_lead_name(name: str) -> str:
    """Canonical name of a non-standard channel ('vx' -> 'X', 'Lead V4R' -> 'V4R'); unknown
    channels keep their own label, trimmed, so nothing is lost."""
    return _EXTRA_ALIASES.get(lead_key(name), str(name).strip())


def is_standard_lead(name: str) -> bool:
    """True when `name` is one of the 12 standard leads under any known spelling."""
    return lead_key(name) in _ALIASES


@dataclass(frozen=True)
class CanonicalLeads:
    """A signal reordered to the standard 12 leads, with which leads were really present.

    extra_names / extra_signal: the channels that are not standard leads, in file order,
    [len(extra_names), samples] in the input's units.
    """

    signal: np.ndarray  # float32 [12, samples] mV
    present: tuple[bool, ...]
    derived: tuple[str, ...]
    extra_names: tuple[str, ...] = ()
    extra_signal: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


def to_standard_leads(
    signal: np.ndarray, names: list[str] | tuple[str, ...], source: str | None = None
) -> CanonicalLeads:
    """Reorder `signal` [len(names), samples] into the standard 12 leads by name.

    Missing leads are zero-filled and marked absent. When only I and II exist the
    other limb leads are derived with Einthoven's and Goldberger's relations
    (III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2). Rows that are not
    standard leads come back as extras; a signal without any standard lead raises.
    """
    if signal.ndim != 2 or signal.shape[0] != len(names):
        raise LeadError(source, f"{len(names)} lead names for a signal of shape {signal.shape}")
    standard_rows = [row for row, name in enumerate(names) if is_standard_lead(name)]
    extra_rows = [row for row in range(len(names)) if row not in standard_rows]
    if not standard_rows:
        found = ", ".join(repr(str(name)) for name in names) or "none"
        raise LeadError(
            source, f"no standard ECG lead among the channels ({found}); expected some of {', '.join(STANDARD_LEADS)}"
        )
    canonical = [canonical_lead_name(names[row], source) for row in standard_rows]
    duplicates = {name for name in canonical if canonical.count(name) > 1}
    if duplicates:
        raise LeadError(source, f"lead(s) {sorted(duplicates)} appear more than once")
    out = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=np.float32)
    present = [False] * len(STANDARD_LEADS)
    for row, name in zip(standard_rows, canonical, strict=True):
        index = STANDARD_LEADS.index(name)
        out[index] = signal[row]
        present[index] = True
    derived = derive_limb_leads(out, present)
    return CanonicalLeads(
        signal=out, present=tuple(present), derived=tuple(derived),
        extra_names=unique_names([extra_lead_name(names[row]) for row in extra_rows]),
        extra_signal=np.asarray(signal[extra_rows], dtype=np.float32).reshape(len(extra_rows), signal.shape[1]),
    )


def derive_limb_leads(out: np.ndarray, present: list[bool]) -> list[str]:
    """Fill missing III, aVR, aVL, aVF of `out` [12, samples] in place from I and II."""
    if not (present[0] and present[1]):
        return []
    lead_i, lead_ii = out[0], out[1]
    formulas = {
        "III": lead_ii - lead_i,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }
    derived: list[str] = []
    for name, values in formulas.items():
        index = STANDARD_LEADS.index(name)
        if not present[index]:
            out[index] = values
            present[index] = True
            derived.append(name)
    return derived


def unique_names(names: list[str]) -> tuple[str, ...]:
    """Names made unique by a numeric suffix, so every extra channel stays addressable."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return tuple(result)
