"""HHT slows the cycle of a growing MCL-1-dependent AML culture through the translation rate
(bcl2_core ``cycle_arrest = 1 - translation``): a cell must double its protein to divide."""

from __future__ import annotations

import pytest

from apopsim import load_model
from apopsim.culture import CultureOptions, grow_culture

OPTS = CultureOptions(step_h=2.0, arrest_variable="cycle_arrest", burnin_h=0.0)


def test_hht_slows_growth_at_the_translation_rate_without_killing():
    model = load_model("bcl2_core", "aml_mcl1_dependent")
    kw = dict(n_founders=12, warmup_h=0.0, options=OPTS, seed=3)
    vehicle = grow_culture(model, {}, 48.0, **kw).counts
    hht = grow_culture(model, {"hht": 20.0}, 48.0, **kw).counts  # translation 0.5
    assert hht["dead"].iloc[-1] == 0
    fold_vehicle = vehicle["live"].iloc[-1] / vehicle["live"].iloc[0]
    fold_hht = hht["live"].iloc[-1] / hht["live"].iloc[0]
    # 48 h of a 24 h cycle: 4-fold untreated; at half the translation rate about 2-fold
    assert fold_vehicle == pytest.approx(4.0, rel=0.35)
    assert fold_hht == pytest.approx(2.0, rel=0.35)
    assert fold_hht < 0.7 * fold_vehicle
