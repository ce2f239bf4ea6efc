"""The engines agree on the science: apoptotic fractions and every cell's fate and time of death,
scipy LSODA (the reference) against the compiled numba engine (Rodas4 through
``integrate_many``), on the flagship and two seed scenarios at small sizes.

Both engines run at the scenarios' own tolerances (rtol 1e-8, atol 1e-10 nM). Stated tolerance:
every cell's fate identical, apoptotic fractions at every readout time identical, times of death
within 0.5 % (and 0.02 h): the crossing is located on a fine grid inside each output interval,
so what remains is the solvers' own difference, which grows for cells that drift slowly to the
threshold late in the run (apg1387 alone: 0.23 h at 70 h, 0.3 %). A cell whose death falls
within that tolerance of the end of the run may die on one engine only (seen once: apg1387
1000 nM, cell 16, dies at 71.996 h of 72 h on scipy); the fractions then differ by that cell.

Cost: the flagship and apg1387 reuse the numba kernels of ``test_stiff.py`` (bcl2_core,
intrinsic_extrinsic); hqp1351 compiles one more (flt3_aml). The seed scenarios run the numba
engine on one thread (``APOPSIM_THREADS=1``: the same numbers, see ``test_population.py``), so
only the single-cell kernel is compiled for them, not the threaded one as well. A cold compile
of a kernel takes about 1 min on an idle core (it is cached in ``~/.cache/apopsim``; loading it
warm takes about a second); the flagship's threaded kernel is shared with ``test_stiff.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import apopsim
from apopsim.population import Fate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DEATH_TIME_TOL_H = 0.02
DEATH_TIME_RTOL = 5e-3


#: doses (nM) added so that cells die in the small run: the flagship's own grid (HHT 50 nM +
#: lisaftoclax 100 nM) kills 0.045 of cells since BCL-2-bound BIM is protected (issue 9), often
#: none of 20; HHT 1000 nM + lisaftoclax 100 nM kills the nominal cell at 4.85 h
EXTRA_DOSES = {"apg2575_hht.yaml": {"hht": [1000]}}


def _run(name: str, engine: str, n_cells: int = 20) -> apopsim.ScenarioResult:
    """scenarios/<name> with at most 3 doses per drug (0, middle, highest; plus EXTRA_DOSES),
    ``n_cells`` cells, hourly output, on ``engine`` (serial executor: numba runs the cells in
    threads)."""
    data = yaml.safe_load((SCENARIOS / name).read_text())
    data["drugs"] = {d: v if not isinstance(v, list) or len(v) <= 3
                     else [v[0], v[len(v) // 2], v[-1]] for d, v in data["drugs"].items()}
    for d, extra in EXTRA_DOSES.get(name, {}).items():
        data["drugs"][d] = list(data["drugs"][d]) + extra
    data["population"] = {**data["population"], "n_cells": n_cells}
    data["time"] = {**data["time"], "output_every_h": 1.0}
    data["solver"] = {**data["solver"], "engine": engine, "method": None}
    data.pop("expect", None)  # checked elsewhere; only the simulation matters here
    return apopsim.run_scenario(apopsim.Scenario.model_validate(data), progress=False,
                                executor="serial")


def _compare(a, b, t_end: float) -> int:
    """Assert that conditions ``a`` (scipy) and ``b`` (numba) agree cell by cell; return the
    number of borderline cells: those that die on one engine within the death-time tolerance
    of the end of the run and survive on the other."""
    tol = lambda t: DEATH_TIME_TOL_H + DEATH_TIME_RTOL * t  # noqa: E731
    same = a.fate == b.fate
    borderline = ~same & np.isin(a.fate, [Fate.DIED, Fate.SURVIVED]) \
        & np.isin(b.fate, [Fate.DIED, Fate.SURVIVED]) \
        & (np.fmin(a.death_h, b.death_h) >= t_end - tol(t_end))
    assert np.all(same | borderline), (a.name, a.fate, b.fate, a.death_h, b.death_h)
    both = same & (a.fate == Fate.DIED)
    np.testing.assert_array_less(np.abs(b.death_h - a.death_h)[both], tol(a.death_h[both]),
                                 err_msg=a.name)
    return int(borderline.sum())


@pytest.mark.parametrize("name", ["apg2575_hht.yaml", "apg1387_ctb006_solid.yaml",
                                  "hqp1351_apg2575_flt3.yaml"])
def test_fractions_and_fates_agree_between_scipy_and_numba(name, monkeypatch):
    if name != "apg2575_hht.yaml":
        monkeypatch.setenv("APOPSIM_THREADS", "1")
    ref, fast = _run(name, "scipy"), _run(name, "numba")
    assert fast.n_retried == 0 and not fast.failures and not ref.failures
    readouts = ref.scenario.time.readout_times()
    t_end = float(ref.times_h[-1])
    died = n_borderline = n_runs = 0
    for a, b in zip(ref.conditions, fast.conditions):
        assert a.name == b.name
        k = _compare(a, b, t_end)
        for t in readouts:
            fa, fb = a.apoptotic_fraction(t)[0], b.apoptotic_fraction(t)[0]
            assert abs(fa - fb) <= k / max(a.n_live_at_start, 1) + 1e-12, (a.name, t, fa, fb)
        died += int(np.sum(a.fate == Fate.DIED))
        n_borderline += k
        n_runs += a.fate.size
    assert died > 0  # the comparison includes cells that die
    # rare: seen once in 540 cell-runs (apg1387 1000 nM, cell 16: 71.996 h on scipy only)
    assert n_borderline <= max(1, 0.02 * n_runs)
