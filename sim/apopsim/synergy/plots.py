"""Publication-ready, colour-blind-safe figures for synergy analyses.

All functions take a :class:`~apopsim.synergy.analysis.BlockResult` (or summary tables), write a
PNG through :func:`apopsim.report.style.save` inside the shared
:func:`apopsim.report.style.style`, and return the path.  Matrix plots put drug 1 on the x axis
and drug 2 on the y axis, on an evenly spaced dose-index grid labelled with the doses in the
data's concentration unit.  Responses use the perceptually uniform ``RESPONSE_CMAP``
(viridis); synergy scores use the diverging ``SYNERGY_CMAP`` (blue = antagonism, red =
synergy) centred on 0; lines use the Okabe–Ito palette.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from scipy.interpolate import RegularGridInterpolator

from apopsim.report.style import OKABE_ITO, RESPONSE_CMAP, SYNERGY_CMAP, fmt_number, save, style

from .methods import level_label, most_synergistic_area

METHOD_LABELS = {"bliss": "Bliss", "hsa": "HSA", "loewe": "Loewe", "zip": "ZIP"}
#: Okabe–Ito colours for lines, without the yellow (too little contrast on white).
LINE_COLORS = [OKABE_ITO[i] for i in (5, 6, 1, 3, 7, 2, 0)]
SCORE_UNIT = "percentage points of inhibition"
PathLike = str | os.PathLike[str]


#: The most synergistic area (MSA) is a 3 x 3 window of combination doses; it, and the 3-D
#: surface, are drawn only for grids with at least this many non-zero doses of each drug.
MIN_NONZERO_DOSES = 3


class NotApplicable(ValueError):
    """A figure that the design of a block does not support (e.g. a surface of a 2 x 2 grid)."""


def full_grid(block, n: int = MIN_NONZERO_DOSES) -> bool:
    """Whether each drug of ``block`` has at least ``n`` non-zero doses."""
    m = block.matrix
    return int(np.sum(m.dose1 > 0)) >= n and int(np.sum(m.dose2 > 0)) >= n


def _fmt_dose(d: float) -> str:
    return fmt_number(d)


def _axis_label(drug: str, unit: str) -> str:
    return f"{drug} ({unit})" if unit else drug


def _index_axes(ax, block) -> None:
    m = block.matrix
    ax.set_xticks(range(m.dose1.size), [_fmt_dose(d) for d in m.dose1], rotation=45, ha="right")
    ax.set_yticks(range(m.dose2.size), [_fmt_dose(d) for d in m.dose2])
    ax.set_xlabel(_axis_label(block.drug1, block.unit1))
    ax.set_ylabel(_axis_label(block.drug2, block.unit2))


def _annotate(ax, values: np.ndarray, norm, cmap, fmt: str = "{:.0f}") -> None:
    """Write cell values, in black or white for contrast with the cell colour."""
    cm = plt.get_cmap(cmap)
    n1, n2 = values.shape
    if n1 * n2 > 144:
        return
    size = 7 if max(n1, n2) <= 8 else 5
    for i in range(n1):
        for j in range(n2):
            v = values[i, j]
            if not np.isfinite(v):
                continue
            r, g, b, _ = cm(norm(v))
            lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
            ax.text(
                i,
                j,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=size,
                color="white" if lum < 0.5 else "black",
            )


def _plain_log_axis(axis) -> None:
    """Log axis labelled with plain numbers (0.5, 1, 2, 1000) instead of powers of ten."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v)))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _title(block, text: str) -> str:
    return f"{text}\n{block.drug1} + {block.drug2} (block {block.block_id})"


def plot_response_matrix(block, path: PathLike) -> Path:
    """Heat map of the mean inhibition (%) on the dose grid."""
    m = block.matrix
    z = 100.0 * m.mean
    with style():
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
        finite = z[np.isfinite(z)]
        vmin, vmax = min(0.0, finite.min()), max(100.0, finite.max())
        norm = plt.Normalize(vmin, vmax)
        im = ax.imshow(
            np.ma.masked_invalid(z.T), origin="lower", cmap=RESPONSE_CMAP, norm=norm, aspect="auto"
        )
        _annotate(ax, z, norm, RESPONSE_CMAP)
        _index_axes(ax, block)
        fig.colorbar(im, ax=ax, label="Inhibition (%)")
        ax.set_title(_title(block, "Dose–response matrix (mean inhibition)"))
        save(fig, path)
    return Path(path)


