"""Run a scenario (one cell or a population, over every condition) into a
:class:`~apopsim.results.ScenarioResult` (data only; :func:`apopsim.write_report` writes it).

Cell accounting, per condition: ``n_cells`` cells are simulated; ``n_dead_untreated`` of them are
already dead in their own untreated steady state and ``n_failed`` could not be simulated; the rest,
``n_live_at_start = n_died + n_survived``, are the live cells at treatment start and the
denominator of every apoptotic fraction.
"""

from __future__ import annotations

import platform
import sys
import time
from typing import Any

import numpy as np

from apopsim.cell import untreated_parameters
from apopsim.engine import compile_model
from apopsim.errors import ScenarioError
from apopsim.library import catalogue, load_model
from apopsim.model import Model
from apopsim.population import (
    Fate,
    PreeqTask,
    TreatTask,
    make_executor,
    run_chunks,
    run_preeq_task,
    run_treat_task,
    sample_cells,
    summarise_traces,
)
from apopsim.progress import Phases, progress_bar
from apopsim.results import ConditionResult, ScenarioResult
from apopsim.scenario import Population, Scenario, check_work

__all__ = ["ConditionResult", "ScenarioResult", "condition_name", "provenance",
           "run_scenario", "scenario_model"]


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
    phase = Phases(timings, progress)
    pop = scenario.population or Population(n_cells=1, vary_parameters=[])
    cells = f", sampling {pop.n_cells} cells" if pop.n_cells > 1 else ""
    with phase("setup", f"loading and compiling model {scenario.model}{cells}"):
        model = scenario_model(scenario)
        compile_model(model)  # compile (and cache) before workers start
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
    bar = progress_bar(n_work, progress, scenario.name)
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
            sym = {**untreated, **resolve(model, start)}
            sched = tuple((t, resolve(model, c)) for t, c in events)
            for b in blocks:
                tasks2.append(TreatTask(model, solver, tuple(pnames), pvals[list(b)],
                                        y0[list(b)], sym, sched, times, variables,
                                        event,
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
        "method": s.solver.options().method,
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
