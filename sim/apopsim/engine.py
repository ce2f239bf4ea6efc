"""The engine: integrate a model, knowing no biology.

Two interchangeable back ends run the same :class:`~apopsim.model.Model`:

* ``"scipy"`` (default): scipy's LSODA (``odeint``, whose step loop runs in Fortran) with the
  compiled right-hand side and exact Jacobian; ``"BDF"`` and ``"Radau"`` through ``solve_ivp``.
* ``"roadrunner"``: libRoadRunner (CVODE on LLVM-compiled SBML), an independent second engine.

A run is: optional pre-equilibration of the untreated cell to steady state, then treatment from
``t = 0`` h with piecewise integration between schedule events (a parameter change never falls
inside a solver step). Times are in hours; drug inputs are parameters in nM.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from apopsim.compiler import CompiledModel, compile_model
from apopsim.errors import ModelError, PreequilibrationError, SimulationError
from apopsim.model import Model

Method = Literal["LSODA", "BDF", "Radau"]
EngineName = Literal["scipy", "roadrunner"]

#: A schedule: ``(time_h, {parameter: value})`` changes applied at ``time_h`` (h after treatment).
Schedule = Sequence[tuple[float, Mapping[str, float]]]


@dataclass(frozen=True)
class SolverOptions:
    """Solver settings.

    Attributes
    ----------
    engine
        ``"scipy"`` or ``"roadrunner"``.
    method
        scipy method: ``"LSODA"`` (default), ``"BDF"`` or ``"Radau"``.
    rtol, atol
        Relative tolerance and absolute tolerance (absolute in nM). libRoadRunner scales its
        absolute tolerance by each species' magnitude, so equal nominal values do not mean equal
        accuracy across engines.
    max_steps
        Maximum internal steps per output interval (LSODA ``mxstep``).
    """

    engine: EngineName = "scipy"
    method: Method = "LSODA"
    rtol: float = 1e-6
    atol: float = 1e-9
    max_steps: int = 100_000


@dataclass(frozen=True)
class PreequilibrationOptions:
    """Bring the untreated cell to steady state before treatment.

    The untreated model (every drug input at 0 nM) is integrated over growing windows until the
    largest relative rate of change ``|dy_i/dt| / max(|y_i|, floor)`` is below ``tol_per_h``
    (1/h), where ``floor = 1e-6 x`` the largest state value. If that does not happen within
    ``max_h`` hours a :class:`PreequilibrationError` is raised.
    """

    enabled: bool = True
    tol_per_h: float = 1e-6
    max_h: float = 1e5
    first_window_h: float = 10.0


@dataclass
class Trajectory:
    """Output of :func:`simulate`.

    Attributes
    ----------
    times_h
        Output times in hours after treatment start.
    names
        Names of the columns of ``values`` (state variables, then assignment-rule variables).
    values
        Array (n_times, n_names): species as concentrations in nM (amount / compartment size);
        rule variables in their own units.
    """

    times_h: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"no variable {name!r} in trajectory") from None

    def to_dataframe(self) -> pd.DataFrame:
        """Wide table: ``time_h`` then one column per variable."""
        df = pd.DataFrame(self.values, columns=list(self.names))
        df.insert(0, "time_h", self.times_h)
        return df

    def final(self) -> dict[str, float]:
        """Values at the last output time."""
        return dict(zip(self.names, self.values[-1].tolist()))


# ============================================================================ integrators
class _ScipyIntegrator:
    def __init__(self, cm: CompiledModel, opts: SolverOptions) -> None:
        self.cm, self.opts = cm, opts

    def integrate(self, y0: np.ndarray, p: np.ndarray, times: np.ndarray,
                  stop: tuple[int, float] | None = None) -> np.ndarray:
        """States at ``times`` (times[0] is the start; y0 is the state there).

        ``stop = (marker_index, threshold)`` freezes the state once the marker is clearly past
        the threshold (see :class:`CompiledModel` ``rhs_stop``).
        """
        o = self.opts
        if len(times) < 2:
            return y0[None, :].copy()
        if stop is None:
            rhs, jac, args = self.cm.rhs, self.cm.jac, (p,)
        else:
            rhs, jac, args = self.cm.rhs_stop, self.cm.jac_stop, (p, int(stop[0]),
                                                                 float(stop[1]))
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

        sol = solve_ivp(
            lambda t, y: rhs(t, y, *args), (times[0], times[-1]), y0, method=o.method,
            t_eval=times, jac=lambda t, y: jac(t, y, *args), rtol=o.rtol, atol=o.atol,
        )
        if not sol.success:
            raise SimulationError(f"{o.method} failed near t = {sol.t[-1]:.4g} h: {sol.message}")
        return sol.y.T


class _RoadRunnerIntegrator:
    """libRoadRunner with the model exported to SBML once; state and parameters set per call."""

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

    def integrate(self, y0: np.ndarray, p: np.ndarray, times: np.ndarray,
                  stop: tuple[int, float] | None = None) -> np.ndarray:
        """States at ``times``; ``stop`` is ignored (libRoadRunner integrates to the end)."""
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


_INTEGRATORS: dict[tuple[str, SolverOptions], object] = {}


def integrator_for(cm: CompiledModel, opts: SolverOptions):
    """A cached integrator for this model structure and these solver options.

    Integrators hold no parameter values or state between calls (both are passed to
    ``integrate``), so one serves every cell, context and dose of a model structure.
    """
    key = (cm.model.structure_hash(), opts)
    if key not in _INTEGRATORS:
        _INTEGRATORS[key] = make_integrator(cm, opts)
    return _INTEGRATORS[key]


def make_integrator(cm: CompiledModel, opts: SolverOptions):
    """A new integrator for ``opts.engine``."""
    if opts.engine == "scipy":
        return _ScipyIntegrator(cm, opts)
    if opts.engine == "roadrunner":
        return _RoadRunnerIntegrator(cm, opts)
    raise ValueError(f"unknown engine {opts.engine!r} (expected 'scipy' or 'roadrunner')")


# ============================================================================ helpers
def untreated_parameters(model: Model) -> dict[str, float]:
    """Parameter overrides that set every drug input to 0 nM."""
    return {k: 0.0 for k in model.drug_inputs}


def resolve_doses(model: Model, doses_nM: Mapping[str, float] | None) -> dict[str, float]:
    """Map drug names (catalogue id, alias or model symbol) to model parameters (nM)."""
    from apopsim.library import catalogue

    out: dict[str, float] = {}
    cat = catalogue()
    for name, value in (doses_nM or {}).items():
        drug = cat.get(name)
        symbol = drug.symbol if drug else name
        if symbol not in model.parameters:
            raise ModelError(
                f"model {model.name!r} has no input for drug {name!r}; its drug inputs are: "
                f"{', '.join(model.drug_inputs) or 'none'}"
            )
        if value < 0:
            raise ModelError(f"dose of {name!r} is negative ({value} nM)")
        out[symbol] = float(value)
    return out


def relative_rate(cm: CompiledModel, y: np.ndarray, p: np.ndarray) -> float:
    """Largest ``|dy_i/dt| / max(|y_i|, floor)`` (1/h), ``floor = 1e-6 x max|y|``."""
    if not y.size:
        return 0.0
    dy = np.asarray(cm.rhs(0.0, y, p))
    floor = max(1e-6 * float(np.max(np.abs(y))), 1e-12)
    return float(np.max(np.abs(dy) / np.maximum(np.abs(y), floor)))


_LAWS: dict[str, np.ndarray] = {}


def conservation_laws(model: Model) -> np.ndarray:
    """Rows spanning the left null space of the stoichiometry (conserved totals), (k, n).

    Cached per model structure.
    """
    key = model.structure_hash()
    if key not in _LAWS:
        _LAWS[key] = _conservation_laws(model)
    return _LAWS[key]


def _conservation_laws(model: Model) -> np.ndarray:
    n = model.stoichiometry
    if not n.size:
        return np.zeros((0, len(model.state)))
    rr = [i for i, s in enumerate(model.state) if s in model.rate_rules]
    u, sv, _ = np.linalg.svd(n, full_matrices=True)
    rank = int(np.sum(sv > 1e-10 * (sv.max() if sv.size else 1.0)))
    laws = u[:, rank:].T
    if rr:  # rate-rule variables are not governed by the stoichiometry
        laws = laws[np.all(np.abs(laws[:, rr]) < 1e-12, axis=1)] if laws.size else laws
    return laws


def newton_polish(cm: CompiledModel, y: np.ndarray, p: np.ndarray, tol_per_h: float,
                  laws: np.ndarray | None = None, max_iter: int = 30) -> np.ndarray | None:
    """Solve ``dy/dt = 0`` by Newton's method from a near-steady ``y`` (exact Jacobian).

    Conserved totals (``laws @ y``) are held fixed. Returns the polished state, or None (then
    keep integrating) unless Newton converges to a non-negative, *stable* steady state (no
    Jacobian eigenvalue with a positive real part) where every variable stays within 5 % of its
    integrated value (plus 1e-4 of the largest): so it can only finish the approach to the state
    the trajectory is heading for, never jump to another branch of a bistable switch.
    """
    laws = conservation_laws(cm.model) if laws is None else laws
    x = np.array(y, dtype=float)
    scale = max(float(np.max(np.abs(y))), 1e-12)
    allowed = 0.05 * np.abs(y) + 1e-4 * scale
    for _ in range(max_iter):
        f = np.asarray(cm.rhs(0.0, x, p))
        a = np.vstack([np.asarray(cm.jac(0.0, x, p)), laws])
        b = np.concatenate([-f, np.zeros(len(laws))])
        step = np.linalg.lstsq(a, b, rcond=None)[0]
        x = x + step
        if not np.all(np.isfinite(x)) or np.any(np.abs(x - y) > allowed):
            return None
        if np.max(np.abs(step)) <= 1e-13 * scale or relative_rate(cm, x, p) < 0.01 * tol_per_h:
            break
    if np.min(x) < -1e-9 * scale or relative_rate(cm, x, p) >= tol_per_h:
        return None
    eig = np.linalg.eigvals(np.asarray(cm.jac(0.0, x, p)))
    if eig.size and np.max(eig.real) > 1e-9 * max(np.max(np.abs(eig)), 1.0):
        return None
    return np.maximum(x, 0.0)


def preequilibrate(
    cm: CompiledModel,
    solver: SolverOptions,
    y0: np.ndarray,
    p: np.ndarray,
    opts: PreequilibrationOptions = PreequilibrationOptions(),
) -> tuple[np.ndarray, float]:
    """Bring a cell to steady state with parameters ``p``; return (state, hours simulated).

    The model is integrated over doubling windows (tolerances tightened to rtol <= 1e-8,
    atol <= 1e-10 nM; a window LSODA cannot finish is redone with BDF). Once the largest relative
    rate of change is below 1e-2 /h, each window ends with a Newton polish of the steady state
    (exact Jacobian, conserved totals held), accepted only if it stays non-negative and within
    5 % of the integrated state. Success when the relative rate is below ``opts.tol_per_h``.
    """
    if not cm.autonomous:
        raise PreequilibrationError(
            f"model {cm.model.name!r} depends on time explicitly, so it has no untreated steady "
            "state; disable pre-equilibration"
        )
    tight = replace(solver, rtol=min(solver.rtol, 1e-8), atol=min(solver.atol, 1e-10))
    integrator = integrator_for(cm, tight)
    laws = conservation_laws(cm.model)
    y = np.array(y0, dtype=float)
    t, window = 0.0, opts.first_window_h
    rate = np.inf
    while t < opts.max_h:
        grid = np.linspace(0.0, window, 11)
        try:
            y = integrator.integrate(y, p, grid)[-1]
        except SimulationError:
            try:
                y = integrator_for(cm, replace(tight, engine="scipy", method="BDF")).integrate(
                    y, p, grid)[-1]
            except SimulationError as exc:
                raise PreequilibrationError(
                    f"model {cm.model.name!r}: pre-equilibration failed after {t:g} h: {exc}"
                ) from exc
        t += window
        rate = relative_rate(cm, y, p)
        if rate < opts.tol_per_h:
            return y, t
        if rate < 1e-2:
            polished = newton_polish(cm, y, p, opts.tol_per_h, laws)
            if polished is not None:
                return polished, t
        window = min(window * 2, opts.max_h - t)
    raise PreequilibrationError(
        f"model {cm.model.name!r} did not reach steady state within {opts.max_h:g} h "
        f"(largest relative rate of change {rate:.3g} /h > {opts.tol_per_h:g} /h); "
        "check for unbounded growth or oscillation, or disable pre-equilibration"
    )


def _schedule_segments(
    base: dict[str, float], schedule: Schedule | None, t_end: float
) -> list[tuple[float, float, dict[str, float]]]:
    """Split [0, t_end] at event times into (start, end, parameter values) segments."""
    events: dict[float, dict[str, float]] = {}
    for t, change in schedule or ():
        if t < 0:
            raise ValueError(f"schedule event at negative time {t} h")
        events.setdefault(float(t), {}).update(change)
    values = dict(base)
    values.update(events.pop(0.0, {}))
    segments = []
    start = 0.0
    for t in sorted(events):
        if t >= t_end:
            break
        segments.append((start, t, dict(values)))
        values.update(events[t])
        start = t
    segments.append((start, t_end, dict(values)))
    return segments


# ============================================================================ public API
def simulate(
    model: Model,
    times_h: Iterable[float],
    doses_nM: Mapping[str, float] | None = None,
    schedule: Schedule | None = None,
    *,
    solver: SolverOptions | None = None,
    preequilibration: PreequilibrationOptions | None = None,
    y0: np.ndarray | None = None,
    parameters: Mapping[str, float] | None = None,
    **solver_kwargs,
) -> Trajectory:
    """Simulate one cell.

    Parameters
    ----------
    model
        A loaded model (:func:`apopsim.load_model`).
    times_h
        Output times in hours after treatment start (non-decreasing, >= 0). The run ends at the
        last one.
    doses_nM
        Drug concentrations in nM from ``t = 0`` h, keyed by drug name, alias or model symbol.
    schedule
        Extra changes ``(time_h, {drug_or_parameter: value})`` during the run; drug values in nM.
        A drug named in the schedule but not in ``doses_nM`` starts at 0 nM.
    solver
        :class:`SolverOptions`; or pass ``engine=``, ``method=``, ``rtol=``, ``atol=`` directly.
    preequilibration
        :class:`PreequilibrationOptions` (default: enabled). The untreated steady state is
        computed with every drug input at 0 nM.
    y0
        Initial state (amounts) to start from, instead of the model's initial values.
    parameters
        Parameter overrides (model units) applied for pre-equilibration and treatment.

    Returns
    -------
    Trajectory
        Concentrations in nM at ``times_h``.
    """
    solver = solver or SolverOptions(**solver_kwargs)
    pre = preequilibration or PreequilibrationOptions()
    times = np.asarray(list(times_h), dtype=float)
    if times.size == 0 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("times_h must be a non-empty, non-decreasing list of hours >= 0")
    cm = compile_model(model)
    integrator = integrator_for(cm, solver)
    base = {**dict(parameters or {}), **untreated_parameters(model)}
    y = np.array(model.initial if y0 is None else y0, dtype=float)
    pre_h = 0.0
    if pre.enabled:
        y, pre_h = preequilibrate(cm, solver, y, cm.param_vector(base), pre)
    treated = {**dict(parameters or {}), **resolve_doses(model, doses_nM)}
    sched = [(t, resolve_doses(model, c)) for t, c in schedule or ()]
    return integrate_segments(cm, integrator, y, {**base, **treated}, sched, times,
                              meta={"preequilibration_h": pre_h})


def integrate_segments(
    cm: CompiledModel,
    integrator,
    y: np.ndarray,
    values: dict[str, float],
    schedule: Schedule,
    times: np.ndarray,
    meta: dict | None = None,
    *,
    watch: tuple[str, float] | None = None,
    freeze: bool = False,
    refine_points: int = 65,
) -> Trajectory:
    """Integrate from ``t = 0`` through schedule segments, recording ``times`` (hours).

    Parameters
    ----------
    watch
        ``(variable, threshold)``: find when ``variable`` first exceeds ``threshold``. The
        crossing is located between output times by re-integrating that interval on a fine grid
        (``refine_points``), so its accuracy does not depend on the output spacing;
        ``meta["crossing_h"]`` holds it (``inf`` if never).
    freeze
        With ``watch``: freeze the cell once its fate is decided (the freeze completes at 1.2 x
        threshold; the crossing itself is integrated normally): from then on its values stay as
        they were, the solver steps over the rest of the run at almost no cost, and later
        schedule segments are skipped.
    """
    model = cm.model
    n_state = len(model.state)
    t_end = float(times[-1])
    rows = np.empty((len(times), n_state))
    obs = {k: np.empty(len(times)) for k in model.assignment_rules}
    stop = idx = None
    if watch is not None:
        idx = cm.marker_index(watch[0])
        if freeze and watch[1] > 0:
            scale = _conc(cm, np.ones((1, n_state)), cm.param_vector(values))[0, idx] \
                if idx < n_state else 1.0
            stop = (idx, watch[1] / scale)
    crossing = np.inf
    done = 0  # rows filled so far
    for start, end, vals in _schedule_segments(values, schedule, t_end):
        p = cm.param_vector(vals)
        last = end >= t_end
        sel = np.nonzero((times >= start) & ((times <= end) if last else (times < end)))[0]
        grid = np.unique(np.concatenate([[start], times[sel], [end]]))
        ys = integrator.integrate(y, p, grid, stop)
        pos = np.searchsorted(grid, times[sel])
        rows[sel] = ys[pos]
        if len(sel):
            for k, v in cm.observe(times[sel], ys[pos], p).items():
                obs[k][sel] = v
            done = int(sel[-1]) + 1
        if watch is not None and len(sel) and not np.isfinite(crossing):
            marker = _watched(cm, idx, rows[sel], p, {k: v[sel] for k, v in obs.items()})
            above = np.nonzero(marker > watch[1])[0]
            if above.size:
                k = int(sel[above[0]])
                crossing = _refine_crossing(cm, integrator, times, k, rows, start, y, p, idx,
                                            watch[1], refine_points)
                if stop is not None:
                    break
        y = ys[-1]
    if stop is not None and np.isfinite(crossing) and done < len(times):
        rows[done:] = rows[done - 1]
        for k in obs:
            obs[k][done:] = obs[k][done - 1]
    p_last = cm.param_vector(values)
    conc = _conc(cm, rows, p_last)
    names = model.state + tuple(obs)
    values_arr = np.column_stack([conc] + [obs[k] for k in obs]) if obs else conc
    return Trajectory(times, names, values_arr,
                      dict(meta or {}, final_state=y, crossing_h=crossing))


def _watched(cm: CompiledModel, idx: int, amounts: np.ndarray, p: np.ndarray,
             rules: dict[str, np.ndarray]) -> np.ndarray:
    """Values of the watched variable ``idx`` (:meth:`CompiledModel.marker_index`):
    concentration for a species, else the rule's values from ``rules`` (as ``observe`` gives)."""
    n_state = len(cm.model.state)
    if idx < n_state:
        return _conc(cm, amounts, p)[:, idx]
    return rules[list(cm.model.assignment_rules)[idx - n_state]]


