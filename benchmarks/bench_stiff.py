#!/usr/bin/env python
"""Per-cell integrator benchmark: the compiled Rodas4 (engine ``numba``) against scipy LSODA and
a plain libRoadRunner loop, on the same cells from the same pre-equilibrated states.

Workload: the 70-species ``intrinsic_extrinsic_p53`` model with the ``aml_intrinsic`` cell (as
``bench_population.py``), a small dose grid of its first two drugs (default 3x3: lisaftoclax x
venetoclax 0 / 10 / 300 nM), 20 cells drawn as apopsim's population runner draws them, 72 h with
output every 0.5 h. Each cell is pre-equilibrated once (scipy, tight) and every engine treats it
from that state over the whole horizon (no death event, no freezing), in this one process:

* ``numba``: ``NumbaBackend.integrate`` (Rodas4, sparse LU, loop in numba);
* ``scipy``: ``ScipyBackend.integrate`` (LSODA through odeint, numba RHS and exact Jacobian);
* ``roadrunner``: ``bench_population.RoadRunnerLoop.treat`` (CVODE, set state and doses,
  ``simulate``).

Accuracy: every trajectory against scipy LSODA at rtol 1e-10, atol 1e-12 nM from the same state;
error = max over species and times of |y - ref| / max(max_t |ref|, 1e-3 nM) (as
``bench_population.scaled_error``), max and median over cell-runs. LSODA runs at apopsim's
defaults (rtol 1e-6, atol 1e-9 nM). Rodas4 and libRoadRunner each get the loosest rtol on a
ladder whose max and median errors are within 2x of LSODA's (on a subset of cells); Rodas4 is
also reported at LSODA's nominal tolerances.

Printed: CPU time per cell-run (median of ``--repeat`` runs, order rotated), ratios, errors, and
the floor estimate (flops of the sparse LU and solves per step x steps, and a measured breakdown
of a step into RHS, Jacobian, LU and solves).

Run from the repository root::

    .venv/bin/python benchmarks/bench_stiff.py             # about 2 min on a quiet machine
    .venv/bin/python benchmarks/bench_stiff.py --cells 4 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_population as bp  # noqa: E402 - reuse its workload, cells, loop and error measure

MODEL = "intrinsic_extrinsic_p53"
NUMBA_LADDER = (1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--doses", default="0,10,300", help="doses of each drug (nM)")
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--hours", type=float, default=72.0)
    ap.add_argument("--every", type=float, default=0.5)
    ap.add_argument("--ladder-cells", type=int, default=5,
                    help="cells (x all conditions) used to match tolerances on the ladders")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def make_workload(args: argparse.Namespace) -> bp.Workload:
    """The ``bench_population`` workload (its cell and drugs) on a small grid."""
    ns = bp.parse_args(["--model", args.model, "--cells", str(args.cells), "--hours",
                        str(args.hours), "--every", str(args.every), "--seed", str(args.seed),
                        "--doses-a", args.doses, "--doses-b", args.doses])
    return bp.choose_workload(ns)


class Engines:
    """The three engines on shared cells and shared pre-equilibrated states."""

    def __init__(self, cells: bp.Cells, log) -> None:
        import numpy as np

        from apopsim.engine import PreequilibrationOptions, SolverOptions, compile_model
        from apopsim.engine import preequilibrate as pre

        self.cells, self.cm = cells, compile_model(cells.model)
        untreated = {d: 0.0 for d in cells.model.drug_inputs}
        t0 = time.perf_counter()
        so = SolverOptions(rtol=1e-10, atol=1e-12)
        self.y_pre = [pre(self.cm, so, cells.y0(i), self.cm.param_vector(
            {**cells.cell_params(i), **untreated}), PreequilibrationOptions(tol_per_h=1e-9))[0]
            for i in range(len(cells.pvals))]
        log(f"  shared pre-equilibration: {len(self.y_pre)} cells in "
            f"{time.perf_counter() - t0:.1f} s")
        self.p = {(i, k): self.cm.param_vector({**cells.cell_params(i), **cells.doses_sym[k]})
                  for i in range(len(cells.pvals)) for k in range(len(cells.conditions))}
        self.times = np.asarray(cells.times, dtype=float)
        self._loops: dict[tuple[float, float], bp.RoadRunnerLoop] = {}

    def keys(self, n_cells: int) -> list[tuple[int, int]]:
        return [(i, k) for i in range(n_cells) for k in range(len(self.cells.conditions))]

    def apopsim(self, engine: str, rtol: float, atol: float, keys) -> tuple[dict, dict]:
        """Trajectories (amounts) and solver counters of an apopsim back end."""
        from apopsim.engine import SolverOptions, make_integrator

        integ = make_integrator(self.cm, SolverOptions(engine=engine, rtol=rtol, atol=atol))
        integ.integrate(self.y_pre[0], self.p[keys[0]], self.times)  # JIT / warm-up
        out, steps = {}, {}
        for key in keys:
            out[key] = integ.integrate(self.y_pre[key[0]], self.p[key], self.times)
            if engine == "numba":
                steps[key] = integ.last_stats.copy()
        return out, steps

    def many(self, rtol: float, atol: float, keys) -> dict:
        """Trajectories of ``NumbaBackend.integrate_many``: all cell-runs in one call, cells
        spread over numba's threads (prange)."""
        import numpy as np

        from apopsim.engine import SolverOptions, make_integrator

        integ = make_integrator(self.cm, SolverOptions(engine="numba", rtol=rtol, atol=atol))
        y0s = np.array([self.y_pre[i] for i, _ in keys])
        ps = np.array([self.p[key] for key in keys])
        out, errs = integ.integrate_many(y0s, ps, self.times)
        if any(errs):
            raise RuntimeError(f"integrate_many failed: {[e for e in errs if e][:3]}")
        return dict(zip(keys, out))

    def roadrunner(self, rtol: float, atol: float, keys) -> dict:
        """Trajectories (concentrations) of the plain libRoadRunner loop."""
        import numpy as np

        if (rtol, atol) not in self._loops:
            self._loops[rtol, atol] = bp.RoadRunnerLoop(self.cells, rtol, atol)
        loop = self._loops[rtol, atol]
        out = {}
        with bp.quiet_stderr():
            for i, k in keys:
                out[i, k] = loop.trajectory(i, self.y_pre[i], self.cells.doses_sym[k])
        # to amounts (the apopsim back ends return amounts; volumes are parameters)
        vols = self._volumes()
        return {key: np.asarray(v) * vols for key, v in out.items()}

    def _volumes(self):
        import numpy as np

        model = self.cm.model
        p = self.cm.param_vector()
        vols = np.ones(len(model.state))
        for j, s in enumerate(model.state):
            comp = model.species_compartment.get(s)
            if comp is not None and s not in model.only_substance:
                vols[j] = p[self.cm.param_names.index(comp)]
        return vols


