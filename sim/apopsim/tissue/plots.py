"""Figures of an in-vivo study (apopsim's shared style, Okabe-Ito colours, 300 dpi PNG):
plasma free concentration and target occupancy over time, the kill hazard, median tumour
volume per arm, and spaghetti plots of the virtual animals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from apopsim.report.style import OKABE_ITO, save, style

#: A :class:`apopsim.tissue.study.StudyResult` (not imported: study.py imports this module).
StudyResult = Any


_DASHES = ["-", "--", "-.", ":"]


def _colours(arms: list[str]) -> dict[str, str]:
    return {a: OKABE_ITO[i % len(OKABE_ITO)] for i, a in enumerate(arms)}


def _dashes(arms: list[str]) -> dict[str, str]:
    """A line style per arm, so arms with identical curves stay distinguishable."""
    return {a: _DASHES[i % len(_DASHES)] for i, a in enumerate(arms)}


def plot_pk(result: StudyResult, path: Path, days: float = 3.0) -> None:
    """Free plasma concentration (nM, log scale) and target occupancy over the first ``days``
    days, one row per drug, one line per arm that gives it."""
    import matplotlib.pyplot as plt

    drugs = sorted({d for p in result.pk.values() for d in p})
    if not drugs:
        return
    arms = [a.name for a in result.study.arms]
    col, ls = _colours(arms), _dashes(arms)
    t = result.pk_times_h
    sel = t <= days * 24
    with style():
        fig, axes = plt.subplots(len(drugs), 2, figsize=(7.0, 2.4 * len(drugs)), squeeze=False,
                                 layout="constrained")
        for i, drug in enumerate(drugs):
            kd = result.occupancy_kd_nM[drug]
            for arm in arms:
                prof = result.pk[arm].get(drug)
                if prof is None:
                    continue
                free = prof.free_nM[sel]
                axes[i, 0].plot(t[sel], free, color=col[arm], ls=ls[arm], label=arm)
                axes[i, 1].plot(t[sel], prof.occupancy(kd)[sel], color=col[arm], ls=ls[arm],
                                label=arm)
                top = max(float(free.max()), kd)
            axes[i, 0].axhline(kd, color="0.5", ls=":", lw=1, label=f"Kd/IC50 {kd:.3g} nM")
            axes[i, 0].set_yscale("log")
            axes[i, 0].set_ylim(min(kd, top) * 1e-3, top * 3)
            axes[i, 0].set_ylabel(f"free {drug} in plasma (nM)")
            axes[i, 1].set_ylabel(f"{drug} target occupancy")
            axes[i, 1].set_ylim(0, 1.02)
            axes[i, 0].legend(frameon=False)
        for ax in axes[-1]:
            ax.set_xlabel("time after first dose (h)")
        fig.suptitle(f"{result.study.name}: plasma PK ({result.study.species})")
        save(fig, path)


def plot_hazard(result: StudyResult, path: Path) -> None:
    """Kill hazard from the cell model (1/day) over the study, one line per arm."""
    import matplotlib.pyplot as plt

    arms = [a.name for a in result.study.arms]
    col, ls = _colours(arms), _dashes(arms)
    with style():
        fig, ax = plt.subplots(figsize=(5.5, 3.0), layout="constrained")
        for arm in arms:
            ax.plot(result.pk_times_h / 24, result.hazard_per_h[arm] * 24, color=col[arm],
                    ls=ls[arm], label=arm, lw=1)
        ax.axvspan(0, result.dosing_end_day, color="0.92", zorder=0)
        ax.set_xlabel("day")
        ax.set_ylabel("kill hazard (1/day)")
        ax.legend(frameon=False)
        save(fig, path)


def plot_volumes(result: StudyResult, path: Path) -> None:
    """Median tumour volume per arm with the interquartile range of the virtual animals."""
    import matplotlib.pyplot as plt

    arms = [a.name for a in result.study.arms]
    col, ls = _colours(arms), _dashes(arms)
    t = result.times_days
    with style():
        fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
        ax.axvspan(0, result.dosing_end_day, color="0.92", zorder=0, label="dosing")
        for arm in arms:
            v = result.volumes_mm3[arm]
            q25, q50, q75 = np.percentile(v, [25, 50, 75], axis=0)
            ax.fill_between(t, q25, q75, color=col[arm], alpha=0.2, lw=0)
            tgi = result.summary.set_index("arm").loc[arm, "tgi_percent"]
            lab = arm if arm == result.study.vehicle else f"{arm} (TGI {tgi:.0f} %)"
            ax.plot(t, q50, color=col[arm], ls=ls[arm], label=lab)
        ax.set_xlabel("day after first dose")
        ax.set_ylabel("tumour volume (mm³)")
        ax.set_title(f"{result.study.name}: median and IQR of {len(v)} virtual animals")
        ax.legend(frameon=False)
        save(fig, path)


def plot_spaghetti(result: StudyResult, path: Path) -> None:
    """One panel per arm: every virtual animal (thin) and the typical animal (bold)."""
    import matplotlib.pyplot as plt

    arms = [a.name for a in result.study.arms]
    col = _colours(arms)
    t = result.times_days
    top = max(float(np.max(v)) for v in result.volumes_mm3.values()) * 1.05
    with style():
        fig, axes = plt.subplots(1, len(arms), figsize=(2.3 * len(arms), 2.8), sharey=True,
                                 layout="constrained", squeeze=False)
        for ax, arm in zip(axes[0], arms, strict=True):
            ax.axvspan(0, result.dosing_end_day, color="0.92", zorder=0)
            for v in result.volumes_mm3[arm]:
                ax.plot(t, v, color=col[arm], lw=0.6, alpha=0.6)
            ax.plot(t, result.typical_mm3[arm], color="k", lw=1.5)
            ax.set_title(arm)
            ax.set_xlabel("day")
            ax.set_ylim(0, top)
        axes[0, 0].set_ylabel("tumour volume (mm³)")
        fig.suptitle(f"{result.study.name}: virtual animals (thin) and the typical animal "
                     "(black); dosing shaded")
        save(fig, path)


def plot_study(result: StudyResult, folder: Path) -> None:
    """All study figures into ``folder``: pk.png, kill_hazard.png, volumes.png,
    spaghetti.png."""
    folder = Path(folder)
    plot_pk(result, folder / "pk.png")
    plot_hazard(result, folder / "kill_hazard.png")
    plot_volumes(result, folder / "volumes.png")
    plot_spaghetti(result, folder / "spaghetti.png")
