"""Routing of XML files through read_ecg, and refusal of unsafe or broken XML."""

import re
from pathlib import Path

import pytest
from test_ecg_xml_fixtures import MUSE_LEADS, distinct_leads, muse_xml

from heartcare.ecg.read import read_ecg
from heartcare.errors import UnreadableFileError, UnsafeFileError

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE RestingECG [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<RestingECG><PatientDemographics><PatientID>&lol3;</PatientID></PatientDemographics></RestingECG>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE RestingECG [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<RestingECG><PatientDemographics><PatientID>&secret;</PatientID></PatientDemographics></RestingECG>
"""


def muse_text() -> str:
    leads = distinct_leads()
    return muse_xml({name: leads[name] for name in MUSE_LEADS})


@pytest.mark.parametrize(("text", "name"), [(BILLION_LAUGHS, "laughs.xml"), (EXTERNAL_ENTITY, "xxe.xml")])
def test_entity_attacks_are_refused_naming_the_file(tmp_path: Path, text: str, name: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UnsafeFileError, match=re.escape(name) + ": refused: the XML declares entities"):
        read_ecg(path)


def test_truncated_xml_is_reported(tmp_path: Path) -> None:
    text = muse_text()
    path = tmp_path / "cut.xml"
    path.write_text(text[: len(text) // 2], encoding="latin-1")
    with pytest.raises(UnreadableFileError, match=r"cut\.xml: not well-formed XML, truncated or corrupt"):
        read_ecg(path)


def test_unknown_root_element_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_text("<?xml version='1.0'?><html><body>ECG</body></html>")
    with pytest.raises(UnreadableFileError, match=r"page\.xml: XML root <html> is not an ECG format .*<RestingECG> \(GE MUSE\)"):
        read_ecg(path)


def test_xml_without_extension_is_found_by_content(tmp_path: Path) -> None:
    path = tmp_path / "EXPORT0001"
    path.write_text(muse_text(), encoding="latin-1")
    assert read_ecg(path).meta["source"] == "muse"


def test_utf16_xml_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wide"
    path.write_text(muse_text().replace("ISO-8859-1", "utf-16"), encoding="utf-16")
    assert read_ecg(path).meta["source"] == "muse"
