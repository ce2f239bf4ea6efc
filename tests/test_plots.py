"""Figures chosen from the design: bounded sizes, single agents beside their combination, plain
dose labels, no MSA or 3-D surface on small grids, populations without deaths.

The results are synthetic (real :class:`ScenarioResult` / :class:`ConditionResult` objects filled
with made-up death times and statistics), so no simulation runs and the tests take seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.patches import Rectangle

import apopsim
from apopsim.library import scenarios_dir
from apopsim.population import STATS
from apopsim.report import figures as plots
from apopsim.report.style import MAX_WIDTH_PX, fmt_number
from apopsim.report.synergy import grid_wells, scenario_synergy, write_synergy
from apopsim.results import ConditionResult, ScenarioResult
from apopsim.runner import condition_name
from apopsim.synergy import analyze
from apopsim.synergy import plots as splots

N_CELLS = 20


def _condition(doses: dict[str, float], death_h: np.ndarray, n_vars: int,
               n_times: int) -> ConditionResult:
    """A ConditionResult with the given death times (inf = survived) and flat statistics."""
    stats = np.ones((len(STATS), n_vars, n_times))
    kwargs = {"name": condition_name(doses), "doses_nM": dict(doses), "death_h": death_h,
              "stats": stats}
    if "fate" in {f.name for f in dataclasses.fields(ConditionResult)}:
        # the fate-array form of ConditionResult: 0 died, 1 survived (time of death NaN)
        kwargs["fate"] = np.where(np.isfinite(death_h), 0, 1).astype(np.int8)
        kwargs["death_h"] = np.where(np.isfinite(death_h), death_h, np.nan)
    return ConditionResult(**kwargs)


@functools.cache
def _flagship(path: str) -> apopsim.Scenario:
    return apopsim.load_scenario(path)


def _flagship_spec() -> dict:
    return copy.deepcopy(_flagship(str(scenarios_dir() / "apg2575_hht.yaml")).model_dump())


def synthetic_result(drugs: dict[str, list[float]], *, design: str = "grid",
                     deaths: bool = True) -> ScenarioResult:
    """The flagship scenario with other doses; a cell dies earlier the more drug it gets."""
    spec = _flagship_spec()
    spec["readouts"]["species"] = []  # only the death variable: fewer figures to draw
    spec.update(drugs=drugs, design=design,
                time={"duration_h": 24, "output_every_h": 1.0, "readout_times_h": [12, 24]})
    scenario = apopsim.Scenario.model_validate(spec)
    times = np.asarray(scenario.time.output_times())
    variables = (*scenario.readouts.species, scenario.readouts.death.variable)
    rng = np.random.default_rng(0)
    conditions = []
    for doses in scenario.conditions():
        load = sum(np.log10(1 + d) for d in doses.values())
        t = rng.uniform(0, 60, N_CELLS) / max(load, 0.1)
        t = np.where((t < 24) & deaths, t, np.inf)
        conditions.append(_condition(doses, t, len(variables), len(times)))
    return ScenarioResult(scenario=scenario, model=None, times_h=times,  # type: ignore[arg-type]
                          variables=variables, conditions=conditions, wall_time_s=0.0,
                          n_cells=N_CELLS)


@pytest.fixture
def figures(monkeypatch):
    """Record every figure saved by the plot modules (then save it as usual)."""
    saved = {}

    def record(save):
        def wrapper(fig, path):
            saved[Path(path).name] = fig
            save(fig, path)
        return wrapper

    monkeypatch.setattr(plots, "save", record(plots.save))
    monkeypatch.setattr(splots, "save", record(splots.save))
    return saved


def _width_px(path: Path) -> int:
    return mpimg.imread(path).shape[1]


GRID_4X4 = {"lisaftoclax": [0, 10, 1000, 100000], "hht": [0, 1, 10, 100]}


@pytest.mark.parametrize("design", ["grid", "paired"])
def test_sixteen_condition_figures_are_bounded_in_width(tmp_path, design):
    drugs = GRID_4X4 if design == "grid" else {
        "lisaftoclax": list(np.geomspace(1, 1000, 16)), "hht": [0.0] * 8 + [50.0] * 8}
    result = synthetic_result(drugs, design=design)
    assert len(result.conditions) == 16
    with plots.style():
        written = [plots.plot_fractions(result, tmp_path / "fractions.png"),
                   plots.plot_death_times(result, tmp_path / "ttd.png")]
    for path in written:
        assert _width_px(path) <= MAX_WIDTH_PX, path.name


def _bliss_block(result: ScenarioResult):
    """The last readout time's Bliss block of a two-drug grid."""
    t = result.scenario.time.readout_times()[-1]
    res = analyze(grid_wells(result, t), data_type="inhibition", scale="fraction",
                  methods=["bliss"])
    return next(iter(res.blocks.values()))


