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
from apopsim.errors import ApopsimError

FAST = CultureOptions(step_h=2.0)
#: sister pairs and seed of the Spencer tests (see the spread in their docstrings)
N_SISTERS, SISTER_SEED = 60, 3


def _setup(model, opts: CultureOptions, seed: int):
    """The culture machinery's setup (``apopsim.culture._Setup``) for ``model`` under ``opts``:
    untreated, the PARP death rule, noise drawn from ``seed``."""
    from apopsim.culture import _Setup
    from apopsim.engine import SolverOptions

    return _Setup(model, {}, opts, SolverOptions(), np.random.default_rng(seed),
                  "cleaved_PARP_fraction", 0.5)


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


def test_an_untreated_culture_grows_alike_with_growth_dilution():
    """Growth dilution with compensated synthesis changes no untreated fate: the culture
    (each cell diluted at its own ln 2 / T x (1 - arrest)) doubles per cycle as without it,
    and no cell dies or fails."""
    model = load_model("bcl2_core", "aml_mcl1_dependent")
    opts = CultureOptions(cycle_h=24.0, step_h=2.0, burnin_h=48.0, growth_dilution=True,
                          arrest_variable="cycle_arrest")
    c = grow_culture(model, {}, 48.0, n_founders=20, warmup_h=0.0, options=opts, seed=1)
    assert c.at(48.0)["live"] / 20 == pytest.approx(4.0, rel=0.25)
    assert c.at(48.0)["dead"] == 0 and c.n_failed == 0


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

    model = load_model("bcl2_core", "aml_mcl1_dependent")
    parp = list(model.state).index("PARP")
    k, g = 0.0257, 1 / FAST.noise_tau_h
    s = math.sqrt(math.log1p(FAST.noise_cv ** 2))

    def spread(noise_of: str, burnin_h: float) -> float:
        opts = CultureOptions(step_h=2.0, noise_of=noise_of, burnin_h=burnin_h)
        st = _setup(model, opts, 7)
        y, _ = st.founders(80, burnin_h, opts.step_h)
        return float(np.std(np.log(y[:, parp])))

    assert spread("protein", 96.0) == pytest.approx(s, rel=0.2)
    assert spread("protein", 0.0) == pytest.approx(s * math.sqrt(1 + g / k), rel=0.2)
    assert spread("synthesis", 96.0) == pytest.approx(s * math.sqrt(k / (k + g)), rel=0.25)


#: HeLa's culture options: c-FLIP / MCL-1 gene switching of Bertaux et al. 2014 (contexts.yaml)
HELA = CultureOptions.for_context("hela", step_h=2.0)


def test_sisters_decorrelate_within_one_cycle():
    """Spencer et al. 2009 (Nature 459:428): sisters treated with TRAIL soon after division die
    at strongly correlated times, and sisters treated later become no more alike than random
    pairs within about one cycle. HeLa in a culture (``CultureOptions.for_context("hela")``):
    the c-FLIP and MCL-1 genes switch ON for 16 h and OFF for 24 h on average, Bertaux et al.
    2014's fitted HeLa turnover model (they fitted it to HeLa TRAIL fate data, so this is a
    consistency check of our network with their fluctuations, not an independent prediction).
    TRAIL 0.8 nM (about 50 ng/ml), 60 pairs, step 2 h, seeds 0-5: at 0 h Spearman 0.99, 0.97, 0.97,
    0.96, 0.98, 0.95 (Pearson 0.96, 0.71, 0.79, 0.80, 0.92, 0.61: a few pairs with long times
    weigh on it); at 24 h Pearson 0.05, 0.36, 0.01, 0.31, 0.07, 0.34 (mean 0.19) and Spearman
    0.10, 0.42, -0.11, 0.22, 0.13, 0.19 (mean 0.16); random pairs -0.23 to 0.19. Both sisters
    died in 43-52 of the 60 pairs (cells whose genes are ON survive 12 h). With log-normal
    drift of the same CV (1.15) instead of the two-state switch, Pearson at 24 h is 0.06-0.33
    too but Spearman stays 0.12-0.46: the switch's all-or-none states forget faster by rank.
    The control that removes the mechanism is the test below."""
    model = load_model("intrinsic_extrinsic", "hela")
    df = sister_correlation(model, {"trail": 0.8}, [0.0, 24.0], n_pairs=N_SISTERS, max_h=12.0,
                            options=HELA, seed=SISTER_SEED).set_index("delay_h")
    assert (df["n_both_died"] >= 0.7 * N_SISTERS).all()
    assert df.loc[0.0, "spearman_rho"] > 0.8
    assert df.loc[0.0, "pearson_r"] > df.loc[0.0, "random_r"] + 0.3
    assert df.loc[24.0, "pearson_r"] < 0.4


