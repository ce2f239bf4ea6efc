"""In-vivo study files, run_study, the report and the CLI (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apopsim.errors import ScenarioError
from apopsim.tissue.killrate import emax_kill_table, kill_table_from_cell_model
from apopsim.tissue.study import load_study, run_study, write_study_report

INVIVO = Path(__file__).resolve().parents[2] / "scenarios" / "invivo"

STUDY = """\
name: tiny
species: mouse
duration_days: 10
pk_output_every_h: 1.0
tumour_output_every_days: 0.5
kill_link:
  model: bcl2_core
  grid_nM: {a: [0, 10], b: [0, 10]}
arms:
  - {name: vehicle, regimens: []}
  - name: A
    regimens: [{drug: lisaftoclax, dose_mg_per_kg: 100, route: oral, duration_days: 7}]
animals: {n: 2, cv: 0.2, seed: 1}
"""


def _table():
    return emax_kill_table(["lisaftoclax", "hht"], [[0, 1, 10, 100], [0, 10, 100, 1000]],
                           0.02, [5.0, 100.0], bliss_excess=1.0)


def _study(tmp_path: Path, text: str = STUDY) -> Path:
    text = text.replace("{a: [0, 10], b: [0, 10]}", "{lisaftoclax: [0, 10], hht: [0, 10]}")
    p = tmp_path / "study.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", sorted(INVIVO.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_studies_are_valid(path):
    study = load_study(path)
    assert study.vehicle and len(study.arms) >= 3


@pytest.mark.parametrize("edit, where", [
    (("duration_days: 10", "duration_days: 10\nbogus: 1"), ":4 bogus"),
    (("dose_mg_per_kg: 100", "dose_mg_per_kg: -1"), "arms[1].regimens[0].dose_mg_per_kg"),
    (("{name: vehicle, regimens: []}", "{name: A, regimens: []}"), "unique"),
    (("route: oral", "route: sc"), "no sc absorption data"),
    (("duration_days: 10", "duration_days: 5"), "beyond duration_days"),
    (("animals:", "expect: [{kind: readout, claim: c, source: s, arm: X, op: '>', value: 0}]"
                  "\nanimals:"), "expect[0].arm: no arm 'X'"),
    (("animals:", "expect: [{kind: guess, claim: c, source: s}]\nanimals:"), "expect[0]"),
])
def test_invalid_studies_name_the_problem(tmp_path, edit, where):
    p = _study(tmp_path, STUDY.replace(*edit))
    with pytest.raises(ScenarioError) as exc:
        load_study(p)
    assert where in str(exc.value)


def test_run_study_with_a_given_kill_table(tmp_path):
    text = STUDY.replace("""  - name: A
    regimens: [{drug: lisaftoclax, dose_mg_per_kg: 100, route: oral, duration_days: 7}]""",
                         """  - name: A
    regimens: [{drug: lisaftoclax, dose_mg_per_kg: 100, route: oral, duration_days: 7}]
  - name: B
    regimens: [{drug: hht, dose_mg_per_kg: 1, route: ip, duration_days: 7}]
  - name: AB
    regimens:
      - {drug: lisaftoclax, dose_mg_per_kg: 100, route: oral, duration_days: 7}
      - {drug: hht, dose_mg_per_kg: 1, route: ip, duration_days: 7}
