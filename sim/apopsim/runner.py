"""Run a scenario (one cell or a population, over every condition) into a
:class:`~apopsim.results.ScenarioResult` (data only; :func:`apopsim.write_report` writes it).

Cell accounting, per condition: ``n_cells`` cells are simulated; ``n_dead_untreated`` of them are
already dead in their own untreated steady state and ``n_failed`` could not be simulated; the rest,
``n_live_at_start = n_died + n_survived``, are the live cells at treatment start and the
denominator of every apoptotic fraction.
"""

from __future__ import annotations

import functools
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apopsim.cell import (
    compiled_engine_runs,
    needs_event_path,
    simulate_events,
    untreated_parameters,
)
from apopsim.engine import SolverOptions, ThresholdEvent, compile_model
from apopsim.engine.auto import EngineChoice, choose_engine, single_cell_options
from apopsim.errors import ApopsimWarning, ModelError, ScenarioError, SimulationError
from apopsim.inputs import (
    apply_species,
    factor_units,
    plan_inputs,
    scale_varied,
    species_schedule,
)
from apopsim.library import catalogue
from apopsim.model import Model
from apopsim.population import (
    Fate,
    PreeqResult,
    PreeqTask,
    TreatResult,
    TreatTask,
    auto_executor,
    make_executor,
    record_cell,
    run_chunks,
    run_preeq_task,
    run_treat_task,
    sample_cells,
    summarise_traces,
)
from apopsim.progress import Phases, progress_bar
from apopsim.results import ConditionResult, ScenarioResult
from apopsim.scenario import Population, Scenario, check_work
from apopsim.scenario.checks import event_problems, scenario_base_model

__all__ = ["ConditionResult", "ScenarioResult", "condition_name", "provenance",
           "run_scenario", "scenario_model"]


def condition_name(doses: dict[str, float],
                   units: dict[str, str | None] | None = None) -> str:
    """Readable condition label, e.g. ``lisaftoclax 100 nM + hht 50 nM`` or ``control``.

    ``units``: factor -> unit (default nM). A factor in nM is named only when above 0; any other
    factor (a parameter input) always, as ``k_on = 0.5 1/h`` or, unit unknown, ``k_on = 0.5``.
    """
    units = units or {}
    parts = []
    for d, v in doses.items():
        unit = units.get(d, "nM")
        if unit == "nM":
            if v > 0:
                parts.append(f"{d} {v:g} nM")
        else:
            parts.append(f"{d} = {v:g}" + (f" {unit}" if unit else ""))
    return " + ".join(parts) if parts else "control"


def scenario_model(scenario: Scenario) -> Model:
    """The scenario's model with its context and overrides applied (a model file of the
    user's with its SBML events and the scenario's ``model_units``:
    :func:`apopsim.scenario.checks.scenario_base_model`)."""
    try:
        model = scenario_base_model(scenario)
    except ModelError as exc:
        raise ScenarioError(str(exc), [("model", str(exc))]) from None
    o = scenario.overrides
    if o.parameters or o.initial_nM:
        model = model.with_overrides(o.parameters, o.initial_nM, where="scenario overrides")
    return model


@dataclass(frozen=True)
class EventTask:
    """Treat a block of cells on the event integrator (:func:`apopsim.cell.simulate_events`):
    a model with SBML events or without ODE states, or species changed during the run.
    Fields as :class:`~apopsim.population.TreatTask`, plus the species changes
    ``(time_h, {species: (action, nM)})`` and the species clamped from ``t = 0``."""

    model: Model
    solver: SolverOptions
    param_names: tuple[str, ...]
    param_values: np.ndarray  # (n, p)
    y0: np.ndarray  # (n, n_state) amounts at t = 0
    doses: dict[str, float]  # model symbol -> value at t = 0
    schedule: tuple[tuple[float, dict[str, float]], ...]
    species_schedule: tuple[tuple[float, dict[str, tuple[str, float | None]]], ...]
    clamped: tuple[str, ...]
    times: np.ndarray
    readouts: tuple[str, ...]
    event: ThresholdEvent
    condition: int
    cells: tuple[int, ...]


def run_event_task(task: EventTask) -> TreatResult:
    """Treat the cells of ``task`` one by one on the event integrator; fates as
    :func:`~apopsim.population.run_treat_task` gives them (a cell past the death threshold at
    ``t = 0`` is dead untreated; a failed cell is recorded with its error)."""
    n, nt = len(task.cells), len(task.times)
    death = np.full(n, np.nan)
    fate = np.full(n, Fate.FAILED, dtype=np.int8)
    traces = np.full((n, len(task.readouts), nt), np.nan)
    errors: dict[int, str] = {}
    for i, cell in enumerate(task.cells):
        if not np.all(np.isfinite(task.y0[i])):
            errors[cell] = "not pre-equilibrated"
            continue
        values = {**dict(zip(task.param_names, task.param_values[i])), **task.doses}
        try:
            tr = simulate_events(task.model, task.y0[i], values, list(task.schedule),
                                 task.times, species_schedule=task.species_schedule,
                                 solver=task.solver, event=task.event, clamped=task.clamped)
        except (SimulationError, ArithmeticError, ValueError) as exc:
            errors[cell] = str(exc) or type(exc).__name__
            continue
        record_cell(tr, task.event, task.readouts, i, fate, death, traces)
    return TreatResult(task.condition, task.cells, fate, death, traces, errors)


