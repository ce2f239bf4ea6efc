"""Xenograft tumour growth under treatment (Simeoni et al., Cancer Res 2004;64:1094).

The model is data: ``models/tissue/simeoni_xenograft.ant`` (exponential then linear growth,
a kill term on proliferating cells, three transit compartments of dying cells), read by the
library and turned into a right-hand side vectorised over virtual animals (from the engine's
symbolic derivatives). Its kill hazard ``kill_per_day`` varies in time (driven by PK through the
cell model's kill table), so it is set at each instant while scipy's LSODA integrates all
animals of an arm together (steps no longer than ``max_step_days``).

Units of the tissue layer: time in days, volumes in mm^3; hazards from the cell layer in 1/h
are converted to 1/day (x 24) explicitly.

Readouts: tumour growth inhibition ``TGI % = 100 * (1 - (V_T(end) - V_T(0)) / (V_C(end) -
V_C(0)))`` at the end of dosing (treated T vs vehicle C; medians over animals; > 100 % means
regression), and the time to regrowth: days from the end of dosing until the volume is back at
its value at the start of treatment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

HOURS_PER_DAY = 24.0
#: Parameters of the tumour model that virtual animals may vary.
TUMOUR_PARAMETERS = ("lambda0", "lambda1", "k1", "psi")


def tumour_model_path() -> Path:
    """The built-in Simeoni model file."""
    from apopsim.library import models_dir

    return models_dir() / "tissue" / "simeoni_xenograft.ant"


@lru_cache(maxsize=8)
def _compiled(path: str, mtime: float):
    from apopsim.engine import compile_model
    from apopsim.library import load_model

    model = load_model(path, apply_catalogue=False)
    return model, compile_model(model)


def tumour_model(path: str | Path | None = None):
    """``(Model, CompiledModel)`` of the tumour model (default :func:`tumour_model_path`)."""
    p = Path(path) if path is not None else tumour_model_path()
    return _compiled(str(p.resolve()), p.stat().st_mtime)


def tumour_defaults(path: str | Path | None = None) -> dict[str, float]:
    """The tumour model's parameter values and initial volume (``x1``, mm^3)."""
    model, cm = tumour_model(path)
    p = cm.param_vector()
    out = {k: float(v) for k, v in zip(cm.param_names, p, strict=True)
           if k in TUMOUR_PARAMETERS}
    out["initial_volume_mm3"] = float(model.initial[list(model.state).index("x1")])
    return out


@dataclass(frozen=True)
class TumourCurve:
    """One simulated tumour: ``times_days``, ``volume_mm3`` (x1 + x2 + x3 + x4) and
    ``proliferating_mm3`` (x1)."""

    times_days: np.ndarray
    volume_mm3: np.ndarray
    proliferating_mm3: np.ndarray


@lru_cache(maxsize=8)
def _vectorised(path: str, mtime: float):
    """``f(t, Y, P) -> dY`` of the tumour model over many animals at once (numpy; ``Y``:
    states x animals, ``P``: parameters x animals), from the model's symbolic derivatives."""
    import sympy as sp

    from apopsim.engine.compiler import derivatives

    model, cm = _compiled(path, mtime)
    y, p, dy, _ = derivatives(model, cm.param_names)
    t = sp.Symbol("t", real=True)
    return sp.lambdify((t, list(y), list(p)), dy, modules="numpy")