def test_hela_culture_with_switching_genes_keeps_spencers_fractional_killing():
    """The c-FLIP / MCL-1 switching that decorrelates sisters must leave Spencer et al. 2009's
    fractional killing intact (tests/models/test_validation.py checks it in static
    populations): in a growing HeLa culture at TRAIL 10 ng/ml about half of the cells present
    at treatment die within 6 h, the times to death spread with CV 0.2-0.5, and some survive.
    60 founders (about 120 cells at treatment), 1 h windows: 6-h killing 0.53 and 0.48 at
    seeds 0-1, 12-h 0.65 and 0.61, CV 0.42 and 0.45 (100 founders, 0.5 h windows: 5 / 10 /
    20 ng/ml kill 0.35 / 0.51 / 0.65 by 6 h, CV 0.39 / 0.42 / 0.44; survivors at 12 h about a
    quarter even at 20 ng/ml: cells whose genes are ON)."""
    model = load_model("intrinsic_extrinsic", "hela")
    c = grow_culture(model, {"trail": 0.1667}, 12.0, n_founders=60, warmup_h=24.0,
                     options=CultureOptions.for_context("hela", step_h=1.0), seed=0)
    start = c.cells[c.cells["birth_h"] <= 0]
    death = start["death_h"].to_numpy()
    t = death[np.isfinite(death)]
    assert 0.3 <= np.mean(death <= 6.0) <= 0.7
    assert 0.2 <= np.std(t) / np.mean(t) <= 0.5
    assert np.mean(np.isfinite(death)) < 0.95


def test_sisters_stay_alike_when_cflip_and_mcl1_fluctuate_like_the_other_proteins():
    """The control for the test above: with c-FLIP and MCL-1 at the typical CV 0.25 (the
    default options; HeLa's context block not applied) sisters stay alike for more than a
    cycle. At TRAIL 0.8 nM 89 % of the time-to-death variance (linearised, d ln TTD / d ln
    ksyn) then comes from 27 h proteins (BID 22 %, BAX 17 %, caspase-8 13 %, DR4/5 12 %, BCL-xL
    7 %, BCL-2 6 %, XIAP, BAK, cIAP) and 11 % from c-FLIP and MCL-1, and a 27 h protein at CV
    0.25 keeps a sister correlation of about 0.6 at 24 h: r at 24 h 0.58, 0.53, 0.57, 0.54,
    0.31 at seeds 0-4 (150 pairs, mean 0.50); these 60 pairs: 0.59 (seeds 0-3: 0.49, 0.52,
    0.43, 0.59). Intermediate, log-normal: c-FLIP and MCL-1 at CV 0.5 give 0.40 (200 pairs),
    1.0 gives 0.20 and 0.19 (150 pairs, seeds 0-1)."""
    model = load_model("intrinsic_extrinsic", "hela")
    df = sister_correlation(model, {"trail": 0.8}, [24.0], n_pairs=N_SISTERS, max_h=12.0,
                            options=FAST, seed=SISTER_SEED).set_index("delay_h")
    assert df.loc[24.0, "pearson_r"] > 0.4


