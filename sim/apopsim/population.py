"""Heterogeneous cell populations over dose conditions, split into chunks for any executor.

A population is ``n_cells`` cells whose synthesis rates (or initial amounts) are drawn
log-normally around the context's values (mean preserved, coefficient of variation ``cv``), from
a seeded generator or a scrambled Sobol sequence, optionally with a common correlation between
all varied quantities (Gaussian copula). All draws are made once, up front, in the calling
process, so a seed gives the same cells, and the same results, whatever the executor and number
of workers.

Work is split into independent chunks: first each block of cells is pre-equilibrated untreated
(once per cell, shared by every condition), then each (condition, cell block) is treated. Each
cell is frozen once its fate is decided (its right-hand side is switched off smoothly between 1.1
and 1.2 x the death threshold), so the solver steps over the rest of the run almost for free; its
species then stay at their values at that point. The time of death is located on a fine grid
between output times, so it does not depend on the output spacing. A cell whose solver fails is
retried once with tighter tolerances (rtol/100) and the BDF method, then reported as failed
(never silently dropped). A chunk whose worker fails is resubmitted once.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apopsim.engine import (
    PreequilibrationOptions,
    SolverOptions,
    ThresholdEvent,
    compile_model,
    get_backend,
    integrate_segments,
    integrator_for,
    preequilibrate,
)
from apopsim.errors import ApopsimError, SimulationError
from apopsim.model import Model

#: Statistics reported for readout variables across the cells of a condition.
STATS = ("mean", "sd", "q05", "q25", "q50", "q75", "q95", "mean_ci_low", "mean_ci_high")


# ============================================================================ sampling
@dataclass(frozen=True)
class Variation:
    """How cells differ.

    Attributes
    ----------
    parameters
        Parameter names (glob patterns allowed, e.g. ``ksyn_*``) whose values vary per cell.
    species
        Species whose initial amounts vary per cell (glob patterns allowed). With
        pre-equilibration, only quantities that turnover does not reset (e.g. conserved totals)
        keep such variation; vary synthesis rates instead.
    cv
        Default coefficient of variation of the log-normal draws.
    cv_per
        Per-name coefficient of variation (exact names).
    correlation
        Common correlation coefficient between the log-values of all varied quantities (0-<1).
    sampling
        ``"random"`` (numpy PCG64) or ``"sobol"`` (scrambled Sobol, lower variance at equal N).
    """

    parameters: tuple[str, ...] = ()
    species: tuple[str, ...] = ()
    cv: float = 0.25
    cv_per: dict[str, float] = field(default_factory=dict)
    correlation: float = 0.0
    sampling: str = "random"


def _match(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    out = []
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise ApopsimError(f"population variation: {pat!r} matches no name in the model")
        out += [h for h in hits if h not in out]
    return out


def sample_cells(model: Model, variation: Variation, n_cells: int, seed: int):
    """Per-cell parameter and initial-amount values.

    Returns
    -------
    param_names, param_values, species_names, species_values
        ``param_values`` has shape (n_cells, len(param_names)) in model units;
        ``species_values`` (n_cells, len(species_names)) are initial amounts (nM for size-1
        compartments). With ``n_cells == 1`` the single cell is the context's own cell.
    """
    pnames = _match(variation.parameters, [k for k in model.parameters
                                            if k not in model.drug_inputs])
    snames = _match(variation.species, list(model.state))
    names = pnames + snames
    base = np.array([model.parameters[k] for k in pnames]
                    + [model.initial[model.state.index(s)] for s in snames], dtype=float)
    if n_cells == 1 or not names:
        vals = np.tile(base, (n_cells, 1))
    else:
        from scipy.stats import norm, qmc

        d = len(names)
        rng = np.random.default_rng(seed)
        if variation.sampling == "sobol":
            u = qmc.Sobol(d, scramble=True, seed=rng).random(n_cells)
            z = norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        else:
            z = rng.standard_normal((n_cells, d))
        rho = variation.correlation
        if rho:
            corr = np.full((d, d), rho) + (1 - rho) * np.eye(d)
            z = z @ np.linalg.cholesky(corr).T
        cv = np.array([variation.cv_per.get(k, variation.cv) for k in names])
        sigma = np.sqrt(np.log1p(cv**2))
        vals = base * np.exp(sigma * z - sigma**2 / 2)  # mean-preserving log-normal
    return pnames, vals[:, :len(pnames)], snames, vals[:, len(pnames):]


# ============================================================================ chunks
@dataclass(frozen=True)
class PreeqTask:
    """Pre-equilibrate a block of cells (untreated)."""

    model: Model
    solver: SolverOptions
    preeq: PreequilibrationOptions
    param_names: tuple[str, ...]
    param_values: np.ndarray  # (n, p)
    species_idx: tuple[int, ...]
    species_values: np.ndarray  # (n, s) amounts
    untreated: dict[str, float]
    cells: tuple[int, ...]


@dataclass(frozen=True)
class TreatTask:
    """Treat a block of pre-equilibrated cells under one condition."""

    model: Model
    solver: SolverOptions
    param_names: tuple[str, ...]
    param_values: np.ndarray  # (n, p)
    y0: np.ndarray  # (n, n_state)
    doses: dict[str, float]  # model symbol -> nM at t = 0
    schedule: tuple[tuple[float, dict[str, float]], ...]
    times: np.ndarray
    readouts: tuple[str, ...]
    event: ThresholdEvent  # the death rule: variable, threshold, direction, after
    condition: int
    cells: tuple[int, ...]


@dataclass
class PreeqResult:
    cells: tuple[int, ...]
    y0: np.ndarray
    errors: dict[int, str]


@dataclass
class TreatResult:
    condition: int
    cells: tuple[int, ...]
    death_h: np.ndarray  # inf = survived, nan = failed, -inf = dead before treatment
    traces: np.ndarray  # (n_cells, n_readouts, n_times) float32
    errors: dict[int, str]
    retried: int = 0


def run_preeq_task(task: PreeqTask) -> PreeqResult:
    """Pre-equilibrate each cell of ``task``; failures are recorded per cell."""
    cm = compile_model(task.model)
    y0 = np.tile(task.model.initial, (len(task.cells), 1))
    y0[:, list(task.species_idx)] = task.species_values
    errors: dict[int, str] = {}
    opts = task.preeq
    for i, cell in enumerate(task.cells):
        if not opts.enabled:
            continue
        p = cm.param_vector({**dict(zip(task.param_names, task.param_values[i])),
                             **task.untreated})
        try:
            y0[i], _ = preequilibrate(cm, task.solver, y0[i], p, opts)
        except ApopsimError as exc:
            errors[cell] = f"pre-equilibration: {exc}"
            y0[i] = np.nan
    return PreeqResult(task.cells, y0, errors)


def run_treat_task(task: TreatTask) -> TreatResult:
    """Treat each cell of ``task``; each solver failure is retried once, then recorded."""
    cm = compile_model(task.model)
    integ = integrator_for(cm, task.solver)
    retry_solver = get_backend(task.solver.engine).retry_options(task.solver)
    n, nt = len(task.cells), len(task.times)
    death = np.full(n, np.nan)
    traces = np.full((n, len(task.readouts), nt), np.nan, dtype=np.float32)
    errors: dict[int, str] = {}
    retried = 0

    for i, cell in enumerate(task.cells):
        if not np.all(np.isfinite(task.y0[i])):
            errors[cell] = "not pre-equilibrated"
            continue
        values = {**dict(zip(task.param_names, task.param_values[i])), **task.doses}
        tr = None
        for attempt, solver in enumerate((task.solver, retry_solver)):
            try:
                it = integ if attempt == 0 else integrator_for(cm, solver)
                tr = integrate_segments(cm, it, task.y0[i], values, list(task.schedule),
                                        task.times, event=task.event)
                break
            except SimulationError as exc:
                retried += attempt == 0
                if attempt == 1:
                    errors[cell] = str(exc)
        if tr is None:
            continue
        if task.event.crossed(tr[task.event.variable][0]):  # dead untreated: not a live cell
            death[i] = -np.inf
            continue
        death[i] = tr.meta["crossing_h"]
        for j, name in enumerate(task.readouts):
            traces[i, j] = tr[name]
    return TreatResult(task.condition, task.cells, death, traces, errors, retried)


# ============================================================================ executors
def _guarded(fn: Callable, task: Any):
    """Run ``fn(task)`` returning ``(result, None)`` or ``(None, error text)``."""
    try:
        return fn(task), None
    except Exception as exc:  # noqa: BLE001 - reported per chunk, never hidden
        return None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"


class Executor:
    """Runs chunk functions over tasks and yields ``(index, result, error)`` as they finish."""

    def map(self, fn: Callable, tasks: list) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""


class SerialExecutor(Executor):
    """Everything in this process."""

    def map(self, fn, tasks):
        for i, t in enumerate(tasks):
            yield (i, *_guarded(fn, t))


class ProcessExecutor(Executor):
    """Local worker processes (default: all cores)."""

    def __init__(self, workers: int | None = None) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers or os.cpu_count() or 1
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.pool = ProcessPoolExecutor(self.workers, mp_context=ctx)

    def map(self, fn, tasks):
        from concurrent.futures import as_completed

        futures = {self.pool.submit(_guarded, fn, t): i for i, t in enumerate(tasks)}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    result, err = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died
                    result, err = None, f"worker failed: {type(exc).__name__}: {exc}"
                yield i, result, err
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """A Dask distributed cluster: an existing scheduler address, or a new local cluster."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if address:
            self.client = Client(address)
        else:
            self._cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                         threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)

    def map(self, fn, tasks):
        from dask.distributed import as_completed

        futures = self.client.map(_guarded, [fn] * len(tasks), tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                result, err = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died
                result, err = None, f"worker failed: {type(exc).__name__}: {exc}"
            yield i, result, err

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(kind: str = "processes", workers: int | None = None,
                  scheduler: str | None = None) -> Executor:
    """``"serial"``, ``"processes"`` (default; all cores) or ``"dask"`` (``scheduler`` address
    of an existing cluster, or a new local cluster when None)."""
    if scheduler:
        return DaskExecutor(scheduler, workers)
    if kind == "serial" or workers == 1:
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "dask":
        return DaskExecutor(None, workers)
    raise ValueError(f"unknown executor {kind!r} (serial, processes or dask)")


def run_chunks(executor: Executor, fn: Callable, tasks: list,
               on_result: Callable[[int, Any, str | None], None], *, retries: int = 1) -> None:
    """Run every task, calling ``on_result(index, result, error)`` once per task.

    A task whose chunk fails (an exception escaped the chunk function, or its worker died) is
    resubmitted up to ``retries`` times; after that ``on_result`` gets ``result=None`` and the
    error text.
    """
    pending = list(range(len(tasks)))
    for attempt in range(retries + 1):
        failed = []
        for k, result, err in executor.map(fn, [tasks[i] for i in pending]):
            i = pending[k]
            if err is None:
                on_result(i, result, None)
            elif attempt == retries:
                on_result(i, None, err)
            else:
                failed.append(i)
        pending = failed
        if not pending:
            break


# ============================================================================ aggregation
def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.96):
    """95 % Wilson score interval of a binomial proportion ``k / n``."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def summarise_traces(traces: np.ndarray) -> np.ndarray:
    """Statistics :data:`STATS` over cells: (n_cells, n_vars, n_times) -> (n_stats, n_vars, n_t).

    NaN traces (failed cells, cells dead before treatment) are left out. ``mean_ci_low`` /
    ``mean_ci_high`` are the 95 % normal-approximation interval of the mean over the sampled
    cells (mean ± 1.96 sd / sqrt(n)).
    """
    import warnings

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x = traces.astype(float)
        shape = traces.shape[1:]
        q = np.nanquantile(x, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0) if len(x) else \
            np.full((5, *shape), np.nan)
        sd = np.nanstd(x, axis=0, ddof=1) if len(x) > 1 else np.zeros(shape)
        mean = np.nanmean(x, axis=0)
        half = 1.959964 * sd / np.sqrt(np.maximum(np.sum(~np.isnan(x), axis=0), 1))
        return np.concatenate([mean[None], sd[None], q, (mean - half)[None],
                               (mean + half)[None]])
