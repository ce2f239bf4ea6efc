"""Figures of scenario results, as publication-ready PNGs (300 dpi, colour-blind-safe)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from apopsim.plotting import OKABE_ITO, save, style

if TYPE_CHECKING:
    from apopsim.runner import ScenarioResult

MAX_LINES = 8
#: Line styles cycled with the colours, so overlapping conditions stay distinguishable.
LINESTYLES = ["-", "--", "-.", ":"]


def _pick(n: int, k: int = MAX_LINES) -> list[int]:
    """At most ``k`` of ``n`` indices, evenly spread, keeping the first and last."""
    if n <= k:
        return list(range(n))
    return list(np.unique(np.linspace(0, n - 1, k).round().astype(int)))


def plot_scenario(result: ScenarioResult, outdir: Path, *,
                  dose_response: pd.DataFrame | None = None) -> list[Path]:
    """Time courses (mean, and 25-75 % band for populations), apoptotic fractions, death-time
    distributions and dose-response curves. Returns the files written."""
    outdir = Path(outdir)
    written = []
    with style():
        written += plot_timecourses(result, outdir)
        written.append(plot_fractions(result, outdir / "apoptotic_fraction.png"))
        if result.n_cells > 1:
            written.append(plot_death_times(result, outdir / "time_to_death.png"))
        if dose_response is not None and len(dose_response):
            from apopsim.doseresponse import dose_series

            for drug in dose_series(result):
                written.append(plot_dose_response(result, drug, dose_response,
                                                  outdir / f"dose_response_{drug}.png"))
    return written


def plot_timecourses(result: ScenarioResult, outdir: Path) -> list[Path]:
    """One PNG per recorded variable, one line per condition (at most 8 shown)."""
    s = result.scenario
    t = result.times_h
    shown = _pick(len(result.conditions))
    out = []
    for j, v in enumerate(result.variables):
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for k, ci in enumerate(shown):
            c = result.conditions[ci]
            color = OKABE_ITO[k % len(OKABE_ITO)]
            ax.plot(t, c.stats[0, j], color=color, lw=1.5, ls=LINESTYLES[k % len(LINESTYLES)],
                    label=c.name)
            if result.n_cells > 1:
                ax.fill_between(t, c.stats[3, j], c.stats[5, j], color=color, alpha=0.2, lw=0)
        if v == s.readouts.death.variable:
            ax.axhline(s.readouts.death.threshold, color="grey", lw=0.8, ls=":",
                       label="death threshold")
        unit = "" if v == s.readouts.death.variable or "fraction" in v else " (nM)"
        title = (f"{v}: mean, band 25–75 % (n = {result.n_cells} cells)"
                 if result.n_cells > 1 else v)
        ax.set(xlabel="time after treatment (h)", ylabel=f"{v}{unit}", title=title)
        ax.legend(frameon=False, fontsize=7, loc="best")
        path = outdir / f"timecourse_{v}.png"
        save(fig, path)
        out.append(path)
    return out


def plot_fractions(result: ScenarioResult, path: Path) -> Path:
    """Apoptotic fraction per condition at each readout time (with 95 % CI for populations)."""
    df = result.to_dataframe()
    times = result.scenario.time.readout_times()
    n = len(df)
    fig, ax = plt.subplots(figsize=(max(3.5, 0.35 * n * len(times) + 1.5), 3.4))
    width = 0.8 / len(times)
    for k, tt in enumerate(times):
        col = f"apoptotic_fraction_{tt:g}h"
        x = np.arange(n) + (k - (len(times) - 1) / 2) * width
        yerr = None
        if f"{col}_ci_low" in df:
            yerr = np.vstack([df[col] - df[f"{col}_ci_low"], df[f"{col}_ci_high"] - df[col]])
        ax.bar(x, df[col], width, yerr=yerr, capsize=2, color=OKABE_ITO[(k + 1) % 8],
               label=f"{tt:g} h")
    ax.set_xticks(range(n), df["condition"], rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="apoptotic fraction", ylim=(0, 1.05), title=result.scenario.name)
    ax.legend(frameon=False, title="time", fontsize=7)
    save(fig, path)
    return path


def plot_death_times(result: ScenarioResult, path: Path) -> Path:
    """Cumulative distribution of time to death per condition (at most 8 shown)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    t_end = result.times_h[-1]
    for k, ci in enumerate(_pick(len(result.conditions))):
        c = result.conditions[ci]
        ok = c.live
        if not ok.size:
            continue
        grid = np.linspace(0, t_end, 300)
        frac = (ok[None, :] <= grid[:, None]).mean(axis=1)
        ax.step(grid, frac, where="post", color=OKABE_ITO[k % 8], label=c.name)
    ax.set(xlabel="time after treatment (h)", ylabel="fraction of cells dead",
           ylim=(0, 1.02), title="time to death")
    ax.legend(frameon=False, fontsize=7)
    save(fig, path)
    return path


def plot_dose_response(result: ScenarioResult, drug: str, fits: pd.DataFrame,
                       path: Path) -> Path:
    """Apoptotic fraction vs dose (nM, log axis) with Hill fits at each readout time."""
    from apopsim.doseresponse import dose_series
    from apopsim.synergy.hill import hill

    idx = dose_series(result)[drug]
    conds = [result.conditions[i] for i in idx]
    d = np.array([c.doses_nM.get(drug, 0.0) for c in conds])
    pos = d[d > 0]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    grid = np.geomspace(pos.min() / 3, pos.max() * 3, 200)
    x0 = pos.min() / 10  # where to draw the 0 nM point on the log axis
    for k, t in enumerate(result.scenario.time.readout_times()):
        color = OKABE_ITO[(k + 1) % 8]
        f = np.array([c.apoptotic_fraction(t) for c in conds])
        ax.errorbar(np.where(d > 0, d, x0), f[:, 0], yerr=np.abs(f[:, 1:].T - f[:, 0]),
                    fmt="o", ms=3, color=color, capsize=2, label=f"{t:g} h")
        row = fits[(fits.drug == drug) & (fits.time_h == t)]
        if len(row) and "ec50_nM" in row and np.isfinite(row["ec50_nM"].iloc[0]):
            r = row.iloc[0]
            ax.plot(grid, hill(grid, r.e0, r.emax, r.hill_slope, r.ec50_nM), color=color, lw=1.2)
    ax.set_xscale("log")
    ax.set(xlabel=f"{drug} (nM; 0 nM drawn at {x0:.2g})", ylabel="apoptotic fraction",
           ylim=(-0.02, 1.05), title=f"{drug}: dose-response")
    ax.legend(frameon=False, fontsize=7, title="time")
    save(fig, path)
    return path
