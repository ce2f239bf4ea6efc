#!/usr/bin/env python
"""Population benchmark: apopsim's default path against a plain libRoadRunner loop.

The same workload (one model, a two-drug dose grid, the same heterogeneous cells, the same death
rule) runs through

* apopsim: ``apopsim.run_scenario(scenario)`` with the engine of ``--engine`` (default: the
  scenario schema's default; ``numba``: the compiled Rodas4, cells in parallel threads through
  ``integrate_many``; ``scipy``: LSODA with the compiled RHS and exact Jacobian), rtol 1e-6,
  atol 1e-9 nM, the executor of ``--executor`` (default ``auto``), pre-equilibration shared
  across doses and each cell stopped once it is dead; ``--vs-scipy`` also times the scipy engine
  in the same run;
* a plain libRoadRunner loop in this process: the exported SBML is loaded once; per cell its
  parameters are set and it is pre-equilibrated untreated once; per condition ``reset()``, the
  pre-equilibrated amounts, the doses, ``simulate`` over the whole horizon, the same death rule.

Tolerances are matched on accuracy, not on nominal values: a subset of cells and conditions is
run with a tight reference (scipy LSODA, rtol 1e-10, atol 1e-12 nM, tight pre-equilibration); each
engine's error is the largest deviation of any species trajectory from the reference, scaled by
that species' largest reference value (floor: 1e-3 nM, about one molecule per cell). apopsim
runs at the tolerances given (default: its defaults); libRoadRunner, whose absolute tolerance is
scaled by species magnitude, gets the loosest rtol on a ladder whose max and median errors are
both within 2x of apopsim's (``--rr-rtol`` fixes it instead).

Printed: wall and CPU times (this process and its workers), their ratios (roadrunner / apopsim;
> 1 means apopsim is faster), CPU per cell-run, on the numba engine the distance from the floor
(steps and factorisations counted in this process, so with ``--executor serial``: flops of one
sparse LU + 6 solves per step, and their time at the kernel's measured speed), each
engine's error against the reference, the largest difference in apoptotic fraction between the two
(exit status 1 if above ``--max-fraction-diff``, default 0.01), throughput, and the peak memory of
a separate 8x8 x 1000-cell apopsim run (whole process tree, measured in a subprocess).

Run from the repository root::

    .venv/bin/python benchmarks/bench_population.py            # full workload (a few minutes)
    .venv/bin/python benchmarks/bench_population.py --quick    # smoke run (seconds)

See ``benchmarks/README.md`` for options, results and caveats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Fallback when the largest model is broken (the library is edited concurrently).
FALLBACK_MODEL, FALLBACK_CONTEXT = "bcl2_core", "aml_mcl1_dependent"

#: Cell used when no --context is given: the library's MCL-1-dependent AML blast (the
#: ``aml_intrinsic`` context of contexts.yaml, read at run time; these values if it is missing),
#: applied as parameter overrides because that context is declared for the intrinsic-only models.
#: The default (HeLa-like, BIM-poor) cell of the intrinsic + extrinsic models does not die under
#: BCL-2 inhibitors at any dose up to 10 uM, which would make the death readout (and stopping
#: dead cells) vacuous; this one dies after 3-50 h depending on dose. Names the model lacks are
#: skipped.
BENCH_CONTEXT = "aml_intrinsic"
BENCH_CELL = {"ksyn_MCL1": 83.2, "ksyn_BCL2": 0.771, "ksyn_BCLXL": 0.1285, "ksyn_BIM": 20.8}

DEATH_VARIABLE = "cleaved_PARP_fraction"
RR_RTOL_LADDER = (1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 3e-9, 1e-9, 3e-10, 1e-10)
SCALE_FLOOR_NM = 1e-3  # ~1 molecule per 1.661 pL cell
ZERO_FLOOR_NM = 1e-12  # amounts below this are flushed to 0 before libRoadRunner runs
#: "Comparable accuracy": libRoadRunner's max and median errors each within this factor of
#: apopsim's (the max alone is set by one switching cell and is noisy; the ladder steps are 3.2x).
MATCH_FACTOR = 2.0


# ============================================================================ options
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--model", help="model name or path (default: the built-in model with the "
                    "most species that has >= 2 drug inputs and a cleaved_PARP_fraction rule)")
    ap.add_argument("--context", help="named cell context (contexts.yaml); replaces the "
                    "built-in benchmark cell overrides")
    ap.add_argument("--set", dest="overrides", default=None, metavar="K=V,...",
                    help="parameter overrides (model units); 'none' for none (default: the "
                    "benchmark cell, see BENCH_CELL, unless --context is given)")
    ap.add_argument("--drugs", help="two drugs A,B (default: the model's first two inputs)")
    ap.add_argument("--doses-a", help="doses of drug A in nM, comma-separated "
                    "(default: 0 and 7 log-spaced doses 1-1000 nM)")
    ap.add_argument("--doses-b", help="doses of drug B in nM (default as --doses-a)")
    ap.add_argument("--cells", type=int, default=200, help="cells per condition")
    ap.add_argument("--hours", type=float, default=72.0, help="treatment duration (h)")
    ap.add_argument("--every", type=float, default=0.5, help="output spacing (h)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rtol", type=float, default=None, help="apopsim rtol (default: apopsim's)")
    ap.add_argument("--atol", type=float, default=None, help="apopsim atol in nM (default: "
                    "apopsim's)")
    ap.add_argument("--rr-rtol", type=float, default=None,
                    help="libRoadRunner rtol (default: matched to apopsim's accuracy)")
    ap.add_argument("--rr-atol", type=float, default=None,
                    help="libRoadRunner nominal atol (default: rtol x 1e-3; scaled by species "
                    "magnitude inside libRoadRunner)")
    ap.add_argument("--workers", type=int, default=None,
                    help="apopsim worker processes (default: apopsim's default, all cores)")
    ap.add_argument("--engine", default=None,
                    help="apopsim engine: numba (compiled Rodas4, cells in threads) or scipy "
                    "(LSODA); default: the scenario schema's default engine")
    ap.add_argument("--executor", default="auto", choices=("auto", "serial", "processes"),
                    help="apopsim executor (serial: one process; with numba its cells run in "
                    "parallel threads)")
    ap.add_argument("--vs-scipy", action="store_true",
                    help="also time apopsim on scipy LSODA (same executor), same run")
    ap.add_argument("--acc-cells", type=int, default=20, help="cells in the accuracy subset")
    ap.add_argument("--ladder-cells", type=int, default=0,
                    help="also time the libRoadRunner loop at every rung of the accuracy ladder "
                    "on this many cells x all conditions, and report the CPU ratio at each rung "
                    "(0: off)")
    ap.add_argument("--full-ladder", action="store_true",
                    help="measure errors (and, with --ladder-cells, CPU) at every rung of the "
                    "ladder, not only down to the matched one")
    ap.add_argument("--rung-budget-s", type=float, default=300.0,
                    help="wall-time budget of each timed ladder rung; a rung that exceeds it "
                    "stops after the current cell and is reported with the cells it finished")
    ap.add_argument("--repeat", type=int, default=1,
                    help="timed repetitions of both engines (order alternates; medians reported)")
    ap.add_argument("--memory-cells", type=int, default=1000,
                    help="cells per condition of the separate memory run (same grid)")
    ap.add_argument("--skip-memory", action="store_true", help="skip the memory run")
    ap.add_argument("--max-fraction-diff", type=float, default=0.01,
                    help="fail if |apoptotic fraction apopsim - roadrunner| exceeds this")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2x2 grid, 10 cells, 24 h, small accuracy and memory runs")
    ap.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="read models/ live instead of from a snapshot taken at start")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)  # internal: JSON spec
    args = ap.parse_args(argv)
    if args.quick:
        args.cells = min(args.cells, 10)
        args.hours = min(args.hours, 24.0)
        args.acc_cells = min(args.acc_cells, 4)
        args.memory_cells = min(args.memory_cells, 20)
    return args


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _log_doses(lo: float, hi: float, n: int) -> list[float]:
    import numpy as np

    return [0.0] + [float(f"{x:.4g}") for x in np.logspace(np.log10(lo), np.log10(hi), n - 1)]


# ============================================================================ workload
@dataclass
class Workload:
    model_name: str
    context: str | None
    overrides: dict[str, float]
    drugs: tuple[str, str]
    doses: tuple[list[float], list[float]]
    cells: int
    hours: float
    every: float
    seed: int
    rtol: float
    atol: float
    engine: str = "scipy"
    executor: str = "auto"
    notes: list[str] = field(default_factory=list)

    def scenario(self, n_cells: int | None = None, engine: str | None = None, **extra: Any):
        from apopsim.scenario import Scenario

        engine = engine or self.engine

        spec = {
            "name": "bench_population",
            "model": self.model_name,
            "context": self.context,
            "overrides": {"parameters": self.overrides},
            "drugs": {self.drugs[0]: self.doses[0], self.drugs[1]: self.doses[1]},
            "design": "grid",
            "time": {"duration_h": self.hours, "output_every_h": self.every},
            "readouts": {"species": [], "death": {"variable": DEATH_VARIABLE, "threshold": 0.5}},
            "solver": {"engine": engine, "method": "LSODA" if engine == "scipy" else None,
                       "rtol": self.rtol, "atol": self.atol},
            "population": {"n_cells": n_cells or self.cells},
            "execution": {"executor": self.executor},
            "seed": self.seed,
            **extra,
        }
        return Scenario.model_validate(spec)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "model_name", "context", "overrides", "drugs", "doses", "cells", "hours", "every",
            "seed", "rtol", "atol", "engine", "executor")}


def _smoke(model_name: str, context: str | None, overrides: dict[str, float]) -> None:
    """Load, compile and pre-equilibrate the model's default cell (raises if broken)."""
    import apopsim
    from apopsim.cell import untreated_parameters
    from apopsim.engine import SolverOptions, compile_model, preequilibrate

    model = apopsim.load_model(model_name, context)
    if overrides:
        model = model.with_overrides(overrides, where="benchmark overrides")
    if len(model.drug_inputs) < 2:
        raise ValueError(f"model {model_name!r} has fewer than two drug inputs")
    if DEATH_VARIABLE not in model.observables:
        raise ValueError(f"model {model_name!r} has no {DEATH_VARIABLE}")
    cm = compile_model(model)
    preequilibrate(cm, SolverOptions(), model.initial,
                   cm.param_vector(untreated_parameters(model)))


