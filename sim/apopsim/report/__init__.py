"""The writing layer: a :class:`~apopsim.results.ScenarioResult` (data) -> an output folder.

:func:`write_report` writes, atomically (the folder appears whole or not at all; see
:mod:`apopsim._io`):

* ``summary.csv`` -- one row per condition, with every denominator
  (:meth:`~apopsim.results.ScenarioResult.to_dataframe`);
* ``timecourse.csv`` -- tidy: condition, time_h, variable, value [, sd, q05 ... q95];
* ``deaths.csv`` -- one row per cell and condition: its fate and time of death (h);
* ``dose_response.csv`` -- Hill fits when a drug has a dose series
  (:mod:`apopsim.report.doseresponse`);
* ``synergy/`` -- for two-drug grids (:mod:`apopsim.report.synergy`);
* ``plots/`` -- figures (:mod:`apopsim.report.figures`, style in :mod:`apopsim.report.style`);
* ``run.json`` -- the run's provenance with the report's own timings and the synergy settings
  (strict JSON).

Each derived table is computed once and passed on to whatever else needs it (the summary to the
fraction figure, the dose series to the fits and their figures). The result is not changed.

The submodules are imported when needed, so that ``apopsim.report.style`` (shared with
:mod:`apopsim.synergy.plots`) stays light.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apopsim._io import atomic_output_dir, strict_json
from apopsim.progress import Phases

if TYPE_CHECKING:
    from apopsim.report.synergy import ScenarioSynergy
    from apopsim.results import ScenarioResult

__all__ = ["run_record", "write_report"]


def run_record(result: ScenarioResult, timings: dict[str, float] | None = None,
               synergy: ScenarioSynergy | None = None) -> dict[str, Any]:
    """The run.json record: the result's provenance, with ``timings_s`` (s, rounded to ms) over
    the run's and the report's phases (``timings``) and, for a grid, the synergy settings under
    ``synergy``. A new dict; the result is not changed."""
    record = dict(result.provenance)
    record["timings_s"] = {k: round(v, 3)
                           for k, v in {**result.timings, **(timings or {})}.items()}
    if synergy is not None:
        record["synergy"] = synergy.settings
    return record


def write_report(result: ScenarioResult, outdir: str | Path, *, plots: bool = True,
                 progress: bool | None = None, overwrite: bool = False) -> Path:
    """Write every table, the synergy analysis, the plots and run.json atomically into
    ``outdir``; return it.

    Parameters
    ----------
    result
        A scenario's results (:func:`apopsim.run_scenario`); not changed.
    outdir
        The output folder (replaced as a whole; see :mod:`apopsim._io` for the overwrite
        policy).
    plots
        Draw the figures (``plots/`` and the synergy figures).
    progress
        One status line per phase (tables, dose-response fits, synergy analysis, plots) with its
        duration on stderr (default: only when stderr is a terminal; False: silent). The
        durations (s) go into run.json's ``timings_s`` beside the run's.
    overwrite
        Also replace an existing folder that apopsim did not write.
    """
    from apopsim.report.doseresponse import dose_series, fit_dose_response
    from apopsim.report.synergy import grid_drugs, scenario_synergy, write_synergy

    outdir = Path(outdir)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    phase = Phases(timings, progress)
    with atomic_output_dir(outdir, overwrite=overwrite) as tmp:
        with phase("tables", "writing tables"):
            summary = result.to_dataframe()
            summary.to_csv(tmp / "summary.csv", index=False)
            result.timecourse().to_csv(tmp / "timecourse.csv", index=False)
            result.deaths().to_csv(tmp / "deaths.csv", index=False)
        with phase("dose_response", "fitting dose-response curves"):
            series = dose_series(result)
            fits = fit_dose_response(result, series)
            if len(fits):
                fits.to_csv(tmp / "dose_response.csv", index=False)
        synergy = None
        if grid_drugs(result) is not None:
            with phase("synergy", "synergy analysis" + (" and its plots" if plots else "")):
                synergy = scenario_synergy(result)
                if synergy is not None:
                    write_synergy(synergy, tmp / "synergy", plots=plots)
        if plots:
            with phase("plots", "plots"):
                (tmp / "plots").mkdir()
                from apopsim.report import figures

                figures.plot_scenario(result, tmp / "plots", summary=summary,
                                      dose_response=fits, series=series)
        timings["write"] = time.perf_counter() - t0
        (tmp / "run.json").write_text(strict_json(run_record(result, timings, synergy)))
    return outdir