def _score_norm(score: np.ndarray) -> TwoSlopeNorm:
    finite = score[np.isfinite(score)]
    lim = float(np.max(np.abs(finite))) if finite.size else 1.0
    lim = max(lim, 1e-9)
    return TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)


def _msa_patch(where, shape: tuple[int, int]) -> Rectangle:
    """Outline of the MSA window (half-open index ranges), clipped to the ``shape`` grid and
    inset so that its line stays inside the grid's cells."""
    i0, i1, j0, j1 = where
    i0, j0 = max(i0, 0), max(j0, 0)
    i1, j1 = min(i1, shape[0]), min(j1, shape[1])
    inset = 0.06
    return Rectangle(
        (i0 - 0.5 + inset, j0 - 0.5 + inset),
        i1 - i0 - 2 * inset,
        j1 - j0 - 2 * inset,
        fill=False,
        lw=1.8,
        ec="black",
        ls="--",
        label="most synergistic area (3 × 3 doses)",
    )


def _draw_msa(ax, block, score: np.ndarray) -> None:
    """Outline the most synergistic area (only on grids of >= 3 x 3 non-zero doses), with its
    legend entry below the axes."""
    if not full_grid(block):
        return
    _, where = most_synergistic_area(score, block.matrix.combination)
    if where is not None:
        ax.add_patch(_msa_patch(where, score.shape))
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.24), frameon=False)


def _score_title(block, method: str) -> str:
    res = block.scores[method]
    comb = block.matrix.combination
    v = res.score[comb]
    v = v[np.isfinite(v)]
    mean = float(v.mean()) if v.size else float("nan")
    extra = f", {res.extra['variant']}" if method == "zip" else ""
    text = f"{METHOD_LABELS[method]}{extra} synergy: mean {mean:.2f}"
    if full_grid(block):
        msa, _ = most_synergistic_area(res.score, comb)
        text += f", MSA {msa:.2f}"
    return _title(block, text + " pp")


def plot_synergy_heatmap(block, method: str, path: PathLike) -> Path:
    """Heat map of a synergy score with the most synergistic 3x3 area outlined (grids of at least
    3 x 3 non-zero doses)."""
    score = block.scores[method].score
    norm = _score_norm(score)
    with style():
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
        im = ax.imshow(
            np.ma.masked_invalid(score.T),
            origin="lower",
            cmap=SYNERGY_CMAP,
            norm=norm,
            aspect="auto",
        )
        _annotate(ax, score, norm, SYNERGY_CMAP, "{:.1f}")
        _draw_msa(ax, block, score)
        _index_axes(ax, block)
        fig.colorbar(im, ax=ax, label=f"{METHOD_LABELS[method]} score\n({SCORE_UNIT}; > 0 synergy)")
        ax.set_title(_score_title(block, method))
        save(fig, path)
    return Path(path)


def _smooth_grid(score: np.ndarray, factor: int = 8):
    """Interpolate an index-grid score matrix on a finer grid for contouring.

    Cubic when each axis has >= 4 doses and every well is measured, linear otherwise (no
    smoothing at all when wells are missing: NaN cells stay masked).
    """
    n1, n2 = score.shape
    x, y = np.arange(n1, dtype=float), np.arange(n2, dtype=float)
    if not np.isfinite(score).all() or min(n1, n2) < 2:
        return x, y, score
    method = "cubic" if min(n1, n2) >= 4 else "linear"
    interp = RegularGridInterpolator((x, y), score, method=method)
    xf = np.linspace(0, n1 - 1, (n1 - 1) * factor + 1)
    yf = np.linspace(0, n2 - 1, (n2 - 1) * factor + 1)
    xx, yy = np.meshgrid(xf, yf, indexing="ij")
    return xf, yf, interp(np.stack([xx.ravel(), yy.ravel()], axis=1)).reshape(xx.shape)


