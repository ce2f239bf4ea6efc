"""SBML events: a reference integrator for models with events (and models without any ODE state).

A model loaded with ``load_sbml_text(..., allow_events=True)`` keeps its events in
``Model.events``; :func:`simulate_sbml` integrates it from ``t = 0`` (no pre-equilibration, no
drugs): between events with scipy's LSODA, stepping one solver step at a time; after each step
every trigger is evaluated, and a trigger that changed is located on the step's dense output by
bisection (to 1e-12 of the step; the event time is taken on the side where the trigger has
changed), so no event is stepped over. Supported: triggers of any logical form, persistent or
not, ``initialValue`` (an event whose trigger is true at ``t = 0`` but whose initial value is
false fires at ``t = 0``), cascades (assignments that make other triggers true fire them at the
same time, highest priority first, equal priorities in a seeded random order, without
priorities in document order), ``useValuesFromTriggerTime``, and assignments to species,
parameters, compartments, stoichiometries and rate-rule variables. The same integrator runs
models whose compartment sizes change through rules (species amounts are conserved, their
concentrations are amount / size). Delays: the delay is evaluated when the event triggers
and the execution is queued for ``t + delay`` (integration stops exactly there; assignments
evaluated at trigger time with ``useValuesFromTriggerTime``, else at execution; a
non-persistent event's queued executions are cancelled when its trigger turns false; one event
may have several executions queued). Executions due at the same time (queued ones and those
just triggered) run highest priority first. Refused at load: ``delay()`` in math (delay
differential equations).

The compiled functions are cached on the model's structure (not its values: parameter values
and initial states are read at every call), so a population of cells of one model compiles once.

Units are those of the engine: hours and nM (the model was converted at load).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import sympy as sp
from scipy.integrate import LSODA

from apopsim.errors import SimulationError
from apopsim.model import Model, SbmlEvent

__all__ = ["SbmlEvent", "simulate_sbml"]


_CACHE: OrderedDict = OrderedDict()  # structure key -> compiled functions (most recent last)
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def _structure_key(model: Model) -> tuple:
    """Everything :func:`_compile` reads from ``model``, hashable; values (parameter values,
    initial state) are left out, so models that differ only in them share one compilation."""
    def items(d: dict) -> tuple:
        return tuple(d.items())

    return (model.name, tuple(model.parameters), tuple(model.boundary_species), model.state,
            tuple((r.id, items(r.reactants), items(r.products), r.rate)
                  for r in model.reactions),
            items(model.assignment_rules), items(model.rate_rules),
            items(model.species_compartment), model.only_substance, model.constant_amount,
            model.variable_stoichiometry, model.fast_reactions,
            tuple((ev.id, ev.trigger, ev.initial_value, items(ev.assignments), ev.priority,
                   ev.persistent, ev.values_at_trigger, ev.delay) for ev in model.events))


def _compile(model: Model):
    """:func:`_compile_new`, cached on :func:`_structure_key`."""
    try:
        key = _structure_key(model)
        hash(key)
    except TypeError:  # an unhashable part: compile without the cache
        return _compile_new(model)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    hit = _compile_new(model)
    with _CACHE_LOCK:
        _CACHE[key] = hit
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return hit


def _compile_new(model: Model):
    """Numeric functions of ``(t, y, p)``: right-hand side, rules, triggers, assignments,
    priorities, delays (h), compartment sizes; the fast reactions' functions (or ``None``)."""
    from apopsim.engine.compiler import derivatives

    param_names = tuple(model.parameters) + tuple(model.boundary_species)
    y, p, dy, full = derivatives(model, param_names)
    args = (sp.Symbol("t", real=True), list(y), list(p))

    def fn(exprs: list[sp.Basic]):
        return sp.lambdify(args, exprs, modules=["numpy", "math"])

    rhs = fn(list(dy)) if y else None
    rules = list(model.assignment_rules)
    obs = fn([full[sp.Symbol(k)] for k in rules]) if rules else None
    # triggers: scalar Python math (fast), with a numpy version for domain errors (log(0), ...)
    conds = [ev.trigger.xreplace(full) for ev in model.events]
    triggers = (sp.lambdify(args, conds, modules="math"),
                fn([sp.Piecewise((1.0, c), (0.0, True)) for c in conds])) if conds else None
    assigns = [[(k, fn([e.xreplace(full)])) for k, e in ev.assignments.items()]
               for ev in model.events]
    priorities = [None if ev.priority is None else fn([ev.priority.xreplace(full)])
                  for ev in model.events]
    delays = [None if ev.delay is None else fn([ev.delay.xreplace(full)])
              for ev in model.events]
    comps = sorted(set(model.species_compartment.values()))
    sizes = fn([full.get(sp.Symbol(c), sp.Symbol(c)).xreplace(full) for c in comps]) \
        if comps else None
    fast = _fast_functions(model) if model.fast_reactions else None
    return (param_names, rhs, rules, obs, triggers, assigns, priorities, delays, comps, sizes,
            fast)


