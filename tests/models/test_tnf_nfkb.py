"""tnf_nfkb.ant in intrinsic_extrinsic: the IAP antagonist's single-agent route, cIAP1/2 loss ->
NIK/NF-kB -> autocrine TNF -> TNFR1 complex II -> caspase-8 (issue 11, study 1924).

Published behaviour checked (values copied here; the tests never read ../shared):
- Varfolomeev et al. Cell 2007; Vince et al. Cell 2007: IAP antagonists degrade cIAP1/2 within
  minutes, stabilise NIK and activate NF-kB; lines that make TNF then die of it in an autocrine
  loop, blocked by caspase-8 inhibition (crmA) or by blocking TNF; HeLa makes no TNF and survives
  the antagonist alone but is killed by it together with exogenous TNF.
- Petersen et al. Cancer Cell 2007: autocrine TNF + SMAC mimetic -> RIPK1-dependent
  caspase-8-activating complex; about a quarter of NSCLC lines.
- Micheau et al. Mol Cell Biol 2001: TNF alone induces c-FLIP through NF-kB and spares the cell.
Units: nM, hours. TNF trimer 51 kDa: 10 ng/ml = 0.196 nM.
"""

from __future__ import annotations

import numpy as np
import pytest
from _modelkit import TIGHT, at, load, run, time_of_death

import apopsim

TNF_10_NG_ML = 0.196  # nM
APG = {"apg1387": 100.0}  # nM, the central dose of the 1924 scenarios


@pytest.fixture(scope="module")
def hela():
    return load("intrinsic_extrinsic", "hela")


@pytest.fixture(scope="module")
def tnf_loop():
    return load("intrinsic_extrinsic", "solid_tnf_autocrine")


def _with_exogenous_tnf(model, doses, t_end=48.0, **kw):
    """TNF added to the medium at t = 0 (after pre-equilibration), with ``doses`` (nM)."""
    times = np.round(np.arange(0.0, t_end + 1e-9, 0.25), 10)
    tr = apopsim.simulate(model, times, doses_nM=doses, schedule=[(0.0, {"tnf_exo": TNF_10_NG_ML})],
                          **TIGHT, **kw)
    return times, tr


def test_module_is_off_by_default(hela):
    assert hela.parameters["autocrine_TNF"] == 0
    assert load("intrinsic_extrinsic", "solid_tnf_autocrine").parameters["autocrine_TNF"] == 1


def test_cIAP_loss_stabilises_nik_and_turns_on_nfkb(hela):
    times, tr = run(hela, 8.0, APG, dt=0.25)
    assert at(times, tr, "cIAP", 2) < 0.1 * at(times, tr, "cIAP", 0)
    assert at(times, tr, "NIK", 4) > 3 * at(times, tr, "NIK", 0)
    assert at(times, tr, "NFkB", 8) > 3 * at(times, tr, "NFkB", 0)


def test_apg1387_alone_spares_hela_without_a_tnf_loop(hela):
    times, tr = run(hela, 72.0, APG, dt=0.5)
    assert time_of_death(times, tr) is None
    assert max(np.abs(tr["TNF"])) < 1e-12  # no autocrine TNF (solver round-off only)
    assert max(tr["C8a"]) < 1e-6


def test_untreated_tnf_loop_cell_lives(tnf_loop):
    times, tr = run(tnf_loop, 72.0, dt=1.0)
    assert time_of_death(times, tr) is None
    assert tr["TNF"][0] > 0  # resting autocrine TNF, held harmless by cIAP (complex I)


def test_apg1387_alone_kills_tnf_loop_cells_through_tnf_and_caspase8(tnf_loop):
    times, tr = run(tnf_loop, 72.0, APG, dt=0.25)
    td = time_of_death(times, tr)
    assert td is not None and td < 48, td
    assert at(times, tr, "TNF", 8) > 3 * at(times, tr, "TNF", 0)  # NF-kB-driven TNF
    # controls: caspase-8 knocked out, or the TNF loop off (TNF neutralised), spare the cell
    for change in ({"ksyn_C8": 0.0}, {"autocrine_TNF": 0.0}):
        times, tr = run(tnf_loop, 72.0, APG, dt=0.5, parameters=change)
        assert time_of_death(times, tr) is None, change


def test_exogenous_tnf_kills_hela_only_with_the_iap_antagonist(hela):
    times, tr = _with_exogenous_tnf(hela, {})
    assert time_of_death(times, tr) is None
    assert at(times, tr, "FLIP", 12) > 2 * at(times, tr, "FLIP", 0)  # NF-kB induces c-FLIP
    times, tr = _with_exogenous_tnf(hela, APG)
    assert time_of_death(times, tr) is not None
    times, tr = _with_exogenous_tnf(hela, APG, parameters={"ksyn_C8": 0.0})
    assert time_of_death(times, tr) is None
