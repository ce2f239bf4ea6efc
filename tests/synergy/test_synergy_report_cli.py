"""Report writing (tables, plots, atomicity), time courses and the ``synergy`` CLI."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from apopsim.synergy import (
    SynergyWarning,
    analyze,
    analyze_time_course,
    plot_synergy_vs_time,
    write_report,
    write_time_course_report,
)
from apopsim.synergy import cli as synergy_cli
from apopsim.synergy import report as report_mod

ALL = "bliss,hsa,loewe,zip,ci,musyc"


def test_analyze_tables_and_conventions(musyc_frame):
    res = analyze(musyc_frame, data_type="viability", scale="percent", methods=ALL, n_bootstrap=10)
    w, s = res.wells, res.summary
    assert list(s["block_id"]) == ["syn", "ant"]
    # one row per block and well, replicates averaged
    assert len(w) == 2 * 36 and (w["n_replicates"] == 2).all()
    for col in ("inhibition", "bliss", "hsa", "loewe", "zip", "ci", "dri1", "musyc_fitted"):
        assert col in w
    comb = (w["conc1"] > 0) & (w["conc2"] > 0)
    assert (w.loc[~comb, ["bliss", "hsa", "loewe", "zip"]] == 0).all().all()
    assert w.loc[~comb, "ci"].isna().all()
    # block score = mean over combination wells
    for block, grp in w.groupby("block_id", sort=False):
        row = s.set_index("block_id").loc[block]
        for k in ("bliss", "hsa", "zip"):
            assert row[k] == pytest.approx(grp.loc[comb[grp.index], k].mean())
    syn, ant = s.set_index("block_id").loc["syn"], s.set_index("block_id").loc["ant"]
    assert syn["bliss"] > 2 and ant["bliss"] < -2
    assert syn["ci"] < 1 < ant["ci"] or syn["ci_50"] < ant["ci_50"]
    assert syn["musyc_alpha12"] > 1 > ant["musyc_alpha12"]
    assert syn["musyc_alpha12_lo"] <= syn["musyc_alpha12"] <= syn["musyc_alpha12_hi"]
    for col in ("ci_50", "ci_75", "ci_90", "dri1_50", "musyc_beta_lo", "hill1_ec50"):
        assert col in s
    assert (s["zip_variant"] == "sf3").all() and (s["data_type"] == "viability").all()
    assert s["score_unit"].str.contains("percentage points").all()
    assert "positive = synergy" in res.conventions


def test_write_report_with_plots(tmp_path, musyc_frame):
    one = musyc_frame[musyc_frame["block_id"] == "syn"]
    res = analyze(one, data_type="viability", scale="percent", methods=ALL, n_bootstrap=5)
    out = tmp_path / "report"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SynergyWarning)  # a failing figure would warn
        write_report(res, out)
    names = {p.name for p in (out / "plots").iterdir()}
    expected = {"syn_response_matrix.png", "syn_single_drug_curves.png", "syn_isobologram.png",
                "syn_fa_ci.png", "syn_synergy_vs_ratio.png"}  # fmt: skip
    expected |= {f"syn_{m}_{k}.png" for m in ("bliss", "hsa", "loewe", "zip")
                 for k in ("heatmap", "contour", "surface3d")}  # fmt: skip
    assert expected <= names
    assert all((out / "plots" / n).stat().st_size > 10_000 for n in expected)
    wells = pd.read_csv(out / "wells.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert len(wells) == 36 and len(summary) == 1
    assert (out / "ci_rays.csv").exists()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["settings"]["zip_variant"] == "sf3"
    assert "percentage points" in meta["conventions"]
    assert not list(tmp_path.glob(".report.tmp-*"))


def test_write_report_is_atomic(tmp_path, musyc_frame, monkeypatch):
    res = analyze(musyc_frame, data_type="viability", scale="percent", methods="bliss")
    out = tmp_path / "out"
    write_report(res, out, plots=False)
    before = (out / "wells.csv").read_text()

    def boom(result, tmp):
        (tmp / "wells.csv").write_text("partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_mod, "_write_tables", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(res, out, plots=False)
    assert (out / "wells.csv").read_text() == before  # previous output untouched
    with pytest.raises(RuntimeError):
        write_report(res, tmp_path / "fresh", plots=False)
    assert not (tmp_path / "fresh").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_time_course_report_and_plot(tmp_path):
    from synergy_helpers import grid

    from apopsim.synergy import HillFit

    d1, d2 = grid(10.0, 1.0, n=4)
    f1, f2 = HillFit(0, 0.9, 1.2, 10.0), HillFit(0, 0.95, 1.0, 1.0)
    frames = {}
    for t in (24.0, 48.0, 72.0):
        boost = 0.002 * t * ((d1 > 0) & (d2 > 0))
        y = f1(d1) + f2(d2) - f1(d1) * f2(d2) + boost
        frames[t] = pd.DataFrame(
            {"block_id": "grid", "drug1": "venetoclax", "drug2": "navitoclax", "conc1": d1,
             "conc2": d2, "response": 1 - y}
        )  # fmt: skip
    results = analyze_time_course(
        frames, data_type="viability", scale="fraction", methods="bliss,hsa,ci"
    )
    out = write_time_course_report(results, tmp_path / "tc", plots=False)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["time"]) == [24.0, 48.0, 72.0]
    assert summary["bliss"].is_monotonic_increasing
    assert summary["bliss"].iloc[-1] == pytest.approx(100 * 0.144)
    assert (out / "plots" / "synergy_vs_time.png").stat().st_size > 10_000
    wells = pd.read_csv(out / "wells.csv")
    assert set(wells["time"]) == {24.0, 48.0, 72.0}
    path = plot_synergy_vs_time(
        {t: r.summary for t, r in results.items()}, tmp_path / "svt.png", methods=["bliss", "ci"]
    )
    assert path.exists()


def _csv(tmp_path, musyc_frame, block="syn"):
    path = tmp_path / "data.csv"
    musyc_frame[musyc_frame["block_id"] == block].to_csv(path, index=False)
    return path


def test_cli_runs_through_subparser(tmp_path, musyc_frame, capsys):
    path = _csv(tmp_path, musyc_frame)
    parser = argparse.ArgumentParser(prog="apopsim")
    sub = parser.add_subparsers(dest="command", required=True)
    synergy_cli.add_parser(sub)
    args = parser.parse_args(
        ["synergy", str(path), "-o", str(tmp_path / "out"), "--data-type", "viability",
         "--methods", "bliss,zip,musyc", "--zip-variant", "sf2", "--bootstrap", "3",
         "--no-plots"]
    )  # fmt: skip
    assert args.func is synergy_cli.run
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "syn" in out.out and "wrote" in out.out
    assert "--scale not given" in out.err  # the assumed default is stated, not silent
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["zip_variant"].iloc[0] == "sf2"
    assert {"bliss", "zip", "musyc_alpha12", "musyc_alpha12_lo"} <= set(summary.columns)
    assert "loewe" not in summary.columns


def test_cli_main_standalone(tmp_path, musyc_frame, capsys):
    path = _csv(tmp_path, musyc_frame, "ant")
    code = synergy_cli.main(
        [str(path), "-o", str(tmp_path / "o"), "--data-type", "viability", "--scale", "percent",
         "--methods", "ci,hsa", "--effect-levels", "50,95", "--no-plots"]
    )  # fmt: skip
    assert code == 0
    s = pd.read_csv(tmp_path / "o" / "summary.csv")
    assert {"ci_50", "ci_95", "dri2_95"} <= set(s.columns)
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        ("block_id,drug1,drug2,conc1,conc2,response,conc_unit\nA,x,y,0,-3,90,nM\n", [],
         ["data.csv", "line 2", "column 'conc2'", "non-negative number"]),
        ("block_id,drug1,drug2,conc1,conc2,response\nA,x,y,0,3,90\n", [],
         ["data.csv", "missing column", "conc_unit"]),
        (None, ["--methods", "bliss,magic"], ["--methods", "magic"]),
        (None, ["--effect-levels", "50,150"], ["--effect-levels"]),
    ],
)  # fmt: skip
def test_cli_rejects_bad_input_with_exit_code_2(tmp_path, musyc_frame, capsys, content, extra,
                                                expected):  # fmt: skip
    if content is None:
        path = _csv(tmp_path, musyc_frame)
    else:
        path = tmp_path / "data.csv"
        path.write_text(content)
    args = synergy_cli.build_parser().parse_args(
        [str(path), "-o", str(tmp_path / "out"), "--data-type", "viability", "--scale",
         "percent", "--no-plots", *extra]
    )  # fmt: skip
    assert synergy_cli.run(args) == 2
    err = capsys.readouterr().err
    for piece in expected:
        assert piece in err
    assert not (tmp_path / "out").exists()


def test_cli_warns_on_suspicious_scale(tmp_path, musyc_frame, capsys):
    frame = musyc_frame[musyc_frame["block_id"] == "syn"].copy()
    frame["response"] = frame["response"] / 100.0  # fractions, but declared percent
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    code = synergy_cli.main(
        [str(path), "-o", str(tmp_path / "o"), "--data-type", "viability", "--scale", "percent",
         "--methods", "bliss", "--no-plots"]
    )  # fmt: skip
    assert code == 0
    assert "look like fractions" in capsys.readouterr().err


def test_plot_functions_smoke_on_minimal_matrix(tmp_path):
    """A 2x2 combination block (no Hill fits possible) still gets its applicable figures."""
    d1 = np.array([0, 1, 2, 0, 0, 1, 1, 2, 2.0])
    d2 = np.array([0, 0, 0, 1, 2, 1, 2, 1, 2.0])
    y = np.array([0, 0.2, 0.4, 0.3, 0.5, 0.6, 0.7, 0.7, 0.9])
    frame = pd.DataFrame({"block_id": "tiny", "conc1": d1, "conc2": d2, "response": y})
    res = analyze(frame, data_type="inhibition", scale="fraction", methods="bliss,hsa,ci")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SynergyWarning)
        write_report(res, tmp_path / "r")
    names = {p.name for p in (tmp_path / "r" / "plots").iterdir()}
    assert {"tiny_bliss_heatmap.png", "tiny_fa_ci.png", "tiny_isobologram.png"} <= names
    assert "tiny_bliss_surface3d.png" not in names  # 2 x 2 non-zero doses: no 3-D surface
