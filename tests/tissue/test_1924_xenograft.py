"""Poster 1924 in vivo: APG-1387 + CTB-006 in a c-FLIP-high DR5-resistant solid-tumour xenograft
(scenarios/invivo/apg1387_ctb006_xenograft.yaml).

Checked: the study file (arms, kill window = the dosing interval, 72 h), the mouse PK entries
(models/pk.yaml: CTB-006 a two-compartment IgG whose terminal half-life is the 6-8 days of a mouse
IgG in mice, Vieira & Rajewsky Eur J Immunol 1988; APG-1387 a short-lived small molecule whose
free level clears the cIAP Kd, 2 nM, for about a day after 10 mg/kg IV), and the study run from a
small kill table of the 1924 cell model (2 x 2 grid, 8 cells): vehicle tumours grow and the pair
shrinks tumours more than the best single arm (the study's own expect entries).
Units: PK in h and nM, tumour in days and mm^3. Runtime: a few seconds (fast setting).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apopsim.tissue.killrate import kill_table_from_cell_model
from apopsim.tissue.pk import DoseEvent, drug_pk, simulate_pk
from apopsim.tissue.study import kill_window_h, load_study, run_study

INVIVO = Path(__file__).resolve().parents[2] / "scenarios" / "invivo"
STUDY = INVIVO / "apg1387_ctb006_xenograft.yaml"


@pytest.fixture(scope="module")
def study():
    return load_study(STUDY)


def test_study_arms_and_kill_window(study):
    assert [a.name for a in study.arms] == ["vehicle", "apg1387", "ctb006", "combination"]
    assert study.kill_link.context == "solid_dr5_resistant_cflip"
    assert kill_window_h(study) == 72.0  # APG-1387 every 3 days; CTB-006 weekly


def test_ctb006_has_igg_pk_and_apg1387_clears_within_days():
    ctb = drug_pk("ctb006", "mouse")
    assert ctb.compartments == 2 and ctb.fraction_unbound == 1.0
    times = np.arange(0.0, 24.0 * 21 + 1e-9, 1.0)
    c = simulate_pk(ctb, [DoseEvent(0.0, 5.0 * 0.02, "iv_bolus")], times).free_nM
    # terminal half-life from days 10 -> 17 (after the ~11 h distribution phase)
    t_half_days = 7.0 * np.log(2) / np.log(c[240] / c[408])
    assert 6.0 < t_half_days < 9.0
    assert c[0] == pytest.approx(5.0 / 0.05 * 1e6 / 150000.0, rel=1e-3)  # 667 nM in plasma volume
    assert c[24 * 7] > 10 * 0.1  # a week after a dose DR5 (Kd 0.1 nM) is still saturated
    apg = drug_pk("apg1387", "mouse")
    a = simulate_pk(apg, [DoseEvent(0.0, 10.0 * 0.02, "iv_bolus")], times[:73]).free_nM
    assert 500 < a[0] < 1500  # free Cmax ~860 nM (fu 0.2)
    above = times[:73][a > 2.0]  # above the cIAP Kd (2 nM) ...
    assert 12.0 < above[-1] < 48.0  # ... for about a day of each 72 h interval


def test_combination_beats_the_best_single_arm(study):
    """The study's expect entries on a small kill table of the cell model (8 cells, 72 h)."""
    table = kill_table_from_cell_model(
        "intrinsic_extrinsic", "solid_dr5_resistant_cflip",
        {"apg1387": [0, 100], "ctb006": [0, 67]}, n_cells=8, window_h=kill_window_h(study))
    assert table.hazard_per_h[1, 0] == 0.0  # APG-1387 alone kills no cell (no autocrine TNF)
    assert table.fraction[1, 1] > table.fraction[0, 1]  # the pair kills more than CTB-006
    res = run_study(study, kill_table=table, fast=True)
    verdicts = res.checks()
    assert list(verdicts["status"]) == ["pass", "pass"], verdicts[["claim", "measured"]]
    tgi = res.summary.set_index("arm")["tgi_percent"]
    assert tgi["apg1387"] == pytest.approx(0.0, abs=1.0)
    assert tgi["combination"] > tgi["ctb006"] + 10.0
