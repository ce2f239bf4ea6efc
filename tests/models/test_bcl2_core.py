"""bcl2_core in the aml_mcl1_dependent context: the flagship lisaftoclax + HHT scenario
(poster 981)."""

import pytest
from _modelkit import at, chase_half_lives, load, run, run_no_preeq, time_of_death, untreated_state


@pytest.fixture(scope="module")
def aml():
    return load("bcl2_core", "aml_mcl1_dependent")


def test_untreated_cell_is_alive(aml):
    times, tr = run(aml, 72.0, dt=1.0)
    assert at(times, tr, "Pore", 0) < 1e-3
    assert at(times, tr, "cytoC_released_fraction", 0) < 0.01
    assert max(tr["cleaved_PARP_fraction"]) < 0.01


def test_translation_block_loses_mcl1_while_bim_persists(aml):
    # Under a translation block MCL-1 is lost within ~1 h while BIM persists, and the BIM it frees
    # kills (Adams & Cooper J Biol Chem 2007;282:6192, "Rapid turnover of Mcl-1 couples translation
    # to cell survival and apoptosis"); MCL-1 half-life 0.4-1 h (Senichkin et al. Cell Death Differ
    # 2020). Chase = HHT 1e6 nM from the untreated state. Model: MCL-1 0.94 h (most MCL-1 here is
    # BIM-bound and turns over 4x more slowly, fdeg_MCL1_BIM), BIM 3.34 h (x3.6). BIM's 1.0 h rate
    # (kdeg_BIM, Cloete et al. 2023, a model rate constant) applies to free BIM; bound BIM is
    # protected. Reading 1.0 h as the bulk chase value instead (issue 9, rejected: kdeg_BIM 2.58,
    # ksyn_BIM 40.99, ksyn_MCL1 66.47) gives MCL-1 0.81 h vs BIM 1.00 h and fails the ratio
    # (test_translation_block_check_can_fail); no drug combination killed with it. The lead's
    # variant fitting both bulk half-lives (kdeg_MCL1 2.428, kdeg_BIM 2.516, ksyn_MCL1 116.5,
    # ksyn_BIM 39.98: MCL-1 0.50 h, BIM 1.00 h) sits exactly on the 2x bound, so this check does
    # not separate it; it did not kill either (models/README.md, fourth round).
    t_mcl1, t_bim = chase_half_lives(aml, ["MCL1_total", "BIM_total"])
    assert 0.4 < t_mcl1 < 1.0
    assert t_bim > 2.0 * t_mcl1


def test_translation_block_check_can_fail(aml):
    # The rejected bulk reading of the BIM half-life (issue 9, step 2 parameters) must fail the
    # mechanism check above: MCL-1 0.81 h, BIM 1.00 h (x1.23).
    t_mcl1, t_bim = chase_half_lives(
        aml, ["MCL1_total", "BIM_total"],
        parameters={"kdeg_BIM": 2.58, "ksyn_BIM": 40.99, "ksyn_MCL1": 66.47})
    assert 0.7 < t_mcl1 < 0.9 and 0.9 < t_bim < 1.1
    assert not t_bim > 2.0 * t_mcl1


def test_hht_lowers_mcl1_not_bcl2_and_mcl1_complexes(aml):
    # Chen et al. Blood 2011;117:156: MCL-1 falls within 2 h of HHT; poster 981: HHT abolishes
    # MCL-1:BIM and MCL-1:BAK complexes.
    times, tr = run(aml, 2.0, {"hht": 50})
    assert at(times, tr, "MCL1_total", 2) / at(times, tr, "MCL1_total", 0) < 0.5
    assert abs(at(times, tr, "BCL2_total", 2) / at(times, tr, "BCL2_total", 0) - 1) < 0.10


@pytest.mark.xfail(strict=True, reason=(
    "poster 981's co-IP claim: at 2 h of HHT 50 nM the model's MCL-1:BIM is x0.60 (not < 0.5) and "
    "MCL-1:BAK x1.03 (not < 0.95), with total MCL-1 x0.49, total BIM x0.77, free BIM x1.66 and "
    "BCL-2:BIM x1.18: BIM persists under the translation block (bulk chase 3.34 h vs MCL-1 "
    "0.94 h) and the BIM freed from the MCL-1 degraded reloads the MCL-1 left, so the complexes "
    "fall less than MCL-1. It passed (x0.34 / x0.56) only with the rejected bulk reading of the "
    "1.0 h BIM half-life (issue 9, models/README.md), under which no combination kills"))
