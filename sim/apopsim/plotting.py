"""Shared matplotlib style for publication-ready, colour-blind-safe figures."""

from __future__ import annotations

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


def save(fig, path) -> None:
    """Save ``fig`` as PNG (300 dpi) and close it."""
    fig.savefig(path)
    plt.close(fig)
