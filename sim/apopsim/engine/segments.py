"""Treatment: integrate through schedule segments, record outputs, locate threshold events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from apopsim.engine.backends import Backend
from apopsim.engine.compiler import CompiledModel
from apopsim.engine.options import ThresholdEvent
from apopsim.engine.registry import Freeze
from apopsim.engine.trajectory import Trajectory
from apopsim.errors import SimulationError

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

    Raises :class:`~apopsim.errors.SimulationError` if the solver fails. One cell of
    :func:`integrate_segments_many`.
    """
    res = integrate_segments_many(cm, integrator, np.asarray(y, dtype=float)[None, :], [values],
                                  schedule, times, meta, event=event,
                                  refine_points=refine_points)[0]
    if isinstance(res, str):
        raise SimulationError(res)
    return res


def integrate_batch(integrator: Backend, y0s: np.ndarray, ps: np.ndarray, times: np.ndarray,
                    freezes: Sequence[Freeze | None]
                    ) -> tuple[np.ndarray, list[str | None]]:
    """Integrate cells ``y0s`` (n_cells, n_state; amounts) with parameters ``ps`` over shared
    ``times`` (h): the back end's ``integrate_many`` when it has one (the numba engine: cells
    in parallel threads, one call), else ``integrate`` cell by cell. Returns the states
    (n_cells, len(times), n_state) and per cell None or the failure message (a failed cell's
    rows are NaN)."""
    many = getattr(integrator, "integrate_many", None)
    if many is not None and len(y0s) > 1:
        fr = None if all(f is None for f in freezes) else np.array(freezes, dtype=float)
        return many(y0s, ps, times, fr)
    out = np.full((len(y0s), len(times), y0s.shape[1]), np.nan)
    errors: list[str | None] = [None] * len(y0s)
    for c in range(len(y0s)):
        try:
            out[c] = integrator.integrate(y0s[c], ps[c], times, freezes[c])
        except SimulationError as exc:
            errors[c] = str(exc)
    return out, errors


def integrate_segments_many(
    cm: CompiledModel,
    integrator: Backend,
    y0s: np.ndarray,
    values: Sequence[dict[str, float]],
    schedule: Schedule,
    times: np.ndarray,
    meta: dict | None = None,
    *,
    event: ThresholdEvent | None = None,
    refine_points: int = 65,
) -> list[Trajectory | str]:
    """:func:`integrate_segments` for many cells under one schedule: cell ``c`` starts from
    ``y0s[c]`` (amounts at ``t = 0``) with parameter values ``values[c]``. Each segment is one
    :func:`integrate_batch` call over the cells still running (a cell held after its event, or
    failed, drops out), so a back end with ``integrate_many`` runs the cells in parallel
    threads. Returns per cell its :class:`Trajectory`, or the failure message (str); each cell's
    result is what :func:`integrate_segments` gives it alone.
    """
    model = cm.model
    m, n_state = len(y0s), len(model.state)
    t_end = float(times[-1])
    nt = len(times)
    rows = np.empty((m, nt, n_state))
    obs = [{k: np.empty(nt) for k in model.assignment_rules} for _ in range(m)]
    segs = [_schedule_segments(v, schedule, t_end) for v in values]
    freezes: list[Freeze | None] = [None] * m
    idx = None
    holds = event is not None and (event.after == "stop" or event.freezes)
    if event is not None:
        idx = cm.marker_index(event.variable)
        if event.freezes and integrator.supports_freeze:
            for c in range(m):
                # the generated code watches amounts (species) or rule values: scale the band
                scale = _conc(cm, np.ones((1, n_state)), cm.param_vector(values[c]))[0, idx] \
                    if idx < n_state else 1.0
                level = event.threshold / scale
                freezes[c] = (idx, event.freeze_band[0] * level, event.freeze_band[1] * level)
    crossing = np.full(m, np.inf)
    done = np.zeros(m, dtype=int)  # rows filled so far, per cell
    errors: list[str | None] = [None] * m
    running = np.ones(m, dtype=bool)
    y = np.array(y0s, dtype=float)
    for s, (start, end, _) in enumerate(segs[0] if m else ()):
        cells = np.nonzero(running)[0]
        if not cells.size:
            break
        ps = np.array([cm.param_vector(segs[c][s][2]) for c in cells])
        last = end >= t_end
        sel = np.nonzero((times >= start) & ((times <= end) if last else (times < end)))[0]
        grid = np.unique(np.concatenate([[start], times[sel], [end]]))
        ys_all, errs = integrate_batch(integrator, y[cells], ps, grid,
                                       [freezes[c] for c in cells])
        pos = np.searchsorted(grid, times[sel])
        for k, c in enumerate(cells):
            if errs[k] is not None:
                errors[c], running[c] = errs[k], False
                continue
            ys, p = ys_all[k], ps[k]
            rows[c, sel] = ys[pos]
            if len(sel):
                for name, v in cm.observe(times[sel], ys[pos], p).items():
                    obs[c][name][sel] = v
                done[c] = int(sel[-1]) + 1
            if event is not None and len(sel) and not np.isfinite(crossing[c]):
                marker = _watched(cm, idx, rows[c, sel], p,
                                  {name: v[sel] for name, v in obs[c].items()})
                past = np.nonzero(event.crossed(marker))[0]
                if past.size:
                    j = int(sel[past[0]])
                    try:
                        crossing[c], y_cross = _refine_crossing(
                            cm, integrator, times, j, rows[c], start, y[c], p, idx, event,
                            refine_points)
                    except SimulationError as exc:
                        errors[c], running[c] = str(exc), False
                        continue
                    if event.after == "stop":
                        rows[c, j:] = y_cross
                        for name, v in cm.observe(times[j:], rows[c, j:], p).items():
                            obs[c][name][j:] = v
                        done[c] = nt
                    if holds:
                        running[c] = False
                        continue
            y[c] = ys[-1]
    out: list[Trajectory | str] = []
    for c in range(m):
        if errors[c] is not None:
            out.append(errors[c])
            continue
        if holds and np.isfinite(crossing[c]) and done[c] < nt:
            rows[c, done[c]:] = rows[c, done[c] - 1]
            for v in obs[c].values():
                v[done[c]:] = v[done[c] - 1]
        conc = _conc(cm, rows[c], cm.param_vector(values[c]))
        names = model.state + tuple(obs[c])
        values_arr = np.column_stack([conc] + list(obs[c].values())) if obs[c] else conc
        out.append(Trajectory(times, names, values_arr,
                              dict(meta or {}, final_state=y[c], crossing_h=crossing[c])))
    return out


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
    index = cm.volume_index
    if not (index >= 0).any():
        return amounts
    vols = np.where(index >= 0, p[np.maximum(index, 0)], 1.0)
    return amounts / vols