def plot_synergy_contour(block, method: str, path: PathLike) -> Path:
    """Filled contour map of a synergy score (dose-index grid, interpolated) with the most
    synergistic area outlined."""
    m = block.matrix
    score = block.scores[method].score
    norm = _score_norm(score)
    x, y, zz = _smooth_grid(score)
    with style():
        fig, ax = plt.subplots(figsize=(4.6, 3.8))
        z = np.ma.masked_invalid(zz.T)
        levels = MaxNLocator(nbins=14, symmetric=True).tick_values(norm.vmin, norm.vmax)
        cs = ax.contourf(x, y, z, levels=levels, cmap=SYNERGY_CMAP, norm=norm, extend="both")
        ax.contour(x, y, z, levels=[0.0], colors="0.3", linewidths=0.8)
        _draw_msa(ax, block, score)
        _index_axes(ax, block)
        ax.set_xlim(-0.5, m.dose1.size - 0.5)
        ax.set_ylim(-0.5, m.dose2.size - 0.5)
        fig.colorbar(cs, ax=ax, label=f"{METHOD_LABELS[method]} score\n({SCORE_UNIT}; > 0 synergy)")
        ax.set_title(_score_title(block, method))
        save(fig, path)
    return Path(path)


def plot_synergy_surface(block, method: str, path: PathLike) -> Path:
    """3-D surface of a synergy score over the dose-index grid (unmeasured wells drawn at 0).

    Raises
    ------
    NotApplicable
        For grids with fewer than 3 non-zero doses of a drug (a surface of a 2 x 2 grid shows
        nothing a heat map does not).
    """
    if not full_grid(block):
        raise NotApplicable(
            f"a 3-D surface needs >= {MIN_NONZERO_DOSES} non-zero doses of each drug"
        )
    m = block.matrix
    score = block.scores[method].score
    norm = _score_norm(score)
    xi, yi = np.meshgrid(np.arange(m.dose1.size), np.arange(m.dose2.size), indexing="ij")
    z = np.nan_to_num(score, nan=0.0)
    with style():
        fig = plt.figure(figsize=(5.2, 4.4))
        ax = fig.add_subplot(projection="3d")
        surf = ax.plot_surface(
            xi,
            yi,
            z,
            cmap=SYNERGY_CMAP,
            norm=norm,
            edgecolor="0.4",
            linewidth=0.3,
            antialiased=True,
        )
        ax.set_xticks(range(m.dose1.size), [_fmt_dose(d) for d in m.dose1], fontsize=6)
        ax.set_yticks(range(m.dose2.size), [_fmt_dose(d) for d in m.dose2], fontsize=6)
        ax.set_xlabel(_axis_label(block.drug1, block.unit1))
        ax.set_ylabel(_axis_label(block.drug2, block.unit2))
        ax.set_zlabel(f"{METHOD_LABELS[method]} (pp)")
        fig.colorbar(
            surf,
            ax=ax,
            shrink=0.6,
            pad=0.12,
            label=f"{METHOD_LABELS[method]} score ({SCORE_UNIT}; > 0 synergy)",
        )
        ax.set_title(_score_title(block, method))
        save(fig, path)
    return Path(path)


def _zero_position(doses: np.ndarray) -> float:
    pos = doses[doses > 0]
    if pos.size == 0:
        return 1.0
    span = pos.max() / pos.min() if pos.size > 1 else 100.0
    return float(pos.min() / max(span ** (1.0 / max(pos.size - 1, 1)), 3.0))


def _log_ticks(zero: float, pos: np.ndarray, right: float) -> tuple[list, list]:
    """Ticks for a log dose axis with the zero dose drawn at ``zero``: decades, or the tested
    doses when fewer than two decades fit."""
    if pos.size == 0:
        return [zero], ["0"]
    lo = pos.min() / 1.2
    decades = [
        10.0**k for k in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(right))) + 1)
    ]
    ticks = [t for t in decades if lo <= t <= right]
    if len(ticks) < 2:
        ticks = list(np.unique(pos))
    return [zero, *ticks], ["0", *(fmt_number(t) for t in ticks)]


