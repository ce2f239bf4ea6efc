"""Issue 10, from scenario files (no Python): models with SBML events and models without ODE
states through ``cell.simulate`` and ``run_scenario``; ``model_units:``; species inputs that act
during the run (a bolus after ``t = 0``, a clamp that starts and ends on the schedule); the
Albeck 2008 BioModels file through a scenario against libRoadRunner.

Events (the model's, schedule changes and the death rule) run on the event integrator
(:func:`apopsim.cell.simulate_events`), which locates each by root finding.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import apopsim
from apopsim.cell import simulate_events
from apopsim.engine import PreequilibrationOptions, SolverOptions, ThresholdEvent
from apopsim.engine.sbml_events import simulate_sbml
from apopsim.errors import ScenarioError
from apopsim.inputs import clamp_model
from apopsim.library import load_model, scenarios_dir
from apopsim.model import load_sbml_text
from apopsim.runner import scenario_model
from apopsim.scenario import load_scenario

EXAMPLES = scenarios_dir() / "examples"
LIGAND = EXAMPLES / "ligand_receptor.ant"
BIOMODELS = Path(__file__).parent / "data" / "biomodels"
OFF = PreequilibrationOptions(enabled=False)
TIGHT = {"rtol": 1e-8, "atol": 1e-10}

#: the model test_sbml_events.py runs too: seconds and nmol/l; E1 a timed kick, E2 a state
#: crossing.
EVENTS_ANT = (Path(__file__).parent / "data" / "events_ev.ant").read_text()


@pytest.fixture(autouse=True)
def _plain_python(monkeypatch, tmp_path):
    # the generated right-hand side runs as Python: no numba compile per model in CI
    monkeypatch.setenv("APOPSIM_JIT", "0")
    monkeypatch.setenv("APOPSIM_CACHE_DIR", str(tmp_path / "cache"))


def _scenario(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _run(path: Path) -> apopsim.ScenarioResult:
    return apopsim.run_scenario(load_scenario(path), progress=False)


# ============================================================ SBML events through a scenario
EVENTS_SCENARIO = """\
name: ev
model: ev.ant
time: {duration_h: 2, output_every_h: 0.125}
readouts:
  species: [X, Y]
  death: {variable: Y, threshold: 3.5}
solver: {engine: scipy, rtol: 1.0e-10, atol: 1.0e-12}
preequilibration: {enabled: false}
execution: {executor: serial}
"""


def _events_folder(tmp_path: Path) -> Path:
    (tmp_path / "ev.ant").write_text(EVENTS_ANT)
    return _scenario(tmp_path, EVENTS_SCENARIO)


def test_sbml_events_run_from_a_scenario_as_libroadrunner_does(tmp_path):
    roadrunner = pytest.importorskip("roadrunner")
    res = _run(_events_folder(tmp_path))
    model = scenario_model(load_scenario(tmp_path / "s.yaml"))
    assert [e.id for e in model.events] == ["E1", "E2"]
    # the same as the library path (events kept, simulate_sbml) at every output time
    ref = simulate_sbml(model, res.times_h, rtol=1e-10, atol=1e-12)
    death = res.conditions[0].death_h[0]
    alive = res.times_h < death
    for s in ("X", "Y"):
        np.testing.assert_allclose(res.trace(0, s)[alive], ref[s][alive], rtol=1e-7, atol=1e-10)
    # libRoadRunner, in its own seconds (nmol/l = nM): trajectories and the death time
    sbml = model.sbml
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.timeCourseSelections = ["time", "[X]", "[Y]"]
    fine = rr.simulate(0, 7200, 72001)  # 0.1 s
    t_h, y = fine[:, 0] / 3600, fine[:, 2]
    np.testing.assert_allclose(res.trace(0, "Y")[alive], np.interp(res.times_h[alive], t_h, y),
                               rtol=1e-6, atol=1e-9)
    k = int(np.argmax(y > 3.5))
    rr_death = t_h[k - 1] + (3.5 - y[k - 1]) * (t_h[k] - t_h[k - 1]) / (y[k] - y[k - 1])
    assert 0.5 < death < 2 and death == pytest.approx(rr_death, abs=1e-6)
    # death: every value held from the crossing (the rule's 'freeze' on the event integrator)
    np.testing.assert_allclose(res.trace(0, "Y")[~alive], 3.5, rtol=1e-9)
    assert res.provenance["integrator"]["sbml_events"] == ["E1", "E2"]


def test_model_without_ode_states_runs(tmp_path):
    (tmp_path / "rules.ant").write_text("""
