"""Run a scenario (one cell or a population, over every condition) and write its results.

Outputs (:meth:`ScenarioResult.write`, atomic): ``summary.csv`` (one row per condition),
``timecourse.csv`` (tidy: condition, time_h, variable, value [, sd, q05 ... q95]),
``deaths.csv`` (one row per cell and condition), ``dose_response.csv`` (Hill fits when a drug has
a dose series), ``synergy/`` (for two-drug grids), ``plots/`` and ``run.json`` (provenance).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apopsim._io import atomic_output_dir
from apopsim.engine import compile_model
from apopsim.library import catalogue, load_model
from apopsim.model import Model
from apopsim.population import (
    STATS,
    PreeqTask,
    TreatTask,
    make_executor,
    run_chunks,
    run_preeq_task,
    run_treat_task,
    sample_cells,
    summarise_traces,
    wilson_interval,
)
from apopsim.scenario import Population, Scenario
from apopsim.simulate import untreated_parameters
from apopsim.synergy_scenario import scenario_synergy


@dataclass
class ConditionResult:
    """One condition.

    Attributes
    ----------
    name
        Label such as ``lisaftoclax 100 nM + hht 50 nM``.
    doses_nM
        Drug -> concentration (nM) at treatment start.
    death_h
        Per cell: time of death (h after treatment), ``inf`` if it survived, ``nan`` if it failed,
        ``-inf`` if it was already dead in its untreated steady state (such cells are not live
        cells at treatment start: they are counted in ``n_dead_untreated`` and excluded from
        fractions and statistics).
    stats
        Array (len(STATS), n_variables, n_times): mean, sd, 5/25/50/75/95 % quantiles over
        cells and the 95 % interval of the mean.
    errors
        Cell index -> failure message.
    """

    name: str
    doses_nM: dict[str, float]
    death_h: np.ndarray
    stats: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def live(self) -> np.ndarray:
        """Death times of the cells that were simulated and alive at treatment start."""
        return self.death_h[~np.isnan(self.death_h) & (self.death_h > -np.inf)]

    @property
    def n_ok(self) -> int:
        """Cells simulated successfully and alive at treatment start."""
        return int(self.live.size)

    @property
    def n_dead_untreated(self) -> int:
        """Cells already dead in their untreated steady state (excluded)."""
        return int(np.sum(self.death_h == -np.inf))

    def apoptotic_fraction(self, t_h: float) -> tuple[float, float, float]:
        """Fraction of live cells dead by ``t_h`` hours, with a 95 % Wilson interval."""
        ok = self.live
        if not ok.size:
            return (np.nan, np.nan, np.nan)
        k = int(np.sum(ok <= t_h + 1e-9))
        lo, hi = wilson_interval(k, ok.size)
        return k / ok.size, float(lo), float(hi)


@dataclass
class ScenarioResult:
    """Results of :func:`run_scenario` (concentrations in nM, times in h)."""

    scenario: Scenario
    model: Model
    times_h: np.ndarray
    variables: tuple[str, ...]
    conditions: list[ConditionResult]
    wall_time_s: float
    n_cells: int
    n_retried: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[tuple[str, int, str]]:
        """``(condition, cell, message)`` for every cell that failed."""
        return [(c.name, cell, msg) for c in self.conditions for cell, msg in c.errors.items()]

    def trace(self, condition: int | str, variable: str, stat: str = "mean") -> np.ndarray:
        """Time course of ``variable`` (statistic over cells) for a condition (index or name)."""
        c = self._condition(condition)
        return c.stats[STATS.index(stat), self.variables.index(variable)]

    def _condition(self, condition: int | str) -> ConditionResult:
        if isinstance(condition, int):
            return self.conditions[condition]
        for c in self.conditions:
            if c.name == condition:
                return c
        raise KeyError(f"no condition {condition!r}")

    # ------------------------------------------------------------------ tables
    def to_dataframe(self) -> pd.DataFrame:
        """Summary: one row per condition.

        Columns: ``condition``, ``<drug>_nM``, ``apoptotic_fraction_<t>h`` (with ``_ci_low`` /
        ``_ci_high`` for populations) per readout time, ``apoptotic_fraction`` (last readout),
        ``time_to_death_h`` (median over the cells that died; NaN if none did),
        ``<variable>_end`` (mean at the end, nM), ``n_cells``, ``n_failed``.
        """
        s = self.scenario
        pop = self.n_cells > 1
        rows = []
        for c in self.conditions:
            row: dict[str, Any] = {"condition": c.name}
            row.update({f"{d}_nM": c.doses_nM.get(d, 0.0) for d in s.drugs})
            for t in s.time.readout_times():
                f, lo, hi = c.apoptotic_fraction(t)
                row[f"apoptotic_fraction_{t:g}h"] = f
                if pop:
                    row[f"apoptotic_fraction_{t:g}h_ci_low"] = lo
                    row[f"apoptotic_fraction_{t:g}h_ci_high"] = hi
            row["apoptotic_fraction"] = c.apoptotic_fraction(s.time.readout_times()[-1])[0]
            dead = c.live[np.isfinite(c.live)]
            row["time_to_death_h"] = float(np.median(dead)) if dead.size else np.nan
            for j, v in enumerate(self.variables):
                if v in s.readouts.species:
                    row[f"{v}_end"] = float(c.stats[0, j, -1])
            row["n_cells"] = len(c.death_h)
            row["n_failed"] = len(c.errors)
            row["n_dead_untreated"] = c.n_dead_untreated
            rows.append(row)
        return pd.DataFrame(rows)

    def timecourse(self) -> pd.DataFrame:
        """Tidy time courses: condition, time_h, variable, value (mean over cells)
        [, sd, q05, q25, q50, q75, q95, mean_ci_low, mean_ci_high for populations]."""
        frames = []
        nt = len(self.times_h)
        for c in self.conditions:
            for j, v in enumerate(self.variables):
                d = {"condition": [c.name] * nt, "time_h": self.times_h, "variable": [v] * nt,
                     "value": c.stats[0, j]}
                if self.n_cells > 1:
                    d.update({st: c.stats[k, j] for k, st in enumerate(STATS) if k > 0})
                frames.append(pd.DataFrame(d))
        return pd.concat(frames, ignore_index=True)

    def deaths(self) -> pd.DataFrame:
        """One row per condition and cell: time of death in h (inf = survived; NaN = failed;
        -inf = dead in its untreated steady state, excluded from fractions)."""
        frames = [pd.DataFrame({"condition": c.name, "cell": np.arange(len(c.death_h)),
                                "time_to_death_h": c.death_h}) for c in self.conditions]
        return pd.concat(frames, ignore_index=True)

    def dose_response(self) -> pd.DataFrame:
        """Hill fits of apoptotic fraction vs dose for each drug with >= 4 doses (others at 0)."""
        from apopsim.doseresponse import fit_dose_response

        return fit_dose_response(self)

    def write(self, outdir: str | Path, *, plots: bool = True) -> Path:
        """Write every table, the plots and run.json atomically into ``outdir``."""
        outdir = Path(outdir)
        with atomic_output_dir(outdir) as tmp:
            self.to_dataframe().to_csv(tmp / "summary.csv", index=False)
            self.timecourse().to_csv(tmp / "timecourse.csv", index=False)
            self.deaths().to_csv(tmp / "deaths.csv", index=False)
            dr = self.dose_response()
            if len(dr):
                dr.to_csv(tmp / "dose_response.csv", index=False)
            scenario_synergy(self, tmp / "synergy", plots=plots)
            if plots:
                (tmp / "plots").mkdir()
                from apopsim.plots import plot_scenario

                plot_scenario(self, tmp / "plots", dose_response=dr)
            (tmp / "run.json").write_text(json.dumps(self.provenance, indent=2, default=str))
        return outdir


def condition_name(doses: dict[str, float]) -> str:
    """Readable condition label, e.g. ``lisaftoclax 100 nM + hht 50 nM`` or ``control``."""
    parts = [f"{d} {v:g} nM" for d, v in doses.items() if v > 0]
    return " + ".join(parts) if parts else "control"


def scenario_model(scenario: Scenario) -> Model:
    """The scenario's model with its context and overrides applied."""
    model = load_model(scenario.model, scenario.context, base=scenario.base_dir)
    o = scenario.overrides
    if o.parameters or o.initial_nM:
        model = model.with_overrides(o.parameters, o.initial_nM, where="scenario overrides")
    return model


