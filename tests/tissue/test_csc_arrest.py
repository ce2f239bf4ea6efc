"""Cytostasis in the cancer-stem-cell layer (poster 968, issue 12): carboplatin and paclitaxel slow
division (models/tissue/csc_ovarian.ant ``chemo_arrest``) without killing, with half-maximal
arrest at the ovarian lines' growth IC50s (19.7 uM carboplatin, 1.1 nM paclitaxel; Smith et al.
Gynecol Oncol 2005). Control: ``arrest_on = 0`` removes it. Layer units: days, mm^3; drug
inputs nM (free, effect site).
"""

from __future__ import annotations

import numpy as np
import pytest

from apopsim.tissue.layers import run_tissue_model

DAYS = np.arange(0, 8, 1.0)
CARBO_EC50_NM = 19700.0  # nM; csc_ovarian EC50_arrest_carboplatin
PTX_EC50_NM = 1.1  # nM; csc_ovarian EC50_arrest_paclitaxel


def _grow(parameters: dict[str, float]):
    """Seven days of the layer at constant inputs (model units)."""
    return run_tissue_model("csc_ovarian", DAYS, parameters)


@pytest.fixture(scope="module")
def arms():
    return {"vehicle": _grow({}),
            "vehicle_no_arrest": _grow({"arrest_on": 0}),
            "carboplatin": _grow({"carboplatin_nM": CARBO_EC50_NM}),
            "carboplatin_no_arrest": _grow({"carboplatin_nM": CARBO_EC50_NM, "arrest_on": 0}),
            "both": _grow({"carboplatin_nM": CARBO_EC50_NM, "paclitaxel_nM": PTX_EC50_NM})}


def test_arrest_at_the_growth_ic50s(arms):
    """Half-maximal at each drug's EC50, the pair combined as independent (Bliss): 0.75."""
    assert arms["vehicle"]["chemo_arrest"].abs().max() == 0.0
    assert np.allclose(arms["carboplatin"]["chemo_arrest"], 0.5)
    assert np.allclose(arms["both"]["chemo_arrest"], 0.75)


def test_arrest_slows_growth_and_kills_nothing(arms):
    """Growth over a week falls with the arrest; no cell enters the dying compartment Z."""
    gain = {k: float(v["tumour_volume"].iloc[-1] - v["tumour_volume"].iloc[0])
            for k, v in arms.items()}
    assert gain["both"] < gain["carboplatin"] < 0.75 * gain["vehicle"]
    assert gain["carboplatin"] > 0  # cytostatic, not cytotoxic: the tumour still grows
    assert float(arms["both"]["Z"].abs().max()) == 0.0


def test_control_removes_the_arrest_and_vehicle_is_unchanged(arms):
    """arrest_on = 0 gives the vehicle tumour under carboplatin; untreated volume and stem-like
    fraction do not depend on the switch (the term is silent without drug)."""
    for col in ("tumour_volume", "stem_fraction"):
        assert np.allclose(arms["carboplatin_no_arrest"][col], arms["vehicle"][col])
        assert np.allclose(arms["vehicle_no_arrest"][col], arms["vehicle"][col])
    # the arrest scales every division-linked flow alike: the stem-like fraction barely moves
    # (only plasticity, which is not division-linked, is left at full rate)
    sf = arms["carboplatin"]["stem_fraction"].iloc[-1] - arms["vehicle"]["stem_fraction"].iloc[-1]
    assert abs(sf) < 0.02


def test_shipped_studies_drive_the_arrest_and_its_control_removes_it():
    """The 968 claim study feeds free carboplatin and paclitaxel to the arrest term; its control
    study (apg2449_chemo_ovarian_no_arrest.yaml) is the same study with arrest_on = 0."""
    from apopsim.library import scenarios_dir
    from apopsim.tissue.study import load_study

    claim = load_study(scenarios_dir() / "invivo" / "apg2449_chemo_ovarian_csc.yaml")
    control = load_study(scenarios_dir() / "invivo" / "apg2449_chemo_ovarian_no_arrest.yaml")
    for s in (claim, control):
        assert s.layer is not None
        assert {"carboplatin_nM", "paclitaxel_nM"} <= set(s.layer.inputs)
    assert control.layer is not None and control.layer.parameters == {"arrest_on": 0}
    assert claim.layer is not None and claim.layer.parameters.get("arrest_on", 1) == 1