def simulate_sbml(model: Model, times_h: np.ndarray, *, rtol: float = 1e-10,
                  atol: float = 1e-14, seed: int = 0,
                  max_events: int = 12_000) -> dict[str, np.ndarray]:
    """Integrate ``model`` with its SBML events from ``t = 0``; values at ``times_h`` (h,
    non-decreasing, >= 0). Events that execute at the same time with equal priority run in a
    random order (as SBML specifies), drawn from a generator seeded with ``seed``: the same
    seed gives the same run. More than ``max_events`` event executions stop the run with a
    :class:`~apopsim.errors.SimulationError`; so does a delay that is negative or not finite.

    Returns ``name -> values``: state variables (species as concentrations, nM), assignment-rule
    variables, parameters, compartments and boundary species (which events may change). Values
    at an event's time are those after it."""
    times = np.asarray(times_h, dtype=float)
    rng = np.random.default_rng(seed)
    executed = [0]  # event executions so far (at most max_events)
    (names, rhs, rules, obs, triggers, assigns, priorities, delays, comps, sizes,
     fast) = _compile(model)
    pvec = np.array([{**model.parameters, **model.boundary_species}[k] for k in names],
                    dtype=float)
    n = len(model.state)
    index = {s: i for i, s in enumerate(model.state)}
    pindex = {k: i for i, k in enumerate(names)}
    n_ev = len(model.events)

    def size_of(comp: str, t: float, yy: np.ndarray, pv: np.ndarray) -> float:
        """Size of compartment ``comp`` (a parameter, a state or an assignment rule)."""
        if comp in pindex:
            return float(pv[pindex[comp]])
        return float(sizes(t, yy, pv)[comps.index(comp)])

    def trigs(t: float, yy: np.ndarray) -> list[bool]:
        """Every trigger's value."""
        if triggers is None:
            return []
        quick, safe = triggers
        try:
            return [bool(v) for v in quick(t, yy, pvec)]
        except (ArithmeticError, ValueError):
            return [float(v) > 0.5 for v in safe(t, yy, pvec)]

    def changed(t: float, yy: np.ndarray, state: list[bool]) -> bool:
        return trigs(t, yy) != state

    def near(t: float) -> float:
        """Times closer than this to ``t`` (h) count as ``t`` (the resolution of root finding)."""
        return 1e-12 * max(1.0, abs(t))

    # delayed executions: [time (h), event, values taken at trigger time or None], in the
    # order they were queued; an event may be queued several times
    queue: list[tuple[float, int, list[tuple[str, float]] | None]] = []

    def fire_all(t: float, yy: np.ndarray, state: list[bool]) -> np.ndarray:
        """Execute every queued execution due at ``t`` and every event whose trigger went from
        false to true (or queue it if it has a delay), one at a time (highest priority first;
        without priorities due ones in the order queued, then document order), re-evaluating
        the triggers after each (cascades; a non-persistent event whose trigger turned false is
        dropped, queued executions included)."""
        nonlocal queue
        # pending executions: (event, values taken at trigger time or None); an event that
        # triggers again before it executed is pending twice
        due = [(i, e) for te, i, e in queue if te <= t + near(t)]
        queue = [q for q in queue if q[0] > t + near(t)]
        pending: list[tuple[int, list[tuple[str, float]] | None]] = due

        def evaluate(i: int, yy: np.ndarray) -> list[tuple[str, float]]:
            return [(k, float(f(t, yy, pvec)[0])) for k, f in assigns[i]]

        for _ in range(10_000):
            now = trigs(t, yy)
            for i, v in enumerate(now):
                if not v:
                    state[i] = False
                elif not state[i]:
                    state[i] = True
                    early = evaluate(i, yy) if model.events[i].values_at_trigger else None
                    d = 0.0 if delays[i] is None else float(delays[i](t, yy, pvec)[0])
                    if not d >= 0 or not np.isfinite(d):
                        raise SimulationError(f"event {model.events[i].id!r}: delay {d:g} h "
                                              f"at t = {t:g} h (must be finite and >= 0)")
                    te = _snap(t + d)
                    if te > t + near(t):
                        queue.append((te, i, early))
                    else:  # no delay (or one below the resolution of event times)
                        pending.append((i, early))
            pending = [(i, e) for i, e in pending if now[i] or model.events[i].persistent]
            queue = [q for q in queue if now[q[1]] or model.events[q[1]].persistent]
            if not pending:
                return yy
            executed[0] += 1
            if executed[0] > max_events:
                raise SimulationError(f"more than {max_events} event executions by t = {t:g} h: "
                                      "stopped (raise max_events to go on)")
            i, values = pending.pop(_next_event([i for i, _ in pending], t, yy))
            if values is None:
                values = evaluate(i, yy)
            yy = np.array(yy, dtype=float)
            old = pvec.copy()
            old_y = yy.copy()
            for k, v in values:  # species: a concentration times the size before the event
                if k in index:
                    comp = model.species_compartment.get(k)
                    vol = 1.0 if comp is None or k in model.only_substance else \
                        size_of(comp, t, old_y, old)
                    yy[index[k]] = v * vol
            for k, v in values:  # parameters, compartment sizes, boundary species
                if k not in index:
                    pvec[pindex[k]] = v
            for b in model.boundary_species:  # a size change keeps amounts, not concentrations
                comp = model.species_compartment.get(b)
                if comp is None or b in model.only_substance or pvec[pindex[comp]] == \
                        old[pindex[comp]]:
                    continue
                pvec[pindex[b]] = pvec[pindex[b]] * old[pindex[comp]] / pvec[pindex[comp]]
        raise SimulationError(f"SBML events fire without end at t = {t:g} h")

    def _snap(te: float) -> float:
        """``te`` (h), or the output time it is within rounding of (a delay that ends at an
        output time: the values there are those after the execution)."""
        j = int(np.searchsorted(times, te))
        for tk in times[max(j - 1, 0):j + 1]:
            if abs(float(tk) - te) <= near(te):
                return float(tk)
        return te

    def _next_event(pending: list[int], t: float, yy: np.ndarray) -> int:
        """Position in ``pending`` (event indices) of the execution to run next."""
        with_p = [k for k, i in enumerate(pending) if priorities[i] is not None]
        if not with_p:
            return 0
        if len(with_p) < len(pending) and len(pending) > 1:
            raise SimulationError(f"at t = {t:g} h events with and without priority fire "
                                  "together: their order is undefined")
        values = {i: float(priorities[i](t, yy, pvec)[0]) for i in set(pending)}
        top = max(values.values())
        best = [k for k, i in enumerate(pending) if values[i] == top]
        if len(best) > 1:  # SBML: a random choice among equal priorities (seeded)
            return best[int(rng.integers(len(best)))]
        return best[0]

    state = [ev.initial_value for ev in model.events]
    t = 0.0
    y0 = np.array(model.initial, dtype=float)

    def f_rhs(tt: float, yy: np.ndarray) -> np.ndarray:
        d = np.asarray(rhs(tt, yy, pvec), dtype=float)
        if fast is not None and not np.all(np.isfinite(d)):  # the fast fluxes are undefined
            raise SimulationError(f"fast reactions: their equilibrium is singular near "
                                  f"t = {tt:g} h (model {model.name!r}): not supported")
        return d
    if model.fast_reactions:
        y0 = equilibrate_fast(model, y0, pvec, fast)
    y = fire_all(t, y0, state)
    out_y = np.empty((len(times), n))
    out_p = np.empty((len(times), len(names)))
    t_end = float(times[-1]) if len(times) else 0.0
    k = 0
    while k < len(times) and times[k] <= t:
        out_y[k], out_p[k] = y, pvec
        k += 1
    while k < len(times):
        # one stretch without events: from t until a trigger changes, the next queued
        # execution (integration stops exactly there) or the end
        t_stop = min([t_end] + [q[0] for q in queue])
        if n:
            solver = LSODA(f_rhs, t, y, t_stop, rtol=rtol, atol=atol, first_step=None)
        # without ODE state: triggers checked on a grid of (t_end / 2000) h or finer
        grid = None if n else np.linspace(t, t_stop, 1 + max(1, int(np.ceil(
            2000 * (t_stop - t) / max(t_end, 1e-300)))))
        g = 1
        while True:
            if n:
                with np.errstate(all="ignore"):
                    msg = solver.step()
                if solver.status == "failed":
                    raise SimulationError(f"LSODA failed near t = {solver.t:g} h: {msg}")
                t0, t1 = solver.t_old, solver.t
                if fast is not None:
                    check_fast(model, fast, t1, solver.y, pvec)
                dense = solver.dense_output()

                def at(tt: float, dense=dense) -> np.ndarray:
                    return np.asarray(dense(tt), dtype=float)
            else:
                t0, t1 = float(grid[g - 1]), float(grid[min(g, len(grid) - 1)])
                g += 1

                def at(tt: float, y0=y) -> np.ndarray:
                    return y0
            # a trigger may change and change back within one step (a window in time or in
            # a value): it is checked at the output times inside the step and at 3 points
            # between them too, not only at the step's end
            hit = False
            lo = hi = t_hit = t1
            if n_ev:
                inside = times[(times > t0) & (times < t1)]
                probes = sorted({*map(float, inside), *(t0 + (t1 - t0) * np.arange(1, 4) / 4)})
                lo = t0
                for tk in [*(tk for tk in probes if t0 < tk < t1), t1]:
                    if changed(tk, at(tk), state):
                        hit, hi = True, tk
                        break
                    lo = tk
            if hit:  # locate the change: the first time at which a trigger differs
                while hi - lo > 1e-12 * max(1.0, abs(hi)):
                    mid = 0.5 * (lo + hi)
                    if changed(mid, at(mid), state):
                        hi = mid
                    else:
                        lo = mid
                t_hit = hi
            while k < len(times) and times[k] < t_hit:
                out_y[k], out_p[k] = at(float(times[k])), pvec
                k += 1
            y, t = at(t_hit), t_hit
            due = bool(queue) and t >= t_stop - near(t_stop) and t_stop < t_end + near(t_end)
            if hit or due:
                y = fire_all(t, y, state)
            while k < len(times) and times[k] <= t:
                out_y[k], out_p[k] = y, pvec
                k += 1
            if hit or due or t >= t_stop or k >= len(times):
                break
    result: dict[str, np.ndarray] = {}
    for i, s in enumerate(model.state):
        comp = model.species_compartment.get(s)
        vol = 1.0 if comp is None or s in model.only_substance else np.array(
            [size_of(comp, float(tt), out_y[m], out_p[m]) for m, tt in enumerate(times)])
        result[s] = out_y[:, i] / vol
    for j, name in enumerate(names):
        result[name] = out_p[:, j].copy()
    if rules:
        vals = [obs(tt, out_y[m], out_p[m]) for m, tt in enumerate(times)]
        for r, name in enumerate(rules):
            result[name] = np.array([float(v[r]) for v in vals])
    return result


