"""Survival margins: how far each synthesis rate can move before the untreated cell dies.

For a model in a cell context, every synthesis rate (``ksyn_*``, nM/h) is scaled alone, the
untreated cell (every drug at 0 nM) is pre-equilibrated from the model's initial amounts, and the
cell counts as dead when the death variable of its steady state exceeds the death threshold
(default: cleaved PARP fraction > 0.5, the scenarios' rule). The fold change at which the cell
first dies is located by bisection on a log scale, down (``fold_down`` < 1) and up
(``fold_up`` > 1), within ``[1/max_fold, max_fold]``. A margin that reaches the search bound is
reported as NaN (no death found within it). A cell whose pre-equilibration fails counts as not
surviving (it has no stable living state there).

    import apopsim.margins as m
    df = m.survival_margins("flt3_aml", "aml_flt3_wt")
    m.plot_margins(df, "margins.png")
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from apopsim.cell import untreated_parameters
from apopsim.engine import (
    CompiledModel,
    PreequilibrationOptions,
    SolverOptions,
    compile_model,
    preequilibrate,
    watched_values,
)
from apopsim.errors import ApopsimError
from apopsim.library import load_model
from apopsim.model import Model

#: The band of single-rate changes every shipped context must survive (fold).
SURVIVAL_BAND = (0.67, 1.5)


def synthesis_parameters(model: Model, pattern: str = "ksyn_*") -> list[str]:
    """Names of the model's synthesis-rate parameters (nM/h) matching ``pattern``, non-zero."""
    return [k for k, v in model.parameters.items()
            if fnmatch.fnmatchcase(k, pattern) and k not in model.drug_inputs and v > 0]


