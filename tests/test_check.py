"""`expect:` claims and `apopsim check`: each assertion kind passes and fails on synthetic
results; errors are located; the command runs a small scenario end to end."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

import apopsim
from apopsim.check import check_scenarios, evaluate, reduce_for_check
from apopsim.cli import main
from apopsim.errors import ScenarioError
from apopsim.population import STATS, Fate
from apopsim.results import ConditionResult, ScenarioResult
from apopsim.runner import condition_name
from apopsim.scenario.expect import Expectation, compare_value

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "scenarios" / "apg2575_hht.yaml"
SINGLE = {"drug_a": {10.0: 0.1, 100.0: 0.3}, "drug_b": {10.0: 0.1, 100.0: 0.2}}


def synergistic(a: float, b: float, extra: float = 0.3) -> float:
    """Apoptotic fraction: Bliss independence plus ``extra`` at the top well."""
    fa, fb = SINGLE["drug_a"].get(a, 0.0), SINGLE["drug_b"].get(b, 0.0)
    return fa + fb - fa * fb + (extra if a == 100 and b == 100 else 0.0)


def synthetic(name: str, frac=synergistic, x0: float = 100.0, n: int = 100) -> ScenarioResult:
    """A made-up 3 x 3 grid result: cells die at 10 h in the given fraction; species ``X``
    starts at ``x0`` nM and falls linearly with drug_a (by a/2 nM at 72 h)."""
    s = apopsim.Scenario.model_validate({
        "name": name, "model": "bcl2_core",
        "drugs": {"drug_a": [0, 10, 100], "drug_b": [0, 10, 100]},
        "time": {"duration_h": 72, "output_every_h": 24, "readout_times_h": [24, 72]},
        "readouts": {"species": ["X"]}, "population": {"n_cells": n}})
    times = np.asarray(s.time.output_times())
    conds = []
    for doses in s.conditions():
        k = round(frac(doses["drug_a"], doses["drug_b"]) * n)
        fate = np.where(np.arange(n) < k, Fate.DIED, Fate.SURVIVED).astype(np.int8)
        stats = np.zeros((len(STATS), 2, len(times)))
        stats[:, 0, :] = x0 - 0.5 * doses["drug_a"] * times / 72
        conds.append(ConditionResult(condition_name(doses), doses,
                                     np.where(fate == Fate.DIED, 10.0, np.nan), fate, stats))
    return ScenarioResult(s, None, times, ("X", "cleaved_PARP_fraction"), conds, 0.0, n)


EXP = TypeAdapter(Expectation)
BASE = Path("/virtual/main.yaml")


def run(spec: dict, results: dict | None = None) -> tuple[float, str, str, bool]:
    e = EXP.validate_python({"claim": "c", "source": "AACR 2021 poster 1", **spec})
    return evaluate(e, BASE, results or {BASE: synthetic("main")})


# ------------------------------------------------------------------------------- readout
@pytest.mark.parametrize("spec, passes", [
    ({"condition": {}, "at_h": 72, "op": "<", "value": 0.05}, True),
    ({"condition": {"drug_a": 100, "drug_b": 100}, "at_h": 72, "op": ">", "value": 0.9}, False),
    ({"condition": {"drug_a": 100}, "at_h": 72, "op": "between", "value": [0.25, 0.35]}, True),
    ({"condition": {"drug_a": 100}, "at_h": 72, "op": "approx", "value": 0.32,
      "tolerance": 0.01}, False),
    ({"condition": {"drug_a": 100}, "at_h": 72, "op": "approx", "value": 0.32,
      "tolerance": 0.03}, True),
    ({"readout": "median_time_to_death_h", "condition": {"drug_a": 10}, "at_h": 72,
      "op": "approx", "value": 10, "tolerance": 0.1}, True),
    ({"condition": {"drug_a": 10}, "at_h": 5, "op": ">", "value": 0.0}, False),  # dead at 10 h
    # X falls by a/2 * t/72: 100 -> 83.3 nM at 24 h under drug_a 100 nM (fold 0.833)
    ({"readout": "X", "condition": {"drug_a": 100}, "at_h": 24,
      "relative_to": {"condition": {}, "at_h": 0}, "op": "<", "value": 0.85}, True),
    ({"readout": "X", "condition": {"drug_a": 100}, "at_h": 24,
      "relative_to": {"condition": {}}, "op": "<", "value": 0.8}, False),
    ({"readout": "X", "condition": {"drug_a": 100}, "at_h": 36, "op": "approx",
      "value": 75, "tolerance": 1e-9}, True),  # interpolated between output times
])
def test_readout(spec, passes):
    measured, text, expected, ok = run({"kind": "readout", **spec})
    assert ok is passes, (measured, text, expected)


# ------------------------------------------------------------------------------- synergy
@pytest.mark.parametrize("spec, passes", [
    ({"dose": {"drug_a": 100, "drug_b": 100}, "op": ">", "value": 25}, True),  # 30 pp
    ({"dose": {"drug_a": 100, "drug_b": 100}, "op": ">", "value": 35}, False),
    ({"dose": {"drug_a": 10, "drug_b": 10}, "op": "approx", "value": 0, "tolerance": 1e-6},
     True),
    ({"summary": "mean", "op": "approx", "value": 7.5, "tolerance": 1e-6}, True),  # 30 / 4
    ({"summary": "max", "op": "<", "value": 10}, False),
])
def test_synergy(spec, passes):
    measured, text, _, ok = run({"kind": "synergy", "method": "bliss", "at_h": 72, **spec})
    assert ok is passes, (measured, text)


# ------------------------------------------------------------------------------- compare
COMBO = {"condition": {"drug_a": 100, "drug_b": 100}, "at_h": 72}
SINGLES = [{"condition": {"drug_a": 100}, "at_h": 72}, {"condition": {"drug_b": 100}, "at_h": 72}]


@pytest.mark.parametrize("spec, passes", [
    ({"left": COMBO, "right": SINGLES, "wilson": True}, True),  # 0.74 vs 0.3 / 0.2
    ({"left": COMBO, "right": SINGLES, "margin": 0.5}, False),  # worst gap 0.44
    ({"left": COMBO, "right": SINGLES, "margin": 0.5, "tolerance": 0.1}, True),
    ({"left": SINGLES[1], "right": SINGLES[0], "op": "<", "margin": 0.05}, True),
    ({"left": SINGLES[1], "right": SINGLES[0], "op": "<", "margin": 0.2}, False),
    ({"left": COMBO, "right": SINGLES[0], "scale": "ratio", "margin": 2}, True),  # 2.47
    ({"left": COMBO, "right": SINGLES[0], "scale": "ratio", "margin": 3}, False),
])
def test_compare_conditions(spec, passes):
    measured, text, expected, ok = run({"kind": "compare", **spec})
    assert ok is passes, (measured, text, expected)


def test_compare_wilson_needs_separated_intervals():
    # 0.3 vs 0.2 with 30 cells: the Wilson intervals overlap although the fractions differ
    res = {BASE: synthetic("main", n=30)}
    spec = {"kind": "compare", "left": SINGLES[0], "right": SINGLES[1]}
    assert run(spec, res)[3] is True
    assert run({**spec, "wilson": True}, res)[3] is False


@pytest.mark.parametrize("op, margin, passes", [(">", 20, True), (">", 35, False),
                                                ("<", 0, False)])
def test_compare_between_scenarios(op, margin, passes):
    other = BASE.parent / "wt.yaml"
    results = {BASE: synthetic("itd"), other: synthetic("wt", lambda a, b: synergistic(a, b, 0))}
    spec = {"kind": "compare", "op": op, "margin": margin,
            "left": {"method": "bliss", "at_h": 72, "dose": {"drug_a": 100, "drug_b": 100}},
            "right": {"scenario": "wt.yaml", "method": "bliss", "at_h": 72,
                      "dose": {"drug_a": 100, "drug_b": 100}}}
    measured, text, _, ok = run(spec, results)
    assert ok is passes and measured == pytest.approx(30, abs=0.5), text


# --------------------------------------------------------------------------- correlation
def _panel(tmp_path: Path) -> tuple[Path, dict[Path, ScenarioResult]]:
    """Three panel members p0..p2: baseline X rises 50 -> 150 nM, drug_a potency x1..x3."""
    base = tmp_path / "main.yaml"
    out = {base: synthetic("main")}
    for i, (x0, scale) in enumerate([(50, 1.0), (100, 2.0), (150, 3.0)]):
        f = lambda a, b, s=scale: min(1.0, s * SINGLE["drug_a"].get(a, 0.0))  # noqa: E731
        (tmp_path / f"p{i}.yaml").touch()  # panel globs match files
        out[(tmp_path / f"p{i}.yaml").resolve()] = synthetic(f"p{i}", f, x0=x0)
    return base, out


@pytest.mark.parametrize("y, op, value, method, passes", [
    ({"ic50": "drug_a", "at_h": 72}, "<", -0.9, "spearman", True),  # IC50 inf, 56, 21 nM
    ({"ic50": "drug_a", "at_h": 72}, ">", 0, "spearman", False),
    ({"condition": {"drug_a": 100}, "at_h": 72}, ">", 0.99, "pearson", True),  # 0.3, 0.6, 0.9
    ({"condition": {"drug_a": 100}, "at_h": 72}, "<", 0, "pearson", False),
])
def test_correlation_over_a_panel(tmp_path, y, op, value, method, passes):
    base, results = _panel(tmp_path)
    e = EXP.validate_python({"kind": "correlation", "claim": "c", "source": "s",
                             "panel": ["p*.yaml"], "method": method,
                             "x": {"readout": "X", "at_h": 0}, "y": y, "op": op, "value": value})
    measured, text, _, ok = evaluate(e, base, results)
    assert ok is passes, text
    assert "n=3" in text


def test_ic50_interpolates_and_is_inf_when_not_reached(tmp_path):
    base, results = _panel(tmp_path)
    ic50 = {}
    for i in range(3):
        e = EXP.validate_python({"kind": "compare", "claim": "c", "source": "s",
                                 "left": {"scenario": f"p{i}.yaml", "ic50": "drug_a",
                                          "at_h": 72},
                                 "right": {"condition": {}, "at_h": 72}})
        ic50[i] = evaluate(e, base, results)[0]
    assert math.isinf(ic50[0])  # 0.3 at 100 nM: never half
    # scale 2: 0.2 at 10 nM, 0.6 at 100 nM -> 10 ** (1 + 0.75) = 56.2 nM
    assert ic50[1] == pytest.approx(10 ** 1.75, rel=1e-6)
    assert ic50[2] == pytest.approx(10 ** (1 + 0.2 / 0.6), rel=1e-6)  # 0.3 -> 0.9


def test_not_modelled_always_fails():
    measured, text, expected, ok = run({"kind": "not_modelled", "needs": "a tissue layer",
                                        "why_failing": "no tumour"})
    assert not ok and text == "not modelled" and "tissue" in expected


def test_a_pointer_shows_the_verdicts_of_the_files_it_names_and_is_not_counted(tmp_path):
    """``checked_elsewhere``: a missing file is a located error before anything runs; checked
    with the file it names, the pointer row carries that file's verdicts (status ELSEWHERE) and
    only the named file's own rows count; checked alone, it says so and counts nothing."""
    from apopsim.claims import check_all

    pointer = "  - kind: checked_elsewhere\n    claim: c\n    source: poster 981\n"
    bad = _write(tmp_path, pointer + "    checked_in: [nope.yaml]\n", "bad.yaml")
    with pytest.raises(ScenarioError, match=r"bad.yaml:\d+ expect\[0\].checked_in\[0\]: no "
                       "such claim file"):
        check_scenarios([bad])
    other = _write(tmp_path, "  - kind: not_modelled\n    claim: c\n    source: poster 981\n"
                   "    needs: x\n", "other.yaml")
    path = _write(tmp_path, pointer + "    checked_in: [other.yaml]\n")
    both = check_all([path, other], fast=True, executor="serial")
    row = next(o for o in both.outcomes if o.kind == "checked_elsewhere")
    assert row.status == "elsewhere" and row.measured_text == "other.yaml: 0 of 1 pass"
    assert len(both.counted) == 1 and both.n_failed == 1
    assert "1 claims are checked in other files" in both.table()
    alone = check_all([path], fast=True, executor="serial")
    assert alone.outcomes[0].measured_text == "other.yaml: not run in this check"
    assert alone.ok and alone.to_json()["n_checked_elsewhere"] == 1


