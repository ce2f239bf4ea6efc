"""The seed claims (AACR 2021 posters 1096, 1463, 976, 1924, 984, 968; APG-115 seed) against the
model library, one reduced scenario per claim.

Each test rebuilds a claim's scenario from its YAML file with fewer cells, output every 1 h and a
2 x 2 (or 2 x 2 x 2) sub-grid ``{0, dose}`` per drug, and asserts the mechanism and the claim.
The dose of each drug is the **central well** of the full 4 x 4 grid (the second non-zero dose),
chosen before looking at the reduced runs and the same rule for every claim; the numbers quoted
in the comments and xfail reasons come from the full scenario runs (150 cells, see
scenarios/README.md).

Claim criterion (as in tests/test_flagship.py): the combination's lower 95 % Wilson bound lies
above each single agent's upper bound at 72 h, and, for claims of *synergy*, the Bliss excess
``f_AB - (f_A + f_B - f_A f_B)`` exceeds 0.05. Cells are the same in every condition of a run
(each cell pre-equilibrated once, then treated under every condition), so comparisons between
conditions are paired; the Wilson criterion is conservative.

Claims the models do not reproduce are ``xfail(strict=True)`` tests asserting the claim: they
document the gap and fail loudly (XPASS) if a later model change makes them pass.
Runtime target: < 60 s serial on one core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import apopsim

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
ALL_SCENARIOS = sorted(SCENARIOS.glob("*.yaml"))
NEW_SCENARIOS = [p for p in ALL_SCENARIOS if p.name != "apg2575_hht.yaml"]


# ------------------------------------------------------------------------------------ helpers
def reduced(name: str, drugs: dict, n_cells: int = 50, duration_h: float = 72.0,
            readout_times_h=(24.0, 72.0), extra_readouts=()) -> apopsim.ScenarioResult:
    """Run a reduced version of scenarios/<name>: sub-grid, fewer cells, hourly output."""
    data = yaml.safe_load((SCENARIOS / name).read_text())
    data["drugs"] = drugs
    species = data["readouts"]["species"]
    data["readouts"] = {**data["readouts"],
                        "species": species + [x for x in extra_readouts if x not in species]}
    data["population"] = {**data["population"], "n_cells": n_cells}
    data["time"] = {"duration_h": duration_h, "output_every_h": 1.0,
                    "readout_times_h": list(readout_times_h)}
    scenario = apopsim.Scenario.model_validate(data)
    return apopsim.run_scenario(scenario, progress=False, executor="serial")


def cond(r: apopsim.ScenarioResult, **doses: float) -> int:
    """Index of the condition with exactly these doses (unlisted drugs at 0 nM)."""
    for i, c in enumerate(r.conditions):
        if all(c.doses_nM.get(k, 0.0) == doses.get(k, 0.0) for k in c.doses_nM):
            return i
    raise KeyError(doses)


def frac(r, t_h: float = 72.0, **doses) -> tuple[float, float, float]:
    return r.conditions[cond(r, **doses)].apoptotic_fraction(t_h)


def at(r, variable: str, t_h: float, **doses) -> float:
    """Mean over cells of ``variable`` at time ``t_h`` in the condition with ``doses``."""
    i = int(np.argmin(np.abs(r.times_h - t_h)))
    return float(r.trace(cond(r, **doses), variable)[i])


def combination(r, a: str, da: float, b: str, db: float, t_h: float = 72.0, **others):
    """Fractions (f, lo, hi) of control, A alone, B alone, A+B, and the Bliss excess."""
    f0 = frac(r, t_h, **others)
    fa = frac(r, t_h, **{a: da}, **others)
    fb = frac(r, t_h, **{b: db}, **others)
    fab = frac(r, t_h, **{a: da, b: db}, **others)
    bliss = fab[0] - (fa[0] + fb[0] - fa[0] * fb[0])
    return f0, fa, fb, fab, bliss


def assert_combination_beats_singles(f0, fa, fb, fab, bliss=None, min_bliss=0.05):
    info = dict(control=f0, a=fa, b=fb, ab=fab, bliss=bliss)
    assert f0[0] < 0.05, info  # untreated cells survive
    assert fab[1] > fa[2], info  # combination's lower bound above A's upper bound
    assert fab[1] > fb[2], info  # ... and above B's upper bound
    if min_bliss is not None:
        assert bliss > min_bliss, info  # more than Bliss independence predicts


# ------------------------------------------------------------------------------ all scenarios
@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=lambda p: p.name)
def test_scenario_validates(path):
    s = apopsim.load_scenario(path)  # schema and names against the model
    assert s.population is not None and s.population.n_cells >= 100


@pytest.mark.parametrize("path", NEW_SCENARIOS, ids=lambda p: p.name)
def test_scenario_cites_its_source_and_has_untreated_margins(path):
    text = path.read_text()
    assert text.startswith("#") and ("poster" in text.split("\nname:")[0]
                                     or "seed" in text.split("\nname:")[0])
    s = apopsim.load_scenario(path, check_model=False)
    for drug, doses in s.dose_lists().items():
        assert 0.0 in doses, drug  # single-agent margins need the 0 nM dose
    assert 72.0 in s.time.readout_times()


# ------------------------------------------------------ poster 1096: olverembatinib + lisaftoclax
@pytest.fixture(scope="module")
def flt3_itd():
    return reduced("hqp1351_apg2575_flt3.yaml",
                   {"olverembatinib": [0, 10], "lisaftoclax": [0, 100]})


@pytest.fixture(scope="module")
def flt3_wt():
    return reduced("hqp1351_apg2575_flt3wt.yaml",
                   {"olverembatinib": [0, 10], "lisaftoclax": [0, 100]}, n_cells=40)


def test_1096_olverembatinib_lowers_mcl1_through_flt3_stat5(flt3_itd):
    r = flt3_itd
    assert at(r, "pSTAT5", 24, olverembatinib=10) < 0.6 * at(r, "pSTAT5", 24)  # full run 0.40/0.80
    assert at(r, "MCL1_total", 24, olverembatinib=10) < 0.8 * at(r, "MCL1_total", 0)  # 33/60 nM
    # BIM transcription rises through ERK/AKT (tests/models/test_flt3_bcrabl_mechanisms.py,
    # BIM_tx); total BIM no longer rises with it since review 2.4 (MCL-1-bound BIM is protected
    # and loses that protection with the MCL-1 olverembatinib removes)
    # transcriptional, not a global translation block: long-lived BCL-2 unchanged
    b = at(r, "BCL2_total", 24, olverembatinib=10) / at(r, "BCL2_total", 0)
    assert abs(b - 1) < 0.05


@pytest.mark.xfail(strict=True, reason=(
    "Lost with review 2.4 (complex-specific MCL-1 turnover, models/README.md; not tuned back): "
    "BIM-bound MCL-1 now turns over 4x more slowly, so the MCL-1 that olverembatinib 10 nM "
    "removes in 24 h is less and the combination kills ~0.10 (Wilson 0.04-0.21) vs <= 0.07 alone "
    "in the reduced run (was ~0.45 vs ~0.04 / 0.07). Status recorded in scenarios/README.md"))
def test_1096_olverembatinib_synergises_with_lisaftoclax_in_flt3_itd(flt3_itd):
    res = combination(flt3_itd, "olverembatinib", 10, "lisaftoclax", 100)
    assert_combination_beats_singles(*res)  # full run ~0.45 vs ~0.04 / 0.07, Bliss +0.36


@pytest.mark.xfail(strict=True, reason=(
    "Lost with review 2.4 (complex-specific MCL-1 turnover, models/README.md; not tuned back): "
    "BIM-bound MCL-1 now turns over 4x more slowly, so the MCL-1 that olverembatinib 10 nM "
    "removes in 24 h is less and the combination kills ~0.10 (Wilson 0.04-0.21) vs <= 0.07 alone "
    "in the reduced run (was ~0.45 vs ~0.04 / 0.07). Status recorded in scenarios/README.md"))
def test_1096_synergy_is_specific_to_flt3_itd(flt3_itd, flt3_wt):
    """Control arm (FLT3-WT, matched baseline MCL-1 and BIM): no synergy without FLT3-ITD."""
    *_, bliss_itd = combination(flt3_itd, "olverembatinib", 10, "lisaftoclax", 100)
    *_, bliss_wt = combination(flt3_wt, "olverembatinib", 10, "lisaftoclax", 100)
    assert bliss_wt < 0.05 < bliss_itd - 0.2, (bliss_itd, bliss_wt)  # fast check +0.38 vs 0.00


def test_1096_mcl1_fall_is_specific_to_flt3_itd(flt3_itd, flt3_wt):
    # FLT3-ITD drives STAT5 -> MCL-1; WT cells get STAT5 from cytokine/JAK (models/README.md)
    fall = lambda r: 1 - at(r, "MCL1_total", 24, olverembatinib=10) / at(r, "MCL1_total", 0)  # noqa: E731
    assert fall(flt3_itd) > 0.2  # ~0.44
    assert fall(flt3_wt) < 0.1  # ~0.08


# ------------------------------------------------------ poster 1463: olverembatinib + asciminib
@pytest.fixture(scope="module")
def cml_compound():
    # central well of the compound-mutant grid (olverembatinib 100 + asciminib 1000 nM, also the
    # WT/T315I grids' top clinical well; the old decade-grid centre 10 + 100 nM killed nothing)
    return reduced("hqp1351_asciminib_compound.yaml",
                   {"olverembatinib": [0, 100], "asciminib": [0, 1000]}, n_cells=120)


def test_1463_two_site_inhibition_of_compound_mutant_bcr_abl(cml_compound):
    r = cml_compound
    act = {k: at(r, "ABL_activity", 24, **d) for k, d in
           {"olv": {"olverembatinib": 100}, "asc": {"asciminib": 1000},
            "both": {"olverembatinib": 100, "asciminib": 1000}}.items()}
    assert act["olv"] > 0.5 and act["asc"] > 0.5  # each alone weak on T315I/E255V
    assert act["both"] < 0.8 * act["olv"] * act["asc"]  # coupled sites: below the product
    both = {"olverembatinib": 100, "asciminib": 1000}
    assert at(r, "MCL1_total", 24, **both) < 0.8 * at(r, "MCL1_total", 0)
    assert at(r, "BIM_total", 24, **both) > 1.3 * at(r, "BIM_total", 0)


def test_1463_olverembatinib_enhances_asciminib_on_compound_mutant(cml_compound):
    res = combination(cml_compound, "olverembatinib", 100, "asciminib", 1000)
    assert_combination_beats_singles(*res)  # compound grid centre; fast check 0.24 vs 0 / 0


def test_1463_atp_and_myristoyl_site_drugs_inhibit_the_kinase_cooperatively():
    """Two-state allosteric model (Skora et al. 2013): the pair inhibits the kinase more than the
    product of the single-drug activities; with conformation-neutral ATP-site binding (control,
    c_olverembatinib_closed = 1) the sites are independent and the product holds."""
    model = apopsim.load_model("bcr_abl_cml", context="cml_compound_t315i_e255v")
    for coupled in (True, False):
        pars = {} if coupled else {"c_olverembatinib_closed": 1.0}
        act = {}
        for key, doses in {"olv": {"olverembatinib": 100}, "asc": {"asciminib": 1000},
                           "both": {"olverembatinib": 100, "asciminib": 1000}}.items():
            traj = apopsim.simulate(model, times_h=[0, 24], doses_nM=doses, parameters=pars)
            act[key] = float(traj["ABL_activity"][-1])
        ratio = act["both"] / (act["olv"] * act["asc"])
        assert (ratio < 0.8) if coupled else (ratio == pytest.approx(1.0, rel=0.02)), (coupled, act)


_LOST_24 = pytest.mark.xfail(strict=True, reason=(
    "Lost with review 2.4 (complex-specific MCL-1 turnover, models/README.md; not tuned back): "
    "the nominal cell of this compound mutant is no longer killed by olverembatinib 100 + "
    "asciminib 1000 nM in 72 h. Status recorded in scenarios/README.md"))
CML_MUTANTS = ["cml_t315i", "cml_compound_t315i_g250e", "cml_compound_t315i_y253h",
               "cml_compound_t315i_e255v"]
_LOST = {"cml_compound_t315i_y253h", "cml_compound_t315i_e255v"}


@pytest.mark.parametrize("ctx", [pytest.param(c, marks=_LOST_24) if c in _LOST else c
                                 for c in CML_MUTANTS])
def test_1463_olverembatinib_asciminib_synergise_on_every_mutant(ctx):
    """Nominal cell per mutant, 72 h, the top clinical well (100 + 1000 nM): the pair kills where
    neither drug alone does (a Bliss excess of a whole cell)."""
    model = apopsim.load_model("bcr_abl_cml", context=ctx)
    dead = {}
    for key, doses in {"olv": {"olverembatinib": 100}, "asc": {"asciminib": 1000},
                       "both": {"olverembatinib": 100, "asciminib": 1000}}.items():
        traj = apopsim.simulate(model, times_h=[0, 72], doses_nM=doses)
        dead[key] = float(traj["cleaved_PARP_fraction"][-1]) > 0.5
    if ctx == "cml_t315i":  # olverembatinib alone already kills T315I cells (fold only x9)
        assert dead["olv"] and dead["both"], dead
    else:
        assert dead == {"olv": False, "asc": False, "both": True}, dead


def test_1463_ponatinib_arm_overcomes_fewer_mutants_than_olverembatinib():
    """Poster 1463: asciminib + ponatinib overcomes only a subset of the mutants. Nominal cells at
    the top clinical well, 72 h. Caveat (models/README.md): olverembatinib's compound-mutant folds
    are assumptions, and the catalogue gives ponatinib a serum shift (fu 0.01 in plasma) but
    olverembatinib none (no published unbound fraction)."""
    killed = {"olverembatinib": [], "ponatinib": []}
    for ctx in CML_MUTANTS:
        model = apopsim.load_model("bcr_abl_cml", context=ctx)
        for drug in killed:
            traj = apopsim.simulate(model, times_h=[0, 72], doses_nM={drug: 100, "asciminib": 1000})
            if float(traj["cleaved_PARP_fraction"][-1]) > 0.5:
                killed[drug].append(ctx)
    assert set(killed["ponatinib"]) < set(killed["olverembatinib"]), killed


@pytest.mark.xfail(strict=True, reason=(
    "The ponatinib-arm contrast rests on the serum asymmetry: olverembatinib (an isomer of "
    "ponatinib, no published unbound fraction) gets no serum shift, ponatinib fu 0.17 in 10 % "
    "FBS. Given ponatinib's binding (100 nM -> 16.8 nM free), olverembatinib + asciminib 1000 nM "
    "leaves T315I/G250E at activity 0.245 (0.059 unbound) and kills no compound-mutant nominal "
    "cell, so both arms overcome the same mutants (T315I only); the pocket folds alone "
    "(olverembatinib 2.9-fold more potent on every T315I mutant, Ren 2013 / O'Hare 2009) do not "
    "carry it. Passes once olverembatinib has a published fu or a compound-mutant IC50."))
def test_1463_ponatinib_arm_fewer_mutants_with_equal_serum_binding():
    """As the ponatinib-arm test, with olverembatinib dosed at ponatinib's free fraction (total
    100 nM x fu_ponatinib / fu_olverembatinib in 10 % FBS), so only the pocket folds differ."""
    from apopsim.library import catalogue

    cat = catalogue()
    olv = 100 * cat.free_fraction("ponatinib") / cat.free_fraction("olverembatinib")
    killed = {"olverembatinib": [], "ponatinib": []}
    for ctx in CML_MUTANTS:
        model = apopsim.load_model("bcr_abl_cml", context=ctx)
        for drug, dose in (("olverembatinib", olv), ("ponatinib", 100)):
            traj = apopsim.simulate(model, times_h=[0, 72],
                                    doses_nM={drug: dose, "asciminib": 1000})
            if float(traj["cleaved_PARP_fraction"][-1]) > 0.5:
                killed[drug].append(ctx)
    assert set(killed["ponatinib"]) < set(killed["olverembatinib"]), killed


# ------------------------------------------------------ poster 976: lisaftoclax + palbociclib
@pytest.fixture(scope="module")
def breast():
    return reduced("apg2575_palbociclib_erbreast.yaml",
                   {"palbociclib": [0, 100], "lisaftoclax": [0, 100]}, n_cells=80)


def test_976_palbociclib_arrests_in_g1_and_builds_senescence(breast):
    r = breast
    assert at(r, "pRB", 24, palbociclib=100) < 0.5 * at(r, "pRB", 24)  # 0.28 vs 0.80
    assert at(r, "G1_arrest", 24, palbociclib=100) > 0.8
    assert at(r, "G1_arrest", 24, lisaftoclax=100) < 0.3  # lisaftoclax alone does not arrest
    sen24, sen72 = (at(r, "SEN", t, palbociclib=100) for t in (24, 72))
    assert sen24 > 0.1 and sen72 > sen24 + 0.2  # senescence builds over days
    assert at(r, "BIM_total", 72, palbociclib=100) > 1.5 * at(r, "BIM_total", 0)  # primed


@pytest.mark.xfail(strict=True, reason=(
    "Lost with the issue-9 switch rework (models/README.md; was 0.42 vs 0.01 / 0.15, Bliss +0.26 "
    "in the full run before it): 0.00 in every well at 72 and 144 h. Arrested cells accumulate "
    "BCL-xL x1.9 (growth dilution lost) and BCL-xL alone holds BIM and activated BAK, even with "
    "MCL-1 destabilised 8-fold; navitoclax does kill arrested cells (0.61 vs 0.05 alone, "
    "scenarios/apg2575_palbociclib_erbreast_bclxl_dependence.yaml), as Shahbandi et al. Cell "
    "Death Differ 2020 report for senescent breast cancer cells. It would pass if lisaftoclax "
    "also bound > ~80 % of that BCL-xL (a Kd of ~2 nM or less at 100 nM; unpublished; "
    "tests/models/test_cdk46_proliferation.py)"))
def test_976_lisaftoclax_turns_palbociclib_senescence_into_apoptosis(breast):
    res = combination(breast, "palbociclib", 100, "lisaftoclax", 100)
    assert_combination_beats_singles(*res)  # full run 0.42 vs 0.01 / 0.15, Bliss +0.26
    *_, bliss24 = combination(breast, "palbociclib", 100, "lisaftoclax", 100, t_h=24)
    assert res[-1] > bliss24 + 0.05  # synergy grows as senescence builds (full run +0.05 -> +0.26)


def test_976_lisaftoclax_adds_to_palbociclib_g1_arrest():
    """Holds only through the lisaftoclax -> Rb input of cdk46_signalling (IC50_lisaftoclax_RB,
    an assumption transferred from venetoclax, Whittle et al. 2020); the control
    apg2575_palbociclib_erbreast_no_rb_effect.yaml removes it (ratio 1.000)."""
    model = apopsim.load_model("cdk46_breast", context="er_breast_mcf7")
    g1 = {}
    for key, doses in {"palbo": {"palbociclib": 100},
                       "both": {"palbociclib": 100, "lisaftoclax": 100}}.items():
        g1[key] = float(apopsim.simulate(model, times_h=[0, 24], doses_nM=doses)["G1_arrest"][-1])
    assert g1["both"] > g1["palbo"] + 0.02


# ------------------------------------------------------ poster 1924: APG-1387 + CTB-006
@pytest.fixture(scope="module")
def hela():
    return reduced("apg1387_ctb006_solid.yaml", {"ctb006": [0, 0.67], "apg1387": [0, 100]})


def test_1924_apg1387_degrades_ciap_and_speeds_dr5_apoptosis(hela):
    r = hela
    assert at(r, "cIAP", 2, apg1387=100) < 0.1 * at(r, "cIAP", 0)
    assert at(r, "XIAP_apg1387", 2, apg1387=100) > 0.5 * at(r, "XIAP_total", 0)
    td = lambda **d: np.median(r.conditions[cond(r, **d)].live)  # noqa: E731
    assert td(ctb006=0.67, apg1387=100) < 0.75 * td(ctb006=0.67)  # faster caspase-8 route


@pytest.mark.xfail(strict=True, reason=(
    "HeLa is TRAIL/DR5-sensitive: CTB-006 0.1 ug/ml alone kills about 93 % in the hela context, "
    "so at 72 h the combination has little room above it (APG-1387 alone now spares HeLa, 0.00, "
    "since its TNF route is a module only contexts with autocrine TNF have). The poster's "
    "synergy is reproduced in the DR5-resistant, XIAP-high context instead "
    "(scenarios/apg1387_ctb006_resistant.yaml, checked by apopsim check and "
    "tests/models/test_extrinsic.py; the caspase-8 knock-out control removes it)"))
def test_1924_apg1387_synergises_with_ctb006(hela):
    res = combination(hela, "ctb006", 0.67, "apg1387", 100)
    assert_combination_beats_singles(*res)


@pytest.mark.xfail(strict=True, reason=(
    "c-FLIP resistance is partial: CTB-006 0.67 nM alone kills 0.35 of c-FLIP-high cells at 72 h "
    "(150 cells; the claim needs < 0.2). The nominal cell survives but close to its threshold "
    "(25 % less c-FLIP or 33 % more caspase-8 kills it, tests/models/test_cflip_context.py), so "
    "with CV 0.25 about a third die; c-FLIP is at the top of the reported range (2000 molecules) "
    "and CTB-006's affinity (the strong lever: Kd 1 nM gives 0.05) is not published"))
def test_1924_ctb006_alone_spares_most_cflip_high_cells():
    r = reduced("apg1387_ctb006_cflip.yaml", {"ctb006": [0, 0.67]}, n_cells=40)
    assert frac(r, ctb006=0.67)[0] < 0.2


# ------------------------------------------------------ poster 984: pelcitoclax (+ S63845) in NEN
@pytest.fixture(scope="module")
def nen():
    grid = {"pelcitoclax": [0, 100], "s63845": [0, 100]}
    return {
        "high_high": reduced("apg1252_s63845_nen_bclxl_high_mcl1_high.yaml", grid),
        "high_low": reduced("apg1252_s63845_nen_bclxl_high_mcl1_low.yaml", grid),
        "low": reduced("apg1252_s63845_nen_bclxl_low.yaml", {"pelcitoclax": [0, 100]}),
    }


def test_984_nen_lines_differ_only_in_the_protein_their_controls_name():
    """The 984 controls compare the BCL-xL-addicted line (nen_bclxl_high_mcl1_low) with an
    MCL-1-high and a BCL-xL-low line; each must differ from it in that one synthesis rate only
    (model review section 3: the hand-built lines confounded BCL-xL with MCL-1 and BIM)."""
    from apopsim.library import contexts

    ctx = contexts()
    base = ctx["nen_bclxl_high_mcl1_low"]["parameters"]
    for name, changed in [("nen_bclxl_high_mcl1_high", "ksyn_MCL1"),
                          ("nen_bclxl_low", "ksyn_BCLXL")]:
        p = ctx[name]["parameters"]
        assert set(p) == set(base), name
        assert [k for k in base if p[k] != base[k]] == [changed], name


def test_984_bclxl_addicted_line_dies_at_published_apg1252_m1_potency():
    """The 984 control doses (100 nM, not 10 nM) rest on this: the BCL-xL-addicted line's mean
    cell dies within 72 h between 20 and 133 nM APG-1252-M1, the 72 h IC50 range of
    BCL-xL-dependent lines (NK/T-cell lymphoma SNK-8/-6/-1; unverified), not below it (51 nM)."""
    model = apopsim.load_model("apoptosis_intrinsic", context="nen_bclxl_high_mcl1_low")

    def dies(dose_nM: float) -> bool:
        tr = apopsim.simulate(model, times_h=[0.0, 72.0], doses_nM={"pelcitoclax": dose_nM})
        return bool(tr["cleaved_PARP_fraction"][-1] > 0.5)

    assert not dies(20.0) and dies(133.0)


def test_984_pelcitoclax_frees_bim_from_bclxl_and_s63845_from_mcl1(nen):
    r = nen["high_high"]
    assert at(r, "BCLXL_BIM", 24, pelcitoclax=100) < 0.2 * at(r, "BCLXL_BIM", 0)
    assert at(r, "MCL1_BIM", 24, pelcitoclax=100) > at(r, "MCL1_BIM", 0)  # BIM shifts to MCL-1
    assert at(r, "MCL1_BIM", 24, s63845=100) < 0.2 * at(r, "MCL1_BIM", 0)


def test_984_mcl1_inhibitor_helps_pelcitoclax_where_mcl1_is_high(nen):
    f0, fa, fb, fab, _ = combination(nen["high_high"], "pelcitoclax", 100, "s63845", 100)
    assert_combination_beats_singles(f0, fa, fb, fab, min_bliss=None)  # full run 0.98 vs 0 / 0
    benefit = {k: frac(r, pelcitoclax=100, s63845=100)[0]
               - max(frac(r, pelcitoclax=100)[0], frac(r, s63845=100)[0])
               for k, r in nen.items() if k != "low"}
    assert benefit["high_high"] > benefit["high_low"] + 0.05  # full run +0.98 vs +0.22


@pytest.mark.xfail(strict=True, reason=(
    "Control of poster 984 (scenarios/apg1252_s63845_nen_bclxl_high_mcl1_low.yaml, expect[1]) "
    "not reproduced: pelcitoclax 100 nM is a near-IC50 dose for the BCL-xL-addicted line (mean "
    "cell dies from 51 nM; published APG-1252-M1 IC50s of BCL-xL-dependent lines 20-133 nM) and "
    "kills 0.76 (full run, 150 cells); the survivors hold the freed BIM on MCL-1 (10 nM, as much "
    "as the BIM), so S63845 100 nM (killing dose 51 -> 7.5 nM) adds +22 pp (0.98). Yao et al. 2022 "
    "report the same for MCL-1-low colorectal lines"))
def test_984_mcl1_inhibitor_adds_little_where_mcl1_is_low(nen):
    r = nen["high_low"]
    hsa = frac(r, pelcitoclax=100, s63845=100)[0] - max(frac(r, pelcitoclax=100)[0],
                                                          frac(r, s63845=100)[0])
    assert hsa < 0.05


@pytest.mark.xfail(strict=True, reason=(
    "Less BCL-xL, all else equal, makes the line more sensitive, not less: at 100 nM (72 h, 150 "
    "cells) the BCL-xL-low line dies 0.90 against 0.76 for the line that differs from it only in "
    "BCL-xL (10 nM: 0.41 vs 0.00; mean-cell killing dose 13 vs 51 nM). The BIM that BCL-xL does "
    "not hold already sits on MCL-1 (MCL-1:BIM 5.7 vs 1.6 nM), and pelcitoclax still takes BCL-2; "
    "abundant BCL-xL buffers with its drug-free remainder. Sensitivity tracks BCL-xL:BIM across "
    "the virtual panel (scenarios/panels/) because BIM-on-BCL-xL-rich lines are MCL-1-poor"))
def test_984_pelcitoclax_sensitivity_tracks_bclxl(nen):
    low = frac(nen["low"], pelcitoclax=100)
    high = frac(nen["high_low"], pelcitoclax=100)  # the line differing only in BCL-xL
    assert low[2] < high[1], (low, high)  # BCL-xL-low line clearly less sensitive


# ------------------------------------------------------ poster 968: APG-2449 + chemotherapy
@pytest.fixture(scope="module")
def ovarian():
    return reduced("apg2449_paclitaxel_ovarian.yaml",
                   {"apg2449": [0, 100], "paclitaxel": [0, 10], "carboplatin": [0, 10000]},
                   extra_readouts=["PUMA_total"])


def test_968_apg2449_lowers_mcl1_and_stem_cells_chemo_acts_through_mcl1_bim_p53(ovarian):
    r = ovarian
    m0 = at(r, "MCL1_total", 0)
    assert at(r, "MCL1_total", 24, apg2449=100) < 0.75 * m0  # FAK -> MCL-1 transcription (0.62)
    assert at(r, "CSC", 72, apg2449=100) < 0.5 * at(r, "CSC", 72)  # CD44+ fraction 0.30 -> 0.08
    both = at(r, "MCL1_total", 24, apg2449=100, paclitaxel=10)
    assert both < at(r, "MCL1_total", 24, apg2449=100)  # paclitaxel: MCL-1 degradation
    assert at(r, "BIM_total", 24, paclitaxel=10) > 1.2 * at(r, "BIM_total", 0)
    # carboplatin raises (mutant, stable) p53, which is transcriptionally dead; PUMA rises only
    # through the p53-independent platinum route (modules/platinum.ant: adducts -> replication
    # stress -> E2F1/p73, ATF3/ATF4; x2.07 at 24 h of 10 uM; before it, x1.00). The route's
    # knock-out and replication dependence: tests/models/test_ovarian_chemo.py
    assert at(r, "p53", 24, carboplatin=10000) > 3 * at(r, "p53", 0)
    assert at(r, "PUMA_total", 24, carboplatin=10000) > 1.5 * at(r, "PUMA_total", 0)


@pytest.mark.xfail(strict=True, reason=(
    "APG-2449 and paclitaxel converge on MCL-1 (35.7 -> 15.0 nM at 72 h, 100 + 10 nM) but BCL-xL "
    "(40 nM) still holds the BIM (23 nM in the context primed from Brotin et al. 2010, "
    "2026-11-30): at 100 + 10 nM no cell dies (0 of 150, and 0 alone); only the top paclitaxel "
    "dose kills a few (100 nM: 2.7 % alone, 5.3 % with APG-2449). The CD44+ fraction CSC falls "
    "(0.30 -> 0.08) but feeds no death pathway, so the poster's CSC mechanism cannot act"))
def test_968_apg2449_sensitises_to_paclitaxel(ovarian):
    res = combination(ovarian, "apg2449", 100, "paclitaxel", 10)
    assert_combination_beats_singles(*res)


@pytest.mark.xfail(strict=True, reason=(
    "ovarian_hgsoc is p53-mutant (p53_tx_active = 0) and carboplatin's p53-independent route "
    "(modules/platinum.ant: NOXA x3.5, PUMA x2-4 in cycling cells) is absorbed by BCL-xL "
    "(40 nM) + MCL-1 (~31 nM) also in the context primed from independent data (BIM 5 -> 23 nM, "
    "BCL-2 20 -> 2 nM; Brotin et al. 2010): 0 of 150 killed at 1-100 uM alone or with APG-2449 "
    "100 nM; the average cell dies within 72 h only with 8 x the assumed induction (~20-fold "
    "PUMA, ~33-fold NOXA)"))
def test_968_apg2449_sensitises_to_carboplatin(ovarian):
    res = combination(ovarian, "apg2449", 100, "carboplatin", 10000)
    assert_combination_beats_singles(*res)


# ------------------------------------------ seed 000 (APG-115): only the p53 part is modelled
@pytest.fixture(scope="module")
def p53():
    return {v: reduced(f"apg115_p53{v}.yaml", {"alrizomadlin": [0, 100]}, n_cells=40)
            for v in ("wt", "mutant")}


def test_apg115_induces_p53_targets_only_in_p53_wild_type(p53):
    wt, mut = p53["wt"], p53["mutant"]
    assert at(wt, "p53", 24, alrizomadlin=100) > 10 * at(wt, "p53", 0)
    # x2.6 since p53 rises ~10-fold, not ~140-fold, under MDM2 blockade (issue 9: kdeg_p53 fitted
    # to Geva-Zatorsky 2006; PUMA 2.16 -> 5.63 nM at 24 h in the reduced run; it was x6.8)
    assert at(wt, "PUMA_total", 24, alrizomadlin=100) > 2 * at(wt, "PUMA_total", 0)
    assert abs(at(mut, "PUMA_total", 24, alrizomadlin=100) / at(mut, "PUMA_total", 0) - 1) < 0.05
    assert frac(mut, alrizomadlin=100)[0] == 0.0
    assert frac(wt, alrizomadlin=100)[0] >= frac(mut, alrizomadlin=100)[0]
