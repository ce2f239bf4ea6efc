"""The built-in integrator back ends, behind the protocol of :mod:`apopsim.engine.registry`.

Adding a back end is one class in one file::

    @register_backend
    class MyBackend:
        name = "mine"
        methods = ("default",)
        default_method = "default"
        supports_freeze = False

        def __init__(self, cm, opts): ...
        def integrate(self, y0, p, times, freeze=None): ...
        @classmethod
        def retry_options(cls, opts): return replace(opts, rtol=opts.rtol / 100)

and ``solver: {engine: mine}`` then works in scenarios (the scenario schema and the CLI read the
names from this registry).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from apopsim.engine.auto import single_cell_options
from apopsim.engine.options import SolverOptions
from apopsim.engine.registry import (  # noqa: F401 - re-exported for back-end authors
    Backend,
    Freeze,
    backend_names,
    get_backend,
    register_backend,
    register_lazy_backend,
)
from apopsim.errors import SimulationError

if TYPE_CHECKING:
    from apopsim.engine.compiler import CompiledModel

# ============================================================================ scipy
class _ExcessWork(Exception):
    """Raised inside solve_ivp's right-hand side when the work budget is spent."""

    def __init__(self, t: float) -> None:
        super().__init__(t)
        self.t = t


@register_backend
class ScipyBackend:
    """scipy's LSODA (``odeint``: its step loop runs in Fortran) with the compiled right-hand
    side and exact Jacobian; ``"BDF"`` and ``"Radau"`` through ``solve_ivp``. The reference
    engine. Retry policy: BDF at rtol / 100."""

    name = "scipy"
    methods = ("LSODA", "BDF", "Radau")
    default_method = "LSODA"
    supports_freeze = True

    def __init__(self, cm: CompiledModel, opts: SolverOptions) -> None:
        self.cm, self.opts = cm, opts

    @classmethod
    def retry_options(cls, opts: SolverOptions) -> SolverOptions:
        return replace(opts, rtol=opts.rtol / 100, method="BDF")

    def integrate(self, y0: np.ndarray, p: np.ndarray, times: np.ndarray,
                  freeze: Freeze | None = None) -> np.ndarray:
        o = self.opts
        if len(times) < 2:
            return y0[None, :].copy()
        if freeze is None:
            rhs, jac, args = self.cm.rhs, self.cm.jac, (p,)
        else:
            rhs, jac = self.cm.rhs_stop, self.cm.jac_stop
            args = (p, int(freeze[0]), float(freeze[1]), float(freeze[2]))
        if self.cm.autonomous:
            # LSODA's start-up heuristics misbehave at large absolute times (seen at t > 1e4 h)
            times = times - times[0]
        if o.method == "LSODA":
            from scipy.integrate import odeint

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, info = odeint(
                    rhs, y0, times, args=args, Dfun=jac, tfirst=True, rtol=o.rtol, atol=o.atol,
                    mxstep=o.max_steps, full_output=True,
                )
            if info["message"] != "Integration successful.":
                bad = int(np.argmax(info["tcur"] < times[1:] - 1e-12)) if "tcur" in info else 0
                raise SimulationError(
                    f"LSODA failed near t = {info['tcur'][bad] if 'tcur' in info else '?'} h: "
                    f"{info['message']}"
                )
            return y
        from scipy.integrate import solve_ivp

        budget = o.max_steps * (len(times) - 1)  # solve_ivp has no step limit: count calls
        calls = 0

        def f(t: float, y: np.ndarray) -> np.ndarray:
            nonlocal calls
            calls += 1
            if calls > budget:
                raise _ExcessWork(t)
            return rhs(t, y, *args)

        try:
            sol = solve_ivp(f, (times[0], times[-1]), y0, method=o.method, t_eval=times,
                            jac=lambda t, y: jac(t, y, *args), rtol=o.rtol, atol=o.atol)
        except _ExcessWork as stop:
            raise SimulationError(
                f"{o.method} failed near t = {stop.t:.4g} h: more than {budget} right-hand-side "
                "evaluations (excess work)") from None
        if not sol.success:
            raise SimulationError(f"{o.method} failed near t = {sol.t[-1]:.4g} h: {sol.message}")
        return sol.y.T