model rules_only
  p := 2 * time + q;
  q = 1;
end
""")
    path = _scenario(tmp_path, """\
name: rules
model: rules.ant
time: {duration_h: 3, output_every_h: 0.5}
readouts:
  species: [p]
  death: {variable: p, threshold: 3}
execution: {executor: serial}
""")
    res = _run(path)  # nothing to pre-equilibrate: no state
    np.testing.assert_allclose(res.trace(0, "p")[:3], [1, 2, 3])
    assert res.conditions[0].death_h[0] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(res.trace(0, "p")[2:], 3.0)  # held from the death on
    traj = apopsim.simulate(scenario_model(load_scenario(path)), [0, 1, 2])
    np.testing.assert_allclose(traj["p"], [1, 3, 5])


def test_simulate_runs_a_model_with_events():
    import antimony

    antimony.clearPreviousLoads()
    assert antimony.loadAntimonyString(EVENTS_ANT) >= 0
    model = load_sbml_text(antimony.getSBMLString("ev"), allow_events=True)
    times = np.linspace(0, 2, 17)
    traj = apopsim.simulate(model, times, preequilibration=OFF, rtol=1e-10, atol=1e-12)
    ref = simulate_sbml(model, times, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(traj["Y"], ref["Y"], rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match="pre-equilibration would integrate it without its "
                       "events"):
        apopsim.simulate(model, times)
    with pytest.raises(ValueError, match="engine 'roadrunner'"):
        apopsim.simulate(model, times, preequilibration=OFF, engine="roadrunner")


@pytest.mark.parametrize("edit, field, needle", [
    ("preequilibration: {enabled: false}\n", "preequilibration", "without its events"),
    ("solver: {engine: scipy,", "solver", "engine 'numba'"),
    ("solver: {engine: scipy,", "solver", "method 'BDF'"),
])
def test_combinations_the_event_integrator_cannot_honour_are_refused(tmp_path, edit, field,
                                                                     needle):
    path = _events_folder(tmp_path)
    text = path.read_text()
    new = {"preequilibration": "", "engine 'numba'": "solver: {engine: numba,",
           "method 'BDF'": "solver: {engine: scipy, method: BDF,"}
    path.write_text(text.replace(edit, new["preequilibration" if field == "preequilibration"
                                           else needle]))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)  # at validation, before any simulation
    where = [loc for loc, msg in exc.value.problems if needle in msg and "'E1', 'E2'" in msg]
    assert where and field in where[0], exc.value.problems


# ============================================================ species inputs during the run
TAIL = """\
time: {duration_h: 16, output_every_h: 1}
readouts:
  species: [L]
  death: {variable: cleaved_fraction, threshold: THRESHOLD}
