"""Treatment: integrate through schedule segments, record outputs, locate threshold events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from apopsim.engine.backends import Backend
from apopsim.engine.compiler import CompiledModel
from apopsim.engine.options import ThresholdEvent
from apopsim.engine.trajectory import Trajectory

#: A schedule: ``(time_h, {parameter: value})`` changes applied at ``time_h`` (h after treatment).
Schedule = Sequence[tuple[float, Mapping[str, float]]]


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


def integrate_segments(
    cm: CompiledModel,
    integrator: Backend,
    y: np.ndarray,
    values: dict[str, float],
    schedule: Schedule,
    times: np.ndarray,
    meta: dict | None = None,
    *,
    event: ThresholdEvent | None = None,
    refine_points: int = 65,
) -> Trajectory:
    """Integrate from ``t = 0`` through schedule segments, recording ``times`` (hours).

    Parameters
    ----------
    cm, integrator
        The compiled model and a back end (:func:`~apopsim.engine.integrator_for`).
    y
        State (amounts) at ``t = 0``.
    values
        Parameter values (model units; drug inputs in nM) from ``t = 0``.
    schedule
        ``(time_h, {parameter: value})`` changes; the solver never steps over one.
    times
        Output times (h), non-decreasing, the last one ends the run.
    event
        A :class:`ThresholdEvent`: the time its variable first crosses its threshold is located
        between output times by re-integrating that interval on a fine grid
        (``refine_points``), so its accuracy does not depend on the output spacing;
        ``meta["crossing_h"]`` holds it (``inf`` if never). What happens next is the event's
        ``after``: continue, freeze (the compiled right-hand side switches off, values held) or
        stop (values held at the crossing).
    """
    model = cm.model
    n_state = len(model.state)
    t_end = float(times[-1])
    rows = np.empty((len(times), n_state))
    obs = {k: np.empty(len(times)) for k in model.assignment_rules}
    freeze = idx = None
    holds = event is not None and (event.after == "stop" or event.freezes)
    if event is not None:
        idx = cm.marker_index(event.variable)
        if event.freezes and integrator.supports_freeze:
            # the generated code watches amounts (species) or rule values: scale the band
            scale = _conc(cm, np.ones((1, n_state)), cm.param_vector(values))[0, idx] \
                if idx < n_state else 1.0
            level = event.threshold / scale
            freeze = (idx, event.freeze_band[0] * level, event.freeze_band[1] * level)
    crossing = np.inf
    done = 0  # rows filled so far
    for start, end, vals in _schedule_segments(values, schedule, t_end):
        p = cm.param_vector(vals)
        last = end >= t_end
        sel = np.nonzero((times >= start) & ((times <= end) if last else (times < end)))[0]
        grid = np.unique(np.concatenate([[start], times[sel], [end]]))
        ys = integrator.integrate(y, p, grid, freeze)
        pos = np.searchsorted(grid, times[sel])
        rows[sel] = ys[pos]
        if len(sel):
            for k, v in cm.observe(times[sel], ys[pos], p).items():
                obs[k][sel] = v
            done = int(sel[-1]) + 1
        if event is not None and len(sel) and not np.isfinite(crossing):
            marker = _watched(cm, idx, rows[sel], p, {k: v[sel] for k, v in obs.items()})
            past = np.nonzero(event.crossed(marker))[0]
            if past.size:
                k = int(sel[past[0]])
                crossing, y_cross = _refine_crossing(cm, integrator, times, k, rows, start, y,
                                                     p, idx, event, refine_points)
                if event.after == "stop":
                    rows[k:] = y_cross
                    for name, v in cm.observe(times[k:], rows[k:], p).items():
                        obs[name][k:] = v
                    done = len(times)
                if holds:
                    break
        y = ys[-1]
    if holds and np.isfinite(crossing) and done < len(times):
        rows[done:] = rows[done - 1]
        for k in obs:
            obs[k][done:] = obs[k][done - 1]
    p_last = cm.param_vector(values)
    conc = _conc(cm, rows, p_last)
    names = model.state + tuple(obs)
    values_arr = np.column_stack([conc] + [obs[k] for k in obs]) if obs else conc
    return Trajectory(times, names, values_arr,
                      dict(meta or {}, final_state=y, crossing_h=crossing))


def watched_values(cm: CompiledModel, idx: int, amounts: np.ndarray, p: np.ndarray
                   ) -> np.ndarray:
    """Values of variable ``idx`` (:meth:`CompiledModel.marker_index`) for states ``amounts``
    (n_times, n_state) with parameters ``p``: a species' concentration or a rule's value."""
    rules = cm.observe(np.zeros(len(amounts)), amounts, p) if idx >= len(cm.model.state) else {}
    return _watched(cm, idx, amounts, p, rules)


def _watched(cm: CompiledModel, idx: int, amounts: np.ndarray, p: np.ndarray,
             rules: dict[str, np.ndarray]) -> np.ndarray:
    """Values of the watched variable ``idx`` (:meth:`CompiledModel.marker_index`):
    concentration for a species, else the rule's values from ``rules`` (as ``observe`` gives)."""
    n_state = len(cm.model.state)
    if idx < n_state:
        return _conc(cm, amounts, p)[:, idx]
    return rules[list(cm.model.assignment_rules)[idx - n_state]]


def _refine_crossing(cm: CompiledModel, integrator: Backend, times: np.ndarray, k: int,
                     rows: np.ndarray, seg_start: float, seg_y0: np.ndarray, p: np.ndarray,
                     idx: int, event: ThresholdEvent, n_points: int
                     ) -> tuple[float, np.ndarray]:
    """Time (h) at which the watched variable crosses the threshold between outputs k-1 and k,
    and the state (amounts) there (linear interpolation on the fine grid)."""
    if k == 0:
        return float(times[0]), rows[0].copy()
    t0, y0 = float(times[k - 1]), rows[k - 1]
    if t0 < seg_start:  # the previous output lies in an earlier schedule segment
        t0, y0 = seg_start, seg_y0
    fine = np.linspace(t0, float(times[k]), n_points)
    ys = integrator.integrate(y0, p, fine)
    rules = cm.observe(fine, ys, p) if idx >= len(cm.model.state) else {}
    v = _watched(cm, idx, ys, p, rules)
    past = np.nonzero(event.crossed(v))[0]
    if not past.size:  # the solver's path differs slightly: fall back to the output grid
        return float(times[k]), rows[k].copy()
    j = int(past[0])
    if j == 0:
        return float(fine[0]), ys[0].copy()
    t = fine[j - 1] + (event.threshold - v[j - 1]) * (fine[j] - fine[j - 1]) / (v[j] - v[j - 1])
    w = (t - fine[j - 1]) / (fine[j] - fine[j - 1])
    return float(t), ys[j - 1] + w * (ys[j] - ys[j - 1])


def _conc(cm: CompiledModel, amounts: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Amounts -> concentrations (divide by compartment size) for species."""
    model = cm.model
    vols = np.ones(len(model.state))
    for i, s in enumerate(model.state):
        comp = model.species_compartment.get(s)
        if comp is not None and s not in model.only_substance:
            vols[i] = p[cm.param_names.index(comp)]
    return amounts / vols
