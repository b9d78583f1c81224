import numpy as np
import pytest

from heartcare.ecg.leads import STANDARD_LEADS, canonical_lead_name, to_standard_leads
from heartcare.errors import LeadError


@pytest.mark.parametrize(
    ("alias", "name"),
    [("avr", "aVR"), ("AVR", "aVR"), ("aVL", "aVL"), ("MLII", "II"), ("lead I", "I"), ("v6", "V6"), ("C1", "V1")],
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