solver: {rtol: 1.0e-8, atol: 1.0e-10}
execution: {executor: serial}
"""


@pytest.fixture
def ligand(tmp_path):
    shutil.copy(LIGAND, tmp_path / "ligand_receptor.ant")

    def write(body: str, threshold: float = 0.5, name: str = "s.yaml") -> Path:
        return _scenario(tmp_path, "name: t\nmodel: ligand_receptor.ant\n" + body
                         + TAIL.replace("THRESHOLD", str(threshold)), name)

    return write


def test_bolus_after_treatment_start(ligand):
    """A bolus at 6 h on a rested cell: the same death as at 0 h, 6 h later (the rested cell
    does not change before it); the ligand is absent before its bolus."""
    at0 = _run(ligand("inputs: {L: [0, 10]}\n", name="a.yaml"))
    at6 = _run(ligand("inputs: {L: [0, 10]}\nschedule:\n  - {input: L, action: add, at_h: 6}\n",
                      name="b.yaml"))
    assert at6.provenance["integrator"]["species_changes_during_run"] is True
    t = at6.times_h
    L6 = at6.trace(1, "L")
    np.testing.assert_allclose(L6[t < 6], 0.0, atol=1e-12)
    assert L6[t == 6][0] == pytest.approx(10.0, rel=1e-9)  # the value after the bolus
    d0, d6 = at0.conditions[1].death_h[0], at6.conditions[1].death_h[0]
    assert 6 < d6 < 16 and d6 - d0 == pytest.approx(6.0, abs=2e-4)
    assert at6.conditions[0].n_died == 0  # 0 nM: nothing added


def test_a_bolus_on_an_engine_without_events_is_refused(ligand):
    path = ligand("inputs: {L: 3}\nschedule:\n  - {input: L, action: add, at_h: 6}\n")
    path.write_text(path.read_text().replace("solver: {", "solver: {engine: numba, "))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    (loc, msg), = exc.value.problems
    assert "solver" in loc and "a species input changed during the run" in msg
    assert "engine 'numba'" in msg and "engine: scipy" in msg


def test_two_boluses_and_washout(ligand):
    res = _run(ligand("inputs: {L: 2}\nschedule:\n  - {input: L, action: add, at_h: 0}\n"
                      "  - {input: L, action: add, at_h: 3}\n"
                      "  - {input: L, action: washout, at_h: 5}\n", threshold=0.99))
    m = load_model(LIGAND)
    y = apopsim.simulate(m, [0]).meta["final_state"]
    y[m.state.index("L")] += 2
    first = apopsim.simulate(m, [0, 1, 2, 3], y0=y, preequilibration=OFF, **TIGHT)
    y = first.meta["final_state"]
    y[m.state.index("L")] += 2
    second = apopsim.simulate(m, [0, 1, 2], y0=y, preequilibration=OFF, **TIGHT)
    got = res.trace(0, "L")
    np.testing.assert_allclose(got[:3], first["L"][:3], rtol=1e-5)
    np.testing.assert_allclose(got[3:5], second["L"][:2], rtol=1e-5)
    assert got[5] == 0.0  # washed out at 5 h (the value after it)...
    assert 0 < got[6] < 0.1 * got[4]  # ...then some comes back off the receptor


def test_clamp_starts_and_ends_on_the_schedule(ligand):
    """Clamped from 2 h to 10 h: equal to the compiled engine run in three pieces (free, held
    with clamp_model, free again from where the clamp left the cell)."""
    res = _run(ligand("inputs: {L: {values: 1, mode: clamp}}\nschedule:\n"
                      "  - {input: L, action: add, at_h: 2}\n"
                      "  - {input: L, action: release, at_h: 10}\n", threshold=0.99))
    m = load_model(LIGAND)
    rest = apopsim.simulate(m, [0]).meta["final_state"]
    y = rest.copy()
    y[m.state.index("L")] = 1.0
    held = apopsim.simulate(clamp_model(m, ["L"]), np.arange(0, 9.0), y0=y,
                            preequilibration=OFF, **TIGHT)
    free = apopsim.simulate(m, np.arange(0, 7.0), y0=held.meta["final_state"],
                            preequilibration=OFF, **TIGHT)
    got = res.trace(0, "L")
    np.testing.assert_allclose(got[:2], 0.0, atol=1e-12)
    np.testing.assert_allclose(got[2:11], 1.0, rtol=1e-9)
    np.testing.assert_allclose(got[10:], free["L"], rtol=1e-5, atol=1e-9)
    assert got[-1] < 0.5  # released: the receptor consumes it
    cf = res.conditions[0]
    assert cf.n_died == 0
    # cell.simulate takes the same schedule
    traj = apopsim.simulate(m, res.times_h, species_schedule=[
        (2.0, {"L": ("clamp", 1.0)}), (10.0, {"L": ("release", None)})], **TIGHT)
    np.testing.assert_allclose(traj["L"], got, rtol=1e-7, atol=1e-10)


def test_clamp_from_the_start_released_mid_run_equals_the_compiled_clamp_until_then(ligand):
    clamped = _run(ligand("inputs: {L: {values: 1, mode: clamp}}\n", name="c.yaml"))
    released = _run(ligand("inputs: {L: {values: 1, mode: clamp}}\nschedule:\n"
                           "  - {input: L, action: washout, at_h: 14}\n", name="r.yaml"))
    d_c, d_r = clamped.conditions[0].death_h[0], released.conditions[0].death_h[0]
    assert d_c < 14 and d_r == pytest.approx(d_c, abs=2e-4)  # dies before the washout
    np.testing.assert_allclose(released.trace(0, "L")[released.times_h < d_r], 1.0, rtol=1e-9)


def test_population_on_the_event_integrator(ligand):
    body = ("inputs: {L: 3}\nschedule:\n  - {input: L, action: add, at_h: 1}\n"
            "population: {n_cells: 4, cv: 0.2}\n")
    a, b = _run(ligand(body, name="a.yaml")), _run(ligand(body, name="b.yaml"))
    c = a.conditions[0]
    assert len(c.fate) == 4 and c.n_failed == 0 and c.n_died + c.n_survived == 4
    np.testing.assert_array_equal(c.death_h, b.conditions[0].death_h)  # same seed, same cells
    assert len(set(np.round(c.death_h[np.isfinite(c.death_h)], 6))) == c.n_died  # they differ


def test_simulate_events_death_rule_continue_records_the_first_crossing():
    m = load_model(LIGAND)
    y = apopsim.simulate(m, [0]).meta["final_state"]
    y[m.state.index("L")] += 3
    times = np.linspace(0, 16, 17)
    solver = SolverOptions(**TIGHT)
    go = simulate_events(m, y, {}, [], times, solver=solver,
                         event=ThresholdEvent("cleaved_fraction", 0.5, after="continue"))
    hold = simulate_events(m, y, {}, [], times, solver=solver,
                           event=ThresholdEvent("cleaved_fraction", 0.5, after="stop"))
    assert go.meta["crossing_h"] == pytest.approx(hold.meta["crossing_h"], abs=1e-9)
    after = times > go.meta["crossing_h"]
    assert np.all(go["cleaved_fraction"][after] > 0.5)
    np.testing.assert_allclose(hold["cleaved_fraction"][after], 0.5, rtol=1e-8)


# ============================================================ model_units
def test_model_units_declared_in_the_scenario(tmp_path):
    """A file that states no units: seconds and molecules declared in the scenario."""
    (tmp_path / "m.ant").write_text("""
