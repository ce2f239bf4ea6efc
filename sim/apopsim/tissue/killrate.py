"""The link from the cell model to the tumour: a kill hazard (1/h) as a function of the free
drug concentrations (nM).

Approach (stated, and an assumption of the tissue layer): a population of cells of the cell
model is pre-equilibrated and exposed to constant concentrations on a grid (every combination
of the drugs' grid values) for ``window_h``; the apoptotic fraction f observed at ``window_h``
gives the survival S(window_h) = 1 - f, and the hazard is the cell model's own hazard
``-d ln S / dt`` averaged over the window, ``k = -ln(1 - f) / window_h`` (1/h), minus the
untreated hazard.

Which window: the dosing interval (default of the study files, ``study.kill_window_h``). The
cell model's survival under constant drug does not decay at a constant rate: it falls in a
first wave of deaths and then plateaus (fractional killing; in bcl2_core and flt3_aml every
death falls within the first 24 h, none between 24 and 72 h). ``-ln S(W) / W`` therefore
scales as 1/W for any window W past the wave, and a fixed window (24 or 72 h) is an arbitrary
divisor of the kill. The tumour's regimen supplies the time scale: under the log-kill hypothesis
each dose kills the same fraction of the cells then alive (a proliferating tumour renews its
cells from the same distribution between doses; the cell model itself has no division), and
the fraction one dosing interval of exposure kills is 1 - S(interval). With the window equal to
the interval, the hazard integrated over one interval at a constant concentration is
``-ln S(interval)`` exactly, whatever the dosing frequency; a fixed 24 h window would count a
weekly dose's wave seven times, a fixed 72 h window a daily dose's wave one third. The
assumption this leaves: survivors are renewed (resensitised) within one dosing interval. At any
instant the tumour's hazard is the table interpolated at
the instantaneous free plasma concentrations (linearly in ``log(1 + C / 1 nM)``; values beyond
the grid are held at its edge).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Concentration scale (nM) of the interpolation variable ``log(1 + C / C_REF_NM)``.
C_REF_NM = 1.0
#: Most drugs one kill table covers: its cell-model run has the product of the grid sizes as
#: conditions (5 values per drug: 25 for two drugs, 125 for three), each ``n_cells`` cells.
MAX_DRUGS = 3


def _u(c: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(np.asarray(c, dtype=float), 0.0) / C_REF_NM)


@dataclass(frozen=True)
class KillTable:
    """Kill hazard (1/h) on a grid of free concentrations (nM).

    ``drugs``: drug names (one to :data:`MAX_DRUGS`); ``grid_nM``: one increasing grid per drug
    (starting at 0); ``hazard_per_h``: array of shape ``(len(grid_nM[0]), ...)``;
    ``fraction``: the apoptotic fraction behind each value (or NaN); ``window_h``: the exposure
    window.
    """

    drugs: tuple[str, ...]
    grid_nM: tuple[np.ndarray, ...]
    hazard_per_h: np.ndarray
    window_h: float = 24.0
    fraction: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.drugs) <= MAX_DRUGS or len(self.grid_nM) != len(self.drugs):
            raise ValueError(f"a kill table covers 1 to {MAX_DRUGS} drugs, one grid each")
        shape = tuple(len(g) for g in self.grid_nM)
        if self.hazard_per_h.shape != shape:
            raise ValueError(f"hazard table shape {self.hazard_per_h.shape} != grid {shape}")
        for g in self.grid_nM:
            if len(g) < 2 or g[0] != 0 or np.any(np.diff(g) <= 0):
                raise ValueError("each grid starts at 0 nM and increases (>= 2 values)")

    def __call__(self, conc_nM: Mapping[str, np.ndarray]) -> np.ndarray:
        """Hazard (1/h) at the given free concentrations (arrays of equal length, nM); a drug of
        the table missing from ``conc_nM`` is at 0 nM; drugs not in the table are ignored."""
        n = max((np.size(v) for v in conc_nM.values()), default=1)
        pts = [_u(np.broadcast_to(np.asarray(conc_nM.get(d, 0.0), dtype=float), (n,)))
               for d in self.drugs]
        from scipy.interpolate import RegularGridInterpolator

        axes = [_u(g) for g in self.grid_nM]
        pts = [np.clip(p, a[0], a[-1]) for p, a in zip(pts, axes, strict=True)]
        f = RegularGridInterpolator(axes, self.hazard_per_h, method="linear")
        return np.maximum(f(np.column_stack(pts)), 0.0)

    def to_frame(self):
        """Tidy table: one column per drug (``<drug>_nM``), ``hazard_per_h``, ``fraction``."""
        import pandas as pd

        mesh = np.meshgrid(*self.grid_nM, indexing="ij")
        data = {f"{d}_nM": m.ravel() for d, m in zip(self.drugs, mesh, strict=True)}
        data["hazard_per_h"] = self.hazard_per_h.ravel()
        frac = self.fraction if self.fraction is not None else np.full(mesh[0].shape, np.nan)
        data["fraction_dead_in_window"] = frac.ravel()
        return pd.DataFrame(data)

    @classmethod
    def from_frame(cls, df, window_h: float = 24.0) -> KillTable:
        """Inverse of :meth:`to_frame`."""
        drugs = tuple(c[:-3] for c in df.columns if c.endswith("_nM"))
        grids = tuple(np.unique(df[f"{d}_nM"].to_numpy(float)) for d in drugs)
        shape = tuple(len(g) for g in grids)
        order = df.sort_values([f"{d}_nM" for d in drugs])
        haz = order["hazard_per_h"].to_numpy(float).reshape(shape)
        frac = (order["fraction_dead_in_window"].to_numpy(float).reshape(shape)
                if "fraction_dead_in_window" in order else None)
        return cls(drugs, grids, haz, window_h, frac)


def hazard_from_fraction(fraction: np.ndarray, window_h: float, n_cells: int | None = None
                         ) -> np.ndarray:
    """Constant hazard (1/h) that kills ``fraction`` of cells in ``window_h``; a fraction of 1
    is capped at ``1 - 1/(2 n_cells)`` (or 0.999) so the hazard stays finite."""
    cap = 1.0 - 1.0 / (2 * n_cells) if n_cells else 0.999
    f = np.clip(np.asarray(fraction, dtype=float), 0.0, cap)
    return -np.log1p(-f) / window_h


def kill_table_from_cell_model(
    model: str,
    context: str | None,
    grid_nM: Mapping[str, Sequence[float]],
    *,
    n_cells: int = 50,
    cv: float = 0.25,
    window_h: float = 24.0,
    seed: int = 0,
    death_variable: str = "cleaved_PARP_fraction",
    death_threshold: float = 0.5,
    executor: str = "serial",
    progress: bool | None = False,
    parameters: Mapping[str, float] | None = None,
) -> KillTable:
    """Build a :class:`KillTable` by running a population of the cell model (``model`` in
    ``context``, with ``parameters`` overriding model parameters on top of the context, in the
    model's units) at every combination of the grid concentrations (nM) for ``window_h`` hours.

    The hazard of each condition is ``-ln(1 - f) / window_h`` minus that of the untreated cells
    (floored at 0), ``f`` the apoptotic fraction of cells alive at treatment start.
    """
    from apopsim.runner import run_scenario
    from apopsim.scenario import Scenario

    drugs = tuple(grid_nM)
    grids = tuple(np.array(sorted({0.0, *map(float, grid_nM[d])})) for d in drugs)
    spec = {
        "name": "kill_table",
        "model": model,
        "drugs": {d: [float(v) for v in g] for d, g in zip(drugs, grids, strict=True)},
        "design": "grid",
        "time": {"duration_h": float(window_h), "output_every_h": float(window_h) / 4,
                 "readout_times_h": [float(window_h)]},
        "readouts": {"species": [],
                     "death": {"variable": death_variable, "threshold": death_threshold}},
        "population": {"n_cells": int(n_cells), "cv": float(cv)},
        "execution": {"executor": executor},
        "seed": int(seed),
    }
    if context:
        spec["context"] = context
    if parameters:
        spec["overrides"] = {"parameters": {k: float(v) for k, v in parameters.items()}}
    result = run_scenario(Scenario.model_validate(spec), progress=progress)
    df = result.to_dataframe()
    col = [c for c in df.columns if c.startswith("apoptotic_fraction_")
           and not c.endswith(("_ci_low", "_ci_high"))][0]
    shape = tuple(len(g) for g in grids)
    frac = np.full(shape, np.nan)
    for _, row in df.iterrows():
        idx = tuple(int(np.argmin(np.abs(g - float(row[f"{d}_nM"]))))
                    for d, g in zip(drugs, grids, strict=True))
        frac[idx] = float(row[col])
    if np.isnan(frac).any():
        raise ValueError("the cell-model run did not cover every grid point")
    haz = hazard_from_fraction(frac, window_h, n_cells)
    haz = np.maximum(haz - haz[(0,) * len(drugs)], 0.0)
    return KillTable(drugs, grids, haz, float(window_h), frac)


def emax_kill_table(drugs: Sequence[str], grid_nM: Sequence[Sequence[float]],
                    kmax_per_h: float, ec50_nM: Sequence[float], bliss_excess: float = 0.0
                    ) -> KillTable:
    """A synthetic table for tests and illustrations: each drug's hazard is
    ``kmax * C / (C + EC50)``; the drugs (up to :data:`MAX_DRUGS`) combine by Bliss
    independence of the killed fractions per hour, plus ``bliss_excess`` times the product of
    the single-drug fractions."""
    grids = tuple(np.asarray(g, dtype=float) for g in grid_nM)
    mesh = np.meshgrid(*grids, indexing="ij")
    p = [1 - np.exp(-kmax_per_h * m / (m + e)) for m, e in zip(mesh, ec50_nM, strict=True)]
    both = np.prod(p, axis=0) if len(p) > 1 else 0.0
    killed = 1 - np.prod([1 - q for q in p], axis=0) + bliss_excess * both
    killed = np.clip(killed, 0, 1 - 1e-12)
    return KillTable(tuple(drugs), grids, -np.log1p(-killed), 1.0)


def log_grid(top_nM: float, n: int) -> list[float]:
    """``[0]`` plus ``n - 1`` log-spaced values up to ``top_nM`` (decades below it)."""
    if n < 2 or not top_nM > 0:
        raise ValueError("need n >= 2 and top_nM > 0")
    return [0.0, *(top_nM * 10.0 ** (-k) for k in range(n - 2, -1, -1))]


__all__ = ["C_REF_NM", "MAX_DRUGS", "KillTable", "emax_kill_table", "hazard_from_fraction",
           "kill_table_from_cell_model", "log_grid"]
