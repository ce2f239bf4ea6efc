"""Engine: scipy vs libRoadRunner, solvers, pre-equilibration, schedules, non-negativity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import apopsim
from apopsim.errors import PreequilibrationError

TIMES = np.arange(0, 72.01, 0.5)
FIXTURE = Path(__file__).parent / "data" / "engine_fixture.ant"
NO_PRE = apopsim.PreequilibrationOptions(enabled=False)


@pytest.fixture(scope="module")
def aml():
    return apopsim.load_model(FIXTURE)


def _scaled_diff(a: apopsim.Trajectory, b: apopsim.Trajectory) -> np.ndarray:
    """Max |a - b| of each variable divided by that variable's scale (max |a|)."""
    scale = np.maximum(np.abs(a.values).max(axis=0), 1e-9)
    return np.abs(a.values - b.values).max(axis=0) / scale


@pytest.mark.parametrize("doses", [{}, {"hht": 50}, {"lisaftoclax": 100, "hht": 50}])
def test_scipy_and_roadrunner_agree(aml, doses):
    kw = dict(rtol=1e-8, atol=1e-10)
    a = apopsim.simulate(aml, TIMES, doses, engine="scipy", **kw)
    b = apopsim.simulate(aml, TIMES, doses, engine="roadrunner", **kw)
    assert a.names == b.names
    worst = _scaled_diff(a, b)
    assert worst.max() <= 1e-4, dict(zip(a.names, worst))


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_stiff_methods_agree_with_lsoda(aml, method):
    kw = dict(rtol=1e-8, atol=1e-10)
    a = apopsim.simulate(aml, TIMES, {"hht": 50}, **kw)
    b = apopsim.simulate(aml, TIMES, {"hht": 50}, method=method, **kw)
    assert _scaled_diff(a, b).max() <= 1e-4


def test_preequilibration_reaches_steady_state_and_doses_differ(aml):
    untreated = apopsim.simulate(aml, TIMES, {})
    # steady state: nothing moves without drug
    drift = np.abs(untreated.values[-1] - untreated.values[0]) / np.maximum(
        np.abs(untreated.values[0]), 1e-9)
    assert drift.max() < 1e-3
    outs = [apopsim.simulate(aml, TIMES, {"hht": d})["MCL1_total"][-1] for d in (0, 5, 20, 80)]
    assert np.all(np.diff(outs) < -1e-3), outs  # more HHT, less MCL-1: doses are not ignored


def test_preequilibration_failure_is_reported(write_model):
    m = apopsim.load_model(write_model("""
    model grow()
      A = 1; k = 0.1;
      r: -> A; k * A;
    end
    """))
    with pytest.raises(PreequilibrationError, match="did not reach steady state"):
        apopsim.simulate(m, [0, 1], preequilibration=apopsim.PreequilibrationOptions(max_h=100))


def test_schedule_addition_and_washout(aml):
    times = np.arange(0, 48.01, 0.25)
    control = apopsim.simulate(aml, times, {})
    # add HHT at 5.3 h (not an output time): before it the cell is the control cell exactly
    late = apopsim.simulate(aml, times, {}, schedule=[(5.3, {"hht": 50}), (20.0, {"hht": 0})])
    before = times < 5.3
    np.testing.assert_allclose(late["MCL1_total"][before], control["MCL1_total"][before],
                               rtol=1e-9)
    i = np.searchsorted(times, 7.3)
    assert late["MCL1_total"][i] < 0.5 * control["MCL1_total"][i]
    # after washout at 20 h MCL-1 recovers towards the untreated level (half-life < 1 h)
    assert late["MCL1_total"][-1] == pytest.approx(control["MCL1_total"][-1], rel=0.05)


