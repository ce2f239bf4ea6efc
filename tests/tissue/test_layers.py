"""Cancer-stem-cell (poster 968) and tumour-immune (APG-115 + anti-PD-1) layers: the
direction-level expectations stated in issue 12."""

from __future__ import annotations

import numpy as np
import pytest

from apopsim.tissue.layers import run_tissue_model

DAYS = np.arange(0, 43, 1.0)
# hand-set hazards (1/day) for the direction tests; stem-like cells 0.3x (assumption)
CHEMO = {"chemo_kill_D_per_day": 0.6, "chemo_kill_S_per_day": 0.18}


@pytest.fixture(scope="module")
def csc():
    """Untreated, APG-2449 alone, chemotherapy alone and both, given for 21 days."""
    arms = {"untreated": {}, "apg2449": {"apg2449_nM": 50.0},
            "chemo": CHEMO,
            "combination": {"apg2449_nM": 50.0, **CHEMO}}
    stop = [(21.0, {"apg2449_nM": 0.0, **dict.fromkeys(CHEMO, 0.0)})]
    return {k: run_tissue_model("csc_ovarian", DAYS, p, schedule=stop) for k, p in arms.items()}


def test_csc_untreated_hierarchy_is_steady(csc):
    sf = csc["untreated"]["stem_fraction"]
    assert 0.15 < sf.loc[21] < 0.3
    assert csc["untreated"]["tumour_volume"].loc[21] > 5 * csc["untreated"]["tumour_volume"].loc[0]


def test_apg2449_lowers_the_stem_like_fraction(csc):
    assert csc["apg2449"]["stem_fraction"].loc[21] < 0.6 * csc["untreated"]["stem_fraction"].loc[21]


def test_chemotherapy_enriches_stem_like_cells_and_apg2449_limits_it(csc):
    assert csc["chemo"]["stem_fraction"].loc[21] > csc["untreated"]["stem_fraction"].loc[21]
    assert csc["combination"]["stem_fraction"].loc[21] < csc["chemo"]["stem_fraction"].loc[21]


def test_combination_controls_growth_and_regrowth_better_than_chemotherapy(csc):
    v = {k: f["tumour_volume"] for k, f in csc.items()}
    assert v["combination"].loc[21] < 0.5 * v["chemo"].loc[21]
    assert v["combination"].loc[42] < 0.5 * v["chemo"].loc[42]   # regrowth after dosing
    assert v["chemo"].loc[42] > v["chemo"].loc[21]                # chemotherapy alone regrows


T21 = np.arange(0, 22, 1.0)
ARMS = {"untreated": {}, "apg115": {"apg115_occ": 0.9}, "anti_pd1": {"antipd1_occ": 0.9},
        "combination": {"apg115_occ": 0.9, "antipd1_occ": 0.9}}


def _immune(**context):
    return {k: run_tissue_model("tumour_immune", T21, {**context, **p}) for k, p in ARMS.items()}


@pytest.mark.parametrize("tumour_p53_wt", [1, 0], ids=["p53_wt_tumour", "p53_mutant_tumour"])
def test_combination_beats_either_alone_also_in_p53_mutant_tumours(tumour_p53_wt):
    runs = _immune(tumour_p53_wt=tumour_p53_wt)
    t = {k: f["T"].loc[21] for k, f in runs.items()}
    assert t["combination"] < 0.5 * min(t["apg115"], t["anti_pd1"])
    assert max(t["apg115"], t["anti_pd1"]) < t["untreated"]


def test_apg115_immune_directions():
    """CD8+, NK and M1 up, M2 down under APG-115 (seed 000; Fang et al. 2019)."""
    runs = _immune()
    a, u = runs["apg115"].loc[21], runs["untreated"].loc[21]
    assert a["cd8_total"] > u["cd8_total"] and a["NK"] > u["NK"] and a["M1"] > u["M1"]
    assert a["M2"] < u["M2"]


def test_benefit_vanishes_in_p53_knockout_hosts():
    runs = _immune(tumour_p53_wt=0, host_p53=0)
    assert runs["combination"]["T"].loc[21] == pytest.approx(runs["anti_pd1"]["T"].loc[21],
                                                              rel=1e-6)


def test_mdm2_amplified_context_hyperprogresses_under_pd1_blockade_alone():
    runs = _immune(mdm2_amp=1)
    assert runs["anti_pd1"]["T"].loc[7] > 2 * runs["untreated"]["T"].loc[7]
    assert runs["combination"]["T"].loc[7] < runs["untreated"]["T"].loc[7]


def test_schedule_and_unknown_names():
    f = run_tissue_model("csc_ovarian", [0, 10, 20], {"chemo_kill_D_per_day": 0.5},
                         schedule=[(10, {"chemo_kill_D_per_day": 0.0})])
    assert list(f.index) == [0, 10, 20]
    with pytest.raises(ValueError, match="unknown parameter"):
        run_tissue_model("csc_ovarian", [0, 1], {"nope": 1})
    with pytest.raises(ValueError, match="no tissue model"):
        run_tissue_model("nope", [0, 1])