def plot_single_drug_curves(block, path: PathLike) -> Path:
    """Monotherapy responses (all replicates) with the fitted Hill curves and EC50s."""
    m = block.matrix
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.2), sharey=True, layout="constrained")
        for k, ax in enumerate(axes, start=1):
            d, y = m.margin_points(k)
            drug = block.drug1 if k == 1 else block.drug2
            unit = block.unit1 if k == 1 else block.unit2
            zero = _zero_position(d)
            xd = np.where(d > 0, d, zero)
            color = LINE_COLORS[k - 1]
            ax.scatter(xd, 100 * y, s=14, color=color, alpha=0.8, label="measured", zorder=3)
            ax.set_xscale("log")
            if block.hill is not None:
                f = block.hill[k - 1]
                pos = d[d > 0]
                grid = np.geomspace(pos.min() / 3, pos.max() * 3, 200)
                ax.plot(
                    grid,
                    100 * f(grid),
                    color="black",
                    lw=1.2,
                    label=f"Hill fit (EC50 {fmt_number(f.ec50)} {unit}, h {f.h:.2g}, "
                    f"Emax {100 * f.emax:.0f}%)",
                )
                if grid[0] <= f.ec50 <= grid[-1]:
                    ax.axvline(f.ec50, color="0.5", ls=":", lw=1)
            elif block.ci is not None and np.isfinite(block.ci.fits[k - 1].m):
                me = block.ci.fits[k - 1]
                pos = d[d > 0]
                grid = np.geomspace(pos.min() / 3, pos.max() * 3, 200)
                ax.plot(grid, 100 * me.fa(grid), color="black", lw=1.2, ls="--",
                        label=f"median-effect fit (Dm {fmt_number(me.dm)} {unit}, "
                        f"m {me.m:.2g})")  # fmt: skip
            pos = d[d > 0]
            right = (pos.max() if pos.size else zero) * 3.2
            ax.set_xlim(zero / 1.6, right)
            ax.set_xticks(*_log_ticks(zero, pos, right), minor=False)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.axhline(0, color="0.7", lw=0.6)
            ax.set_xlabel(_axis_label(drug, unit))
            ax.set_title(f"{drug} alone")
            ax.legend(frameon=False, loc="upper left", fontsize=7)
        axes[0].set_ylabel("Inhibition (%)")
        fig.suptitle(f"Single-drug dose–response (block {block.block_id})")
        save(fig, path)
    return Path(path)


def _dose_for_effect(block, drug: int, x: float) -> float:
    if block.hill is not None:
        return float(block.hill[drug - 1].inverse(x))
    if block.ci is not None:
        return float(block.ci.fits[drug - 1].dose(x))
    return float("nan")


