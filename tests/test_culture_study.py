"""Culture study files (apopsim.culture_study, ``apopsim culture``): strict schema with located
errors, readouts and GR metrics, synergy per readout and time, the report folder (atomic, never
over the user's files), ``expect:`` verdicts, and the demo files under scenarios/cultures/."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from apopsim.culture_study import (
    CultureStudy,
    check_culture,
    gr_metrics,
    load_culture,
    run_culture,
)
from apopsim.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]

SMALL = """\
name: tiny_culture
model: bcl2_core
context: aml_mcl1_dependent
drugs:
  lisaftoclax: [100]
  hht: [100]
duration_h: 12
readout_times_h: [6, 12]
culture: {founders: 3, warmup_h: 0, step_h: 2}
solver: {engine: scipy}
synergy: {readouts: [viability, apoptotic_fraction], methods: [bliss, hsa]}
expect:
  - kind: readout
    role: control
    claim: the vehicle grows
    source: test
    readout: live_cells
    condition: {}
    at_h: 12
    op: ">="
    value: 3
  - kind: synergy
    claim: a number
    source: test
    method: bliss
    readout: viability
    at_h: 12
    dose: {lisaftoclax: 100, hht: 100}
    op: ">"
    value: -1000
  - kind: compare
    claim: the combination leaves no more live cells than vehicle
    source: test
    left: {readout: live_cells, condition: {lisaftoclax: 100, hht: 100}, at_h: 12}
    right: [{readout: live_cells, condition: {}, at_h: 12}]
    op: "<"
    margin: -0.5
"""


def _write(tmp_path: Path, text: str = SMALL, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One small run shared by the tests below (3 founders, 12 h, 4 wells, scipy)."""
    path = _write(tmp_path_factory.mktemp("tiny"))
    return run_culture(path)


def test_errors_name_file_line_and_field(tmp_path):
    bad = SMALL.replace("duration_h: 12", "duration_h: 12\nfounders: 3").replace(
        "step_h: 2", "step_h: 2, cycle_hours: 3")
    with pytest.raises(ScenarioError) as exc:
        load_culture(_write(tmp_path, bad))
    text = str(exc.value)
    assert "c.yaml:" in text and "founders" in text and "cycle_hours" in text
    located = [where for where, _ in exc.value.problems]
    assert f"{tmp_path / 'c.yaml'}:8 founders" in located
    assert f"{tmp_path / 'c.yaml'}:10 culture.cycle_hours" in located


def test_expectations_are_checked_against_the_grid(tmp_path):
    bad = SMALL.replace("condition: {lisaftoclax: 100, hht: 100}, at_h: 12}",
                        "condition: {lisaftoclax: 30, hht: 100}, at_h: 12}")
    with pytest.raises(ScenarioError, match="lisaftoclax 30 nM is not one of its doses"):
        load_culture(_write(tmp_path, bad))
    late = SMALL.replace("readout_times_h: [6, 12]", "readout_times_h: [6, 24]")
    with pytest.raises(ScenarioError, match="beyond duration_h"):
        load_culture(_write(tmp_path, late))
    steps = SMALL.replace("step_h: 2", "step_h: 10")
    with pytest.raises(ScenarioError, match="cycle_h / 4"):
        load_culture(_write(tmp_path, steps))


def test_readouts_per_condition_and_time(tiny):
    s = tiny.summary
    assert len(s) == 4 * 2  # 2 x 2 grid (0 nM added) x 2 readout times
    assert {"live_cells", "dead_cells", "viability", "gr_value", "apoptotic_fraction",
            "lisaftoclax_nM", "hht_nM", "time_h"} <= set(s.columns)
    vehicle = s[s["condition"] == "vehicle"]
    assert (vehicle["viability"] == 1.0).all()
    assert vehicle["gr_value"].dropna().eq(1.0).all()
    assert (vehicle["dead_cells"] == 0).all()
    frac = s["dead_cells"] / (s["live_cells"] + s["dead_cells"])
    assert (frac - s["apoptotic_fraction"]).abs().max() < 1e-12
    assert tiny.provenance["live_cell_hours_total"] > 0


def test_gr50_is_interpolated_on_a_log_scale():
    spec = CultureStudy(name="x", model="bcl2_core", drugs={"a": [1, 10, 100]}, duration_h=24,
                        readout_times_h=[24])
    summary = pd.DataFrame({"a_nM": [0, 1, 10, 100], "time_h": 24.0,
                            "gr_value": [1.0, 0.9, 0.7, 0.1]})
    g = gr_metrics(spec, summary).iloc[0]
    # 0.5 lies 1/3 of the way from 0.7 (10 nM) to 0.1 (100 nM): 10 ** (1 + 1/3) nM
    assert g["GR50_nM"] == pytest.approx(10 ** (4 / 3))
    assert g["GRmax"] == 0.1 and g["GR50_censored"] == ""
    flat = summary.assign(gr_value=[1.0, 0.95, 0.9, 0.8])
    assert math.isinf(gr_metrics(spec, flat).iloc[0]["GR50_nM"])


