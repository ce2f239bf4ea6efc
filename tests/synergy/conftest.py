"""Shared fixtures for the apopsim.synergy tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:  # the package is normally installed (pip install -e .); fall back to the source tree
    import apopsim.synergy  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sim"))


@pytest.fixture
def musyc_frame():
    """Two-block viability-percent frame from known MuSyC surfaces, light noise, 2 replicates."""
    from synergy_helpers import grid, to_frame

    from apopsim.synergy import MuSyCParams, musyc_surface

    rng = np.random.default_rng(11)
    frames = []
    params = {
        "syn": MuSyCParams(E0=0, E1=0.7, E2=0.9, E3=1.0, h1=1.2, h2=1.5, C1=50, C2=5,
                           alpha12=3, alpha21=2),
        "ant": MuSyCParams(E0=0, E1=0.6, E2=0.9, E3=0.8, h1=1, h2=1, C1=50, C2=5,
                           alpha12=0.5, alpha21=0.5),
    }  # fmt: skip
    for block, p in params.items():
        d1, d2 = grid(50.0, 5.0, n=5, span=1.2)
        for rep in (1, 2):
            y = musyc_surface(d1, d2, p) + rng.normal(0, 0.02, d1.size)
            frames.append(to_frame(d1, d2, y, block=block, replicate=rep))
    return pd.concat(frames, ignore_index=True)
