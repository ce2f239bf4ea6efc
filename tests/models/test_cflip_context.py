"""The c-FLIP-high DR5-resistant context (issue 11, study 1924: "high c-FLIP or XIAP"), one
nominal cell of intrinsic_extrinsic in context solid_dr5_resistant_cflip.

Published behaviour checked (values copied here; the tests never read ../shared):
- c-FLIP per cell: 100-2000 molecules (EARM 1.0, Albeck et al. PLoS Biol 2008); the context sits at
  the top, 2 nM, 20 x the HeLa/EARM default 0.1 nM.
- c-FLIP overexpression confers TRAIL resistance at the DISC, upstream of BID (Safa & Pollok,
  Cancers 2011): a DR5 agonist alone releases little cytochrome c and the cell survives.
- IAP antagonists lift the cIAP brake on death-receptor caspase-8 activation (Geserick et al. J
  Cell Biol 2009) and free caspase-3 from XIAP; the poster's synergy is caspase-8-dependent.
- Without autocrine TNF an IAP antagonist does not raise c-FLIP (canonical NF-kB needs ligated
  TNFR1 with cIAPs present; Micheau et al. Mol Cell Biol 2001; Vince et al. Cell 2007).
Units: nM, hours.
"""

from __future__ import annotations

import pytest
from _modelkit import at, load, run, time_of_death

CTB, CTB_TOP, APG = {"ctb006": 0.67}, {"ctb006": 6.7}, {"apg1387": 100.0}  # nM
HELA_FLIP_SYN = 0.0693  # nM/h; extrinsic.ant default (c-FLIP 0.1 nM)


@pytest.fixture(scope="module")
def cflip():
    return load("intrinsic_extrinsic", "solid_dr5_resistant_cflip")


def test_cflip_is_at_the_top_of_the_reported_range(cflip):
    times, tr = run(cflip, 1.0, dt=0.5)
    assert at(times, tr, "FLIP", 0.0) == pytest.approx(2.0, rel=0.05)  # nM = 2000 molecules


def test_ctb006_alone_is_blocked_upstream_of_momp(cflip):
    times, tr = run(cflip, 72.0, CTB, dt=0.5)
    assert at(times, tr, "cytoC_released_fraction", 24.0) < 0.1
    assert time_of_death(times, tr) is None
    # the resistance is c-FLIP's: at the HeLa c-FLIP level the same dose kills within a day
    td = time_of_death(*run(cflip, 72.0, CTB, dt=0.5, parameters={"ksyn_FLIP": HELA_FLIP_SYN}))
    assert td is not None and td < 24.0


def test_apg1387_sensitises_in_fraction_and_in_time_through_caspase8(cflip):
    assert time_of_death(*run(cflip, 72.0, APG, dt=0.5)) is None
    td_combo = time_of_death(*run(cflip, 72.0, {**CTB, **APG}, dt=0.5))
    assert td_combo is not None and td_combo < 36.0  # fraction: CTB-006 0.67 nM alone spares it
    td_top = time_of_death(*run(cflip, 72.0, CTB_TOP, dt=0.5))
    td_top_combo = time_of_death(*run(cflip, 72.0, {**CTB_TOP, **APG}, dt=0.5))
    assert td_top is not None and td_top_combo is not None
    assert td_top_combo < 0.5 * td_top  # timing: the top dose kills alone, but much later
    assert time_of_death(*run(cflip, 72.0, {**CTB_TOP, **APG}, dt=0.5,
                              parameters={"ksyn_C8": 0.0})) is None  # caspase-8 knock-out


def test_apg1387_does_not_change_cflip_without_autocrine_tnf(cflip):
    times, tr = run(cflip, 24.0, APG, dt=0.5)
    assert at(times, tr, "FLIP", 24.0) == pytest.approx(at(times, tr, "FLIP", 0.0), rel=0.01)
    assert at(times, tr, "cIAP", 2.0) < 0.05 * at(times, tr, "cIAP", 0.0)