def plot_isobologram(block, path: PathLike, levels: Sequence[float] = (0.5, 0.75, 0.9)) -> Path:
    """Isobolograms at the given effect levels.

    Left: classic isobologram in linear doses — Loewe additivity lines from ``(Dx1, 0)`` to
    ``(0, Dx2)`` (single-drug doses for effect x from the Hill fits, or the median-effect fits
    when no Hill fit is available; omitted beyond a drug's Emax or 3x its top tested dose) and
    the measured isoboles (contours of the mean response); measured isoboles below the line
    indicate synergy.
    Right (when the CI was computed): CompuSyn's normalised isobologram, each combination well
    at ``(d1/Dx1, d2/Dx2)`` for its observed effect; points below the diagonal are synergistic.
    """
    m = block.matrix
    has_ci = block.ci is not None
    with style():
        fig, axes = plt.subplots(
            1, 2 if has_ci else 1, figsize=(8.0 if has_ci else 4.2, 3.8), layout="constrained"
        )
        axes = np.atleast_1d(axes)
        ax = axes[0]
        xmax, ymax = m.dose1.max(), m.dose2.max()
        z = np.ma.masked_invalid(m.mean.T)
        handles = []
        reach_x, reach_y, unreachable = [], [], []
        for k, x in enumerate(levels):
            color = LINE_COLORS[k % len(LINE_COLORS)]
            a, b = _dose_for_effect(block, 1, x), _dose_for_effect(block, 2, x)
            # additive isoboles beyond 3x the top tested dose are extrapolations: not drawn
            if np.isfinite(a) and np.isfinite(b) and a <= 3 * xmax and b <= 3 * ymax:
                (h,) = ax.plot([a, 0], [0, b], ls="--", color=color, label=f"additive {100 * x:g}%")
                handles.append(h)
                reach_x.append(a)
                reach_y.append(b)
            else:
                unreachable.append(f"{100 * x:g}%")
            if m.dose1.size >= 2 and m.dose2.size >= 2 and np.nanmin(z) < x < np.nanmax(z):
                cs = ax.contour(m.dose1, m.dose2, z, levels=[x], colors=[color], linewidths=1.5)
                if cs.allsegs and any(len(s) for s in cs.allsegs[0]):
                    handles.append(
                        plt.Line2D([], [], color=color, lw=1.5, label=f"measured {100 * x:g}%")
                    )
        # Zoom on the additive isoboles (linear axes are dominated by the top doses otherwise).
        if reach_x:
            xmax = 1.5 * max(reach_x)
            ymax = 1.5 * max(reach_y)
        ax.set_xlim(0, xmax * 1.05)
        ax.set_ylim(0, ymax * 1.05)
        if unreachable:
            handles.append(
                plt.Line2D(
                    [],
                    [],
                    ls="none",
                    label="no additive isobole at "
                    + ", ".join(unreachable)
                    + "\n(beyond a drug's Emax or 3x its top dose)",
                )
            )
        ax.set_xlabel(_axis_label(block.drug1, block.unit1))
        ax.set_ylabel(_axis_label(block.drug2, block.unit2))
        ax.set_title("Isobologram (Loewe additivity)")
        if handles:
            ax.legend(handles=handles, frameon=False, fontsize=7)
        if has_ci:
            ax2 = axes[1]
            ci = block.ci
            fa = m.mean
            with np.errstate(divide="ignore", invalid="ignore"):
                nx = m.dose1[:, None] / ci.fits[0].dose(fa)
                ny = m.dose2[None, :] / ci.fits[1].dose(fa)
            ok = m.combination & np.isfinite(nx) & np.isfinite(ny)
            sc = ax2.scatter(
                nx[ok],
                ny[ok],
                c=100 * fa[ok],
                cmap=RESPONSE_CMAP,
                s=18,
                vmin=0,
                vmax=100,
                edgecolor="0.2",
                linewidth=0.3,
            )
            lim = max(1.2, float(np.nanmax(np.r_[nx[ok], ny[ok], 0.0])) * 1.05)
            lim = min(lim, 5.0)
            ax2.plot([1, 0], [0, 1], color="black", lw=1, label="additivity (CI = 1)")
            ax2.set_xlim(0, lim)
            ax2.set_ylim(0, lim)
            ax2.set_xlabel(f"d1 / Dx1 (normalised dose of {block.drug1})")
            ax2.set_ylabel(f"d2 / Dx2 (normalised dose of {block.drug2})")
            ax2.set_title("Normalised isobologram (Chou–Talalay)")
            ax2.legend(frameon=False, fontsize=7, loc="upper right")
            fig.colorbar(sc, ax=ax2, label="Observed inhibition (%)")
        fig.suptitle(f"{block.drug1} + {block.drug2} (block {block.block_id})")
        save(fig, path)
    return Path(path)


def plot_fa_ci(block, path: PathLike) -> Path:
    """Fa–CI (Chou–Talalay) plot: per-well CI against the observed fraction affected, and the
    CI(fa) curves of the constant-ratio rays."""
    ci = block.ci
    m = block.matrix
    with style():
        fig, ax = plt.subplots(figsize=(4.6, 3.6))
        ok = m.combination & np.isfinite(ci.ci) & (ci.ci > 0)
        ax.scatter(
            m.mean[ok], ci.ci[ok], s=16, color=OKABE_ITO[0], label="wells (observed fa)", zorder=3
        )
        fa = np.linspace(0.02, 0.98, 200)
        me1, me2 = ci.fits
        for k, row in enumerate(ci.rays.itertuples(index=False)):
            if not (np.isfinite(row.m) and row.m > 0):
                continue
            p1 = row.ratio / (1.0 + row.ratio)
            with np.errstate(divide="ignore", invalid="ignore"):
                dmix = row.dm * (fa / (1 - fa)) ** (1.0 / row.m)
                curve = p1 * dmix / me1.dose(fa) + (1 - p1) * dmix / me2.dose(fa)
            color = LINE_COLORS[k] if k < len(LINE_COLORS) else "0.6"
            label = f"ray {block.drug1}:{block.drug2} = {fmt_number(row.ratio)}" if k < 7 else None
            ax.plot(fa, curve, color=color, lw=1.2, label=label)
        ax.axhline(1.0, color="black", ls="--", lw=0.8)
        ax.set_yscale("log")
        _plain_log_axis(ax.yaxis)
        ax.set_xlim(0, 1)
        ax.set_xlabel("Fraction affected, fa (inhibition)")
        ax.set_ylabel("Combination index (CI < 1 synergy)")
        ax.set_title(_title(block, "Fa–CI plot (Chou–Talalay)"))
        ax.legend(frameon=False, fontsize=6)
        save(fig, path)
    return Path(path)