def choose_workload(args: argparse.Namespace) -> Workload:
    import apopsim
    from apopsim.engine import SolverOptions

    notes: list[str] = []
    name = args.model
    if name is None:
        ranked = []
        for cand in apopsim.list_models():
            try:
                m = apopsim.load_model(cand)
            except Exception as exc:  # noqa: BLE001 - a model being edited may not load
                notes.append(f"model {cand!r} does not load right now ({type(exc).__name__})")
                continue
            if len(m.drug_inputs) >= 2 and DEATH_VARIABLE in m.assignment_rules:
                ranked.append((len(m.state), cand))
        if not ranked:
            raise SystemExit("no built-in model has two drug inputs and a "
                             f"{DEATH_VARIABLE} rule")
        name = max(ranked)[1]
    context = args.context
    if args.overrides is not None:
        overrides = {} if args.overrides.strip().lower() == "none" else {
            k.strip(): float(v) for k, v in (kv.split("=") for kv in args.overrides.split(","))}
    elif context is None:
        params = apopsim.load_model(name).parameters
        cell = dict(BENCH_CELL)
        spec = apopsim.contexts().get(BENCH_CONTEXT)
        if spec and spec.get("parameters"):
            cell = {k: float(v) for k, v in spec["parameters"].items()}
        else:
            notes.append(f"context {BENCH_CONTEXT!r} not found; built-in benchmark cell used")
        overrides = {k: v for k, v in cell.items() if k in params}
        skipped = sorted(set(cell) - set(overrides))
        if skipped:
            notes.append(f"benchmark cell: model lacks {skipped}; those overrides skipped")
    else:
        overrides = {}
    try:
        _smoke(name, context, overrides)
    except Exception as exc:  # noqa: BLE001 - fall back, and say so
        if args.model is not None:
            raise
        notes.append(f"FALLBACK: model {name!r} is broken right now ({type(exc).__name__}: "
                     f"{str(exc).splitlines()[0][:160]}); using {FALLBACK_MODEL!r} with context "
                     f"{FALLBACK_CONTEXT!r}")
        name, context, overrides = FALLBACK_MODEL, FALLBACK_CONTEXT, {}
        _smoke(name, context, overrides)
    model = apopsim.load_model(name, context)
    if args.drugs:
        drugs = tuple(d.strip() for d in args.drugs.split(","))
        if len(drugs) != 2:
            raise SystemExit("--drugs needs exactly two names, A,B")
    else:
        drugs = tuple(model.drug_inputs[:2])
    n_doses = 2 if args.quick else 8
    doses_a = _floats(args.doses_a) if args.doses_a else (
        [0.0, 100.0] if args.quick else _log_doses(1.0, 1000.0, n_doses))
    doses_b = _floats(args.doses_b) if args.doses_b else (
        [0.0, 100.0] if args.quick else _log_doses(1.0, 1000.0, n_doses))
    d = SolverOptions()
    return Workload(name, context, overrides, drugs, (doses_a, doses_b), args.cells, args.hours,
                    args.every, args.seed, args.rtol or d.rtol, args.atol or d.atol,
                    args.engine or _default_engine(), args.executor, notes)


def _default_engine() -> str:
    """The engine a scenario gets when it names none (the schema's ``Solver.engine``)."""
    from apopsim.scenario.schema import Solver

    return Solver().engine


@dataclass
class Cells:
    """The population exactly as apopsim's runner draws it."""

    model: Any  # apopsim Model with context and overrides
    pnames: list[str]
    pvals: Any  # (n, p)
    snames: list[str]
    svals: Any  # (n, s)
    conditions: list[dict[str, float]]
    doses_sym: list[dict[str, float]]  # model symbol -> nM, per condition
    times: Any
    death: tuple[str, float]

    def y0(self, i: int):
        import numpy as np

        y = np.array(self.model.initial, dtype=float)
        for k, s in enumerate(self.snames):
            y[self.model.state.index(s)] = self.svals[i, k]
        return y

    def cell_params(self, i: int) -> dict[str, float]:
        return dict(zip(self.pnames, map(float, self.pvals[i])))


