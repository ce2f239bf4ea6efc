"""Every shipped context's untreated cell survives any single synthesis rate scaled by 0.67 or 1.5.

Issue 9 item 1 / model review section 1: before the BAK/BAX rework (BCL-2 and MCL-1 binding of
activated BAK/BAX, auto-activation loop gain ~0.2 instead of ~1, faster return of sequestered
effectors), `aml_flt3_wt` died at MCL-1 synthesis x0.67 and BIM or BAK synthesis x1.5,
`nen_bclxl_low` likewise, `nen_bclxl_high_mcl1_low` at BAK x1.5 and `aml_mcl1_dependent` at BIM
x1.5. Each cell is pre-equilibrated untreated from the model's initial amounts (as the scenario
runner does) and is alive when its cleaved PARP fraction is <= 0.5 (the scenarios' death rule).
"""

from __future__ import annotations

import pytest

import apopsim
from apopsim.library import contexts
from apopsim.margins import SURVIVAL_BAND, UntreatedCell, synthesis_parameters


def _pairs() -> list[tuple[str, str]]:
    out = []
    for name, spec in contexts().items():
        for model in spec["models"]:
            if model != "p53":  # the p53 module alone has no caspase layer (no death rule)
                out.append((name, model))
    return out


@pytest.mark.parametrize(("context", "model_name"), _pairs())
def test_untreated_cell_survives_single_synthesis_changes(context: str, model_name: str) -> None:
    model = apopsim.load_model(model_name, context)
    cell = UntreatedCell(model)
    assert cell.survives({}), "nominal untreated cell is dead"
    dead = [f"{p} x{f}" for p in synthesis_parameters(model) for f in SURVIVAL_BAND
            if not cell.survives({p: model.parameters[p] * f})]
    assert not dead, f"{context} / {model_name}: untreated cell dies at {dead}"