def _refine_crossing(cm, integrator, times, k, rows, seg_start, seg_y0, p, idx, threshold,
                     n_points) -> float:
    """Time (h) at which the watched variable crosses ``threshold`` between outputs k-1 and k."""
    if k == 0:
        return float(times[0])
    t0, y0 = float(times[k - 1]), rows[k - 1]
    if t0 < seg_start:  # the previous output lies in an earlier schedule segment
        t0, y0 = seg_start, seg_y0
    fine = np.linspace(t0, float(times[k]), n_points)
    ys = integrator.integrate(y0, p, fine)
    rules = cm.observe(fine, ys, p) if idx >= len(cm.model.state) else {}
    v = _watched(cm, idx, ys, p, rules)
    above = np.nonzero(v > threshold)[0]
    if not above.size:  # the solver's path differs slightly: fall back to the output grid
        return float(times[k])
    j = int(above[0])
    if j == 0:
        return float(fine[0])
    return float(fine[j - 1] + (threshold - v[j - 1]) * (fine[j] - fine[j - 1])
                 / (v[j] - v[j - 1]))


def _conc(cm: CompiledModel, amounts: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Amounts -> concentrations (divide by compartment size) for species."""
    model = cm.model
    vols = np.ones(len(model.state))
    for i, s in enumerate(model.state):
        comp = model.species_compartment.get(s)
        if comp is not None and s not in model.only_substance:
            vols[i] = p[cm.param_names.index(comp)]
    return amounts / vols