def simulate_tumours(
    times_days: np.ndarray,
    *,
    initial_volume_mm3: np.ndarray | float | None = None,
    parameters: Mapping[str, np.ndarray | float] | None = None,
    kill_per_day: Callable[[float], float | np.ndarray] | None = None,
    max_step_days: float = 0.05,
    model_path: str | Path | None = None,
) -> list[TumourCurve]:
    """Integrate the tumour model for several animals at once over ``times_days`` (days,
    increasing, from the start of treatment); one :class:`TumourCurve` per animal.

    ``initial_volume_mm3`` and each of ``parameters`` (``lambda0`` 1/day, ``lambda1``
    mm^3/day, ``k1`` 1/day, ``psi``) are scalars or one value per animal; ``kill_per_day(t)``
    is the drug kill hazard (1/day): a number shared by the animals or one value per animal
    (None = vehicle).
    """
    from scipy.integrate import solve_ivp

    pth = Path(model_path) if model_path is not None else tumour_model_path()
    key = (str(pth.resolve()), pth.stat().st_mtime)
    model, cm = _compiled(*key)
    f = _vectorised(*key)
    t = np.asarray(times_days, dtype=float)
    if t.size < 1 or np.any(np.diff(t) <= 0):
        raise ValueError("times_days must be increasing")
    unknown = set(parameters or {}) - set(cm.param_names)
    if unknown:
        raise ValueError(f"unknown tumour-model parameters: {', '.join(sorted(unknown))}")
    ix = [list(model.state).index(s) for s in ("x1", "x2", "x3", "x4")]
    w0 = model.initial[ix[0]] if initial_volume_mm3 is None else initial_volume_mm3
    sizes = [np.size(v) for v in (w0, *(parameters or {}).values())]
    n = max(sizes)
    if any(k not in (1, n) for k in sizes):
        raise ValueError("per-animal values must all have the same length")
    base = cm.param_vector()
    pm = np.repeat(base[:, None], n, axis=1)
    for k, v in (parameters or {}).items():
        pm[cm.param_names.index(k)] = v
    ik = cm.param_names.index("kill_per_day")
    ns = len(model.state)
    y0 = np.zeros((ns, n))
    y0[ix[0]] = w0

    def rhs(tt: float, yflat: np.ndarray) -> np.ndarray:
        if kill_per_day is not None:
            pm[ik] = kill_per_day(tt)
        d = f(tt, list(yflat.reshape(ns, n)), list(pm))
        return np.concatenate([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in d])

    if t.size == 1:
        ys = y0[:, :, None]
    else:
        sol = solve_ivp(rhs, (t[0], t[-1]), y0.ravel(), t_eval=t, method="LSODA", rtol=1e-6,
                        atol=1e-4, max_step=max_step_days)
        if not sol.success:
            raise RuntimeError(f"tumour model failed: {sol.message}")
        ys = sol.y.reshape(ns, n, t.size)
    vol = ys[ix].sum(axis=0)
    return [TumourCurve(t, vol[i], ys[ix[0], i]) for i in range(n)]


def simulate_tumour(
    times_days: np.ndarray,
    *,
    initial_volume_mm3: float | None = None,
    parameters: Mapping[str, float] | None = None,
    kill_per_day: Callable[[float], float] | None = None,
    max_step_days: float = 0.05,
    model_path: str | Path | None = None,
) -> TumourCurve:
    """One tumour (see :func:`simulate_tumours`): ``kill_per_day(t_days)`` is the drug kill
    hazard (1/day), None = vehicle; ``parameters`` override the model's (``lambda0`` 1/day,
    ``lambda1`` mm^3/day, ``k1`` 1/day, ``psi``)."""
    return simulate_tumours(times_days, initial_volume_mm3=initial_volume_mm3,
                            parameters=parameters, kill_per_day=kill_per_day,
                            max_step_days=max_step_days, model_path=model_path)[0]


def tgi_percent(treated_start: float, treated_end: float, vehicle_start: float,
                vehicle_end: float) -> float:
    """Tumour growth inhibition, % : ``100 * (1 - dT / dC)`` with dT, dC the volume changes of
    the treated and vehicle tumours over the same interval (0 = no effect, 100 = stasis, > 100
    = regression). NaN if the vehicle did not grow."""
    dc = vehicle_end - vehicle_start
    if not dc > 0:
        return float("nan")
    return 100.0 * (1.0 - (treated_end - treated_start) / dc)


def regrowth_days(times_days: np.ndarray, volume_mm3: np.ndarray, end_of_dosing_day: float,
                  baseline_mm3: float | None = None) -> float:
    """Days after ``end_of_dosing_day`` until the volume is back at ``baseline_mm3`` (default:
    the volume at the first time, the start of treatment); linear interpolation between samples.
    0 if the volume at the end of dosing is not below the baseline; NaN if it has not regrown by
    the end of the run."""
    t = np.asarray(times_days, dtype=float)
    v = np.asarray(volume_mm3, dtype=float)
    base = float(v[0]) if baseline_mm3 is None else float(baseline_mm3)
    if float(np.interp(end_of_dosing_day, t, v)) >= base:
        return 0.0
    for i in range(1, t.size):
        if t[i] > end_of_dosing_day and v[i] >= base > v[i - 1]:
            cross = t[i - 1] + (base - v[i - 1]) / (v[i] - v[i - 1]) * (t[i] - t[i - 1])
            return float(max(cross, end_of_dosing_day) - end_of_dosing_day)
    return float("nan")
