"""Helpers shared by the apopsim.synergy tests (synthetic dose grids and frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def grid(c1: float = 40.0, c2: float = 4.0, n: int = 7, span: float = 1.5):
    """Checkerboard doses: 0 plus ``n`` log-spaced doses around each EC50, as long arrays."""
    d1u = np.r_[0.0, c1 * np.logspace(-span, span, n)]
    d2u = np.r_[0.0, c2 * np.logspace(-span, span, n)]
    d1, d2 = np.meshgrid(d1u, d2u, indexing="ij")
    return d1.ravel(), d2.ravel()


def to_frame(d1, d2, inhibition, block="b1", replicate=None, unit="nM"):
    """Tidy frame in SynergyFinder layout with *viability percent* responses."""
    frame = pd.DataFrame(
        {
            "block_id": block,
            "drug1": "DrugA",
            "drug2": "DrugB",
            "conc1": d1,
            "conc2": d2,
            "response": 100.0 * (1.0 - np.asarray(inhibition)),
            "conc_unit": unit,
        }
    )
    if replicate is not None:
        frame["replicate"] = replicate
    return frame
