"""The CLI end to end, atomic output, and the installed command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import apopsim
from apopsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "scenarios" / "apg2575_hht.yaml"


def test_run_flagship_writes_everything(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", str(FLAGSHIP), "-o", str(out)]) == 0
    assert {"plots", "run.json", "summary.csv", "timecourse.csv", "deaths.csv"} <= {
        p.name for p in out.iterdir()}
    summary = pd.read_csv(out / "summary.csv")
    assert {"condition", "lisaftoclax_nM", "hht_nM", "apoptotic_fraction",
            "time_to_death_h"} <= set(summary.columns)
    assert len(summary) == 4
    tc = pd.read_csv(out / "timecourse.csv")
    assert list(tc.columns[:4]) == ["condition", "time_h", "variable", "value"]
    assert {"sd", "q05", "q50", "q95"} <= set(tc.columns)  # a population: spread over cells
    run = json.loads((out / "run.json").read_text())
    assert run["apopsim_version"] == apopsim.__version__
    assert run["seed"] == 0 and run["engine"] == "scipy" and run["rtol"] == 1e-8
    assert all(len(h) == 64 for h in run["model"]["file_sha256"].values())
    assert run["scenario"]["drugs"] == {"lisaftoclax": [0.0, 100.0], "hht": [0.0, 50.0]}
    assert run["wall_time_s"] > 0
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) >= 3
    assert "wrote" in capsys.readouterr().out


def _small(tmp_path: Path) -> Path:
    """The flagship with 10 cells over 6 h (for tests of the CLI's mechanics)."""
    text = FLAGSHIP.read_text().replace("n_cells: 200", "n_cells: 10").replace(
        "duration_h: 72", "duration_h: 6").replace("[24, 48, 72]", "[6]")
    path = tmp_path / "small.yaml"
    path.write_text(text)
    return path


def test_failed_write_leaves_previous_output(tmp_path, monkeypatch):
    small = _small(tmp_path)
    out = tmp_path / "res"
    out.mkdir()
    (out / "summary.csv").write_text("previous")
    (out / ".apopsim-output").write_text('{"apopsim_output": 1, "files": ["summary.csv"]}')
    import apopsim.report.figures

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(apopsim.report.figures, "plot_scenario", boom)
    assert main(["run", str(small), "-o", str(out), "-q"]) == 1  # internal error, one line
    assert (out / "summary.csv").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res", "small.yaml"]  # no temp dirs


def test_interrupt_leaves_no_output(tmp_path, monkeypatch):
    small = _small(tmp_path)
    out = tmp_path / "res"
    import apopsim.report.figures

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(apopsim.report.figures, "plot_scenario", interrupt)
    assert main(["run", str(small), "-o", str(out), "-q"]) == 130
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [small]


def test_validate_models_show_schema(capsys):
    assert main(["validate", str(FLAGSHIP)]) == 0
    assert "valid (4 conditions" in capsys.readouterr().out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "bcl2_core" in out and "lisaftoclax" in out
    assert main(["show", "bcl2_core"]) == 0
    assert "MCL1_BIM" in capsys.readouterr().out
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Scenario"


def test_validate_tells_claim_files_apart(tmp_path, capsys):
    """``apopsim validate`` checks panels, in-vivo and culture studies by their own schema (a
    scenario-only check rejected them); a bad one gives the file, line and field (exit 2)."""
    for rel, text in [("panels/pelcitoclax_nen_panel.yaml", "valid panel (256 lines"),
                      ("invivo/apg2575_hht_xenograft.yaml", "valid in-vivo study (4 arms"),
                      ("cultures/apg2575_hht_culture.yaml", "valid culture study (9 wells")]:
        assert main(["validate", str(ROOT / "scenarios" / rel)]) == 0
        assert text in capsys.readouterr().out
    bad = tmp_path / "study.yaml"
    src = (ROOT / "scenarios" / "invivo" / "apg2575_hht_xenograft.yaml").read_text()
    bad.write_text(src.replace("arms:", "arms:\n  - {name: x, regimens: 3}", 1))
    assert main(["validate", str(bad)]) == 2
    assert "study.yaml:" in capsys.readouterr().err
    culture = tmp_path / "culture.yaml"
    src = (ROOT / "scenarios" / "cultures" / "apg2575_hht_culture.yaml").read_text()
    culture.write_text(src.replace("context: aml_mcl1_dependent", "context: aml_typo", 1))
    assert main(["validate", str(culture)]) == 2
    assert "unknown cell context 'aml_typo'" in capsys.readouterr().err


def test_example_with_sbml_events_and_a_mid_run_bolus(tmp_path, capsys, monkeypatch):
    """scenarios/examples/ligand_bolus_events.yaml from the command line: a model with an SBML
    event, a ligand bolus at 0 h and another at 8 h (issue 10), no Python."""
    monkeypatch.setenv("APOPSIM_JIT", "0")
    example = ROOT / "scenarios" / "examples" / "ligand_bolus_events.yaml"
    assert main(["validate", str(example)]) == 0
    assert "valid (4 conditions" in capsys.readouterr().out
    out = tmp_path / "res"
    assert main(["run", str(example), "-o", str(out), "-q"]) == 0
    summary = pd.read_csv(out / "summary.csv").set_index("L_nM")
    # 3 nM kills; 10 nM passes the receptor threshold of the model's event, which induces
    # the inhibitor: that cell survives
    assert summary.loc[3.0, "apoptotic_fraction"] == 1.0
    assert 8 < summary.loc[3.0, "time_to_death_h"] < 14
    assert summary.loc[10.0, "apoptotic_fraction"] == 0.0
    run = json.loads((out / "run.json").read_text())
    assert run["integrator"]["sbml_events"] == ["induce"]
    assert run["integrator"]["species_changes_during_run"] is True
    tc = pd.read_csv(out / "timecourse.csv")
    L = tc[(tc.condition == "L 1 nM") & (tc.variable == "L")].set_index("time_h").value
    assert L[0.0] == 1.0 and L[8.0] > L[7.5] + 0.99  # the second bolus, at 8 h


def test_export_sbml_is_valid(tmp_path):
    import libsbml

    path = tmp_path / "bcl2.xml"
    assert main(["export", "bcl2_core", "--sbml", str(path)]) == 0
    doc = libsbml.readSBMLFromString(path.read_text())
    assert doc.checkConsistency() == 0 or all(
        doc.getError(i).getSeverity() < libsbml.LIBSBML_SEV_ERROR
        for i in range(doc.getNumErrors()))
    assert doc.getModel().getNumSpecies() == len(apopsim.load_model("bcl2_core").species)


@pytest.mark.skipif(shutil.which("apopsim", path=os.path.dirname(sys.executable)) is None,
                    reason="apopsim command not installed in this environment")
def test_installed_command_from_any_directory(tmp_path):
    exe = shutil.which("apopsim", path=os.path.dirname(sys.executable))
    scen = _small(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = subprocess.run([exe, "run", str(scen), "-o", "out", "-q"], cwd=work,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (work / "out" / "summary.csv").is_file()
    proc = subprocess.run([exe, "models"], cwd=work, capture_output=True, text=True, timeout=300)
    assert "bcl2_core" in proc.stdout


def test_synergy_subcommand_through_main(tmp_path):
    """`apopsim synergy` is wired into the main command (SynergyFinder long format)."""
    rows = ["block_id,drug1,drug2,conc1,conc2,response,conc_unit"]
    doses = [0, 1, 3, 10]
    for a in doses:
        for b in doses:
            fa, fb = a / (a + 3), b / (b + 5)
            viability = 100 * (1 - fa) * (1 - fb)  # Bliss-independent plate
            rows.append(f"1,A,B,{a},{b},{viability:.6f},nM")
    data = tmp_path / "plate.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "syn"
    assert main(["synergy", str(data), "-o", str(out), "--data-type", "viability", "--scale",
                 "percent", "--methods", "bliss,hsa", "--no-plots"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert abs(summary["bliss"].iloc[0]) < 1e-4  # independent drugs: no Bliss synergy
    bad = tmp_path / "bad.csv"
    bad.write_text("block_id,drug1,conc1\n1,A,0\n")
    assert main(["synergy", str(bad), "-o", str(tmp_path / "x"), "--data-type", "viability",
                 "--scale", "percent"]) == 2
    assert not (tmp_path / "x").exists()
