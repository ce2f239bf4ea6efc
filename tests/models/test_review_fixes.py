"""Fixes of the outside model review (section 2; issue 9 item 4). Each test failed on the models
before the fix (numbers of the old models in the comments)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _modelkit import MODELS_DIR, at, load, run, time_of_death


def test_2_1_mdm2_kcat_is_per_hour():
    # rate kcat * MDM2 [nM] * p53/(Km + p53) is nM/h only if kcat is 1/h (was labelled 1/(nM*h))
    line = next(x for x in (MODELS_DIR / "p53.ant").read_text().splitlines()
                if x.strip().startswith("kcat_MDM2_p53 ="))
    assert re.search(r"//\s*1/h\b", line), line
    ctx = (MODELS_DIR / "contexts.yaml").read_text()
    assert "kcat_MDM2_p53: 0.34  # 1/(nM*h)" not in ctx


def test_2_2_hht_lowers_extrinsic_proteins_and_flip():
    # extrinsic synthesis now follows `translation`; c-FLIP is a short-lived species (was a
    # constant 0.1 nM that HHT could not touch)
    m = load("intrinsic_extrinsic", "hela")
    times, tr = run(m, 4.0, {"hht": 100}, dt=0.5)
    assert at(times, tr, "FLIP", 4) < 0.4 * at(times, tr, "FLIP", 0)
    assert at(times, tr, "FLIP", 0) == pytest.approx(0.1, rel=0.01)


def test_2_3_smac_mimetic_alone_spares_hela():
    # APG-1387 100 nM alone killed the HeLa context at ~27 h (no active caspase-3 sink)
    m = load("intrinsic_extrinsic", "hela")
    times, tr = run(m, 72.0, {"apg1387": 100}, dt=1.0)
    assert time_of_death(times, tr) is None
    assert max(tr["cleaved_PARP_fraction"]) < 0.05


def test_2_6_bcl2_binds_active_bak():
    # BCL-2 sequesters activated BAK (Ruffolo & Shore 2003; Chen HC 2015); MCL-1 binds active BAX
    for name in ("apoptosis_intrinsic", "bcl2_core"):
        m = load(name)
        assert "BCL2_BAK" in m.state
    m = load("apoptosis_intrinsic")
    assert "MCL1_BAX" in m.state
    times, tr = run(m, 0.0, dt=1.0)
    assert at(times, tr, "BCL2_BAK", 0) > 0


def test_2_8_readme_matches_bcl2_core_cytochrome_c_clearance():
    value = next(float(x.split("=")[1].split(";")[0])
                 for x in (MODELS_DIR / "bcl2_core.ant").read_text().splitlines()
                 if x.strip().startswith("kdeg_CytoCc ="))
    readme = (MODELS_DIR / "README.md").read_text()
    assert "`kdeg_CytoCc` 0.5 → 0.1 /h" not in readme  # a change that was never made
    assert f"`kdeg_CytoCc` {value:g} /h" in readme


def test_2_9_parp_cleavage_is_michaelis_menten():
    # EARM 1.0: kf 1e-6 /molecule/s, kr 1e-2 /s, kc 1 /s -> KM 1010 nM ~ [PARP]; the initial rate
    # at 1000 nM PARP is about half the mass-action (kcat/KM) rate
    m = load("apoptosis_intrinsic")
    assert m.parameters["KM_PARP"] == pytest.approx(1010)
    y = np.array(m.initial, dtype=float)
    y[m.state.index("C3a")] = 1.0
    y[m.state.index("PARP")] = 1000.0
    from apopsim.engine import compile_model
    cm = compile_model(m)
    p = cm.param_vector()
    dy = cm.rhs(0.0, y, p)
    flux = dy[m.state.index("cPARP")] + m.parameters["kdeg_slow"] * y[m.state.index("cPARP")]
    assert flux == pytest.approx(3600 * 1.0 * 1000 / (1010 + 1000), rel=1e-6)


def test_2_7_population_fractions_are_not_nm_species():
    # CSC (CD44+ stem-like probability) was declared an nM species; it is a dimensionless
    # rate-rule variable now, with the same dynamics (0.30 -> 0.08 under APG-2449 100 nM, 72 h)
    m = load("ovarian_chemo", "ovarian_hgsoc")
    assert "CSC" not in m.species and "CSC" in m.rate_rules
    assert "mitotic_arrest" in m.assignment_rules
    times, tr = run(m, 72.0, {"apg2449": 100}, dt=24.0)
    assert at(times, tr, "CSC", 0) == pytest.approx(0.3, rel=1e-3)
    assert at(times, tr, "CSC", 72) == pytest.approx(0.082, abs=0.005)
