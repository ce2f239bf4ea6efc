"""The report layer: :func:`apopsim.write_report` writes every table, the synergy analysis, the
figures and run.json atomically from a result it does not change.

One tiny real run (the flagship shrunk to 4 cells, 6 h, a 4 x 2 dose grid, serial) is shared by
the tests of this module.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import apopsim
from apopsim._io import MARKER, OutputError
from apopsim.library import scenarios_dir
from apopsim.report import run_record, write_report
from apopsim.report.synergy import ScenarioSynergy, scenario_synergy, write_synergy

TABLES = ["deaths.csv", "dose_response.csv", "summary.csv", "timecourse.csv"]


def _strict_loads(text: str):
    def reject(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def result() -> apopsim.ScenarioResult:
    spec = copy.deepcopy(apopsim.load_scenario(scenarios_dir() / "apg2575_hht.yaml").model_dump())
    spec.update(drugs={"lisaftoclax": [0, 10, 100, 1000], "hht": [0, 50]},
                time={"duration_h": 6, "output_every_h": 1, "readout_times_h": [3, 6]},
                execution={"executor": "serial"})
    spec["population"]["n_cells"] = 4
    return apopsim.run_scenario(apopsim.Scenario.model_validate(spec), progress=False)


@pytest.fixture(scope="module")
def written(result, tmp_path_factory) -> Path:
    return write_report(result, tmp_path_factory.mktemp("rep") / "out", progress=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_writes_every_file(written, result):
    names = {p.name for p in written.iterdir()}
    assert names == {*TABLES, "synergy", "plots", "run.json", MARKER}
    assert {"summary.csv", "wells.csv"} <= {p.name for p in (written / "synergy").iterdir()}
    pngs = {p.name for p in (written / "plots").glob("*.png")}
    assert {"apoptotic_fraction.png", "time_to_death.png",
            "dose_response_lisaftoclax.png"} <= pngs
    assert list((written / "synergy" / "plots").glob("*.png"))
    # no temporary or lock folders left beside the output
    assert [p.name for p in written.parent.iterdir()] == ["out"]
    # the tables are the result's data views
    pd.testing.assert_frame_equal(pd.read_csv(written / "summary.csv"), result.to_dataframe(),
                                  check_dtype=False)
    assert len(pd.read_csv(written / "deaths.csv")) == 8 * 4
    fits = pd.read_csv(written / "dose_response.csv")
    assert list(fits["drug"]) == ["lisaftoclax"] * 2


def test_run_json_is_strict_with_synergy_settings_and_report_timings(written, result):
    run = _strict_loads((written / "run.json").read_text())
    assert run["synergy"] == {"methods": ["bliss", "hsa"]}
    assert set(run["timings_s"]) >= {"setup", "treatment", "run", "tables", "dose_response",
                                     "synergy", "plots", "write"}
    assert run["n_conditions"] == 8 and run["seed"] == result.scenario.seed
    assert "synergy" not in result.provenance and "tables" not in result.timings


def test_writing_twice_gives_identical_files(result, tmp_path):
    a = _files(write_report(result, tmp_path / "a", plots=False, progress=False))
    b = _files(write_report(result, tmp_path / "b", plots=False, progress=False))
    assert a.keys() == b.keys() and "synergy/summary.csv" in a
    for name in a:
        if name != "run.json":
            assert a[name] == b[name], name
    ra, rb = (_strict_loads(x["run.json"].decode()) for x in (a, b))
    for r in (ra, rb):
        r.pop("timings_s")
        r.pop("created")
    assert ra == rb


def test_the_synergy_adapter_and_the_writer_do_not_change_the_result(result, tmp_path):
    before = (copy.deepcopy(result.provenance), dict(result.timings),
              [(c.fate.copy(), c.death_h.copy(), c.stats.copy()) for c in result.conditions])
    syn = scenario_synergy(result)
    assert isinstance(syn, ScenarioSynergy) and syn.drugs == ("lisaftoclax", "hht")
    assert sorted(syn.by_time) == [3.0, 6.0] and syn.settings == {"methods": ["bliss", "hsa"]}
    out = write_synergy(syn, tmp_path / "syn", plots=False)
    assert list(pd.read_csv(out / "summary.csv")["time"]) == [3.0, 6.0]
    write_report(result, tmp_path / "full", plots=False, progress=False)
    assert result.provenance == before[0] and result.timings == before[1]
    for c, (fate, death, stats) in zip(result.conditions, before[2], strict=True):
        np.testing.assert_array_equal(c.fate, fate)
        np.testing.assert_array_equal(c.death_h, death)
        np.testing.assert_array_equal(c.stats, stats)
    record = run_record(result, {"tables": 0.1}, syn)
    assert record["synergy"] == syn.settings and "synergy" not in result.provenance


def test_a_failed_write_leaves_nothing(result, tmp_path, monkeypatch):
    import apopsim.report.figures

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(apopsim.report.figures, "plot_scenario", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(result, tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_folder_needs_overwrite(result, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError):
        write_report(result, out, plots=False, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    write_report(result, out, plots=False, progress=False, overwrite=True)
    assert not (out / "notes.txt").exists() and (out / "summary.csv").is_file()


def test_not_a_grid_has_no_synergy(result, tmp_path):
    import dataclasses

    single = dataclasses.replace(
        result, scenario=result.scenario.model_copy(update={"design": "paired"}))
    assert scenario_synergy(single) is None
    out = write_report(single, tmp_path / "out", plots=False, progress=False)
    assert not (out / "synergy").exists()
    assert "synergy" not in _strict_loads((out / "run.json").read_text())
