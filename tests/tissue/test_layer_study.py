"""Issue 12, tissue coupling: one free-fraction table, the effect compartment (ke0) in the kill
link, and layer studies (cancer-stem-cell and tumour-immune models driven by PK regimens)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apopsim.errors import ScenarioError
from apopsim.tissue.killrate import emax_kill_table
from apopsim.tissue.pk import drug_pk, effect_site_nM, plasma_fraction_unbound
from apopsim.tissue.study import load_study, run_study


def test_free_fraction_comes_from_the_catalogue_first(tmp_path):
    """drugs.yaml's fu_plasma wins over a pk.yaml value; pk.yaml is the fallback only."""
    from apopsim.library import catalogue
    from apopsim.tissue.pk import pk_file

    text = pk_file().read_text()
    # a pk.yaml that (wrongly) gives HHT, whose catalogue fu is known, another value
    bad = text.replace("  hht:\n", "  hht:\n", 1).replace(
        "    species:\n      mouse:\n        CL_L_per_h_per_kg: {value: 1.39",
        "    species:\n      mouse:\n        fraction_unbound: {value: 0.9, source: x}\n"
        "        CL_L_per_h_per_kg: {value: 1.39", 1)
    assert bad != text
    path = tmp_path / "pk.yaml"
    path.write_text(bad)
    assert drug_pk("hht", "mouse", path=path).fraction_unbound == catalogue().get("hht").fu_plasma
    fu, source = plasma_fraction_unbound("hht", "mouse", path)
    assert "drugs.yaml" in source and fu == 0.5
    # lisaftoclax: the catalogue does not know it (null) -> the pk.yaml fallback
    assert catalogue().get("lisaftoclax").fu_plasma is None
    fu, source = plasma_fraction_unbound("lisaftoclax", "mouse")
    assert fu == 0.002 and "fallback" in source
    # a biologic outside the catalogue: fu and Kd from pk.yaml
    assert drug_pk("anti_pd1", "mouse").fraction_unbound == 1.0


def test_effect_site_matches_the_analytic_solutions():
    t = np.linspace(0, 24, 241)
    # constant plasma concentration from t = 0: Ce = C (1 - exp(-ke0 t))
    ce = effect_site_nM(t, np.full(t.size, 100.0), 0.3)
    np.testing.assert_allclose(ce[1:], 100 * (1 - np.exp(-0.3 * t[1:])), rtol=1e-9)
    # mono-exponential plasma: Ce = C0 ke0/(ke0-k) (exp(-k t) - exp(-ke0 t)) (linear
    # interpolation of Cp between points: small error)
    k, ke0 = 0.2, 0.5
    ce = effect_site_nM(t, 100 * np.exp(-k * t), ke0)
    exact = 100 * ke0 / (ke0 - k) * (np.exp(-k * t) - np.exp(-ke0 * t))
    np.testing.assert_allclose(ce, exact, atol=0.05)
    np.testing.assert_array_equal(effect_site_nM(t, exact, None), exact)
    with pytest.raises(ValueError):
        effect_site_nM(t, exact, 0.0)


XENO = {
    "name": "ke0_test", "species": "mouse", "duration_days": 7,
    "kill_link": {"model": "bcl2_core", "grid_nM": {"hht": [0, 100, 1000]}},
    "arms": [{"name": "vehicle", "regimens": []},
             {"name": "hht", "regimens": [{"drug": "hht", "dose_mg_per_kg": 1, "route": "ip",
                                           "frequency": "QD", "duration_days": 5}]}],
    "animals": {"n": 2, "cv": 0.0},
}


def test_effect_compartment_delays_and_flattens_the_kill_hazard():
    table = emax_kill_table(["hht"], [[0, 100, 1000]], 0.05, [30.0])
    plain = run_study(XENO, kill_table=table, cache=False)
    spec = {**XENO, "kill_link": {**XENO["kill_link"], "ke0_per_h": {"hht": 0.1}}}
    delayed = run_study(spec, kill_table=table, cache=False)
    h0, h1 = plain.hazard_per_h["hht"], delayed.hazard_per_h["hht"]
    t = plain.pk_times_h
    first = t < 24
    assert h1[first].max() < h0[first].max()
    assert t[first][np.argmax(h1[first])] > t[first][np.argmax(h0[first])]
    with pytest.raises(ScenarioError, match="ke0_per_h"):
        load_study({**XENO, "kill_link": {**XENO["kill_link"], "ke0_per_h": {"x": 1.0}}})


