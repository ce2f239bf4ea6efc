"""Figures of scenario results (time courses, apoptotic fractions), publication-ready PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from apopsim.plotting import OKABE_ITO, save, style

if TYPE_CHECKING:
    from apopsim.runner import ScenarioResult

MAX_LINES = 8


def _pick(conditions: list, n: int = MAX_LINES) -> list:
    """At most ``n`` conditions, evenly chosen, always keeping the first and last."""
    if len(conditions) <= n:
        return conditions
    idx = np.unique(np.linspace(0, len(conditions) - 1, n).round().astype(int))
    return [conditions[i] for i in idx]


def plot_scenario(result: ScenarioResult, outdir: Path) -> list[Path]:
    """One time-course PNG per readout variable and a bar chart of apoptotic fractions."""
    outdir = Path(outdir)
    s = result.scenario
    written = []
    ok = [c for c in result.conditions if c.trajectory is not None]
    shown = _pick(ok)
    variables = list(dict.fromkeys([*s.readouts.species, s.readouts.death.variable]))
    with style():
        for v in variables:
            fig, ax = plt.subplots(figsize=(4.5, 3.2))
            for i, c in enumerate(shown):
                ax.plot(c.trajectory.times_h, c.trajectory[v], color=OKABE_ITO[i % 8],
                        lw=1.5, ls="-" if i < 8 else "--", label=c.name)
            if v == s.readouts.death.variable:
                ax.axhline(s.readouts.death.threshold, color="grey", lw=0.8, ls=":",
                           label="death threshold")
            unit = "" if v == s.readouts.death.variable or v.endswith("fraction") else " (nM)"
            ax.set(xlabel="time after treatment (h)", ylabel=f"{v}{unit}",
                   title=f"{s.name}: {v}")
            ax.legend(frameon=False, fontsize=7, loc="best")
            path = outdir / f"timecourse_{v}.png"
            save(fig, path)
            written.append(path)
        df = result.to_dataframe()
        fig, ax = plt.subplots(figsize=(max(3.5, 0.45 * len(df) + 1.5), 3.2))
        ax.bar(range(len(df)), df["apoptotic_fraction"], color=OKABE_ITO[5])
        ax.set_xticks(range(len(df)), df["condition"], rotation=45, ha="right", fontsize=7)
        ax.set(ylabel="apoptotic fraction", ylim=(0, 1.05),
               title=f"{s.name}: apoptosis at {s.time.readout_times()[-1]:g} h")
        path = outdir / "apoptotic_fraction.png"
        save(fig, path)
        written.append(path)
    return written