def test_tolerance_is_granted_in_the_passing_direction():
    assert compare_value(0.96, ">", 1.0, 0.05) and not compare_value(0.94, ">", 1.0, 0.05)
    assert compare_value(1.04, "<", 1.0, 0.05) and not compare_value(1.06, "<=", 1.0, 0.05)
    assert compare_value(0.5, "between", [0.6, 0.7], 0.1)
    assert not compare_value(math.nan, "<", 1.0, 0.0)


# ---------------------------------------------------------------------- located problems
def _write(tmp_path: Path, expect: str, name: str = "s.yaml", base: Path = FLAGSHIP) -> Path:
    text = base.read_text().split("\nexpect:")[0].replace("n_cells: 200", "n_cells: 10")
    path = tmp_path / name
    path.write_text(text.rstrip() + "\nexpect:\n" + expect)
    return path


def test_schema_errors_name_file_line_and_field(tmp_path):
    path = _write(tmp_path, "  - kind: readout\n    claim: c\n    source: s\n    at_h: 24\n"
                  "    op: '>>'\n    value: 1\n  - kind: compare\n    claim: c\n    source: s\n"
                  "    left: {at_h: 1, method: blis}\n    right: {at_h: 1}\n"
                  "  - kind: nonsense\n")
    n = len(path.read_text().split("\nexpect:")[0].splitlines()) + 1  # line of 'expect:'
    with pytest.raises(ScenarioError) as err:
        apopsim.load_scenario(path)
    text = str(err.value)
    assert f"s.yaml:{n + 5} expect[0].op" in text
    assert f"s.yaml:{n + 10} expect[1].left.method" in text
    assert "expect[2]" in text and "'kind' must be one of" in text