def test_dose_tick_labels_are_plain_numbers(tmp_path, figures):
    result = synthetic_result(GRID_4X4)
    block = _bliss_block(result)
    splots.plot_response_matrix(block, tmp_path / "response_matrix.png")
    splots.plot_synergy_heatmap(block, "bliss", tmp_path / "bliss_heatmap.png")
    plots.plot_fractions(result, tmp_path / "fractions.png")
    for name in ["response_matrix.png", "bliss_heatmap.png", "fractions.png"]:
        for ax in figures[name].axes:
            labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            assert not any("e+" in s or "e-" in s for s in labels), (name, labels)
    ticks = [t.get_text() for t in figures["fractions.png"].axes[0].get_xticklabels()]
    assert "100000" in ticks and "1000" in ticks


def test_msa_box_stays_inside_a_4x4_grid(tmp_path, figures):
    block = _bliss_block(synthetic_result(GRID_4X4))
    splots.plot_synergy_heatmap(block, "bliss", tmp_path / "bliss_heatmap.png")
    ax = figures["bliss_heatmap.png"].axes[0]
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 1
    x0, y0 = boxes[0].get_xy()
    assert x0 >= -0.5 and y0 >= -0.5
    assert x0 + boxes[0].get_width() <= 3.5 and y0 + boxes[0].get_height() <= 3.5
    assert "MSA" in ax.get_title()
    assert splots.plot_synergy_surface(block, "bliss", tmp_path / "surface.png").exists()


def test_a_2x2_grid_gets_no_surface_and_no_msa(tmp_path, figures):
    result = synthetic_result({"lisaftoclax": [0, 100], "hht": [0, 50]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # leaving the surface out is not a failure
        write_synergy(scenario_synergy(result), tmp_path / "synergy")
    out = tmp_path / "synergy" / "plots"
    assert list(out.glob("*heatmap.png"))
    assert not list(out.glob("*surface3d*"))
    for name, fig in figures.items():
        if name.endswith(("heatmap.png", "contour.png")):
            ax = fig.axes[0]
            assert not [p for p in ax.patches if isinstance(p, Rectangle)], name
            assert "MSA" not in ax.get_title(), name


def test_time_to_death_shows_single_agents_beside_the_combination(tmp_path, figures):
    result = synthetic_result({"lisaftoclax": [0, 100], "hht": [0, 50]})
    plots.plot_death_times(result, tmp_path / "ttd.png")
    axes = [ax for ax in figures["ttd.png"].axes if ax.get_visible()]
    assert len(axes) == 1
    labels = {ln.get_label() for ln in axes[0].get_lines()}
    assert {"control", "lisaftoclax 100 nM", "hht 50 nM"} <= labels
    assert any("+" in s for s in labels)
    assert "n = 20 live cells" in figures["ttd.png"].texts[0].get_text() + "".join(
        t.get_text() for t in figures["ttd.png"].texts)


def test_a_3x3_grid_gets_one_panel_per_combination(tmp_path, figures):
    result = synthetic_result({"lisaftoclax": [0, 10, 100], "hht": [0, 5, 50]})
    plots.plot_death_times(result, tmp_path / "ttd.png")
    axes = [ax for ax in figures["ttd.png"].axes if ax.get_visible()]
    assert len(axes) == 4  # 2 x 2 combinations
    for ax in axes:
        labels = [ln.get_label() for ln in ax.get_lines()]
        combo = labels[-1]
        singles = combo.split(" + ")
        assert set(singles) | {"control"} <= set(labels)


def test_a_population_without_deaths_plots(tmp_path):
    result = synthetic_result({"lisaftoclax": [0, 100], "hht": [0, 50]}, deaths=False)
    written = plots.plot_scenario(result, tmp_path)
    assert (tmp_path / "apoptotic_fraction.png") in written
    assert (tmp_path / "time_to_death.png") in written


def test_fmt_number_is_plain():
    assert [fmt_number(x) for x in (0, 1000, 0.067, 1e5, 12.5, 33.333)] == [
        "0", "1000", "0.067", "100000", "12.5", "33.3"]
