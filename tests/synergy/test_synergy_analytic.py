"""Analytic cases: surfaces whose synergy scores are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from synergy_helpers import grid

from apopsim.synergy import (
    DoseMatrix,
    HillFit,
    MuSyCParams,
    bliss,
    combination_index,
    fit_hill,
    fit_median_effect,
    fit_musyc,
    fit_single_drugs,
    hsa,
    loewe,
    loewe_reference,
    most_synergistic_area,
    musyc_surface,
    zip_scores,
)
from apopsim.synergy.hill import hill


def bliss_surface(d1, d2, f1: HillFit, f2: HillFit):
    y1, y2 = f1(d1), f2(d2)
    return y1 + y2 - y1 * y2


@pytest.mark.parametrize(
    ("variant", "emax1", "emax2"),
    [("sf2", 1.0, 1.0), ("sf3", 1.0, 1.0), ("sf3", 0.7, 0.85)],
)
def test_bliss_independent_surface_gives_zero_bliss_and_zip(variant, emax1, emax2):
    f1 = HillFit(0.0, emax1, 1.3, 40.0)
    f2 = HillFit(0.0, emax2, 0.9, 4.0)
    d1, d2 = grid()
    m = DoseMatrix(d1, d2, bliss_surface(d1, d2, f1, f2))
    b = bliss(m)
    assert np.nanmax(np.abs(b.score)) < 1e-10
    assert np.all(np.isfinite(b.score))
    z = zip_scores(m, variant=variant)
    assert z.extra["n_unfitted"] == 0
    assert np.nanmax(np.abs(z.score[m.combination])) < 1e-3  # percentage points
    # Bliss from fitted curves is also ~0 (the Hill fits are exact here)
    assert np.nanmax(np.abs(bliss(m, reference="fitted").score)) < 1e-4


def test_zip_sf2_differs_from_sf3_when_emax_below_100_percent():
    f1 = HillFit(0.0, 0.6, 1.3, 40.0)
    f2 = HillFit(0.0, 0.7, 0.9, 4.0)
    d1, d2 = grid()
    m = DoseMatrix(d1, d2, bliss_surface(d1, d2, f1, f2))
    sf3 = zip_scores(m, variant="sf3").score[m.combination]
    sf2 = zip_scores(m, variant="sf2").score[m.combination]
    assert np.max(np.abs(sf3)) < 1e-3
    assert np.max(np.abs(sf2)) > 1.0  # pinning Emax at 100 % cannot follow a 60-70 % plateau


def sham_matrix(e0=0.0, emax=1.0, h=1.4, c=30.0):
    """Drug combined with itself: effect depends on d1 + d2 only (Loewe additive)."""
    f = HillFit(e0, emax, h, c)
    d1, d2 = grid(c, c, n=6, span=1.2)
    return DoseMatrix(d1, d2, f(d1 + d2)), f


@pytest.mark.parametrize(("e0", "emax"), [(0.0, 1.0), (0.05, 0.8)])
def test_sham_combination_gives_zero_loewe(e0, emax):
    m, _ = sham_matrix(e0, emax)
    res = loewe(m, undefined="nan")
    assert not res.extra["undefined"].any()
    assert np.nanmax(np.abs(res.score)) < 1e-5
    assert np.isfinite(res.score[m.combination]).all()


def test_sham_combination_gives_unit_ci_per_well_and_per_ray():
    m, _ = sham_matrix()
    ci = combination_index(m)
    vals = ci.ci[m.combination]
    assert np.allclose(vals[np.isfinite(vals)], 1.0, atol=1e-9)
    assert np.isfinite(vals).sum() >= 0.8 * vals.size
    assert len(ci.rays) >= 3
    for key in ("ci_50", "ci_75", "ci_90"):
        assert ci.summary[key] == pytest.approx(1.0, abs=1e-9)
        assert np.allclose(ci.rays[key], 1.0, atol=1e-9)
    # dose-reduction index of an equal split of the same drug: DRI = 1/p
    row = ci.rays.iloc[(ci.rays["ratio"] - 1.0).abs().argmin()]
    assert row["ratio"] == pytest.approx(1.0)
    assert row["dri1_50"] == pytest.approx(2.0, rel=1e-9)


def test_constant_ratio_design_ci_matches_hand_computation():
    # drug 2 is twice as potent as drug 1; combination at 1:1 with a synergistic mixture curve
    me1 = fit_median_effect([1, 2, 4, 8], hill(np.array([1, 2, 4, 8.0]), 0, 1, 1.0, 4.0))
    assert me1.m == pytest.approx(1.0) and me1.dm == pytest.approx(4.0)
    d1u = np.array([0, 1, 2, 4, 8.0])
    rows_d1, rows_d2, ys = [], [], []
    for a in d1u:  # margins
        rows_d1 += [a, 0.0]
        rows_d2 += [0.0, a]
        ys += [float(hill(a, 0, 1, 1.0, 4.0)), float(hill(a, 0, 1, 1.0, 2.0))]
    for t in (0.5, 1.0, 2.0, 4.0):  # 1:1 ray, mixture Dm = 1 (total dose)
        rows_d1.append(t / 2)
        rows_d2.append(t / 2)
        ys.append(float(hill(t, 0, 1, 1.0, 1.0)))
    m = DoseMatrix(rows_d1, rows_d2, ys)
    ci = combination_index(m)
    assert len(ci.rays) == 1
    # at fa = 0.5: mixture needs D = 1 (0.5 + 0.5); alone Dx1 = 4, Dx2 = 2 -> CI = 0.125 + 0.25
    assert ci.summary["ci_50"] == pytest.approx(0.375)
    assert ci.summary["dri1_50"] == pytest.approx(8.0)
    assert ci.summary["dri2_50"] == pytest.approx(4.0)
    # m = 1 everywhere: CI independent of the effect level
    assert ci.summary["ci_90"] == pytest.approx(0.375)


def test_hsa_and_bliss_by_hand():
    # 2x2 design with margins: y1 = 0.2, y2 = 0.5, combination 0.7
    m = DoseMatrix([0, 1, 0, 1], [0, 0, 1, 1], [0.0, 0.2, 0.5, 0.7])
    assert bliss(m).score[1, 1] == pytest.approx(100 * (0.7 - (0.2 + 0.5 - 0.1)))
    assert hsa(m).score[1, 1] == pytest.approx(100 * (0.7 - 0.5))
    assert bliss(m).score[0, 1] == 0.0 and hsa(m).score[1, 0] == 0.0


def test_replicates_are_averaged_for_bliss():
    d1 = [0, 1, 0, 1, 1]
    d2 = [0, 0, 1, 1, 1]
    m = DoseMatrix(d1, d2, [0.0, 0.2, 0.5, 0.6, 0.8])
    assert m.count[1, 1] == 2
    assert m.mean[1, 1] == pytest.approx(0.7)
    assert bliss(m).score[1, 1] == pytest.approx(100 * (0.7 - 0.6))


def test_observed_margin_interpolation_for_missing_monotherapy_dose():
    # combination at d1 = 2, margin measured at 1 and 4 only: log-linear interpolation -> 0.3
    m = DoseMatrix([0, 1, 4, 0, 2], [0, 0, 0, 1, 1], [0.0, 0.2, 0.4, 0.5, 0.9])
    ref = bliss(m).reference
    i = int(np.flatnonzero(m.dose1 == 2)[0])
    assert ref[i, 1] == pytest.approx(0.3 + 0.5 - 0.15)


def test_loewe_undefined_rules():
    f1 = HillFit(0.0, 1.0, 1.0, 10.0)  # strong drug
    f2 = HillFit(0.0, 0.5, 1.0, 1.0)  # weak drug, Emax 50 %
    # drug 1 alone at 30 gives 75 % > Emax of drug 2: no Loewe-equivalent dose
    assert np.isnan(loewe_reference(30.0, 1.0, f1, f2))
    # below the weaker Emax the equation is solvable and satisfies d1/D1 + d2/D2 = 1
    y = loewe_reference(3.0, 0.5, f1, f2)
    assert 0 < y < 0.5
    assert 3.0 / f1.inverse(y) + 0.5 / f2.inverse(y) == pytest.approx(1.0, rel=1e-10)
    d1 = np.array([0, 3.0, 30.0, 0, 0, 3.0, 30.0, 3.0, 30.0, 30.0])
    d2 = np.array([0, 0, 0, 0.5, 1.0, 0.5, 1.0, 1.0, 0.5, 0.0])
    y = np.clip(np.maximum(f1(d1), f2(d2)) + 0.1 * (d1 > 0) * (d2 > 0), 0, 1)
    m = DoseMatrix(d1, d2, y)
    i, j = int(np.flatnonzero(m.dose1 == 30)[0]), int(np.flatnonzero(m.dose2 == 1)[0])
    r_nan = loewe(m, fits=(f1, f2), undefined="nan")
    assert r_nan.extra["undefined"][i, j] and np.isnan(r_nan.score[i, j])
    r_weak = loewe(m, fits=(f1, f2), undefined="weaker_emax")
    assert r_weak.reference[i, j] == pytest.approx(0.5)
    r_hsa = loewe(m, fits=(f1, f2), undefined="hsa")
    assert r_hsa.reference[i, j] == pytest.approx(max(f1(30.0), f2(1.0)))
    r_sf = loewe(m, fits=(f1, f2), undefined="synergyfinder")
    assert r_sf.reference[i, j] == pytest.approx(max(f1(31.0), f2(31.0)))
    # defined wells are identical under every rule
    ok = ~r_nan.extra["undefined"] & m.combination
    for r in (r_weak, r_hsa, r_sf):
        assert np.allclose(r.score[ok], r_nan.score[ok])


def test_musyc_surface_recovered_within_10_percent_without_noise():
    true = MuSyCParams(E0=0.0, E1=0.6, E2=0.8, E3=0.95, h1=1.5, h2=1.0, C1=30.0, C2=2.0,
                       alpha12=3.0, alpha21=0.5)  # fmt: skip
    d1, d2 = grid(30.0, 2.0, n=7)
    fit = fit_musyc(d1, d2, musyc_surface(d1, d2, true), n_bootstrap=0)
    for name in ("alpha12", "alpha21", "h1", "h2", "C1", "C2"):
        assert getattr(fit.params, name) == pytest.approx(getattr(true, name), rel=0.1), name
    assert fit.params.beta == pytest.approx(true.beta, rel=0.1)
    for name in ("E0", "E1", "E2", "E3"):
        assert getattr(fit.params, name) == pytest.approx(getattr(true, name), abs=0.01)


def test_musyc_with_gamma_recovered_without_noise():
    true = MuSyCParams(E0=0.0, E1=0.7, E2=0.7, E3=0.9, h1=1.2, h2=1.2, C1=1.0, C2=1.0,
                       alpha12=2.0, alpha21=2.0, gamma12=1.5, gamma21=0.8)  # fmt: skip
    d1, d2 = grid(1.0, 1.0, n=7, span=2.0)
    fit = fit_musyc(d1, d2, musyc_surface(d1, d2, true), fit_gamma=True, n_bootstrap=0)
    assert fit.rss < 1e-10
    for name in ("alpha12", "alpha21", "gamma12", "gamma21"):
        assert getattr(fit.params, name) == pytest.approx(getattr(true, name), rel=0.1), name


def test_musyc_fit_does_not_depend_on_concentration_unit():
    true = MuSyCParams(E0=0.0, E1=0.6, E2=0.85, E3=0.9, h1=1.1, h2=1.4, C1=30.0, C2=2.0,
                       alpha12=2.0, alpha21=0.7)  # fmt: skip
    d1, d2 = grid(30.0, 2.0, n=5)
    y = musyc_surface(d1, d2, true) + np.random.default_rng(0).normal(0, 0.03, d1.size)
    a = fit_musyc(d1, d2, y, n_bootstrap=20, seed=1)
    b = fit_musyc(1000.0 * d1, 1e-3 * d2, y, n_bootstrap=20, seed=1)  # nM -> pM, nM -> uM
    for name in ("alpha12", "alpha21", "beta", "h1", "h2", "E0", "E1", "E2", "E3"):
        va, vb = a.params.as_dict()[name], b.params.as_dict()[name]
        assert vb == pytest.approx(va, rel=1e-6, abs=1e-9), name
        assert b.intervals[name] == pytest.approx(a.intervals[name], rel=1e-5, abs=1e-8), name
    assert pytest.approx(1000.0 * a.params.C1, rel=1e-6) == b.params.C1
    assert pytest.approx(1e-3 * a.params.C2, rel=1e-6) == b.params.C2
    lo, hi = a.intervals["alpha12"]
    assert lo <= a.params.alpha12 <= hi
    assert a.n_bootstrap == 20


def test_musyc_bootstrap_is_seeded():
    true = MuSyCParams(E0=0.0, E1=0.6, E2=0.85, E3=0.9, h1=1.1, h2=1.4, C1=30.0, C2=2.0)
    d1, d2 = grid(30.0, 2.0, n=4)
    y = musyc_surface(d1, d2, true) + np.random.default_rng(3).normal(0, 0.03, d1.size)
    a = fit_musyc(d1, d2, y, n_bootstrap=10, seed=5)
    b = fit_musyc(d1, d2, y, n_bootstrap=10, seed=5)
    c = fit_musyc(d1, d2, y, n_bootstrap=10, seed=6)
    assert np.array_equal(a.bootstrap, b.bootstrap)
    assert not np.array_equal(a.bootstrap, c.bootstrap)


def test_hill_fit_exact_and_unit_independent():
    d = np.r_[0, np.logspace(-1, 2, 8)]
    y = hill(d, 0.02, 0.85, 1.7, 3.0)
    f = fit_hill(d, y)
    assert (f.e0, f.emax, f.h, f.ec50) == pytest.approx((0.02, 0.85, 1.7, 3.0), rel=1e-6)
    g = fit_hill(d * 1e6, y)
    assert g.ec50 == pytest.approx(3.0e6, rel=1e-8)
    assert (g.e0, g.emax, g.h) == pytest.approx((f.e0, f.emax, f.h), rel=1e-8)
    assert f.inverse(f(2.5)) == pytest.approx(2.5)
    assert np.isnan(f.inverse(0.9))  # above Emax


def test_fit_single_drugs_needs_four_doses():
    m = DoseMatrix([0, 1, 2, 0, 0, 1], [0, 0, 0, 1, 2, 1], [0, 0.1, 0.2, 0.1, 0.2, 0.4])
    with pytest.raises(ValueError, match="at least 4 distinct doses"):
        fit_single_drugs(m)


def test_most_synergistic_area_finds_planted_window():
    score = np.zeros((6, 6))
    score[2:5, 3:6] = 10.0
    mask = np.ones((6, 6), dtype=bool)
    mask[0, :] = mask[:, 0] = False
    value, where = most_synergistic_area(score, mask)
    assert value == pytest.approx(10.0)
    assert where == (2, 5, 3, 6)
