"""Populations: sampling, determinism across executors, death readouts, failures, retries."""

from __future__ import annotations

import json

import numpy as np
import pytest

import apopsim
from apopsim.cli import main
from apopsim.population import Fate, SerialExecutor, Variation, run_chunks, sample_cells
from apopsim.scenario import Scenario


def _scenario(**over) -> Scenario:
    spec = {
        "name": "pop",
        "model": "bcl2_core",
        "context": "aml_mcl1_dependent",
        "drugs": {"lisaftoclax": [0, 100], "hht": [0, 50]},
        "time": {"duration_h": 24, "output_every_h": 1, "readout_times_h": [12, 24]},
        "readouts": {"species": ["MCL1_total"]},
        "population": {"n_cells": 24, "block_size": 7},
        "seed": 3,
    }
    spec.update(over)
    return Scenario.model_validate(spec)


@pytest.fixture(scope="module")
def model():
    return apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")


def test_lognormal_sampling_mean_cv_and_seed(model):
    v = Variation(parameters=("ksyn_MCL1", "ksyn_BCL2"), cv=0.25)
    names, vals, _, _ = sample_cells(model, v, 20000, seed=1)
    base = np.array([model.parameters[k] for k in names])
    np.testing.assert_allclose(vals.mean(axis=0) / base, 1.0, atol=0.01)
    np.testing.assert_allclose(vals.std(axis=0) / vals.mean(axis=0), 0.25, atol=0.01)
    assert np.all(vals > 0)
    _, again, _, _ = sample_cells(model, v, 20000, seed=1)
    _, other, _, _ = sample_cells(model, v, 20000, seed=2)
    np.testing.assert_array_equal(vals, again)
    assert not np.allclose(vals, other)


def test_correlated_sampling(model):
    v = Variation(parameters=("ksyn_MCL1", "ksyn_BCL2"), cv=0.3, correlation=0.6)
    _, vals, _, _ = sample_cells(model, v, 20000, seed=0)
    r = np.corrcoef(np.log(vals).T)[0, 1]
    assert r == pytest.approx(0.6, abs=0.03)


def test_sobol_has_lower_variance_than_random(model):
    def spread(kind):
        means = [sample_cells(model, Variation(("ksyn_MCL1",), cv=0.25, sampling=kind), 256,
                              seed=s)[1].mean() for s in range(30)]
        return np.std(means)

    assert spread("sobol") < 0.5 * spread("random")


def test_unknown_variation_name_is_an_error(model):
    with pytest.raises(apopsim.ApopsimError, match="matches no name"):
        sample_cells(model, Variation(parameters=("nope_*",)), 10, seed=0)


@pytest.fixture(scope="module")
def serial_result():
    return apopsim.run_scenario(_scenario(), executor="serial", progress=False)


def test_same_seed_same_result_across_executors(serial_result):
    procs = apopsim.run_scenario(_scenario(), executor="processes", workers=2, progress=False)
    for a, b in zip(serial_result.conditions, procs.conditions):
        np.testing.assert_array_equal(a.death_h, b.death_h)
        np.testing.assert_array_equal(a.stats, b.stats)


def test_dask_local_cluster_gives_identical_results(serial_result):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        res = apopsim.run_scenario(_scenario(), scheduler=cluster.scheduler_address,
                                   progress=False)
    for a, b in zip(serial_result.conditions, res.conditions):
        np.testing.assert_array_equal(a.death_h, b.death_h)
        np.testing.assert_array_equal(a.stats, b.stats)


