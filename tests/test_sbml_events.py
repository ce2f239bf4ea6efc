"""SBML events through apopsim.engine.sbml_events.simulate_sbml (models loaded with
allow_events): located, not stepped over; agree with libRoadRunner; refused everywhere else."""

from __future__ import annotations

import numpy as np
import pytest

from apopsim.engine import compile_model
from apopsim.engine.sbml_events import simulate_sbml
from apopsim.errors import ModelError
from apopsim.model import load_sbml_text

roadrunner = pytest.importorskip("roadrunner")

EVENTS = """
model ev
  unit time_unit = second
  unit substance = 1e-9 mole
  unit volume = litre
  compartment c = 1;
  species X in c = 1, Y in c = 0;
  k = 1e-3; kick = 5;
  J: X -> Y; k * X;
  E1: at (time > 1800): X = X + kick;
  E2: at (Y > 2): k = k / 2;
end
"""


def _antimony(text: str) -> str:
    import antimony

    antimony.clearPreviousLoads()
    assert antimony.loadAntimonyString(text) >= 0, antimony.getLastError()
    return antimony.getSBMLString(antimony.getMainModuleName())


def test_events_agree_with_roadrunner_in_hours():
    sbml = _antimony(EVENTS)
    model = load_sbml_text(sbml, allow_events=True)
    assert [e.id for e in model.events] == ["E1", "E2"] and model.units.time_per_hour == 3600
    times_h = np.linspace(0, 2, 41)
    got = simulate_sbml(model, times_h)
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.timeCourseSelections = ["time", "[X]", "[Y]", "k"]
    res = rr.simulate(0, 7200, 41)
    np.testing.assert_allclose(got["X"], res[:, 1], rtol=1e-6, atol=1e-9)  # nmol/l = nM
    np.testing.assert_allclose(got["Y"], res[:, 2], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got["k"], res[:, 3], rtol=1e-12)  # parameters stay native
    assert got["k"][-1] == pytest.approx(5e-4)  # E2 fired once


def test_event_at_an_output_time_shows_the_value_after_it():
    model = load_sbml_text(_antimony("""
        model at_output
          species X = 1; J: X -> ; 0;
          E: at (time >= 1): X = 3;
        end
    """), allow_events=True)
    got = simulate_sbml(model, np.array([0.0, 0.5, 1.0, 1.5]))
    np.testing.assert_allclose(got["X"], [1, 1, 3, 3])


def test_model_without_states_runs_its_rules():
    model = load_sbml_text(_antimony("""
        model rules_only
          p := 2 * time + q;
          q = 1;
        end
    """), allow_events=True)
    got = simulate_sbml(model, np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(got["p"], [1, 3, 5])


def test_events_are_refused_unless_asked_for_and_by_the_compiled_engine():
    sbml = _antimony(EVENTS)
    with pytest.raises(ModelError, match="event 'E1'"):
        load_sbml_text(sbml)
    with pytest.raises(ModelError, match="SBML events"):
        compile_model(load_sbml_text(sbml, allow_events=True))
    delayed = _antimony("""
        model delayed
          species X = 1; J: X -> ; 0.1 * X;
          E: at 2 after (time > 1): X = 5;
        end
    """)
    with pytest.raises(ModelError, match="delayed events"):
        load_sbml_text(delayed, allow_events=True)