CHEMO_GRID = {"carboplatin": [0, 1000, 10000, 100000], "paclitaxel": [0, 10, 100, 1000]}
CSC = {
    "name": "csc_test", "species": "mouse", "duration_days": 28,
    "layer": {"model": "csc_ovarian", "max_step_days": 0.1, "inputs": {
        "apg2449_nM": {"drug": "apg2449", "signal": "free_nM"},
        "chemo_kill_D_per_day": {"signal": "kill_hazard_per_day", "kill_link": "d"},
        "chemo_kill_S_per_day": {"signal": "kill_hazard_per_day", "kill_link": "s"}}},
    "kill_links": {"d": {"model": "ovarian_chemo", "grid_nM": CHEMO_GRID},
                   "s": {"model": "ovarian_chemo", "grid_nM": CHEMO_GRID}},
    "arms": [
        {"name": "vehicle", "regimens": []},
        {"name": "apg2449", "regimens": [
            {"drug": "apg2449", "dose_mg_per_kg": 50, "route": "oral", "duration_days": 21}]},
        {"name": "chemo", "regimens": [
            {"drug": "carboplatin", "dose_mg_per_kg": 50, "route": "ip", "frequency": "weekly",
             "duration_days": 21}]},
        {"name": "combination", "regimens": [
            {"drug": "apg2449", "dose_mg_per_kg": 50, "route": "oral", "duration_days": 21},
            {"drug": "carboplatin", "dose_mg_per_kg": 50, "route": "ip", "frequency": "weekly",
             "duration_days": 21}]}],
    "animals": {"n": 1, "cv": 0.0, "vary": ["rS"]},
    "tumour_output_every_days": 1.0,
}


def _tables(kmax_d: float, kmax_s: float):
    """Synthetic carboplatin x paclitaxel kill tables (1/h) for the two compartments."""
    grid = [CHEMO_GRID["carboplatin"], CHEMO_GRID["paclitaxel"]]
    return {"d": emax_kill_table(["carboplatin", "paclitaxel"], grid, kmax_d, [10000, 10]),
            "s": emax_kill_table(["carboplatin", "paclitaxel"], grid, kmax_s, [10000, 10])}


def test_csc_layer_chemotherapy_hazard_follows_the_kill_links():
    """The compartments' chemotherapy hazards come from the kill tables at the PK free
    concentrations: protected stem-like cells are enriched, APG-2449 lowers them, and with a
    chemotherapy that kills, the combination beats chemotherapy alone."""
    r = run_study(CSC, kill_table=_tables(0.3, 0.1), cache=False)
    lv = r.layer_values
    day = r.times_days
    i = int(np.argmin(abs(day - 21)))
    # the hazard inputs pulse with weekly dosing and are 0 without chemotherapy
    assert lv["chemo"]["chemo_kill_D_per_day"][0].max() > 0
    assert lv["apg2449"]["chemo_kill_D_per_day"][0].max() == 0
    sf = {a: v["stem_fraction"][0, i] for a, v in lv.items()}
    assert sf["chemo"] > sf["vehicle"] > sf["apg2449"]
    vol = {a: v[0, i] for a, v in r.volumes_mm3.items()}
    assert vol["combination"] < 0.5 * vol["chemo"] and vol["chemo"] < vol["vehicle"]
    # the summary and the arm measures read layer variables
    assert r.summary.set_index("arm").loc["apg2449", "apg2449_nM_mean_during_dosing"] > 10
    # with no chemotherapy kill (the cell model today), chemotherapy equals vehicle
    zero = run_study(CSC, kill_table=_tables(0.0, 0.0), cache=False)
    np.testing.assert_allclose(zero.volumes_mm3["chemo"], zero.volumes_mm3["vehicle"],
                               rtol=1e-6)


IMMUNE = {
    "name": "immune_test", "species": "mouse", "duration_days": 14,
    "layer": {"model": "tumour_immune", "volume": "T", "parameters": {"tumour_p53_wt": 0},
              "inputs": {"apg115_occ": {"drug": "alrizomadlin", "signal": "occupancy"},
                         "antipd1_occ": {"drug": "anti_pd1", "signal": "occupancy"}}},
    "arms": [
        {"name": "vehicle", "regimens": []},
        {"name": "apg115", "regimens": [{"drug": "alrizomadlin", "dose_mg_per_kg": 10,
                                         "route": "oral", "frequency": "QOD",
                                         "duration_days": 13}]},
        {"name": "anti_pd1", "regimens": [{"drug": "anti_pd1", "dose_mg_per_kg": 10,
                                           "route": "ip", "days_on": 1, "days_off": 2,
                                           "duration_days": 13}]},
        {"name": "combination", "regimens": [
            {"drug": "alrizomadlin", "dose_mg_per_kg": 10, "route": "oral", "frequency": "QOD",
             "duration_days": 13},
            {"drug": "anti_pd1", "dose_mg_per_kg": 10, "route": "ip", "days_on": 1,
             "days_off": 2, "duration_days": 13}]}],
    "animals": {"n": 1, "cv": 0.0, "vary": ["rT"]},
    "tumour_output_every_days": 1.0,
    "expect": [{"kind": "compare", "claim": "combination beats either", "source": "test",
                "left": {"arm": "combination", "readout": "median_volume_mm3"},
                "right": [{"arm": "apg115", "readout": "median_volume_mm3"},
                          {"arm": "anti_pd1", "readout": "median_volume_mm3"}],
                "op": "<", "scale": "ratio", "margin": 0.8},
               {"kind": "compare", "claim": "M2 down", "source": "test",
                "left": {"arm": "apg115", "readout": "M2"},
                "right": [{"arm": "vehicle", "readout": "M2"}], "op": "<"}],
}