def _blocks(n: int, size: int) -> list[tuple[int, ...]]:
    return [tuple(range(i, min(i + size, n))) for i in range(0, n, size)]


def run_scenario(
    scenario: Scenario,
    *,
    progress: bool | None = None,
    executor: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> ScenarioResult:
    """Simulate every condition of ``scenario`` for one cell or a population.

    Each cell is pre-equilibrated untreated once (shared by all conditions), then treated under
    each condition from ``t = 0`` h. Failed cells are retried once, then reported in
    ``ScenarioResult.failures``; they never vanish silently.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`apopsim.load_scenario`).
    progress
        Show a progress bar (default: only when stderr is a terminal).
    executor, workers, scheduler
        Override the scenario's ``execution`` settings: ``"serial"``, ``"processes"`` or
        ``"dask"``; the number of workers; a Dask scheduler address (``tcp://host:8786``).
    """
    t_start = time.perf_counter()
    model = scenario_model(scenario)
    compile_model(model)  # compile (and cache) before workers start
    pop = scenario.population or Population(n_cells=1, vary_parameters=[])
    pnames, pvals, snames, svals = sample_cells(model, pop.variation(), pop.n_cells,
                                                scenario.seed)
    solver = scenario.solver.options()
    preeq = scenario.preequilibration.options()
    event = scenario.readouts.death.event(pop.stop_at_death)
    untreated = untreated_parameters(model)
    resolve = catalogue().resolve
    times = np.asarray(scenario.time.output_times())
    variables = tuple(dict.fromkeys([*scenario.readouts.species, event.variable]))
    conditions = scenario.conditions()
    blocks = _blocks(pop.n_cells, pop.block_size)

    ex = scenario.execution
    kind = executor or ex.executor
    if kind == "auto":
        kind = "serial" if pop.n_cells * len(conditions) <= 64 else "processes"
    n_work = pop.n_cells * (1 + len(conditions))
    bar = _progress_bar(n_work, progress, scenario.name)
    pool = make_executor(kind, workers or ex.workers, scheduler or ex.scheduler)
    try:
        # phase 1: pre-equilibrate each cell once
        y0 = np.empty((pop.n_cells, len(model.state)))
        pre_errors: dict[int, str] = {}
        sidx = tuple(model.state.index(s) for s in snames)
        tasks1 = [PreeqTask(model, solver, preeq, tuple(pnames), pvals[list(b)], sidx,
                            svals[list(b)], untreated, b) for b in blocks]

        def got_preeq(i, res, err):
            b = blocks[i]
            if err is not None:
                y0[list(b)] = np.nan
                pre_errors.update({c: f"chunk failed twice: {err}" for c in b})
            else:
                y0[list(b)] = res.y0
                pre_errors.update(res.errors)
            bar.update(len(b))

        run_chunks(pool, run_preeq_task, tasks1, got_preeq)

        # phase 2: treat every (condition, cell block)
        results = []
        n_retried = 0
        per_cond: dict[int, dict] = {}
        tasks2 = []
        for ci, doses in enumerate(conditions):
            start, events = scenario.engine_schedule(doses)
            sym = {**untreated, **resolve(model, start)}
            sched = tuple((t, resolve(model, c)) for t, c in events)
            for b in blocks:
                tasks2.append(TreatTask(model, solver, tuple(pnames), pvals[list(b)],
                                        y0[list(b)], sym, sched, times, variables,
                                        event,
                                        ci, b))
            per_cond[ci] = {"death": np.full(pop.n_cells, np.nan),
                            "traces": np.full((pop.n_cells, len(variables), len(times)), np.nan,
                                              dtype=np.float32),
                            "errors": {c: m for c, m in pre_errors.items()}, "left": len(blocks)}

        def got_treat(i, res, err):
            nonlocal n_retried
            task = tasks2[i]
            acc = per_cond[task.condition]
            cells = list(task.cells)
            if err is not None:
                acc["errors"].update({c: f"chunk failed twice: {err}" for c in cells})
            else:
                acc["death"][cells] = res.death_h
                acc["traces"][cells] = res.traces
                for c, m in res.errors.items():
                    acc["errors"].setdefault(c, m)
                n_retried += res.retried
            for c in acc["errors"]:
                acc["death"][c] = np.nan
            acc["left"] -= 1
            if acc["left"] == 0:  # condition complete: keep only the summaries
                acc["stats"] = summarise_traces(acc.pop("traces"))
            bar.update(len(cells))

        run_chunks(pool, run_treat_task, tasks2, got_treat)
    finally:
        pool.close()
        bar.close()
    for ci, doses in enumerate(conditions):
        acc = per_cond[ci]
        results.append(ConditionResult(condition_name(doses), doses, acc["death"],
                                       acc["stats"], dict(sorted(acc["errors"].items()))))
    wall = time.perf_counter() - t_start
    result = ScenarioResult(scenario, model, times, variables, results, wall, pop.n_cells,
                            n_retried)
    result.provenance = provenance(result, kind)
    return result


def _progress_bar(total: int, show: bool | None, desc: str):
    """A tqdm bar on stderr, shown only when asked or (by default) when stderr is a terminal."""
    from tqdm.auto import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="cell-run", file=sys.stderr, mininterval=0.5,
                delay=2.0, disable=not show)