def test_bursts_switch_a_gene_on_and_off_at_the_stated_mean_times():
    """``bursts_on_off_h``: a two-state promoter (ON 16 h, OFF 24 h: on 40 % of the time). The
    rate is ksyn / 0.4 while ON and 0 while OFF (mean ksyn); the state's autocorrelation over
    10 h is exp(-10 (1/16 + 1/24)) = 0.353; other rates keep their log-normal drift; a pattern
    that matches no varied rate, a rate also in noise_cv_per, and a non-finite or non-positive
    time are errors."""

    model = load_model("intrinsic_extrinsic", "hela")
    opts = CultureOptions(step_h=1.0, bursts_on_off_h={"ksyn_FLIP": (16.0, 24.0)})
    st = _setup(model, opts, 5)
    i, j = st.vary.index("ksyn_FLIP"), st.vary.index("ksyn_BID")
    z0 = st.noise.stationary(40_000)
    m0 = st.noise.multipliers(z0)
    assert set(np.unique(m0[:, i])) == {0.0, 2.5}
    assert m0[:, i].mean() == pytest.approx(1.0, abs=0.02)
    assert m0[:, j].mean() == pytest.approx(1.0, abs=0.02) and m0[:, j].std() > 0.2
    z = z0
    for _ in range(10):
        z = st.noise.step(z, 1.0)
    on0, on10 = z0[:, 1 + i], z[:, 1 + i]
    assert on10.mean() == pytest.approx(0.4, abs=0.01)
    assert np.corrcoef(on0, on10)[0, 1] == pytest.approx(math.exp(-10 * (1 / 16 + 1 / 24)),
                                                         abs=0.02)
    with pytest.raises(ApopsimError, match="bursts_on_off_h: 'ksyn_NOPE' matches no rate"):
        _setup(model, CultureOptions(bursts_on_off_h={"ksyn_NOPE": (1.0, 1.0)}), 0)
    with pytest.raises(ApopsimError, match="ksyn_FLIP: in both noise_cv_per and bursts"):
        _setup(model, CultureOptions(noise_cv_per={"ksyn_F*": 0.5},
                                     bursts_on_off_h={"ksyn_FLIP": (16.0, 24.0)}), 0)
    for bad in [(16.0, 0.0), (16.0, math.inf)]:
        with pytest.raises(ValueError, match="invalid bursts_on_off_h"):
            CultureOptions(bursts_on_off_h={"ksyn_FLIP": bad})


def test_hela_context_sets_the_culture_fluctuations_and_files_override_them(monkeypatch):
    """A context's ``culture:`` block sets CultureOptions defaults (``for_context``; culture
    study files with that context), fields given explicitly win, and an unknown field in the
    block is a located error."""
    from apopsim import library
    from apopsim.culture_study import CultureSettings

    assert HELA.bursts_on_off_h == {"ksyn_FLIP": (16, 24), "ksyn_MCL1": (16, 24)}
    assert HELA.step_h == 2.0 and HELA.noise_cv == 0.25 and not HELA.noise_cv_per
    assert CultureOptions.for_context(None) == CultureOptions()
    assert CultureOptions.for_context("aml_mcl1_dependent") == CultureOptions()
    assert CultureSettings().options("hela").bursts_on_off_h == HELA.bursts_on_off_h
    assert CultureSettings(bursts_on_off_h={}).options("hela").bursts_on_off_h == {}
    with pytest.raises(ApopsimError, match="unknown cell context 'nope'"):
        CultureOptions.for_context("nope")
    monkeypatch.setattr(library, "contexts",
                        lambda: {"x": {"culture": {"noise_cv": 0.3, "cycle_hours": 20}}})
    with pytest.raises(ApopsimError, match=r"context 'x', culture: unknown field\(s\) cycle_hours"):
        CultureOptions.for_context("x")
    monkeypatch.setattr(library, "contexts", lambda: {"x": {"culture": {"step_h": 3.0}}})
    with pytest.raises(ApopsimError, match=r"unknown field\(s\) step_h; a context can set"):
        CultureOptions.for_context("x")  # windows are the experiment's, not the line's
    monkeypatch.setattr(library, "contexts", lambda: {"x": {"culture": {"cycle_h": 6.0}}})
    with pytest.raises(ApopsimError, match="with context 'x'.s culture: block .cycle_h.: "
                       "CultureOptions: invalid step_h"):
        CultureSettings(step_h=2.0).options("x")  # 2 h windows in a 6 h cycle
    monkeypatch.setattr(library, "contexts", lambda: {"x": {"culture": {"noise_cv": -1}}})
    with pytest.raises(ApopsimError, match=r"context 'x', culture: CultureOptions: invalid "
                       "noise_cv"):
        CultureOptions.for_context("x")


