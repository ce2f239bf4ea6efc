"""Public BioModels models (tests/data/biomodels, CC0) through apopsim: units converted to hours
and nM at load, trajectories equal to libRoadRunner's on the same file (after converting its
native seconds / nmol / molecules), through the library API and through `apopsim run`."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import apopsim
from apopsim.model import load_sbml_text

roadrunner = pytest.importorskip("roadrunner")

DATA = Path(__file__).parent / "data" / "biomodels"
MOLECULES_PER_CELL = {"substance": "item", "volume": "1.661e-12 litre"}  # 1000 molecules = 1 nM
OFF = apopsim.PreequilibrationOptions(enabled=False)


def _text(name: str) -> str:
    path = DATA / name
    return gzip.decompress(path.read_bytes()).decode() if name.endswith(".gz") else \
        path.read_text()


def _roadrunner_nM(model: apopsim.Model, sbml: str, times_h: np.ndarray) -> dict[str, np.ndarray]:
    """libRoadRunner on ``sbml`` in its own units, converted to nM at the same times (h)."""
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    species = [s for s in model.state if s in model.species_compartment]
    rr.timeCourseSelections = ["time"] + [f"[{s}]" for s in species]
    tf = model.units.time_per_hour
    res = rr.simulate(0.0, float(times_h[-1] * tf), len(times_h))
    np.testing.assert_allclose(res[:, 0], times_h * tf, rtol=1e-12)
    return {s: np.asarray(res[:, i + 1]) * model.units.nM_per_native[s]
            for i, s in enumerate(species)}


@pytest.fixture(autouse=True)
def _plain_python(monkeypatch, tmp_path):
    # the generated right-hand side runs as Python: no numba compile per model in CI
    monkeypatch.setenv("APOPSIM_JIT", "0")
    monkeypatch.setenv("APOPSIM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name, units, hours", [
    ("BIOMD0000000220.xml.gz", MOLECULES_PER_CELL, 4.0),  # seconds and molecules
    ("BIOMD0000000102.xml", None, 2.0),                    # seconds and nmol
    ("BIOMD0000000103.xml", None, 2.0),
])
def test_biomodels_agree_with_roadrunner_in_hours_and_nM(name, units, hours):
    sbml = _text(name)
    model = load_sbml_text(sbml, units=units)
    assert model.units.time_per_hour == 3600.0 and model.units.converted
    times_h = np.linspace(0.0, hours, 17)
    traj = apopsim.simulate(model, times_h, preequilibration=OFF, rtol=1e-9, atol=1e-10)
    ref = _roadrunner_nM(model, sbml, times_h)
    for s, expected in ref.items():
        scale = max(np.abs(expected).max(), 1e-6)
        np.testing.assert_allclose(traj[s], expected, rtol=1e-5, atol=1e-6 * scale, err_msg=s)
    moving = [s for s, v in ref.items() if np.ptp(v) > 1e-3 * max(np.abs(v).max(), 1e-12)]
    assert len(moving) >= 3  # the dynamics are exercised, not a steady state


def test_albeck_molecules_become_nM():
    model = load_sbml_text(_text("BIOMD0000000220.xml.gz"), units=MOLECULES_PER_CELL)
    # L = 3000 molecules per cell of 1.661 pl: about 3 nM
    assert model.initial_concentrations()["L"] == pytest.approx(3000 / 1000.28, rel=1e-3)
    assert any("declared at load" in n for n in model.units.notes)
    as_moles = load_sbml_text(_text("BIOMD0000000220.xml.gz"))  # the file's own (L2) defaults
    assert as_moles.units.substance == "mole"
    assert as_moles.initial_concentrations()["L"] == pytest.approx(3000 * 1e9)


def test_apopsim_run_on_a_biomodel_writes_hours_and_nM(tmp_path, monkeypatch):
    scenario = tmp_path / "legewie.yaml"
    scenario.write_text(f"""
name: legewie2006
model: {DATA / "BIOMD0000000102.xml"}
time: {{duration_h: 2, output_every_h: 0.25, readout_times_h: [2]}}
readouts:
  species: [A, C9]
  death: {{variable: A, threshold: 1.0e+6, direction: up}}
preequilibration: {{enabled: false}}
solver: {{engine: scipy, method: LSODA, rtol: 1.0e-9, atol: 1.0e-10}}
execution: {{executor: serial}}
""")
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "apopsim.cli", "run", str(scenario), "-o", str(out),
                    "-q"], check=True, timeout=300)
    tc = pd.read_csv(out / "timecourse.csv")
    model = load_sbml_text(_text("BIOMD0000000102.xml"))
    times_h = np.arange(0, 2.01, 0.25)
    ref = _roadrunner_nM(model, _text("BIOMD0000000102.xml"), times_h)
    for s in ("A", "C9"):
        got = tc[tc.variable == s].sort_values("time_h")
        np.testing.assert_allclose(got.time_h, times_h)
        # timecourse.csv holds population statistics in single precision
        np.testing.assert_allclose(got.value, ref[s], rtol=1e-5, atol=1e-6)
