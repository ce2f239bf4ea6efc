"""Inputs beyond the drug catalogue (issue 10 item 2) and populations on any model (item 3).

A scenario doses any model parameter or species by name (``inputs:``): species after
pre-equilibration, added or clamped; parameters from treatment start or as the cell's own value;
sweeps make the same tables and plots as dose grids. The model is the example
``scenarios/examples/ligand_receptor.ant`` (a ligand consumed by its receptor; no catalogue drug).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import apopsim
from apopsim.cli import main
from apopsim.engine import PreequilibrationOptions
from apopsim.errors import ScenarioError
from apopsim.inputs import clamp_model
from apopsim.library import load_model, scenarios_dir
from apopsim.scenario import load_scenario

EXAMPLES = scenarios_dir() / "examples"
MODEL = EXAMPLES / "ligand_receptor.ant"


@pytest.fixture
def folder(tmp_path):
    """tmp_path holding a copy of the example model; returns a writer of scenarios there."""
    shutil.copy(MODEL, tmp_path / "ligand_receptor.ant")

    def write(body: str, name: str = "s.yaml"):
        p = tmp_path / name
        p.write_text("name: t\nmodel: ligand_receptor.ant\n" + body)
        return p

    return write


TAIL = """\
time: {duration_h: 16, output_every_h: 1}
readouts:
  species: [L]
  death: {variable: cleaved_fraction, threshold: 0.5}
solver: {rtol: 1.0e-8, atol: 1.0e-10}
"""
#: No cell dies (the cleaved fraction stays below 0.7), so no trace is frozen at a death.
NODEATH = TAIL.replace("threshold: 0.5", "threshold: 0.99")


# ---------------------------------------------------------------------------- the format
def test_input_forms(folder):
    s = load_scenario(folder("""\
inputs:
  L: 3
  kact: [0.05, 0.1]
  ksyn_I: {from: 0.1, to: 10, n: 3}
  kfb: {values: {from: 0, to: 1, n: 3, spacing: linear}, unit: 1/(nM*h)}