def _ratio_groups(m) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ii, jj = np.nonzero(m.combination)
    ratio = m.dose1[ii] / m.dose2[jj]
    key = np.round(np.log(ratio), 9)
    return ii, jj, key


def plot_synergy_vs_ratio(block, path: PathLike) -> Path:
    """Mean synergy over the combination wells of each dose ratio ``d1:d2`` (constant-ratio
    rays); CI on a log axis when computed."""
    m = block.matrix
    ii, jj, key = _ratio_groups(m)
    uniq = np.unique(key)
    ratios = np.exp(uniq)
    has_ci = block.ci is not None
    methods = [k for k in METHOD_LABELS if k in block.scores]
    ncols = int(bool(methods)) + int(has_ci)
    with style():
        fig, axes = plt.subplots(
            1, max(ncols, 1), figsize=(4.0 * max(ncols, 1), 3.4), layout="constrained"
        )
        axes = list(np.atleast_1d(axes))
        if methods:
            ax = axes.pop(0)
            for n, k in enumerate(methods):
                s = block.scores[k].score[ii, jj]
                means = [
                    np.nanmean(s[key == u]) if np.isfinite(s[key == u]).any() else np.nan
                    for u in uniq
                ]
                ax.plot(
                    ratios,
                    means,
                    marker="o",
                    ms=3,
                    color=LINE_COLORS[n % len(LINE_COLORS)],
                    label=METHOD_LABELS[k],
                )
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set_xscale("log")
            _plain_log_axis(ax.xaxis)
            ax.set_xlabel(f"Dose ratio {block.drug1}:{block.drug2} ({block.unit1}/{block.unit2})")
            ax.set_ylabel(f"Mean score ({SCORE_UNIT})")
            ax.set_title("Synergy versus dose ratio")
            ax.legend(frameon=False, fontsize=7)
        if has_ci:
            ax = axes.pop(0)
            c = block.ci.ci[ii, jj]
            means = [
                np.exp(np.nanmean(np.log(c[key == u])))
                if np.isfinite(c[key == u]).any()
                else np.nan
                for u in uniq
            ]
            ax.plot(ratios, means, marker="o", ms=3, color="black", label="wells (geo. mean)")
            rays = block.ci.rays
            for k, x in enumerate(block.ci.effect_levels):
                col = f"ci_{level_label(x)}"
                if len(rays) and col in rays:
                    ax.plot(
                        rays["ratio"],
                        rays[col],
                        ls="",
                        marker="s",
                        ms=3,
                        color=LINE_COLORS[k % len(LINE_COLORS)],
                        label=f"CI at {100 * x:g}%",
                    )
            shown = np.r_[np.asarray(means, float), *(ln.get_ydata() for ln in ax.get_lines())]
            ax.axhline(1, color="0.5", lw=0.8, ls="--")
            ax.set_xscale("log")
            _plain_log_axis(ax.xaxis)
            if np.any(np.isfinite(shown) & (shown > 0)):
                ax.set_yscale("log")
                _plain_log_axis(ax.yaxis)
            else:  # no combination well has a CI (e.g. no partial single-drug effect to fit)
                if ratios.size:
                    ax.set_xlim(ratios.min() / 1.5, ratios.max() * 1.5)
                ax.text(0.5, 0.5, "CI not computable", transform=ax.transAxes, ha="center",
                        va="center", fontsize=7, color="0.4")
            ax.set_xlabel(f"Dose ratio {block.drug1}:{block.drug2} ({block.unit1}/{block.unit2})")
            ax.set_ylabel("Combination index (CI < 1 synergy)")
            ax.set_title("CI versus dose ratio")
            ax.legend(frameon=False, fontsize=7)
        fig.suptitle(f"{block.drug1} + {block.drug2} (block {block.block_id})")
        save(fig, path)
    return Path(path)


