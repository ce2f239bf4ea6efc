"""Run a scenario and write its results (tables, plots, provenance) atomically."""

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
from apopsim.compiler import compile_model
from apopsim.engine import (
    PreequilibrationOptions,
    SolverOptions,
    Trajectory,
    integrate_segments,
    make_integrator,
    preequilibrate,
    resolve_doses,
    untreated_parameters,
)
from apopsim.errors import ApopsimError
from apopsim.library import load_model
from apopsim.model import Model
from apopsim.scenario import Scenario


@dataclass
class ConditionResult:
    """One condition: doses (nM), its trajectory, death time (h) and status."""

    name: str
    doses_nM: dict[str, float]
    trajectory: Trajectory | None
    time_to_death_h: float
    status: str = "ok"


@dataclass
class ScenarioResult:
    """Results of :func:`run_scenario`.

    ``to_dataframe()`` gives the summary (one row per condition, ``<drug>_nM`` columns, the
    apoptotic fraction at each readout time and the time to death in hours);
    ``timecourse()`` the tidy time courses (condition, time_h, variable, value).
    """

    scenario: Scenario
    model: Model
    conditions: list[ConditionResult]
    wall_time_s: float
    preequilibration_h: float
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[ConditionResult]:
        """Conditions whose simulation failed."""
        return [c for c in self.conditions if c.status != "ok"]

    def to_dataframe(self) -> pd.DataFrame:
        """Summary table, one row per condition."""
        s = self.scenario
        rows = []
        readout_times = s.time.readout_times()
        for c in self.conditions:
            row: dict[str, Any] = {"condition": c.name}
            row.update({f"{d}_nM": c.doses_nM.get(d, 0.0) for d in s.drugs})
            for t in readout_times:
                dead = c.time_to_death_h <= t + 1e-9
                row[f"apoptotic_fraction_{t:g}h"] = float(dead) if c.status == "ok" else np.nan
            row["apoptotic_fraction"] = row[f"apoptotic_fraction_{readout_times[-1]:g}h"]
            row["time_to_death_h"] = c.time_to_death_h if np.isfinite(c.time_to_death_h) else np.nan
            if c.trajectory is not None:
                for v in s.readouts.species:
                    row[f"{v}_end"] = float(c.trajectory[v][-1])
            row["status"] = c.status
            rows.append(row)
        return pd.DataFrame(rows)

    def timecourse(self) -> pd.DataFrame:
        """Tidy time courses of the readout variables and the death variable."""
        variables = list(dict.fromkeys([*self.scenario.readouts.species,
                                        self.scenario.readouts.death.variable]))
        frames = []
        for c in self.conditions:
            if c.trajectory is None:
                continue
            tr = c.trajectory
            for v in variables:
                frames.append(pd.DataFrame({"condition": c.name, "time_h": tr.times_h,
                                            "variable": v, "value": tr[v]}))
        if not frames:
            return pd.DataFrame(columns=["condition", "time_h", "variable", "value"])
        return pd.concat(frames, ignore_index=True)

    def write(self, outdir: str | Path, *, plots: bool = True) -> Path:
        """Write summary.csv, timecourse.csv, plots/ and run.json atomically into ``outdir``."""
        outdir = Path(outdir)
        with atomic_output_dir(outdir) as tmp:
            self.to_dataframe().to_csv(tmp / "summary.csv", index=False)
            self.timecourse().to_csv(tmp / "timecourse.csv", index=False)
            if plots:
                (tmp / "plots").mkdir()
                from apopsim.plots import plot_scenario

                plot_scenario(self, tmp / "plots")
            (tmp / "run.json").write_text(json.dumps(self.provenance, indent=2, default=str))
        return outdir


def condition_name(doses: dict[str, float]) -> str:
    """Readable condition label, e.g. ``lisaftoclax 100 nM + hht 50 nM`` or ``control``."""
    parts = [f"{d} {v:g} nM" for d, v in doses.items() if v > 0]
    return " + ".join(parts) if parts else "control"


