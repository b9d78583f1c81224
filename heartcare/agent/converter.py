"""Converter (paper's HeartAgent stage 1): an ECG PDF export -> text + 12-lead signal.

Reads the page's content stream with pypdf (the `agent` extra), follows the graphics
state (q / Q / cm) to put every path point and text label into page points, then
hands the geometry to the Analyzer. Text that is not a lead label is the sheet's
header and statements: age and sex are parsed from it, SCP-ECG statement
descriptions found in it become labels, and all of it becomes the report.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from heartcare.agent.analyzer import _LEAD_NAMES, analyze
from heartcare.errors import UnreadableFileError
from heartcare.sources.record import LabelledRecord
from heartcare.sources.scp import statements

_PAINT = {"S", "s", "f", "F", "f*", "B", "B*", "b", "b*"}
_AGE = re.compile(r"\bAge\s*:?\s*(\d{1,3})\b", re.IGNORECASE)
_SEX = re.compile(r"\bSex\s*:?\s*(M|F|male|female)\b", re.IGNORECASE)
_ID = re.compile(r"\b(?:Patient\s*ID|ID)\s*:?\s*([A-Za-z0-9-]{3,})", re.IGNORECASE)


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return b @ a  # PDF matrices are row vectors: new CTM = M x CTM


def _matrix(values) -> np.ndarray:
    a, b, c, d, e, f = (float(v) for v in values)
    return np.array([[a, b, 0.0], [c, d, 0.0], [e, f, 1.0]])


def page_geometry(path: str | Path) -> tuple[list[np.ndarray], list[tuple[str, float, float]]]:
    """(polylines [points, 2] in page points, text labels (text, x, y)) of the first page."""
    try:
        from pypdf import PdfReader
        from pypdf.generic import ContentStream
    except ImportError as error:  # pragma: no cover - depends on the install
        raise UnreadableFileError(path, "reading PDFs needs pypdf: pip install 'heartcare[agent]'") from error
    try:
        reader = PdfReader(str(path))
        page = reader.pages[0]
        operations = ContentStream(page.get_contents(), reader).operations
    except Exception as error:  # pypdf raises many types for broken files
        raise UnreadableFileError(path, f"not a readable PDF ({type(error).__name__}: {error})") from None

    ctm, stack = np.eye(3), []
    polylines: list[np.ndarray] = []
    current: list[list[float]] = []
    subpaths: list[list[list[float]]] = []
    texts: list[tuple[str, float, float]] = []
    text_matrix = np.eye(3)

    def point(x, y) -> list[float]:
        vector = np.array([float(x), float(y), 1.0]) @ ctm
        return [vector[0], vector[1]]

    for operands, operator in operations:
        op = operator.decode("latin-1") if isinstance(operator, bytes) else operator
        if op == "q":
            stack.append(ctm.copy())
        elif op == "Q":
            ctm = stack.pop() if stack else np.eye(3)
        elif op == "cm":
            ctm = _multiply(ctm, _matrix(operands))
        elif op == "m":
            if len(current) > 1:
                subpaths.append(current)
            current = [point(*operands)]
        elif op == "l":
            current.append(point(*operands))
        elif op == "c":
            current.append(point(*operands[4:6]))
        elif op == "v" or op == "y":
            current.append(point(*operands[2:4]))
        elif op in _PAINT or op == "n":
            if len(current) > 1:
                subpaths.append(current)
            if op != "n":  # `W n` only clips: not a drawn line
                polylines.extend(np.asarray(s, dtype=np.float64) for s in subpaths)
            current, subpaths = [], []
        elif op == "BT":
            text_matrix = np.eye(3)
        elif op == "Tm":
            text_matrix = _matrix(operands)
        elif op == "Td" or op == "TD":
            text_matrix = _matrix([1, 0, 0, 1, operands[0], operands[1]]) @ text_matrix
        elif op in ("Tj", "TJ", "'", '"'):
            value = operands[-1]
            text = "".join(str(v) for v in value if isinstance(v, str)) if isinstance(value, list) else str(value)
            origin = np.array([0.0, 0.0, 1.0]) @ text_matrix @ ctm
            texts.append((text, float(origin[0]), float(origin[1])))
    return polylines, texts


def convert_pdf(path: str | Path, fs: float = 500.0) -> LabelledRecord:
    """One ECG PDF as a `LabelledRecord` (labels from statement text found on the sheet)."""
    path = Path(path)
    polylines, texts = page_geometry(path)
    ecg = analyze(polylines, texts, fs, str(path))
    words = [text for text, _, _ in texts if text.strip().lower() not in _LEAD_NAMES]
    report = "\n".join(words)
    lowered = report.lower()
    labels = {code: 100.0 for code, statement in statements().items() if statement.description.lower() in lowered}
    age = _AGE.search(report)
    sex = _SEX.search(report)
    identifier = _ID.search(report)
    patient = identifier.group(1) if identifier else path.stem
    meta = {
        "record_id": f"pdf_{path.stem}",
        "age": int(age.group(1)) if age else None,
        "sex": sex.group(1)[0].upper() if sex else None,
    }
    ecg.meta.update(record_id=meta["record_id"], age=meta["age"], sex=meta["sex"])
    return LabelledRecord(ecg=ecg, labels=labels, report=report, patient_id=patient, meta=meta)
