"""Converter + Analyzer: 12 leads back from vector PDFs (heartcare's own and matplotlib's)."""

from __future__ import annotations

import numpy as np
import pytest

from heartcare.errors import HeartcareError

pytest.importorskip("pypdf")


@pytest.fixture(scope="module")
def simulated():
    from heartcare.sim.simulate import SimulationSpec, simulate

    return simulate(SimulationSpec(conditions={"normal": 0.0}, age=61, sex="F"), fs=500.0, seconds=10.0, seed=2)


def correlations(recovered, original: np.ndarray) -> dict[str, float]:
    result = {}
    for index, lead in enumerate(recovered.ecg.leads):
        start, stop = recovered.ecg.meta["coverage"][lead]
        samples = np.arange(int(start * 500) + 1, int(stop * 500))
        result[lead] = float(np.corrcoef(recovered.ecg.signal[index, samples], original[index, samples])[0, 1])
    return result


@pytest.mark.parametrize("layout", ["3x4+II", "6x2"])
def test_heartcare_vector_pdf_round_trip(simulated, tmp_path, layout):
    from heartcare.agent.converter import convert_pdf
    from heartcare.render import render

    path = tmp_path / "sheet.pdf"
    render(simulated.ecg, layout, format="pdf", path=path)
    record = convert_pdf(path)
    r = correlations(record, simulated.ecg.signal)
    assert len(r) == 12 and min(r.values()) >= 0.99, r
    assert record.ecg.signal.shape[0] == 12 and record.ecg.fs == 500.0


def test_matplotlib_pdf_with_calibration_pulses(simulated, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from heartcare.agent.converter import convert_pdf

    signal, time = simulated.ecg.signal, np.arange(simulated.ecg.samples) / 500.0
    figure, axis = plt.subplots(figsize=(11, 8.5))
    axis.set_axis_off()
    for index, lead in enumerate(simulated.ecg.leads):
        row, column = index % 6, index // 6
        baseline = -30.0 * row  # 25 mm/s and 10 mm/mV in the plot's own units
        window = (time >= 5 * column) & (time < 5 * column + 5)
        axis.plot(15 + 25 * time[window], baseline + 10 * signal[index, window], lw=0.6, color="k")
        axis.text(15 + 125 * column, baseline + 8, lead)
        if column == 0:  # 1 mV x 0.2 s pulse
            axis.plot([0, 1, 1.0001, 6, 6.0001, 7], [baseline, baseline, baseline + 10, baseline + 10, baseline, baseline], color="k", lw=0.6)
    axis.text(0, 25, "Age 61 Sex F  sinus rhythm")
    path = tmp_path / "matplotlib.pdf"
    figure.savefig(path)
    plt.close(figure)
    record = convert_pdf(path)
    r = correlations(record, signal)
    assert min(r.values()) >= 0.99, r
    assert record.meta["age"] == 61 and record.meta["sex"] == "F" and "SR" in record.labels


def test_pdf_without_pulse_or_a_broken_file_is_a_heartcare_error(tmp_path):
    from heartcare.agent.converter import convert_pdf

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(HeartcareError, match="broken.pdf"):
        convert_pdf(broken)