""" + TAIL))
    lists = s.dose_lists()
    assert lists == {"L": [3.0], "kact": [0.05, 0.1], "ksyn_I": [0.1, 1.0, 10.0],
                     "kfb": [0.0, 0.5, 1.0]}
    assert s.n_conditions() == len(s.conditions()) == 18
    assert s.conditions()[0] == {"L": 3.0, "kact": 0.05, "ksyn_I": 0.1, "kfb": 0.0}
    # the dump is valid input again (run.json round trip)
    assert type(s).model_validate(s.model_dump()).dose_lists() == lists


BAD = [
    ("negative", "inputs:\n  kact: [0.1, -1]\n", "inputs.kact", "greater than or equal to 0"),
    ("unknown name", "inputs:\n  kakt: 1\n", "inputs.kakt", "did you mean 'kact'"),
    ("rule variable", "inputs:\n  cleaved_fraction: 1\n", "inputs.cleaved_fraction",
     "assignment rule"),
    ("kind mismatch", "inputs:\n  kact: {values: 1, kind: species}\n", "inputs.kact.kind",
     "is a parameter"),
    ("species mode on parameter", "inputs:\n  kact: {values: 1, mode: clamp}\n",
     "inputs.kact.mode", "not a species"),
    ("parameter mode on species", "inputs:\n  L: {values: 1, kind: species, mode: cell}\n",
     "inputs.L", "for parameters"),
    ("both drug and input", "drugs: {kact: 1}\ninputs: {kact: 1}\n", "inputs.kact",
     "both"),
    ("release of an added species", "inputs: {L: 1}\nschedule:\n  - {at_h: 2, input: L, "
     "action: release}\n", "schedule[0].action", "ends a clamp"),
    ("release of a parameter", "inputs: {kact: 1}\nschedule:\n  - {at_h: 2, input: kact, "
     "action: release}\n", "schedule[0].action", "is a parameter"),
    ("scheduled cell input", "inputs: {kact: {values: 1, mode: cell}}\nschedule:\n  - {at_h: "
     "2, input: kact, action: washout}\n", "schedule[0].input", "mode 'cell'"),
    ("schedule of unlisted input", "inputs: {L: 1}\nschedule:\n  - {at_h: 2, input: kact, "
     "action: washout}\n", "schedule[0].input", "not listed under 'inputs'"),
    ("species too high", "inputs: {L: 1.0e+10}\n", "inputs.L", "above"),
]


@pytest.mark.parametrize("what,body,field,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_are_located(folder, what, body, field, needle):
    path = folder(body + TAIL)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    where = [loc for loc, msg in exc.value.problems if needle in msg]
    assert where, exc.value.problems
    assert f"{path}:" in where[0] and field in where[0], where


def test_a_parameter_under_drugs_points_to_inputs(folder):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(folder("drugs: {kact: [0.5, 1]}\n" + TAIL))
    (loc, msg), = exc.value.problems
    assert "drugs.kact" in loc and "list it under 'inputs'" in msg


def test_schedule_of_a_parameter_input():
    s = apopsim.Scenario.model_validate({
        "name": "t", "model": str(MODEL), "inputs": {"kact": [0.05, 0.2]},
        "schedule": [{"at_h": 2, "input": "kact", "action": "add"},
                     {"at_h": 5, "input": "kact", "action": "set", "value": 0.3},
                     {"at_h": 8, "input": "kact", "action": "washout"}]})
    start, events = s.engine_schedule({"kact": 0.2})
    # before its 'add' and after its washout a parameter has the model's own value (None)
    assert start == {"kact": None}
    assert events == [(2, {"kact": 0.2}), (5, {"kact": 0.3}), (8, {"kact": None})]


# ---------------------------------------------------------------------------- the numbers
def _run(path):
    s = load_scenario(path)
    return apopsim.run_scenario(s, progress=False)


def _rested():
    """The example cell at its untreated steady state (amounts)."""
    m = load_model(MODEL)
    return m, apopsim.simulate(m, [0]).meta["final_state"]


def test_species_added_after_preequilibration_is_consumed(folder):
    res = _run(folder("inputs:\n  L: [0, 3]\n" + NODEATH))
    m, y = _rested()
    y[m.state.index("L")] += 3.0
    ref = apopsim.simulate(m, res.times_h, y0=y, rtol=1e-8, atol=1e-10,
                           preequilibration=PreequilibrationOptions(enabled=False))
    got = res.trace(1, "L")
    assert got[0] == pytest.approx(3.0, rel=1e-6)  # there at treatment start...
    np.testing.assert_allclose(got, ref["L"], rtol=1e-5, atol=1e-8)
    assert got[-1] < 0.01  # ...and consumed by the receptor
    assert res.conditions[0].name == "control" and res.conditions[1].name == "L 3 nM"


def test_clamped_species_is_held_and_kills_where_an_addition_does_not(folder):
    res_add = _run(folder("inputs:\n  L: {values: 1, mode: add}\n" + TAIL, "a.yaml"))
    res_clamp = _run(folder("inputs:\n  L: {values: 1, mode: clamp}\n" + TAIL, "c.yaml"))
    np.testing.assert_allclose(res_clamp.trace(0, "L"), 1.0, rtol=1e-6)
    m, y = _rested()
    y[m.state.index("L")] = 1.0
    ref = apopsim.simulate(clamp_model(m, ["L"]), res_clamp.times_h, y0=y, rtol=1e-8,
                           atol=1e-10, preequilibration=PreequilibrationOptions(enabled=False))
    np.testing.assert_allclose(ref["L"], 1.0, rtol=1e-9)
    assert res_add.conditions[0].n_died == 0
    assert res_clamp.conditions[0].n_died == 1
    death = res_clamp.conditions[0].death_h[0]
    f = ref["cleaved_fraction"]
    assert f[np.searchsorted(res_clamp.times_h, death) - 1] < 0.5 <= f[np.searchsorted(
        res_clamp.times_h, death)]


def test_parameter_modes_treat_and_cell(folder):
    """'treat': pre-equilibrated with the model's value, changed at t = 0; 'cell': the cell is
    pre-equilibrated with the input's value."""
    body = "inputs:\n  L: 3\n  ksyn_I: {values: [0.2, 0.7], mode: MODE}\n" + NODEATH
    treat = _run(folder(body.replace("MODE", "treat"), "t.yaml"))
    cell = _run(folder(body.replace("MODE", "cell"), "c.yaml"))
    m = load_model(MODEL)
    for k, v in enumerate([0.2, 0.7]):
        # cell: the rested state itself depends on ksyn_I
        mv = m.with_overrides({"ksyn_I": v})
        y = apopsim.simulate(mv, [0]).meta["final_state"]
        y[m.state.index("L")] += 3.0
        ref = apopsim.simulate(mv, cell.times_h, y0=y, rtol=1e-8, atol=1e-10,
                               preequilibration=PreequilibrationOptions(enabled=False))
        np.testing.assert_allclose(cell.trace(k, "cleaved_fraction"), ref["cleaved_fraction"],
                                   rtol=1e-4, atol=1e-7)
        # treat: rested with the model's 0.5 nM/h, then the new value
        _, y = _rested()
        y[m.state.index("L")] += 3.0
        ref = apopsim.simulate(m, treat.times_h, y0=y, rtol=1e-8, atol=1e-10,
                               parameters={"ksyn_I": v},
                               preequilibration=PreequilibrationOptions(enabled=False))
        np.testing.assert_allclose(treat.trace(k, "cleaved_fraction"), ref["cleaved_fraction"],
                                   rtol=1e-4, atol=1e-7)
    # the inhibitor level the cell rests at differs only in 'cell' mode
    assert not np.allclose(cell.trace(0, "cleaved_fraction"), treat.trace(0, "cleaved_fraction"),
                           rtol=1e-2)


