"""Helpers for the model-library tests: load a built-in model with apopsim, simulate, read out.

Everything runs through the public engine (apopsim.load_model / apopsim.simulate), so the tests
prove what users run. Numbers the tests compare against are copied here with their sources; the
tests never read ../shared at run time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import apopsim
from apopsim.engine import PreequilibrationOptions

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
TIGHT = {"rtol": 1e-8, "atol": 1e-10}


def load(name: str, context: str | None = None):
    return apopsim.load_model(MODELS_DIR / f"{name}.ant", context=context)


def run(model, t_end: float, doses: dict | None = None, dt: float = 0.05, **kw):
    """Pre-equilibrate the untreated cell, treat with ``doses`` (nM) and return (times, traj)."""
    times = np.round(np.arange(0.0, t_end + 1e-9, dt), 10)
    traj = apopsim.simulate(model, times, doses_nM=doses or {}, **TIGHT, **kw)
    return times, traj


def run_no_preeq(model, t_end: float, y0, parameters: dict, doses: dict | None = None,
                 dt: float = 0.05):
    times = np.round(np.arange(0.0, t_end + 1e-9, dt), 10)
    traj = apopsim.simulate(model, times, doses_nM=doses or {}, y0=y0, parameters=parameters,
                            preequilibration=PreequilibrationOptions(enabled=False), **TIGHT)
    return times, traj


def time_of_death(times, traj, threshold: float = 0.5):
    """First time the cleaved-PARP fraction exceeds ``threshold`` (h), or None."""
    c = np.asarray(traj["cleaved_PARP_fraction"])
    hit = np.nonzero(c > threshold)[0]
    return float(times[hit[0]]) if hit.size else None


def at(times, traj, name: str, t: float) -> float:
    return float(np.asarray(traj[name])[int(np.argmin(np.abs(times - t)))])


def untreated_state(model):
    """Pre-equilibrated untreated state (amounts, in model.state order: species, then rate-rule
    variables such as ``committed``)."""
    traj = apopsim.simulate(model, [0.0], **TIGHT)
    return np.array(traj.meta["final_state"], dtype=float)




def chase_half_lives(model, names, t_end: float = 12.0, dt: float = 0.02,
                     parameters: dict | None = None) -> list[float]:
    """Bulk chase half-lives (h) of the readouts ``names`` (e.g. ``MCL1_total``) under a
    complete translation block (HHT 1e6 nM, a cycloheximide chase) from the untreated state
    (pre-equilibrated with ``parameters``): the time each falls to 50 % of its start, linearly
    interpolated between outputs ``dt`` h apart; inf if not within ``t_end`` h."""
    times, tr = run(model, t_end, {"hht": 1e6}, dt=dt, parameters=parameters or {})
    out = []
    for name in names:
        y = np.asarray(tr[name]) / tr[name][0]
        below = np.nonzero(y <= 0.5)[0]
        if not below.size:
            out.append(float("inf"))
            continue
        i = int(below[0])
        out.append(float(times[i - 1] + (y[i - 1] - 0.5) / (y[i - 1] - y[i])
                         * (times[i] - times[i - 1])))
    return out