def test_event_is_never_stepped_over(aml):
    """A brief pulse between two output times still acts (piecewise integration)."""
    times = np.array([0.0, 10.0, 20.0])
    pulse = apopsim.simulate(aml, times, {}, schedule=[(4.0, {"hht": 1000}), (4.5, {"hht": 0})])
    fine = apopsim.simulate(aml, np.arange(0, 20.01, 0.05), {},
                            schedule=[(4.0, {"hht": 1000}), (4.5, {"hht": 0})])
    assert pulse["MCL1_total"][1] == pytest.approx(fine["MCL1_total"][200], rel=1e-5)


def test_non_negativity(aml):
    for doses in ({"hht": 1000}, {"lisaftoclax": 1000, "hht": 1000}):
        tr = apopsim.simulate(aml, TIMES, doses)
        scale = np.maximum(np.abs(tr.values).max(axis=0), 1e-12)
        assert (tr.values / scale).min() >= -1e-9


def test_unknown_drug_is_rejected(aml):
    with pytest.raises(apopsim.ModelError, match="no input for drug"):
        apopsim.simulate(aml, TIMES, {"venetoclaxx": 1})


def test_dataframe(aml):
    df = apopsim.simulate(aml, [0, 1, 2], {"APG-2575": 10}).to_dataframe()
    assert list(df.columns[:2]) == ["time_h", aml.state[0]]
    assert "cleaved_PARP_fraction" in df.columns
    assert len(df) == 3


def _preequilibrated_cell():
    """The nominal flagship cell (bcl2_core, aml_mcl1_dependent) at its untreated steady state:
    compiled model, an LSODA back end (rtol 1e-8, atol 1e-10 nM) and the state."""
    from apopsim.cell import untreated_parameters
    from apopsim.engine import SolverOptions, compile_model, make_integrator, preequilibrate

    m = apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")
    cm = compile_model(m)
    so = SolverOptions(rtol=1e-8, atol=1e-10)
    y0, _ = preequilibrate(cm, so, m.initial, cm.param_vector(untreated_parameters(m)))
    integ = make_integrator(cm, so)
    return cm, integ, y0


def test_crossing_time_is_independent_of_output_spacing_and_freezing():
    """The death time is located on a fine grid, so coarse outputs and freezing do not move it."""
    from apopsim.engine import ThresholdEvent, integrate_segments

    cm, integ, y0 = _preequilibrated_cell()
    doses = {"lisaftoclax": 100.0, "hht": 200.0}  # kills the nominal cell within 24 h
    fine = integrate_segments(cm, integ, y0, doses, [], np.arange(0, 24.001, 0.005))
    f = fine["cleaved_PARP_fraction"]
    assert f.max() > 0.5  # the cell does die: the test is not vacuous
    i = int(np.argmax(f > 0.5))
    truth = fine.times_h[i - 1] + (0.5 - f[i - 1]) * 0.005 / (f[i] - f[i - 1])
    record = ThresholdEvent("cleaved_PARP_fraction", 0.5, after="continue")
    frozen = ThresholdEvent("cleaved_PARP_fraction", 0.5, after="freeze")
    for step in (0.5, 2.0, 6.0):
        times = np.arange(0, 24.001, step)
        for event in (record, frozen):
            tr = integrate_segments(cm, integ, y0, doses, [], times, event=event)
            assert tr.meta["crossing_h"] == pytest.approx(truth, abs=0.01), (step, event)
    # frozen after death: the marker creeps towards 1.2 x threshold and the state barely moves
    # (the switch goes smoothly to 0 there), unlike the unfrozen cell
    times = np.arange(0, 24.001, 0.5)
    tr = integrate_segments(cm, integ, y0, doses, [], times, event=frozen)
    free = integrate_segments(cm, integ, y0, doses, [], times)
    late = times > truth + 2
    assert np.all((tr["cleaved_PARP_fraction"][late] > 0.55)
                  & (tr["cleaved_PARP_fraction"][late] < 0.6))
    drift = np.abs(tr.values[late] - tr.values[late][0]).max(axis=0)
    free_drift = np.abs(free.values[late] - free.values[late][0]).max(axis=0)
    assert np.all(drift <= 1e-2 * np.abs(tr.values[late][0]) + 1e-9)
    # the unfrozen cell commits (absorbing death stops its synthesis) but its caspases keep
    # working: it still moves >10x more than the frozen one (29 vs 0.9 nM; bcl2_core K_commit 0.5)
    assert free_drift.max() > 10 * drift.max()


