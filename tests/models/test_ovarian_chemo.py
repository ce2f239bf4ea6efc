"""ovarian_chemo: the p53-independent carboplatin route (issue 12, poster 968).

High-grade serous ovarian cancer is p53-mutant (ovarian_hgsoc: p53 transcriptionally dead), so
carboplatin must reach NOXA and PUMA without p53: Pt-DNA adducts -> replication stress in cycling
cells -> ATF3/ATF4, E2F1/p73 -> NOXA, PUMA (models/ovarian_chemo.ant, platinum_damage). The
tests check that the route exists in the p53-mutant context, that it needs replication (a
non-cycling cell does not signal) and that knocking it out removes it. They do not check killing:
at the assumed induction folds no ovarian_hgsoc cell dies (see the scenario files).
The context's priming is set from independent ovarian-line data (models/contexts.yaml): the
combined BCL-xL + MCL-1 knock-down kills and either alone does not (Brotin et al. Int J Cancer
2010), checked here; paclitaxel's mitotic-arrest route acts only in a cycling cell.
Concentrations in nM, times in h.
"""

from __future__ import annotations

import numpy as np
import pytest
from _modelkit import at, load, run, time_of_death

CARBO_NM = 30000.0  # nM; 30 uM free carboplatin, within the clinical free Cmax (~tens of uM)


@pytest.fixture(scope="module")
def model():
    return load("ovarian_chemo", "ovarian_hgsoc")


def _fold(model, name: str, parameters: dict | None = None, t: float = 48.0) -> float:
    """Fold change of ``name`` at ``t`` h of carboplatin CARBO_NM over its untreated value."""
    times, tr = run(model, t, {"carboplatin": CARBO_NM}, dt=1.0, parameters=parameters or {})
    return at(times, tr, name, t) / at(times, tr, name, 0.0)


def test_route_present_in_p53_mutant_context(model):
    """Carboplatin forms adducts and induces NOXA and PUMA although p53 is dead."""
    assert "Pt_DNA" in model.species and "DDR_tf" in model.rate_rules
    assert model.parameters["p53_tx_active"] == 0  # the context is p53-mutant
    times, tr = run(model, 48.0, {"carboplatin": CARBO_NM}, dt=1.0)
    assert at(times, tr, "Pt_DNA", 48.0) > 0
    noxa = at(times, tr, "NOXA_total", 48.0) / at(times, tr, "NOXA_total", 0.0)
    puma = at(times, tr, "PUMA_total", 48.0) / at(times, tr, "PUMA_total", 0.0)
    assert noxa > 2.0 and puma > 2.0, (noxa, puma)
    # the p53 route stays silent in this context: the induction is p53-independent
    assert float(np.max(np.abs(np.asarray(tr["PUMA_tx_p53"]) - 1.0))) < 1e-9


def test_replication_dependence(model):
    """Adducts form in every cell, but only a cycling cell signals them to NOXA/PUMA."""
    cycling = _fold(model, "NOXA_total")
    resting = _fold(model, "NOXA_total", {"cycling_fraction": 0.0})
    half = _fold(model, "NOXA_total", {"cycling_fraction": 0.5})
    assert abs(resting - 1.0) < 0.01, resting
    assert 1.0 < half < cycling, (half, cycling)


def test_knockout_control_removes_induction(model):
    """The control switch exists and removes the induction the route otherwise gives."""
    assert model.parameters["pt_route_on"] == 1
    assert _fold(model, "PUMA_total") > 2.0
    assert abs(_fold(model, "PUMA_total", {"pt_route_on": 0}) - 1.0) < 0.01



def _death_after_knockdown(model, **fold: float) -> float | None:
    """Time of death (h, None = alive at 120 h) of the untreated mean cell after its synthesis
    rates are cut to ``fold`` x (siRNA knock-down from t = 0, after pre-equilibration)."""
    cut = {k: model.parameters[k] * f for k, f in fold.items()}
    times, tr = run(model, 120.0, {}, dt=1.0, schedule=[(0.0, cut)])
    return time_of_death(times, tr)


def test_double_knockdown_kills_single_spares(model):
    """Brotin et al. 2010: concomitant BCL-xL + MCL-1 inhibition kills ovarian carcinoma cells,
    either alone does not. 85 % knock-down of each (assumption); the context's BIM was set so that
    the double knock-down kills within 72 h (with the old BIM 5 nM and BCL-2 20 nM no cell died)."""
    assert _death_after_knockdown(model) is None
    assert _death_after_knockdown(model, ksyn_BCLXL=0.15) is None
    assert _death_after_knockdown(model, ksyn_MCL1=0.15) is None
    t = _death_after_knockdown(model, ksyn_BCLXL=0.15, ksyn_MCL1=0.15)
    assert t is not None and t <= 72.0, t


def test_paclitaxel_arrest_needs_cycling(model):
    """Paclitaxel lowers MCL-1 through mitotic arrest (Wertz et al. 2011; Harley et al. 2010):
    only a cell that enters mitosis; a non-cycling cell keeps its MCL-1."""
    def mcl1_fold(cycling: float) -> float:
        times, tr = run(model, 24.0, {"paclitaxel": 100.0}, dt=1.0,
                        parameters={"cycling_fraction": cycling})
        return at(times, tr, "MCL1_total", 24.0) / at(times, tr, "MCL1_total", 0.0)

    assert mcl1_fold(1.0) < 0.7
    assert abs(mcl1_fold(0.0) - 1.0) < 0.01
