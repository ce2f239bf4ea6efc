"""Figures of scenario results, as publication-ready PNGs (colour-blind-safe, 300 dpi, at most
2400 px wide).

What a figure shows is chosen from the design: a combination is always drawn beside its single
agents at the same doses and the untreated control (one small-multiple panel per combination),
colours mean the same in every figure (control black, each drug alone its own colour,
combinations vermillion), legends sit outside the data, doses are plain numbers in nM, and
titles state the denominator of the fractions (live cells at treatment start).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from apopsim.report.doseresponse import dose_series
from apopsim.report.style import OKABE_ITO, fmt_number, save, style
from apopsim.report.synergy import grid_drugs

if TYPE_CHECKING:
    from apopsim.results import ConditionResult, ScenarioResult

MAX_LINES = 8
#: At most this many small-multiple panels (one per combination) per figure.
MAX_PANELS = 9
#: Colours by role, the same in every figure: control, each drug alone (in the scenario's drug
#: order), combinations.
CONTROL_COLOR = OKABE_ITO[0]
DRUG_COLORS = [OKABE_ITO[i] for i in (2, 1, 3, 7, 5)]
COMBINATION_COLOR = OKABE_ITO[6]
#: Ordered greys for readout times in bar charts (light = early).
TIME_GREYS = ["0.78", "0.55", "0.3", "0.1"]


def _pick(n: int, k: int = MAX_LINES) -> list[int]:
    """At most ``k`` of ``n`` indices, evenly spread, keeping the first and last."""
    if n <= k:
        return list(range(n))
    return list(np.unique(np.linspace(0, n - 1, k).round().astype(int)))


def _baseline(result: ScenarioResult) -> dict[str, float]:
    """Factor -> its untreated value: 0 for drugs and species inputs (nM), the first listed
    value for a parameter input."""
    units = result.factor_units()
    return {k: 0.0 if units.get(k, "nM") == "nM" else v[0]
            for k, v in result.scenario.dose_lists().items()}


def axis_label(result: ScenarioResult, name: str) -> str:
    """``name (unit)``: nM for drugs and species, a parameter's unit where known, else
    ``(model units)``."""
    unit = result.factor_units().get(name, "nM")
    return f"{name} ({unit or 'model units'})"


def _given(result: ScenarioResult, c: ConditionResult) -> list[str]:
    """Factors given in condition ``c`` (a drug above 0 nM, a parameter input away from its
    first value; see :func:`_baseline`), in the scenario's order."""
    base = _baseline(result)
    return [d for d in result.scenario.factors() if c.doses_nM.get(d, 0.0) != base[d]]


def condition_color(result: ScenarioResult, c: ConditionResult) -> str:
    """Colour of a condition by role (control, which drug alone, combination)."""
    given = _given(result, c)
    if not given:
        return CONTROL_COLOR
    if len(given) > 1:
        return COMBINATION_COLOR
    return DRUG_COLORS[result.scenario.factors().index(given[0]) % len(DRUG_COLORS)]


def _role_label(result: ScenarioResult, c: ConditionResult) -> str:
    given = _given(result, c)
    if not given:
        return "control (no drug)"
    return f"{given[0]} alone" if len(given) == 1 else "combination"


def panels(result: ScenarioResult) -> list[tuple[str, list[int]]]:
    """Small multiples chosen from the design: ``(title, condition indices)``.

    One panel per combination (at most ``MAX_PANELS``, evenly spread) holding the control, each
    of its drugs alone at the same dose and the combination. A design without combinations (a
    single-drug dose series) gets one panel with its conditions (at most ``MAX_LINES``).
    """
    conds = result.conditions
    drugs = result.scenario.factors()
    base = _baseline(result)

    def key(doses: dict[str, float]) -> tuple[float, ...]:
        return tuple(float(doses.get(d, base[d])) for d in drugs)

    index = {key(c.doses_nM): i for i, c in enumerate(conds)}
    combos = [i for i, c in enumerate(conds) if len(_given(result, c)) > 1]
    if not combos:
        return [("", _pick(len(conds)))]
    out = []
    for k in _pick(len(combos), MAX_PANELS):
        ci = combos[k]
        c = conds[ci]
        members = [index.get(key({}))]
        members += [index.get(key({d: c.doses_nM[d]})) for d in _given(result, c)]
        members = [i for i in members if i is not None] + [ci]
        out.append((c.name.replace(" + ", " +\n"), list(dict.fromkeys(members))))
    return out