def test_engines_agree_through_the_apoptotic_switch():
    """The largest-class model (intrinsic + extrinsic), HeLa-like cell dying under TRAIL."""
    m = apopsim.load_model("intrinsic_extrinsic", context="hela")
    kw = dict(rtol=1e-8, atol=1e-10)
    a = apopsim.simulate(m, TIMES, {"trail": 0.8}, **kw)
    b = apopsim.simulate(m, TIMES, {"trail": 0.8}, engine="roadrunner", **kw)
    assert a["cleaved_PARP_fraction"].max() > 0.5  # the cell does switch
    assert _scaled_diff(a, b).max() <= 1e-4


def test_threshold_event_directions_and_stop():
    """A falling event fires when its variable drops below the threshold; ``stop`` holds the
    state of the crossing time; a freeze band in the event's direction is required."""
    from apopsim.engine import ThresholdEvent, integrate_segments

    cm, integ, y0 = _preequilibrated_cell()
    doses = {"lisaftoclax": 100.0, "hht": 50.0}
    times = np.arange(0, 24.001, 0.5)
    free = integrate_segments(cm, integ, y0, doses, [], times)
    mcl1 = free["MCL1_total"]
    level = 0.5 * mcl1[0]  # HHT halves total MCL-1 within hours
    i = int(np.argmax(mcl1 < level))
    assert 0 < i < len(times) - 1
    down = ThresholdEvent("MCL1_total", level, direction="down", after="continue")
    tr = integrate_segments(cm, integ, y0, doses, [], times, event=down)
    assert times[i - 1] < tr.meta["crossing_h"] <= times[i]
    assert np.array_equal(tr.values, free.values)  # "continue" changes nothing
    stop = ThresholdEvent("MCL1_total", level, direction="down", after="stop")
    held = integrate_segments(cm, integ, y0, doses, [], times, event=stop)
    assert held["MCL1_total"][i:] == pytest.approx(level, rel=1e-3)  # held at the crossing
    assert np.array_equal(held.values[:i], free.values[:i])
    frozen = integrate_segments(cm, integ, y0, doses, [], times,
                                event=ThresholdEvent("MCL1_total", level, "down", "freeze",
                                                     (0.9, 0.8)))
    late = frozen["MCL1_total"][times > tr.meta["crossing_h"] + 3]
    assert np.all((late < 0.9 * level) & (late > 0.79 * level))  # frozen inside the band
    with pytest.raises(ValueError, match="freeze_band"):
        ThresholdEvent("x", 1.0, direction="down", freeze_band=(1.1, 1.2))
    with pytest.raises(ValueError, match="finite"):
        ThresholdEvent("x", float("nan"))


def test_backends_come_from_a_registry():
    from apopsim.engine import SolverOptions, backend_names, get_backend

    assert {"scipy", "roadrunner"} <= set(backend_names())
    assert SolverOptions().method == "LSODA"
    assert SolverOptions(engine="roadrunner").method == "CVODE"
    assert get_backend("scipy").retry_options(SolverOptions(rtol=1e-6)).method == "BDF"
    with pytest.raises(ValueError, match="known engines: scipy, roadrunner"):
        SolverOptions(engine="nope")
    with pytest.raises(ValueError, match="no method 'RK45'"):
        SolverOptions(method="RK45")