def _fast_functions(model: Model):
    """``(N_f, v_f(t, y, p), dv_f/dy(t, y, p))`` of the model's fast reactions."""
    from apopsim.engine.compiler import _symbols

    names = tuple(model.parameters) + tuple(model.boundary_species)
    y, p, full, _ = _symbols(model, names)
    t = sp.Symbol("t", real=True)
    nf = model.stoichiometry[:, list(model.fast_reactions)]
    vf = sp.Matrix([model.reactions[j].rate.xreplace(full) for j in model.fast_reactions])
    args = (t, list(y), list(p))
    f_v = sp.lambdify(args, list(vf), modules=["numpy", "math"])
    f_j = sp.lambdify(args, vf.jacobian(sp.Matrix(y)), modules=["numpy", "math"])
    return nf, f_v, f_j


def check_fast(model: Model, fast: tuple, t: float, y: np.ndarray, p: np.ndarray) -> None:
    """Raise a :class:`SimulationError` if the fast reactions have left their equilibrium
    (their rates not 0 relative to ``|dv_f/dy|`` times the largest state value): a switch to another
    equilibrium, which the reduced ODE cannot follow."""
    _nf, f_v, f_j = fast
    with np.errstate(all="ignore"):
        v = np.asarray(f_v(t, y, p), dtype=float)
        size = np.abs(np.asarray(f_j(t, y, p), dtype=float)) @ np.full(len(y), np.max(np.abs(y)))
    if not np.all(np.isfinite(v)) or np.any(np.abs(v) > 1e-6 * size + 1e-300):
        raise SimulationError(f"fast reactions left their equilibrium near t = {t:g} h "
                              f"(model {model.name!r}): not supported")


