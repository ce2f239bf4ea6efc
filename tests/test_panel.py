"""Virtual cell-line panels (apopsim.panel): sampling, killing doses, correlations, controls.

The 984 claim (pelcitoclax sensitivity tracks baseline BCL-xL complexes; MCL-1 limits it) is a
correlation across lines; these tests check that the panel machinery measures it and that a
control removing the mechanism (pelcitoclax unable to bind BCL-xL) removes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from apopsim.errors import ScenarioError
from apopsim.panel import (
    PanelSpec,
    group_bliss,
    panel_correlations,
    run_panel,
    sample_lines,
    write_panel_report,
)

ROOT = Path(__file__).resolve().parents[1] / "scenarios" / "panels"
#: The shipped 984 panel, reduced to 64 lines and a 20 % dose bracket for test time.
SPEC = PanelSpec.from_yaml(ROOT / "pelcitoclax_nen_panel.yaml").model_dump() | {
    "n_lines": 64, "dose_rel_tol": 0.2}


@pytest.fixture(scope="module")
def panel():
    return run_panel(PanelSpec(**SPEC))


def test_lines_are_sampled_log_uniformly_within_their_ranges():
    base = {"a": 2.0, "b": 10.0}
    lines = sample_lines(base, {"a": (0.5, 2), "b": (0.1, 10)}, 256, seed=3)
    assert lines["a"].between(1.0, 4.0).all() and lines["b"].between(1.0, 100.0).all()
    # log-uniform: the median sits at the geometric centre (2.0 and 10.0), within sampling error
    assert np.median(lines["a"]) == pytest.approx(2.0, rel=0.05)
    assert np.median(lines["b"]) == pytest.approx(10.0, rel=0.15)
    assert sample_lines(base, {"a": (0.5, 2)}, 8, seed=3).equals(
        sample_lines(base, {"a": (0.5, 2)}, 8, seed=3))


def test_untreated_lines_live_and_killing_doses_are_consistent(panel):
    assert panel["dead_untreated"].mean() <= 0.05
    assert not panel["failed"].any()
    killed = panel[panel["ic50_censored"] == ""]
    # a line whose killing dose is below 100 nM is killed by 100 nM, and vice versa
    # (the bisection brackets the dose within 20 %)
    clear = killed[(killed["ic50_nM"] < 80) | (killed["ic50_nM"] > 125)]
    assert ((clear["ic50_nM"] < 100) == clear["killed_pelcitoclax_100"]).all()


def test_pelcitoclax_sensitivity_tracks_bclxl_complexes_and_mcl1_limits_it(panel):
    """Poster 984: sensitivity (low killing dose) goes with BCL-xL complexes; MCL-1 high lines
    resist. Signs and a minimum strength (the poster gives no magnitude). The BCL-xL:BIM
    association must also hold with MCL-1 held fixed (partial rank correlation), so it is not
    just MCL-1 taking BIM away from BCL-xL."""
    rho = panel_correlations(panel, ["MCL1_total", "BCLXL_BIM", "BCLXL_BAK"],
                             control_for="MCL1_total").set_index("readout")
    assert rho.loc["BCLXL_BIM", "rho"] < -0.2 and rho.loc["BCLXL_BAK", "rho"] < -0.2
    assert rho.loc["MCL1_total", "rho"] > 0.4
    assert rho.loc["BCLXL_BIM", "rho_partial"] < -0.1


def test_mcl1_inhibitor_adds_more_in_mcl1_high_lines(panel):
    high = panel["MCL1_total"] > panel["MCL1_total"].median()
    pair = ("pelcitoclax_100", "s63845_100", "combination_100_100")
    b_high = group_bliss(panel, *pair, high)
    b_low = group_bliss(panel, *pair, ~high)
    assert b_high["bliss"] > 0.2
    assert b_high["bliss"] > b_low["bliss"]


def test_control_without_bclxl_binding_removes_killing_and_the_bclxl_correlation(panel):
    """Knock-out control: pelcitoclax that cannot bind BCL-xL (association rate 0) kills
    almost no line, and killing no longer goes with BCL-xL:BIM."""
    spec = PanelSpec(**{**SPEC, "conditions": {}, "expect": [],
                        "parameters": {"kon_pelcitoclax_BCLXL": 0.0}})
    lines = run_panel(spec)
    killed = (lines["ic50_censored"] != "above").mean()
    assert killed < 0.5 * (panel["ic50_censored"] != "above").mean()
    rho = panel_correlations(lines, ["BCLXL_BIM"])["rho"].iloc[0]
    assert abs(rho) < 0.2


def test_panel_file_errors_name_the_line_and_field(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: x\nmodel: apoptosis_intrinsic\nfold_ranges:\n  ksyn_MCL1: [4, 0.25]\n"
                 "drug: pelcitoclax\nn_lines: 1\n")
    with pytest.raises(ScenarioError) as err:
        PanelSpec.from_yaml(f)
    text = str(err.value)
    assert "n_lines" in text and f"{f}:6" in text
    f.write_text("name: x\nmodel: apoptosis_intrinsic\nfold_ranges:\n  ksyn_MCL1: [4, 0.25]\n"
                 "drug: pelcitoclax\n")
    with pytest.raises(ScenarioError, match="low < high"):
        PanelSpec.from_yaml(f)


def test_report_is_written_atomically(panel, tmp_path):
    out = write_panel_report(PanelSpec(**SPEC), panel, tmp_path / "out")
    assert {p.name for p in out.iterdir()} >= {"lines.csv", "correlations.csv", "panel.png",
                                               "run.json"}
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "panel" and run["units"]["concentration"] == "nM"


def test_shipped_panel_files_load_and_the_984_claims_hold_on_64_lines(panel):
    specs = [PanelSpec.from_yaml(f) for f in sorted(ROOT.glob("*.yaml"))]
    assert len(specs) >= 2 and all(s.expect for s in specs)
    verdicts = PanelSpec(**SPEC).evaluate(panel)
    assert len(verdicts) == len(SPEC["expect"]) >= 5
    failing = [(v["claim"], v["measured"]) for v in verdicts if not v["passed"]]
    assert not failing


def test_expectations_must_name_the_panels_readouts():
    with pytest.raises(ValueError, match="BIM_free"):
        PanelSpec(**{**SPEC, "expect": [{"kind": "correlation", "claim": "c", "source": "s",
                                         "x": "BIM_free", "op": "<", "value": 0}]})
