"""Input validation, scale conversion, out-of-range handling and CSV fuzzing."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synergy_helpers import grid, to_frame

from apopsim.synergy import (
    DoseMatrix,
    HillFit,
    SynergyInputError,
    SynergyWarning,
    analyze,
    analyze_file,
    read_synergyfinder_csv,
    to_inhibition,
)

FIXTURE_OK = [HealthCheck.function_scoped_fixture]
HEADER = "block_id,drug1,drug2,conc1,conc2,response,conc_unit\n"


def small_frame(unit="nM"):
    d1, d2 = grid(10.0, 1.0, n=3)
    f1, f2 = HillFit(0, 1, 1, 10.0), HillFit(0, 1, 1, 1.0)
    y = f1(d1) + f2(d2) - f1(d1) * f2(d2)
    return to_frame(d1, d2, y, unit=unit)


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_to_inhibition_all_declarations():
    v = np.array([100.0, 25.0, 120.0])
    assert np.allclose(to_inhibition(v, "viability", "percent"), [0, 0.75, -0.2])
    assert np.allclose(to_inhibition(v / 100, "viability", "fraction"), [0, 0.75, -0.2])
    assert np.allclose(to_inhibition(v, "inhibition", "percent"), [1, 0.25, 1.2])
    assert np.allclose(to_inhibition(v / 100, "inhibition", "fraction"), [1, 0.25, 1.2])
    with pytest.raises(ValueError, match="data_type"):
        to_inhibition(v, "survival", "percent")


def test_declared_scale_is_required_and_never_guessed():
    frame = small_frame()
    with pytest.raises(TypeError):
        analyze(frame, methods="bliss")  # data_type and scale are keyword-only and required
    # fractions declared as percent: accepted (values used as declared) but warned about
    frac = frame.assign(response=frame["response"] / 100)
    with pytest.warns(SynergyWarning, match="look like fractions"):
        res = analyze(frac, data_type="viability", scale="percent", methods="bliss")
    assert res.wells["inhibition"].max() > 98  # 1 - 0.01*v: treated as declared
    with pytest.warns(SynergyWarning, match="look like percent"):
        analyze(frame, data_type="viability", scale="fraction", methods="bliss")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SynergyWarning)
        analyze(frame, data_type="viability", scale="percent", methods="bliss")


def test_csv_round_trip_and_sf2_aliases(tmp_path):
    frame = small_frame()
    path = tmp_path / "sf3.csv"
    frame.to_csv(path, index=False)
    a = analyze_file(path, data_type="viability", scale="percent", methods="bliss,hsa")
    sf2 = frame.rename(
        columns={"drug1": "drug_row", "drug2": "drug_col", "conc1": "conc_r", "conc2": "conc_c"}
    ).drop(columns="conc_unit")
    sf2["conc_r_unit"] = "nM"
    sf2["conc_c_unit"] = "uM"
    path2 = tmp_path / "sf2.csv"
    sf2.to_csv(path2, index=False)
    b = analyze_file(path2, data_type="viability", scale="percent", methods="bliss,hsa")
    assert np.allclose(a.wells["bliss"], b.wells["bliss"])
    assert set(b.wells["conc_unit2"]) == {"uM"}
    assert abs(a.summary["bliss"].iloc[0]) < 1e-9


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "file is empty"),
        ("block_id,drug1,drug2,conc1,conc2,response\n1,a,b,0,0,100\n", "missing column.*conc_unit"),
        ("block_id,drug1,conc1,conc2,response,conc_unit\n1,a,0,0,100,nM\n", "'drug2'"),
        (HEADER, "no data rows"),
        (HEADER + "1,a,b,0,0,100,nM\n1,a,b,-1,0,90,nM\n", r"line 3, column 'conc1'.*non-negative"),
        (HEADER + "1,a,b,0,0,100,nM\n1,a,b,1,abc,90,nM\n", r"line 3, column 'conc2'.*'abc'"),
        (HEADER + "1,a,b,0,0,100,nM\n1,a,b,1,0,,nM\n", r"line 3, column 'response'"),
        (HEADER + "1,a,b,0,0,100,nM\n1,a,b,1,0,inf,nM\n", r"line 3, column 'response'"),
        (HEADER + "1,a,b,0,nan,100,nM\n", r"line 2, column 'conc2'"),
        (HEADER + "1,a,b,0,0,100,nM\n1,a,c,1,0,90,nM\n", r"line 3, column 'drug2'.*same drug2"),
        (HEADER + "1,a,b,0,0,100,nM\n1,a,b,1,0,90,uM\n", r"line 3, column 'conc_unit'"),
        (HEADER + ",a,b,0,0,100,nM\n", r"line 2, column 'block_id'"),
        (HEADER + "1,a,b,0,0,100,nM\n\n1,a,b,1,0,90,nM,7\n", r"line 4: expected 7 .*got 8"),
        (HEADER + "1,a,b,0,0,100\n", r"line 2: expected 7 .*got 6"),
        ("block_id,conc1,conc1,conc2,drug1,drug2,response,conc_unit\n", "duplicate column"),
    ],
)
def test_bad_csv_is_rejected_with_location(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(SynergyInputError, match=match) as info:
        read_synergyfinder_csv(path)
    assert str(path) in str(info.value)


def test_structural_problems_name_block_and_column(tmp_path):
    d1, d2 = grid(10.0, 1.0, n=3)
    y = np.full(d1.size, 0.3)
    frame = to_frame(d1, d2, y)
    no_margin = frame[~((frame.conc1 == 0) & (frame.conc2 > 0))]
    with pytest.raises(SynergyInputError, match=r"block 'b1', column 'conc2'.*monotherapy"):
        analyze(no_margin, data_type="viability", scale="percent", methods="bliss")
    mono_only = frame[(frame.conc1 == 0) | (frame.conc2 == 0)]
    with pytest.raises(SynergyInputError, match="no combination wells"):
        analyze(mono_only, data_type="viability", scale="percent", methods="bliss")
    # 3 doses + control = 4 distinct: enough for Hill; ZIP sf3 needs 3 combination doses: ok
    analyze(frame, data_type="viability", scale="percent", methods="zip", n_bootstrap=0)
    short = frame[(frame.conc1 <= np.unique(d1)[2]) & (frame.conc2 <= np.unique(d2)[2])]
    with pytest.raises(SynergyInputError, match=r"method 'loewe'.*at least 4 distinct doses"):
        analyze(short, data_type="viability", scale="percent", methods="loewe")
    with pytest.raises(SynergyInputError, match=r"method 'musyc'"):
        analyze(short, data_type="viability", scale="percent", methods="musyc")
    with pytest.raises(ValueError, match="unknown method"):
        analyze(frame, data_type="viability", scale="percent", methods="bliss,foo")


def test_ci_rejects_margins_without_partial_effects():
    d1, d2 = grid(10.0, 1.0, n=3)
    y = np.where((d1 > 0) | (d2 > 0), 1.0, 0.0)  # every treated well fully inhibited
    with pytest.raises(SynergyInputError, match=r"method 'ci'.*strictly between 0 and 100"):
        analyze(to_frame(d1, d2, y), data_type="viability", scale="percent", methods="ci")


@pytest.mark.parametrize("mode", ["keep", "clip", "baseline", "baseline_part"])
def test_out_of_range_options(mode):
    f1, f2 = HillFit(-0.1, 0.9, 1.2, 10.0), HillFit(-0.1, 0.95, 1.0, 1.0)
    d1, d2 = grid(10.0, 1.0, n=5)
    y = f1(d1) + f2(d2) - f1(d1) * f2(d2)  # growth above control at low dose: y < 0
    y = y + np.where(d1 == d1.max(), 0.2, 0.0)  # and > 100 % inhibition at the top dose
    res = analyze(to_frame(d1, d2, y), data_type="viability", scale="percent",
                  methods="bliss", out_of_range=mode)  # fmt: skip
    inh = res.wells["inhibition"]
    assert res.summary["out_of_range"].iloc[0] == mode
    assert any("outside [0, 100] %" in msg for msg in res.messages)
    if mode == "keep":
        assert inh.min() < 0 and inh.max() > 100
    elif mode == "clip":
        assert inh.min() == 0 and inh.max() == 100
    else:
        base = res.summary["baseline"].iloc[0]
        assert base < 0  # fitted monotherapy minima are below 0 %
        m = res.blocks["b1"].matrix
        raw = DoseMatrix(d1, d2, y)
        b = base / 100
        expected = raw.mean - (1 - raw.mean) * b
        if mode == "baseline_part":
            expected = np.where(raw.mean < 0, expected, raw.mean)
        assert np.allclose(m.mean, expected)


def test_dataframe_input_defaults_and_time_course():
    d1, d2 = grid(10.0, 1.0, n=3)
    f1, f2 = HillFit(0, 1, 1, 10.0), HillFit(0, 1, 1, 1.0)
    frames = {}
    for t, boost in ((24.0, 0.0), (48.0, 0.05)):
        y = f1(d1) + f2(d2) - f1(d1) * f2(d2) + boost * ((d1 > 0) & (d2 > 0))
        frames[t] = pd.DataFrame({"block_id": 1, "conc1": d1, "conc2": d2, "response": y})
    from apopsim.synergy import analyze_time_course

    res = analyze_time_course(frames, data_type="inhibition", scale="fraction", methods="bliss")
    assert list(res) == [24.0, 48.0]
    assert res[24.0].wells["conc_unit1"].iloc[0] == "nM"
    assert res[24.0].wells["drug1"].iloc[0] == "drug1"
    assert res[24.0].summary["bliss"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert res[48.0].summary["bliss"].iloc[0] == pytest.approx(5.0)
    long = pd.concat([f.assign(time=t) for t, f in frames.items()])
    res2 = analyze_time_course(long, data_type="inhibition", scale="fraction", methods="bliss")
    assert res2[48.0].summary["bliss"].iloc[0] == pytest.approx(5.0)


# ---------------------------------------------------------------------------------------------
# Fuzzing: the reader (and a cheap analysis) either succeed or raise SynergyInputError
# ---------------------------------------------------------------------------------------------

COLUMNS = ["block_id", "drug1", "drug2", "conc1", "conc2", "response", "conc_unit", "replicate"]
cell = st.one_of(
    st.sampled_from(["0", "1", "10", "-1", "1e3", "nan", "inf", "", "NA", "abc", "1,5", '"x"',
                     "0.5", "100", "-0", " 3 ", "1e400", "é", "nM"]),
    st.integers(-5, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)  # fmt: skip


@st.composite
def csv_texts(draw):
    cols = draw(
        st.one_of(
            st.just(COLUMNS[:7]),
            st.lists(st.sampled_from(COLUMNS + ["junk", ""]), min_size=0, max_size=9),
        )
    )
    n_rows = draw(st.integers(0, 12))
    lines = [",".join(cols)]
    for _ in range(n_rows):
        n = draw(st.integers(max(len(cols) - 1, 0), len(cols) + 1))
        lines.append(",".join(draw(cell) for _ in range(n)))
    text = "\n".join(lines)
    if draw(st.booleans()):
        text += "\n"
    return text


@st.composite
def plausible_csv(draw):
    """Mostly valid numeric content so the analysis stage is exercised too."""
    rows = [",".join(COLUMNS[:7])]
    n = draw(st.integers(1, 20))
    doses = st.sampled_from(["0", "0", "1", "3", "10", "-1", "x"])
    for _ in range(n):
        resp = draw(st.one_of(st.floats(-50, 150).map(lambda v: f"{v:.3f}"), st.just("nan")))
        block = draw(st.sampled_from(["A", "A", "B"]))
        rows.append(f"{block},d1,d2,{draw(doses)},{draw(doses)},{resp},nM")
    return "\n".join(rows) + "\n"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(csv_texts(), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_fuzz_reader_only_raises_validation_errors(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        frame = read_synergyfinder_csv(path)
    except SynergyInputError as exc:
        assert str(exc)
        return
    assert {"block_id", "conc1", "conc2", "response"} <= set(frame.columns)
    assert (frame["conc1"] >= 0).all() and np.isfinite(frame["response"]).all()


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=plausible_csv())
def test_fuzz_analysis_only_raises_validation_errors(tmp_path, text):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SynergyWarning)
        try:
            res = analyze_file(path, data_type="viability", scale="percent", methods="bliss,hsa")
        except SynergyInputError as exc:
            assert str(path) in str(exc)
            return
    assert len(res.summary) >= 1
    assert set(res.wells.columns) >= {"block_id", "conc1", "conc2", "inhibition", "bliss", "hsa"}


def test_non_strict_mode_skips_infeasible_methods():
    d1, d2 = grid(10.0, 1.0, n=4)
    early = to_frame(d1, d2, np.zeros(d1.size), block="t6")  # no effect at all yet
    late = to_frame(d1, d2, HillFit(0, 1, 1, 10.0)(d1 + 10 * d2), block="t72")
    frame = pd.concat([early, late])
    with pytest.raises(SynergyInputError, match=r"block 't6', column 'conc1'.*method 'ci'"):
        analyze(frame, data_type="viability", scale="percent", methods="bliss,ci")
    res = analyze(frame, data_type="viability", scale="percent", methods="bliss,ci", strict=False)
    s = res.summary.set_index("block_id")
    assert np.isnan(s.loc["t6", "ci"]) and s.loc["t72", "ci"] == pytest.approx(1.0, abs=1e-6)
    assert "method 'ci'" in s.loc["t6", "skipped_methods"]
    assert s.loc["t6", "bliss"] == pytest.approx(0.0)
    assert res.wells.loc[res.wells.block_id == "t6", "ci"].isna().all()
    assert res.blocks["t6"].skipped.keys() == {"ci"}
    assert any("skipped" in msg for msg in res.messages)