def test_population_readouts(serial_result):
    df = serial_result.to_dataframe()
    assert list(df["n_cells"]) == [24] * 4
    for t in (12, 24):
        col = f"apoptotic_fraction_{t}h"
        assert ((df[f"{col}_ci_low"] <= df[col]) & (df[col] <= df[f"{col}_ci_high"])).all()
    # fractions never decrease with time
    assert (df["apoptotic_fraction_24h"] >= df["apoptotic_fraction_12h"]).all()
    tc = serial_result.timecourse()
    assert {"sd", "q05", "q50", "q95"} <= set(tc.columns)
    row = tc[(tc.variable == "MCL1_total")].iloc[5]
    assert row.q05 <= row.q50 <= row.q95
    deaths = serial_result.deaths()
    assert len(deaths) == 4 * 24


def test_single_cell_death_time_matches_simulate(model):
    s = _scenario(population=None, drugs={"lisaftoclax": 100, "hht": 50},
                  time={"duration_h": 24, "output_every_h": 0.1})
    res = apopsim.run_scenario(s, progress=False)
    tr = apopsim.simulate(model, res.times_h, {"lisaftoclax": 100, "hht": 50})
    f = tr["cleaved_PARP_fraction"]
    td = res.conditions[0].death_h[0]
    if np.isfinite(td):
        i = int(np.argmax(f > 0.5))
        assert tr.times_h[i - 1] <= td <= tr.times_h[i]
    else:
        assert f.max() <= 0.5


def test_stopping_at_death_does_not_change_fates():
    a = apopsim.run_scenario(_scenario(), executor="serial", progress=False)
    pop = {"n_cells": 24, "block_size": 7, "stop_at_death": False}
    b = apopsim.run_scenario(_scenario(population=pop), executor="serial", progress=False)
    for ca, cb in zip(a.conditions, b.conditions):
        np.testing.assert_allclose(ca.death_h, cb.death_h, rtol=1e-3, atol=1e-3)


BLOWUP = """
model blowup()
  x = 1;
  k = 0.02;   // 1/(nM*h): finite-time blow-up at t = 1/(k x0) h
  r: -> x; k * x * x;
  cleaved_PARP_fraction := x / (x + 1000);
end
"""


def test_solver_failures_are_reported_per_cell(write_model, write_yaml, tmp_path, capsys):
    path = write_model(BLOWUP, "blowup.ant")
    scen = write_yaml(f"""
    name: blowup
    model: {path}
    time: {{duration_h: 30, output_every_h: 1}}
    preequilibration: {{enabled: false}}
    population: {{n_cells: 40, vary_parameters: [k], cv: 1.0, block_size: 10}}
    solver: {{rtol: 1.0e-6, atol: 1.0e-9}}
    """)
    res = apopsim.run_scenario(apopsim.load_scenario(scen), executor="serial", progress=False)
    n_failed = len(res.failures)
    assert 0 < n_failed < 40
    row = res.to_dataframe().iloc[0]
    assert row["n_failed"] == n_failed
    # failed cells have their own fate and are not live cells at treatment start
    c = res.conditions[0]
    failed = np.flatnonzero(c.fate == Fate.FAILED)
    assert failed.size == n_failed and sorted(c.errors) == list(failed)
    assert row["n_live_at_start"] == 40 - n_failed - row["n_dead_untreated"]
    assert set(res.deaths().loc[lambda d: d.cell.isin(failed), "fate"]) == {"failed"}
    out = tmp_path / "out"
    assert main(["run", str(scen), "-o", str(out), "-q", "--executor", "serial"]) == 1
    run = json.loads((out / "run.json").read_text())
    assert run["n_cells_failed"] == n_failed and run["failed_conditions"] == ["control"]
    assert "failed" in capsys.readouterr().err


def test_failed_chunk_is_retried_once():
    calls: dict[int, int] = {}

    def flaky(task):
        calls[task] = calls.get(task, 0) + 1
        if task == 2 and calls[task] == 1:
            raise RuntimeError("worker lost")
        if task == 3:
            raise RuntimeError("always broken")
        return task * 10

    got = {}
    run_chunks(SerialExecutor(), flaky, [0, 1, 2, 3], lambda i, r, e: got.update({i: (r, e)}))
    assert got[2] == (20, None) and calls[2] == 2
    assert got[3][0] is None and "always broken" in got[3][1] and calls[3] == 2