def test_preequilibration_of_an_oscillator_fails_fast_and_says_why():
    """A limit cycle has no steady state to reach: the error comes within seconds and names
    oscillation (before: windows doubled to 40,960 h and the BDF fallback ran for minutes)."""
    import time

    from apopsim.errors import PreequilibrationError

    model = apopsim.load_model(Path(__file__).parent / "data" / "oscillator.ant")
    start = time.perf_counter()
    with pytest.raises(PreequilibrationError, match=r"did not settle \(oscillation\?\)"):
        apopsim.simulate(model, [0.0, 1.0])
    assert time.perf_counter() - start < 30
    tr = apopsim.simulate(model, np.linspace(0, 20, 201), preequilibration=apopsim
                          .PreequilibrationOptions(enabled=False))
    assert np.ptp(tr["X"][100:]) > 1.0  # it does oscillate


def test_solve_ivp_methods_have_a_work_bound():
    from apopsim.engine import SolverOptions, compile_model, make_integrator
    from apopsim.errors import SimulationError

    model = apopsim.load_model(Path(__file__).parent / "data" / "oscillator.ant")
    cm = compile_model(model)
    integ = make_integrator(cm, SolverOptions(method="BDF", max_steps=5))
    with pytest.raises(SimulationError, match="excess work"):
        integ.integrate(model.initial, cm.param_vector(), np.linspace(0, 1000, 3))


