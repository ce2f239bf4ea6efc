"""The result types are data: their views (summary, time courses, deaths, traces, failures, fate
counts) on a small synthetic result, and no I/O or plotting in the module.

The result is built by hand (real :class:`ScenarioResult` / :class:`ConditionResult` objects with
made-up fates and statistics), so nothing is simulated.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import numpy as np
import pytest

import apopsim
from apopsim.library import scenarios_dir
from apopsim.population import STATS, Fate
from apopsim.results import ConditionResult, ScenarioResult

D, S, U, F = Fate.DIED, Fate.SURVIVED, Fate.DEAD_UNTREATED, Fate.FAILED


def _scenario() -> apopsim.Scenario:
    spec = copy.deepcopy(apopsim.load_scenario(scenarios_dir() / "apg2575_hht.yaml").model_dump())
    spec["readouts"]["species"] = ["MCL1_total"]
    spec.update(drugs={"lisaftoclax": [0, 100]},
                time={"duration_h": 24, "output_every_h": 12, "readout_times_h": [12, 24]})
    return apopsim.Scenario.model_validate(spec)


def _result(n_cells: int = 5) -> ScenarioResult:
    """Control: died at 5 h, survived, dead untreated, failed, survived. Treated: died at 3, 20
    and 10 h, dead untreated, survived. Statistics: 100 * stat + 10 * variable + time index."""
    scenario = _scenario()
    times = np.asarray(scenario.time.output_times())
    variables = ("MCL1_total", scenario.readouts.death.variable)
    stats = (100.0 * np.arange(len(STATS))[:, None, None] + 10.0 * np.arange(2)[None, :, None]
             + np.arange(len(times))[None, None, :])
    control = ConditionResult(
        "control", {"lisaftoclax": 0.0}, np.array([5.0, np.nan, np.nan, np.nan, np.nan]),
        np.array([D, S, U, F, S], dtype=np.int8), stats.copy(), {3: "boom"})
    treated = ConditionResult(
        "lisaftoclax 100 nM", {"lisaftoclax": 100.0}, np.array([3.0, 20.0, np.nan, np.nan, 10.0]),
        np.array([D, D, U, S, D], dtype=np.int8), stats + 1000)
    conds = [control, treated]
    if n_cells == 1:
        conds = [ConditionResult(c.name, c.doses_nM, c.death_h[:1], c.fate[:1], c.stats)
                 for c in conds]
    return ScenarioResult(scenario, None, times, variables, conds,  # type: ignore[arg-type]
                          wall_time_s=1.5, n_cells=n_cells)


def test_fate_counts_and_denominators():
    control, treated = _result().conditions
    assert (control.n_died, control.n_survived, control.n_dead_untreated, control.n_failed) == \
        (1, 2, 1, 1)
    assert control.n_live_at_start == control.n_ok == 3
    assert (treated.n_died, treated.n_survived, treated.n_dead_untreated, treated.n_failed) == \
        (3, 1, 1, 0)
    np.testing.assert_array_equal(treated.live, [3.0, 20.0, np.inf, 10.0])
    assert treated.apoptotic_fraction(12)[0] == pytest.approx(2 / 4)
    f, lo, hi = treated.apoptotic_fraction(24)
    assert f == pytest.approx(3 / 4) and lo < f < hi
    assert control.apoptotic_fraction(24)[0] == pytest.approx(1 / 3)


def test_summary_columns_and_values():
    df = _result().to_dataframe()
    assert list(df.columns) == [
        "condition", "lisaftoclax_nM",
        "apoptotic_fraction_12h", "apoptotic_fraction_12h_ci_low",
        "apoptotic_fraction_12h_ci_high",
        "apoptotic_fraction_24h", "apoptotic_fraction_24h_ci_low",
        "apoptotic_fraction_24h_ci_high",
        "apoptotic_fraction", "median_time_to_death_h", "time_to_death_h", "MCL1_total_end",
        "n_cells", "n_dead_untreated", "n_failed", "n_live_at_start", "n_died", "n_survived"]
    c, t = df.iloc[0], df.iloc[1]
    assert list(df["condition"]) == ["control", "lisaftoclax 100 nM"]
    assert list(df["lisaftoclax_nM"]) == [0.0, 100.0]
    assert t["apoptotic_fraction_12h"] == pytest.approx(0.5)
    assert t["apoptotic_fraction"] == t["apoptotic_fraction_24h"] == pytest.approx(0.75)
    assert t["median_time_to_death_h"] == t["time_to_death_h"] == 10.0
    assert c["median_time_to_death_h"] == 5.0
    assert t["MCL1_total_end"] == 1000 + 2  # mean (stat 0), variable 0, last time
    assert list(df["n_cells"]) == [5, 5]
    assert (df["n_cells"] == df["n_dead_untreated"] + df["n_failed"]
            + df["n_live_at_start"]).all()
    assert (df["n_live_at_start"] == df["n_died"] + df["n_survived"]).all()


def test_single_cell_summary_has_no_intervals():
    res = _result(n_cells=1)
    df = res.to_dataframe()
    assert not [c for c in df.columns if "_ci_" in c]
    assert list(res.timecourse().columns) == ["condition", "time_h", "variable", "value"]


def test_timecourse_is_tidy_with_every_statistic():
    res = _result()
    tc = res.timecourse()
    assert list(tc.columns) == ["condition", "time_h", "variable", "value", *STATS[1:]]
    assert len(tc) == 2 * 2 * 3  # conditions x variables x times
    row = tc[(tc.condition == "lisaftoclax 100 nM") & (tc.variable == "cleaved_PARP_fraction")
             & (tc.time_h == 24)].iloc[0]
    assert row["value"] == 1000 + 10 + 2 and row["sd"] == 1100 + 10 + 2


def test_deaths_has_one_row_per_cell_and_condition():
    d = _result().deaths()
    assert list(d.columns) == ["condition", "cell", "fate", "time_to_death_h"]
    assert len(d) == 10 and list(d["cell"][:5]) == [0, 1, 2, 3, 4]
    assert list(d["fate"][:5]) == ["died", "survived", "dead_untreated", "failed", "survived"]
    assert d.loc[d.fate == "died", "time_to_death_h"].notna().all()
    assert d.loc[d.fate != "died", "time_to_death_h"].isna().all()


def test_trace_and_failures():
    res = _result()
    np.testing.assert_array_equal(res.trace("lisaftoclax 100 nM", "MCL1_total"),
                                  [1000, 1001, 1002])
    np.testing.assert_array_equal(res.trace(0, "cleaved_PARP_fraction", "sd"), [110, 111, 112])
    with pytest.raises(KeyError):
        res.trace("no such condition", "MCL1_total")
    assert res.failures == [("control", 3, "boom")]


def test_results_module_does_no_io_and_no_plotting():
    path = Path(apopsim.__file__).parent / "results.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    banned = ("matplotlib", "apopsim._io", "apopsim.report", "apopsim.runner", "apopsim.synergy",
              "os", "shutil", "json")
    assert not {m for m in imported if m.startswith(banned)}
    assert not [n for n in dir(ScenarioResult) if n.startswith("write")]


def test_timecourse_csv_holds_full_double_precision(tmp_path):
    """timecourse.csv read back equals the library's double-precision trajectory exactly."""
    import pandas as pd

    from apopsim.engine import PreequilibrationOptions
    from apopsim.library import load_model

    model_file = scenarios_dir() / "examples" / "ligand_receptor.ant"
    s = apopsim.Scenario.model_validate({
        "name": "p", "model": str(model_file), "inputs": {"L": 3},
        "time": {"duration_h": 8, "output_every_h": 1},
        "readouts": {"species": ["L", "Ca"],
                     "death": {"variable": "cleaved_fraction", "threshold": 0.99}},
        "solver": {"rtol": 1e-8, "atol": 1e-10}})
    apopsim.write_report(apopsim.run_scenario(s, progress=False), tmp_path / "out", plots=False)
    tc = pd.read_csv(tmp_path / "out" / "timecourse.csv")
    model = load_model(model_file)
    y = apopsim.simulate(model, [0], rtol=1e-8, atol=1e-10).meta["final_state"]
    y[model.state.index("L")] += 3.0
    ref = apopsim.simulate(model, tc.time_h.unique(), y0=y, rtol=1e-8, atol=1e-10,
                           preequilibration=PreequilibrationOptions(enabled=False))
    for v in ("L", "Ca"):
        np.testing.assert_allclose(tc[tc.variable == v].value.to_numpy(), ref[v], rtol=1e-15,
                                   atol=0)