def test_interrupt_leaves_no_output(monkeypatch, tmp_path, write_yaml):
    import apopsim.runner

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(apopsim.runner, "run_treat_task", interrupt)
    scen = write_yaml("""
    name: small
    model: bcl2_core
    drugs: {hht: [0, 10]}
    time: {duration_h: 4}
    population: {n_cells: 4}
    execution: {executor: serial}
    """)
    out = tmp_path / "out"
    assert main(["run", str(scen), "-o", str(out), "-q"]) == 130
    assert not out.exists()


def test_two_drug_grid_writes_synergy_at_every_readout_time(tmp_path):
    s = _scenario(drugs={"lisaftoclax": [0, 10, 100, 1000], "hht": [0, 5, 20, 80]},
                  population={"n_cells": 12})
    res = apopsim.run_scenario(s, progress=False)
    out = apopsim.write_report(res, tmp_path / "grid", plots=False)
    import pandas as pd

    summary = pd.read_csv(out / "synergy" / "summary.csv")
    assert list(summary["time"]) == [12.0, 24.0]
    assert {"bliss", "hsa", "loewe", "zip"} <= set(summary.columns)
    wells = pd.read_csv(out / "synergy" / "wells.csv")
    assert len(wells) == 2 * 16
    # Bliss by hand for one well: observed - (fa + fb - fa*fb), in percentage points
    w = wells[(wells.time == 24.0) & (wells.conc1 == 100) & (wells.conc2 == 20)].iloc[0]
    f = {(c.doses_nM["lisaftoclax"], c.doses_nM["hht"]): c.apoptotic_fraction(24)[0]
         for c in res.conditions}
    fa, fb, fab = f[(100, 0)], f[(0, 20)], f[(100, 20)]
    assert w.bliss == pytest.approx(100 * (fab - (fa + fb - fa * fb)), abs=1e-9)


def test_schedule_in_a_population_run():
    """HHT washed out at 6 h: MCL-1 recovers (half-life < 1 h), unlike continuous HHT."""
    base = dict(drugs={"hht": [0, 50]}, time={"duration_h": 24, "output_every_h": 0.5},
                population={"n_cells": 8})
    cont = apopsim.run_scenario(_scenario(**base), executor="serial", progress=False)
    wash = apopsim.run_scenario(
        _scenario(**base, schedule=[{"at_h": 6, "drug": "hht", "action": "washout"}]),
        executor="serial", progress=False)
    late = apopsim.run_scenario(
        _scenario(**base, schedule=[{"at_h": 12, "drug": "hht", "action": "add"}]),
        executor="serial", progress=False)
    t = cont.times_h
    mcl1 = {k: r.trace(1, "MCL1_total") for k, r in
            {"cont": cont, "wash": wash, "late": late}.items()}
    control = cont.trace(0, "MCL1_total")
    i6, i5, i24 = (int(np.searchsorted(t, x)) for x in (6.0, 5.0, 24.0))
    np.testing.assert_allclose(mcl1["wash"][:i6], mcl1["cont"][:i6], rtol=1e-6)
    assert mcl1["wash"][i24] > 0.9 * control[i24] > 2 * mcl1["cont"][i24]
    np.testing.assert_allclose(mcl1["late"][:i5], control[:i5], rtol=1e-6)  # not yet added
    assert mcl1["late"][i24] < 0.5 * control[i24]


def _numba(**over) -> Scenario:
    return _scenario(solver={"engine": "numba", "rtol": 1e-8, "atol": 1e-10}, **over)


@pytest.fixture(scope="module")
def numba_serial():
    """The population on the numba engine in this process (cells in parallel threads)."""
    return apopsim.run_scenario(_numba(), executor="serial", progress=False)


