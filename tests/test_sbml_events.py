"""SBML events through apopsim.engine.sbml_events.simulate_sbml (models loaded with
allow_events): located, not stepped over; agree with libRoadRunner; refused everywhere else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apopsim.engine import compile_model
from apopsim.engine.sbml_events import simulate_sbml
from apopsim.errors import ModelError
from apopsim.model import load_sbml_text

roadrunner = pytest.importorskip("roadrunner")

EVENTS = (Path(__file__).parent / "data" / "events_ev.ant").read_text()


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
    dde = _antimony("""
        model dde
          species X = 1; J: X -> ; 0.1 * delay(X, 1);
        end
    """)
    with pytest.raises(ModelError, match="delay is not supported"):
        load_sbml_text(dde, allow_events=True)


def test_delayed_event_executes_its_delay_after_the_trigger_in_hours():
    """Delay in seconds (the model's unit): the execution lands exactly on the output time
    1 h; libRoadRunner agrees."""
    sbml = _antimony("""
        model delayed
          unit time_unit = second
          unit substance = 1e-9 mole
          unit volume = litre
          compartment c = 1;
          species X in c = 1; J: X -> ; 1e-4 * X;
          E: at 1800 after (time > 1800): X = X + 5;
        end
    """)
    model = load_sbml_text(sbml, allow_events=True)
    times_h = np.linspace(0, 1.5, 7)  # 0.25 h apart: the trigger at 0.5 h, execution at 1 h
    got = simulate_sbml(model, times_h)
    x_trigger = np.exp(-1e-4 * 1800)  # X + 5 evaluated at the trigger (fromTrigger default)
    assert got["X"][4] == pytest.approx(x_trigger + 5, rel=1e-8)  # t = 1 h: after it
    assert got["X"][3] == pytest.approx(np.exp(-1e-4 * 2700), rel=1e-8)  # before it
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.timeCourseSelections = ["time", "[X]"]
    res = rr.simulate(0, 5400, 7)
    keep = np.arange(7) != 4  # at the execution time itself libRoadRunner reports before it
    np.testing.assert_allclose(got["X"][keep], res[keep, 1], rtol=1e-6)


def test_delayed_executions_queue_cancel_and_take_values_when_told():
    """One event queued twice (trigger true, false, true again within the delay); a
    non-persistent event whose trigger turns false before its execution is cancelled, a
    persistent one is not, even when the trigger's window is narrower than a solver step."""
    model = load_sbml_text(_antimony("""
        model queue
          species X = 0; J: -> X; 1;
          n = 0; at_exec = 0; at_trig = 0; kept = 0; dropped = 0;
          A: at 1 after ((time > 0.5 && time < 0.7) || time > 0.9), fromTrigger=false:
             n = n + 1, at_exec = time;
          B: at 1 after ((time > 0.5 && time < 0.7) || time > 0.9): at_trig = time;
          P: at 2 after (X > 3 && X < 3.5): kept = 1;
          Q: at 2 after (X > 3 && X < 3.5), persistent=false: dropped = 1;
        end
    """), allow_events=True)
    got = simulate_sbml(model, np.array([0.0, 1.4, 1.5, 1.8, 1.9, 6.0]))
    np.testing.assert_allclose(got["n"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(got["at_exec"], [0, 0, 1.5, 1.5, 1.9, 1.9], rtol=1e-9)
    np.testing.assert_allclose(got["at_trig"], [0, 0, 0.5, 0.5, 0.9, 0.9], rtol=1e-9)
    assert got["kept"][-1] == 1 and got["dropped"][-1] == 0


@pytest.mark.parametrize("pa, pb, last", [(2, 1, 2), (1, 2, 1)])
def test_delayed_executions_due_together_run_by_priority(pa, pb, last):
    model = load_sbml_text(_antimony(f"""
        model prio
          x = 0;
          A: at 1 after (time > 1), priority={pa}: x = 1;
          B: at 0.5 after (time > 1.5), priority={pb}: x = 2;
        end
    """), allow_events=True)
    got = simulate_sbml(model, np.array([0.0, 2.0, 3.0]))
    np.testing.assert_allclose(got["x"], [0, last, last])


def test_compilation_is_cached_on_structure_and_values_are_read_each_call():
    from dataclasses import replace

    from apopsim.engine import sbml_events

    model = load_sbml_text(_antimony(EVENTS), allow_events=True)
    other = replace(model, parameters={**model.parameters, "kick": 10.0},
                    initial=model.initial * 2)
    assert sbml_events._compile(model) is sbml_events._compile(other)
    times = np.array([0.0, 1.0])
    a, b = simulate_sbml(model, times), simulate_sbml(other, times)
    assert b["X"][0] == pytest.approx(2 * a["X"][0])
    assert b["X"][-1] > a["X"][-1] + 1  # the larger kick
