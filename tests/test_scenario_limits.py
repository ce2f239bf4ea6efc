"""Scenario limits: non-finite values, names, late events, run sizes and hostile YAML files.

Each case is refused with a ScenarioError naming file:line and the field (exit status 2 through
the CLI), before anything is simulated or written.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest

import apopsim
from apopsim import scenario as scen
from apopsim.cli import main
from apopsim.scenario import load_scenario
from test_scenario import GOOD

BASE = GOOD  # the valid scenario of test_scenario.py


def _edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


# (id, YAML text, expected line, field path, extra text in the message)
NON_FINITE = [
    ("nan threshold", BASE + "  death: {threshold: .nan}\n", 10, "readouts.death.threshold",
     "finite"),
    ("inf dose", _edit("hht: 50", "hht: .inf"), 6, "drugs.hht", "finite"),
    ("1e999 dose", _edit("hht: 50", "hht: 1.0e+999"), 6, "drugs.hht", "finite"),
    ("nan in dose list", _edit("[0, 100]", "[0, .nan]"), 5, "drugs.lisaftoclax[1]", "finite"),
    ("inf log dose", _edit("hht: 50", "hht: {from_nM: 1, to_nM: .inf, n: 3}"), 6,
     "drugs.hht.to_nM", "finite"),
    ("nan log dose", _edit("hht: 50", "hht: {from_nM: .nan, to_nM: 10, n: 3}"), 6,
     "drugs.hht.from_nM", "finite"),
    ("dose above 1 M", _edit("hht: 50", "hht: 2.0e+9"), 6, "drugs.hht", "less than"),
    ("nan parameter", BASE + "overrides:\n  parameters: {ksyn_MCL1: .nan}\n", 11,
     "overrides.parameters.ksyn_MCL1", "rate constants"),
    ("negative parameter", BASE + "overrides:\n  parameters: {ksyn_MCL1: -1}\n", 11,
     "overrides.parameters.ksyn_MCL1", "rate constants"),
    ("inf parameter", BASE + "overrides:\n  parameters: {ksyn_MCL1: .inf}\n", 11,
     "overrides.parameters.ksyn_MCL1", ">= 0"),
    ("inf initial", BASE + "overrides:\n  initial_nM: {MCL1: .inf}\n", 11,
     "overrides.initial_nM.MCL1", "finite"),
    ("inf duration", _edit("duration_h: 24", "duration_h: .inf"), 7, "time.duration_h",
     "finite"),
    ("huge duration", _edit("duration_h: 24", "duration_h: 1.0e+300"), 7, "time.duration_h",
     "less than"),
    ("nan output spacing", _edit("output_every_h: 1", "output_every_h: .nan"), 7,
     "time.output_every_h", "finite"),
    ("nan output time", _edit("output_every_h: 1", "output_times_h: [0, .nan]"), 7,
     "time.output_times_h[1]", "finite"),
    ("nan readout time", _edit("output_every_h: 1", "readout_times_h: [.nan]"), 7,
     "time.readout_times_h[0]", "finite"),
    ("nan rtol", BASE + "solver: {rtol: .nan}\n", 10, "solver.rtol", "finite"),
    ("inf atol", BASE + "solver: {atol: .inf}\n", 10, "solver.atol", "finite"),
    ("nan tol_per_h", BASE + "preequilibration: {tol_per_h: .nan}\n", 10,
     "preequilibration.tol_per_h", "finite"),
    ("inf max_h", BASE + "preequilibration: {max_h: .inf}\n", 10, "preequilibration.max_h",
     "finite"),
    ("nan cv", BASE + "population: {n_cells: 2, cv: .nan}\n", 10, "population.cv", "finite"),
    ("inf cv_per", BASE + "population: {n_cells: 2, cv_per: {ksyn_MCL1: .inf}}\n", 10,
     "population.cv_per.ksyn_MCL1", "finite"),
    ("nan correlation", BASE + "population: {n_cells: 2, correlation: .nan}\n", 10,
     "population.correlation", "finite"),
    ("inf schedule nM", BASE + "schedule:\n  - {at_h: 1, drug: hht, action: set, nM: .inf}\n",
     11, "schedule[0].nM", "finite"),
    ("nan schedule time", BASE + "schedule:\n  - {at_h: .nan, drug: hht, action: washout}\n",
     11, "schedule[0].at_h", "finite"),
    ("inf integer", BASE + "seed: .inf\n", 10, "seed", ""),
    ("a million workers", BASE + "execution: {workers: 1000000}\n", 10, "execution.workers",
     "1024"),
]


@pytest.mark.parametrize("what,text,line,field,needle", NON_FINITE,
                         ids=[c[0] for c in NON_FINITE])
def test_non_finite_and_out_of_range_values_are_refused(write_yaml, what, text, line, field,
                                                        needle):
    path = write_yaml(text)
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    msg = str(info.value)
    assert f"{path}:{line} {field}:" in msg, msg
    assert needle in msg, msg


def test_nan_threshold_exits_2_through_the_cli(write_yaml, capsys):
    path = write_yaml(BASE + "  death: {threshold: .nan}\n")
    assert main(["validate", str(path)]) == 2
    assert "readouts.death.threshold" in capsys.readouterr().err


def test_schedule_event_after_the_end_is_refused(write_yaml):
    path = write_yaml(BASE + "schedule:\n  - {at_h: 2, drug: hht, action: add}\n"
                      "  - {at_h: 30, drug: hht, action: washout}\n")
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    msg = str(info.value)
    assert f"{path}:12 schedule[1].at_h:" in msg, msg
    assert "after the end of the run" in msg and "schedule[0]" not in msg


def test_schedule_event_at_the_end_is_accepted(write_yaml):
    s = load_scenario(write_yaml(BASE + "schedule:\n  - {at_h: 24, drug: hht, action: add}\n"),
                      check_model=False)
    assert s.schedule[0].at_h == 24


BAD_NAMES = [".", "..", "../../x", "a/b", "", " x", "x y", ".hidden", "x" * 101, "a\\b",
             "na\u00efve"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_name_must_be_a_plain_folder_name(write_yaml, name):
    path = write_yaml(BASE.replace("name: t", f"name: {name!r}"))
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    msg = str(info.value)
    assert f"{path}:1 name:" in msg and "output folder" in msg, msg


@pytest.mark.parametrize("name", ["t", "apg2575_hht", "run-1.2", "x" * 100, "_a"])
def test_plain_names_are_accepted(write_yaml, name):
    assert load_scenario(write_yaml(BASE.replace("name: t", f"name: {name}")),
                         check_model=False).name == name


def test_dot_name_run_writes_nothing(write_yaml, tmp_path, monkeypatch):
    path = write_yaml(BASE.replace("name: t", "name: '.'"))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "earlier.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "-q", "--no-plots"]) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["earlier.txt", "results",
                                                           "scenario.yaml"]


# ---------------------------------------------------------------------------- run sizes
def test_work_estimate_of_a_small_scenario(write_yaml):
    s = load_scenario(write_yaml(BASE), check_model=False)
    est = s.work_estimate()
    assert est == scen.WorkEstimate(n_conditions=2, n_cells=1, cell_runs=3, n_output_times=25,
                                    n_recorded_variables=2, trace_bytes=2 * 1 * 2 * 25 * 8,
                                    cpu_s=pytest.approx(3 * scen.schema.CPU_S_PER_CELL_RUN_72H / 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.n_cells = 5  # type: ignore[misc]
    assert "2 conditions x 1 cells = 3 cell-runs" in est.describe()


@pytest.mark.parametrize("time", [
    {"duration_h": 24, "output_every_h": 1},
    {"duration_h": 72, "output_every_h": 0.5, "readout_times_h": [12.25, 24, 70.1]},
    {"duration_h": 10, "output_every_h": 3, "readout_times_h": [9]},
    {"duration_h": 1, "output_every_h": 0.1},
    {"duration_h": 5, "output_every_h": None},
    {"duration_h": 7, "output_times_h": [1, 2, 2, 3.5], "readout_times_h": [3.5, 6]},
])
def test_output_time_count_matches_the_grid(time):
    spec = scen.TimeSpec(**time)
    assert spec.n_output_times() == len(spec.output_times())


def _sized(**population) -> str:
    return _edit("hht: 50", "hht: {from_nM: 1, to_nM: 1000, n: 7}").replace(
        "lisaftoclax: [0, 100]", "lisaftoclax: {from_nM: 1, to_nM: 1000, n: 7}") + \
        "population: {" + ", ".join(f"{k}: {v}" for k, v in population.items()) + "}\n"


def test_run_that_cannot_fit_in_memory_is_refused(write_yaml, monkeypatch):
    monkeypatch.setattr(scen.limits, "physical_memory_bytes", lambda: 8 << 30)
    path = write_yaml(_sized(n_cells=1_000_000))  # 64 conditions x 1e6 cells x 2 x 25 x 4 B
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    msg = str(info.value)
    assert f"{path}:10 population.n_cells:" in msg, msg
    assert "does not fit in memory" in msg and "64 conditions x 1,000,000 cells" in msg


def test_too_many_output_times_are_refused(write_yaml):
    path = write_yaml(_edit("output_every_h: 1", "output_every_h: 1.0e-7").replace(
        "duration_h: 24", "duration_h: 72"))
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    msg = str(info.value)
    assert f"{path}:7 time.output_every_h:" in msg and "720,000,001 output times" in msg, msg


def test_too_many_conditions_are_refused(write_yaml):
    path = write_yaml(_edit("hht: 50", "hht: {from_nM: 1, to_nM: 1000, n: 1000}").replace(
        "lisaftoclax: [0, 100]", "lisaftoclax: {from_nM: 1, to_nM: 1000, n: 999}"))
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    msg = str(info.value)
    assert f"{path}:4 drugs:" in msg and "1,001,000 conditions" in msg, msg


def test_long_run_gets_a_warning_with_the_estimate(write_yaml):
    from apopsim.errors import ApopsimWarning

    with pytest.warns(ApopsimWarning, match="CPU") as record:
        load_scenario(write_yaml(_sized(n_cells=50_000)), check_model=False)
    assert "64 conditions x 50,000 cells" in str(record[0].message)


def test_large_memory_gets_a_warning(write_yaml, monkeypatch):
    from apopsim.errors import ApopsimWarning

    monkeypatch.setattr(scen.limits, "physical_memory_bytes", lambda: 64 << 30)
    text = _sized(n_cells=1000).replace("output_every_h: 1", "output_every_h: 0.0024")
    with pytest.warns(ApopsimWarning, match="GiB"):  # 64 x 1000 x 2 x 10001 x 4 B = 4.8 GiB
        s = load_scenario(write_yaml(text), check_model=False)
    assert s.work_estimate().cpu_s < scen.WARN_CPU_S


def test_small_run_gets_no_warning(write_yaml):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_scenario(write_yaml(_sized(n_cells=100)), check_model=False)


# ---------------------------------------------------------------------------- hostile files
def _alias_bomb() -> str:
    text = 'name: t\nmodel: bcl2_core\na: &a ["lol", "lol", "lol", "lol", "lol", "lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


HOSTILE = [
    ("alias bomb", _alias_bomb(), None, "counting each use of an alias"),
    ("deep flow nesting", "name: " + "[" * 20_000 + "]" * 20_000 + "\n", 1, "nested deeper"),
    ("deep block nesting", "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60
     + "x\n", None, "nested deeper"),
    ("deep through aliases", "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [1]\n"
                                     for i in range(60)), None, "aliases expanded"),
    ("alias cycle", "name: t\ndrugs: &d {x: *d}\n", 2, "cycle"),
    ("too large", "name: t\n" + "#" * (2 << 20) + "\n", None, "larger than 1024 KiB"),
    ("binary garbage", b"name: t\n\x89PNG\r\n\x1a\n\xff\x00", 2, "byte 0x89 at offset 8"),
    ("NUL character", "name: t\x00\n", 1, "U+0000 at offset 7"),
    ("5000-digit integer", "name: t\nseed: " + "9" * 5000 + "\n", 2, "cannot read"),
    ("impossible date", "name: t\ndescription: 2024-13-01\n", 2, "month"),
    ("list as key", "name: t\n? [1, 2]\n: 3\n", 2, "plain value"),
]


@pytest.mark.parametrize("what,content,line,needle", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused(tmp_path, capsys, what, content, line, needle):
    path = tmp_path / "hostile.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert needle in msg, msg
    assert f"{path}:{line}:" in msg if line else str(path) in msg, msg
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_alias_bomb_is_refused_before_objects_are_built(tmp_path, monkeypatch):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    built = []
    monkeypatch.setattr(scen.yaml_io._LineLoader, "construct_document",
                        lambda self, node: built.append(node))
    with pytest.raises(apopsim.ScenarioError, match="alias"):
        load_scenario(path)
    assert built == []


def test_few_aliases_are_fine(write_yaml):
    s = load_scenario(write_yaml(BASE.replace("[0, 100]", "&doses [0, 100]")
                                 + "population: {n_cells: 2, vary_parameters: [ksyn_MCL1]}\n"
                                 + "description: a\n"), check_model=False)
    assert s.dose_lists()["lisaftoclax"] == [0, 100]
    s = load_scenario(write_yaml(_edit("hht: 50", "hht: *x").replace("[0, 100]", "&x [0, 1]"),
                                 "b.yaml"), check_model=False)
    assert s.dose_lists()["hht"] == [0, 1]


def test_line_numbers_survive_the_single_parse(write_yaml):
    path = write_yaml(BASE + "solver:\n  method: LSODA\n  rtol: 2\n")
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    assert f"{path}:12 solver.rtol:" in str(info.value)
