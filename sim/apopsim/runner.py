"""Run a scenario (one cell or a population, over every condition) and write its results.

Outputs (:meth:`ScenarioResult.write`, atomic): ``summary.csv`` (one row per condition, with
every denominator), ``timecourse.csv`` (tidy: condition, time_h, variable, value [, sd, q05 ...
q95]), ``deaths.csv`` (one row per cell and condition: its fate and time of death),
``dose_response.csv`` (Hill fits when a drug has a dose series), ``synergy/`` (for two-drug
grids), ``plots/`` and ``run.json`` (provenance and per-phase timings; strict JSON).

Cell accounting, per condition: ``n_cells`` cells are simulated; ``n_dead_untreated`` of them are
already dead in their own untreated steady state and ``n_failed`` could not be simulated; the rest,
``n_live_at_start = n_died + n_survived``, are the live cells at treatment start and the
denominator of every apoptotic fraction.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from apopsim._io import atomic_output_dir, strict_json
from apopsim.compiler import compile_model
from apopsim.engine import (
    PreequilibrationOptions,
    SolverOptions,
    resolve_doses,
    untreated_parameters,
)
from apopsim.errors import ScenarioError
from apopsim.library import load_model
from apopsim.model import Model
from apopsim.population import (
    FATE_LABELS,
    STATS,
    Fate,
    PreeqTask,
    TreatTask,
    Variation,
    make_executor,
    run_chunks,
    run_preeq_task,
    run_treat_task,
    sample_cells,
    summarise_traces,
    wilson_interval,
)
from apopsim.scenario import Population, Scenario, check_work
from apopsim.synergy_scenario import grid_drugs, scenario_synergy


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
        Per cell (index = cell number): time of death in h after treatment start; NaN unless the
        cell's ``fate`` is ``Fate.DIED``.
    fate
        Per cell: a :class:`~apopsim.population.Fate` value (``int8`` array; compare with
        ``Fate.DIED``, ``Fate.SURVIVED``, ``Fate.DEAD_UNTREATED``, ``Fate.FAILED``). Cells dead
        in their untreated steady state are not live cells at treatment start and failed cells
        were not simulated: both are excluded from fractions and statistics.
    stats
        Array (len(STATS), n_variables, n_times): mean, sd, 5/25/50/75/95 % quantiles over
        cells and the 95 % interval of the mean.
    errors
        Cell index -> failure message.
    """

    name: str
    doses_nM: dict[str, float]
    death_h: np.ndarray
    fate: np.ndarray
    stats: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def live(self) -> np.ndarray:
        """Death times (h) of the cells live at treatment start, in cell order: the time of
        death for cells that died, ``inf`` for cells that survived the run."""
        keep = (self.fate == Fate.DIED) | (self.fate == Fate.SURVIVED)
        return np.where(self.fate == Fate.DIED, self.death_h, np.inf)[keep]

    def _count(self, fate: Fate) -> int:
        return int(np.sum(self.fate == fate))

    @property
    def n_live_at_start(self) -> int:
        """Cells simulated successfully and alive at treatment start (``n_died + n_survived``):
        the denominator of every apoptotic fraction."""
        return self._count(Fate.DIED) + self._count(Fate.SURVIVED)

    @property
    def n_ok(self) -> int:
        """Same as :attr:`n_live_at_start`."""
        return self.n_live_at_start

    @property
    def n_died(self) -> int:
        """Cells live at treatment start that died during the run (by its end, ``duration_h``)."""
        return self._count(Fate.DIED)

    @property
    def n_survived(self) -> int:
        """Cells live at treatment start and still alive at the end of the run."""
        return self._count(Fate.SURVIVED)

    @property
    def n_dead_untreated(self) -> int:
        """Cells already dead in their untreated steady state (excluded)."""
        return self._count(Fate.DEAD_UNTREATED)

    @property
    def n_failed(self) -> int:
        """Cells whose simulation failed (excluded; messages in ``errors``)."""
        return self._count(Fate.FAILED)

    def apoptotic_fraction(self, t_h: float) -> tuple[float, float, float]:
        """Fraction of the cells live at treatment start (:attr:`n_live_at_start`) dead by
        ``t_h`` hours, with a 95 % Wilson interval."""
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
    #: Seconds per phase: ``setup`` (load and compile the model, sample the cells),
    #: ``start_workers``, ``preequilibration``, ``treatment``, ``run`` (all of
    #: :func:`run_scenario`, = ``wall_time_s``); :meth:`write` adds ``tables``,
    #: ``dose_response``, ``synergy``, ``plots`` (those that ran) and ``write`` (all of it).
    timings: dict[str, float] = field(default_factory=dict)

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
        ``median_time_to_death_h`` (h; median over the cells that died during the run only, NaN
        if none did), ``time_to_death_h`` (the same value, older name), ``<variable>_end`` (mean
        at the end over the cells live at start, nM), and the cell counts: ``n_cells``
        (simulated), ``n_dead_untreated`` (dead in their untreated steady state, excluded),
        ``n_failed`` (simulation failed, excluded), ``n_live_at_start`` (``n_cells -
        n_dead_untreated - n_failed``: the denominator of every apoptotic fraction),
        ``n_died`` (died during the run) and ``n_survived`` (``n_live_at_start - n_died``).
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
            dead = c.death_h[c.fate == Fate.DIED]
            median = float(np.median(dead)) if dead.size else np.nan
            row["median_time_to_death_h"] = median
            row["time_to_death_h"] = median
            for j, v in enumerate(self.variables):
                if v in s.readouts.species:
                    row[f"{v}_end"] = float(c.stats[0, j, -1])
            row["n_cells"] = len(c.fate)
            row["n_dead_untreated"] = c.n_dead_untreated
            row["n_failed"] = c.n_failed
            row["n_live_at_start"] = c.n_live_at_start
            row["n_died"] = c.n_died
            row["n_survived"] = c.n_survived
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
        """One row per condition and cell: ``condition``, ``cell`` (0-based index, the same cell
        in every condition), ``fate`` (``died``, ``survived``, ``dead_untreated`` = dead in its
        own untreated steady state, or ``failed``; the last two are excluded from fractions) and
        ``time_to_death_h`` (h after treatment start; empty unless ``fate`` is ``died``)."""
        labels = np.array(FATE_LABELS)
        frames = [pd.DataFrame({"condition": c.name, "cell": np.arange(len(c.fate)),
                                "fate": labels[c.fate], "time_to_death_h": c.death_h})
                  for c in self.conditions]
        return pd.concat(frames, ignore_index=True)

    def dose_response(self) -> pd.DataFrame:
        """Hill fits of apoptotic fraction vs dose for each drug with >= 4 doses (others at 0)."""
        from apopsim.doseresponse import fit_dose_response

        return fit_dose_response(self)

    def write(self, outdir: str | Path, *, plots: bool = True,
              progress: bool | None = None) -> Path:
        """Write every table, the plots and run.json atomically into ``outdir``.

        ``progress``: one status line per phase (tables, dose-response fits, synergy analysis,
        plots) with its duration on stderr (default: only when stderr is a terminal; False:
        silent). The durations (s) are added to :attr:`timings` and to run.json (``timings_s``).
        """
        outdir = Path(outdir)
        t0 = time.perf_counter()
        phase = _Phases(self.timings, progress)
        with atomic_output_dir(outdir) as tmp:
            with phase("tables", "writing tables"):
                self.to_dataframe().to_csv(tmp / "summary.csv", index=False)
                self.timecourse().to_csv(tmp / "timecourse.csv", index=False)
                self.deaths().to_csv(tmp / "deaths.csv", index=False)
            with phase("dose_response", "fitting dose-response curves"):
                dr = self.dose_response()
                if len(dr):
                    dr.to_csv(tmp / "dose_response.csv", index=False)
            if grid_drugs(self) is not None:
                with phase("synergy", "synergy analysis" + (" and its plots" if plots else "")):
                    scenario_synergy(self, tmp / "synergy", plots=plots)
            if plots:
                with phase("plots", "plots"):
                    (tmp / "plots").mkdir()
                    from apopsim.plots import plot_scenario

                    plot_scenario(self, tmp / "plots", dose_response=dr)
            self.timings["write"] = time.perf_counter() - t0
            self.provenance["timings_s"] = {k: round(v, 3) for k, v in self.timings.items()}
            (tmp / "run.json").write_text(strict_json(self.provenance))
        self.timings["write"] = time.perf_counter() - t0
        return outdir


