import numpy as np
import pytest

from heartcare.ecg.leads import (
    STANDARD_LEADS,
    canonical_lead_name,
    extra_lead_name,
    to_standard_leads,
)
from heartcare.errors import LeadError


@pytest.mark.parametrize(
    ("alias", "name"),
    [("avr", "aVR"), ("AVR", "aVR"), ("aVL", "aVL"), ("MLII", "II"), ("lead I", "I"), ("v6", "V6"), ("C1", "V1"),
     ("V1 ", "V1"), ("v1", "V1"), ("Lead V1", "V1"), ("V-1", "V1"), ("lead_v2", "V2"), ("Lead aVR", "aVR"),
     ("a-VF", "aVF"), ("MDC_ECG_LEAD_AVL", "aVL"), ("MDC_ECG_LEAD_III", "III"), ("ii", "II"), ("DIII", "III")],
)
def test_aliases_map_to_canonical_names(alias: str, name: str) -> None:
    assert canonical_lead_name(alias) == name


def test_unknown_lead_names_the_source() -> None:
    with pytest.raises(LeadError, match=r"rec\.hea: unknown lead name 'X7'"):
        canonical_lead_name("X7", source="rec.hea")


def test_reorders_by_name_not_position() -> None:
    # MIMIC-IV-ECG stores aVF before aVL.
    names = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]
    signal = np.arange(12, dtype=np.float32)[:, None] * np.ones((12, 5), dtype=np.float32)
    result = to_standard_leads(signal, names)
    assert result.signal[STANDARD_LEADS.index("aVL"), 0] == 5
    assert result.signal[STANDARD_LEADS.index("aVF"), 0] == 4
    assert all(result.present)


def test_missing_leads_are_zero_and_masked_and_limb_leads_derived() -> None:
    rng = np.random.default_rng(0)
    lead_i, lead_ii = rng.normal(size=(2, 100)).astype(np.float32)
    result = to_standard_leads(np.stack([lead_i, lead_ii]), ["I", "II"])
    s = dict(zip(STANDARD_LEADS, result.signal, strict=True))
    np.testing.assert_allclose(s["III"], lead_ii - lead_i, atol=1e-6)
    np.testing.assert_allclose(s["aVR"], -(lead_i + lead_ii) / 2, atol=1e-6)
    np.testing.assert_allclose(s["aVL"] + s["aVF"] + s["aVR"], 0, atol=1e-5)
    assert result.derived == ("III", "aVR", "aVL", "aVF")
    assert result.present == (True,) * 6 + (False,) * 6
    assert not s["V3"].any()


def test_duplicate_leads_are_rejected() -> None:
    with pytest.raises(LeadError, match="more than once"):
        to_standard_leads(np.zeros((2, 4), dtype=np.float32), ["avr", "aVR"])


@pytest.mark.parametrize(
    ("label", "name"),
    [("vx", "X"), ("VY", "Y"), ("vz", "Z"), ("X", "X"), ("Frank Z", "Z"), ("V7", "V7"), ("v9", "V9"),
     ("V3R", "V3R"), ("Lead V4R", "V4R"), ("v6r", "V6R"), ("MDC_ECG_LEAD_V5R", "V5R"), ("Resp", "Resp")],
)
def test_extra_leads_get_canonical_names(label: str, name: str) -> None:
    assert extra_lead_name(label) == name


def test_frank_leads_are_extras_not_rejections() -> None:
    names = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6", "vx", "vy", "vz"]
    signal = np.arange(15, dtype=np.float32)[:, None] * np.ones((15, 4), dtype=np.float32)
    result = to_standard_leads(signal, names)
    assert all(result.present) and result.signal[STANDARD_LEADS.index("V6"), 0] == 11
    assert result.extra_names == ("X", "Y", "Z")
    np.testing.assert_array_equal(result.extra_signal[:, 0], [12, 13, 14])


def test_no_standard_lead_raises_naming_the_source() -> None:
    with pytest.raises(LeadError, match=r"rec\.hea: no standard ECG lead among the channels \('vx', 'Resp'\)"):
        to_standard_leads(np.ones((2, 4), dtype=np.float32), ["vx", "Resp"], source="rec.hea")
