"""XML ECG files: pick the cart format from the root element and decode it.

One parse, then a plain dict from root element name to reader. Every reader takes the
namespace-free root and the path and returns a `RawRecording`, which `to_ecg` turns
into the canonical 12-lead `Ecg` like any other format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import Element

from heartcare.ecg.raw import RawRecording
from heartcare.ecg.xml_cardiosoft import read_cardiosoft
from heartcare.ecg.xml_document import parse_xml
from heartcare.ecg.xml_hl7 import read_hl7
from heartcare.ecg.xml_muse import read_muse
from heartcare.ecg.xml_philips import read_philips
from heartcare.errors import UnreadableFileError

XmlReader = Callable[[Element, Path], RawRecording]

# Root element -> (reader, meta["source"], what the format is called).
XML_READERS: dict[str, tuple[XmlReader, str, str]] = {
    "RestingECG": (read_muse, "muse", "GE MUSE"),
    "CardiologyXML": (read_cardiosoft, "cardiosoft", "GE CardioSoft"),
    "restingecgdata": (read_philips, "philips", "Philips PageWriter/TraceMaster"),
    "AnnotatedECG": (read_hl7, "hl7-aecg", "HL7 aECG"),
}


def read_xml(path: Path) -> RawRecording:
    """Decode one XML ECG file of any format in `XML_READERS`."""
    root = parse_xml(path)
    if root.tag not in XML_READERS:
        known = ", ".join(f"<{tag}> ({label})" for tag, (_, _, label) in XML_READERS.items())
        raise UnreadableFileError(path, f"XML root <{root.tag}> is not an ECG format heartcare reads; expected {known}")
    reader, source, _ = XML_READERS[root.tag]
    raw = reader(root, path)
    raw.source = source
    return raw