def test_sisters_would_decorrelate_if_the_27h_turnovers_were_proteolysis_only():
    """A counterfactual for the control above (as the 6 h one below): if the models' 27 h
    half-lives were proteolysis alone, a cycling cell would also dilute every protein at
    ln 2 / 24 h (``growth_dilution``), removing a 27 h protein with a 12.7 h half-life, and
    sisters would decorrelate within a cycle. They are documented as dilution-limited (lumped,
    dilution included; Bertaux et al. 2014, whose hEARM declares them as a dilution half-life
    of 27 h), and Eden et al. 2011's longest removal half-life in
    growing cells is 22.5 h, so this counts dilution twice and is not the model's answer. With
    it, HeLa at TRAIL 0.8 nM (150 pairs, step 2 h, seed 3): r = 0.92, 0.74, 0.58, 0.21 at 0,
    6, 12, 24 h (Spearman 0.93, 0.79, 0.61, 0.25; random pairs about 0); r at 24 h over seeds
    0-5: 0.27, 0.36, 0.22, 0.21, 0.32, 0.22 (mean 0.27). These 60 pairs: r 0.88 at 0 h, 0.23
    at 24 h (60 pairs, seeds 0-3: 0.11, 0.35, 0.19, 0.23). Without dilution r at 24 h stays
    about 0.5 (the control above)."""
    model = load_model("intrinsic_extrinsic", "hela")
    opts = CultureOptions(step_h=2.0, growth_dilution=True)
    df = sister_correlation(model, {"trail": 0.8}, [0.0, 24.0], n_pairs=N_SISTERS, max_h=12.0,
                            options=opts, seed=SISTER_SEED).set_index("delay_h")
    assert (df["n_both_died"] >= 0.8 * N_SISTERS).all()
    assert df.loc[0.0, "pearson_r"] > 0.7
    assert df.loc[24.0, "pearson_r"] < 0.4


