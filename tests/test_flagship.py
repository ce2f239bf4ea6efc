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


@pytest.mark.xfail(strict=True, reason=(
    "poster 981's co-IP claim for MCL-1:BAK: at 2 h of HHT 50 nM the population-mean MCL-1 is "
    "x0.49 and BCL-2 x0.97 (pass) and MCL-1:BIM x0.60 (pass), but MCL-1:BAK is x1.02 (not < 1): "
    "BIM persists under the translation block (bulk chase 3.34 h vs MCL-1 0.94 h, Adams & Cooper "
    "2007) and free BIM rises x1.63, so the MCL-1 left holds its BAK. It passed only with the "
    "rejected bulk reading of the 1.0 h BIM half-life (issue 9, models/README.md), under which "
    "no combination kills (tests/models/test_bcl2_core.py::test_hht_abolishes_mcl1_complexes)"))
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


@pytest.mark.xfail(strict=True, reason=(
    "issue 9: the combination kills 0.045 [Wilson 0.024, 0.083] of 200 cells by 72 h vs 0/200 "
    "for either drug alone and the control (upper bound 0.019), so it does beat both single "
    "agents, but the Bliss excess is +4.5 pp, short of the claimed > 5 pp. History: 0.36 before "
    "review 2.4, 0.13 after it (+11.0 pp), 0.045 since BCL-2-bound BIM is protected "
    "(fdeg_BIM_BCL2). The nominal cell dies only from HHT 200 nM (+ lisaftoclax 100; Td 6.05 h), "
    "so at HHT 50 only the primed tail of the population dies. With the rejected bulk reading of "
    "the 1.0 h BIM half-life (kdeg_BIM 2.58, models/README.md) it was 0/200 in every arm"))
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