expect:
  - {kind: compare, claim: AB beats both, source: test, left: {arm: AB},
     right: [{arm: A}, {arm: B}], op: ">", margin: 1}
  - {kind: readout, claim: vehicle TGI is 0, source: test, arm: vehicle, op: approx,
     value: 0, tolerance: 1.0e-9}
  - {kind: compare, claim: AB volume below A's, source: test, role: mechanism,
     left: {arm: AB, readout: median_volume_mm3}, right: [{arm: A, readout: median_volume_mm3}],
     op: "<", scale: ratio, margin: 1.0}
  - {kind: readout, claim: impossible, source: test, arm: A, op: ">", value: 1000,
     why_failing: on purpose}
  - {kind: not_modelled, claim: immune effect, source: test, needs: an immune layer}""")
    res = run_study(_study(tmp_path, text), kill_table=_table(), fast=False)
    checks = res.checks()
    assert list(checks["status"]) == ["pass", "pass", "pass", "fail", "fail"]
    assert checks.loc[3, "why_failing"] == "on purpose"
    s = res.summary.set_index("arm")
    assert s.loc["vehicle", "tgi_percent"] == pytest.approx(0.0)
    assert 0 < s.loc["A", "tgi_percent"] < s.loc["AB", "tgi_percent"]
    assert 0 < s.loc["B", "tgi_percent"] < s.loc["AB", "tgi_percent"]
    assert res.dosing_end_day == 7
    assert res.volumes_mm3["A"].shape == (2, res.times_days.size)
    # animals differ, and the same animals are used in every arm
    assert np.ptp(res.volumes_mm3["vehicle"][:, -1]) > 0
    np.testing.assert_allclose(res.volumes_mm3["A"][:, 0], res.volumes_mm3["vehicle"][:, 0])
    # hazard is zero outside exposure: after washout the hazard returns to ~0
    assert res.hazard_per_h["AB"][-1] < 1e-6
    out = write_study_report(res, tmp_path / "out", plots=False)
    for f in ("summary.csv", "volumes.csv", "pk.csv", "kill_table.csv", "animals.csv", "check.csv",
              "run.json", ".apopsim-output"):
        assert (out / f).is_file(), f
    run = json.loads((out / "run.json").read_text())
    assert run["apopsim_version"] and run["study"]["name"] == "tiny"
    vols = pd.read_csv(out / "volumes.csv")
    assert set(vols["arm"]) == {"vehicle", "A", "B", "AB"}
    # the output-folder policy: a foreign folder is refused, an apopsim output replaced
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    from apopsim._io import OutputError

    with pytest.raises(OutputError):
        write_study_report(res, foreign, plots=False)
    assert (foreign / "notes.txt").read_text() == "mine"
    write_study_report(res, out, plots=False)
    assert not (out / "plots").exists()


def test_report_plots(tmp_path):
    res = run_study(_study(tmp_path), kill_table=_table(), fast=False)
    out = write_study_report(res, tmp_path / "out")
    for f in ("pk.png", "volumes.png", "spaghetti.png", "kill_hazard.png"):
        assert (out / "plots" / f).stat().st_size > 1000, f


def test_cli_validate_and_run(tmp_path, capsys):
    from apopsim.tissue import cli

    p = _study(tmp_path)
    assert cli.main([str(p), "--validate"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(STUDY.replace("species: mouse", "species: rat"))
    assert cli.main([str(bad), "--validate"]) == 2
    assert "species" in capsys.readouterr().err


def test_kill_table_from_the_cell_model():
    """The kill link from the flagship cell model: the pair kills within three days, untreated
    cells do not. (A 72 h window: since BIM-bound MCL-1 turns over 4x more slowly in bcl2_core,
    model review 2.4, the pair kills almost no cell within the first 24 h. HHT 1000 nM, the top
    of the 981 study's grid: with BCL-2-bound BIM protected too, 2026-11-30, lisaftoclax 100 +
    HHT 100 nM kills 13 % of cells, often none of 8.)"""
    tab = kill_table_from_cell_model("bcl2_core", "aml_mcl1_dependent",
                                     {"lisaftoclax": [0, 100], "hht": [0, 1000]}, n_cells=8,
                                     window_h=72)
    assert tab.hazard_per_h[0, 0] == 0.0
    assert tab.hazard_per_h[1, 1] > 0
    assert 0 < tab.fraction[1, 1] <= 1


def test_cli_runs_a_study_with_a_stored_kill_table(tmp_path, capsys):
    from apopsim.tissue import cli

    _table().to_frame().to_csv(tmp_path / "table.csv", index=False)
    text = STUDY.replace("  grid_nM: {a: [0, 10], b: [0, 10]}",
                         "  grid_nM: {a: [0, 10], b: [0, 10]}\n  kill_table_csv: table.csv")
    p = _study(tmp_path, text)
    out = tmp_path / "res"
    assert cli.main([str(p), "-o", str(out), "--no-plots", "--fast"]) == 0
    printed = capsys.readouterr().out
    assert "tgi_percent" in printed and "vehicle" in printed
    run = json.loads((out / "run.json").read_text())
    assert run["kill_table_source"].endswith("table.csv") and run["fast"] is True
    # the study file's folder is protected; a second run into the same output is allowed
    assert cli.main([str(p), "-o", str(tmp_path), "--no-plots", "-q"]) == 2
    assert cli.main([str(p), "-o", str(out), "--no-plots", "-q"]) == 0


def test_pk_variability_gives_each_animal_its_own_exposure(tmp_path):
    text = STUDY.replace("animals: {n: 2, cv: 0.2, seed: 1}",
                         "animals: {n: 3, cv: 0.0, pk_cv: 0.5, seed: 1}")
    res = run_study(_study(tmp_path, text), kill_table=_table(), fast=False)
    assert np.ptp(res.volumes_mm3["vehicle"][:, -1]) == pytest.approx(0.0, abs=1e-9)
    assert np.ptp(res.volumes_mm3["A"][:, -1]) > 1.0   # exposure differs, growth does not
    assert res.animals["CL_factor_lisaftoclax"].nunique() == 3


def test_check_studies_returns_check_outcomes(tmp_path):
    from apopsim.tissue.study import check_studies

    _table().to_frame().to_csv(tmp_path / "table.csv", index=False)
    text = STUDY.replace("  grid_nM: {a: [0, 10], b: [0, 10]}",
                         "  grid_nM: {a: [0, 10], b: [0, 10]}\n  kill_table_csv: table.csv")
    text += ("expect:\n  - {kind: readout, claim: A inhibits growth, source: AACR 2021 poster 981,"
             " arm: A, op: '>', value: 5}\n")
    _study(tmp_path, text)
    (out,) = check_studies([tmp_path])
    assert out.study == "981" and out.status == "pass" and out.scenario == "tiny"


@pytest.mark.parametrize("regimen, window_h", [
    ("frequency: QD", 24.0),
    ("frequency: BID", 12.0),
    ("frequency: QOD", 48.0),
    ("frequency: weekly", 168.0),
    ("frequency: QD, days_on: 1, days_off: 2", 72.0),
])
def test_kill_window_is_the_dosing_interval(tmp_path, monkeypatch, regimen, window_h):
    """Without window_h the kill link integrates the cell model's survival over the dosing
    interval (hazard -ln S(interval) / interval: one interval's exposure kills what it kills in
    the cell model, whatever the frequency). The old link read a fixed 24 h window for every
    regimen (a weekly dose's wave counted 7 times)."""
    from apopsim.tissue import killrate
    from apopsim.tissue.study import kill_window_h, study_kill_table

    text = STUDY.replace("route: oral, duration_days: 7",
                         f"route: oral, {regimen}, duration_days: 8")
    study = load_study(_study(tmp_path, text))
    assert study.kill_link.window_h is None
    assert kill_window_h(study) == window_h
    seen = {}

    def fake(model, context, grid_nM, **kw):
        seen.update(kw)
        return _table()

    monkeypatch.setattr(killrate, "kill_table_from_cell_model", fake)
    table, source = study_kill_table(study, cache=False)
    assert source == "computed" and seen["window_h"] == window_h


def test_kill_window_given_or_shortest_interval(tmp_path):
    """An explicit window_h wins; several regimens of the link's drugs: the shortest interval
    (each dose of either drug starts an exposure episode); only single doses: one day."""
    from apopsim.tissue.study import SINGLE_DOSE_WINDOW_H, kill_window_h

    two = STUDY.replace("animals:", "  - name: B\n    regimens: [{drug: hht, dose_mg_per_kg: 1, "
                                    "route: ip, frequency: QOD, duration_days: 7}]\nanimals:")
    assert kill_window_h(load_study(_study(tmp_path, two))) == 24.0
    given = STUDY.replace("grid_nM: {a", "window_h: 72\n  grid_nM: {a")
    assert kill_window_h(load_study(_study(tmp_path, given))) == 72.0
    once = STUDY.replace("route: oral, duration_days: 7", "route: oral, frequency: once")
    assert kill_window_h(load_study(_study(tmp_path, once))) == SINGLE_DOSE_WINDOW_H