def numba_threads() -> int:
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def errors(trajs: dict, ref: dict) -> dict[str, float]:
    import numpy as np

    e = np.array([bp.scaled_error(trajs[key], ref[key]) for key in ref])
    return {"max_error": float(e.max()), "median_error": float(np.median(e))}


def match_on_ladder(run, ladder, target: dict, log, label: str) -> tuple[float, dict, list]:
    """The loosest rtol whose max and median errors are within MATCH_FACTOR of ``target``."""
    rungs = []
    for rtol in ladder:
        err = run(rtol)
        rungs.append((rtol, err))
        log(f"  {label} rtol {rtol:g}: max {err['max_error']:.2e} median "
            f"{err['median_error']:.2e}")
        if (err["max_error"] <= bp.MATCH_FACTOR * target["max_error"]
                and err["median_error"] <= bp.MATCH_FACTOR * target["median_error"]):
            return rtol, err, rungs
    log(f"  {label}: never matched on the ladder; using the tightest")
    return ladder[-1], rungs[-1][1], rungs


def step_breakdown(cm, y, p, reps: int = 20000) -> dict[str, float]:
    """Measured microseconds of one RHS, one sparse Jacobian, one assemble + LU and one solve
    of the generated kernel (tight numba loops)."""
    import numba
    import numpy as np

    from apopsim.engine.stiff import kernel_for, plan_for

    mod = kernel_for(cm)
    rhs, jac = cm.rhs_stop, cm.jac_sparse_stop
    asm, fac, sol = mod._model_assemble, mod._model_factor, mod._model_solve
    plan = plan_for(cm)
    nnz = max(plan.nnz, cm.jac_nonzeros)

    @numba.njit
    def b_rhs(y, p, n):
        s = 0.0
        for _ in range(n):
            y[0] += 1e-300
            s += rhs(0.0, y, p, 0, 1e300, 2e300)[0]
        return s

    @numba.njit
    def b_jac(y, p, jv, n):
        for _ in range(n):
            y[0] += 1e-300
            jac(0.0, y, p, 0, 1e300, 2e300, jv)

    @numba.njit
    def b_lu(lu, jv, n):
        ok = True
        for k in range(n):
            asm(lu, jv, 40.0 + k * 1e-9)
            ok &= fac(lu)
        return ok

    @numba.njit
    def b_solve(lu, b, x, n):
        for _ in range(n):
            b[0] += 1e-12
            sol(lu, b, x)

    y = y.copy()
    jv, lu = np.empty(nnz), np.empty(nnz)
    b, x = np.ones(len(y)), np.empty(len(y))
    out = {}
    for name, f, args in (("rhs", b_rhs, (y, p)), ("jac", b_jac, (y, p, jv)),
                          ("lu", b_lu, (lu, jv)), ("solve", b_solve, (lu, b, x))):
        f(*args, 10)
        ts = []
        for _ in range(3):
            t0 = time.process_time()
            f(*args, reps)
            ts.append((time.process_time() - t0) / reps * 1e6)
        out[name] = min(ts)
    return out


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    import apopsim  # noqa: F401 - registers the engines
    from apopsim.engine.stiff import plan_for

    args = parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    import os

    load0 = os.getloadavg()
    wl = make_workload(args)
    cells = bp.make_cells(wl.scenario())
    eng = Engines(cells, log)
    keys = eng.keys(args.cells)
    ladder_keys = eng.keys(min(args.ladder_cells, args.cells))
    n_runs = len(keys)
    log(f"model {wl.model_name}: {len(cells.model.state)} species; {len(cells.conditions)} "
        f"conditions x {args.cells} cells = {n_runs} cell-runs")

    t0 = time.perf_counter()
    ref, _ = eng.apopsim("scipy", 1e-10, 1e-12, keys)
    log(f"  reference (LSODA rtol 1e-10): {time.perf_counter() - t0:.1f} s")
    ref_sub = {k: ref[k] for k in ladder_keys}
    lsoda_sub = errors(eng.apopsim("scipy", wl.rtol, wl.atol, ladder_keys)[0], ref_sub)
    log(f"  LSODA rtol {wl.rtol:g} on the ladder subset: max {lsoda_sub['max_error']:.2e} "
        f"median {lsoda_sub['median_error']:.2e}")
    nb_rtol, _, nb_rungs = match_on_ladder(
        lambda r: errors(eng.apopsim("numba", r, r * 1e-3, ladder_keys)[0], ref_sub),
        NUMBA_LADDER, lsoda_sub, log, "numba")
    rr_rtol, _, rr_rungs = match_on_ladder(
        lambda r: errors(eng.roadrunner(r, r * 1e-3, ladder_keys), ref_sub),
        bp.RR_RTOL_LADDER, lsoda_sub, log, "roadrunner")

    configs = {
        "numba (matched)": ("numba", nb_rtol, nb_rtol * 1e-3),
        "numba (LSODA's nominal)": ("numba", wl.rtol, wl.atol),
        "scipy LSODA": ("scipy", wl.rtol, wl.atol),
        "roadrunner (matched)": ("roadrunner", rr_rtol, rr_rtol * 1e-3),
    }
    threads = numba_threads()
    configs[f"numba many-cell, {threads} threads"] = ("many", nb_rtol, nb_rtol * 1e-3)
    cpu: dict[str, list[float]] = {k: [] for k in configs}
    wall: dict[str, list[float]] = {k: [] for k in configs}
    result: dict[str, Any] = {}
    names = list(configs)
    for rep in range(args.repeat):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for label in order:
            engine, rtol, atol = configs[label]
            if engine == "roadrunner":
                eng.roadrunner(rtol, atol, keys[:1])  # load outside the timing
                c0, w0 = time.process_time(), time.perf_counter()
                trajs, steps = eng.roadrunner(rtol, atol, keys), {}
            elif engine == "many":
                eng.many(rtol, atol, keys[:2])  # JIT / warm-up
                c0, w0 = time.process_time(), time.perf_counter()
                trajs, steps = eng.many(rtol, atol, keys), {}
            else:
                eng.apopsim(engine, rtol, atol, keys[:1])
                c0, w0 = time.process_time(), time.perf_counter()
                trajs, steps = eng.apopsim(engine, rtol, atol, keys)
            cpu[label].append(time.process_time() - c0)
            wall[label].append(time.perf_counter() - w0)
            result[label] = (trajs, steps)
    rows = {}
    for label, (trajs, steps) in result.items():
        t = statistics.median(cpu[label]) / n_runs
        rows[label] = {"cpu_ms": 1e3 * t, "wall_ms": 1e3 * statistics.median(wall[label]) / n_runs,
                       **errors(trajs, ref), "steps": steps}

    # floor: the sparse LU and solves per step, and a measured breakdown of a step
    plan = plan_for(eng.cm)
    st = np.array([v for v in result["numba (matched)"][1].values()])
    n_acc, n_fac, n_f = (float(np.mean(st[:, j])) for j in (0, 3, 2))
    flops_step = plan.factor_flops + 6 * plan.solve_flops
    bd = step_breakdown(eng.cm, eng.y_pre[0], eng.p[keys[-1]])
    per_run_parts = {"rhs": bd["rhs"] * n_f, "jac": bd["jac"] * n_fac,
                     "lu": bd["lu"] * n_fac, "solves": bd["solve"] * 6 * n_fac}
    parts_ms = sum(per_run_parts.values()) / 1e3
    nb = rows["numba (matched)"]

    load1 = os.getloadavg()
    lines = [
        "",
        f"bench_stiff: {wl.model_name} ({len(cells.model.state)} species, Jacobian "
        f"{eng.cm.jac_nonzeros} non-zeros), {len(wl.doses[0])}x{len(wl.doses[1])} grid "
        f"{wl.drugs} {wl.doses[0]} nM x {args.cells} cells = {n_runs} cell-runs, "
        f"{args.hours:g} h every {args.every:g} h; CPU time of this process, median of "
        f"{args.repeat}; load average {load0[0]:.1f} -> {load1[0]:.1f}",
        "",
        f"{'engine':30s}{'rtol':>7s}{'CPU ms/run':>12s}{'vs numba':>10s}{'wall ms/run':>13s}"
        f"{'max err':>10s}{'median err':>12s}",
    ]
    for label, r in rows.items():
        rtol = configs[label][1]
        lines.append(f"{label:30s}{rtol:>7.0e}{r['cpu_ms']:>12.2f}"
                     f"{r['cpu_ms'] / nb['cpu_ms']:>10.2f}{r['wall_ms']:>13.2f}"
                     f"{r['max_error']:>10.1e}{r['median_error']:>12.1e}")
    lines += [
        "",
        "ratios (CPU per cell-run): LSODA / numba "
        f"{rows['scipy LSODA']['cpu_ms'] / nb['cpu_ms']:.2f}, roadrunner / numba "
        f"{rows['roadrunner (matched)']['cpu_ms'] / nb['cpu_ms']:.2f} "
        f"(runs: " + "; ".join(f"{k} {[round(1e3 * c / n_runs, 2) for c in v]}"
                               for k, v in cpu.items()) + " ms)",
        "ladders (max error on the subset): numba " + ", ".join(
            f"{r:g}: {e['max_error']:.1e}" for r, e in nb_rungs) + "; roadrunner " + ", ".join(
            f"{r:g}: {e['max_error']:.1e}" for r, e in rr_rungs),
        f"numba per cell-run (matched): {n_acc:.0f} accepted steps, {n_fac:.0f} factorisations, "
        f"{n_f:.0f} RHS calls",
        f"sparse LU: minimum-degree order, {plan.nnz} non-zeros in L+U (Jacobian "
        f"{eng.cm.jac_nonzeros} + diagonal), {plan.factor_flops} flops per factorisation, "
        f"{plan.solve_flops} per solve; {flops_step} flops per step (LU + 6 solves) -> "
        f"{flops_step * n_fac / 1e6:.2f} Mflop per cell-run = {flops_step * n_fac / 1e3:.0f} us "
        f"at 1 Gflop/s vs {1e3 * nb['cpu_ms']:.0f} us measured",
        "measured step pieces (us): " + ", ".join(f"{k} {v:.2f}" for k, v in bd.items())
        + "; per cell-run: " + ", ".join(f"{k} {v / 1e3:.2f} ms" for k, v in
                                          per_run_parts.items())
        + f"; sum {parts_ms:.2f} ms of {nb['cpu_ms']:.2f} ms (rest: vector updates, error norm,"
        " dense output, call overhead)",
    ]
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
