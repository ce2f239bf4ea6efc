"""p53-MDM2 module: oscillations after damage (Geva-Zatorsky et al. Mol Syst Biol 2006: period
5.5 +/- 1.5 h, MDM2 peak ~2 h after p53), MDM2 inhibitor stops them and raises p53 in wild-type,
not in p53-mutant cells."""

import numpy as np
import pytest
from _modelkit import at, load, run
from scipy.signal import find_peaks

import apopsim


def peaks(times, y, rel=0.1):
    y = np.asarray(y)
    idx, _ = find_peaks(y, prominence=rel * (y.max() - y.min() + 1e-12))
    return times[idx]


def _damage_run(m, schedule=()):
    """Untreated steady state, then damage = 1 (a.u.) from t = 0 plus any scheduled changes."""
    times = np.round(np.arange(0, 72 + 1e-9, 0.02), 10)
    sched = [(0.0, {"damage": 1.0}), *schedule]
    tr = apopsim.simulate(m, times, schedule=sched, rtol=1e-8, atol=1e-10)
    return times, tr


@pytest.fixture(scope="module")
def damaged():
    return _damage_run(load("p53", "p53_wt"))


def test_oscillation_period_and_mdm2_lag(damaged):
    times, tr = damaged
    pp = peaks(times, tr["p53"])
    mp = peaks(times, tr["MDM2"])
    assert len(pp) >= 6  # sustained over 72 h
    period = float(np.mean(np.diff(pp[1:])))
    assert 4.0 <= period <= 7.0, period
    lags = [min(t for t in mp if t > tp) - tp for tp in pp[:-1] if (mp > tp).any()]
    lag = float(np.median(lags))
    assert 0.5 < lag < 0.5 * period, lag  # MDM2 peaks after p53


def test_mdm2_inhibitor_stops_oscillation_and_raises_p53():
    m = load("p53", "p53_wt")
    times, osc = _damage_run(m)
    times, tr = _damage_run(m, schedule=[(24.0, {"alrizomadlin": 100.0})])
    late = np.asarray(tr["p53"])[times >= 36]
    idx, _ = find_peaks(late, prominence=0.01 * late.mean())
    assert idx.size == 0  # no oscillation: p53 settles monotonically
    osc_mean = float(np.mean(np.asarray(osc["p53"])[times >= 48]))
    assert late.mean() > 3 * osc_mean  # several-fold higher, steady


def test_mdm2_inhibitor_does_not_induce_targets_in_p53_mutant_cells():
    for ctx, expect_induction in (("p53_wt", True), ("p53_mutant", False)):
        m = load("intrinsic_p53", ctx)
        times, tr = run(m, 24.0, {"alrizomadlin": 100}, dt=0.5)
        f = at(times, tr, "PUMA_total", 24) / at(times, tr, "PUMA_total", 0)
        g = at(times, tr, "MDM2_total", 24) / at(times, tr, "MDM2_total", 0)
        if expect_induction:
            assert f > 2 and g > 2, (ctx, f, g)
        else:
            assert abs(f - 1) < 0.01 and abs(g - 1) < 0.01, (ctx, f, g)