def _show(progress: bool | None) -> bool:
    """Progress output on stderr: as asked, or (None) only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


class _Phases:
    """Times named phases into ``timings`` (s); when shown, one status line per phase on stderr:
    ``apopsim: <label> ... <seconds> s``."""

    def __init__(self, timings: dict[str, float], progress: bool | None) -> None:
        self.timings = timings
        self.show = _show(progress)

    @contextlib.contextmanager
    def __call__(self, key: str, label: str, *, show: bool = True) -> Iterator[None]:
        show = show and self.show
        if show:
            print(f"apopsim: {label} ...", end="", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.timings[key] = time.perf_counter() - t0
            if show:
                print(f" {self.timings[key]:.1f} s" if ok else " failed", file=sys.stderr,
                      flush=True)


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
        Show progress on stderr (default: only when stderr is a terminal; False: silent): a
        status line with its duration for loading and compiling the model and sampling the
        cells (and for starting Dask workers), then a bar over pre-equilibration and treatment.
        Per-phase durations (s) are in ``ScenarioResult.timings`` and run.json either way.
    executor, workers, scheduler
        Override the scenario's ``execution`` settings: ``"serial"``, ``"processes"`` or
        ``"dask"``; the number of workers; a Dask scheduler address (``tcp://host:8786``).
    """
    too_big = check_work(scenario)  # also for scenarios built in code, not loaded from a file
    if too_big:
        problems = [(".".join(map(str, loc)), msg) for loc, msg in too_big]
        raise ScenarioError("scenario too large: " + "; ".join(m for _, m in problems), problems)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    phase = _Phases(timings, progress)
    pop = scenario.population or Population(n_cells=1, vary_parameters=[])
    cells = f", sampling {pop.n_cells} cells" if pop.n_cells > 1 else ""
    with phase("setup", f"loading and compiling model {scenario.model}{cells}"):
        model = scenario_model(scenario)
        compile_model(model)  # compile (and cache) before workers start
        variation = Variation(tuple(pop.vary_parameters), tuple(pop.vary_species), pop.cv,
                              dict(pop.cv_per), pop.correlation, pop.sampling)
        pnames, pvals, snames, svals = sample_cells(model, variation, pop.n_cells,
                                                    scenario.seed)
    solver = SolverOptions(**scenario.solver.model_dump())
    pre = scenario.preequilibration
    preeq = PreequilibrationOptions(enabled=pre.enabled, tol_per_h=pre.tol_per_h,
                                    max_h=pre.max_h)
    untreated = untreated_parameters(model)
    times = np.asarray(scenario.time.output_times())
    death = scenario.readouts.death
    variables = tuple(dict.fromkeys([*scenario.readouts.species, death.variable]))
    conditions = scenario.conditions()
    blocks = _blocks(pop.n_cells, pop.block_size)

    ex = scenario.execution
    kind = executor or ex.executor
    if kind == "auto":
        kind = "serial" if pop.n_cells * len(conditions) <= 64 else "processes"
    n_work = pop.n_cells * (1 + len(conditions))
    bar = _progress_bar(n_work, progress, scenario.name)
    address = scheduler or ex.scheduler
    dask = bool(address) or kind == "dask"
    with phase("start_workers", "connecting to Dask" if address else "starting Dask workers",
               show=dask):  # local processes start at once (forked on first use)
        pool = make_executor(kind, workers or ex.workers, address)
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

        bar.set_description(f"{scenario.name}: pre-equilibration", refresh=False)
        t_phase = time.perf_counter()
        run_chunks(pool, run_preeq_task, tasks1, got_preeq)
        timings["preequilibration"] = time.perf_counter() - t_phase
        t_phase = time.perf_counter()

        # phase 2: treat every (condition, cell block)
        results = []
        n_retried = 0
        per_cond: dict[int, dict] = {}
        tasks2 = []
        for ci, doses in enumerate(conditions):
            start, events = scenario.engine_schedule(doses)
            sym = {**untreated, **resolve_doses(model, start)}
            sched = tuple((t, resolve_doses(model, c)) for t, c in events)
            for b in blocks:
                tasks2.append(TreatTask(model, solver, tuple(pnames), pvals[list(b)],
                                        y0[list(b)], sym, sched, times, variables,
                                        (death.variable, death.threshold), pop.stop_at_death,
                                        ci, b))
            per_cond[ci] = {"death": np.full(pop.n_cells, np.nan),
                            "fate": np.full(pop.n_cells, Fate.FAILED, dtype=np.int8),
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
                acc["fate"][cells] = res.fate
                acc["traces"][cells] = res.traces
                for c, m in res.errors.items():
                    acc["errors"].setdefault(c, m)
                n_retried += res.retried
            for c in acc["errors"]:
                acc["death"][c] = np.nan
                acc["fate"][c] = Fate.FAILED
            acc["left"] -= 1
            if acc["left"] == 0:  # condition complete: keep only the summaries
                acc["stats"] = summarise_traces(acc.pop("traces"))
            bar.update(len(cells))

        bar.set_description(f"{scenario.name}: treatment", refresh=False)
        run_chunks(pool, run_treat_task, tasks2, got_treat)
        timings["treatment"] = time.perf_counter() - t_phase
    finally:
        pool.close()
        bar.close()
    for ci, doses in enumerate(conditions):
        acc = per_cond[ci]
        results.append(ConditionResult(condition_name(doses), doses, acc["death"], acc["fate"],
                                       acc["stats"], dict(sorted(acc["errors"].items()))))
    wall = time.perf_counter() - t_start
    timings["run"] = wall
    result = ScenarioResult(scenario, model, times, variables, results, wall, pop.n_cells,
                            n_retried, timings=timings)
    result.provenance = provenance(result, kind)
    return result


def _progress_bar(total: int, show: bool | None, desc: str):
    """A tqdm bar on stderr, shown only when asked or (by default) when stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cell-run", file=sys.stderr, mininterval=0.5,
                delay=2.0, disable=not _show(show))


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
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: ver(p) for p in ("numpy", "scipy", "sympy", "numba", "pandas",
                                         "pydantic", "libroadrunner", "antimony")},
        "units": {"concentration": "nM", "time": "h"},
    }
