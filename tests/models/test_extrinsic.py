"""intrinsic_extrinsic in the HeLa context versus EARM 1.0 (Albeck et al. PLoS Biol 2008 /
Mol Cell 2008): dose-dependent delay, snap-action switch, 12-fold BCL-2 blocks MOMP."""

import numpy as np
import pytest
from _modelkit import load, run, time_of_death

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