def test_hht_abolishes_mcl1_complexes(aml):
    # poster 981: HHT abolishes MCL-1:BIM and MCL-1:BAK complexes (co-IP at 2 h of HHT 50 nM).
    times, tr = run(aml, 2.0, {"hht": 50})
    assert at(times, tr, "MCL1_BIM", 2) < 0.5 * at(times, tr, "MCL1_BIM", 0)
    assert at(times, tr, "MCL1_BAK", 2) < 0.95 * at(times, tr, "MCL1_BAK", 0)


@pytest.mark.parametrize("fold", [
    0.1,
    0.05,
])
def test_mcl1_knock_down_kills_and_moves_bim_onto_bcl2(aml, fold):
    # MCL-1 loss kills MCL-1-dependent AML (Glaser et al. Genes Dev 2012) and myeloma cells
    # (MCL-1 antisense: Zhang et al. Blood 2002;99:1885, apoptosis as MCL-1 falls). MCL-1 synthesis
    # is stepped down from the untreated steady state: x0.1 kills at Td 8.25 h, x0.05 at 6.5 h
    # (x0.02: 6.0 h); x0.2 survives 72 h. The BIM MCL-1 held moves onto BCL-2 (protected there
    # too, fdeg_BIM_BCL2; in myeloma BIM:BCL-2 is unchanged when MCL-1 disappears, Gomez-Bougie
    # et al. Eur J Immunol 2004; BCL-2:BIM x1.63 / x1.61 at 4 h) and the excess is free (free BIM
    # peaks x8.2 / x9.9). Before (only MCL-1-bound BIM protected) neither fold killed in 72 h: the
    # freed BIM was degraded (total BIM 60 -> 31 nM at x0.05; 41 nM now).
    y0 = untreated_state(aml)
    times, tr = run_no_preeq(aml, 72.0, y0, {"ksyn_MCL1": fold * aml.parameters["ksyn_MCL1"]},
                             dt=0.25)
    td = time_of_death(times, tr)
    assert td is not None and td < 24.0
    assert at(times, tr, "BCL2_BIM", 4) > 1.2 * at(times, tr, "BCL2_BIM", 0)
    assert max(tr["BIM"]) > 5 * tr["BIM"][0]


@pytest.mark.parametrize("doses", [{"lisaftoclax": 100}, {"hht": 50}])
def test_single_agents_spare_the_cell(aml, doses):
    times, tr = run(aml, 72.0, doses, dt=0.25)
    assert time_of_death(times, tr) is None


@pytest.mark.xfail(strict=True, reason=(
    "issue-9 switch rework (BCL-2 binds active BAK, auto-activation gain 0.2, kret 5 /h): "
    "lisaftoclax 100 + HHT 50 nM no longer kills in 72 h (was Td 3.45 h); HHT 50 lowers total "
    "BIM (x0.77 at 2 h) along with MCL-1 (x0.49), and the transient BAK activation (active BAK "
    "peaks 0.86 nM) does not tip the switch. The combination kills from HHT 200 nM (Td 6.05 h; "
    "5.75 h before BCL-2-bound BIM was protected; from 100 nM, Td 4.3 h, before the "
    "complex-specific MCL-1 turnover of review 2.4)"))
def test_combination_kills_within_hours(aml):
    times, tr = run(aml, 72.0, {"lisaftoclax": 100, "hht": 50}, dt=0.05)
    td = time_of_death(times, tr)
    assert td is not None and 1.0 < td < 12.0


@pytest.mark.xfail(strict=True, reason=(
    "review 2.4 (complex-specific MCL-1 turnover): BIM-bound MCL-1 is degraded 4x more slowly and "
    "the BIM that lisaftoclax frees moves onto MCL-1 and stabilises it (MCL-1 x1.48 at 24 h with "
    "lisaftoclax alone; x1.13 since BCL-2-bound BIM is protected), so HHT 100 nM + lisaftoclax "
    "100 nM no longer kills the nominal cell in 72 h (Td 4.3 h before; active BAK peaks 1.67 nM "
    "now); HHT 200 / 1000 nM still kill (Td 6.05 / 4.85 h; test_combination_kills_at_high_hht)"))
