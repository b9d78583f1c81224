"""De-identification of every text and metadata field HeartAgent writes.

Patterned PHI (emails, phone numbers, identifiers, street addresses, exact dates,
names after a title or a "Name:" field) is replaced by bracketed tags; names and IDs
the source metadata knows are removed verbatim wherever they occur. Dates shift by a
per-patient offset (HIPAA "date shifting"), so the interval between one patient's
recordings survives while the calendar dates do not. Patient ids become keyed hashes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from heartcare.agent.description import stable_hash

MAX_SHIFT_DAYS = 3650  # shifts lie in [-10 y, -1 d]: backwards, so no date lands in the future

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|"
    "Januar|Februar|März|Maerz|Juni|Juli|Oktober|Dezember"
)
# Order matters: the most specific patterns run first so their text is not half-eaten.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("[EMAIL]", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("[URL]", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    ("[DATE]", re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?\b")),
    ("[DATE]", re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b")),
    ("[DATE]", re.compile(rf"\b\d{{1,2}}\.?\s+(?:{_MONTHS})\.?,?\s+\d{{4}}\b", re.IGNORECASE)),
    ("[DATE]", re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b", re.IGNORECASE)),
    ("[PHONE]", re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,8}){1,4}(?![\w.])")),
    ("[ID]", re.compile(r"\b(?:MRN|ID|Pat(?:ient)?[\s.-]*(?:No|Nr|ID|number)|SSN|Case|Fall(?:nr)?|Accession)\.?\s*[:#]?\s*[A-Z0-9-]{3,}\b", re.IGNORECASE)),
    ("[ID]", re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z]{0,4}\d{6,}[A-Z0-9-]*\b")),
    ("[ADDRESS]", re.compile(
        r"\b\d{1,5}\s+(?:[A-Z][\w'-]*\s+){1,4}(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq)\b\.?(?:,\s*[A-Z][\w ]+)?",
    )),
    ("[ADDRESS]", re.compile(r"\b[A-ZÄÖÜ][\wäöüß-]*(?:strasse|straße|str\.|weg|gasse|platz|allee)\s*\d{1,4}[a-z]?\b")),
    ("[NAME]", re.compile(r"\b(?:Dr|Prof|Mr|Mrs|Ms|Miss|Herr|Frau)\.?\s+[A-Z][\w'-]+(?:\s[A-Z][\w'-]+){0,2}")),
    ("[NAME]", re.compile(r"\b(?:Name|Patient|Physician|Arzt|Ärztin|Referring|Operator|Technician)\s*:\s*[A-Z][\w'-]+(?:,?\s[A-Z][\w'-]+){0,2}")),
)


@dataclass(frozen=True)
class Deidentifier:
    """Scrubs text, shifts dates and pseudonymises patient ids, keyed by a secret salt."""

    salt: str = "heartcare"

    def pseudonym(self, patient_id: str) -> str:
        """A stable, salted replacement id: same patient -> same pseudonym."""
        return f"P{stable_hash(self.salt, 'patient', patient_id) % 10**10:010d}"

    def date_shift_days(self, patient_id: str) -> int:
        return -(stable_hash(self.salt, "shift", patient_id) % MAX_SHIFT_DAYS + 1)

    def shift_date(self, value: str | dt.date | dt.datetime | None, patient_id: str) -> str | None:
        """ISO date shifted by the patient's offset; None when the value is not a date."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            text = value.strip().replace("Z", "")
            if re.fullmatch(r"\d{8}(\d{2,6}(\.\d+)?)?", text):  # DICOM DA / DT: YYYYMMDD[HHMMSS]
                text = f"{text[:4]}-{text[4:6]}-{text[6:8]}"
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                return None
        if isinstance(value, dt.datetime):
            value = value.date()
        return (value + dt.timedelta(days=self.date_shift_days(patient_id))).isoformat()

    def scrub(self, text: str | None, known: Iterable[str] = ()) -> str:
        """Text with PHI replaced by tags; `known` strings (names, ids) go first, verbatim."""
        if not text:
            return ""
        for secret in sorted({str(k) for k in known if k and len(str(k)) >= 3}, key=len, reverse=True):
            text = re.sub(re.escape(secret), "[REDACTED]", text, flags=re.IGNORECASE)
        for tag, pattern in _PATTERNS:
            text = pattern.sub(tag, text)
        return text


def sensitive_values(meta: dict) -> list[str]:
    """Strings in a source's metadata that identify someone, for verbatim removal."""
    keys = ("name", "patient_name", "first_name", "last_name", "physician", "operator", "mrn",
            "patient_id", "address", "phone", "email", "nurse", "technician", "validated_by")
    values: list[str] = []
    for key in keys:
        value = meta.get(key)
        if value is None:
            continue
        values.append(str(value))
        if key.endswith("name") or key in {"physician", "operator", "nurse", "technician", "validated_by"}:
            values.extend(part for part in re.split(r"[\s,^]+", str(value)) if len(part) >= 3)
    return values


def safe_age(age: object) -> int | None:
    """Ages above 89 are grouped as 90 (HIPAA); PTB-XL writes 300 for them."""
    try:
        number = int(float(age))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number < 0:
        return None
    return min(number, 90)