def plot_synergy_vs_time(
    summaries_by_time: Mapping[float, pd.DataFrame],
    path: PathLike,
    *,
    methods: Sequence[str] | None = None,
    time_unit: str = "h",
) -> Path:
    """Block-mean synergy against readout time, one panel per method and one line per block.

    Parameters
    ----------
    summaries_by_time
        ``{time: summary}`` where each summary is a :attr:`SynergyResult.summary` table.
    path
        Output PNG.
    methods
        Subset of ``bliss, hsa, loewe, zip, ci, musyc`` (default: those present).  ``ci`` plots
        the block-mean CI (log axis), ``musyc`` plots beta with its bootstrap interval.
    time_unit
        Unit label of the time axis.
    """
    times = sorted(summaries_by_time)
    if not times:
        raise ValueError("no summaries given")
    frames = []
    for t in times:
        s = summaries_by_time[t].copy()
        s["_time"] = float(t)
        frames.append(s)
    allsum = pd.concat(frames, ignore_index=True)
    candidates = ["bliss", "hsa", "loewe", "zip", "ci", "musyc"]
    present = {
        "musyc": "musyc_beta" in allsum,
        **{k: k in allsum for k in candidates if k != "musyc"},
    }
    chosen = [k for k in (methods or candidates) if present.get(k)]
    if not chosen:
        raise ValueError("the summaries contain none of the requested methods")
    n = len(chosen)
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    with style():
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False, layout="constrained"
        )
        for ax, k in zip(axes.ravel(), chosen, strict=False):
            for b, (block_id, grp) in enumerate(allsum.groupby("block_id", sort=False)):
                grp = grp.sort_values("_time")
                color = LINE_COLORS[b % len(LINE_COLORS)]
                label = f"{grp['drug1'].iloc[0]} + {grp['drug2'].iloc[0]} ({block_id})"
                if k == "musyc":
                    yv = grp["musyc_beta"].to_numpy(dtype=float)
                    lo = grp.get("musyc_beta_lo", pd.Series(np.nan, index=grp.index))
                    hi = grp.get("musyc_beta_hi", pd.Series(np.nan, index=grp.index))
                    err = np.vstack([yv - lo.to_numpy(float), hi.to_numpy(float) - yv])
                    err = np.where(np.isfinite(err), np.abs(err), 0.0)
                    ax.errorbar(
                        grp["_time"],
                        yv,
                        yerr=err,
                        marker="o",
                        ms=3,
                        color=color,
                        capsize=2,
                        label=label,
                    )
                else:
                    ax.plot(grp["_time"], grp[k], marker="o", ms=3, color=color, label=label)
            if k == "ci":
                ax.set_yscale("log")
                _plain_log_axis(ax.yaxis)
                ax.axhline(1, color="0.5", ls="--", lw=0.8)
                ax.set_ylabel("Mean CI (CI < 1 synergy)")
                ax.set_title("Combination index")
            elif k == "musyc":
                ax.axhline(0, color="0.5", lw=0.8)
                ax.set_ylabel("MuSyC beta (> 0 synergy)")
                ax.set_title("MuSyC efficacy (beta)")
            else:
                ax.axhline(0, color="0.5", lw=0.8)
                ax.set_ylabel(f"Mean {METHOD_LABELS[k]} (pp inhibition)")
                title = METHOD_LABELS[k]
                if k == "zip" and "zip_variant" in allsum:
                    title += f" ({allsum['zip_variant'].dropna().iloc[0]})"
                ax.set_title(title)
            ax.set_xlabel(f"Time ({time_unit})")
            if not any(np.isfinite(ln.get_ydata()).any() for ln in ax.get_lines()[:-1]):
                # nothing computable (e.g. no partial single-drug effect for a CI fit)
                ax.set_xlim(min(times) - 1, max(times) + 1)
                ax.text(0.5, 0.5, "not computable at any time\n(summary.csv: skipped_methods)",
                        transform=ax.transAxes, ha="center", va="center", fontsize=7,
                        color="0.4")
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        blocks = allsum["block_id"].unique()
        title = "Synergy versus time (block means over combination wells)"
        if len(blocks) == 1:
            first = allsum.iloc[0]
            title += f"\n{first['drug1']} + {first['drug2']} (block {blocks[0]})"
        else:
            handles, labels = axes.ravel()[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", frameon=False, fontsize=7,
                       ncols=min(len(labels), 3))
        fig.suptitle(title)
        save(fig, path)
    return Path(path)