def test_immune_layer_driven_by_regimens_and_the_trp53_ko_host_control():
    r = run_study(IMMUNE, cache=False)
    occ = r.layer_values["apg115"]["apg115_occ"][0]
    assert occ[1:].min() > 0.2 and occ.max() < 1.0 and occ.max() - occ[1:].min() > 0.1  # QOD
    assert (r.checks()["status"] == "pass").all()
    ko = {**IMMUNE, "layer": {**IMMUNE["layer"], "parameters": {"tumour_p53_wt": 0,
                                                                "host_p53": 0}}}
    k = run_study(ko, cache=False)
    np.testing.assert_allclose(k.volumes_mm3["combination"], k.volumes_mm3["anti_pd1"],
                               rtol=1e-6)
    checks = k.checks()
    assert checks["status"].iloc[0] == "fail"          # no benefit without host p53
    assert abs(checks["measured"].iloc[1]) < 1e-4       # and no M2 shift (solver noise only)


@pytest.mark.parametrize("change, match", [
    ({"layer": {**IMMUNE["layer"], "inputs": {**IMMUNE["layer"]["inputs"],
                                              "nope": {"drug": "anti_pd1",
                                                       "signal": "occupancy"}}}},
     "no parameter 'nope'"),
    ({"animals": {"n": 1, "vary": ["lambda0"]}}, "not a parameter"),
    ({"expect": [{**IMMUNE["expect"][1], "left": {"arm": "apg115", "readout": "XX"}}]},
     "unknown readout"),
    ({"kill_link": XENO["kill_link"]}, "not both"),
])
def test_layer_study_validation(change, match):
    with pytest.raises(ScenarioError, match=match):
        load_study({**IMMUNE, **change})


def test_shipped_layer_studies_load():
    from apopsim.library import scenarios_dir

    for name in ("apg2449_chemo_ovarian_csc", "apg2449_chemo_ovarian_fak_independent",
                 "apg115_pd1_syngeneic", "apg115_pd1_p53mutant_tumour",
                 "apg115_pd1_trp53ko_host"):
        s = load_study(scenarios_dir() / "invivo" / f"{name}.yaml")
        assert s.layer is not None and s.expect
    assert math.isfinite(drug_pk("carboplatin", "mouse").fraction_unbound)


def test_kill_table_cache_key_covers_imported_modules(tmp_path):
    """A kill table cached for a model must not be reused after a module it imports changed."""
    from apopsim.tissue.study import KillLinkSpec, _kill_table_key

    (tmp_path / "mod.ant").write_text("model part()\n  x = 1;\n  k = 0.1;\n  x' = -k * x;\nend\n")
    (tmp_path / "main.ant").write_text('import "mod.ant"\n\nmodel main()\n  P: part();\n'
                                       "  x is P.x;\nend\n")
    spec = KillLinkSpec(model="main.ant", grid_nM={"d": [0, 1]})
    before = _kill_table_key(spec, tmp_path)
    (tmp_path / "mod.ant").write_text("model part()\n  x = 1;\n  k = 0.2;\n  x' = -k * x;\nend\n")
    assert _kill_table_key(spec, tmp_path) != before


def test_mdm2_amplified_study_hyperprogresses_and_alrizomadlin_abrogates_it():
    """The shipped MDM2-amplified study (one typical animal): anti-PD-1 alone outgrows the
    untreated tumour at day 7, the combination stays below it; without the amplification the
    first claim fails (the control: hyper-progression is the context's, not PD-1 blockade's)."""
    import yaml

    from apopsim.library import scenarios_dir

    path = scenarios_dir() / "invivo" / "apg115_pd1_mdm2_amplified.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(animals={"n": 1, "cv": 0.0, "vary": ["rT"]}, tumour_output_every_days=1.0)
    checks = run_study(spec, cache=False).checks()
    assert list(checks["status"]) == ["pass"] * 3
    assert checks["measured"].iloc[0] > 2.0   # anti-PD-1 alone / untreated volume at day 7
    spec["layer"]["parameters"]["mdm2_amp"] = 0
    assert run_study(spec, cache=False).checks()["status"].iloc[0] == "fail"
