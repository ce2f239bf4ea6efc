"""SBML events: a reference integrator for models with events (and models without any ODE state).

A model loaded with ``load_sbml_text(..., allow_events=True)`` keeps its events in
``Model.events``; :func:`simulate_sbml` integrates it from ``t = 0`` (no pre-equilibration, no
drugs): between events with scipy's LSODA, stepping one solver step at a time; after each step
every trigger is evaluated, and a trigger that changed is located on the step's dense output by
bisection (to 1e-12 of the step; the event time is taken on the side where the trigger has
changed), so no event is stepped over. Supported: triggers of any logical form, persistent or
not, ``initialValue`` (an event whose trigger is true at ``t = 0`` but whose initial value is
false fires at ``t = 0``), cascades (assignments that make other triggers true fire them at the
same time, in document order), and assignments to species, parameters, compartments and
rate-rule variables, all evaluated from the state before the event. Refused at load: delays,
priorities (with more than one event) and ``useValuesFromTriggerTime`` without delay is
irrelevant.

Units are those of the engine: hours and nM (the model was converted at load).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.integrate import LSODA

from apopsim.errors import SimulationError
from apopsim.model import Model, SbmlEvent

__all__ = ["SbmlEvent", "simulate_sbml"]


def _compile(model: Model):
    """Numeric functions of ``(t, y, p)``: right-hand side, rules, triggers, assignments."""
    from apopsim.engine.compiler import derivatives

    param_names = tuple(model.parameters) + tuple(model.boundary_species)
    y, p, dy, full = derivatives(model, param_names)
    args = (sp.Symbol("t", real=True), list(y), list(p))

    def fn(exprs: list[sp.Basic]):
        return sp.lambdify(args, exprs, modules=["numpy", "math"])

    rhs = fn(list(dy)) if y else None
    rules = list(model.assignment_rules)
    obs = fn([full[sp.Symbol(k)] for k in rules]) if rules else None
    triggers = [fn([sp.Piecewise((1.0, ev.trigger.xreplace(full)), (0.0, True))])
                for ev in model.events]
    assigns = [[(k, fn([e.xreplace(full)])) for k, e in ev.assignments.items()]
               for ev in model.events]
    priorities = [None if ev.priority is None else fn([ev.priority.xreplace(full)])
                  for ev in model.events]
    return param_names, rhs, rules, obs, triggers, assigns, priorities


def simulate_sbml(model: Model, times_h: np.ndarray, *, rtol: float = 1e-10,
                  atol: float = 1e-14) -> dict[str, np.ndarray]:
    """Integrate ``model`` with its SBML events from ``t = 0``; values at ``times_h`` (h,
    non-decreasing, >= 0).

    Returns ``name -> values``: state variables (species as concentrations, nM), assignment-rule
    variables, parameters, compartments and boundary species (which events may change). Values
    at an event's time are those after it."""
    times = np.asarray(times_h, dtype=float)
    names, rhs, rules, obs, triggers, assigns, priorities = _compile(model)
    pvec = np.array([{**model.parameters, **model.boundary_species}[k] for k in names],
                    dtype=float)
    n = len(model.state)
    index = {s: i for i, s in enumerate(model.state)}
    pindex = {k: i for i, k in enumerate(names)}
    n_ev = len(triggers)

    def trig(i: int, t: float, yy: np.ndarray) -> bool:
        return bool(float(triggers[i](t, yy, pvec)[0]) > 0.5)

    def changed(t: float, yy: np.ndarray, state: list[bool]) -> bool:
        return any(trig(i, t, yy) != state[i] for i in range(n_ev))

    def fire_all(t: float, yy: np.ndarray, state: list[bool]) -> np.ndarray:
        """Execute every event whose trigger went from false to true, one at a time (highest
        priority first; without priorities in document order), re-evaluating the triggers after
        each (cascades; a non-persistent event whose trigger turned false is dropped)."""
        pending: list[int] = []
        early: dict[int, list[tuple[str, float]]] = {}  # values taken at trigger time

        def evaluate(i: int, yy: np.ndarray) -> list[tuple[str, float]]:
            return [(k, float(f(t, yy, pvec)[0])) for k, f in assigns[i]]

        for _ in range(10_000):
            now = [trig(i, t, yy) for i in range(n_ev)]
            for i, v in enumerate(now):
                if not v:
                    state[i] = False
                elif not state[i]:
                    state[i] = True
                    pending.append(i)
                    if model.events[i].values_at_trigger:
                        early[i] = evaluate(i, yy)
            pending = [i for i in pending if now[i] or model.events[i].persistent]
            if not pending:
                return yy
            i = _next_event(pending, t, yy)
            pending.remove(i)
            values = early.pop(i) if i in early else evaluate(i, yy)
            yy = np.array(yy, dtype=float)
            old = pvec.copy()
            for k, v in values:  # species: a concentration times the size before the event
                if k in index:
                    comp = model.species_compartment.get(k)
                    vol = 1.0 if comp is None or k in model.only_substance else \
                        old[pindex[comp]]
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

    def _next_event(pending: list[int], t: float, yy: np.ndarray) -> int:
        with_p = [i for i in pending if priorities[i] is not None]
        if not with_p:
            return pending[0]
        if len(with_p) < len(pending) and len(pending) > 1:
            raise SimulationError(f"at t = {t:g} h events with and without priority fire "
                                  "together: their order is undefined")
        values = {i: float(priorities[i](t, yy, pvec)[0]) for i in with_p}
        top = max(values.values())
        best = [i for i in with_p if values[i] == top]
        if len(best) > 1:
            ids = ", ".join(model.events[i].id for i in best)
            raise SimulationError(f"at t = {t:g} h events {ids} fire together with equal "
                                  "priority: their order is random in SBML")
        return best[0]

    state = [ev.initial_value for ev in model.events]
    t = 0.0
    y = fire_all(t, np.array(model.initial, dtype=float), state)
    out_y = np.empty((len(times), n))
    out_p = np.empty((len(times), len(names)))
    t_end = float(times[-1]) if len(times) else 0.0
    k = 0
    while k < len(times) and times[k] <= t:
        out_y[k], out_p[k] = y, pvec
        k += 1
    while k < len(times):
        # one stretch without events: from t until a trigger changes (or the end)
        if n:
            solver = LSODA(lambda tt, yy: np.asarray(rhs(tt, yy, pvec), dtype=float), t, y,
                           t_end, rtol=rtol, atol=atol, first_step=None)
        grid = None if n else np.linspace(t, t_end, 2001)
        g = 1
        while True:
            if n:
                msg = solver.step()
                if solver.status == "failed":
                    raise SimulationError(f"LSODA failed near t = {solver.t:g} h: {msg}")
                t0, t1 = solver.t_old, solver.t
                dense = solver.dense_output()

                def at(tt: float, dense=dense) -> np.ndarray:
                    return np.asarray(dense(tt), dtype=float)
            else:
                t0, t1 = float(grid[g - 1]), float(grid[min(g, len(grid) - 1)])
                g += 1

                def at(tt: float, y0=y) -> np.ndarray:
                    return y0
            hit = n_ev and changed(t1, at(t1), state)
            t_hit = t1
            if hit:  # locate the change: the first time at which a trigger differs
                lo, hi = t0, t1
                inside = times[(times > lo) & (times <= hi)]
                for tk in inside:  # an output time exactly at the event
                    if changed(float(tk), at(float(tk)), state):
                        hi = float(tk)
                        break
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
            if hit:
                y = fire_all(t, y, state)
            while k < len(times) and times[k] <= t:
                out_y[k], out_p[k] = y, pvec
                k += 1
            if hit or t >= t_end or k >= len(times):
                break
    result: dict[str, np.ndarray] = {}
    for i, s in enumerate(model.state):
        comp = model.species_compartment.get(s)
        vol = 1.0 if comp is None or s in model.only_substance else out_p[:, pindex[comp]]
        result[s] = out_y[:, i] / vol
    for j, name in enumerate(names):
        result[name] = out_p[:, j].copy()
    if rules:
        vals = [obs(tt, out_y[m], out_p[m]) for m, tt in enumerate(times)]
        for r, name in enumerate(rules):
            result[name] = np.array([float(v[r]) for v in vals])
    return result
