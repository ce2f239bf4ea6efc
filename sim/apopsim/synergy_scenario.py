"""Synergy of simulated two-drug grids, at every readout time.

A scenario whose ``drugs`` give two drugs several doses each on a ``grid`` is a dose matrix. Its
response is the simulated **apoptotic fraction** (an inhibition, as a fraction of cells killed),
so the scores read as SynergyFinder's: percentage points of killing above the reference
(positive = synergy), CI < 1 = synergy. Methods that need single-drug fits (Loewe, ZIP, CI) are
used when each drug has at least 3 non-zero doses, MuSyC (a 2-D surface fit with bootstrap
intervals, the costly one) when each has at least 4 and the run is a population (single
all-or-none cells make fitted surfaces meaningless).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from apopsim.runner import ScenarioResult


def grid_drugs(result: ScenarioResult) -> tuple[str, str] | None:
    """The two drugs forming a dose grid, or None."""
    s = result.scenario
    varied = [d for d, v in s.dose_lists().items() if len(set(v)) > 1]
    if s.design != "grid" or len(varied) != 2:
        return None
    a, b = varied
    if not (0.0 in s.dose_lists()[a] and 0.0 in s.dose_lists()[b]):
        return None  # no monotherapy margins
    return a, b


def grid_wells(result: ScenarioResult, t_h: float) -> pd.DataFrame:
    """SynergyFinder-style wells (apoptotic fraction as inhibition) at readout time ``t_h``."""
    a, b = grid_drugs(result)  # type: ignore[misc]
    rows = [{"block_id": result.scenario.name, "drug1": a, "drug2": b,
             "conc1": c.doses_nM[a], "conc2": c.doses_nM[b],
             "response": c.apoptotic_fraction(t_h)[0], "conc_unit": "nM"}
            for c in result.conditions]
    return pd.DataFrame(rows)


def methods_for(result: ScenarioResult) -> list[str]:
    """Synergy methods this grid supports (see the module docstring)."""
    a, b = grid_drugs(result)  # type: ignore[misc]
    lists = result.scenario.dose_lists()
    n_a, n_b = (len({x for x in lists[d] if x > 0}) for d in (a, b))
    methods = ["bliss", "hsa"]
    if min(n_a, n_b) >= 3:
        methods += ["loewe", "zip", "ci"]
    if min(n_a, n_b) >= 4 and result.n_cells > 1:
        methods.append("musyc")
    return methods


def scenario_synergy(result: ScenarioResult, outdir: Path, *, plots: bool = True):
    """Score the grid at every readout time and write ``outdir`` (None if not a grid)."""
    if grid_drugs(result) is None:
        return None
    from apopsim.synergy import analyze_time_course, write_time_course_report

    wells = {t: grid_wells(result, t) for t in result.scenario.time.readout_times()}
    methods = methods_for(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # strict=False: a method the simulated responses cannot support at some time (e.g. no
        # partial monotherapy effect yet for a median-effect fit) is NaN there, with the reason
        # in summary.csv's skipped_methods column, and is computed at the other times
        res = analyze_time_course(wells, data_type="inhibition", scale="fraction",
                                  methods=methods, seed=result.scenario.seed, strict=False,
                                  source=f"scenario {result.scenario.name}")
    # tables at every time and synergy_vs_time.png; the per-block figures (heat maps, surfaces,
    # curves) only for the last readout time, where the run's outcome is read
    write_time_course_report(res, outdir, plots=False)
    if plots:
        from apopsim.synergy.report import block_plots, safe_name

        t_last = max(res)
        with warnings.catch_warnings():
            # figures the design does not support (a 3-D surface of a grid smaller than 3 x 3
            # non-zero doses) are left out, not reported as failures
            warnings.filterwarnings("ignore", message=r".*\(NotApplicable: ")
            for block in res[t_last].blocks.values():
                block_plots(block, Path(outdir) / "plots",
                            prefix=f"t{safe_name(f'{t_last:g}')}_")
    result.provenance["synergy"] = {"methods": methods}
    return res
