"""Realistic cell-to-cell variation: a shared extrinsic factor plus private noise (issue 9 item 2).

Protein levels in human cells co-vary (Sigal et al. 2006 Nature 444:643; Marquez-Jurado et al.
2018 Nat Commun 9:389), so by default half of every varied synthesis rate's log-variance is a
factor shared by the whole cell (`apopsim.population.sampling.DEFAULT_SHARED_FRACTION`), the
rest private. At the default variation (CV 0.25 of every `ksyn_*`), at most 5 % of untreated
cells may be dead in their own steady state in every shipped context (issue 9: a culture has a
few per cent spontaneous death at most). Before the issue-9 rework (independent rates) 7-30 % of
cells were dead untreated in six contexts (200 cells, seed 1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import apopsim
from apopsim.library import contexts
from apopsim.margins import UntreatedCell
from apopsim.population.sampling import DEFAULT_SHARED_FRACTION, Variation, sample_cells

N_CELLS = 50 if os.environ.get("APOPSIM_FAST") else 200
MAX_DEAD = 0.05


def _pairs() -> list[tuple[str, str]]:
    return [(name, m) for name, spec in contexts().items() for m in spec["models"]
            if m != "p53"]  # the p53 module alone has no death rule


def test_default_split_is_shared_factor_plus_private_noise() -> None:
    model = apopsim.load_model("bcl2_core", "aml_mcl1_dependent")
    v = Variation(parameters=("ksyn_*",))
    assert v.shared_fraction == DEFAULT_SHARED_FRACTION == 0.5
    names, vals, _, _ = sample_cells(model, v, 20000, seed=3)
    logs = np.log(vals)
    r = np.corrcoef(logs.T)[np.triu_indices(len(names), 1)]
    np.testing.assert_allclose(r, 0.5, atol=0.03)  # every pair shares half its log-variance
    np.testing.assert_allclose(vals.mean(axis=0) / np.array(
        [model.parameters[k] for k in names]), 1.0, atol=0.01)  # means kept
    np.testing.assert_allclose(vals.std(axis=0) / vals.mean(axis=0), 0.25, atol=0.01)
    # the shared factor is one number per cell: the mean log-deviation carries it
    indep = sample_cells(model, Variation(("ksyn_*",), correlation=0.0), 20000, seed=3)[1]
    assert np.log(vals).mean(axis=1).std() > 2 * np.log(indep).mean(axis=1).std()


@pytest.mark.parametrize(("context", "model_name"), _pairs())
def test_untreated_population_survives_default_variation(context: str, model_name: str) -> None:
    model = apopsim.load_model(model_name, context)
    cell = UntreatedCell(model)
    names, vals, _, _ = sample_cells(model, Variation(parameters=("ksyn_*",)), N_CELLS, seed=1)
    dead = sum(not cell.survives(dict(zip(names, row, strict=True))) for row in vals)
    assert dead <= MAX_DEAD * N_CELLS, f"{context} / {model_name}: {dead}/{N_CELLS} dead untreated"
