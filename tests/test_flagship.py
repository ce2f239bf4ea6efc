"""The flagship scenario reproduces what seed poster 981 reports (lisaftoclax + HHT in AML).

Poster 981 (AACR 2021): "HHT suppresses MCL-1 protein, preventing or abolishing formation of
MCL-1:BIM, MCL-1:PUMA, and MCL-1:BAK complexes ... APG-2575 synergizes with HHT to potentiate
antitumor activity". MCL-1 half-life 0.4-1 h (Senichkin et al. 2020) means HHT should lower MCL-1
by more than half within 2 h while long-lived BCL-2 barely changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import apopsim

FLAGSHIP = Path(__file__).resolve().parents[1] / "scenarios" / "apg2575_hht.yaml"


@pytest.fixture(scope="module")
def result():
    return apopsim.run_scenario(apopsim.load_scenario(FLAGSHIP), progress=False)


def _cond(result, lis, hht):
    for c in result.conditions:
        if c.doses_nM == {"lisaftoclax": lis, "hht": hht}:
            return c
    raise KeyError((lis, hht))


def test_hht_lowers_mcl1_fast_and_frees_bim_and_bak(result):
    t = result.times_h
    i2 = int(np.searchsorted(t, 2.0))
    mean = lambda name, lis, hht: result.trace(  # noqa: E731
        result.conditions.index(_cond(result, lis, hht)), name)
    mcl1 = mean("MCL1_total", 0.0, 50.0)
    bcl2 = mean("BCL2_total", 0.0, 50.0)
    assert mcl1[i2] < 0.5 * mcl1[0]  # more than half gone within 2 h
    assert abs(bcl2[i2] / bcl2[0] - 1) < 0.10  # long-lived BCL-2 changes < 10 %
    for complex_ in ("MCL1_BIM", "MCL1_BAK"):
        c = mean(complex_, 0.0, 50.0)
        assert c[i2] < c[0], complex_


def test_combination_kills_more_than_either_drug_alone(result):
    f = {k: _cond(result, *k).apoptotic_fraction(72.0) for k in
         [(0.0, 0.0), (100.0, 0.0), (0.0, 50.0), (100.0, 50.0)]}
    combo_low = f[(100.0, 50.0)][1]  # lower 95 % bound of the combination
    for single in [(100.0, 0.0), (0.0, 50.0)]:
        assert combo_low > f[single][2], (single, f)  # above the single agent's upper bound
    assert f[(0.0, 0.0)][0] < 0.05  # untreated cells survive
    # more than Bliss independence predicts (synergy, not just addition)
    fa, fb, fab = f[(100.0, 0.0)][0], f[(0.0, 50.0)][0], f[(100.0, 50.0)][0]
    assert fab - (fa + fb - fa * fb) > 0.05