class UntreatedCell:
    """The untreated cell of one model (context applied), pre-equilibrated with parameter changes.

    ``UntreatedCell(model).survives({"ksyn_BIM": 30.0})`` pre-equilibrates the untreated cell
    (every drug at 0 nM) from the model's initial amounts with that change (model units) and tells
    whether its steady state is alive under the death rule.
    """

    def __init__(self, model: Model, death_variable: str = "cleaved_PARP_fraction",
                 threshold: float = 0.5, solver: SolverOptions | None = None,
                 preeq: PreequilibrationOptions | None = None) -> None:
        self.model = model
        self.cm: CompiledModel = compile_model(model)
        self.idx = self.cm.marker_index(death_variable)
        self.threshold = threshold
        self.solver = solver or SolverOptions(rtol=1e-8, atol=1e-10)
        self.preeq = preeq or PreequilibrationOptions()
        self.untreated = untreated_parameters(model)

    def steady_state(self, changes: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Untreated steady state (amounts) with ``changes`` (model units), and its parameter
        vector; raises :class:`ApopsimError` if pre-equilibration fails."""
        p = self.cm.param_vector({**changes, **self.untreated})
        y, _ = preequilibrate(self.cm, self.solver, np.array(self.model.initial), p,
                              self.preeq)
        return y, p

    def value(self, name: str, y: np.ndarray, p: np.ndarray) -> float:
        """Variable ``name`` (species nM, or a rule's value) of state ``y`` under ``p``."""
        return float(watched_values(self.cm, self.cm.marker_index(name), y[None, :], p)[0])

    def death_value(self, changes: dict[str, float]) -> float:
        """Death variable at the untreated steady state with ``changes`` (NaN if none found)."""
        try:
            y, p = self.steady_state(changes)
        except ApopsimError:
            return math.nan
        return float(watched_values(self.cm, self.idx, y[None, :], p)[0])

    def survives(self, changes: dict[str, float]) -> bool:
        """True if the untreated cell with ``changes`` reaches a living steady state."""
        v = self.death_value(changes)
        return bool(np.isfinite(v) and v <= self.threshold)


def log_bisect(dies: Callable[[float], bool], alive: float, dead: float, tol: float) -> float:
    """Bisection on a log scale between ``alive`` (where ``dies`` is False) and ``dead`` (where
    it is True), in either order, until the bracket is ``tol`` wide in log units; returns the
    bracket's geometric midpoint."""
    a, b = math.log(alive), math.log(dead)
    while abs(b - a) > tol:
        mid = 0.5 * (a + b)
        a, b = (a, mid) if dies(math.exp(mid)) else (mid, b)
    return math.exp(0.5 * (a + b))


def _bisect(cell: UntreatedCell, name: str, base: float, bound: float, tol: float) -> float:
    """Fold (towards ``bound``) at which the cell first dies; NaN if alive at ``bound``."""
    if cell.survives({name: base * bound}):
        return math.nan
    return log_bisect(lambda fold: not cell.survives({name: base * fold}), 1.0, bound, tol)


def survival_margins(
    model_name: str | os.PathLike[str],
    context: str | dict | None = None,
    parameters: Sequence[str] | None = None,
    *,
    max_fold: float = 20.0,
    rel_tol: float = 0.01,
    death_variable: str = "cleaved_PARP_fraction",
    threshold: float = 0.5,
    solver: SolverOptions | None = None,
    preequilibration: PreequilibrationOptions | None = None,
) -> pd.DataFrame:
    """Fold changes of single synthesis rates at which the untreated cell dies.

    Parameters
    ----------
    model_name
        Built-in model name or path (as :func:`apopsim.load_model`).
    context
        Cell context name (``models/contexts.yaml``) or dict, or None.
    parameters
        Parameters to scan (default: every non-zero ``ksyn_*``, nM/h).
    max_fold
        Search within ``[1/max_fold, max_fold]`` (dimensionless fold).
    rel_tol
        Relative precision of the located fold (bisection on log-fold).
    death_variable, threshold
        Death rule evaluated at the pre-equilibrated untreated steady state.

    Returns
    -------
    pandas.DataFrame
        One row per parameter: ``parameter``, ``value`` (the context's value, model units),
        ``fold_down`` (< 1) and ``fold_up`` (> 1), the folds at which the cell dies (NaN: alive
        over the whole search range in that direction).

    Raises
    ------
    ApopsimError
        If the nominal untreated cell itself is dead (it has no margin).
    """
    if max_fold <= 1:
        raise ValueError("max_fold must exceed 1")
    model = load_model(model_name, context)
    cell = UntreatedCell(model, death_variable, threshold, solver, preequilibration)
    if not cell.survives({}):
        raise ApopsimError(f"{model.name} ({context}): the nominal untreated cell is dead")
    names = list(parameters) if parameters is not None else synthesis_parameters(model)
    tol = math.log1p(rel_tol)
    rows = []
    for name in names:
        base = model.parameters[name]
        rows.append({"parameter": name, "value": base,
                     "fold_down": _bisect(cell, name, base, 1.0 / max_fold, tol),
                     "fold_up": _bisect(cell, name, base, max_fold, tol)})
    return pd.DataFrame(rows, columns=["parameter", "value", "fold_down", "fold_up"])


def plot_margins(df: pd.DataFrame, path: str | os.PathLike[str], *, title: str | None = None,
                 max_fold: float = 20.0) -> None:
    """Horizontal range plot of :func:`survival_margins` on a log fold axis.

    Each bar spans the folds over which the untreated cell survives (an arrow-less bar reaching
    the axis end means no death within ``[1/max_fold, max_fold]``); the 0.67-1.5 band every
    context must survive is shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df.iloc[::-1].reset_index(drop=True)
    lo = d["fold_down"].fillna(1.0 / max_fold).to_numpy()
    hi = d["fold_up"].fillna(max_fold).to_numpy()
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(d) + 1.4))
    ax.axvspan(*SURVIVAL_BAND, color="tab:green", alpha=0.15, lw=0,
               label=f"required {SURVIVAL_BAND[0]}-{SURVIVAL_BAND[1]}x")
    ax.hlines(range(len(d)), lo, hi, color="tab:blue", lw=5)
    for i, (a, b, fa, fb) in enumerate(zip(lo, hi, d["fold_down"], d["fold_up"])):
        if np.isfinite(fa):
            ax.plot(a, i, "|", color="tab:red", ms=12, mew=2)
        if np.isfinite(fb):
            ax.plot(b, i, "|", color="tab:red", ms=12, mew=2)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(1.0 / max_fold / 1.2, max_fold * 1.2)
    ax.set_yticks(range(len(d)), d["parameter"])
    ax.plot([], [], "|", color="tab:red", ms=10, mew=2, label="untreated cell dies")
    ax.plot([], [], color="tab:blue", lw=5, label="survives")
    ax.set_xlabel("fold change of one synthesis rate")
    ax.set_title(title or "survival margins")
    fig.tight_layout()
    ax_h_in = ax.get_position().height * fig.get_figheight()  # legend 0.55 in below the axis
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55 / ax_h_in), ncol=3, fontsize=8,
              frameon=False)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
