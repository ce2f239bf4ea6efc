"""Cell accounting (explicit fates, every denominator stated), per-phase timings and progress,
and strict JSON in run.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import apopsim
from apopsim._io import json_safe, strict_json
from apopsim.cli import _summary_table
from apopsim.population import FATE_LABELS, Fate
from apopsim.scenario import Scenario

#: A toy cell (independent of the shipped models): x turns over (steady state ksyn/kdeg = 10 nM),
#: the drugs add damage y; dead once (x + y) / (x + y + 20 nM) > 0.5. Cells with ksyn above
#: twice its mean are dead untreated; under drug, cells with low ksyn survive, the others die.
TOY = """
model toy()
  x = 10; y = 0;
  ksyn = 1;          // nM/h
  kdeg = 0.1;        // 1/h
  hht = 0;           // nM, drug input
  lisaftoclax = 0;   // nM, drug input
  kdmg = 0.05;       // 1/(nM*h)
  kdy = 1;           // 1/h
  J1: -> x; ksyn;
  J2: x -> ; kdeg * x;
  J3: -> y; kdmg * (hht + lisaftoclax) * x;
  J4: y -> ; kdy * y;
  cleaved_PARP_fraction := (x + y) / (x + y + 20);
end
"""

N = 40  #: cells; with seed 0, 2 are dead untreated, and under drug some die, some survive


def _spec(model_path: Path, **over) -> dict:
    spec = {
        "name": "acc",
        "model": str(model_path),
        "drugs": {"lisaftoclax": [0, 50], "hht": [0, 50]},
        "time": {"duration_h": 12, "output_every_h": 1, "readout_times_h": [6, 12]},
        "readouts": {"species": ["x"]},
        "population": {"n_cells": N, "cv": 0.8, "vary_parameters": ["ksyn"],
                       "block_size": 15},
        "execution": {"executor": "serial"},
        "seed": 0,
    }
    return {**spec, **over}


def _strict_loads(text: str):
    def reject(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.ant"
    path.write_text(TOY)
    return path


@pytest.fixture(scope="module")
def written(toy_model, tmp_path_factory):
    res = apopsim.run_scenario(Scenario.model_validate(_spec(toy_model)), progress=False)
    out = apopsim.write_report(res, tmp_path_factory.mktemp("acc") / "out", plots=False,
                               progress=False)
    return res, out


def test_fates_partition_the_cells(written):
    res, _ = written
    # every fate but "failed" (tested below) occurs
    assert all(c.n_dead_untreated for c in res.conditions)
    assert any(c.n_died for c in res.conditions) and all(c.n_survived for c in res.conditions)
    for c in res.conditions:
        assert c.fate.shape == c.death_h.shape == (N,)
        assert set(np.unique(c.fate)) <= set(Fate)
        died = c.fate == Fate.DIED
        assert np.all(np.isfinite(c.death_h[died])) and np.all(np.isnan(c.death_h[~died]))
        assert c.n_died + c.n_survived == c.n_live_at_start == c.n_ok == c.live.size
        assert c.n_live_at_start + c.n_dead_untreated + c.n_failed == N
        # the live cells: death times of those that died, inf for survivors
        np.testing.assert_array_equal(np.sort(c.live[np.isfinite(c.live)]),
                                      np.sort(c.death_h[died]))
        f, lo, hi = c.apoptotic_fraction(12)
        assert f == pytest.approx(c.n_died / c.n_live_at_start)  # readout 12 h = end of run
        assert lo <= f <= hi
    # a cell's untreated steady state does not depend on the condition
    dead0 = [np.flatnonzero(c.fate == Fate.DEAD_UNTREATED) for c in res.conditions]
    assert all(np.array_equal(d, dead0[0]) for d in dead0)


def test_summary_states_every_denominator(written):
    res, out = written
    df = pd.read_csv(out / "summary.csv")
    assert (df["n_cells"] == N).all()
    assert (df["n_cells"] == df["n_dead_untreated"] + df["n_failed"]
            + df["n_live_at_start"]).all()
    assert (df["n_live_at_start"] == df["n_died"] + df["n_survived"]).all()
    assert (df["n_dead_untreated"] > 0).all()
    np.testing.assert_allclose(df["apoptotic_fraction_12h"],
                               df["n_died"] / df["n_live_at_start"])
    # median time to death over the cells that died only; the old name kept, same values
    for c, (_, row) in zip(res.conditions, df.iterrows()):
        dead = c.death_h[c.fate == Fate.DIED]
        expect = np.median(dead) if dead.size else np.nan
        np.testing.assert_allclose(row["median_time_to_death_h"], expect)
    pd.testing.assert_series_equal(df["time_to_death_h"], df["median_time_to_death_h"],
                                   check_names=False)


def test_deaths_csv_has_explicit_fates_and_no_sentinels(written):
    res, out = written
    text = (out / "deaths.csv").read_text()
    assert text.splitlines()[0] == "condition,cell,fate,time_to_death_h"
    assert "inf" not in text.lower()
    d = pd.read_csv(out / "deaths.csv")
    assert set(d["fate"]) <= set(FATE_LABELS) and len(d) == 4 * N
    died = d["fate"] == "died"
    assert d.loc[died, "time_to_death_h"].notna().all()
    assert d.loc[~died, "time_to_death_h"].isna().all()  # empty in the file
    counts = d.groupby("condition", sort=False)["fate"].value_counts().unstack(fill_value=0)
    for c in res.conditions:
        assert counts.loc[c.name].get("dead_untreated", 0) == c.n_dead_untreated
        assert counts.loc[c.name].get("died", 0) == c.n_died


def test_terminal_summary_shows_died_over_live(written):
    res, _ = written
    text = _summary_table(res)
    assert "died / live" in text and "dead untreated" in text
    for c in res.conditions:
        assert f"{c.n_died} / {c.n_live_at_start}" in text
    assert f"{N} cells simulated per condition" in text
    assert "over the cells that died" in text


def test_timings_and_strict_run_json(written, tmp_path):
    res, out = written
    t = res.timings
    assert {"setup", "preequilibration", "treatment", "run"} <= set(t)
    assert all(v >= 0 for v in t.values())
    assert t["run"] == res.wall_time_s >= t["setup"] + t["preequilibration"] + t["treatment"]
    run = _strict_loads((out / "run.json").read_text())
    # the report's own phases are in run.json beside the run's, not in the result
    assert set(run["timings_s"]) >= {"setup", "treatment", "run", "tables", "dose_response",
                                     "write"}
    assert "tables" not in t
    # a non-finite number anywhere in the record becomes null, never NaN / Infinity
    res.provenance["extra"] = {"a": float("nan"), "b": [np.float64("inf"), 1.5],
                               "c": np.array([1.0, -np.inf]), "d": (np.int64(3),)}
    again = apopsim.write_report(res, tmp_path / "again", plots=False, progress=False)
    run = _strict_loads((again / "run.json").read_text())
    assert run["extra"] == {"a": None, "b": [None, 1.5], "c": [1.0, None], "d": [3]}


def test_json_safe():
    assert json_safe({"x": [math.nan, (1, np.float32(np.nan))], "y": np.inf}) == \
        {"x": [None, [1, None]], "y": None}
    assert _strict_loads(strict_json({"p": float("-inf"), "q": "ok"})) == {"p": None, "q": "ok"}


def test_progress_lines_only_when_asked(written, toy_model, tmp_path, capsys):
    res, _ = written
    apopsim.write_report(res, tmp_path / "quiet", plots=False, progress=False)
    assert capsys.readouterr().err == ""
    apopsim.write_report(res, tmp_path / "loud", plots=False, progress=True)
    err = capsys.readouterr().err
    assert "writing tables ..." in err and "fitting dose-response curves ..." in err
    assert "synergy analysis" in err  # a 2 x 2 grid
    small = _spec(toy_model, population={"n_cells": 3, "vary_parameters": ["ksyn"]},
                  time={"duration_h": 2})
    apopsim.run_scenario(Scenario.model_validate(small), progress=True)
    err = capsys.readouterr().err
    assert "apopsim: loading and compiling model" in err and "sampling 3 cells ..." in err
    apopsim.run_scenario(Scenario.model_validate(small), progress=False)
    assert capsys.readouterr().err == ""
