"""Shared matplotlib style for publication-ready, colour-blind-safe figures (scenario figures in
:mod:`apopsim.report.figures` and synergy figures in :mod:`apopsim.synergy.plots`)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402

#: Okabe–Ito palette (colour-blind safe), in the order used for conditions/series.
OKABE_ITO = [
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
]

#: Diverging colour map for synergy scores (blue = antagonism, red = synergy), colour-blind safe.
SYNERGY_CMAP = "RdBu_r"
#: Sequential colour map for responses (perceptually uniform, colour-blind safe).
RESPONSE_CMAP = "viridis"

#: Largest saved figure width in pixels; :func:`save` lowers the resolution (not below
#: ``MIN_DPI``) of a wider figure.
MAX_WIDTH_PX = 2400
MIN_DPI = 150

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
}


def style():
    """Context manager applying apopsim's figure style: ``with style(): ...``."""
    return plt.rc_context(STYLE)


def fmt_number(x: float, sig: int = 3) -> str:
    """``x`` as a plain number with at most ``sig`` significant digits: 1000 -> "1000",
    0.067 -> "0.067", 2.5e5 -> "250000" (never "1e+03")."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    digits = sig - 1 - math.floor(math.log10(abs(x)))
    r = round(x, digits)
    if digits <= 0:
        return str(int(r))
    return f"{r:.{digits}f}".rstrip("0").rstrip(".")


def fmt_dose(x: float, unit: str = "nM") -> str:
    """A dose with its unit, e.g. ``"1000 nM"``, ``"0.067 nM"``."""
    return f"{fmt_number(x)} {unit}".strip()


def save(fig, path) -> None:
    """Save ``fig`` as PNG (300 dpi, lowered to keep it at most ``MAX_WIDTH_PX`` wide, never
    below ``MIN_DPI``) and close it."""
    dpi = float(plt.rcParams["savefig.dpi"]) if plt.rcParams["savefig.dpi"] != "figure" else 300
    fig.draw_without_rendering()  # runs the layout engine, so the tight box is final
    pad = plt.rcParams["savefig.pad_inches"]
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * float(pad) + 0.05
    if width_in * dpi > MAX_WIDTH_PX:
        dpi = max(MIN_DPI, MAX_WIDTH_PX / width_in)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
