"""Growing cultures (apopsim.culture): division, partition noise, slow synthesis noise,
arrest, screening readouts (viability, GR) and the Spencer et al. 2009 sister-cell experiment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apopsim import load_model
from apopsim.culture import (
    CultureOptions,
    grow_culture,
    growth_metrics,
    partition,
    sister_correlation,
)

FAST = CultureOptions(step_h=2.0)


def test_partition_splits_molecules_binomially_and_keeps_the_mean():
    rng = np.random.default_rng(0)
    y = np.tile([0.0, 0.01, 5.0, 100.0], (4000, 1))  # nM
    a, b = partition(y, 1000.0, rng)
    # molecules conserved: the daughters' concentrations average the mother's
    assert np.allclose((a + b) / 2, np.rint(y * 1000) / 1000)
    # binomial spread: 5 nM = 5000 molecules -> daughter CV sqrt(1/5000) = 1.4 %
    assert np.std(a[:, 2]) / 5.0 == pytest.approx(math.sqrt(1 / 5000), rel=0.1)
    assert (a[:, 0] == 0).all()


def test_untreated_culture_doubles_once_per_cycle_and_survives():
    model = load_model("bcl2_core", "aml_mcl1_dependent")
    opts = CultureOptions(cycle_h=24.0, cycle_cv=0.15, step_h=2.0)
    c = grow_culture(model, {}, 48.0, n_founders=30, warmup_h=0.0, options=opts, seed=1)
    start, end = c.at(0.0), c.at(48.0)
    assert start["live"] == 30
    # two cycles: x4 (an asynchronous start with random ages; +-25 %)
    assert end["live"] / start["live"] == pytest.approx(4.0, rel=0.25)
    assert end["dead"] <= 0.05 * (end["live"] + end["dead"])
    assert c.n_failed == 0
    born = c.cells[c.cells["parent"] >= 0]
    assert len(born) == 2 * (c.cells["fate"] == "divided").sum()


def test_treated_culture_readouts_and_gr_against_vehicle():
    # Checks the readout machinery, not a drug claim, so it needs a dose the current bcl2_core
    # model kills at: lisaftoclax 100 + HHT 1000 nM (nominal cell Td 4.85 h; here viability 0.32,
    # GR 0.13, apoptotic fraction 0.39 at 48 h). HHT 100 nM no longer kills the nominal cell
    # (issue 9: viability 0.83 here); HHT 200 nM gives viability 0.60, GR 0.55.
    model = load_model("bcl2_core", "aml_mcl1_dependent")
    kw = dict(n_founders=30, warmup_h=0.0, options=FAST, seed=2)
    vehicle = grow_culture(model, {}, 48.0, **kw)
    treated = grow_culture(model, {"lisaftoclax": 100, "hht": 1000}, 48.0, **kw)
    assert treated.at(0.0)["live"] == vehicle.at(0.0)["live"]  # same founders
    m = growth_metrics(treated, vehicle, 48.0)
    assert 0 <= m["viability"] < 0.7
    assert m["gr"] < 0.8  # growth clearly inhibited (GR 1 = no effect)
    assert 0 < m["apoptotic_fraction"] < 1
    same = growth_metrics(vehicle, vehicle, 48.0)
    assert same["viability"] == 1.0 and same["gr"] == pytest.approx(1.0)


def test_a_culture_grid_scores_synergy_on_viability_per_time():
    from apopsim.culture import culture_grid, synergy_wells
    from apopsim.synergy import analyze

    model = load_model("bcl2_core", "aml_mcl1_dependent")
    grid = culture_grid(model, {"lisaftoclax": [100], "hht": [100]}, [12.0, 24.0],
                        n_founders=10, warmup_h=0.0, options=FAST, seed=5)
    assert len(grid) == 4 * 2
    vehicle = grid[(grid["lisaftoclax"] == 0) & (grid["hht"] == 0)]
    assert (vehicle["viability"] == 1.0).all()
    res = analyze(synergy_wells(grid), data_type="viability", scale="fraction",
                  methods="bliss,hsa")
    assert set(res.summary["block_id"]) == {"12 h", "24 h"}
    assert np.isfinite(res.summary["bliss"]).all()


def test_palbociclib_arrests_division_without_much_death():
    """Cytostatic, not cytotoxic (poster 976's premise): with G1_arrest slowing the cycle, the
    palbociclib culture grows less than vehicle (GR between about 0 and 0.8) while few cells
    die."""
    model = load_model("cdk46_breast", "er_breast_mcf7")
    opts = CultureOptions(step_h=2.0, arrest_variable="G1_arrest")
    kw = dict(n_founders=20, warmup_h=0.0, options=opts, seed=3)
    vehicle = grow_culture(model, {}, 48.0, **kw)
    palbo = grow_culture(model, {"palbociclib": 100}, 48.0, **kw)
    m = growth_metrics(palbo, vehicle, 48.0)
    assert -0.1 < m["gr"] < 0.8
    assert m["apoptotic_fraction"] < 0.1


def test_sisters_start_alike():
    """Spencer et al. 2009 (Nature 459:428): sister cells treated with TRAIL soon after
    division die at strongly correlated times, more alike than random pairs."""
    model = load_model("intrinsic_extrinsic", "hela")
    df = sister_correlation(model, {"trail": 0.8}, [0.0], n_pairs=30, max_h=12.0,
                            options=FAST, seed=4).set_index("delay_h")
    assert df.loc[0.0, "n_both_died"] >= 20
    assert df.loc[0.0, "pearson_r"] > 0.8
    assert df.loc[0.0, "pearson_r"] > df.loc[0.0, "random_r"] + 0.3


def test_founders_are_drawn_from_the_stationary_drift_not_a_frozen_start():
    """No static variation: after the burn-in a stable protein's spread is the one its synthesis
    noise sustains. PARP (made at ksyn_PARP, degraded at kdeg_slow = k = 0.0257 /h) low-pass
    filters an OU multiplier of log-SD s (correlation time tau = 10 h) to log-SD
    s * sqrt(k / (k + 1/tau)) (0.45 s). With ``noise_of="protein"`` (default) the multiplier is
    widened so that PARP's stationary CV is ``noise_cv`` (log-SD 0.246); with ``"synthesis"`` it
    is the multiplier's (PARP then 0.111). The old frozen start (steady state with the
    multiplier held, burnin_h = 0) gives PARP the multiplier's spread instead, which sisters
    then share for days."""
    from apopsim.culture import _Setup
    from apopsim.engine import SolverOptions

    model = load_model("bcl2_core", "aml_mcl1_dependent")
    parp = list(model.state).index("PARP")
    k, g = 0.0257, 1 / FAST.noise_tau_h
    s = math.sqrt(math.log1p(FAST.noise_cv ** 2))

    def spread(noise_of: str, burnin_h: float) -> float:
        opts = CultureOptions(step_h=2.0, noise_of=noise_of, burnin_h=burnin_h)
        st = _Setup(model, {}, opts, SolverOptions(), np.random.default_rng(7),
                    "cleaved_PARP_fraction", 0.5)
        y, _ = st.founders(80, burnin_h, opts.step_h)
        return float(np.std(np.log(y[:, parp])))

    assert spread("protein", 96.0) == pytest.approx(s, rel=0.2)
    assert spread("protein", 0.0) == pytest.approx(s * math.sqrt(1 + g / k), rel=0.2)
    assert spread("synthesis", 96.0) == pytest.approx(s * math.sqrt(k / (k + g)), rel=0.25)


@pytest.mark.xfail(strict=True, reason=(
    "Spencer et al. 2009: sisters become no more alike than random pairs within about one "
    "cycle. Founders are now drawn from the stationary drift (no static variation: the old "
    "frozen start kept r = 0.89, 0.84, 0.86, 0.71 at 0, 6, 12, 24 h, 200 pairs); now r = 0.85, "
    "0.79, 0.66, 0.49 (Spearman 0.96, 0.84, 0.76, 0.56; random pairs 0.06; these 30 pairs: "
    "0.52). The floor is the memory of the 27 h proteins (kdeg_slow 0.0257 /h) at their "
    "measured CV 0.25: a stable protein's level keeps a sister correlation of "
    "exp(-2 k t) + the shared early synthesis noise (OU, tau 10 h) = 0.58 at 24 h (measured "
    "0.49-0.72). With noise_of='synthesis' (stable proteins at CV 0.11 instead of Spencer's "
    "0.2-0.3) r at 24 h is 0.39. Decorrelation within a cycle needs the TRAIL-relevant "
    "variation in faster-turning-over proteins or states"))
def test_sisters_decorrelate_within_one_cycle():
    model = load_model("intrinsic_extrinsic", "hela")
    df = sister_correlation(model, {"trail": 0.8}, [24.0], n_pairs=30, max_h=12.0,
                            options=FAST, seed=4).set_index("delay_h")
    assert df.loc[24.0, "pearson_r"] < 0.4


def test_wells_share_division_times_until_their_fates_differ_and_cost_follows_live_cells():
    """Common random numbers: a dose that kills and arrests nothing leaves the culture dividing
    exactly as the vehicle (cycle times, synthesis noise and partition draw from separate
    streams, so the state-dependent number of binomial draws cannot shift the division times);
    the work is one integration per live cell and window."""
    model = load_model("bcl2_core", "aml_mcl1_dependent")
    kw = dict(n_founders=8, warmup_h=0.0, options=FAST, seed=2)
    vehicle = grow_culture(model, {}, 36.0, **kw)
    treated = grow_culture(model, {"hht": 1.0}, 36.0, **kw)  # one stream: 18 vs 19 live cells
    assert treated.counts["dead"].iloc[-1] == 0
    assert treated.counts["live"].tolist() == vehicle.counts["live"].tolist()
    assert treated.counts["divisions"].sum() > 0
    live_at_window_start = vehicle.counts["live"].iloc[:-1].sum()
    burnin = vehicle.work["burnin_cell_windows"]
    assert burnin == 8 * round(FAST.burnin_h / FAST.step_h)  # founders' drift, no warm-up here
    assert vehicle.work["cell_windows"] - burnin == live_at_window_start
    assert vehicle.work["cell_hours"] == pytest.approx(FAST.step_h * (live_at_window_start
                                                                      + burnin))
