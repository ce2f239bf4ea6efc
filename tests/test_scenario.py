"""Scenario validation: every bad input is rejected before anything runs, saying where."""

from __future__ import annotations

import pytest

import apopsim
from apopsim.cli import main
from apopsim.scenario import load_scenario

GOOD = """\
name: t
model: bcl2_core
context: aml_mcl1_dependent
drugs:
  lisaftoclax: [0, 100]
  hht: 50
time: {duration_h: 24, output_every_h: 1}
readouts:
  species: [MCL1_total]
"""

# (description, YAML text, expected line, text that must appear in the message)
BAD = [
    ("unknown model", GOOD.replace("model: bcl2_core", "model: nosuch"), 2, "model"),
    ("unknown field", GOOD + "colour: red\n", 10, "colour"),
    ("unknown nested field", GOOD.replace("duration_h: 24", "duration_h: 24, stepz: 1"), 7,
     "time.stepz"),
    ("negative dose", GOOD.replace("hht: 50", "hht: -5"), 6, "drugs.hht"),
    ("wrong type", GOOD.replace("duration_h: 24", "duration_h: soon"), 7, "time.duration_h"),
    ("unknown drug", GOOD.replace("hht: 50", "aspirin: 50"), 6, "drugs.aspirin"),
    ("unknown species", GOOD.replace("[MCL1_total]", "[MCL1_total, MCL9]"), 9,
     "readouts.species[1]"),
    ("unknown context", GOOD.replace("aml_mcl1_dependent", "liver"), 3, "context"),
    ("yaml syntax", GOOD.replace("hht: 50", "hht: [50"), None, "YAML syntax"),
    ("duplicate key", GOOD + "name: again\n", 10, "duplicate key"),
    ("readout after end", GOOD.replace("output_every_h: 1", "readout_times_h: [48]"), 7,
     "readout_times_h"),
    ("schedule of unlisted drug", GOOD + "schedule:\n  - {at_h: 2, drug: venetoclax, action: "
     "washout}\n", 11, "schedule[0].drug"),
    ("set without nM", GOOD + "schedule:\n  - {at_h: 2, drug: hht, action: set}\n", 11,
     "schedule[0]"),
    ("bad action", GOOD + "schedule:\n  - {at_h: 2, drug: hht, action: pour}\n", 11,
     "schedule[0].action"),
    ("unknown override parameter", GOOD + "overrides:\n  parameters: {k_nothing: 1}\n", 11,
     "overrides.parameters.k_nothing"),
    ("not a mapping", "- just\n- a list\n", None, "mapping"),
    ("paired lengths", GOOD.replace("hht: 50", "hht: [1, 2, 3]") + "design: paired\n", None,
     "equal length"),
    ("release of a drug", GOOD + "schedule:\n  - {at_h: 2, drug: hht, action: release}\n", 11,
     "ends the clamp of a species input"),
    ("model_units on a built-in model", GOOD + "model_units: {time: second}\n", 10,
     "built-in model"),
    ("unknown model_units key", GOOD + "model_units: {length: metre}\n", 10,
     "model_units.length"),
]


def test_good_scenario_is_valid(write_yaml):
    s = load_scenario(write_yaml(GOOD))
    assert len(s.conditions()) == 2
    assert s.conditions()[1] == {"lisaftoclax": 100.0, "hht": 50.0}


@pytest.mark.parametrize("what,text,line,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_scenario_rejected_with_location(write_yaml, what, text, line, needle):
    path = write_yaml(text)
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert str(path) in msg
    assert needle in msg
    if line is not None:
        assert f"{path}:{line}" in msg, msg


@pytest.mark.parametrize("what,text,line,needle", BAD[:6], ids=[b[0] for b in BAD[:6]])
def test_cli_rejects_bad_scenario_and_writes_nothing(write_yaml, tmp_path, capsys, what, text,
                                                     line, needle):
    path = write_yaml(text)
    out = tmp_path / "out"
    assert main(["run", str(path), "-o", str(out), "-q"]) == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]
    assert needle in capsys.readouterr().err


def test_existing_output_untouched_by_bad_scenario(write_yaml, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("old")
    assert main(["run", str(write_yaml(GOOD.replace("hht: 50", "hht: -1"))), "-o", str(out)]) == 2
    assert (out / "summary.csv").read_text() == "old"


def test_yaml_is_loaded_safely(write_yaml):
    path = write_yaml(GOOD.replace("name: t", "name: !!python/object/apply:os.system ['true']"))
    with pytest.raises(apopsim.ScenarioError):
        load_scenario(path)


def test_paired_design_and_schedule(write_yaml):
    s = load_scenario(write_yaml(GOOD.replace("hht: 50", "hht: [10, 20]") + "design: paired\n"
                                 "schedule:\n  - {at_h: 6, drug: hht, action: add}\n"))
    assert s.conditions() == [{"lisaftoclax": 0.0, "hht": 10.0}, {"lisaftoclax": 100.0,
                                                                  "hht": 20.0}]
    start, events = s.engine_schedule(s.conditions()[1])
    assert start == {"lisaftoclax": 100.0, "hht": 0.0}
    assert events == [(6.0, {"hht": 20.0})]


def test_json_schema_names_units():
    schema = apopsim.scenario_json_schema()
    assert "drugs" in schema["properties"]
    assert "nM" in schema["properties"]["drugs"]["description"]


def test_json_schema_has_model_units_and_release():
    schema = apopsim.scenario_json_schema()
    assert "model_units" in schema["properties"]
    units = schema["$defs"]["ModelUnitsSpec"]["properties"]
    assert set(units) == {"time", "substance", "volume"}
    assert "release" in schema["$defs"]["ScheduleEvent"]["properties"]["action"]["enum"]


def test_log_spaced_doses(write_yaml):
    s = load_scenario(write_yaml(GOOD.replace("hht: 50", "hht: {from_nM: 1, to_nM: 1000, n: 4}")))
    assert s.dose_lists()["hht"] == [0.0, 1.0, 10.0, 100.0, 1000.0]
    assert apopsim.log_doses(1, 100, 3, include_zero=False) == [1.0, 10.0, 100.0]
    bad = write_yaml(GOOD.replace("hht: 50", "hht: {from_nM: 10, to_nM: 1, n: 4}"), "b.yaml")
    with pytest.raises(apopsim.ScenarioError, match="below from_nM"):
        load_scenario(bad)


def test_negative_dose_gets_one_message_not_union_noise(write_yaml):
    path = write_yaml(GOOD.replace("hht: 50", "hht: -5"))
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    assert len(info.value.problems) == 1
    assert "greater than or equal to 0" in info.value.problems[0][1]


def test_control_characters_in_keys_are_escaped(write_yaml):
    path = write_yaml(GOOD + '"col\\x1bour": red\n')
    with pytest.raises(apopsim.ScenarioError) as info:
        load_scenario(path, check_model=False)
    assert "\x1b" not in str(info.value) and "'col\\x1bour'" in str(info.value)