def provenance(result: ScenarioResult, executor: str) -> dict[str, Any]:
    """The run.json record: what ran, with which code, inputs and settings."""
    import importlib.metadata as md

    import apopsim

    def ver(pkg: str) -> str | None:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    s, model = result.scenario, result.model
    failures = result.failures
    return {
        "apopsim_version": apopsim.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenario_file": str(s.source) if s.source else None,
        "scenario": s.model_dump(mode="json"),
        "model": {"name": model.name, "source": str(model.source),
                  "file_sha256": model.source_hashes},
        "seed": s.seed,
        "engine": s.solver.engine,
        "method": s.solver.method,
        "rtol": s.solver.rtol,
        "atol_nM": s.solver.atol,
        "executor": executor,
        "n_conditions": len(result.conditions),
        "n_cells_per_condition": result.n_cells,
        "n_cells_retried": result.n_retried,
        "n_cells_failed": len(failures),
        "failed_conditions": sorted({c for c, _, _ in failures}),
        "failures": [{"condition": c, "cell": i, "error": m} for c, i, m in failures[:100]],
        "wall_time_s": round(result.wall_time_s, 4),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: ver(p) for p in ("numpy", "scipy", "sympy", "numba", "pandas",
                                         "pydantic", "libroadrunner", "antimony")},
        "units": {"concentration": "nM", "time": "h"},
    }
