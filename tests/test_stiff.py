"""The compiled stiff integrator (engine "numba": Rodas4 with a sparse LU) against scipy LSODA."""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

import apopsim
from apopsim.cell import untreated_parameters
from apopsim.engine import (
    SolverOptions,
    ThresholdEvent,
    compile_model,
    integrate_segments,
    make_integrator,
    preequilibrate,
)
from apopsim.engine.stiff import NumbaBackend, lu_source, minimum_degree_order, sparse_lu_plan
from apopsim.errors import SimulationError

TIMES = np.arange(0.0, 72.001, 0.5)
TIGHT = dict(rtol=1e-8, atol=1e-10)


def _scaled_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per species: max_t |a - b| / max_t |b| (floor 1e-9 nM)."""
    return (np.abs(a - b) / np.maximum(np.abs(b).max(axis=0), 1e-9)).max(axis=0)


def _agree(model, doses, tol=TIGHT) -> tuple[np.ndarray, object, object]:
    a = apopsim.simulate(model, TIMES, doses, engine="numba", **tol)
    b = apopsim.simulate(model, TIMES, doses, engine="scipy", **tol)
    n = len(model.state)
    assert a.names == b.names
    diff = _scaled_diff(a.values[:, :n], b.values[:, :n])
    scale = np.abs(b.values[:, :n]).max(axis=0)
    assert np.all(a.values[:, :n] >= -1e-9 * np.maximum(scale, 1e-9))  # non-negative
    return diff, a, b


@pytest.mark.parametrize("name, context, doses", [
    ("bcl2_core", "aml_mcl1_dependent", {"lisaftoclax": 100.0, "hht": 200.0}),
    ("intrinsic_extrinsic", "hela", {"trail": 0.8}),
])
def test_agrees_with_lsoda_through_the_switch(name, context, doses):
    """Every species within 1e-4 (scaled) of LSODA over 72 h at rtol 1e-8, atol 1e-10."""
    m = apopsim.load_model(name, context=context)
    diff, a, _ = _agree(m, doses)
    assert a["cleaved_PARP_fraction"].max() > 0.5  # the cell does switch
    assert diff.max() <= 1e-4, dict(zip(m.state, diff))


@pytest.mark.skipif(os.environ.get("APOPSIM_SLOW") != "1",
                    reason="compiles a kernel per shipped model (about 18 min with a cold "
                    "cache); run with APOPSIM_SLOW=1")
@pytest.mark.parametrize("name", apopsim.list_models())
def test_agrees_with_lsoda_on_every_shipped_model(name):
    """Default context, untreated and one dose (100 nM) of the model's first drug input.

    Both engines at rtol 1e-8 and atol 1e-12 nM: with the 1e-9 nM scale floor, species that
    stay near 1e-7 nM need absolute accuracy below atol 1e-10 (at atol 1e-10 LSODA is 3e-4 off
    a rtol 1e-12 reference on ``apoptosis_intrinsic``'s C9a, Rodas4 2e-6).
    """
    m = apopsim.load_model(name)
    for doses in ({}, {m.drug_inputs[0]: 100.0} if m.drug_inputs else {}):
        diff, _, _ = _agree(m, doses, dict(rtol=1e-8, atol=1e-12))
        assert diff.max() <= 1e-4, (doses, dict(zip(m.state, diff)))


def test_death_time_with_freeze_band_matches_scipy():
    """The located crossing of a frozen cell agrees with LSODA within 0.01 h; frozen cells stay
    put after the band."""
    m = apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")
    cm = compile_model(m)
    doses = {"lisaftoclax": 100.0, "hht": 200.0}  # kills the nominal cell
    event = ThresholdEvent("cleaved_PARP_fraction", 0.5, after="freeze")
    runs = {}
    for engine in ("scipy", "numba"):
        so = SolverOptions(engine=engine, **TIGHT)
        y0, _ = preequilibrate(cm, so, m.initial, cm.param_vector(untreated_parameters(m)))
        integ = make_integrator(cm, so)
        runs[engine] = integrate_segments(cm, integ, y0, doses, [], TIMES, event=event)
    t_scipy, t_numba = (runs[e].meta["crossing_h"] for e in ("scipy", "numba"))
    assert 0 < t_scipy < 72
    assert t_numba == pytest.approx(t_scipy, abs=0.01)
    frozen = runs["numba"]["cleaved_PARP_fraction"][t_numba + 3 < TIMES]
    assert np.all((frozen > 0.55) & (frozen < 0.6))


def test_schedule_segments_and_time_dependent_rates(write_model):
    """A washout mid-run, and an explicitly time-dependent rate (df/dt enters Rosenbrock)."""
    m = apopsim.load_model(write_model("""
        model forced()
          compartment cell = 1;
          A = 1; B = 0;
          k = 0.5;
          r1: -> A; 1 + sin(time);
          r2: A -> B; k * A;
          r3: B -> ; 0.1 * B;
        end
    """))
    pre = apopsim.PreequilibrationOptions(enabled=False)
    t = np.linspace(0, 30, 61)
    kw = dict(preequilibration=pre, **TIGHT)
    sched = [(10.0, {"k": 2.0})]
    a = apopsim.simulate(m, t, schedule=sched, engine="numba", **kw)
    b = apopsim.simulate(m, t, schedule=sched, engine="scipy", **kw)
    assert _scaled_diff(a.values, b.values).max() <= 1e-6


def test_forced_failure_raises_simulation_error():
    """Too few steps allowed per output interval: a SimulationError, and the retry policy
    moves the cell to scipy."""
    m = apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")
    cm = compile_model(m)
    so = SolverOptions(engine="numba", max_steps=2)
    integ = make_integrator(cm, so)
    p = cm.param_vector({**untreated_parameters(m), "lisaftoclax": 100.0})
    with pytest.raises(SimulationError, match="Rodas4 failed"):
        integ.integrate(m.initial, p, np.array([0.0, 72.0]))
    retry = NumbaBackend.retry_options(so)
    assert (retry.engine, retry.method, retry.rtol) == ("scipy", "BDF", so.rtol / 100)


def test_sparse_lu_plan_solves_like_dense():
    """Schedule and generated straight-line code factorise a random sparse matrix exactly."""
    rng = np.random.default_rng(1)
    n = 30
    mask = rng.random((n, n)) < 0.08
    rows, cols = np.nonzero(mask)
    vals = rng.normal(size=rows.size)
    plan = sparse_lu_plan(n, rows, cols)
    assert sorted(plan.perm.tolist()) == list(range(n))
    assert sorted(minimum_degree_order(n, rows, cols).tolist()) == list(range(n))
    plain = SimpleNamespace(njit=lambda **kw: (lambda f: f))  # run the source as Python
    ns: dict = {"math": math, "numba": plain}
    exec(lu_source(plan), ns)  # noqa: S102 - our generated code
    lu = np.zeros(max(plan.nnz, rows.size))
    ns["_model_assemble"](lu, vals, 10.0)
    assert ns["_model_factor"](lu)
    b = rng.normal(size=n)
    x = np.empty(n)
    ns["_model_solve"](lu, b, x)
    dense = 10.0 * np.eye(n)
    np.add.at(dense, (rows, cols), -vals)
    np.testing.assert_allclose(dense @ x, b, atol=1e-12)
    natural = sparse_lu_plan(n, rows, cols, perm=np.arange(n))
    assert plan.factor_flops <= natural.factor_flops


def test_many_cells_in_parallel_threads_match_one_by_one():
    """``integrate_many`` (prange over cells) gives each cell's ``integrate`` result, freeze
    bands per cell included, and reports failures per cell."""
    m = apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")
    cm = compile_model(m)
    so = SolverOptions(engine="numba", **TIGHT)
    integ = make_integrator(cm, so)
    base = cm.param_vector({**untreated_parameters(m), "lisaftoclax": 100.0, "hht": 50.0})
    ksyn = [i for i, k in enumerate(cm.param_names) if k.startswith("ksyn_")]
    ps = np.array([base] * 3)
    ps[1, ksyn] *= 0.8  # three different cells
    ps[2, ksyn] *= 1.25
    y0s = np.array([m.initial] * 3)
    idx = cm.marker_index("cleaved_PARP_fraction")
    freezes = np.array([[0, 1e300, 2e300], [idx, 0.55, 0.6], [0, 1e300, 2e300]])
    out, errors = integ.integrate_many(y0s, ps, TIMES, freezes)
    assert errors == [None, None, None]
    for c in range(3):
        fr = None if c != 1 else (idx, 0.55, 0.6)
        np.testing.assert_allclose(out[c], integ.integrate(y0s[c], ps[c], TIMES, fr),
                                   rtol=1e-12, atol=1e-15)
    failing = make_integrator(cm, SolverOptions(engine="numba", max_steps=2))
    out, errors = failing.integrate_many(y0s, ps, np.array([0.0, 72.0]))
    assert all(e and "Rodas4 failed" in e for e in errors) and np.isnan(out).all()
