"""Labelled 12-lead ECG simulator and the simulated PTB-XL-layout cohort.

`simulate(SimulationSpec(conditions={"left_bundle_branch_block": 0.5}), fs=500)` draws
one record from a 3-D dipole model (`dipole.py`) shaped by conditions
(`conditions.py`) with beat timing from `rhythm.py` and electrode noise from
`noise.py`; `build_cohort(n, out)` writes a folder that reads like PTB-XL.
"""

from heartcare.sim.conditions import CONDITIONS, Condition
from heartcare.sim.noise import NoiseSpec
from heartcare.sim.simulate import GroundTruth, SimulatedEcg, SimulationSpec, simulate

__all__ = [
    "CONDITIONS",
    "Condition",
    "GroundTruth",
    "NoiseSpec",
    "SimulatedEcg",
    "SimulationSpec",
    "build_cohort",
    "simulate",
]


def __getattr__(name: str):
    # The cohort writer pulls in wfdb and rich; load it only when asked for.
    if name == "build_cohort":
        from heartcare.sim.cohort import build_cohort

        return build_cohort
    raise AttributeError(name)