def test_names_doses_and_times_are_checked_against_the_scenarios(tmp_path, capsys):
    other = _write(tmp_path, "  []\n", "other.yaml")
    other.write_text(other.read_text().replace("expect:\n  []\n", ""))
    path = _write(tmp_path, "  - kind: readout\n    claim: c\n    source: s\n"
                  "    condition: {hht: 5}\n    at_h: 80\n    op: '<'\n    value: 1\n"
                  "  - kind: compare\n    claim: c\n    source: s\n    left: {at_h: 1}\n"
                  "    right: {scenario: other.yaml, readout: NOPE, at_h: 1}\n"
                  "  - kind: synergy\n    claim: c\n    source: s\n    method: zip\n"
                  "    at_h: 72\n    op: '>'\n    value: 0\n")
    with pytest.raises(ScenarioError) as err:
        check_scenarios([path])
    text = str(err.value)
    assert "expect[0].condition.hht: hht 5 nM is not a dose" in text
    assert "expect[0].at_h: 80 h is after the end" in text
    assert "expect[1].right[0].readout: 'NOPE' is not recorded" in text and "other.yaml" in text
    assert "expect[2].method: zip needs at least 3 non-zero doses" in text
    assert main(["validate", str(path)]) == 2  # validate checks the claims too, runs nothing


