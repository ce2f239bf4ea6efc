"""Death is absorbing (issue 9 item 3): a committed cell makes no protein and cannot return.

Before the commitment variable, a killed cell kept synthesising PARP and its cleaved-PARP fraction
drifted back below 0.5 within a day or two (e.g. 0.45 at 72 h for the flagship combination), so
the unfrozen simulation "revived" dead cells. Now active caspase-3 commits the cell (`committed`
locks at 1, `alive` = 0 stops synthesis and degradation) and the cleaved fraction stays high.
"""

from __future__ import annotations

import numpy as np
import pytest
from _modelkit import load, run, time_of_death


@pytest.mark.parametrize(("model", "context", "doses"), [
    ("bcl2_core", "aml_mcl1_dependent", {"lisaftoclax": 100, "hht": 200}),
    ("apoptosis_intrinsic", "aml_intrinsic", {"lisaftoclax": 100, "s63845": 100}),
])
def test_killed_cell_stays_dead_for_days(model: str, context: str, doses: dict) -> None:
    m = load(model, context)
    times, tr = run(m, 120.0, doses, dt=0.5)
    td = time_of_death(times, tr)
    assert td is not None and td < 24, td
    c = np.asarray(tr["cleaved_PARP_fraction"])
    later = times >= td + 12.0
    assert np.min(c[later]) > 0.9, float(np.min(c[later]))
    assert tr["committed"][-1] > 0.999
    # no new protein: total PARP (cleaved + intact) does not rise after commitment
    total = np.asarray(tr["PARP"]) + np.asarray(tr["cPARP"])
    assert np.all(np.diff(total[later]) <= 1e-6 * total[later][:-1])


def test_untreated_cell_is_not_committed() -> None:
    m = load("apoptosis_intrinsic", "aml_intrinsic")
    times, tr = run(m, 24.0, dt=4.0)
    assert max(tr["committed"]) < 1e-9
    assert max(tr["alive"]) == pytest.approx(1.0)