def test_synergy_on_each_readout_at_each_time(tiny):
    table = tiny.synergy_table()
    assert set(table["readout"]) == {"viability", "apoptotic_fraction"}
    assert set(table["time_h"]) == {6.0, 12.0}
    assert set(table["method"]) == {"bliss", "hsa"}
    assert table["mean_pp"].notna().all()


def test_expectations_give_check_rows(tiny):
    outcomes = check_culture(tiny)
    assert [o.kind for o in outcomes] == ["readout", "synergy", "compare"]
    assert all(o.status == "pass" for o in outcomes), [(o.claim, o.measured_text)
                                                        for o in outcomes]
    assert outcomes[0].scenario == "tiny_culture"


def test_report_folder_is_written_whole(tiny, tmp_path):
    from apopsim.culture_study import write_culture_report

    out = write_culture_report(tiny, tmp_path / "out")
    names = {p.name for p in out.iterdir()}
    assert {"summary.csv", "columns.csv", "counts.csv", "gr_metrics.csv", "synergy.csv",
            "synergy_wells.csv", "check.csv", "run.json", "plots", ".apopsim-output"} <= names
    assert {p.name for p in (out / "plots").iterdir()} == {
        "growth_curves.png", "synergy_vs_time.png", "viability_heatmap.png"}
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "culture" and run["units"]["time"] == "h"
    assert "gr_value" in run["definitions"]
    cols = pd.read_csv(out / "columns.csv").set_index("column")
    assert cols.loc["viability", "unit"] == "fraction"