def test_fast_mode_keeps_only_the_doses_named():
    s = apopsim.load_scenario(ROOT / "scenarios" / "apg1252_s63845_nen_bclxl_high_mcl1_high.yaml",
                              check_model=False)
    e = EXP.validate_python({"kind": "synergy", "claim": "c", "source": "s", "method": "bliss",
                             "at_h": 72, "dose": {"pelcitoclax": 10, "s63845": 100},
                             "op": ">", "value": 0})
    fast = reduce_for_check(s, [e])
    assert fast.dose_lists() == {"pelcitoclax": [0.0, 10.0], "s63845": [0.0, 100.0]}
    assert fast.population.n_cells == 50 and fast.time.output_every_h == 1.0
    grid = EXP.validate_python({"kind": "synergy", "claim": "c", "source": "s",
                                "method": "zip", "at_h": 72, "op": ">", "value": 0})
    assert reduce_for_check(s, [e, grid]).dose_lists() == s.dose_lists()


# ------------------------------------------------------------------------------------ CLI
def test_check_command_on_a_small_scenario(tmp_path, capsys):
    path = _write(tmp_path, """\
  - kind: readout
    role: control
    claim: untreated cells survive
    source: AACR 2021 poster 981
    at_h: 6
    op: "<"
    value: 0.05
  - kind: readout
    claim: HHT removes MCL-1 entirely within 6 h
    source: AACR 2021 poster 981
    readout: MCL1_total
    condition: {hht: 50}
    at_h: 6
    op: "<"
    value: 0.001
    why_failing: synthesis goes on at a low rate
""")
    path.write_text(path.read_text().replace("duration_h: 72", "duration_h: 6").replace(
        "[24, 48, 72]", "[6]"))
    out, figs = tmp_path / "chk", tmp_path / "figs"
    assert main(["check", str(path), "--fast", "-o", str(out), "--executor", "serial",
                 "--figures", str(figs)]) == 1
    table = capsys.readouterr().out
    assert "1 of 2 expectations pass" in table and "FAIL" in table and "PASS" in table
    df = pd.read_csv(out / "check.csv", dtype={"study": str})
    assert list(df["status"]) == ["pass", "fail"] and list(df["study"]) == ["981", "981"]
    assert df["why_failing"].fillna("").tolist() == ["", "synthesis goes on at a low rate"]
    report = json.loads((out / "check.json").read_text())
    assert report["fast"] is True and report["n_failed"] == 1
    assert (out / ".apopsim-output").exists()
    assert [p.name for p in figs.glob("*.png")] == ["study_981.png"]  # the headline claim


