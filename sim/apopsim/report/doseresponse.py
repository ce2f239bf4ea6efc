"""Dose-response of simulated populations: four-parameter Hill fits with confidence intervals.

For every drug that has a dose series (at least 4 distinct doses while every other drug is at
0 nM), the apoptotic fraction at each readout time is fitted with
``E(d) = E0 + (Emax - E0) d^h / (d^h + EC50^h)`` (doses in nM, effects as fractions of cells
killed). Confidence intervals (95 %) reflect the sampling of cells: each fraction's binomial
variance ``f (1 - f) / n_cells`` (floored at ``1 / (4 n_cells^2)``) weights the fit's Jacobian, and
the delta method gives intervals for E0, Emax, the Hill slope and log EC50 (so the EC50 interval is
asymmetric). Single-cell runs get point estimates only.

:func:`dose_series` finds the series once; :func:`fit_dose_response` and the dose-response
figures take it as an argument rather than finding it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from apopsim.synergy.hill import fit_hill, hill

if TYPE_CHECKING:
    from apopsim.results import ScenarioResult

MIN_DOSES = 4


def dose_series(result: ScenarioResult) -> dict[str, list[int]]:
    """Factor -> indices of the conditions forming its single-factor series: every other drug
    (and species input) at 0 nM, every other parameter input at its first listed value."""
    out = {}
    units = result.factor_units()
    lists = result.scenario.dose_lists()
    rest = {k: 0.0 if units.get(k, "nM") == "nM" else lists[k][0] for k in lists}
    for drug in result.scenario.factors():
        idx = [i for i, c in enumerate(result.conditions)
               if all(v == rest.get(k, 0.0) for k, v in c.doses_nM.items() if k != drug)]
        if len({result.conditions[i].doses_nM.get(drug, 0.0) for i in idx}) >= MIN_DOSES:
            out[drug] = sorted(idx, key=lambda i: result.conditions[i].doses_nM.get(drug, 0.0))
    return out


def fit_dose_response(result: ScenarioResult,
                      series: dict[str, list[int]] | None = None) -> pd.DataFrame:
    """One row per (drug, readout time): EC50 (nM), Hill slope, E0, Emax, with 95 % CIs.

    ``series``: the result's :func:`dose_series` when already known (found here otherwise).
    Columns: ``drug`` (a drug or an input), ``dose_unit`` (``nM``; for a parameter input its
    unit, empty if the model does not state it: then every ``ec50*`` column is in that unit, not
    nM), ``time_h`` (h), ``n_doses``, ``n_cells`` (fewest live cells at treatment
    start over the doses), then ``ec50_nM``, ``hill_slope``, ``e0``, ``emax`` (fractions),
    ``converged`` and, for populations, their ``*_ci_low`` / ``*_ci_high`` bounds; or ``note``
    when the fraction does not change across doses. Empty when no drug has a series.
    """
    rows = []
    series = dose_series(result) if series is None else series
    units = result.factor_units() if series else {}
    for drug, idx in series.items():
        conds = [result.conditions[i] for i in idx]
        d = np.array([c.doses_nM.get(drug, 0.0) for c in conds])
        n = np.array([c.n_ok for c in conds])
        for t in result.scenario.time.readout_times():
            f = np.array([c.apoptotic_fraction(t)[0] for c in conds])
            row = {"drug": drug, "dose_unit": units.get(drug, "nM") or "", "time_h": t,
                   "n_doses": len(d), "n_cells": int(n.min())}
            ok = np.isfinite(f)
            if not ok.any() or np.ptp(f[ok]) < 1e-9:
                rows.append({**row, "note": "no response across doses: not fitted"})
                continue
            fit = fit_hill(d[ok], f[ok])
            row.update(ec50_nM=fit.ec50, hill_slope=fit.h, e0=fit.e0, emax=fit.emax,
                       converged=fit.converged)
            if n.min() > 1:
                row.update(_intervals(d[ok], f[ok], n[ok], fit))
            rows.append(row)
    return pd.DataFrame(rows)


def _intervals(d: np.ndarray, f: np.ndarray, n: np.ndarray, fit) -> dict[str, float]:
    """Delta-method 95 % intervals from binomial-weighted least squares at the optimum."""
    theta = np.array([fit.e0, fit.emax, np.log(fit.h), np.log(fit.ec50)])

    def model(th):
        return hill(d, th[0], th[1], np.exp(th[2]), np.exp(th[3]))

    jac = np.empty((len(d), 4))
    for k in range(4):
        h = 1e-6 * max(1.0, abs(theta[k]))
        up, dn = theta.copy(), theta.copy()
        up[k] += h
        dn[k] -= h
        jac[:, k] = (model(up) - model(dn)) / (2 * h)
    fitted = np.clip(model(theta), 0, 1)
    var = np.maximum(fitted * (1 - fitted) / n, 1.0 / (4.0 * n**2))
    info = jac.T @ (jac / var[:, None])
    try:
        cov = np.linalg.pinv(info)
    except np.linalg.LinAlgError:
        return {}
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    z = 1.959964
    lo, hi = theta - z * se, theta + z * se
    with np.errstate(over="ignore"):
        return _ci_dict(lo, hi)


def _ci_dict(lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    return {
        "ec50_ci_low_nM": float(np.exp(lo[3])), "ec50_ci_high_nM": float(np.exp(hi[3])),
        "hill_slope_ci_low": float(np.exp(lo[2])), "hill_slope_ci_high": float(np.exp(hi[2])),
        "e0_ci_low": float(lo[0]), "e0_ci_high": float(hi[0]),
        "emax_ci_low": float(lo[1]), "emax_ci_high": float(hi[1]),
    }
