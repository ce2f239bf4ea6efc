"""A kill link may cover three drugs (chemotherapy doublet + a targeted drug): the table is a
full grid over all three, interpolated in each, and the study schema accepts up to three."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from apopsim.tissue.killrate import (
    MAX_DRUGS,
    KillTable,
    emax_kill_table,
    kill_table_from_cell_model,
)
from apopsim.tissue.study import KillLinkSpec


def test_three_drug_table_interpolates_and_round_trips():
    grids = (np.array([0.0, 1.0, 10.0]), np.array([0.0, 5.0]), np.array([0.0, 2.0, 4.0]))
    haz = np.arange(18.0).reshape(3, 2, 3) / 100  # 1/h
    table = KillTable(("a", "b", "c"), grids, haz, 24.0)
    on_grid = table({"a": np.array([1.0, 0.0]), "b": np.array([5.0, 0.0]),
                     "c": np.array([4.0, 0.0])})
    assert on_grid == pytest.approx([haz[1, 1, 2], 0.0])
    # off the grid on every axis: linear in log(1 + C) between the neighbouring grid values
    mid = {d: np.array([np.expm1(0.5 * np.log1p(g[1]))]) for d, g in zip("abc", grids)}
    corners = haz[:2, :2, :2]
    assert table(mid) == pytest.approx([corners.mean()])
    back = KillTable.from_frame(table.to_frame(), 24.0)
    assert back.drugs == ("a", "b", "c") and np.allclose(back.hazard_per_h, haz)
    with pytest.raises(ValueError, match=f"1 to {MAX_DRUGS} drugs"):
        KillTable(("a", "b", "c", "d"), (*grids, grids[0]), np.zeros((3, 2, 3, 3)))


def test_synthetic_table_combines_three_drugs_by_bliss():
    grid = [[0.0, 10.0]] * 3
    table = emax_kill_table(("a", "b", "c"), grid, kmax_per_h=1.0, ec50_nM=[10.0] * 3)
    p = 1 - np.exp(-0.5)  # each drug alone at its EC50, per hour
    assert -np.expm1(-table.hazard_per_h[0, 0, 1]) == pytest.approx(p)  # third drug counts
    assert -np.expm1(-table.hazard_per_h[1, 1, 1]) == pytest.approx(1 - (1 - p) ** 3)


def test_study_schema_takes_three_drugs_not_four():
    grid = {"carboplatin": [0, 1000], "paclitaxel": [0, 10], "apg2449": [0, 100]}
    assert len(KillLinkSpec.model_validate({"grid_nM": grid}).grid_nM) == 3
    with pytest.raises(ValidationError, match="1 to 3 drugs"):
        KillLinkSpec.model_validate({"grid_nM": {**grid, "hht": [0, 1]}})


def test_cell_model_fills_a_three_drug_grid():
    """Every one of the 2 x 2 x 2 conditions is run (ovarian_chemo, 4 cells, 6 h)."""
    table = kill_table_from_cell_model(
        "ovarian_chemo", "ovarian_hgsoc",
        {"carboplatin": [1e4], "paclitaxel": [10.0], "apg2449": [100.0]},
        n_cells=4, window_h=6.0)
    assert table.hazard_per_h.shape == (2, 2, 2)
    assert np.isfinite(table.fraction).all() and table.hazard_per_h[0, 0, 0] == 0.0