@pytest.mark.skipif(not os.environ.get("APOPSIM_SLOW"), reason="set APOPSIM_SLOW=1 (a few "
                    "CPU-minutes: reduced runs of every claim file)")
def test_fast_check_lists_all_eight_studies(monkeypatch):
    from apopsim.claims import check_all

    monkeypatch.chdir(ROOT)  # the default: scenarios/, scenarios/panels/, scenarios/invivo/
    report = check_all(None, fast=True, executor="serial")
    studies = {o.study for o in report.outcomes}
    assert {"1096", "1463", "981", "976", "1924", "984", "968", "APG-115+PD-1"} <= studies
    assert not [o for o in report.outcomes if o.status == "error"], report.table()
    assert not report.unchecked


def test_check_all_includes_panel_files(tmp_path):
    """Panel files (fold_ranges:) are checked with the scenarios, in one table."""
    from apopsim.claims import check_all, file_kind

    src = ROOT / "scenarios" / "panels" / "pelcitoclax_nen_panel.yaml"
    panel = tmp_path / "panel.yaml"
    panel.write_text(src.read_text().replace("n_lines: 256", "n_lines: 4"))
    scenario = _write(tmp_path, "  - kind: not_modelled\n    claim: c\n    source: poster 981\n"
                      "    needs: x\n")
    assert file_kind(panel) == "panel" and file_kind(scenario) == "scenario"
    report = check_all([scenario, panel], fast=True, executor="serial")
    kinds = {(o.scenario, o.kind) for o in report.outcomes}
    assert ("apg2575_hht", "not_modelled") in kinds
    assert ("pelcitoclax_nen_panel", "correlation") in kinds
    assert all(o.status in ("pass", "fail") for o in report.outcomes)


def test_a_factor_with_one_value_need_not_be_named():
    from apopsim.check import _condition

    r = synthetic("main")
    s = apopsim.Scenario.model_validate({**r.scenario.model_dump(),
                                         "drugs": {"drug_a": [0, 10, 100], "drug_b": [0, 10, 100],
                                                   "drug_c": 5}})
    r.scenario = s
    for c in r.conditions:
        c.doses_nM["drug_c"] = 5.0
    assert _condition(r, {}).doses_nM == {"drug_a": 0.0, "drug_b": 0.0, "drug_c": 5.0}
    assert _condition(r, {"drug_a": 10}).doses_nM["drug_a"] == 10.0
    with pytest.raises(KeyError):
        _condition(r, {"drug_a": 5})