def _line_colors(result: ScenarioResult, members: list[int], combos: bool) -> list:
    """Role colours; in a dose series (no combinations) a sequential colour per dose."""
    if combos:
        return [condition_color(result, result.conditions[i]) for i in members]
    cmap = plt.get_cmap("viridis")
    n = len(members)
    return [CONTROL_COLOR if not _given(result, result.conditions[i])
            else cmap(0.85 * k / max(n - 1, 1)) for k, i in enumerate(members)]


def _line_style(result: ScenarioResult, c: ConditionResult) -> dict:
    """The control is drawn dashed and on top, so that curves hiding it stay visible."""
    if _given(result, c):
        return {"lw": 1.4, "ls": "-", "zorder": 2}
    return {"lw": 1.1, "ls": "--", "zorder": 3}


def cell_counts(result: ScenarioResult) -> str:
    """The denominator of the fractions: live cells at treatment start per condition, and the
    cells excluded as dead in their untreated steady state (if any)."""
    n = sorted({c.n_ok for c in result.conditions})
    text = f"n = {n[0]}" if len(n) == 1 else f"n = {n[0]}–{n[-1]}"
    text += " live cells at treatment start"
    dead = max((c.n_dead_untreated for c in result.conditions), default=0)
    if dead:
        text += f"; {dead} dead untreated excluded"
    return text


