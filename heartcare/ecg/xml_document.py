"""Safe XML parsing and the element lookups the XML ECG readers share.

Cart XML comes from outside (uploads, hospital exports), so it is parsed with
`defusedxml` only: entity declarations (billion laughs) and external references
(XXE) are refused with `UnsafeFileError`, never expanded or fetched. A plain
``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">`` line, which every GE MUSE export
carries, is allowed: its DTD is never loaded. Namespaces are stripped after parsing,
so readers look elements up by their local names whatever namespace a cart used.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import numpy as np

from heartcare.errors import UnreadableFileError, UnsafeFileError


def parse_xml(path: Path) -> Element:
    """The root element of `path`, namespaces stripped; unsafe or broken XML raises."""
    import defusedxml
    from defusedxml import ElementTree

    try:
        tree = ElementTree.parse(str(path), forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise UnsafeFileError(
            path, f"refused: the XML declares entities or external references ({type(error).__name__}: "
                  f"{error}); heartcare never expands or fetches them (billion-laughs / XXE protection)",
        ) from error
    except ParseError as error:
        raise UnreadableFileError(path, f"not well-formed XML, truncated or corrupt ({error})") from error
    except (OSError, UnicodeError, ValueError) as error:
        raise UnreadableFileError(path, f"not a readable XML file ({error})") from error
    root = tree.getroot()
    strip_namespaces(root)
    return root


def local_name(tag: str) -> str:
    """'{urn:hl7-org:v3}sequence' -> 'sequence'."""
    return tag.rsplit("}", 1)[-1]


def strip_namespaces(root: Element) -> None:
    """Rename every tag and attribute to its local name, in place."""
    for element in root.iter():
        if isinstance(element.tag, str):
            element.tag = local_name(element.tag)
        if any("}" in key for key in element.attrib):
            element.attrib = {local_name(key): value for key, value in element.attrib.items()}


def text_of(element: Element | None, path: str | None = None) -> str | None:
    """Stripped text of `element` (or of its descendant at `path`), None when absent or empty."""
    if element is None:
        return None
    target = element if path is None else element.find(path)
    if target is None or target.text is None:
        return None
    text = target.text.strip()
    return text or None


def require(element: Element, path: str, file: Path, what: str | None = None) -> Element:
    """The descendant at `path` or an `UnreadableFileError` saying which element is missing."""
    found = element.find(path)
    if found is None:
        raise UnreadableFileError(file, f"{what or element.tag} lacks <{path}>")
    return found


def required_number(element: Element, path: str, file: Path) -> float:
    """A finite number from the text at `path`, or an error naming the element."""
    text = text_of(element, path)
    try:
        number = float(text) if text is not None else None
    except ValueError:
        number = None
    if number is None or not np.isfinite(number):
        raise UnreadableFileError(file, f"<{element.tag}/{path}> must be a number, got {text!r}")
    return number


def decode_base64(text: str | None, file: Path, what: str) -> bytes:
    """Strict base64 (whitespace ignored); anything else is an error naming `what`."""
    compact = re.sub(r"\s+", "", text or "")
    if not compact:
        raise UnreadableFileError(file, f"{what} is empty")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as error:
        raise UnreadableFileError(file, f"{what} is not valid base64 ({error})") from error


def parse_integers(text: str | None, file: Path, what: str) -> np.ndarray:
    """int64 [n] from comma- and/or whitespace-separated integers."""
    cells = [cell for cell in re.split(r"[\s,]+", text or "") if cell]
    if not cells:
        raise UnreadableFileError(file, f"{what} holds no samples")
    try:
        return np.asarray([int(cell) for cell in cells], dtype=np.int64)
    except ValueError as error:
        raise UnreadableFileError(file, f"{what} holds a non-integer sample ({error})") from error


def stack_leads(rows: list[np.ndarray], names: list[str], file: Path, what: str) -> np.ndarray:
    """float64 [leads, samples] from per-lead arrays, which must all be equally long."""
    lengths = {len(row) for row in rows}
    if len(lengths) != 1:
        detail = ", ".join(f"{name} {len(row)}" for name, row in zip(names, rows, strict=True))
        raise UnreadableFileError(file, f"{what}: leads differ in length ({detail} samples)")
    return np.stack(rows).astype(np.float64)
