"""Xenograft growth (Simeoni et al. 2004) and the kill link (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

from apopsim.tissue.killrate import KillTable, emax_kill_table, hazard_from_fraction
from apopsim.tissue.xenograft import (
    regrowth_days,
    simulate_tumour,
    tgi_percent,
    tumour_defaults,
)


def test_model_defaults_are_read_from_the_antimony_file():
    d = tumour_defaults()
    assert d["psi"] == 20 and d["lambda0"] > 0 and d["lambda1"] > 0
    assert d["initial_volume_mm3"] == pytest.approx(150)


def test_vehicle_exponential_phase():
    """A small tumour grows as w0 exp(lambda0 t) while lambda0 w << lambda1."""
    t = np.linspace(0, 5, 21)
    c = simulate_tumour(t, initial_volume_mm3=1.0,
                        parameters={"lambda0": 0.3, "lambda1": 1e4})
    np.testing.assert_allclose(c.volume_mm3, np.exp(0.3 * t), rtol=1e-5)


def test_vehicle_linear_phase():
    """A large tumour grows linearly at lambda1 (mm^3/day)."""
    t = np.linspace(0, 10, 41)
    c = simulate_tumour(t, initial_volume_mm3=5000.0, parameters={"lambda0": 0.3, "lambda1": 80})
    np.testing.assert_allclose(np.diff(c.volume_mm3) / np.diff(t), 80.0, rtol=1e-4)


def test_kill_moves_volume_through_transit_and_conserves_it_until_death():
    t = np.linspace(0, 20, 81)
    veh = simulate_tumour(t, initial_volume_mm3=150)
    kill = simulate_tumour(t, initial_volume_mm3=150, kill_per_day=lambda tt: 0.5)
    assert np.all(kill.volume_mm3 <= veh.volume_mm3 + 1e-6)
    assert kill.proliferating_mm3[-1] < kill.volume_mm3[-1]  # dying cells still measured
    # a strong constant kill shrinks the tumour
    strong = simulate_tumour(t, initial_volume_mm3=150, kill_per_day=lambda tt: 2.0)
    assert strong.volume_mm3[-1] < 150


def test_tgi_arithmetic():
    assert tgi_percent(100, 100, 100, 1100) == pytest.approx(100.0)   # stasis
    assert tgi_percent(100, 600, 100, 1100) == pytest.approx(50.0)
    assert tgi_percent(100, 1100, 100, 1100) == pytest.approx(0.0)
    assert tgi_percent(100, 50, 100, 1100) == pytest.approx(105.0)    # regression
    assert np.isnan(tgi_percent(100, 50, 100, 100))                   # vehicle did not grow


def test_no_kill_gives_tgi_zero():
    t = np.linspace(0, 21, 85)
    veh = simulate_tumour(t)
    same = simulate_tumour(t, kill_per_day=lambda tt: 0.0)
    assert tgi_percent(same.volume_mm3[0], same.volume_mm3[-1], veh.volume_mm3[0],
                       veh.volume_mm3[-1]) == pytest.approx(0.0, abs=1e-6)


def test_regrowth_days():
    t = np.arange(0, 11.0)
    v = np.array([100, 80, 60, 40, 30, 40, 60, 80, 100, 120, 140.0])
    assert regrowth_days(t, v, end_of_dosing_day=4) == pytest.approx(4.0)
    assert regrowth_days(t, v + 100, end_of_dosing_day=4, baseline_mm3=100) == 0.0
    assert np.isnan(regrowth_days(t[:7], v[:7], end_of_dosing_day=4))


def test_hazard_from_fraction_and_table_interpolation():
    np.testing.assert_allclose(hazard_from_fraction([0.0, 1 - np.exp(-1)], 24.0),
                               [0.0, 1 / 24])
    assert np.isfinite(hazard_from_fraction([1.0], 24.0, n_cells=10)[0])
    tab = emax_kill_table(["a", "b"], [[0, 1, 10, 100], [0, 10, 100]], 0.1, [10, 50],
                          bliss_excess=0.5)
    # exact at grid nodes, 0 at 0 nM, clipped beyond the grid, monotone
    assert tab({"a": np.array([0.0]), "b": np.array([0.0])})[0] == 0.0
    np.testing.assert_allclose(tab({"a": np.array([10.0]), "b": np.array([100.0])}),
                               tab.hazard_per_h[2, 2])
    assert tab({"a": np.array([1e6])})[0] == pytest.approx(tab.hazard_per_h[-1, 0])
    h = tab({"a": np.array([1.0, 3.0, 10.0])})
    assert np.all(np.diff(h) > 0)
    # round trip through the report table
    back = KillTable.from_frame(tab.to_frame(), tab.window_h)
    np.testing.assert_allclose(back.hazard_per_h, tab.hazard_per_h)
    assert back.drugs == ("a", "b")
