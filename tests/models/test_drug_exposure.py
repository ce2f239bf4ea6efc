"""Drug exposure: the free concentration drives the effect; ATP competition (issue 9 item 5).

Model review 2.5: biochemical Ki / IC50 values were used as intracellular Kd at the nominal
(total) medium concentration, with no serum shift and no ATP competition. Now
`Catalogue.resolve(model, doses, serum_percent)` returns the free concentration
(total x fu(serum %), fu from each drug's unbound fraction in human plasma, `drugs.yaml`), and
ATP-competitive (type I) kinase inhibitors carry their apparent affinity at intracellular ATP,
Ki x (1 + [ATP]/Km) (Cheng & Prusoff, Biochem Pharmacol 1973;22:3099).
"""

from __future__ import annotations

import pytest
import yaml
from _modelkit import MODELS_DIR, TIGHT

import apopsim
from apopsim.library import (
    DEFAULT_SERUM_PERCENT,
    apparent_affinity,
    catalogue,
    cheng_prusoff,
    unbound_fraction,
)


def test_free_fraction_arithmetic() -> None:
    # 99 % bound in plasma: bound/free = 99 at 100 % plasma-equivalent serum, 9.9 at 10 %
    assert unbound_fraction(0.01, 100.0) == pytest.approx(0.01)
    assert unbound_fraction(0.01, 10.0) == pytest.approx(1 / (1 + 9.9))
    assert unbound_fraction(0.01, 10.0, serum_vs_plasma=0.5) == pytest.approx(1 / (1 + 4.95))
    assert unbound_fraction(0.01, 0.0) == 1.0  # serum-free medium
    assert unbound_fraction(None, 10.0) == 1.0  # binding not known: no shift
    assert unbound_fraction(1.0, 50.0) == 1.0  # not bound
    with pytest.raises(apopsim.ApopsimError):
        unbound_fraction(0.0, 10.0)


def test_cheng_prusoff_shift() -> None:
    # IC50 measured at ATP = Km is twice Ki; at 3 mM ATP and Km 10 uM the apparent Kd is 301 x Ki
    assert cheng_prusoff(11.0, atp_uM=360.0, km_atp_uM=360.0) == pytest.approx(5.5)
    assert apparent_affinity(1.0, atp_uM=3000.0, km_atp_uM=10.0) == pytest.approx(301.0)
    assert apparent_affinity(1.0, atp_uM=0.0, km_atp_uM=10.0) == 1.0
    # more ATP, weaker apparent affinity; round trip Ki -> IC50 -> Ki
    assert apparent_affinity(1.0, 5000.0, 100.0) > apparent_affinity(1.0, 1000.0, 100.0)
    assert cheng_prusoff(apparent_affinity(2.0, 1000.0, 50.0), 1000.0, 50.0) == pytest.approx(2.0)


def test_atp_site_parameters_are_derived_and_stated() -> None:
    """Every `atp_site` parameter's stated value equals its Cheng–Prusoff derivation at the
    catalogue's intracellular ATP, and responds to the ATP level."""
    cat = catalogue()
    n = 0
    for d in cat.drugs:
        for k, spec in d.parameters.items():
            if isinstance(spec, dict) and spec.get("atp_site"):
                n += 1
                assert cat.parameter_value(spec) == pytest.approx(spec["value"], rel=1e-9), k
                assert cat.parameter_value(spec, cell_atp_uM=5000.0) > spec["value"]
    assert n >= 1
    # palbociclib: the model's pRB (kphos 2, kdephos 0.5 /h; 0.8 untreated) halves when CDK4/6
    # activity is 1/6, i.e. at 5 x the free IC50; in 10 % FBS that total dose is the cellular
    # Rb-Ser780 IC50, 66 nM (Fry et al. Mol Cancer Ther 2004), to which the value is fitted
    spec = cat.get("palbociclib").parameters["IC50_palbociclib_CDK46"]
    total_prb_ic50 = 5 * spec["value"] / cat.free_fraction("palbociclib", 10.0)
    assert total_prb_ic50 == pytest.approx(66.0, rel=0.01)


def test_every_drug_states_its_protein_binding_and_potency_records() -> None:
    raw = yaml.safe_load((MODELS_DIR / "drugs.yaml").read_text())
    assert {"cell_atp_uM", "serum_vs_plasma"} <= set(raw["conditions"])
    for d in raw["drugs"]:
        fu = d["exposure"]["fu_plasma"]
        assert fu.get("source"), d["id"]
        assert fu["value"] is None or 0 < fu["value"] <= 1, d["id"]
        for rec in d.get("potency", []):
            assert {"kind", "target", "value", "unit", "assay", "source"} <= set(rec), d["id"]


def test_resolve_gives_free_concentration_and_serum_shifts_ic50() -> None:
    model = apopsim.load_model("apoptosis_intrinsic", "aml_intrinsic")
    cat = catalogue()
    assert DEFAULT_SERUM_PERCENT == 10.0
    free = {s: cat.resolve(model, {"venetoclax": 100.0}, serum_percent=s)["venetoclax"]
            for s in (0.0, 10.0, 50.0)}
    assert free[0.0] == 100.0
    assert free[0.0] > free[10.0] > free[50.0]  # more serum, less free drug
    assert cat.resolve(model, {"venetoclax": 100.0}) == {"venetoclax": pytest.approx(free[10.0])}
    # a drug whose binding is not known is passed through unchanged
    assert cat.resolve(model, {"s63845": 100.0}, serum_percent=50.0) == {"s63845": 100.0}
    # the total concentration that half-occupies BCL-xL (Kd 48 nM against free venetoclax)
    # rises with serum: the apparent IC50 shifts right
    kd = model.parameters["koff_venetoclax_BCLXL"] / model.parameters["kon_venetoclax_BCLXL"]
    ic50 = {s: kd / cat.free_fraction("venetoclax", s) for s in (0.0, 10.0, 50.0)}
    assert ic50[0.0] == pytest.approx(48.0)
    assert ic50[0.0] < ic50[10.0] < ic50[50.0]
    with pytest.raises(apopsim.ApopsimError, match="serum"):
        cat.resolve(model, {"venetoclax": 1.0}, serum_percent=120.0)


def test_serum_shifts_a_simulated_dose_response() -> None:
    """HHT (omacetaxine, <= 50 % plasma-bound): the same total dose lowers MCL-1 less in 100 %
    serum than in serum-free medium (translation follows the free drug)."""
    from apopsim.engine import PreequilibrationOptions

    model = apopsim.load_model("bcl2_core", "aml_mcl1_dependent")
    cat = catalogue()
    y0 = apopsim.simulate(model, [0.0], **TIGHT).meta["final_state"]
    mcl1 = {}
    for s in (0.0, 100.0):
        free = cat.resolve(model, {"hht": 20.0}, serum_percent=s)
        tr = apopsim.simulate(model, [0.0, 4.0], y0=y0, parameters=free,
                              preequilibration=PreequilibrationOptions(enabled=False), **TIGHT)
        mcl1[s] = float(tr["MCL1_total"][-1])
    assert mcl1[100.0] > mcl1[0.0] * 1.05