def test_cli_refuses_a_foreign_folder_and_writes_a_new_one(tmp_path, monkeypatch, capsys):
    from apopsim.cli import main

    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, SMALL.replace("founders: 3", "founders: 2"))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["culture", str(path), "-o", str(foreign), "-q"]) == 2
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert "refusing" in capsys.readouterr().err
    assert main(["culture", str(path), "--validate"]) == 0
    assert main(["culture", str(path), "-o", "out", "-q", "--no-plots"]) == 0
    assert (tmp_path / "out" / "summary.csv").is_file()
    assert main(["culture", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.parametrize("name", ["apg2575_hht_culture", "apg2575_palbociclib_culture"])
def test_demo_files_are_valid(name):
    spec = load_culture(ROOT / "scenarios" / "cultures" / f"{name}.yaml")
    assert len(spec.conditions()) == 9
    assert spec.readout_times_h[:3] == [24, 48, 72]
    assert spec.expect
    if name == "apg2575_palbociclib_culture":  # 72 h treated, washout, 72 h drug-free
        assert (spec.duration_h, spec.regrowth_h) == (72, 72)
        assert spec.readout_times_h[3:] == [96, 120, 144]


def test_apopsim_check_includes_culture_files(tmp_path):
    """Culture files (top-level readout_times_h) are checked with the other claim files."""
    from apopsim.claims import check_all, file_kind

    path = _write(tmp_path, SMALL.replace("founders: 3", "founders: 2"))
    assert file_kind(path) == "culture"
    report = check_all([path], fast=True)
    assert [(o.scenario, o.kind) for o in report.outcomes] == [
        ("tiny_culture", "readout"), ("tiny_culture", "synergy"), ("tiny_culture", "compare")]
    assert "tiny_culture" in report.timings_s


REGROWTH = SMALL.replace("duration_h: 12\nreadout_times_h: [6, 12]",
                         "duration_h: 12\nregrowth_h: 24\nreadout_times_h: [6, 12, 36]").replace(
    "culture: {founders: 3, warmup_h: 0, step_h: 2}",
    "culture: {founders: 6, warmup_h: 0, step_h: 2, burnin_h: 12, noise_cv_per: {ksyn_MCL1: 0.4}}"
).replace("synergy: {readouts: [viability, apoptotic_fraction]",
          "synergy: {readouts: [viability, gr_value, apoptotic_fraction]")


def test_regrowth_phase_is_validated_with_located_errors(tmp_path):
    """``regrowth_h``: readouts and ``at_h`` may run to ``duration_h + regrowth_h``, GR only
    over the treatment, the regrowth readouts only after the washout."""
    spec = load_culture(_write(tmp_path, REGROWTH))
    assert spec.regrowth_h == 24 and spec.end_h == 36
    assert spec.culture.options().noise_cv_per == {"ksyn_MCL1": 0.4}
    late = REGROWTH.replace("[6, 12, 36]", "[6, 12, 40]")
    with pytest.raises(ScenarioError, match=r"beyond duration_h \+ regrowth_h \(12 \+ 24 = 36"
                       ) as exc:
        load_culture(_write(tmp_path, late))
    assert "c.yaml:" in str(exc.value)
    cases = {  # expect entry 0 (the vehicle readout) rewritten -> the error it must give
        "at_h: 12\n    op: \">=\"": ("at_h: 40\n    op: \">=\"", "expect.0: at_h 40 lies beyond"),
        "readout: live_cells\n    condition: {}": ("readout: gr_value\n    condition: {}",
                                                   "expect.0: gr_value is defined over the "
                                                   "treatment only"),
    }
    for old, (new, msg) in cases.items():
        text = REGROWTH.replace(old, new, 1).replace("at_h: 12\n    op: \">=\"",
                                                     "at_h: 36\n    op: \">=\"", 1)
        with pytest.raises(ScenarioError, match=msg):
            load_culture(_write(tmp_path, text))
    early = REGROWTH.replace("readout: live_cells\n    condition: {}",
                             "readout: regrowth_gr\n    condition: {}")
    with pytest.raises(ScenarioError, match="expect.0: regrowth_gr is read after the washout"):
        load_culture(_write(tmp_path, early))
    none = SMALL.replace("readout: live_cells\n    condition: {}",
                         "readout: resumed_fraction\n    condition: {}")
    with pytest.raises(ScenarioError, match="needs a washout phase"):
        load_culture(_write(tmp_path, none))
    odd = REGROWTH.replace("regrowth_h: 24", "regrowth_h: 25")
    with pytest.raises(ScenarioError, match=r"regrowth_h \(25 h\) must be a whole number of "
                       r"culture.step_h \(2 h\)"):
        load_culture(_write(tmp_path, odd))
    syn = REGROWTH.replace("method: bliss\n    readout: viability\n    at_h: 12",
                           "method: bliss\n    readout: gr_value\n    at_h: 36")
    with pytest.raises(ScenarioError, match="expect.1: gr_value is defined over the treatment"):
        load_culture(_write(tmp_path, syn))


def test_regrowth_readouts_report_and_provenance(tmp_path):
    """A washout at 12 h and 24 h drug-free: the summary marks the phase, GR stops at the
    washout (NaN after it, not scored for synergy), ``regrowth_gr`` and ``resumed_fraction``
    start after it, run.json records ``regrowth_h``, and expect entries can read it."""
    text = REGROWTH.replace("readout: live_cells\n    condition: {}\n    at_h: 12",
                            "readout: resumed_fraction\n    condition: {}\n    at_h: 36").replace(
        "op: \">=\"\n    value: 3", "op: \">\"\n    value: 0.3")
    result = run_culture(_write(tmp_path, text), fast=True)
    s = result.summary.set_index(["condition", "time_h"])
    assert s.loc[("vehicle", 12.0), "phase"] == "treatment"
    assert s.loc[("vehicle", 36.0), "phase"] == "regrowth"
    assert s.xs(36.0, level="time_h")["gr_value"].isna().all()
    assert s.xs(12.0, level="time_h")[["regrowth_gr", "resumed_fraction"]].isna().all().all()
    assert s.loc[("vehicle", 36.0), "regrowth_gr"] == pytest.approx(1.0)
    assert s.loc[("vehicle", 36.0), "live_cells"] > s.loc[("vehicle", 12.0), "live_cells"]
    assert result.vehicle.counts["time_h"].iloc[-1] == 36.0
    table = result.synergy_table()
    assert set(table.loc[table["readout"] == "gr_value", "time_h"]) == {6.0, 12.0}
    assert 36.0 in set(table.loc[table["readout"] == "viability", "time_h"])
    assert set(result.gr_metrics["time_h"]) <= {6.0, 12.0}
    outcomes = check_culture(result)
    assert outcomes[0].status == "pass", outcomes[0].measured_text
    assert result.provenance["regrowth_h"] == 24 and result.provenance["washout_h"] == 12
    out = tmp_path / "out"
    from apopsim.culture_study import write_culture_report

    write_culture_report(result, out)
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["regrowth_h"] == 24 and "regrowth_gr" in run["definitions"]
    assert (out / "plots" / "growth_curves.png").is_file()
