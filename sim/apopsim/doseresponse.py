"""Dose-response of simulated populations: four-parameter Hill fits with confidence intervals.

For every drug that has a dose series (at least 4 distinct doses while every other drug is at
0 nM), the apoptotic fraction at each readout time is fitted with
``E(d) = E0 + (Emax - E0) d^h / (d^h + EC50^h)`` (doses in nM, effects as fractions of cells
killed). Confidence intervals (95 %, percentile) come from a parametric bootstrap of the sampling:
each condition's killed count is redrawn from Binomial(n_cells, observed fraction) and the curve
refitted (seeded from the scenario's seed). Single-cell runs get point estimates only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from apopsim.synergy.hill import fit_hill

if TYPE_CHECKING:
    from apopsim.runner import ScenarioResult

N_BOOT = 100
MIN_DOSES = 4


def dose_series(result: ScenarioResult) -> dict[str, list[int]]:
    """Drug -> indices of the conditions forming its single-drug series (others at 0 nM)."""
    out = {}
    for drug in result.scenario.drugs:
        idx = [i for i, c in enumerate(result.conditions)
               if all(v == 0 for k, v in c.doses_nM.items() if k != drug)]
        if len({result.conditions[i].doses_nM.get(drug, 0.0) for i in idx}) >= MIN_DOSES:
            out[drug] = sorted(idx, key=lambda i: result.conditions[i].doses_nM.get(drug, 0.0))
    return out


def fit_dose_response(result: ScenarioResult, n_boot: int = N_BOOT) -> pd.DataFrame:
    """One row per (drug, readout time): EC50 (nM), Hill slope, E0, Emax, with 95 % CIs."""
    rows = []
    rng = np.random.default_rng(result.scenario.seed)
    for drug, idx in dose_series(result).items():
        conds = [result.conditions[i] for i in idx]
        d = np.array([c.doses_nM.get(drug, 0.0) for c in conds])
        n = np.array([c.n_ok for c in conds])
        for t in result.scenario.time.readout_times():
            f = np.array([c.apoptotic_fraction(t)[0] for c in conds])
            row = {"drug": drug, "time_h": t, "n_doses": len(d), "n_cells": int(n.min())}
            ok = np.isfinite(f)
            if np.ptp(f[ok]) < 1e-9 if ok.any() else True:
                rows.append({**row, "note": "no response across doses: not fitted"})
                continue
            fit = fit_hill(d[ok], f[ok])
            row.update(ec50_nM=fit.ec50, hill_slope=fit.h, e0=fit.e0, emax=fit.emax,
                       converged=fit.converged)
            if n.min() > 1 and n_boot:
                boots = []
                for _ in range(n_boot):
                    fb = rng.binomial(n[ok], np.clip(f[ok], 0, 1)) / n[ok]
                    if np.ptp(fb) < 1e-9:
                        continue
                    b = fit_hill(d[ok], fb, p0=fit)
                    boots.append((b.ec50, b.h, b.emax))
                if len(boots) >= 10:
                    lo, hi = np.percentile(np.array(boots), [2.5, 97.5], axis=0)
                    row.update(ec50_ci_low_nM=lo[0], ec50_ci_high_nM=hi[0],
                               hill_slope_ci_low=lo[1], hill_slope_ci_high=hi[1],
                               emax_ci_low=lo[2], emax_ci_high=hi[2])
            rows.append(row)
    return pd.DataFrame(rows)