def equilibrate_fast(model: Model, y0: np.ndarray, pvec: np.ndarray,
                     fns: tuple | None = None) -> np.ndarray:
    """The state at ``t = 0`` with the fast reactions in equilibrium (their rates 0): the fast
    subsystem ``dy/dt = N_f v_f(y)`` relaxed to its steady state (which keeps its conserved
    sums and picks the root that its dynamics reaches), then refined by Newton's method on
    the extents ``xi`` of ``v_f(y0 + N_f xi) = 0``. ``fns``: :func:`_fast_functions` of
    ``model`` if already made."""
    from scipy.integrate import solve_ivp

    nf, f_v, f_j = fns or _fast_functions(model)

    def v(yy: np.ndarray) -> np.ndarray:
        return np.asarray(f_v(0.0, yy, pvec), dtype=float)

    scale = max(float(np.max(np.abs(y0))), 1e-300)
    yy = np.array(y0, dtype=float)
    if np.max(np.abs(v(yy))) > 0:
        sol = solve_ivp(lambda _t, x: nf @ v(x), (0.0, 1e8), yy, method="LSODA", rtol=1e-10,
                        atol=1e-14 * scale)
        if not sol.success:
            raise SimulationError(f"fast reactions: no equilibrium found ({sol.message})")
        xi = np.linalg.lstsq(nf, sol.y[:, -1] - y0, rcond=None)[0]
        for _ in range(50):
            yy = y0 + nf @ xi
            r = v(yy)
            jac = np.asarray(f_j(0.0, yy, pvec), dtype=float) @ nf
            try:
                step = np.linalg.solve(jac, r)
            except np.linalg.LinAlgError:
                raise SimulationError("fast reactions: their equilibrium at t = 0 is "
                                      "singular") from None
            xi = xi - step
            if np.max(np.abs(step)) <= 1e-15 * scale:  # converged to rounding
                break
        else:
            raise SimulationError("fast reactions: Newton's method did not converge to their "
                                  "equilibrium at t = 0")
        yy = y0 + nf @ xi
    return yy
