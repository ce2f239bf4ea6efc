"""SBML units: models declared in seconds / minutes / molecules / moles are converted at load to
hours and nM, exactly: apopsim's trajectories on the converted model agree with libRoadRunner on
the original file once roadrunner's outputs are converted the same way."""

from __future__ import annotations

import numpy as np
import pytest

import apopsim
from apopsim.sbml_units import AVOGADRO_SI

roadrunner = pytest.importorskip("roadrunner")

OFF = apopsim.PreequilibrationOptions(enabled=False)

# seconds, mol, litre: a reversible binding, a synthesis that depends on time, a rule and a
# rate rule (the SBML Test Suite's usual units)
SECONDS_MOLE = """
model sec_mole
  unit time_unit = second
  unit substance = mole
  unit volume = litre
  compartment cell = 2e-12;
  species A in cell = 1e-9, B in cell = 0, C in cell = 0;
  kon = 1e6; koff = 1e-3; ksyn = 1e-24; kdeg = 1e-4; w = 1e-4;
  total := A + C;
  clock = 0;
  clock' = w * A * 1e9;
  bind: A + B -> C; cell * (kon * A * B - koff * C);
  make: -> B; ksyn * (1 + sin(w * time));
  loss: C -> ; cell * kdeg * C;
end
"""

# minutes, molecules (items), picolitres: Albeck-style molecule counts
MINUTES_ITEMS = """
model min_items
  unit time_unit = 60 second
  unit substance = item
  unit volume = 1e-12 litre
  compartment cyto = 1.661;
  species L in cyto = 3000, R in cyto = 200, LR in cyto = 0, X in cyto = 1e5;
  species Xs in cyto = 0;
  unit per_min = 1 / (60 second)
  kf = 4e-7; kr = 1e-3; kc = 0.01;
  kr has per_min;
  bind: L + R -> LR; cyto * (kf * L * R - kr * LR);
  cut: X -> Xs; cyto * kc * LR * X / (X + 1e4);
  back: LR -> R; kc * LR * cyto;
end
"""


def _roadrunner_native(model: apopsim.Model, times_native: np.ndarray) -> dict[str, np.ndarray]:
    rr = roadrunner.RoadRunner(model.sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-20
    names = [s for s in model.state if s in model.species_compartment]
    rr.timeCourseSelections = ["time"] + [f"[{s}]" for s in names]
    res = rr.simulate(float(times_native[0]), float(times_native[-1]), len(times_native))
    return {s: np.asarray(res[:, i + 1]) for i, s in enumerate(names)}


@pytest.mark.parametrize("text, time_per_hour, nM_factor", [
    (SECONDS_MOLE, 3600.0, 1e9),
    (MINUTES_ITEMS, 60.0, 1e9 / (AVOGADRO_SI * 1e-12)),
])
def test_converted_model_agrees_with_roadrunner_on_the_original(write_model, text,
                                                                time_per_hour, nM_factor):
    model = apopsim.load_model(write_model(text))
    u = model.units
    assert u.declared_time and u.declared_substance and not u.assumed and u.converted
    assert u.time_per_hour == pytest.approx(time_per_hour)
    assert list(u.nM_per_native.values()) == pytest.approx([nM_factor] * len(u.nM_per_native))
    times_h = np.linspace(0, 3, 13)
    traj = apopsim.simulate(model, times_h, preequilibration=OFF, rtol=1e-10, atol=1e-12)
    ref = _roadrunner_native(model, times_h * time_per_hour)
    for s, native in ref.items():
        np.testing.assert_allclose(traj[s], native * nM_factor, rtol=2e-6,
                                   atol=1e-9 * np.abs(native * nM_factor).max() + 1e-12,
                                   err_msg=s)
    assert np.ptp(traj[next(iter(ref))]) > 0  # something happens in 3 h


def test_time_conversion_is_exact_for_rate_rules_and_time_in_math(write_model):
    model = apopsim.load_model(write_model(SECONDS_MOLE))
    times_h = np.array([0.0, 0.5, 1.0])
    traj = apopsim.simulate(model, times_h, preequilibration=OFF, rtol=1e-10, atol=1e-12)
    ref = _roadrunner_native(model, times_h * 3600)
    # clock' = w * A[M] * 1e9 per second; in hours: 3600 x the native integral
    rr = roadrunner.RoadRunner(model.sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-20
    rr.timeCourseSelections = ["time", "clock", "total"]
    res = rr.simulate(0, 3600, 3)
    np.testing.assert_allclose(traj["clock"], res[:, 1], rtol=1e-6)
    # total := A + C is a parameter: parameters and their rules keep the model's units (M)
    np.testing.assert_allclose(traj["total"], res[:, 2], rtol=1e-6)
    assert ref  # species checked in the test above


def test_model_without_units_is_taken_as_hours_and_nM_and_says_so(write_model):
    model = apopsim.load_model(write_model("""
        model plain
          species A = 2; A -> ; k * A; k = 0.1;
        end
    """))
    u = model.units
    assert u.assumed and not u.converted and u.time_per_hour == 1.0
    assert "no units declared" in u.describe()
    assert model.initial_concentrations()["A"] == 2.0
    info = u.to_dict()
    assert info["assumed_hours_nM"] is True and info["converted"] is False


def test_units_recorded_with_parameter_units_and_round_trip(write_model):
    model = apopsim.load_model(write_model(MINUTES_ITEMS))
    info = model.units.to_dict()
    assert info["parameter_units"]["kr"].startswith("per_min")  # parameters stay native
    assert info["time"].startswith("time_unit") and info["time_per_hour"] == 60.0
    assert "converted to hours and nM" in model.units.describe()
    # Antimony's "L = 3000" is a concentration: 3000 molecules per pl = 4.98 nM
    assert model.initial_concentrations()["L"] == pytest.approx(
        3000 / AVOGADRO_SI / 1e-12 * 1e9)
    # nM overrides mean nM; exported SBML goes back to the model's own units (molecules)
    again = apopsim.model.load_sbml_text(model.with_overrides(initial_nM={"R": 1.0}).to_sbml())
    assert again.initial_concentrations()["R"] == pytest.approx(1.0)
    assert again.initial_concentrations()["L"] == pytest.approx(
        model.initial_concentrations()["L"])


def test_units_can_be_left_native(write_model):
    path = write_model(SECONDS_MOLE)
    sbml = apopsim.load_model(path).sbml
    native = apopsim.model.load_sbml_text(sbml, convert_units=False)
    assert not native.units.converted and native.initial_concentrations()["A"] == 1e-9
