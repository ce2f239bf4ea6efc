"""The untreated steady state: pre-equilibration by integration, finished by a Newton solve."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from apopsim.engine.backends import integrator_for
from apopsim.engine.compiler import CompiledModel
from apopsim.engine.options import PreequilibrationOptions, SolverOptions
from apopsim.engine.segments import integrate_batch
from apopsim.errors import PreequilibrationError, SimulationError
from apopsim.model import Model


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


#: Solver steps allowed per output interval while pre-equilibrating (a window has 10 intervals):
#: a bound on the work of one window, so a model that cannot settle fails in seconds, not hours.
PREEQ_MAX_STEPS = 20_000


def preequilibrate(
    cm: CompiledModel,
    solver: SolverOptions,
    y0: np.ndarray,
    p: np.ndarray,
    opts: PreequilibrationOptions | None = None,
) -> tuple[np.ndarray, float]:
    """Bring a cell to steady state with parameters ``p``; return (state, hours simulated).

    The model is integrated over doubling windows (tolerances tightened to rtol <= 1e-8,
    atol <= 1e-10 nM; at most :data:`PREEQ_MAX_STEPS` steps per tenth of a window). A window
    the solver cannot finish is redone once with scipy's BDF under the same work bound, never
    over a longer window. Once the largest relative rate of change is below 1e-2 /h, each
    window ends with a Newton polish of the steady state (exact Jacobian, conserved totals
    held), accepted only if it stays non-negative and within 5 % of the integrated state.
    Success when the relative rate is below ``opts.tol_per_h``.

    Fails fast with :class:`~apopsim.errors.PreequilibrationError` when the model oscillates:
    three successive windows in which the fastest-changing variable's derivative changes sign
    at least twice while the largest relative rate does not fall. One cell of
    :func:`preequilibrate_many`.
    """
    ys, hours, errors = preequilibrate_many(cm, solver, np.asarray(y0, dtype=float)[None, :],
                                            np.asarray(p, dtype=float)[None, :], opts)
    if errors[0] is not None:
        raise PreequilibrationError(errors[0])
    return ys[0], float(hours[0])


class _Settling:
    """One cell's progress towards steady state (see :func:`preequilibrate`)."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self.rate = np.inf  # the latest largest relative rate of change (1/h)
        self.oscillating = 0

    def check(self, cm: CompiledModel, ys: np.ndarray, p: np.ndarray, t: float, window: float,
              tol_per_h: float, laws: np.ndarray) -> np.ndarray | None:
        """After a window ending at ``t`` h with outputs ``ys``: the steady state, or None to
        go on. Raises :class:`PreequilibrationError` on an oscillation."""
        y = ys[-1]
        rate = relative_rate(cm, y, p)
        self.rate = rate
        if rate < tol_per_h:
            return y
        if rate < 1e-2:
            polished = newton_polish(cm, y, p, tol_per_h, laws)
            if polished is not None:
                return polished
        not_falling = len(self.rates) >= 2 and rate > 0.5 * self.rates[-2]
        # the sign changes (11 right-hand sides) matter only while the rate does not fall
        flips, name = _sign_changes(cm, ys, p) if not_falling else (0, "")
        self.oscillating = self.oscillating + 1 if flips >= 2 and not_falling else 0
        if self.oscillating >= 3:
            raise PreequilibrationError(
                f"model {cm.model.name!r} did not settle (oscillation?): after {t:g} h of the "
                f"untreated run, d{name}/dt changed sign {flips} times in the last {window:g} h "
                f"and the largest relative rate of change stays at {rate:.3g} /h; an "
                "oscillating model has no steady state: disable pre-equilibration "
                "(preequilibration: {enabled: false}) or check the untreated model"
            )
        self.rates.append(rate)
        return None


def preequilibrate_many(
    cm: CompiledModel,
    solver: SolverOptions,
    y0s: np.ndarray,
    ps: np.ndarray,
    opts: PreequilibrationOptions | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """:func:`preequilibrate` for many cells at once: cell ``c`` from ``y0s[c]`` (amounts) with
    parameters ``ps[c]``. Every cell goes through the same doubling windows, so each window is
    one :func:`~apopsim.engine.segments.integrate_batch` call over the cells not yet settled (a
    back end with ``integrate_many`` runs them in parallel threads); each cell's result is what
    :func:`preequilibrate` gives it alone. Returns the states (n_cells, n_state), the hours
    simulated per cell and per cell None or the failure message (its state is then NaN).
    """
    opts = opts or PreequilibrationOptions()
    y = np.array(y0s, dtype=float)
    m = len(y)
    hours = np.zeros(m)
    errors: list[str | None] = [None] * m
    if not cm.autonomous:
        msg = (f"model {cm.model.name!r} depends on time explicitly, so it has no untreated "
               "steady state; disable pre-equilibration")
        y[:] = np.nan
        return y, hours, [msg] * m
    tight = replace(solver, rtol=min(solver.rtol, 1e-8), atol=min(solver.atol, 1e-10),
                    max_steps=min(solver.max_steps, PREEQ_MAX_STEPS))
    integrator = integrator_for(cm, tight)
    fallback = integrator_for(cm, replace(tight, engine="scipy", method="BDF"))
    laws = conservation_laws(cm.model)
    cells = [_Settling() for _ in range(m)]
    running = np.ones(m, dtype=bool)
    t, window = 0.0, opts.first_window_h
    while t < opts.max_h and running.any():
        grid = np.linspace(0.0, window, 11)
        active = np.nonzero(running)[0]
        ys_all, errs = integrate_batch(integrator, y[active], ps[active], grid,
                                       [None] * len(active))
        for k, c in enumerate(active):
            ys = ys_all[k]
            if errs[k] is not None:
                try:
                    ys = fallback.integrate(y[c], ps[c], grid)
                except SimulationError as exc:
                    errors[c] = (
                        f"model {cm.model.name!r}: pre-equilibration failed in the window from "
                        f"{t:g} to {t + window:g} h of the untreated run ({exc}); the model may "
                        "oscillate or be too stiff: disable pre-equilibration or check the "
                        "model")
                    running[c] = False
                    continue
            y[c] = ys[-1]
            hours[c] = t + window
            try:
                steady = cells[c].check(cm, ys, ps[c], t + window, window, opts.tol_per_h, laws)
            except PreequilibrationError as exc:
                errors[c], running[c] = str(exc), False
                continue
            if steady is not None:
                y[c], running[c] = steady, False
        t += window
        window = min(window * 2, opts.max_h - t)
    for c in np.nonzero(running)[0]:
        errors[c] = (
            f"model {cm.model.name!r} did not reach steady state within {opts.max_h:g} h "
            f"(largest relative rate of change {cells[c].rate:.3g} /h > {opts.tol_per_h:g} "
            "/h); check for unbounded growth or oscillation, or disable pre-equilibration")
    for c in range(m):
        if errors[c] is not None:
            y[c] = np.nan
    return y, hours, errors


def _sign_changes(cm: CompiledModel, ys: np.ndarray, p: np.ndarray) -> tuple[int, str]:
    """How often the derivative of the fastest-changing variable (at the window's end) changes
    sign over the window's output points, and that variable's name."""
    rhs = np.array([np.asarray(cm.rhs(0.0, y, p)) for y in ys])
    floor = max(1e-6 * float(np.max(np.abs(ys[-1]))), 1e-12)
    k = int(np.argmax(np.abs(rhs[-1]) / np.maximum(np.abs(ys[-1]), floor)))
    signs = np.sign(rhs[:, k])
    signs = signs[signs != 0]
    return int(np.sum(signs[1:] != signs[:-1])), cm.model.state[k]