# ---------------------------------------------------------------------------- tables and plots
def test_parameter_sweep_from_the_cli(folder, tmp_path, capsys):
    """Done-when of issue 10: a ligand species dosed after pre-equilibration and a parameter
    swept, from the command line, with no Python."""
    path = folder("""\
inputs:
  L: [0, 1, 3]
  ksyn_I: {values: [0.2, 0.35, 0.5, 0.7], mode: cell, unit: nM/h}
time: {duration_h: 12, output_every_h: 1}
readouts:
  species: [Ca]
  death: {variable: cleaved_fraction, threshold: 0.5}
population: {n_cells: 3, cv: 0.1}
execution: {executor: serial}
""")
    out = tmp_path / "out"
    assert main(["run", str(path), "-o", str(out), "-q"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert {"L_nM", "ksyn_I"} <= set(summary.columns)
    assert "ksyn_I_nM" not in summary.columns
    assert "L 1 nM + ksyn_I = 0.2 nM/h" in set(summary.condition)
    # the inhibitor protects: killing falls as its synthesis rises (at L = 3 nM)
    at3 = summary[summary.L_nM == 3].sort_values("ksyn_I").apoptotic_fraction.to_numpy()
    assert at3[0] > at3[-1]
    fits = pd.read_csv(out / "dose_response.csv")
    assert set(fits.drug) == {"ksyn_I"} and set(fits.dose_unit) == {"nM/h"}
    assert (out / "plots" / "apoptotic_fraction.png").is_file()  # the heat map
    assert (out / "plots" / "readout_Ca.png").is_file()  # any readout on the grid
    assert not (out / "synergy").exists()  # a parameter grid is not scored for synergy
    import json

    record = json.loads((out / "run.json").read_text())
    assert record["inputs"]["ksyn_I"] == {"kind": "parameter", "mode": "cell", "unit": "nM/h"}
    assert record["inputs"]["L"]["kind"] == "species"


def test_example_scenarios_validate():
    for name in ("ligand_sweep.yaml", "ligand_clamp.yaml"):
        assert main(["validate", str(EXAMPLES / name)]) == 0


def test_heat_map_axes_name_the_parameter_unit(folder):
    from apopsim.report.figures import axis_label

    res = _run(folder("inputs:\n  L: [0, 3]\n  kact: [0.05, 0.1]\n  kfb: {values: 0.2, "
                      "unit: 1/(nM*h)}\n" + TAIL))
    assert axis_label(res, "L") == "L (nM)"
    assert axis_label(res, "kact") == "kact (model units)"
    assert axis_label(res, "kfb") == "kfb (1/(nM*h))"
    assert res.conditions[-1].name == "L 3 nM + kact = 0.1 + kfb = 0.2 1/(nM*h)"


# ---------------------------------------------------------------------------- populations
def test_population_on_a_model_without_synthesis_rates(write_model, write_yaml):
    write_model("""\
        model two()
          compartment cell = 1;
          k1 = 1; k2 = 0.5; kprod_A = 2;
          A = 1; B = 0;
          -> A; kprod_A;
          A -> B; k1 * A;
          B -> ; k2 * B;
          frac := B / (A + B);
        end
        """)
    body = ("name: t\nmodel: m.ant\ntime: {duration_h: 1}\nreadouts:\n  death: {variable: "
            "frac, threshold: 0.99}\npopulation: {n_cells: 50}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write_yaml(body))
    (loc, msg), = exc.value.problems
    assert "population.vary_parameters" in loc
    assert "no synthesis rates (ksyn_*)" in msg
    assert "candidate parameters: kprod_A, " in msg and "k1, k2" in msg  # production-like first
    # name what to vary, with its own CV
    s = load_scenario(write_yaml(body.replace(
        "{n_cells: 50}", "{n_cells: 4000, vary_parameters: [k1], cv_per: {k1: 0.5}}")))
    from apopsim.population import sample_cells

    model = load_model(s.model, base=s.base_dir)
    names, vals, _, _ = sample_cells(model, s.population.variation(model), 4000, 0)
    assert names == ["k1"]
    cv = vals[:, 0].std() / vals[:, 0].mean()
    assert cv == pytest.approx(0.5, abs=0.05) and vals[:, 0].mean() == pytest.approx(1, 0.05)
    # a cv_per naming something not varied is an error, not silently ignored
    with pytest.raises(ScenarioError, match="not varied"):
        load_scenario(write_yaml(body.replace(
            "{n_cells: 50}", "{n_cells: 50, vary_parameters: [k1], cv_per: {k2: 0.5}}")))


def test_default_variation_is_ksyn_where_the_model_has_it():
    s = load_scenario(EXAMPLES / "ligand_sweep.yaml")
    model = load_model(s.model, base=s.base_dir)
    assert s.population.vary_parameters is None
    assert s.population.variation(model).parameters == ("ksyn_*",)


def test_work_estimate_counts_one_preequilibration_per_cell_value():
    s = load_scenario(EXAMPLES / "ligand_sweep.yaml")
    est = s.work_estimate()
    assert est.n_conditions == 5 * 4
    assert est.cell_runs == 20 * (4 + 20)  # 4 values of ksyn_I pre-equilibrated, 20 treated


def test_own_model_doc_scenarios_validate(tmp_path):
    """Every full scenario in docs/own-model.md is valid against the example model."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "own-model.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if b.startswith("name:")]
    assert len(blocks) >= 2
    shutil.copy(MODEL, tmp_path / "ligand_receptor.ant")
    shutil.copy(Path(__file__).parent / "data" / "biomodels" / "BIOMD0000000220.xml.gz",
                tmp_path)  # the model_units example
    for i, block in enumerate(blocks):
        path = tmp_path / f"doc{i}.yaml"
        path.write_text(block)
        assert load_scenario(path).n_conditions() >= (4 if "ligand_receptor" in block else 1)


def test_simulate_adds_and_clamps_species_after_preequilibration():
    m = load_model(MODEL)
    times = np.linspace(0, 16, 17)
    added = apopsim.simulate(m, times, add_nM={"L": 1}, rtol=1e-8, atol=1e-10)
    held = apopsim.simulate(m, times, clamp_nM={"L": 1}, rtol=1e-8, atol=1e-10)
    assert added["L"][0] == pytest.approx(1.0) and added["L"][-1] < 1e-3
    np.testing.assert_allclose(held["L"], 1.0, rtol=1e-9)
    assert added["cleaved_fraction"].max() < 0.5 < held["cleaved_fraction"].max()
    with pytest.raises(ValueError, match="'kact'"):
        apopsim.simulate(m, times, add_nM={"kact": 1})


def test_scheduled_parameter_input_returns_to_the_model_value(folder):
    res = _run(folder("inputs:\n  L: 3\n  kact: 0.3\nschedule:\n  - {at_h: 2, input: kact, "
                      "action: washout}\n" + NODEATH))
    m, y = _rested()
    y[m.state.index("L")] += 3.0
    ref = apopsim.simulate(m, res.times_h, y0=y, rtol=1e-8, atol=1e-10,
                           schedule=[(0, {"kact": 0.3}), (2, {"kact": 0.1})],
                           preequilibration=PreequilibrationOptions(enabled=False))
    np.testing.assert_allclose(res.trace(0, "cleaved_fraction"), ref["cleaved_fraction"],
                               rtol=1e-5, atol=1e-8)


def test_a_varied_parameter_input_moves_the_centre_of_the_population(folder):
    """ksyn_I is varied by the default ksyn_* and swept: the cells vary around each value."""
    res = _run(folder("""\
inputs:
  ksyn_I: {values: [0.2, 0.7], mode: cell}
time: {duration_h: 1, output_every_h: 1}
readouts:
  species: [I]
  death: {variable: cleaved_fraction, threshold: 0.5}
population: {n_cells: 60, cv: 0.2}
execution: {executor: serial}
"""))
    for k, v in enumerate([0.2, 0.7]):
        mean, sd = res.trace(k, "I")[0], res.trace(k, "I", "sd")[0]
        assert mean == pytest.approx(v / 0.1, rel=0.1)  # I rests at ksyn_I / kdeg_I
        assert sd / mean == pytest.approx(0.2, abs=0.07)


def test_json_schema_accepts_the_short_and_long_forms():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = apopsim.scenario_json_schema()
    for name in ("ligand_sweep.yaml", "ligand_clamp.yaml"):
        jsonschema.validate(yaml.safe_load((EXAMPLES / name).read_text()), schema)
    for good in (3, [0, 1], {"from": 1, "to": 10, "n": 3}, {"values": 1, "mode": "clamp"}):
        jsonschema.validate({"name": "x", "model": "m", "inputs": {"L": good}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "model": "m", "inputs": {"L": -1}}, schema)