def test_combination_kills_at_reachable_hht(aml):
    # HHT 100 nM: within Chen et al. 2011's in-vitro range (10-100 nM) and the reachable plasma
    # levels (~37-180 nM; Yakhni et al. AJCR 2019); neither drug alone kills
    for doses in ({"hht": 100}, {"lisaftoclax": 100}):
        times, tr = run(aml, 72.0, doses, dt=0.25)
        assert time_of_death(times, tr) is None, doses
    times, tr = run(aml, 72.0, {"lisaftoclax": 100, "hht": 100}, dt=0.05)
    td = time_of_death(times, tr)
    assert td is not None and 1.0 < td < 12.0


def test_combination_kills_at_high_hht(aml):
    # HHT 200 nM (+ lisaftoclax 100 nM) kills the nominal cell within hours (Td 6.05 h; 5.75 h
    # before BCL-2-bound BIM was protected; HHT 1000 nM: 4.85 h); HHT 200 alone does not
    times, tr = run(aml, 72.0, {"hht": 200}, dt=0.25)
    assert time_of_death(times, tr) is None
    times, tr = run(aml, 72.0, {"lisaftoclax": 100, "hht": 200}, dt=0.05)
    td = time_of_death(times, tr)
    assert td is not None and 1.0 < td < 12.0


@pytest.mark.xfail(strict=True, reason=(
    "after the issue-9 switch rework the combination is switch-like in HHT: no death at HHT 10, "
    "20, 50, 100 nM (+ lisaftoclax 100), Td 6.05 / 4.85 h at 200 / 1000 nM (5.75 / 4.85 h "
    "before BCL-2-bound BIM was protected) with the "
    "complex-specific MCL-1 turnover of review 2.4 (4.3 / 3.8 / 3.5 h at 100 / 200 / 1000 before "
    "it; 7.7 / 4.75 / 3.45 / 2.9 h at 10 / 20 / 50 / 200 nM before the rework)"))
def test_graded_response_to_hht_in_combination(aml):
    tds = []
    for hht in (10, 20, 50, 200):
        times, tr = run(aml, 72.0, {"lisaftoclax": 100, "hht": hht}, dt=0.05)
        tds.append(time_of_death(times, tr))
    assert all(t is not None for t in tds)
    assert all(a > b for a, b in zip(tds, tds[1:])), tds  # faster death at higher dose
    assert tds[0] > 2 * tds[-1]  # not a switch at the lowest dose


def test_low_lisaftoclax_does_not_kill_with_hht(aml):
    # graded in lisaftoclax too: 0.1 nM (Kd 0.1 nM) is not enough, 100 nM is
    times, tr = run(aml, 72.0, {"lisaftoclax": 0.1, "hht": 50}, dt=0.25)
    assert time_of_death(times, tr) is None


def test_mcl1_hht_insensitive_switch_removes_the_mcl1_fall_and_the_killing(aml):
    # The control of poster 981 (scenarios/apg2575_hht_mcl1_hht_insensitive.yaml): with MCL-1
    # synthesis blind to HHT, HHT 50 nM leaves MCL-1 > 0.9 of baseline at 2 h (0.94; 0.49 with the
    # switch off), and lisaftoclax 100 + HHT 1000 nM, which kills the nominal cell (Td 4.85 h),
    # no longer kills it in 72 h.
    def mcl1_at_2h(switch: float) -> float:
        times, tr = run(aml, 2.0, {"hht": 50}, parameters={"mcl1_hht_insensitive": switch})
        return at(times, tr, "MCL1_total", 2) / at(times, tr, "MCL1_total", 0)

    assert mcl1_at_2h(0.0) < 0.6 and mcl1_at_2h(1.0) > 0.9
    doses = {"lisaftoclax": 100, "hht": 1000}
    assert time_of_death(*run(aml, 72.0, doses, dt=0.25)) is not None
    assert time_of_death(*run(aml, 72.0, doses, dt=0.25,
                              parameters={"mcl1_hht_insensitive": 1.0})) is None