model decay
  compartment cell = 1;  // one cell volume
  species X in cell;
  X = 3000;  // molecules per cell volume
  k = 1e-4;  // 1/s
  J: X -> ; k * X * cell;
end
""")
    base = """\
name: u
model: m.ant
time: {duration_h: 2, output_every_h: 1}
readouts: {species: [X], death: {variable: X, threshold: 1, direction: down}}
preequilibration: {enabled: false}
execution: {executor: serial}
"""
    units = "model_units: {time: second, substance: item, volume: 1.661e-12 litre}\n"
    declared = _scenario(tmp_path, base.replace("model: m.ant\n", "model: m.ant\n" + units),
                         "d.yaml")
    s = load_scenario(declared)
    assert s.model_units is not None and s.model_units.declared() == {
        "time": "second", "substance": "item", "volume": "1.661e-12 litre"}
    model = scenario_model(s)
    assert model.units.time_per_hour == 3600 and model.units.converted
    res = apopsim.run_scenario(s, progress=False)
    # 3000 molecules in 1.661 pl: 2.9992 nM, decaying at 0.36 per hour
    expected = 3000 / (6.02214076e23 * 1.661e-12) * 1e9 * np.exp(-0.36 * res.times_h)
    np.testing.assert_allclose(res.trace(0, "X"), expected, rtol=1e-5)
    run = res.provenance
    assert run["units"]["declared_in_scenario"]["substance"] == "item"
    assert run["scenario"]["model_units"]["substance"] == "item"
    assert any("declared at load" in n for n in run["units"]["model"]["notes"])
    # without them the same file is taken as hours and nM (and says so)
    plain = scenario_model(load_scenario(_scenario(tmp_path, base, "p.yaml")))
    assert plain.units.assumed and plain.initial_concentrations()["X"] == 3000


@pytest.mark.parametrize("units, field, needle", [
    ("{time: parsec}", "model_units", "cannot read time unit 'parsec'"),
    ("{time: item}", "model_units", "not a time unit"),
    ("{length: metre}", "model_units.length", "Extra inputs are not permitted"),
])
def test_bad_model_units_are_located(tmp_path, units, field, needle):
    shutil.copy(LIGAND, tmp_path / "ligand_receptor.ant")
    path = _scenario(tmp_path, f"name: t\nmodel: ligand_receptor.ant\nmodel_units: {units}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    where = [loc for loc, msg in exc.value.problems if needle in msg]
    assert where and f"{path}:3 {field}" in where[0], exc.value.problems


def test_model_units_on_a_built_in_model_is_refused(tmp_path):
    path = _scenario(tmp_path, "name: t\nmodel: bcl2_core\nmodel_units: {time: second}\n")
    with pytest.raises(ScenarioError, match="built-in model"):
        load_scenario(path)


# ============================================================ Albeck 2008 (BioModels)
ALBECK = """\
name: albeck2008
model: {path}
model_units: {{substance: item, volume: 1.661e-12 litre}}
time: {{duration_h: 4, output_every_h: 0.25}}
readouts:
  species: [L, PARP, CPARP, C8]
  death: {{variable: CPARP, threshold: 50}}