def make_cells(scenario) -> Cells:
    import numpy as np

    from apopsim.cell import untreated_parameters
    from apopsim.library import catalogue
    from apopsim.population import sample_cells
    from apopsim.runner import scenario_model

    model = scenario_model(scenario)
    pop = scenario.population
    pn, pv, sn, sv = sample_cells(model, pop.variation(), pop.n_cells, scenario.seed)
    conditions = scenario.conditions()
    untreated = untreated_parameters(model)
    doses_sym = [{**untreated, **catalogue().resolve(model, c)} for c in conditions]
    death = scenario.readouts.death
    return Cells(model, list(pn), pv, list(sn), sv, conditions, doses_sym,
                 np.asarray(scenario.time.output_times()), (death.variable, death.threshold))


def death_time(times, v, threshold: float) -> float:
    """First crossing of ``threshold`` (linear interpolation); inf if never; times[0] if at 0."""
    import numpy as np

    above = np.nonzero(v > threshold)[0]
    if not above.size:
        return float("inf")
    i = int(above[0])
    if i == 0:
        return float(times[0])
    t0, t1, v0, v1 = times[i - 1], times[i], v[i - 1], v[i]
    return float(t0 + (threshold - v0) * (t1 - t0) / (v1 - v0))


def apoptotic_fraction(death_h, t_h: float) -> float:
    import numpy as np

    live = death_h[~np.isnan(death_h) & (death_h > -np.inf)]
    return float(np.sum(live <= t_h + 1e-9) / live.size) if live.size else float("nan")


# ============================================================================ roadrunner loop
class RoadRunnerLoop:
    """A plain libRoadRunner loop over cells and conditions (one process, one model instance)."""

    def __init__(self, cells: Cells, rtol: float, atol: float, max_steps: int = 100_000,
                 pre_tol_per_h: float = 1e-6, pre_max_h: float = 1e5) -> None:
        import numpy as np
        import roadrunner

        self.cells, self.rtol, self.atol = cells, rtol, atol
        self.pre_rtol, self.pre_atol = min(rtol, 1e-8), min(atol, 1e-10)
        self.pre_tol_per_h, self.pre_max_h = pre_tol_per_h, pre_max_h
        model = cells.model
        self.rr = rr = roadrunner.RoadRunner(model.to_sbml())
        rr.integrator.maximum_num_steps = max_steps
        self.float_ids = list(rr.model.getFloatingSpeciesIds())
        index = {s: i for i, s in enumerate(model.state)}
        self.float_idx = np.array([index[s] for s in self.float_ids], dtype=int)
        self.others = [s for s in model.state if s not in self.float_ids]  # rate-rule variables
        gids = list(rr.model.getGlobalParameterIds())
        self.p_idx = [gids.index(k) for k in cells.pnames]
        self.drugs = list(model.drug_inputs)
        self.d_idx = [gids.index(k) for k in self.drugs]
        self.death_var, self.threshold = cells.death
        self.n_state = len(model.state)
        self._tol: tuple[float, float] | None = None
        self.retried = 0  # treatments retried at rtol / 100 after a CVODE failure

    def _tolerances(self, rtol: float, atol: float) -> None:
        if self._tol != (rtol, atol):
            self.rr.integrator.relative_tolerance = rtol
            self.rr.integrator.absolute_tolerance = atol
            self._tol = (rtol, atol)

    def _set_state(self, y) -> None:
        import numpy as np

        # libRoadRunner scales each absolute tolerance by the species' current amount when CVODE
        # starts: amounts like 1e-140 nM (fully depleted species) give absurd tolerances, CVODE
        # convergence failures, and at underflow an "ewt equal to zero" error. Such amounts (far
        # below one molecule) are flushed to 0, which gets the nominal absolute tolerance.
        y = np.where(np.abs(y) < ZERO_FLOOR_NM, 0.0, y)
        self.rr.model.setFloatingSpeciesAmounts(np.ascontiguousarray(y[self.float_idx]))
        for s in self.others:
            self.rr.setValue(s, float(y[self.cells.model.state.index(s)]))

    def _state(self):
        import numpy as np

        y = np.empty(self.n_state)
        y[self.float_idx] = self.rr.model.getFloatingSpeciesAmounts()
        for s in self.others:
            y[self.cells.model.state.index(s)] = self.rr.getValue(s)
        return y

    def preequilibrate(self, i: int):
        """Cell ``i`` untreated to steady state (doubling windows until the largest relative rate
        of change is below tol_per_h, as apopsim's criterion); its state (amounts)."""
        import numpy as np

        rr, c = self.rr, self.cells
        self._tolerances(self.pre_rtol, self.pre_atol)
        rr.model.setGlobalParameterValues(self.p_idx, [float(v) for v in c.pvals[i]])
        rr.model.setGlobalParameterValues(self.d_idx, [0.0] * len(self.d_idx))
        rr.reset()
        self._set_state(c.y0(i))
        rr.timeCourseSelections = ["time"]
        t, window = 0.0, 10.0
        while t < self.pre_max_h:
            rr.simulate(0.0, window, 2)
            t += window
            y = np.asarray(rr.model.getFloatingSpeciesAmounts())
            # species only: getRatesOfChange() also lists rate-rule variables
            dy = np.asarray(rr.getRatesOfChange())[self._species_rates()]
            floor = max(1e-6 * float(np.max(np.abs(y))), 1e-12)
            if float(np.max(np.abs(dy) / np.maximum(np.abs(y), floor))) < self.pre_tol_per_h:
                return self._state()
            self._set_state(self._state())  # flush depleted species (see _set_state)
            window = min(2 * window, self.pre_max_h - t)
        raise RuntimeError(f"cell {i}: no steady state within {self.pre_max_h:g} h")

    def _species_rates(self) -> list[int]:
        """Positions of the floating species (in getFloatingSpeciesIds order) in the state
        vector whose rates getRatesOfChange() returns."""
        if not hasattr(self, "_rate_pos"):
            n = len(self.rr.getRatesOfChange())
            ids = [self.rr.model.getStateVectorId(i) for i in range(n)]
            self._rate_pos = [ids.index(s) for s in self.float_ids]
        return self._rate_pos

    def treat(self, i: int, y_pre, doses: dict[str, float], selections: list[str]):
        """Simulate cell ``i`` from ``y_pre`` under ``doses``; the selected columns."""
        import numpy as np

        rr = self.rr
        rr.model.setGlobalParameterValues(self.p_idx, [float(v) for v in self.cells.pvals[i]])
        rr.model.setGlobalParameterValues(self.d_idx, [float(doses[d]) for d in self.drugs])
        rr.timeCourseSelections = selections
        for attempt, rtol in enumerate((self.rtol, self.rtol / 100)):
            self._tolerances(rtol, self.atol)
            rr.reset()
            self._set_state(y_pre)
            try:
                return np.asarray(rr.simulate(times=self._times))
            except RuntimeError:
                if attempt:
                    raise
                self.retried += 1
        return None  # pragma: no cover

    @property
    def _times(self) -> list[float]:
        if not hasattr(self, "_times_list"):
            self._times_list = [float(t) for t in self.cells.times]
        return self._times_list

    def run(self, n_cells: int, deadline: float | None = None) -> tuple[Any, dict[str, int]]:
        """The timed loop: death times (n_conditions, n_cells); counts of failures. With a
        ``deadline`` (``time.perf_counter()`` value) the loop stops after the cell during which
        it passed; ``self.cells_done`` counts the cells run."""
        import numpy as np

        c = self.cells
        death = np.full((len(c.conditions), n_cells), np.nan)
        sel = ["time", self.death_var]
        failed = {"preequilibration": 0, "treatment": 0}
        self.cells_done = 0
        for i in range(n_cells):
            if deadline is not None and time.perf_counter() > deadline:
                break
            self.cells_done = i + 1
            try:
                y_pre = self.preequilibrate(i)
            except RuntimeError:
                failed["preequilibration"] += 1
                continue
            for k, doses in enumerate(c.doses_sym):
                try:
                    res = self.treat(i, y_pre, doses, sel)
                except RuntimeError:
                    failed["treatment"] += 1
                    continue
                v = res[:, 1]
                death[k, i] = -np.inf if v[0] > self.threshold else death_time(
                    c.times, v, self.threshold)
        return death, failed

    def trajectory(self, i: int, y_pre, doses: dict[str, float]):
        """Concentrations (n_times, n_state) for the accuracy check."""
        import numpy as np

        names = [f"[{s}]" for s in self.float_ids] + self.others
        res = self.treat(i, y_pre, doses, ["time", *names])
        out = np.empty((res.shape[0], self.n_state))
        out[:, self.float_idx] = res[:, 1:1 + len(self.float_ids)]
        for k, s in enumerate(self.others):
            out[:, self.cells.model.state.index(s)] = res[:, 1 + len(self.float_ids) + k]
        return out