def death_time(times_h: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """First time (h) ``values`` exceeds ``threshold`` (linear interpolation), or ``inf``."""
    above = np.nonzero(values > threshold)[0]
    if not above.size:
        return float("inf")
    i = int(above[0])
    if i == 0:
        return float(times_h[0])
    t0, t1, v0, v1 = times_h[i - 1], times_h[i], values[i - 1], values[i]
    return float(t0 + (threshold - v0) * (t1 - t0) / (v1 - v0))


def scenario_model(scenario: Scenario) -> Model:
    """The scenario's model with its context and overrides applied."""
    model = load_model(scenario.model, scenario.context, base=scenario.base_dir)
    o = scenario.overrides
    if o.parameters or o.initial_nM:
        model = model.with_overrides(o.parameters, o.initial_nM, where="scenario overrides")
    return model


def run_scenario(scenario: Scenario, *, progress: bool | None = None) -> ScenarioResult:
    """Simulate every condition of ``scenario``.

    The untreated cell is pre-equilibrated once (shared by all conditions), then each condition
    is treated from ``t = 0`` h. A solver failure in one condition is recorded in its ``status``
    and the run goes on.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`apopsim.load_scenario`).
    progress
        Show a progress bar (default: only when stderr is a terminal).
    """
    t_start = time.perf_counter()
    model = scenario_model(scenario)
    cm = compile_model(model)
    solver = SolverOptions(**scenario.solver.model_dump())
    integrator = make_integrator(cm, solver)
    pre = scenario.preequilibration
    y0, pre_h = model.initial, 0.0
    if pre.enabled:
        y0, pre_h = preequilibrate(
            cm, integrator, model.initial, cm.param_vector(untreated_parameters(model)),
            PreequilibrationOptions(enabled=True, tol_per_h=pre.tol_per_h, max_h=pre.max_h),
        )
    times = np.asarray(scenario.time.output_times())
    death = scenario.readouts.death
    conditions = scenario.conditions()
    results = []
    for doses in _progress(conditions, progress, desc=scenario.name):
        start, events = scenario.engine_schedule(doses)
        name = condition_name(doses)
        try:
            values = {**untreated_parameters(model), **resolve_doses(model, start)}
            sched = [(t, resolve_doses(model, c)) for t, c in events]
            tr = integrate_segments(cm, integrator, y0, values, sched, times)
            td = death_time(tr.times_h, tr[death.variable], death.threshold)
            results.append(ConditionResult(name, doses, tr, td))
        except ApopsimError as exc:
            results.append(ConditionResult(name, doses, None, float("nan"), f"failed: {exc}"))
    wall = time.perf_counter() - t_start
    result = ScenarioResult(scenario, model, results, wall, pre_h)
    result.provenance = provenance(scenario, model, wall, pre_h, result)
    return result


def _progress(items, show: bool | None, desc: str):
    if show is None:
        show = sys.stderr.isatty()
    if not show or len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="condition", file=sys.stderr)


def provenance(scenario: Scenario, model: Model, wall: float, pre_h: float,
               result: ScenarioResult) -> dict[str, Any]:
    """The run.json record: what ran, with which code, inputs and settings."""
    import importlib.metadata as md

    import apopsim

    def ver(pkg: str) -> str | None:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    return {
        "apopsim_version": apopsim.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scenario_file": str(scenario.source) if scenario.source else None,
        "scenario": scenario.model_dump(mode="json"),
        "model": {"name": model.name, "source": str(model.source),
                  "file_sha256": model.source_hashes},
        "seed": scenario.seed,
        "engine": scenario.solver.engine,
        "method": scenario.solver.method,
        "rtol": scenario.solver.rtol,
        "atol_nM": scenario.solver.atol,
        "preequilibration_h": pre_h,
        "n_conditions": len(result.conditions),
        "n_failed": len(result.failures),
        "failures": [{"condition": c.name, "status": c.status} for c in result.failures],
        "wall_time_s": round(wall, 4),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: ver(p) for p in ("numpy", "scipy", "sympy", "numba", "pandas",
                                         "pydantic", "libroadrunner", "antimony")},
        "units": {"concentration": "nM", "time": "h"},
    }
