"""Synergy of simulated two-drug grids, at every readout time: the scenario -> synergy adapter.

A scenario whose ``drugs`` give two drugs several doses each on a ``grid`` is a dose matrix. Its
response is the simulated **apoptotic fraction** (an inhibition, as a fraction of cells killed),
so the scores read as SynergyFinder's: percentage points of killing above the reference
(positive = synergy), CI < 1 = synergy. Methods that need single-drug fits (Loewe, ZIP, CI) are
used when each drug has at least 3 non-zero doses, MuSyC (a 2-D surface fit with bootstrap
intervals, the costly one) when each has at least 4 and the run is a population (single
all-or-none cells make fitted surfaces meaningless).

:func:`scenario_synergy` computes the analysis (data; the result is not changed) and
:func:`write_synergy` writes it; :attr:`ScenarioSynergy.settings` is what run.json records.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from apopsim.results import ScenarioResult
    from apopsim.synergy import SynergyResult


@dataclass(frozen=True)
class ScenarioSynergy:
    """The synergy analysis of a scenario's two-drug grid.

    Attributes
    ----------
    drugs
        The two drugs of the grid (``drug1``, ``drug2`` of the tables).
    methods
        The synergy methods used (see :func:`methods_for`).
    by_time
        Readout time (h) -> :class:`~apopsim.synergy.SynergyResult` of the grid at that time.
    """

    drugs: tuple[str, str]
    methods: list[str]
    by_time: dict[float, SynergyResult]

    @property
    def settings(self) -> dict[str, Any]:
        """The settings run.json records under ``synergy``."""
        return {"methods": list(self.methods)}


def grid_drugs(result: ScenarioResult) -> tuple[str, str] | None:
    """The two drugs (or species inputs, in nM) forming a dose grid, or None; a grid over a
    parameter input is not scored for synergy."""
    s = result.scenario
    varied = [d for d, v in s.dose_lists().items() if len(set(v)) > 1]
    if s.design != "grid" or len(varied) != 2:
        return None
    a, b = varied
    if any(d in s.inputs and d not in result.model.state for d in (a, b)):
        return None  # a parameter sweep: heat maps, no synergy scores
    if not (0.0 in s.dose_lists()[a] and 0.0 in s.dose_lists()[b]):
        return None  # no monotherapy margins
    return a, b


def grid_wells(result: ScenarioResult, t_h: float) -> pd.DataFrame:
    """SynergyFinder-style wells (apoptotic fraction as inhibition) at readout time ``t_h``
    (h); concentrations in nM."""
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


def scenario_synergy(result: ScenarioResult) -> ScenarioSynergy | None:
    """Score the grid at every readout time (None if the scenario is not a two-drug grid).

    Pure: reads ``result``, changes nothing and writes nothing (see :func:`write_synergy`).
    """
    pair = grid_drugs(result)
    if pair is None:
        return None
    from apopsim.synergy import analyze_time_course

    wells = {t: grid_wells(result, t) for t in result.scenario.time.readout_times()}
    methods = methods_for(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # strict=False: a method the simulated responses cannot support at some time (e.g. no
        # partial monotherapy effect yet for a median-effect fit) is NaN there, with the reason
        # in summary.csv's skipped_methods column, and is computed at the other times
        by_time = analyze_time_course(wells, data_type="inhibition", scale="fraction",
                                      methods=methods, seed=result.scenario.seed, strict=False,
                                      source=f"scenario {result.scenario.name}")
    return ScenarioSynergy(pair, methods, by_time)


def write_synergy(synergy: ScenarioSynergy, outdir: str | Path, *, plots: bool = True) -> Path:
    """Write the analysis into ``outdir`` (atomically): the tables at every readout time and
    ``plots/synergy_vs_time.png``; with ``plots``, the per-block figures (heat maps, surfaces,
    curves) of the last readout time, where the run's outcome is read."""
    from apopsim.synergy import write_time_course_report

    res = synergy.by_time
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
    return Path(outdir)