def test_numba_engine_same_result_in_worker_processes(numba_serial):
    """Worker processes (one solver thread each, forked after this process used numba's
    threads) give the same cells the same results."""
    procs = apopsim.run_scenario(_numba(), executor="processes", workers=2, progress=False)
    for a, b in zip(numba_serial.conditions, procs.conditions):
        np.testing.assert_array_equal(a.fate, b.fate)
        np.testing.assert_allclose(a.death_h, b.death_h, rtol=1e-12)
        np.testing.assert_allclose(a.stats, b.stats, rtol=1e-6)  # float32 traces


def test_numba_engine_on_a_dask_cluster(numba_serial):
    pytest.importorskip("dask.distributed")
    res = apopsim.run_scenario(_numba(), executor="dask", workers=2, progress=False)
    for a, b in zip(numba_serial.conditions, res.conditions):
        np.testing.assert_array_equal(a.fate, b.fate)
        np.testing.assert_allclose(a.death_h, b.death_h, rtol=1e-12)


def test_failed_numba_cells_are_retried_on_scipy(monkeypatch, numba_serial):
    """A cell the numba engine fails is retried alone on scipy (BDF, rtol / 100): same fates;
    if the retry fails too, the cell is reported failed."""
    from apopsim.engine.stiff import NumbaBackend

    real = NumbaBackend.integrate_many

    def first_cell_fails(self, y0s, ps, times, freezes=None):
        out, errors = real(self, y0s, ps, times, freezes)
        if times[0] == 0.0 and len(times) > 20:  # treatment segments, not pre-equilibration
            out[0], errors[0] = np.nan, "Rodas4 failed near t = 0 h: forced by the test"
        return out, errors

    monkeypatch.setattr(NumbaBackend, "integrate_many", first_cell_fails)
    res = apopsim.run_scenario(_numba(), executor="serial", progress=False)
    n_blocks = -(-24 // 7)
    assert res.n_retried == n_blocks * len(res.conditions) and not res.failures
    for a, b in zip(numba_serial.conditions, res.conditions):
        np.testing.assert_array_equal(a.fate, b.fate)
        np.testing.assert_allclose(a.death_h, b.death_h, atol=0.02)

    from apopsim.engine.backends import ScipyBackend
    from apopsim.errors import SimulationError

    def scipy_fails(self, *a, **k):
        raise SimulationError("BDF failed: forced by the test")

    monkeypatch.setattr(ScipyBackend, "integrate", scipy_fails)
    res = apopsim.run_scenario(_numba(), executor="serial", progress=False)
    c = res.conditions[0]
    assert sorted(c.errors) == [0, 7, 14, 21]  # the first cell of each block
    assert all(c.fate[[0, 7, 14, 21]] == Fate.FAILED) and "forced" in c.errors[0]


def test_quantiles_fast_path_equals_nanquantile():
    """Whole-NaN cells (failed, dead untreated) are dropped before a vectorised quantile: the
    same numbers as numpy's NaN-aware quantile; scattered NaNs take the general path."""
    from apopsim.population import summarise_traces

    rng = np.random.default_rng(0)
    x = rng.random((30, 3, 11)).astype(np.float32)
    x[[2, 17]] = np.nan
    q = np.nanquantile(x.astype(float), [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    np.testing.assert_array_equal(summarise_traces(x)[2:7], q)
    x[5, 1, 4] = np.nan
    q = np.nanquantile(x.astype(float), [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    np.testing.assert_array_equal(summarise_traces(x)[2:7], q)


def test_auto_executor_keeps_threaded_engines_in_one_process():
    from apopsim.population import auto_executor

    assert auto_executor("numba", 10_000) == "serial"  # cells in threads, nothing pickled
    assert auto_executor("scipy", 10_000) == "processes"
    assert auto_executor("scipy", 64) == "serial"
    # an engine "auto" nobody resolved runs scipy, so it is planned like scipy
    assert auto_executor("auto", 10_000) == "processes"
    assert auto_executor("auto", 64) == "serial"