def _initial_states(model: Model, sidx: tuple[int, ...], svals: np.ndarray) -> PreeqResult:
    """The model's initial state per cell, with the population's varied species amounts
    (a model the compiled engine cannot integrate is not pre-equilibrated)."""
    y0 = np.tile(model.initial, (len(svals), 1))
    y0[:, list(sidx)] = svals
    return PreeqResult((), y0, {})


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

    Each cell is pre-equilibrated untreated once (shared by all conditions; once per value set
    of the ``cell``-mode parameter inputs, if any), then treated under each condition from
    ``t = 0`` h: drugs and ``treat`` parameter inputs take their values, species inputs are
    added to (or clamped in) the pre-equilibrated state (:mod:`apopsim.inputs`). Failed cells
    are retried once, then reported in ``ScenarioResult.failures``; they never vanish silently.

    A model with SBML events or without ODE states, or a species input changed by the schedule
    (a bolus, a clamp that starts or ends during the run), is treated on the event integrator
    (:class:`EventTask`, :func:`apopsim.cell.simulate_events`: scipy LSODA, every event
    located by root finding); a setting it cannot honour (another engine, pre-equilibration of
    a model with events) is refused before anything runs. Such a model is not
    pre-equilibrated; its cells start from the model's initial state.

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
        _warn_units(scenario, model)
        plan = plan_inputs(scenario, model)  # raises ScenarioError naming a bad input
        refused = event_problems(scenario, model)
        if refused:
            raise ScenarioError("; ".join(m for _, m in refused),
                                [(".".join(loc), m) for loc, m in refused])
        # SBML events, no ODE state or a species changed by the schedule: the event integrator
        events_path = needs_event_path(
            model, species_schedule(scenario, model, scenario.conditions()[0])[1])
        try:
            variation = pop.variation(model)
        except ValueError as exc:
            raise ScenarioError(str(exc), [("population.vary_parameters", str(exc))]) from None
        if compiled_engine_runs(model):
            compile_model(model)  # compile (and cache) before workers start
        if plan.treat_model is not model and not events_path:
            compile_model(plan.treat_model)  # clamped species: a variant for treatment
        pnames, pvals, snames, svals = sample_cells(model, variation, pop.n_cells,
                                                    scenario.seed)
    solver = scenario.solver.options()
    preeq = scenario.preequilibration.options()
    event = scenario.readouts.death.event(pop.stop_at_death)
    untreated = untreated_parameters(model)
    resolve = functools.partial(catalogue().resolve, serum_percent=scenario.serum_percent)
    times = np.asarray(scenario.time.output_times())
    variables = tuple(dict.fromkeys([*scenario.readouts.species, event.variable]))
    conditions = scenario.conditions()
    blocks = _blocks(pop.n_cells, pop.block_size)
    # cells are pre-equilibrated once per value set of the 'cell'-mode parameter inputs
    groups = list(dict.fromkeys(tuple(sorted(plan.cell_values(c).items())) for c in conditions))
    # engine: auto -> the engine this population runs on, and why (run.json)
    if compiled_engine_runs(model) and not events_path:
        choice = choose_engine(compile_model(plan.treat_model), solver,
                               pop.n_cells * (len(groups) + len(conditions)))
    else:
        choice = EngineChoice(single_cell_options(solver), "the event integrator (scipy LSODA)")
    solver = choice.solver

    ex = scenario.execution
    kind = executor or ex.executor
    if kind == "auto":
        kind = auto_executor(solver.engine, pop.n_cells * len(conditions))
    n_work = pop.n_cells * (len(groups) + len(conditions))
    bar = progress_bar(n_work, progress, scenario.name)
    address = scheduler or ex.scheduler
    dask = bool(address) or kind == "dask"
    with phase("start_workers", "connecting to Dask" if address else "starting Dask workers",
               show=dask):  # local processes start at once (forked on first use)
        pool = make_executor(kind, workers or ex.workers, address)
    try:
        # phase 1: pre-equilibrate each cell once (per group of 'cell'-mode input values)
        y0s = {g: np.empty((pop.n_cells, len(model.state))) for g in groups}
        pre_errors: dict[tuple, dict[int, str]] = {g: {} for g in groups}
        sidx = tuple(model.state.index(s) for s in snames)
        jobs1 = [(g, b) for g in groups for b in blocks]
        cell_params = {g: scale_varied(model, pnames, pvals, dict(g)) for g in groups}
        tasks1 = [PreeqTask(model, solver, preeq, tuple(pnames), cell_params[g][0][list(b)],
                            sidx, svals[list(b)], {**untreated, **cell_params[g][1]}, b)
                  for g, b in jobs1]

        def got_preeq(i, res, err):
            g, b = jobs1[i]
            if err is not None:
                y0s[g][list(b)] = np.nan
                pre_errors[g].update({c: f"chunk failed twice: {err}" for c in b})
            else:
                y0s[g][list(b)] = res.y0
                pre_errors[g].update(res.errors)
            bar.update(len(b))

        bar.set_description(f"{scenario.name}: pre-equilibration", refresh=False)
        t_phase = time.perf_counter()
        if compiled_engine_runs(model):
            run_chunks(pool, run_preeq_task, tasks1, got_preeq)
        else:  # not integrable by the compiled engine: no pre-equilibration (checked above)
            for i, (_, b) in enumerate(jobs1):
                got_preeq(i, _initial_states(model, sidx, svals[list(b)]), None)
        timings["preequilibration"] = time.perf_counter() - t_phase
        t_phase = time.perf_counter()

        # phase 2: treat every (condition, cell block)
        results = []
        n_retried = 0
        per_cond: dict[int, dict] = {}
        tasks2 = []
        for ci, doses in enumerate(conditions):
            start, events = scenario.engine_schedule(doses)
            drugs, params = plan.split(model, start)
            # a parameter the population varies keeps each cell's deviation around the input
            pv, params = scale_varied(model, pnames, pvals, params)
            sym = {**untreated, **resolve(model, drugs), **params}
            sched = tuple((t, {**resolve(model, d), **p})
                          for t, (d, p) in ((t, plan.split(model, c)) for t, c in events))
            group = tuple(sorted(plan.cell_values(doses).items()))
            at_start, changes = species_schedule(scenario, model, doses)
            y0 = apply_species(model, y0s[group], at_start, pnames, pv)
            for b in blocks:
                if events_path:
                    tasks2.append(EventTask(model, solver, tuple(pnames), pv[list(b)],
                                            y0[list(b)], sym, sched, tuple(changes),
                                            tuple(k for k, (m, _) in at_start.items()
                                                  if m == "clamp"),
                                            times, variables, event, ci, b))
                    continue
                tasks2.append(TreatTask(plan.treat_model, solver, tuple(pnames), pv[list(b)],
                                        y0[list(b)], sym, sched, times, variables,
                                        event,
                                        ci, b))
            per_cond[ci] = {"death": np.full(pop.n_cells, np.nan),
                            "fate": np.full(pop.n_cells, Fate.FAILED, dtype=np.int8),
                            # float64: traces keep whatever precision the tasks deliver
                            "traces": np.full((pop.n_cells, len(variables), len(times)), np.nan),
                            "errors": dict(pre_errors[group]), "left": len(blocks)}

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
        run_chunks(pool, run_event_task if events_path else run_treat_task, tasks2, got_treat)
        timings["treatment"] = time.perf_counter() - t_phase
    finally:
        pool.close()
        bar.close()
    for ci, doses in enumerate(conditions):
        acc = per_cond[ci]
        results.append(ConditionResult(condition_name(doses, plan.units), doses, acc["death"],
                                       acc["fate"],
                                       acc["stats"], dict(sorted(acc["errors"].items()))))
    wall = time.perf_counter() - t_start
    timings["run"] = wall
    result = ScenarioResult(scenario, model, times, variables, results, wall, pop.n_cells,
                            n_retried, timings=timings)
    result.provenance = provenance(result, kind)
    result.provenance.update(engine=solver.engine, method=solver.method,
                             engine_choice=choice.reason)
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
    units = factor_units(s, model)
    kinds = {k: ("species" if k in model.state else "parameter") for k in s.inputs}
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
        "units": {"concentration": "nM", "time": "h", "model": model.units.to_dict(),
                  "declared_in_scenario": (s.model_units.declared() if s.model_units
                                           else None)},
        "integrator": _integrator(s, model),
        "inputs": {k: {"kind": kinds.get(k), "mode": v.mode or ("add" if kinds.get(k) ==
                                                                "species" else "treat"),
                       "unit": units.get(k)} for k, v in s.inputs.items()},
    }


def _integrator(scenario: Scenario, model: Model) -> dict[str, Any]:
    """run.json: which integrator treated the cells, and why."""
    changes = species_schedule(scenario, model, scenario.conditions()[0])[1]
    if not needs_event_path(model, changes):
        return {"kind": "compiled", "sbml_events": []}
    return {"kind": "events (scipy LSODA; SBML events, schedule changes and the death rule "
                    "located by root finding)",
            "sbml_events": [e.id for e in model.events],
            "species_changes_during_run": bool(changes),
            "ode_states": len(model.state)}


def _warn_units(scenario: Scenario, model: Model) -> None:
    """Warn when a user's model declares no units (taken as hours and nM) or its units needed a
    note; the built-in models are written in hours and nM and do not warn."""
    from apopsim.library import list_models, models_dir

    src = getattr(model, "source", None)
    builtin = scenario.model in list_models() or (
        src is not None and Path(src).resolve().parent == models_dir().resolve())
    if not builtin and (model.units.assumed or model.units.notes):
        warnings.warn(f"{scenario.model}: {model.units.describe()}"
                      + "".join(f"; {n}" for n in model.units.notes), ApopsimWarning,
                      stacklevel=3)