def test_numba_engine_is_listed_but_loaded_only_when_used():
    """``apopsim.engine`` does not import the numba back end (numba's parallel machinery) until
    an engine "numba" is asked for; ``backend_names()`` lists it all the same."""
    import subprocess
    import sys

    code = ("import sys, apopsim.engine as e\n"
            "assert 'numba' in e.backend_names(), e.backend_names()\n"
            "assert 'apopsim.engine.stiff' not in sys.modules\n"
            "assert e.get_backend('numba').name == 'numba'\n"
            "assert 'apopsim.engine.stiff' in sys.modules\n"
            "assert e.backend_names().count('numba') == 1\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _three_cells(model):
    """The compiled model, and untreated parameter vectors of three different cells."""
    from apopsim.cell import untreated_parameters
    from apopsim.engine import compile_model

    cm = compile_model(model)
    base = cm.param_vector(untreated_parameters(model))
    ksyn = [i for i, k in enumerate(cm.param_names) if k.startswith("ksyn_")]
    ps = np.array([base] * 3)
    ps[1, ksyn] *= 0.8
    ps[2, ksyn] *= 1.25
    return cm, ps


@pytest.fixture(scope="module")
def bcl2_core():
    """The built-in bcl2_core (its numba kernel is shared with test_stiff.py)."""
    return apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")


@pytest.mark.parametrize("engine", ["scipy", "numba"])
def test_batched_preequilibration_matches_one_cell_at_a_time(bcl2_core, engine):
    """``preequilibrate_many`` gives each cell what ``preequilibrate`` gives it alone (exactly
    on scipy, which integrates cell by cell; to rounding on numba's threads)."""
    from apopsim.engine import SolverOptions, preequilibrate, preequilibrate_many

    cm, ps = _three_cells(bcl2_core)
    so = SolverOptions(engine=engine)
    y0s = np.array([bcl2_core.initial] * 3)
    ys, hours, errors = preequilibrate_many(cm, so, y0s, ps)
    assert errors == [None] * 3
    for c in range(3):
        y, h = preequilibrate(cm, so, y0s[c], ps[c])
        np.testing.assert_allclose(ys[c], y, rtol=1e-12, atol=1e-15)
        assert hours[c] == h


@pytest.mark.parametrize("engine", ["scipy", "numba"])
def test_batched_segments_match_one_cell_at_a_time(bcl2_core, engine):
    """``integrate_segments_many`` (one solver call per segment for all cells) gives each cell
    its ``integrate_segments`` result: schedule, frozen death, and a failed cell reported as
    its message, not raised."""
    from apopsim.engine import (
        SolverOptions,
        ThresholdEvent,
        integrate_segments,
        integrate_segments_many,
        make_integrator,
        preequilibrate_many,
    )

    cm, ps = _three_cells(bcl2_core)
    so = SolverOptions(engine=engine, rtol=1e-8, atol=1e-10)
    y0s, _, _ = preequilibrate_many(cm, so, np.array([bcl2_core.initial] * 3), ps)
    doses = {"lisaftoclax": 100.0, "hht": 200.0}
    values = [{**dict(zip(cm.param_names, p)), **doses} for p in ps]
    sched = [(24.0, {"hht": 0.0})]
    event = ThresholdEvent("cleaved_PARP_fraction", 0.5, after="freeze")
    integ = make_integrator(cm, so)
    many = integrate_segments_many(cm, integ, y0s, values, sched, TIMES, event=event)
    for c in range(3):
        one = integrate_segments(cm, integ, y0s[c], values[c], sched, TIMES, event=event)
        np.testing.assert_allclose(many[c].values, one.values, rtol=1e-12, atol=1e-15)
        assert many[c].meta["crossing_h"] == pytest.approx(one.meta["crossing_h"], abs=1e-9)
    assert any(np.isfinite(t.meta["crossing_h"]) for t in many)  # a cell dies
    failing = make_integrator(cm, SolverOptions(engine=engine, method=None, max_steps=1))
    out = integrate_segments_many(cm, failing, y0s, values, sched, TIMES, event=event)
    assert all(isinstance(r, str) and "failed" in r for r in out)


def test_engine_auto_rule_picks_numba_only_when_the_work_repays_its_compile(aml):
    """``engine: auto``: numba once the CPU it saves (cell-runs x states) repays compiling its
    kernel; scipy below, whether or not the kernel is cached (reproducible choice); a named
    engine is kept and every choice says why. No numba kernel is compiled here."""
    from dataclasses import replace

    from apopsim.engine import SolverOptions, compile_model
    from apopsim.engine import auto as a

    cm = compile_model(aml)
    n = len(aml.state)
    opts = SolverOptions(engine="auto", rtol=1e-8, atol=1e-10)
    assert opts.method is None
    per_run = n * a.NUMBA_SAVING_S_PER_STATE_RUN  # CPU saved per cell-run (s)
    cold = a.NUMBA_COMPILE_S_PER_STATE * n / per_run  # break-even, empty cache
    for runs, engine in [(int(0.9 * cold), "scipy"), (int(1.1 * cold), "numba"), (10, "scipy")]:
        choice = a.choose_engine(cm, opts, runs)
        assert choice.solver.engine == engine, (runs, choice.reason)
        assert choice.reason.startswith(f"engine auto: {engine}, because")
        assert f"{runs} cell-runs" in choice.reason
        assert (choice.solver.rtol, choice.solver.atol) == (1e-8, 1e-10)
        assert choice.solver.method == {"scipy": "LSODA", "numba": "rodas4"}[engine]
    named = a.choose_engine(cm, SolverOptions(engine="scipy"), int(10 * cold))
    assert named.solver.engine == "scipy" and "named" in named.reason
    # a model numba cannot run stays on scipy however large the work
    forced = a.choose_engine(replace(cm, jac_sparse_stop=None), opts, int(10 * cold))
    assert forced.solver.engine == "scipy" and "cannot run" in forced.reason
    with pytest.raises(ValueError, match="takes no method"):
        SolverOptions(engine="auto", method="LSODA")


def test_unresolved_engine_auto_runs_scipy_one_cell_at_a_time(aml):
    """An ``engine: auto`` that no population resolved (one cell, margins, cultures) is
    scipy's LSODA: same result as naming scipy."""
    from apopsim.engine import SolverOptions, compile_model, make_integrator

    cm = compile_model(aml)
    integ = make_integrator(cm, SolverOptions(engine="auto"))
    assert (integ.name, integ.opts.method) == ("scipy", "LSODA")
    p = cm.param_vector({})
    ref = make_integrator(cm, SolverOptions()).integrate(aml.initial, p, TIMES[:5])
    np.testing.assert_array_equal(integ.integrate(aml.initial, p, TIMES[:5]), ref)