def test_growth_dilution_keeps_untreated_levels_and_dilutes_only_concentrations():
    """With ``growth_dilution`` a 27 h protein made alone (PARP, kdeg_slow) has its synthesis
    raised by exactly (k + ln 2 / 24 h) / k = 2.12 and MCL-1 (0.5 h) by 1.02; an untreated
    cycling cell drifting 240 h (noise off, 1 h windows) keeps every species above 1e-3 nM
    within 5.5 % of the non-growing cell's documented steady state (median 1.4 %: the
    splitting's mu step_h / 2; at 2 h windows 7 % and 2.9 %). Dilution follows each cell's own
    cycle time and arrest and leaves non-species state (``committed``) alone."""

    model = load_model("intrinsic_extrinsic", "hela")
    opts = CultureOptions(step_h=1.0, noise_cv=0.0, noise_of="synthesis", growth_dilution=True)
    st = _setup(model, opts, 0)
    mu = math.log(2) / 24.0
    fold = dict(zip(st.vary, st.base / st.static_base))
    k = model.parameters["kdeg_slow"]
    assert fold["ksyn_PARP"] == pytest.approx((k + mu) / k, rel=1e-6)
    assert fold["ksyn_MCL1"] == pytest.approx(1.02, abs=0.01)
    y0 = st.preequilibrated(st.noise.stationary(1))[0]
    y, _ = st.founders(1, 240.0, 1.0)
    big = y0 > 1e-3
    dev = np.abs(y[0][big] / y0[big] - 1.0)
    assert dev.max() < 0.06 and np.median(dev) < 0.02
    names = list(model.state)
    two = np.tile(y0, (2, 1))
    two[:, names.index("committed")] = 0.5
    st.dilute(two, 12.0, np.array([24.0, 12.0]), np.array([0.0, 1.0]))  # 2nd cell arrested
    parp = names.index("PARP")
    assert two[0, parp] == pytest.approx(y0[parp] / math.sqrt(2))
    assert two[1, parp] == y0[parp]
    assert (two[:, names.index("committed")] == 0.5).all()
    off = _setup(model, CultureOptions(noise_of="synthesis"), 0)
    same = np.tile(y0, (1, 1))
    off.dilute(same, 12.0, 24.0, None)
    assert (same[0] == y0).all() and (off.base == off.static_base).all()


def test_sisters_decorrelate_within_a_cycle_if_the_death_setting_proteins_turned_over_in_6h():
    """Another counterfactual for the control above: the culture machinery reproduces
    Spencer et al. 2009 once the proteins that set the time to death turn over faster than a
    cycle. A
    counterfactual HeLa cell whose 27 h proteins (kdeg_slow, kdeg_ext, kdeg_BCL2, kdeg_BCLXL;
    BID, BAX, BAK, XIAP, caspases, DR4/5, cIAP, BCL-2, BCL-xL, ...) have a 6 h half-life, at the
    same levels (each ksyn scaled with its kdeg): r = 0.85, 0.35, 0.14 at 0, 12, 24 h (150
    pairs; Spearman 0.95, 0.53, 0.22; at 12 h half-life 0.91, 0.59, 0.35; at 27 h 0.49 at
    24 h; these 40 pairs: 0.97 at 0 h, -0.27 at 24 h). A 24 h burn-in suffices here (about 3
    lifetimes of the 6 h proteins)."""
    model = load_model("intrinsic_extrinsic", "hela")
    k6 = math.log(2) / 6.0  # 1/h
    fold = {k: k6 / model.parameters[k]
            for k in ("kdeg_slow", "kdeg_ext", "kdeg_BCL2", "kdeg_BCLXL")}
    made = {"kdeg_slow": ["BID", "BAK", "BAX", "XIAP", "C9", "C3", "PARP", "CytoC_mito",
                          "SMAC_mito"],
            "kdeg_ext": ["R", "C8", "C6", "cIAP", "BAR"],
            "kdeg_BCL2": ["BCL2"], "kdeg_BCLXL": ["BCLXL"]}
    fast = model.with_overrides({**{k: k6 for k in fold},
                                 **{f"ksyn_{p}": model.parameters[f"ksyn_{p}"] * fold[k]
                                    for k, ps in made.items() for p in ps}})
    opts = CultureOptions(step_h=2.0, burnin_h=24.0)
    df = sister_correlation(fast, {"trail": 0.8}, [0.0, 24.0], n_pairs=40, max_h=8.0,
                            options=opts, seed=4).set_index("delay_h")
    assert (df["n_both_died"] >= 30).all()
    assert df.loc[0.0, "pearson_r"] > 0.7
    assert df.loc[24.0, "pearson_r"] < 0.4


