"""The synergy metric registry and the validated options object."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from synergy_helpers import grid, to_frame

from apopsim.synergy import (
    METHODS,
    HillFit,
    Metric,
    OptionError,
    Requirements,
    SynergyOptions,
    analyze,
    metrics,
    parse_methods,
    register_metric,
    unregister_metric,
)


class ExcessOverBest(Metric):
    """Toy metric: observed minus the highest single agent *fitted* at the same doses (pp)."""

    name = "excess"
    label = "Excess over best"
    well_columns = ("excess",)
    summary_columns = ("excess", "excess_max")

    def requirements(self, options):
        return Requirements(hill_fits=True)

    def compute(self, block, options, rng):
        m = block.matrix
        f1, f2 = block.hill
        best = np.maximum(f1(m.dose1)[:, None], f2(m.dose2)[None, :])
        score = 100.0 * (m.mean - best)
        score[~m.combination] = np.nan
        block.note("excess computed")
        return score

    def wells(self, block, result, ii, jj):
        return {"excess": result[ii, jj]}

    def summary(self, block, result, options):
        comb = block.matrix.combination
        return {"excess": float(np.nanmean(result[comb])), "excess_max": float(np.nanmax(result))}


@pytest.fixture
def excess():
    register_metric(ExcessOverBest)
    try:
        yield metrics()["excess"]
    finally:
        unregister_metric("excess")


def _frame():
    f1, f2 = HillFit(0.0, 0.8, 1.2, 10.0), HillFit(0.0, 0.9, 1.0, 1.0)
    d1, d2 = grid(10.0, 1.0, n=4)
    y = f1(d1) + f2(d2) - f1(d1) * f2(d2)  # Bliss-independent: above the best single agent
    return to_frame(d1, d2, y)


def test_builtins_are_registered_in_output_order():
    assert METHODS == ("bliss", "hsa", "loewe", "zip", "ci", "musyc")
    assert tuple(metrics())[:6] == METHODS
    assert [metrics()[k].label for k in METHODS] == ["Bliss", "HSA", "Loewe", "ZIP", "CI", "MuSyC"]
    assert parse_methods("zip, bliss") == ("bliss", "zip")


def test_toy_metric_appears_in_tables_and_disappears_when_unregistered(excess):
    assert parse_methods("all")[-1] == "excess"
    res = analyze(_frame(), data_type="viability", scale="percent", methods="bliss,excess")
    assert "excess" in res.wells.columns and "excess" in res.summary.columns
    assert res.summary["excess_max"].iloc[0] > 0  # Bliss-independent drugs beat either alone
    comb = (res.wells.conc1 > 0) & (res.wells.conc2 > 0)
    assert res.wells.loc[comb, "excess"].notna().all()
    assert res.wells.loc[~comb, "excess"].isna().all()
    assert res.summary["excess"].iloc[0] == pytest.approx(res.wells.loc[comb, "excess"].mean())
    assert res.settings["methods"] == ["bliss", "excess"]
    assert res.blocks["b1"].results["excess"] is not None
    assert "block 'b1': excess computed" in res.messages
    unregister_metric("excess")
    try:
        with pytest.raises(ValueError, match="unknown method"):
            analyze(_frame(), data_type="viability", scale="percent", methods="excess")
    finally:
        register_metric(ExcessOverBest)  # the fixture unregisters it again


def test_toy_metric_requirements_skip_in_non_strict_mode(excess):
    frame = _frame()
    short = frame[(frame.conc1 <= 1.0) & (frame.conc2 <= 0.1)]  # margins too short for Hill
    with pytest.raises(ValueError, match=r"method 'excess' needs a monotherapy curve"):
        analyze(short, data_type="viability", scale="percent", methods="bliss,excess")
    res = analyze(short, data_type="viability", scale="percent", methods="bliss,excess",
                  strict=False)  # fmt: skip
    assert res.wells["excess"].isna().all()
    assert np.isnan(res.summary["excess_max"].iloc[0])
    assert "method 'excess'" in res.summary["skipped_methods"].iloc[0]


def test_register_rejects_duplicates_and_bad_names(excess):
    with pytest.raises(ValueError, match="already registered"):
        register_metric(ExcessOverBest)

    class Bad(Metric):
        name = "Not-An-Identifier"

    with pytest.raises(ValueError, match="lower-case identifier"):
        register_metric(Bad)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"zip_variant": "sf4"}, r"zip_variant must be one of 'sf2', 'sf3', got 'sf4'"),
        ({"methods": "bliss,magic"}, r"unknown method\(s\) 'magic'; choose from bliss"),
        ({"effect_levels": (0.5, 50)}, "strictly between 0 and 1"),
        ({"confidence": 95}, r"confidence must lie in \(0, 1\)"),
        ({"n_bootstrap": -1}, "n_bootstrap must be >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_options_validate_with_helpful_errors(changes, match):
    with pytest.raises(OptionError, match=match):
        SynergyOptions(data_type="viability", scale="percent", **changes)


def test_options_normalise_and_pass_through():
    opts = SynergyOptions(data_type="inhibition", scale="fraction", methods="zip,bliss",
                          effect_levels=[0.5], n_bootstrap=np.int64(3))  # fmt: skip
    assert opts.methods == ("bliss", "zip") and opts.effect_levels == (0.5,)
    assert type(opts.n_bootstrap) is int
    with pytest.raises(TypeError, match="unknown synergy option"):
        opts.replace(bootstrap=3)
    with pytest.raises(TypeError):
        SynergyOptions(scale="percent")  # data_type is required
    frame = _frame().assign(response=lambda f: 1 - f.response / 100)  # inhibition fraction
    a = analyze(frame, opts)
    b = analyze(frame, data_type="inhibition", scale="fraction", methods="bliss,zip",
                effect_levels=[0.5], n_bootstrap=3)  # fmt: skip
    assert a.settings == b.settings
    assert a.wells.equals(b.wells) and a.summary.equals(b.summary)
    c = analyze(frame, opts, methods="bliss")  # keywords override fields of the options
    assert c.settings["methods"] == ["bliss"] and "zip" not in c.summary


def test_options_from_command_line():
    parser = SynergyOptions.add_arguments(argparse.ArgumentParser())
    notes: list[str] = []
    args = parser.parse_args(["--scale", "fraction", "--effect-levels", "50,90",
                              "--bootstrap", "7", "--methods", "ci"])  # fmt: skip
    opts = SynergyOptions.from_args(args, note=notes.append, strict=False)
    expected = SynergyOptions(data_type="viability", scale="fraction", methods="ci",
                              effect_levels=(0.5, 0.9), n_bootstrap=7, strict=False)  # fmt: skip
    assert opts == expected
    assert notes == ["--data-type not given, assuming 'viability' (SynergyFinder's default)"]
    for argv, flag in ((["--effect-levels", "50,150"], "--effect-levels"),
                       (["--bootstrap", "-2"], "--bootstrap"),
                       (["--methods", "bliss,magic"], "--methods")):  # fmt: skip
        bad = parser.parse_args(["--data-type", "viability", "--scale", "percent", *argv])
        with pytest.raises(OptionError, match=f"^{flag}: "):
            SynergyOptions.from_args(bad)