class quiet_stderr:
    """Silence file descriptor 2 (SUNDIALS prints every CVODE failure; they are counted)."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        return False


# ============================================================================ accuracy
def apopsim_trajectory(cells: Cells, i: int, k: int, rtol: float, atol: float,
                       pre_tol_per_h: float = 1e-6, engine: str = "scipy"):
    """Cell ``i`` under condition ``k`` through apopsim's engine ``engine`` (the code the
    population runner uses: pre-equilibrate, then integrate_segments), without stopping at
    death."""
    from apopsim.engine import (
        PreequilibrationOptions,
        SolverOptions,
        compile_model,
        integrate_segments,
        make_integrator,
        preequilibrate,
    )

    model = cells.model
    cm = compile_model(model)
    solver = SolverOptions(engine=engine, rtol=rtol, atol=atol)
    untreated = {d: 0.0 for d in model.drug_inputs}
    params = cells.cell_params(i)
    y, _ = preequilibrate(cm, solver, cells.y0(i), cm.param_vector({**params, **untreated}),
                          PreequilibrationOptions(tol_per_h=pre_tol_per_h))
    tr = integrate_segments(cm, make_integrator(cm, solver), y, {**params, **cells.doses_sym[k]},
                            [], cells.times)
    return tr.values[:, :len(model.state)]


def scaled_error(y, ref) -> float:
    """max over species and times of |y - ref| / max(max_t |ref_s|, floor)."""
    import numpy as np

    scale = np.maximum(np.max(np.abs(ref), axis=0), SCALE_FLOOR_NM)
    return float(np.max(np.abs(y - ref) / scale))


def accuracy_subset(cells: Cells, n_acc: int, n_grid: tuple[int, int]) -> tuple[list, list]:
    """Cells and condition indices of the accuracy subset: the first ``n_acc`` cells (the draws
    are i.i.d.) x control, both drugs at mid dose, each drug alone at a high dose."""
    na, nb = n_grid
    picks = [(0, 0), (na // 2, nb // 2), (na - 2, 0), (0, nb - 2)] if na > 2 and nb > 2 \
        else [(0, 0), (na - 1, nb - 1)]
    conds = sorted({a * nb + b for a, b in picks})
    return list(range(min(n_acc, len(cells.pvals)))), conds


def run_accuracy(cells: Cells, wl: Workload, n_acc: int, rr_rtol: float | None,
                 rr_atol: float | None, log, full_ladder: bool = False) -> dict[str, Any]:
    import numpy as np

    cell_ids, conds = accuracy_subset(cells, n_acc, (len(wl.doses[0]), len(wl.doses[1])))
    thr = cells.death[1]
    dvar = cells.model.state.index(cells.death[0]) if cells.death[0] in cells.model.state \
        else None

    def death_from(traj, i, k):
        # the death variable from a species trajectory (rule variables via the compiled observe)
        if dvar is not None:
            v = traj[:, dvar]
        else:
            from apopsim.engine import compile_model

            cm = compile_model(cells.model)
            p = cm.param_vector({**cells.cell_params(i), **cells.doses_sym[k]})
            v = cm.observe(cells.times, traj, p)[cells.death[0]]
        return -np.inf if v[0] > thr else death_time(cells.times, v, thr)

    t0 = time.perf_counter()
    ref, ref_death = {}, {}
    for i in cell_ids:
        for k in conds:
            ref[i, k] = apopsim_trajectory(cells, i, k, 1e-10, 1e-12, pre_tol_per_h=1e-9)
            ref_death[i, k] = death_from(ref[i, k], i, k)
    log(f"  reference (LSODA rtol 1e-10, atol 1e-12): {len(ref)} runs in "
        f"{time.perf_counter() - t0:.1f} s")

    def summarise(trajs: dict) -> dict[str, float]:
        errs = np.array([scaled_error(trajs[key], ref[key]) for key in ref])
        dts = [abs(death_from(trajs[key], *key) - ref_death[key]) for key in ref
               if np.isfinite(ref_death[key]) and ref_death[key] > -np.inf]
        fate = sum((np.isfinite(death_from(trajs[key], *key)) != np.isfinite(ref_death[key]))
                   for key in ref)
        return {"max_error": float(errs.max()), "median_error": float(np.median(errs)),
                "max_death_time_error_h": float(max(dts)) if dts else 0.0,
                "fate_mismatches": int(fate)}

    ap = summarise({key: apopsim_trajectory(cells, *key, wl.rtol, wl.atol, engine=wl.engine)
                    for key in ref})
    log(f"  apopsim ({wl.engine}) rtol {wl.rtol:g} atol {wl.atol:g}: max error "
        f"{ap['max_error']:.2e}")

    def rr_errors(rtol: float, atol: float) -> dict[str, float]:
        loop = RoadRunnerLoop(cells, rtol, atol)
        trajs = {}
        with quiet_stderr():
            for i in cell_ids:
                y_pre = loop.preequilibrate(i)
                for k in conds:
                    trajs[i, k] = loop.trajectory(i, y_pre, cells.doses_sym[k])
        return {**summarise(trajs), "retried": loop.retried}

    ladder = []
    if rr_rtol is not None:
        atol = rr_atol if rr_atol is not None else rr_rtol * 1e-3
        chosen = (rr_rtol, atol, rr_errors(rr_rtol, atol))
        ladder.append(chosen)
    else:
        chosen = None
        for rtol in RR_RTOL_LADDER:
            atol = rr_atol if rr_atol is not None else rtol * 1e-3
            res = rr_errors(rtol, atol)
            ladder.append((rtol, atol, res))
            log(f"  roadrunner rtol {rtol:g} atol {atol:g}: max error {res['max_error']:.2e}")
            if chosen is None and (res["max_error"] <= MATCH_FACTOR * ap["max_error"]
                                   and res["median_error"] <= MATCH_FACTOR * ap["median_error"]):
                chosen = ladder[-1]
                if not full_ladder:
                    break
        if chosen is None:
            chosen = ladder[-1]
            log("  roadrunner never reached apopsim's accuracy on the ladder; using the tightest")
    # libRoadRunner at apopsim's nominal tolerances, for the record (the scaling caveat)
    nominal = next((r for r in ladder if r[0] == wl.rtol and r[1] == wl.atol), None)
    if nominal is None:
        nominal = (wl.rtol, wl.atol, rr_errors(wl.rtol, wl.atol))
    return {"cells": len(cell_ids), "conditions": [cells.conditions[k] for k in conds],
            "apopsim": ap, "rr_rtol": chosen[0], "rr_atol": chosen[1], "roadrunner": chosen[2],
            "roadrunner_at_apopsim_nominal": {"rtol": nominal[0], "atol": nominal[1],
                                              **nominal[2]},
            "ladder": [{"rtol": r, "atol": a, **e} for r, a, e in ladder]}


# ============================================================================ timed runs
def time_apopsim(wl: Workload, workers: int | None, engine: str | None = None
                 ) -> dict[str, Any]:
    import numpy as np

    import apopsim

    s = wl.scenario(engine=engine)
    c0 = _cpu()
    t0 = time.perf_counter()
    res = apopsim.run_scenario(s, progress=False, workers=workers)
    wall = time.perf_counter() - t0
    cpu = _cpu() - c0  # this process + its reaped worker processes
    t_end = s.time.readout_times()[-1]
    death = np.array([c.death_h for c in res.conditions])
    return {"wall_s": wall, "cpu_s": cpu, "death": death,
            "fractions": [c.apoptotic_fraction(t_end)[0] for c in res.conditions],
            "failed": len(res.failures), "retried": res.n_retried,
            "executor": res.provenance.get("executor"), "timings": res.timings}


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its terminated children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def warm_up(wl: Workload, log) -> None:
    """Compile (or load from the disk cache) everything apopsim's timed run needs, as
    ``compile_model`` is before libRoadRunner's loop is timed: a 2-cell run of the same
    scenario in this process (the numba kernels compile once per model structure, 30-60 s cold,
    then load from ~/.cache/apopsim in about a second)."""
    import apopsim

    t0 = time.perf_counter()
    apopsim.run_scenario(wl.scenario(n_cells=2), progress=False, executor="serial")
    log(f"warm-up ({wl.engine}, 2 cells, serial): {time.perf_counter() - t0:.1f} s")


class StepCounter:
    """Counts the numba engine's steps, factorisations and RHS calls in this process while
    active (a context manager), for the distance from the floor. Worker processes are not
    counted: use ``--executor serial`` for the floor."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.totals = [0.0, 0.0, 0.0, 0.0]  # accepted steps, factorisations, RHS calls, rejected
        self.calls = 0
        self.kernel_cpu_s = 0.0  # process CPU time inside the engine's calls (all threads)

    def __enter__(self):
        if not self.enabled:
            return self
        from apopsim.engine.stiff import NumbaBackend

        counter = self
        self._saved = (NumbaBackend.integrate, NumbaBackend.integrate_many)
        integrate, many = self._saved

        def counted(backend, *a, **k):
            c0 = time.process_time()
            try:
                return integrate(backend, *a, **k)
            finally:
                counter.kernel_cpu_s += time.process_time() - c0
                counter.add(backend.last_stats[None, :])

        def counted_many(backend, *a, **k):
            c0 = time.process_time()
            out = many(backend, *a, **k)
            counter.kernel_cpu_s += time.process_time() - c0
            counter.add(backend.last_many_stats)
            return out

        NumbaBackend.integrate, NumbaBackend.integrate_many = counted, counted_many
        return self

    def add(self, stats) -> None:
        self.calls += 1
        for j, col in enumerate((0, 3, 2, 1)):
            self.totals[j] += float(stats[:, col].sum())

    def __exit__(self, *exc) -> bool:
        if self.enabled:
            from apopsim.engine.stiff import NumbaBackend

            NumbaBackend.integrate, NumbaBackend.integrate_many = self._saved
        return False

    def floor(self, cells: Cells, n_cell_runs: int, cpu_per_run_s: float, log
              ) -> dict[str, Any] | None:
        """Per cell-run: steps, factorisations, the flops of one sparse LU + 6 solves per
        factorisation (Rodas4's linear algebra) and its time at the kernel's measured speed
        (``bench_stiff.step_breakdown``), against the measured CPU per cell-run."""
        if not self.enabled or not self.totals[1]:
            return None
        import bench_stiff
        import numpy as np

        from apopsim.cell import untreated_parameters
        from apopsim.engine import compile_model
        from apopsim.engine.stiff import plan_for

        cm = compile_model(cells.model)
        plan = plan_for(cm)
        n_acc, n_fac, n_f, n_rej = (v / n_cell_runs for v in self.totals)
        flops = (plan.factor_flops + 6 * plan.solve_flops) * n_fac
        p = cm.param_vector({**cells.cell_params(0), **untreated_parameters(cells.model)})
        bd = bench_stiff.step_breakdown(cm, np.asarray(cells.y0(0), dtype=float), p)
        la_s = (bd["lu"] + 6 * bd["solve"]) * n_fac * 1e-6
        parts_s = la_s + (bd["jac"] * n_fac + bd["rhs"] * n_f) * 1e-6
        out = {"steps_per_run": n_acc, "factorisations_per_run": n_fac, "rhs_per_run": n_f,
               "nnz_lu": plan.nnz, "flops_per_step": plan.factor_flops + 6 * plan.solve_flops,
               "mflop_per_run": flops / 1e6, "linear_algebra_ms_per_run": 1e3 * la_s,
               "step_pieces_ms_per_run": 1e3 * parts_s, "cpu_ms_per_run": 1e3 * cpu_per_run_s,
               "times_floor": cpu_per_run_s / la_s, "step_us": bd,
               "rejected_per_run": n_rej, "jacobians_per_run": n_acc,
               "solver_cpu_ms_per_run": 1e3 * self.kernel_cpu_s / n_cell_runs}
        log(f"  floor: {out['mflop_per_run']:.2f} Mflop/cell-run, LU+solves "
            f"{out['linear_algebra_ms_per_run']:.2f} ms of {out['cpu_ms_per_run']:.2f} ms")
        return out