def _grid(n_panels: int, panel_w: float = 2.5, panel_h: float = 2.1):
    """Figure with ``n_panels`` axes in at most 3 columns (shared axes), unused ones hidden."""
    if n_panels == 1:
        panel_w, panel_h = 4.0, 3.0
    ncols = min(n_panels, 3)
    nrows = int(np.ceil(n_panels / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_w * ncols + 0.6, panel_h * nrows + 0.8),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    for ax in axes.ravel()[n_panels:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n_panels]


def _legend(fig, axes, result: ScenarioResult, chosen, combos: bool) -> None:
    """One legend for the figure, outside the data: roles for combination panels, conditions
    for a dose series."""
    handles, seen = [], set()
    for ax, (_, members) in zip(axes, chosen, strict=True):
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        for ln, i in zip(lines, members, strict=False):
            c = result.conditions[i]
            label = _role_label(result, c) if combos else c.name
            if label not in seen:
                seen.add(label)
                handles.append(plt.Line2D([], [], color=ln.get_color(), ls=ln.get_linestyle(),
                                          lw=1.5, label=label))
    extra = [ln for ln in axes[0].get_lines() if ln.get_label() == "death threshold"]
    fig.legend(handles=handles + [plt.Line2D([], [], color="grey", lw=0.8, ls=":",
                                             label="death threshold")] * bool(extra),
               loc="outside right center", frameon=False, fontsize=8)


def plot_scenario(result: ScenarioResult, outdir: Path, *,
                  summary: pd.DataFrame | None = None,
                  dose_response: pd.DataFrame | None = None,
                  series: dict[str, list[int]] | None = None) -> list[Path]:
    """Time courses (mean, and 25-75 % band for populations), apoptotic fractions, death-time
    distributions and dose-response curves. Returns the files written.

    The derived tables, when already computed, are passed in rather than computed again:
    ``summary`` (:meth:`ScenarioResult.to_dataframe`), ``dose_response``
    (:func:`~apopsim.report.doseresponse.fit_dose_response`; no dose-response figures without
    it) and ``series`` (:func:`~apopsim.report.doseresponse.dose_series`).
    """
    outdir = Path(outdir)
    written = []
    with style():
        written += plot_timecourses(result, outdir)
        written.append(plot_fractions(result, outdir / "apoptotic_fraction.png",
                                      summary=summary))
        if result.n_cells > 1:
            written.append(plot_death_times(result, outdir / "time_to_death.png"))
        pair = _input_grid(result)
        if pair is not None:  # a parameter sweep: also every readout on the grid
            written += plot_readout_matrices(result, pair, outdir)
        if dose_response is not None and len(dose_response):
            series = dose_series(result) if series is None else series
            for drug in series:
                written.append(plot_dose_response(result, drug, dose_response,
                                                  outdir / f"dose_response_{drug}.png",
                                                  series=series))
    return written


def plot_timecourses(result: ScenarioResult, outdir: Path) -> list[Path]:
    """One PNG per recorded variable: small multiples (see :func:`panels`), each combination
    beside its single agents and the control; mean over cells (nM, or a fraction) with the
    25-75 % band for populations."""
    s = result.scenario
    t = result.times_h
    chosen = panels(result)
    combos = bool(chosen[0][0])
    pop = result.n_cells > 1
    out = []
    for j, v in enumerate(result.variables):
        fig, axes = _grid(len(chosen))
        for ax, (title, members) in zip(axes, chosen, strict=True):
            for i, color in zip(members, _line_colors(result, members, combos), strict=True):
                c = result.conditions[i]
                ax.plot(t, c.stats[0, j], color=color, label=c.name, **_line_style(result, c))
                if pop:
                    ax.fill_between(t, c.stats[3, j], c.stats[5, j], color=color, alpha=0.15,
                                    lw=0)
            if v == s.readouts.death.variable:
                ax.axhline(s.readouts.death.threshold, color="grey", lw=0.8, ls=":",
                           label="death threshold")
            ax.set_title(title, fontsize=8)
        is_fraction = v == s.readouts.death.variable or "fraction" in v
        fig.supxlabel("time after treatment (h)", fontsize=9)
        fig.supylabel(f"{v} ({'fraction' if is_fraction else 'nM'})", fontsize=9)
        what = "mean over cells, band 25–75 %, " + cell_counts(result) if pop else "one cell"
        fig.suptitle(f"{v}\n({what})", fontsize=9)
        _legend(fig, axes, result, chosen, combos)
        path = outdir / f"timecourse_{v}.png"
        save(fig, path)
        out.append(path)
    return out


def plot_fractions(result: ScenarioResult, path: Path, *,
                   summary: pd.DataFrame | None = None) -> Path:
    """Apoptotic fraction per condition at each readout time (95 % Wilson intervals for
    populations): a dose-matrix heat map per readout time for two-drug grids of at least 3 x 3
    doses, horizontal grouped bars otherwise (bounded width). ``summary``: the result's
    :meth:`~ScenarioResult.to_dataframe` when already computed."""
    pair = grid_drugs(result) or _input_grid(result)
    if pair is not None:
        lists = result.scenario.dose_lists()
        if min(len(set(lists[d])) for d in pair) >= 3:
            return _plot_fraction_matrix(result, pair, path)
    df = result.to_dataframe() if summary is None else summary
    times = result.scenario.time.readout_times()
    n = len(df)
    height = 0.14 * n * len(times) + 0.12 * n + 1.2
    fig, ax = plt.subplots(figsize=(5.5, height), layout="constrained")
    width = 0.8 / len(times)
    y = np.arange(n)[::-1]
    for k, tt in enumerate(times):
        col = f"apoptotic_fraction_{tt:g}h"
        yk = y - (k - (len(times) - 1) / 2) * width
        err = None
        if f"{col}_ci_low" in df:
            err = np.vstack([df[col] - df[f"{col}_ci_low"], df[f"{col}_ci_high"] - df[col]])
            err = np.clip(np.nan_to_num(err), 0, None)  # Wilson bounds at 0 or 1 round off
        ax.barh(yk, df[col], width, xerr=err, capsize=2,
                color=TIME_GREYS[min(k, len(TIME_GREYS) - 1)] if len(times) > 1 else "0.45",
                error_kw={"lw": 0.8, "ecolor": COMBINATION_COLOR}, label=f"{tt:g} h")
    ax.set_yticks(y, df["condition"], fontsize=8)
    ax.set(xlabel="apoptotic fraction (of live cells at treatment start)", xlim=(0, 1.0))
    ax.set_title(f"{result.scenario.name}\n({cell_counts(result)}"
                 + (", 95 % Wilson intervals)" if result.n_cells > 1 else ")"), fontsize=9)
    ax.legend(frameon=False, title="time after treatment", loc="upper left",
              bbox_to_anchor=(1.01, 1), fontsize=8)
    save(fig, path)
    return path


def _input_grid(result: ScenarioResult) -> tuple[str, str] | None:
    """The two varied factors of a grid that involves an input (a parameter sweep, with or
    without a 0 value), or None."""
    s = result.scenario
    varied = [d for d, v in s.dose_lists().items() if len(set(v)) > 1]
    if s.design != "grid" or len(varied) != 2 or not any(d in s.inputs for d in varied):
        return None
    return varied[0], varied[1]


def _plot_fraction_matrix(result: ScenarioResult, pair: tuple[str, str], path: Path) -> Path:
    """Heat maps of the apoptotic fraction (%) on the dose grid, one panel per readout time."""
    return _plot_matrix(result, pair, path,
                        lambda c, t: 100 * c.apoptotic_fraction(t)[0], "apoptotic cells (%)",
                        f"{result.scenario.name}: apoptotic fraction (%)", percent=True)


def plot_readout_matrices(result: ScenarioResult, pair: tuple[str, str],
                          outdir: Path) -> list[Path]:
    """For a grid over two factors: one heat map per recorded species or rule variable, of its
    mean over the cells (nM, or its own unit) at each readout time
    (``readout_<variable>.png``)."""
    out = []
    times = list(result.times_h)
    for j, v in enumerate(result.variables):
        if v not in result.scenario.readouts.species:
            continue

        def mean(c: ConditionResult, t: float, j: int = j) -> float:
            return float(c.stats[0, j, times.index(t)])

        unit = "fraction" if "fraction" in v else "nM"
        out.append(_plot_matrix(result, pair, outdir / f"readout_{v}.png", mean,
                                f"{v} ({unit}), mean over cells", f"{result.scenario.name}: {v}"))
    return out


def _plot_matrix(result: ScenarioResult, pair: tuple[str, str], path: Path,
                 value, label: str, title: str, percent: bool = False) -> Path:
    """Heat maps of ``value(condition, t)`` on the grid of factors ``pair``, one panel per
    readout time; colour scale 0-100 for a percentage, else the data's range."""
    a, b = pair
    lists = result.scenario.dose_lists()
    da, db = sorted(set(lists[a])), sorted(set(lists[b]))
    times = result.scenario.time.readout_times()
    z = np.full((len(times), len(da), len(db)), np.nan)
    for c in result.conditions:
        i, j = da.index(c.doses_nM[a]), db.index(c.doses_nM[b])
        z[:, i, j] = [value(c, t) for t in times]
    fig, axes = _grid(len(times), panel_w=2.4, panel_h=2.3)
    cmap = plt.get_cmap("viridis")
    im = None
    if percent:
        vmin, vmax = 0.0, 100.0
    else:
        finite = z[np.isfinite(z)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scale = max(abs(vmin), abs(vmax))
    for ax, t, zt in zip(axes, times, z, strict=True):
        im = ax.imshow(np.ma.masked_invalid(zt.T), origin="lower", cmap=cmap, vmin=vmin,
                       vmax=vmax, aspect="auto")
        small = max(len(da), len(db)) > 6
        for i in range(len(da)):
            for j in range(len(db)):
                if np.isfinite(zt[i, j]) and len(da) * len(db) <= 64:
                    # other values: 2 digits, and "0" for what is 0 at the scale of the map
                    ax.text(i, j, f"{zt[i, j]:.0f}" if percent else
                            "0" if abs(zt[i, j]) < 5e-3 * scale else fmt_number(zt[i, j], 2),
                            ha="center", va="center", fontsize=5 if small else 7,
                            color="white" if zt[i, j] < (vmin + vmax) / 2 else "black")
        ax.set_xticks(range(len(da)), [fmt_number(d) for d in da], rotation=45, ha="right")
        ax.set_yticks(range(len(db)), [fmt_number(d) for d in db])
        ax.tick_params(labelsize=7)
        ax.set_title(f"{t:g} h", fontsize=9)
    fig.supxlabel(axis_label(result, a), fontsize=9)
    fig.supylabel(axis_label(result, b), fontsize=9)
    fig.colorbar(im, ax=list(axes), label=label, shrink=0.9)
    fig.suptitle(f"{title}\n({cell_counts(result)})", fontsize=9)
    save(fig, path)
    return path


def plot_death_times(result: ScenarioResult, path: Path) -> Path:
    """Cumulative fraction of live cells dead against time after treatment: small multiples
    (see :func:`panels`), each combination beside its single agents and the control."""
    chosen = panels(result)
    combos = bool(chosen[0][0])
    t_end = result.times_h[-1]
    grid = np.linspace(0, t_end, 300)
    fig, axes = _grid(len(chosen))
    for ax, (title, members) in zip(axes, chosen, strict=True):
        for i, color in zip(members, _line_colors(result, members, combos), strict=True):
            c = result.conditions[i]
            ok = c.live
            frac = ((ok[None, :] <= grid[:, None]).mean(axis=1) if ok.size
                    else np.full(grid.size, np.nan))
            ax.step(grid, frac, where="post", color=color, label=c.name,
                    **_line_style(result, c))
        ax.set_title(title, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, t_end)
    fig.supxlabel("time after treatment (h)", fontsize=9)
    fig.supylabel("fraction of live cells dead", fontsize=9)
    fig.suptitle(f"time to death ({cell_counts(result)})", fontsize=9)
    _legend(fig, axes, result, chosen, combos)
    save(fig, path)
    return path


def plot_dose_response(result: ScenarioResult, drug: str, fits: pd.DataFrame, path: Path, *,
                       series: dict[str, list[int]] | None = None) -> Path:
    """Apoptotic fraction vs dose (nM, log axis) with Hill fits at each readout time.

    ``fits``: :func:`~apopsim.report.doseresponse.fit_dose_response`; ``series``: the result's
    :func:`~apopsim.report.doseresponse.dose_series` when already known."""
    from apopsim.synergy.hill import hill

    idx = (dose_series(result) if series is None else series)[drug]
    conds = [result.conditions[i] for i in idx]
    d = np.array([c.doses_nM.get(drug, 0.0) for c in conds])
    pos = d[d > 0]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    grid = np.geomspace(pos.min() / 3, pos.max() * 3, 200)
    x0 = pos.min() / 10  # where to draw the 0 nM point on the log axis
    unit = result.factor_units().get(drug, "nM") or "model units"
    for k, t in enumerate(result.scenario.time.readout_times()):
        color = OKABE_ITO[(k + 1) % 8]
        f = np.array([c.apoptotic_fraction(t) for c in conds])
        err = np.clip(np.nan_to_num(np.abs(f[:, 1:].T - f[:, 0])), 0, None)
        dodge = 1.08 ** (k - 1)  # readout times side by side, so their intervals stay apart
        ax.errorbar(np.where(d > 0, d, x0) * dodge, f[:, 0], yerr=err,
                    fmt="o", ms=3, color=color, capsize=2, label=f"{t:g} h")
        row = fits[(fits.drug == drug) & (fits.time_h == t)]
        if len(row) and "ec50_nM" in row and np.isfinite(row["ec50_nM"].iloc[0]):
            r = row.iloc[0]
            ax.plot(grid, hill(grid, r.e0, r.emax, r.hill_slope, r.ec50_nM), color=color, lw=1.2)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    zero = (f"; 0 nM drawn at {fmt_number(x0)} nM" if unit == "nM" else
            f"; 0 drawn at {fmt_number(x0)}" if (d == 0).any() else "")
    ax.set(xlabel=f"{drug} ({unit}{zero})",
           ylabel="apoptotic fraction (of live cells)", ylim=(-0.02, 1.05),
           title=f"{drug}: dose-response ({cell_counts(result)})")
    ax.title.set_fontsize(8)
    ax.legend(frameon=False, fontsize=7, title="time after treatment", loc="upper left",
              bbox_to_anchor=(1.01, 1))
    save(fig, path)
    return path
