"""Dose-response fits of the report layer on synthetic populations with a known Hill curve.

Fractions of dead cells are set by hand (cells die at 1 h or survive), so nothing is simulated.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import apopsim
from apopsim.library import scenarios_dir
from apopsim.population import STATS, Fate
from apopsim.report.doseresponse import MIN_DOSES, dose_series, fit_dose_response
from apopsim.results import ConditionResult, ScenarioResult
from apopsim.runner import condition_name
from apopsim.synergy.hill import hill

#: The true curve: E0 5 %, Emax 95 %, Hill slope 1.5, EC50 30 nM.
E0, EMAX, SLOPE, EC50 = 0.05, 0.95, 1.5, 30.0
DOSES = [0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0]


def _result(drugs: dict[str, list[float]], n_cells: int = 2000,
            response=lambda doses: hill(doses.get("lisaftoclax", 0.0), E0, EMAX, SLOPE, EC50),
            ) -> ScenarioResult:
    """A result whose fraction dead (at every readout time) follows ``response(doses)``."""
    spec = copy.deepcopy(apopsim.load_scenario(scenarios_dir() / "apg2575_hht.yaml").model_dump())
    spec["readouts"]["species"] = []
    spec.update(drugs=drugs, time={"duration_h": 24, "output_every_h": 12,
                                   "readout_times_h": [12, 24]})
    scenario = apopsim.Scenario.model_validate(spec)
    times = np.asarray(scenario.time.output_times())
    conds = []
    for doses in scenario.conditions():
        k = int(round(n_cells * float(response(doses))))
        fate = np.where(np.arange(n_cells) < k, Fate.DIED, Fate.SURVIVED).astype(np.int8)
        death = np.where(fate == Fate.DIED, 1.0, np.nan)
        conds.append(ConditionResult(condition_name(doses), doses, death, fate,
                                     np.zeros((len(STATS), 1, len(times)))))
    return ScenarioResult(scenario, None, times,  # type: ignore[arg-type]
                          (scenario.readouts.death.variable,), conds, 0.0, n_cells)


def test_hill_fit_recovers_the_ec50_with_intervals():
    res = _result({"lisaftoclax": DOSES})
    series = dose_series(res)
    assert list(series) == ["lisaftoclax"] and len(series["lisaftoclax"]) == len(DOSES)
    fits = fit_dose_response(res, series)
    pd.testing.assert_frame_equal(fits, fit_dose_response(res))  # series found the same way
    assert list(fits["time_h"]) == [12.0, 24.0]
    for _, row in fits.iterrows():
        assert row.drug == "lisaftoclax" and row.n_doses == len(DOSES)
        assert row.n_cells == 2000 and row.converged
        assert row.ec50_nM == pytest.approx(EC50, rel=0.05)
        assert row.hill_slope == pytest.approx(SLOPE, rel=0.1)
        assert row.e0 == pytest.approx(E0, abs=0.02) and row.emax == pytest.approx(EMAX, abs=0.02)
        assert row.ec50_ci_low_nM < EC50 < row.ec50_ci_high_nM
        assert row.ec50_ci_low_nM < row.ec50_nM < row.ec50_ci_high_nM


def test_fewer_than_four_doses_give_no_fit():
    res = _result({"lisaftoclax": DOSES[: MIN_DOSES - 1]})
    assert dose_series(res) == {}
    assert fit_dose_response(res).empty


def test_series_only_where_the_other_drugs_are_at_zero():
    # a 4 x 2 grid: lisaftoclax has 4 doses with hht at 0; hht only 2 doses
    res = _result({"lisaftoclax": [0.0, 10.0, 30.0, 100.0], "hht": [0.0, 50.0]})
    series = dose_series(res)
    assert list(series) == ["lisaftoclax"]
    assert all(res.conditions[i].doses_nM["hht"] == 0 for i in series["lisaftoclax"])
    doses = [res.conditions[i].doses_nM["lisaftoclax"] for i in series["lisaftoclax"]]
    assert doses == sorted(doses) == [0.0, 10.0, 30.0, 100.0]


def test_no_response_across_doses_is_not_fitted():
    res = _result({"lisaftoclax": DOSES}, response=lambda doses: 0.2)
    fits = fit_dose_response(res)
    assert len(fits) == 2 and fits["note"].str.contains("not fitted").all()
    assert "ec50_nM" not in fits


def test_single_cells_get_point_estimates_only():
    res = _result({"lisaftoclax": DOSES}, n_cells=1,
                  response=lambda doses: float(doses["lisaftoclax"] >= 30))
    fits = fit_dose_response(res)
    assert "ec50_nM" in fits and not [c for c in fits.columns if "_ci_" in c]