def time_ladder(cells: Cells, acc: dict[str, Any], n_cells: int, budget_s: float,
                apopsim_ms_per_run: float, log) -> list[dict[str, Any]]:
    """The libRoadRunner loop timed at every rung of ``acc["ladder"]`` on the first ``n_cells``
    cells x all conditions (pre-equilibration included as in the timed loop, the model load
    not): CPU per
    cell-run, failures, and the CPU ratio against apopsim's CPU per cell-run; each rung stops
    after ``budget_s`` s of wall time (then its numbers are over the cells it finished)."""
    n_cond = len(cells.conditions)
    out = []
    for rung in acc["ladder"]:
        # the SBML load (LLVM compile, ~1 s) is a fixed cost, not timed here: on a subset it
        # would dominate the cost per cell-run (the main timed loop includes it once)
        loop = RoadRunnerLoop(cells, rung["rtol"], rung["atol"])
        c0, t0 = _cpu(), time.perf_counter()
        with quiet_stderr():
            _, failed = loop.run(n_cells, deadline=t0 + budget_s)
        cpu, wall = _cpu() - c0, time.perf_counter() - t0
        runs = max(loop.cells_done * n_cond, 1)
        ms = 1e3 * cpu / runs
        row = {"rtol": rung["rtol"], "atol": rung["atol"], "max_error": rung["max_error"],
               "median_error": rung["median_error"], "cells_done": loop.cells_done,
               "finished": loop.cells_done == n_cells and wall <= budget_s, "wall_s": wall,
               "cpu_s": cpu, "cpu_ms_per_run": ms, "cpu_ratio": ms / apopsim_ms_per_run,
               "matched": rung["rtol"] == acc["rr_rtol"], **failed, "retried": loop.retried}
        out.append(row)
        log(f"  ladder rtol {rung['rtol']:g}: {loop.cells_done}/{n_cells} cells in {wall:.1f} s, "
            f"{ms:.2f} ms CPU per cell-run (ratio {row['cpu_ratio']:.2f}), max error "
            f"{rung['max_error']:.1e}, failures {failed}, retried {loop.retried}")
    return out


