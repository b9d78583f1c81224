"""Beat's input contract: shapes, lead counts, masks and NaN refused with messages that say what was wrong;
fewer leads than the model's are the first ones, zero-filled and masked. (Kills the input-check mutants
that survived `make mutate` on heartcare/beat/model.py.)"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from heartcare.beat.config import preset  # noqa: E402
from heartcare.beat.model import build_beat  # noqa: E402
from heartcare.errors import InvalidSignalError  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_beat(preset("tiny")).eval()


@pytest.mark.parametrize(("shape", "message"), [
    ((4,), "expected [leads, samples] or [batch, leads, samples], got shape (4,)"),
    ((1, 1, 12, 10), "expected [leads, samples] or [batch, leads, samples], got shape (1, 1, 12, 10)"),
    ((13, 100), "got 13 leads x 100 samples; the model takes 1-12 leads and at least 1 sample"),
    ((0, 100), "got 0 leads x 100 samples; the model takes 1-12 leads and at least 1 sample"),
    ((12, 0), "got 12 leads x 0 samples; the model takes 1-12 leads and at least 1 sample"),
])
def test_bad_shapes_are_refused_saying_what_was_expected(model, shape, message):
    with pytest.raises(InvalidSignalError) as caught:
        model.encode(np.zeros(shape, np.float32))
    assert caught.value.source == "Beat input" and caught.value.problem == message


def test_nan_is_refused_and_one_sample_is_enough(model):
    signal = np.zeros((12, 100), np.float32)
    signal[3, 7] = np.nan
    with pytest.raises(InvalidSignalError) as caught:
        model.encode(signal)
    assert caught.value.source == "Beat input" and caught.value.problem == "signal contains NaN or infinite values"
    assert model.encode(np.ones((12, 1), np.float32)).windows == 1


def test_a_mask_of_the_wrong_length_is_refused(model):
    with pytest.raises(InvalidSignalError) as caught:
        model.encode(np.zeros((12, 100), np.float32), lead_mask=np.ones(5, bool))
    assert caught.value.source == "Beat input" and caught.value.problem == "lead_mask has 5 entries for 12 leads"


def test_fewer_leads_are_the_first_ones_zero_filled_and_masked(model):
    generator = np.random.default_rng(0)
    six = generator.normal(size=(6, 1000)).astype(np.float32)
    padded = np.concatenate([six, np.zeros((6, 1000), np.float32)])
    mask = np.array([True] * 6 + [False] * 6)
    from_six = model.encode(six)
    from_padded = model.encode(padded, lead_mask=mask)
    assert torch.equal(from_six.codes, from_padded.codes)
    # A masked lead carries nothing: junk in it changes no code.
    junk = padded.copy()
    junk[8] = 50.0
    assert torch.equal(model.encode(junk, lead_mask=mask).codes, from_six.codes)
    # Unmasked, the same junk is read.
    assert not torch.equal(model.encode(junk).codes, from_six.codes)


def test_a_mask_with_one_entry_per_given_lead_masks_those_leads(model):
    signal = np.random.default_rng(1).normal(size=(12, 1000)).astype(np.float32)
    mask = np.ones(12, bool)
    mask[2] = False
    cleared = signal.copy()
    cleared[2] = 0.0
    assert torch.equal(model.encode(signal, lead_mask=mask).codes, model.encode(cleared, lead_mask=mask).codes)


@pytest.mark.parametrize("shape", [(2, 11, None), (2, 12, -1), (12, None)])
def test_loss_terms_refuse_batches_of_the_wrong_shape(model, shape):
    config = model.config
    length = config.context + config.horizon
    size = tuple(length + (dimension or 0) if dimension is None or dimension < 0 else dimension for dimension in shape)
    with pytest.raises(InvalidSignalError) as caught:
        model.loss_terms({"signal": torch.zeros(size)})
    assert caught.value.source == "Beat batch"
    assert caught.value.problem == f"expected signal [B, 12, {length}], got {size}"


def test_loss_terms_without_a_mask_equal_an_all_present_mask(model):
    config = model.config
    signal = torch.randn(3, 12, config.context + config.horizon, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    plain = model.loss_terms({"signal": signal})
    torch.manual_seed(0)
    masked = model.loss_terms({"signal": signal, "lead_mask": torch.ones(3, 12, dtype=torch.bool)})
    for name in plain:
        assert torch.allclose(plain[name], masked[name]), name
