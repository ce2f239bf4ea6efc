"""Run a tissue-level Antimony model (``models/tissue/*.ant``: cancer-stem-cell and
tumour-immune layers) under constant inputs, in days.

The model is data; this module loads it (no drug catalogue: tissue inputs such as occupancies
are plain parameters), compiles it with the engine and integrates it with scipy (BDF with the
exact Jacobian). Schedules are given as ``(day, {parameter: value})`` changes; the solver never
steps over one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np


def tissue_model_path(name: str | Path) -> Path:
    """Path of a tissue model: a file path, or a name in ``models/tissue/`` (``.ant`` added)."""
    p = Path(name)
    if p.is_file():
        return p
    from apopsim.library import models_dir

    q = models_dir() / "tissue" / (p.name if p.suffix else f"{p.name}.ant")
    if not q.is_file():
        raise ValueError(f"no tissue model {str(name)!r} (looked in {q.parent})")
    return q


def run_tissue_model(
    name: str | Path,
    times_days: Sequence[float],
    parameters: Mapping[str, float] | None = None,
    schedule: Sequence[tuple[float, Mapping[str, float]]] = (),
    initial: Mapping[str, float] | None = None,
    inputs: Mapping[str, Callable[[float], float]] | None = None,
    max_step_days: float = np.inf,
):
    """Simulate a tissue model; returns a DataFrame indexed by ``day`` with every state and
    assignment rule (the model's units).

    ``parameters`` are set from day 0; ``schedule`` changes parameters at later days (e.g. a
    chemotherapy period); ``initial`` overrides initial state values. ``inputs`` are
    time-varying parameters: name -> function of the day (e.g. a drug's free concentration or
    occupancy from a PK profile, or a kill hazard in 1/day), evaluated at every solver step
    (they override ``parameters`` and ``schedule`` for that name); give ``max_step_days`` below
    the inputs' fastest change (e.g. 0.05 day for daily oral dosing).
    """
    import pandas as pd
    from scipy.integrate import solve_ivp

    from apopsim.tissue.xenograft import _compiled

    p = tissue_model_path(name).resolve()
    model, cm = _compiled(str(p), p.stat().st_mtime)
    t = np.asarray(times_days, dtype=float)
    if t.size < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("times_days must be increasing (>= 2 values)")
    known = set(cm.param_names)
    for k in {*(parameters or {}), *(k for _, c in schedule for k in c), *(inputs or {})}:
        if k not in known:
            raise ValueError(f"{p.name}: unknown parameter {k!r}")
    y = np.array(model.initial, dtype=float)
    for k, v in (initial or {}).items():
        y[list(model.state).index(k)] = v
    base = cm.param_vector(dict(parameters or {}))
    changes = sorted(((float(d), dict(c)) for d, c in schedule), key=lambda dc: dc[0])
    bounds = [t[0], *sorted({d for d, _ in changes if t[0] < d < t[-1]}), t[-1]]
    out = np.empty((t.size, y.size))
    rules: dict[str, np.ndarray] = {}
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        q = base.copy()
        for d, c in changes:  # every change made by the start of this segment
            if d <= a:
                for k, v in c.items():
                    q[cm.param_names.index(k)] = v
        sel = (t >= a) & (t <= b)
        te = np.unique(np.r_[t[sel], b])
        qt = _time_varying(q, cm.param_names, inputs or {})
        sol = solve_ivp(lambda tt, yy, qt=qt: cm.rhs(tt, yy, qt(tt)), (a, b), y, t_eval=te,
                        method="BDF", jac=lambda tt, yy, qt=qt: cm.jac(tt, yy, qt(tt)),
                        rtol=1e-7, atol=1e-9, max_step=max_step_days)
        if not sol.success:
            raise RuntimeError(f"{p.name}: {sol.message}")
        ys = sol.y.T[np.isin(te, t[sel])]
        out[sel] = ys
        if inputs:  # rules evaluated point by point with the inputs of that day
            for j, (tj, yj) in zip(np.flatnonzero(sel), zip(t[sel], ys, strict=True),
                                   strict=True):
                for k, v in cm.observe(np.array([tj]), yj[None, :], qt(tj)).items():
                    rules.setdefault(k, np.empty(t.size))[j] = np.asarray(v).ravel()[0]
            for k, f in inputs.items():
                rules.setdefault(k, np.empty(t.size))[sel] = [f(tj) for tj in t[sel]]
        else:
            for k, v in cm.observe(t[sel], ys, q).items():
                rules.setdefault(k, np.empty(t.size))[sel] = v
        y = sol.y[:, -1]
    frame = pd.DataFrame(out, columns=list(model.state))
    for k, v in rules.items():
        frame[k] = v
    frame.index = pd.Index(t, name="day")
    return frame


def _time_varying(q: np.ndarray, names: Sequence[str],
                  inputs: Mapping[str, Callable[[float], float]]) -> Callable[[float], np.ndarray]:
    """``day -> parameter vector``: ``q`` with the ``inputs`` evaluated at that day."""
    if not inputs:
        return lambda _t: q
    idx = [(names.index(k), f) for k, f in inputs.items()]

    def at(tt: float) -> np.ndarray:
        r = q.copy()
        for i, f in idx:
            r[i] = f(tt)
        return r

    return at