def time_roadrunner(wl: Workload, cells: Cells, rtol: float, atol: float) -> dict[str, Any]:
    c0 = _cpu()
    t0 = time.perf_counter()
    loop = RoadRunnerLoop(cells, rtol, atol)  # loads (LLVM-compiles) the SBML: part of the cost
    t_load = time.perf_counter() - t0
    with quiet_stderr():
        death, failed = loop.run(wl.cells)
    wall = time.perf_counter() - t0
    failed = {**failed, "retried": loop.retried}
    cpu = _cpu() - c0
    t_end = wl.hours
    return {"wall_s": wall, "cpu_s": cpu, "load_s": t_load, "death": death,
            "fractions": [apoptotic_fraction(d, t_end) for d in death], "failed": failed}


# ============================================================================ memory run
def memory_child(spec_json: str) -> None:
    """Run the apopsim population in this (child) process; print a JSON line of measurements."""
    import apopsim

    spec = json.loads(spec_json)
    wl = Workload(**spec)
    s = wl.scenario()
    t0 = time.perf_counter()
    res = apopsim.run_scenario(s, progress=False)
    wall = time.perf_counter() - t0
    ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("MEMORY_RESULT " + json.dumps({
        "wall_s": wall, "ru_maxrss_self_mb": ru_self, "ru_maxrss_largest_child_mb": ru_children,
        "failed": len(res.failures), "n_conditions": len(res.conditions), "n_cells": res.n_cells,
    }), flush=True)