def test_noise_cv_per_sets_one_proteins_stationary_spread():
    """``noise_cv_per`` replaces ``noise_cv`` for the rates it names: c-FLIP (made at
    ksyn_FLIP, degraded at 0.693 /h, bound by nothing) drifts with log-SD sqrt(ln(1 + 0.5^2))
    = 0.47 instead of 0.25, and every other rate keeps the default."""
    from apopsim.culture import _Setup

    model = load_model("intrinsic_extrinsic", "hela")
    flip = list(model.state).index("FLIP")

    def setup(noise_of: str) -> _Setup:
        opts = CultureOptions(step_h=2.0, noise_of=noise_of, noise_cv_per={"ksyn_F*": 0.5})
        return _setup(model, opts, 3)

    synthesis = setup("synthesis")  # sigma is then each multiplier's own log-SD
    expected = np.full(len(synthesis.vary), math.sqrt(math.log1p(FAST.noise_cv ** 2)))
    expected[synthesis.vary.index("ksyn_FLIP")] = math.sqrt(math.log1p(0.25))
    assert np.allclose(synthesis.noise.sigma, expected)
    y, _ = setup("protein").founders(80, 24.0, 2.0)  # 24 h = 17 FLIP lifetimes
    assert float(np.std(np.log(y[:, flip]))) == pytest.approx(math.sqrt(math.log1p(0.25)),
                                                              rel=0.2)
    with pytest.raises(ValueError):
        CultureOptions(noise_cv_per={"ksyn_FLIP": -0.1})
    with pytest.raises(ApopsimError, match="'ksyn_NOPE' matches no rate"):
        _setup(model, CultureOptions(noise_cv_per={"ksyn_NOPE": 0.5}), 3)


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


def test_washout_lets_arrested_cells_resume_dividing():
    """``regrowth_h``: treated from 0 h to ``duration_h``, then drug-free (the model decides
    whether arrest lasts; issue 12, study 976). Palbociclib 1000 nM arrests the MCF-7-like
    culture; after the washout its cells divide again (the model's arrest and senescence are
    reversible), so the washed-out well regrows while the continuously treated one stays
    arrested. GR is not defined after the washout; ``regrowth_gr`` is read from the washout."""
    model = load_model("cdk46_breast", "er_breast_mcf7")
    opts = CultureOptions(step_h=2.0, arrest_variable="arrested_fraction", burnin_h=24.0)
    kw = dict(n_founders=8, warmup_h=0.0, options=opts, seed=3)
    vehicle = grow_culture(model, {}, 36.0, regrowth_h=36.0, **kw)
    washed = grow_culture(model, {"palbociclib": 1000}, 36.0, regrowth_h=36.0, **kw)
    kept = grow_culture(model, {"palbociclib": 1000}, 72.0, **kw)
    assert washed.duration_h == 36.0 and washed.regrowth_h == 36.0
    assert washed.counts["time_h"].iloc[-1] == 72.0 and len(washed.counts) == 37
    assert (washed.cells["end_h"] <= 72.0).all()
    c = washed.counts.set_index("time_h")
    # identical to the continuously treated well up to the washout
    assert c.loc[:36.0, "live"].tolist() == kept.counts["live"].iloc[:19].tolist()
    assert c.loc[38.0:, "divisions"].sum() > 2 * max(c.loc[2.0:36.0, "divisions"].sum(), 1)
    assert washed.at(72.0)["live"] > kept.at(72.0)["live"]
    assert math.isnan(washed.resumed_fraction(36.0)) and math.isnan(kept.resumed_fraction(72.0))
    assert washed.resumed_fraction(72.0) > 0.5
    before, after = growth_metrics(washed, vehicle, 36.0), growth_metrics(washed, vehicle, 72.0)
    assert before["gr"] < 0.3 and math.isnan(before["regrowth_gr"])
    assert math.isnan(after["gr"]) and after["regrowth_gr"] > 0.3
    assert growth_metrics(vehicle, vehicle, 72.0)["regrowth_gr"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="regrowth_h"):
        grow_culture(model, {}, 36.0, regrowth_h=-1.0, **kw)
