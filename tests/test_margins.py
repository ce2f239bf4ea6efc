"""apopsim.margins: survival margins of single synthesis rates, and their plot."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import apopsim
from apopsim.errors import ApopsimError
from apopsim.margins import UntreatedCell, plot_margins, survival_margins


@pytest.fixture(scope="module")
def margins() -> pd.DataFrame:
    return survival_margins("bcl2_core", "aml_mcl1_dependent", ["ksyn_MCL1", "ksyn_BIM"],
                            rel_tol=0.02)


def test_table_shape_and_band(margins: pd.DataFrame) -> None:
    assert list(margins.columns) == ["parameter", "value", "fold_down", "fold_up"]
    assert list(margins["parameter"]) == ["ksyn_MCL1", "ksyn_BIM"]
    row = margins.set_index("parameter")
    # gaining BIM kills; losing it, or gaining MCL-1, does not (within 20-fold)
    assert 1.5 < row.loc["ksyn_BIM", "fold_up"] < 20
    assert math.isnan(row.loc["ksyn_BIM", "fold_down"])
    assert math.isnan(row.loc["ksyn_MCL1", "fold_up"])


def test_mcl1_loss_kills_the_mcl1_dependent_cell(margins: pd.DataFrame) -> None:
    # MCL-1 knock-down / deletion kills MCL-1-dependent AML cells (Glaser et al. Genes Dev 2012;
    # myeloma: Zhang et al. Blood 2002, MCL-1 antisense). The MCL-1-dependent cell dies at MCL-1
    # synthesis x0.098 (steady state; dynamic knock-down from the untreated state: x0.1 kills at
    # Td 8.25 h, x0.05 at 6.5 h, x0.2 survives 72 h; tests/models/test_bcl2_core.py). Since
    # review 2.4 it survived /20: the BIM freed by MCL-1 loss was degraded (only MCL-1-bound BIM
    # was protected); with BCL-2-bound BIM protected as well (fdeg_BIM_BCL2: unliganded BIM is
    # the degraded form, Ewings et al. EMBO J 2007) it moves onto BCL-2 and the excess stays free
    # (free BIM peaks x9.9 at MCL-1 synthesis /20).
    assert 1 / 20 < margins.set_index("parameter").loc["ksyn_MCL1", "fold_down"] < 0.67


def test_boundary_is_where_the_cell_dies(margins: pd.DataFrame) -> None:
    model = apopsim.load_model("bcl2_core", "aml_mcl1_dependent")
    cell = UntreatedCell(model)
    base = model.parameters["ksyn_BIM"]
    fold = float(margins.set_index("parameter").loc["ksyn_BIM", "fold_up"])
    assert cell.survives({"ksyn_BIM": base * fold / 1.05})
    assert not cell.survives({"ksyn_BIM": base * fold * 1.05})


def test_dead_nominal_cell_has_no_margin() -> None:
    ctx = {"models": ["bcl2_core"], "parameters": {"ksyn_BIM": 200.0}, "initial_nM": {}}
    with pytest.raises(ApopsimError, match="nominal untreated cell is dead"):
        survival_margins("bcl2_core", ctx, ["ksyn_MCL1"])


def test_plot_writes_png(margins: pd.DataFrame, tmp_path) -> None:
    out = tmp_path / "margins.png"
    plot_margins(margins, out, title="bcl2_core / aml_mcl1_dependent")
    assert out.stat().st_size > 1000


def test_margins_command_writes_table_and_figure(tmp_path, capsys):
    from apopsim.cli import main

    out = tmp_path / "m"
    assert main(["margins", "aml_flt3_wt", "--parameters", "ksyn_BIM", "--rel-tol", "0.05",
                 "-o", str(out)]) == 0
    import pandas as pd

    df = pd.read_csv(out / "margins.csv")
    assert list(df["parameter"]) == ["ksyn_BIM"] and 1.5 < df["fold_up"][0] < 20
    assert (out / "margins.png").stat().st_size > 0
    assert "fold change" in capsys.readouterr().out
    assert main(["margins", "no_such_context", "-o", str(tmp_path / "x")]) == 2
