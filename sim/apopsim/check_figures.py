"""Headline figures of ``apopsim check``: one PNG per study, drawn from the check's own runs.

For each study the headline claim is its first ``role: claim`` expectation of kind ``compare``
(conditions of one scenario) or ``synergy`` at a well, else its first readout expectation. The
figure shows, for the conditions that claim names and the untreated control: the apoptotic
fraction over time (95 % Wilson bands) or, for a species claim, the species' mean over time
(nM); and, when the scenario is a two-drug grid of at least 3 x 3 doses, the Bliss synergy map
(percentage points) at the claim's time. The title states the claim and its verdict.
``make figures`` runs ``apopsim check --figures docs/figures`` (full-size runs).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from apopsim.check import CheckReport, Outcome, _condition
from apopsim.results import ScenarioResult
from apopsim.scenario.expect import CompareExpectation, ReadoutMeasure, SynergyExpectation

__all__ = ["headline_figures", "plot_claim"]


def _conditions(e: Any) -> tuple[str, list[dict[str, float]]] | None:
    """``(readout, conditions)`` a claim names in its own scenario (None if it names none)."""
    if isinstance(e, CompareExpectation):
        ms = [m for m in (e.left, *e.right) if isinstance(m, ReadoutMeasure)
              and m.scenario is None]
        if len(ms) == 1 + len(e.right) and len({m.readout for m in ms}) == 1:
            return ms[0].readout, [dict(m.condition) for m in ms]
        return None
    if isinstance(e, SynergyExpectation):
        if e.dose is None or e.scenario is not None:
            return None
        (a, da), (b, db) = e.dose.items()
        return "apoptotic_fraction", [{a: da, b: db}, {a: da}, {b: db}]
    if isinstance(e, ReadoutMeasure) and e.scenario is None:
        return e.readout, [dict(e.condition)]
    return None


def _headline(report: CheckReport) -> dict[str, tuple[Outcome, Any, ScenarioResult]]:
    """Study -> (outcome, expectation, result) of its headline claim."""
    best: dict[str, tuple[int, Outcome, Any, ScenarioResult]] = {}
    for o in report.outcomes:
        r = report.results.get(o.scenario)
        if r is None:
            continue
        e = r.scenario.expect[o.index]
        named = _conditions(e)
        if named is None:
            continue
        rank = (0 if o.role == "claim" and o.kind in ("compare", "synergy") else
                1 if o.role == "claim" else 2)
        if o.study not in best or rank < best[o.study][0]:
            best[o.study] = (rank, o, e, r)
    return {s: v[1:] for s, v in best.items()}


def plot_claim(result: ScenarioResult, outcome: Outcome, e: Any, path: Path, *,
               fast: bool = False) -> Path:
    """Draw the headline figure of one claim into ``path`` (PNG); ``fast`` marks the title as
    drawn from reduced runs."""
    import matplotlib.pyplot as plt

    from apopsim.report.style import OKABE_ITO, SYNERGY_CMAP, fmt_number, save, style
    from apopsim.report.synergy import grid_drugs

    readout, conds = _conditions(e)  # type: ignore[misc]
    conds = [{}] + [c for c in conds if any(v > 0 for v in c.values())]
    conds = list({tuple(sorted(c.items())): c for c in conds}.values())
    pair = grid_drugs(result)
    lists = result.scenario.dose_lists()
    heat = pair is not None and min(len(set(lists[d])) for d in pair) >= 3
    at_h = getattr(e, "at_h", None) or getattr(getattr(e, "left", None), "at_h", None) \
        or result.scenario.time.duration_h
    with style():
        fig, axes = plt.subplots(1, 2 if heat else 1, figsize=(9.5 if heat else 5.2, 3.6),
                                 layout="constrained", squeeze=False)
        ax = axes[0][0]
        t = np.linspace(0, result.scenario.time.duration_h, 145)
        for k, doses in enumerate(conds):
            c = _condition(result, doses)
            label = c.name
            color = OKABE_ITO[k % len(OKABE_ITO)]
            if readout == "apoptotic_fraction":
                f = np.array([c.apoptotic_fraction(x) for x in t])
                ax.plot(t, f[:, 0], color=color, label=label)
                ax.fill_between(t, f[:, 1], f[:, 2], color=color, alpha=0.15, lw=0)
            elif readout in result.variables:
                i = result.conditions.index(c)
                ax.plot(result.times_h, result.trace(i, readout), color=color, label=label)
        ax.axvline(at_h, color="0.6", lw=0.8, ls=":")
        ylabel = ("apoptotic fraction (95 % Wilson band)" if readout == "apoptotic_fraction"
                  else f"{readout} (mean over cells, nM)")
        ax.set(xlabel="time after treatment (h)", ylabel=ylabel)
        if readout == "apoptotic_fraction":
            ax.set_ylim(0, 1)
        ax.legend(frameon=False, fontsize=7, loc="best")
        if heat:
            from apopsim.check import _Evaluator
            from apopsim.scenario.expect import SynergyMeasure

            ev = _Evaluator({})
            ev.synergy(result, SynergyMeasure(method="bliss", at_h=at_h))
            w = ev._synergy[(id(result), "bliss", at_h)]
            a, b = w["drug1"].iloc[0], w["drug2"].iloc[0]
            da, db = sorted(set(w["conc1"])), sorted(set(w["conc2"]))
            m = np.full((len(db), len(da)), np.nan)
            for _, row in w.iterrows():
                m[db.index(row["conc2"]), da.index(row["conc1"])] = row["bliss"]
            lim = max(10.0, float(np.nanmax(np.abs(m))))
            hx = axes[0][1]
            im = hx.imshow(m, origin="lower", cmap=SYNERGY_CMAP, vmin=-lim, vmax=lim)
            for (i, j), v in np.ndenumerate(m):
                hx.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
            hx.set_xticks(range(len(da)), [fmt_number(x) for x in da])
            hx.set_yticks(range(len(db)), [fmt_number(x) for x in db])
            hx.set(xlabel=f"{a} (nM)", ylabel=f"{b} (nM)",
                   title=f"Bliss excess at {at_h:g} h (pp)")
            fig.colorbar(im, ax=hx, shrink=0.8)
        verdict = outcome.status.upper()
        head = textwrap.fill(f"{outcome.study}: {outcome.claim}", 100 if heat else 75)
        fig.suptitle(f"{head}\napopsim check: {verdict} (measured {outcome.measured_text}; "
                     f"expected {outcome.expected}){' [fast mode]' if fast else ''}",
                     fontsize=8.5)
        save(fig, path)
    return path


def headline_figures(report: CheckReport, outdir: str | Path, *, overwrite: bool = False
                     ) -> list[Path]:
    """Write ``<study>.png`` per study into ``outdir`` (atomically, the output-folder policy
    of :func:`apopsim._io.atomic_output_dir`); return the final paths."""
    from apopsim._io import atomic_output_dir

    chosen = _headline(report)
    names = []
    with atomic_output_dir(outdir, overwrite=overwrite) as tmp:
        for study, (o, e, r) in sorted(chosen.items()):
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"study_{study}") + ".png"
            plot_claim(r, o, e, tmp / name, fast=report.fast)
            names.append(name)
    final = Path(outdir).expanduser().resolve()
    return [final / n for n in names]