preequilibration: {{enabled: false}}
solver: {{engine: scipy, rtol: 1.0e-9, atol: 1.0e-10}}
execution: {{executor: serial}}
"""


def test_albeck_2008_from_a_scenario_agrees_with_libroadrunner(tmp_path):
    """BIOMD0000000220 declares no units (SBML L2 defaults: second, mole, litre) but counts
    molecules per cell: model_units in the scenario file, no Python. 1000 molecules = 1 nM."""
    roadrunner = pytest.importorskip("roadrunner")
    path = _scenario(tmp_path, ALBECK.format(path=BIOMODELS / "BIOMD0000000220.xml.gz"))
    res = _run(path)
    model = res.model
    assert model.units.time_per_hour == 3600
    import gzip

    sbml = gzip.decompress((BIOMODELS / "BIOMD0000000220.xml.gz").read_bytes()).decode()
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    names = ["L", "PARP", "CPARP", "C8"]
    rr.timeCourseSelections = ["time"] + [f"[{s}]" for s in names]
    fine = rr.simulate(0, 4 * 3600, 14401)  # every second
    t_h = fine[:, 0] / 3600
    ref = {s: fine[:, i + 1] * model.units.nM_per_native[s] for i, s in enumerate(names)}
    assert ref["L"][0] == pytest.approx(3000 / 1000.28, rel=1e-3)  # molecules -> nM
    death = res.conditions[0].death_h[0]
    c = ref["CPARP"]
    k = int(np.argmax(c > 50))
    rr_death = t_h[k - 1] + (50 - c[k - 1]) * (t_h[k] - t_h[k - 1]) / (c[k] - c[k - 1])
    assert 3 < death < 4 and death == pytest.approx(rr_death, abs=1e-4)
    before = res.times_h < death  # the compiled engine holds a dead cell's values
    for s in names:
        exp = np.interp(res.times_h, t_h, ref[s])
        scale = np.abs(exp).max()
        np.testing.assert_allclose(res.trace(0, s)[before], exp[before], rtol=1e-5,
                                   atol=1e-6 * scale, err_msg=s)
    text = json.dumps(res.provenance["units"])
    assert "item" in text and "1.661e-12 litre" in text


def test_delayed_events_with_a_death_rule_that_holds_are_refused(tmp_path):
    """A delayed SBML event queued before a cell's death would still change it afterwards, so a
    population that holds dead cells (``stop_at_death``, the default) is refused at validation,
    naming the event; recording deaths without holding them runs."""
    (tmp_path / "ev.ant").write_text(EVENTS_ANT.replace(
        "E1: at (time > 1800): X = X + kick;", "E1: at 600 after (time > 1800): X = X + kick;"))
    path = _scenario(tmp_path, EVENTS_SCENARIO)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert any("population" in loc and "'E1'" in msg and "stop_at_death: false" in msg
               for loc, msg in exc.value.problems), exc.value.problems
    path.write_text(EVENTS_SCENARIO + "population: {n_cells: 1, vary_parameters: [], "
                    "stop_at_death: false}\n")
    res = _run(path)
    assert 0.5 < res.conditions[0].death_h[0] < 2
