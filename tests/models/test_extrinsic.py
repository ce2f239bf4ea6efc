"""intrinsic_extrinsic in the HeLa context versus EARM 1.0 (Albeck et al. PLoS Biol 2008 /
Mol Cell 2008): dose-dependent delay, snap-action switch, 12-fold BCL-2 blocks MOMP."""

import numpy as np
import pytest
from _modelkit import at, load, run, time_of_death

NG_PER_ML_TO_NM = 1 / 60.0  # soluble TRAIL trimer ~60 kDa: 1 ng/ml = 0.0167 nM
# Albeck et al. 2008, HeLa: time to death (min) at 1000/250/50/10/2 ng/ml TRAIL
ALBECK_TD_MIN = {1000: 144, 250: 179, 50: 236, 10: 363, 2: 657}


@pytest.fixture(scope="module")
def hela():
    return load("intrinsic_extrinsic", "hela")


@pytest.fixture(scope="module")
def dose_runs(hela):
    out = {}
    for ng in ALBECK_TD_MIN:
        times, tr = run(hela, 24.0, {"trail": ng * NG_PER_ML_TO_NM}, dt=1 / 60)
        out[ng] = (times, tr)
    return out


def test_untreated_hela_is_alive(hela):
    times, tr = run(hela, 24.0, dt=1.0)
    assert max(tr["cleaved_PARP_fraction"]) < 0.01


def test_time_to_death_falls_as_trail_rises(dose_runs):
    tds = [time_of_death(*dose_runs[ng]) for ng in sorted(ALBECK_TD_MIN)]  # 2 ... 1000 ng/ml
    assert all(t is not None for t in tds), tds
    assert all(a > b for a, b in zip(tds, tds[1:])), tds
    assert min(tds) > 1.5  # a delay of hours even at the top dose


def test_time_to_death_within_twofold_of_albeck(dose_runs):
    for ng, td_min in ALBECK_TD_MIN.items():
        td = time_of_death(*dose_runs[ng])
        assert 0.5 < td * 60 / td_min < 2.0, (ng, td * 60, td_min)


def test_snap_action_switch_under_an_hour(dose_runs):
    for ng, (times, tr) in dose_runs.items():
        c = np.asarray(tr["cleaved_PARP_fraction"])
        t10 = times[np.argmax(c > 0.1)]
        t90 = times[np.argmax(c > 0.9)]
        assert c.max() > 0.9
        assert 0 < t90 - t10 < 1.0, (ng, t90 - t10)
        assert t10 > 1.0  # after a delay of hours


@pytest.mark.parametrize("ng", [1000, 50])
def test_twelvefold_bcl2_blocks_momp(ng):
    # Albeck et al. 2008: 12-fold over-expressed Bcl-2 blocks MOMP.
    m = load("intrinsic_extrinsic", "hela")
    base = m.parameters["ksyn_BCL2"]
    times, tr = run(m, 24.0, {"trail": ng * NG_PER_ML_TO_NM}, dt=0.25,
                    parameters={"ksyn_BCL2": 12 * base})
    assert max(tr["cytoC_released_fraction"]) < 0.1
    assert time_of_death(times, tr) is None
    # and with normal BCL-2 the same dose releases cytochrome c
    times, tr = run(m, 24.0, {"trail": ng * NG_PER_ML_TO_NM}, dt=0.25)
    assert max(tr["cytoC_released_fraction"]) > 0.9


# ---------------------------------------------------------------- issue 11 (study 1924) additions
def test_xiap_null_cell_lives_untreated(hela):
    # XIAP-deficient cells are viable (HCT116 XIAP-/-, Cummins et al. Cancer Res 2004; XIAP-/-
    # mice, Harlin et al. Mol Cell Biol 2001): the caspase-3 -> 6 -> 8 loop must not ignite from
    # the resting trickle without XIAP.
    from apopsim.margins import UntreatedCell

    assert UntreatedCell(hela).survives({"ksyn_XIAP": 0.0})


def test_xiap_decides_type_i_versus_type_ii(hela):
    # Jost et al. Nature 2009: in type II cells death-receptor killing needs BID (MOMP -> SMAC);
    # without XIAP (knock-out or SMAC mimetic) caspase-8 kills directly, BID-independently.
    trail = {"trail": 50 * NG_PER_ML_TO_NM}
    times, tr = run(hela, 24.0, trail, dt=0.1, parameters={"ksyn_BID": 0.0})
    assert time_of_death(times, tr) is None  # type II: no BID, no death
    times, tr = run(hela, 24.0, trail, dt=0.1, parameters={"ksyn_BID": 0.0, "ksyn_XIAP": 0.0})
    assert time_of_death(times, tr) is not None  # type I without XIAP
    times, tr = run(hela, 24.0, {**trail, "apg1387": 100}, dt=0.1, parameters={"ksyn_BID": 0.0})
    assert time_of_death(times, tr) is not None  # ... or with the IAP antagonist
    assert max(tr["cytoC_released_fraction"]) < 0.01  # and without MOMP


def _disc_per_bound_receptor(model, ctb006_nM, xlink):
    times, tr = run(model, 2.0, {"ctb006": ctb006_nM}, dt=0.5, parameters={"fcgr_xlink": xlink})
    return at(times, tr, "DISC", 2) / at(times, tr, "R_ctb006", 2)


def test_ctb006_disc_activity_is_cooperative_in_clustering_and_needs_crosslinking(hela):
    # Bivalent IgG: activity per bound receptor rises with receptor occupancy (clustering), and
    # Fc-gamma-receptor cross-linking raises it (Wilson et al. Cancer Cell 2011; Li & Ravetch
    # PNAS 2012).
    low, high = (_disc_per_bound_receptor(hela, d, 0.0) for d in (0.01, 1.0))
    assert high > 2 * low
    assert _disc_per_bound_receptor(hela, 0.67, 1.0) > 3 * _disc_per_bound_receptor(hela, 0.67, 0.0)
    td = {x: time_of_death(*run(hela, 24.0, {"ctb006": 0.67}, dt=0.1,
                                parameters={"fcgr_xlink": x})) for x in (0.0, 1.0)}
    assert td[1.0] is not None and (td[0.0] is None or td[1.0] < td[0.0]), td


def test_dr5_resistant_context_needs_the_iap_antagonist_and_caspase8():
    m = load("intrinsic_extrinsic", "solid_dr5_resistant_xiap")
    ctb, apg = {"ctb006": 0.67}, {"apg1387": 100}
    times, tr = run(m, 72.0, ctb, dt=0.5)
    assert max(tr["cytoC_released_fraction"]) > 0.9  # MOMP ...
    assert time_of_death(times, tr) is None  # ... but XIAP (300 nM) holds caspase-3 (Rehm 2006)
    assert time_of_death(*run(m, 72.0, apg, dt=0.5)) is None
    assert time_of_death(*run(m, 72.0, {**ctb, **apg}, dt=0.5)) is not None
    assert time_of_death(*run(m, 72.0, {**ctb, **apg}, dt=0.5,
                              parameters={"ksyn_C8": 0.0})) is None