def run_memory(wl: Workload, n_cells: int, log) -> dict[str, Any]:
    """The memory run in a subprocess; peak RSS of the whole process tree sampled every 0.2 s."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with dask.distributed
        psutil = None
    spec = {**wl.to_json(), "cells": n_cells, "notes": []}
    spec["drugs"] = list(spec["drugs"])
    spec["doses"] = [list(d) for d in spec["doses"]]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"rss_mb": 0.0, "pss_mb": 0.0, "processes": 0}
    stop = threading.Event()

    def sample() -> None:
        if psutil is None:
            return
        root = psutil.Process(proc.pid)
        tick = 0
        while not stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = pss = 0.0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                        if tick % 5 == 0:  # PSS (shared pages split) is slower to read
                            pss += p.memory_full_info().pss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
                peak["rss_mb"] = max(peak["rss_mb"], rss / 2**20)
                if tick % 5 == 0:
                    peak["pss_mb"] = max(peak["pss_mb"], pss / 2**20)
                peak["processes"] = max(peak["processes"], len(procs))
            except psutil.NoSuchProcess:
                break
            tick += 1
            stop.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    line = next((ln for ln in out.splitlines() if ln.startswith("MEMORY_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        log(f"  memory run failed (exit {proc.returncode}):\n{err[-2000:]}")
        return {"error": err[-2000:], **peak}
    return {**json.loads(line.split(" ", 1)[1]), "peak_tree_rss_mb": peak["rss_mb"],
            "peak_tree_pss_mb": peak["pss_mb"], "max_processes": peak["processes"]}


# ============================================================================ main
def snapshot_models(log) -> str | None:
    """Copy the models directory, so concurrent edits cannot change the workload mid-run."""
    from apopsim.library import models_dir

    src = models_dir()
    dst = Path(tempfile.mkdtemp(prefix="apopsim_bench_models_"))
    shutil.copytree(src, dst / "models")
    os.environ["APOPSIM_MODELS_DIR"] = str(dst / "models")
    log(f"models snapshot: {src} -> {dst / 'models'}")
    return str(dst)


def _git_revision() -> str | None:
    """Commit of the apopsim checkout (with ``+dirty`` when sim/ has uncommitted changes)."""
    import apopsim

    root = Path(apopsim.__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "sim"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty else "")) if rev else None


def _versions() -> dict[str, str | None]:
    import importlib.metadata as md

    out = {}
    for p in ("apopsim", "numpy", "scipy", "numba", "libroadrunner"):
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = None
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    warnings.simplefilter("ignore", RuntimeWarning)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    snap = None if args.no_snapshot else snapshot_models(log)
    try:
        return _main(args, log)
    finally:
        if snap:
            shutil.rmtree(snap, ignore_errors=True)


def _main(args: argparse.Namespace, log) -> int:
    import numpy as np

    from apopsim.engine import compile_model

    load0 = os.getloadavg()
    wl = choose_workload(args)
    for n in wl.notes:
        log(f"note: {n}")
    scenario = wl.scenario()
    cells = make_cells(scenario)
    compile_model(cells.model)  # generated code cached on disk: the timed runs load it
    n_cond = len(cells.conditions)
    log(f"workload: {wl.model_name} ({len(cells.model.state)} species, "
        f"{len(cells.model.reactions)} reactions), context {wl.context}, overrides "
        f"{wl.overrides or 'none'}; {wl.drugs[0]} {wl.doses[0]} x {wl.drugs[1]} {wl.doses[1]} "
        f"nM; {wl.cells} cells x {n_cond} conditions; {wl.hours:g} h every {wl.every:g} h")

    log("accuracy against the reference ...")
    acc = run_accuracy(cells, wl, args.acc_cells, args.rr_rtol, args.rr_atol, log,
                       full_ladder=args.full_ladder)
    rr_rtol, rr_atol = acc["rr_rtol"], acc["rr_atol"]

    warm_up(wl, log)
    runs_a, runs_r, runs_s = [], [], []
    steps = StepCounter(wl.engine == "numba")
    for rep in range(args.repeat):
        order = ["apopsim", "roadrunner"] + (["scipy"] if args.vs_scipy else [])
        order = order[rep % len(order):] + order[:rep % len(order)]
        for eng in order:
            log(f"timed run {rep + 1}/{args.repeat}: {eng} ...")
            if eng == "apopsim":
                with steps:
                    runs_a.append(time_apopsim(wl, args.workers))
                log(f"  apopsim ({wl.engine}) {runs_a[-1]['wall_s']:.2f} s")
            elif eng == "scipy":
                runs_s.append(time_apopsim(wl, args.workers, engine="scipy"))
                log(f"  apopsim (scipy) {runs_s[-1]['wall_s']:.2f} s")
            else:
                runs_r.append(time_roadrunner(wl, cells, rr_rtol, rr_atol))
                log(f"  roadrunner {runs_r[-1]['wall_s']:.2f} s")
    wall_a = statistics.median(r["wall_s"] for r in runs_a)
    wall_r = statistics.median(r["wall_s"] for r in runs_r)
    frac_a = np.array(runs_a[-1]["fractions"], dtype=float)
    frac_r = np.array(runs_r[-1]["fractions"], dtype=float)
    dfrac = float(np.nanmax(np.abs(frac_a - frac_r)))
    da, dr = runs_a[-1]["death"], runs_r[-1]["death"]
    both = np.isfinite(da) & np.isfinite(dr)
    fate_diff = int(np.sum(np.isfinite(da) != np.isfinite(dr)))
    dt_max = float(np.max(np.abs(da[both] - dr[both]))) if both.any() else 0.0

    ladder_t = None
    if args.ladder_cells:
        log(f"libRoadRunner loop at each ladder rung, {args.ladder_cells} cells x {n_cond} "
            "conditions ...")
        ms_a = 1e3 * statistics.median(r["cpu_s"] for r in runs_a) / (wl.cells * n_cond)
        ladder_t = time_ladder(cells, acc, args.ladder_cells, args.rung_budget_s, ms_a, log)

    mem = None
    if not args.skip_memory:
        log(f"memory run: {len(wl.doses[0])}x{len(wl.doses[1])} x {args.memory_cells} cells "
            "(subprocess) ...")
        mem = run_memory(wl, args.memory_cells, log)

    n_runs = wl.cells * n_cond
    load1 = os.getloadavg()
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "loadavg_start": load0,
                    "loadavg_end": load1},
        "versions": {**_versions(), "apopsim_git": _git_revision()},
        "workload": {**wl.to_json(), "n_species": len(cells.model.state),
                     "n_reactions": len(cells.model.reactions), "n_conditions": n_cond,
                     "notes": wl.notes},
        "accuracy": acc,
        "apopsim": {"wall_s": wall_a, "runs_s": [r["wall_s"] for r in runs_a],
                    "cpu_s": statistics.median(r["cpu_s"] for r in runs_a),
                    "engine": wl.engine, "timings": runs_a[-1]["timings"],
                    "failed": runs_a[-1]["failed"], "retried": runs_a[-1]["retried"],
                    "executor": runs_a[-1]["executor"],
                    "workers": (args.workers or os.cpu_count())
                    if runs_a[-1]["executor"] == "processes" else 1},
        "roadrunner": {"wall_s": wall_r, "runs_s": [r["wall_s"] for r in runs_r],
                       "cpu_s": statistics.median(r["cpu_s"] for r in runs_r),
                       "load_s": statistics.median(r["load_s"] for r in runs_r),
                       "failed": runs_r[-1]["failed"], "rtol": rr_rtol, "atol": rr_atol},
        "ratio": wall_r / wall_a,
        "cpu_ratio": statistics.median(r["cpu_s"] for r in runs_r)
        / statistics.median(r["cpu_s"] for r in runs_a),
        "scipy": {"wall_s": statistics.median(r["wall_s"] for r in runs_s),
                  "cpu_s": statistics.median(r["cpu_s"] for r in runs_s),
                  "runs_s": [r["wall_s"] for r in runs_s]} if runs_s else None,
        "floor": steps.floor(cells, n_runs * args.repeat, statistics.median(
            r["cpu_s"] for r in runs_a) / n_runs, log),
        "max_abs_fraction_diff": dfrac,
        "fate_differences": fate_diff,
        "max_death_time_diff_h": dt_max,
        "fractions": {"conditions": cells.conditions, "apopsim": frac_a.tolist(),
                      "roadrunner": frac_r.tolist()},
        "memory": mem,
        "ladder_timing": ladder_t,
    }
    print_report(res, wl, n_runs, args)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(res, indent=2, default=float))
    ok = dfrac <= args.max_fraction_diff
    if not ok:
        print(f"FAIL: apoptotic fractions differ by {dfrac:.4f} > {args.max_fraction_diff}")
    return 0 if ok else 1


def _procs(a: dict) -> str:
    if a["executor"] == "processes":
        return f"{a['workers']} proc"
    return "1 proc, threads" if a.get("engine") == "numba" else str(a["executor"])


def _engine_label(a: dict) -> str:
    return {"scipy": "LSODA+numba", "numba": "Rodas4"}.get(a.get("engine"), a.get("engine"))


def print_report(res: dict, wl: Workload, n_runs: int, args: argparse.Namespace) -> None:
    a, r, acc = res["apopsim"], res["roadrunner"], res["accuracy"]
    n_cond = len(res["fractions"]["apopsim"])
    w = res["workload"]
    lines = [
        "",
        f"apopsim population benchmark  {res['date']}  ({res['machine']['cpus']} cores, "
        f"load {res['machine']['loadavg_start'][0]:.2f} -> {res['machine']['loadavg_end'][0]:.2f})",
        f"model {w['model_name']} ({w['n_species']} species, {w['n_reactions']} reactions), "
        f"context {w['context']}, overrides {w['overrides'] or 'none'}",
        f"grid {len(wl.doses[0])}x{len(wl.doses[1])}: {wl.drugs[0]} {wl.doses[0]} nM x "
        f"{wl.drugs[1]} {wl.doses[1]} nM",
        f"{wl.cells} cells per condition, {wl.hours:g} h, output every {wl.every:g} h; "
        f"{n_runs} cell-runs; repeats {args.repeat} (medians); apopsim "
        f"{res['versions']['apopsim_git'] or res['versions']['apopsim']}, libroadrunner "
        f"{res['versions']['libroadrunner']}",
        *(f"NOTE: {n}" for n in w["notes"]),
        "",
        f"{'':34s}{'apopsim':>16s}{'roadrunner loop':>18s}",
        f"{'engine':34s}{_engine_label(a) + ', ' + _procs(a):>16s}"
        f"{'CVODE, 1 process':>18s}",
        f"{'rtol / atol (nominal)':34s}{wl.rtol:>8.0e} /{wl.atol:>6.0e}"
        f"{r['rtol']:>10.0e} /{r['atol']:>6.0e}",
        f"{'wall time (s)':34s}{a['wall_s']:>16.2f}{r['wall_s']:>18.2f}",
        f"{'  of which model load (s)':34s}{'(cached)':>16s}{r['load_s']:>18.2f}",
        f"{'CPU time, all processes (s)':34s}{a['cpu_s']:>16.2f}{r['cpu_s']:>18.2f}",
        f"{'cell-runs per second':34s}{n_runs / a['wall_s']:>16.0f}{n_runs / r['wall_s']:>18.0f}",
        f"{'max scaled error vs reference':34s}{acc['apopsim']['max_error']:>16.2e}"
        f"{acc['roadrunner']['max_error']:>18.2e}",
        f"{'median scaled error vs reference':34s}{acc['apopsim']['median_error']:>16.2e}"
        f"{acc['roadrunner']['median_error']:>18.2e}",
        f"{'max |death time - reference| (h)':34s}"
        f"{acc['apopsim']['max_death_time_error_h']:>16.1e}"
        f"{acc['roadrunner']['max_death_time_error_h']:>18.1e}",
        f"{'failed cell-runs (retried)':34s}{a['failed']:>9d} ({a['retried']:>4d})"
        f"{r['failed']['treatment'] + r['failed']['preequilibration'] * n_cond:>11d} "
        f"({r['failed']['retried']:>4d})",
        "",
        f"ratio roadrunner / apopsim: {res['ratio']:.2f} wall time, "
        f"{r['cpu_s'] / a['cpu_s']:.2f} CPU time  (> 1: apopsim faster; "
        f"runs apopsim {[round(x, 2) for x in a['runs_s']]}, roadrunner "
        f"{[round(x, 2) for x in r['runs_s']]})",
        f"max |apoptotic fraction apopsim - roadrunner| at {wl.hours:g} h over "
        f"{len(res['fractions']['apopsim'])} conditions: {res['max_abs_fraction_diff']:.4f} "
        f"(limit {args.max_fraction_diff}); cell fates differing: {res['fate_differences']}; "
        f"max |death time difference| {res['max_death_time_diff_h']:.3f} h (the loop "
        "interpolates linearly between outputs; apopsim may locate the crossing more finely)",
        f"accuracy subset: {acc['cells']} cells x {len(acc['conditions'])} conditions "
        f"{acc['conditions']}; reference scipy LSODA rtol 1e-10 atol 1e-12; error = max over "
        f"species and times of |y - ref| / max(max_t |ref|, {SCALE_FLOOR_NM:g} nM)",
        f"roadrunner at apopsim's nominal tolerances (rtol {wl.rtol:g}, atol {wl.atol:g}): max "
        f"error {acc['roadrunner_at_apopsim_nominal']['max_error']:.2e}",
        "roadrunner ladder: " + ", ".join(f"rtol {e['rtol']:g}: {e['max_error']:.1e}"
                                          for e in acc["ladder"]),
    ]
    t = a.get("timings") or {}
    lines.append(f"apopsim ({a.get('engine')}) phases, last run: " + ", ".join(
        f"{k} {v:.2f} s" for k, v in t.items() if k in ("preequilibration", "treatment")))
    lines.append(f"CPU per cell-run (pre-equilibration shared, included): apopsim "
                 f"{1e3 * a['cpu_s'] / n_runs:.2f} ms, roadrunner loop "
                 f"{1e3 * r['cpu_s'] / n_runs:.2f} ms")
    sc = res.get("scipy")
    if sc:
        lines.append(f"apopsim on scipy LSODA, same run, same executor: wall {sc['wall_s']:.2f} s, "
                     f"CPU {sc['cpu_s']:.2f} s ({1e3 * sc['cpu_s'] / n_runs:.2f} ms per "
                     f"cell-run); ratio scipy / {a.get('engine')}: "
                     f"{sc['wall_s'] / a['wall_s']:.2f} wall, {sc['cpu_s'] / a['cpu_s']:.2f} CPU")
    fl = res.get("floor")
    if fl:
        lines.append(
            f"floor (numba, counted in this process): per cell-run {fl['steps_per_run']:.0f} "
            f"steps, {fl['factorisations_per_run']:.0f} factorisations, "
            f"{fl['rhs_per_run']:.0f} RHS calls; sparse LU {fl['nnz_lu']} non-zeros, "
            f"{fl['flops_per_step']} flops per step (LU + 6 solves) = "
            f"{fl['mflop_per_run']:.2f} Mflop per cell-run; at the kernel's measured speed "
            f"the LU + solves take {fl['linear_algebra_ms_per_run']:.2f} ms and all step pieces "
            f"(+ Jacobian, RHS) {fl['step_pieces_ms_per_run']:.2f} ms, against "
            f"{fl['cpu_ms_per_run']:.2f} ms CPU measured: {fl['times_floor']:.1f}x the floor")
        if "solver_cpu_ms_per_run" in fl:
            lines.append(
                f"  of which inside the solver calls (compiled loop, all threads) "
                f"{fl['solver_cpu_ms_per_run']:.2f} ms per cell-run, the rest Python per cell "
                f"and per window; rejected steps {fl['rejected_per_run']:.2f} and Jacobians "
                f"{fl['jacobians_per_run']:.0f} per cell-run")
    if res.get("ladder_timing"):
        lines.append(f"libRoadRunner loop at each ladder rung (first {args.ladder_cells} cells x "
                     f"{n_cond} conditions; CPU ratio = loop / apopsim per cell-run):")
        for e in res["ladder_timing"]:
            lines.append(
                f"  rtol {e['rtol']:7.0e}: max error {e['max_error']:.1e} (apopsim "
                f"{acc['apopsim']['max_error']:.1e}), {e['cpu_ms_per_run']:.2f} ms CPU per "
                f"cell-run, ratio {e['cpu_ratio']:.2f}, {e['cells_done']} cells"
                f"{'' if e['finished'] else ' (budget exceeded)'}, failures "
                f"{e['preequilibration'] + e['treatment']}, retried {e['retried']}"
                f"{'  <- matched accuracy' if e['matched'] else ''}")
    m = res["memory"]
    if m and "error" not in m:
        lines += [
            f"memory run ({len(wl.doses[0])}x{len(wl.doses[1])} x {m['n_cells']} cells, apopsim "
            f"{wl.engine}, executor {wl.executor}): peak RSS of process tree "
            f"{m['peak_tree_rss_mb']:.0f} MB "
            f"(PSS {m['peak_tree_pss_mb']:.0f} MB; up to {m['max_processes']} processes); "
            f"ru_maxrss main {m['ru_maxrss_self_mb']:.0f} MB, largest worker "
            f"{m['ru_maxrss_largest_child_mb']:.0f} MB; wall {m['wall_s']:.1f} s "
            f"({m['n_cells'] * m['n_conditions'] / m['wall_s']:.0f} cell-runs/s); "
            f"failed {m['failed']}",
        ]
    elif m:
        lines.append("memory run FAILED (see stderr)")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