# ============================================================================ libRoadRunner
@register_backend
class RoadRunnerBackend:
    """libRoadRunner (CVODE on LLVM-compiled SBML), an independent second engine: the model is
    exported to SBML once; state and parameters are set per call. It integrates frozen cells to
    the end (no freeze). Retry policy: rtol / 100."""

    name = "roadrunner"
    methods = ("CVODE",)
    default_method = "CVODE"
    supports_freeze = False

    def __init__(self, cm: CompiledModel, opts: SolverOptions) -> None:
        import roadrunner

        self.cm, self.opts = cm, opts
        model = cm.model
        self.rr = roadrunner.RoadRunner(model.to_sbml())
        self.rr.integrator.relative_tolerance = opts.rtol
        self.rr.integrator.absolute_tolerance = opts.atol
        self.rr.integrator.maximum_num_steps = opts.max_steps
        floating = list(self.rr.model.getFloatingSpeciesIds())
        self.rate_rule_params = [s for s in model.state if s not in floating]
        index = {s: i for i, s in enumerate(model.state)}
        self.float_idx = np.array([index[s] for s in floating], dtype=int)
        self.rate_idx = np.array([index[s] for s in self.rate_rule_params], dtype=int)
        self.rr.timeCourseSelections = ["time"] + floating + self.rate_rule_params
        rrm = self.rr.model
        known = {*rrm.getGlobalParameterIds(), *rrm.getCompartmentIds(),
                 *rrm.getBoundarySpeciesIds()}
        self.settable = [k for k in cm.param_names if k in known]
        self.pidx = [cm.param_names.index(k) for k in self.settable]

    @classmethod
    def retry_options(cls, opts: SolverOptions) -> SolverOptions:
        return replace(opts, rtol=opts.rtol / 100)

    def integrate(self, y0: np.ndarray, p: np.ndarray, times: np.ndarray,
                  freeze: Freeze | None = None) -> np.ndarray:
        if len(times) < 2:
            return y0[None, :].copy()
        rr = self.rr
        for k, i in zip(self.settable, self.pidx):
            rr.setValue(k, float(p[i]))
        # libRoadRunner scales atol by each species' amount: amounts like 1e-140 nM (depleted
        # species after pre-equilibration) make CVODE's error weights blow up, so flush them
        # (1e-12 nM is ~1e-9 molecules per cell)
        amounts = y0[self.float_idx]
        amounts = np.where(np.abs(amounts) < 1e-12, 0.0, amounts)
        rr.model.setFloatingSpeciesAmounts(np.ascontiguousarray(amounts))
        for k, i in zip(self.rate_rule_params, self.rate_idx):
            rr.setValue(k, float(y0[i]))
        rr.model.setTime(float(times[0]))
        try:
            res = np.asarray(rr.simulate(times=list(map(float, times))))
        except RuntimeError as exc:
            raise SimulationError(f"libRoadRunner failed: {exc}") from exc
        out = np.empty((len(times), len(y0)))
        out[:, self.float_idx] = res[:, 1:1 + len(self.float_idx)]
        out[:, self.rate_idx] = res[:, 1 + len(self.float_idx):]
        return out


# ============================================================================ numba (lazy)
# the compiled Rodas4 of apopsim.engine.stiff: imported (with numba) on first use. Its threads
# (numba's OpenMP layer) sleep between parallel regions instead of spinning: busy-waiting cost
# ~9 ms CPU per region, about 2 % of a population's CPU (benchmarks/README.md). A user's own
# OMP_WAIT_POLICY wins; set before numba starts the OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
register_lazy_backend("numba", "apopsim.engine.stiff")


# ============================================================================ cache
_INTEGRATORS: dict[tuple[str, SolverOptions], Backend] = {}


def integrator_for(cm: CompiledModel, opts: SolverOptions) -> Backend:
    """A cached back-end instance for this model structure and these solver options.

    Back ends hold no parameter values or state between calls (both are passed to
    ``integrate``), so one serves every cell, context and dose of a model structure.
    """
    key = (cm.model.structure_hash(), opts)
    if key not in _INTEGRATORS:
        _INTEGRATORS[key] = make_integrator(cm, opts)
    return _INTEGRATORS[key]


def make_integrator(cm: CompiledModel, opts: SolverOptions) -> Backend:
    """A new instance of the back end named by ``opts.engine`` (``"auto"``, unresolved by
    :func:`~apopsim.engine.auto.choose_engine`, means scipy: one cell at a time)."""
    opts = single_cell_options(opts)
    return get_backend(opts.engine)(cm, opts)
