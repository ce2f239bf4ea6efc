"""Static and light dynamic checks of the model library: plain names after composition, a source
or `assumption` on every parameter line, catalogue values equal to the model defaults, every
context applicable to its models with a living untreated cell."""

import re

import pytest
import yaml
from _modelkit import MODELS_DIR, load, run

COMPOSED = ["apoptosis_intrinsic", "intrinsic_p53", "intrinsic_extrinsic",
            "intrinsic_extrinsic_p53", "flt3_aml", "bcr_abl_cml", "cdk46_breast", "ovarian_chemo"]
ANT_FILES = sorted(MODELS_DIR.glob("*.ant")) + sorted((MODELS_DIR / "modules").glob("*.ant"))
PARAM_LINE = re.compile(r"^\s*(?!species\b)([A-Za-z_]\w*)\s*=\s*[-+0-9.eE]+\s*;(.*)$")


@pytest.mark.parametrize("name", COMPOSED)
def test_composed_model_keeps_plain_names(name):
    m = load(name)
    prefixed = [x for x in (*m.species, *m.parameters)
                if re.match(r"^(I|T|P|X|S)_", x)]
    assert not prefixed, prefixed[:10]
    for needed in ("MCL1_total", "BCL2_total", "MCL1_BIM", "MCL1_BAK", "MCL1_PUMA", "BCL2_BIM",
                   "BCLXL_BIM", "cleaved_PARP_fraction"):
        assert needed in m.observables or needed in m.species, needed


@pytest.mark.parametrize("path", ANT_FILES, ids=lambda p: p.name)
def test_every_parameter_line_has_a_source_or_assumption(path):
    bad = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        mt = PARAM_LINE.match(line)
        if not mt or line.lstrip().startswith("//"):
            continue
        rest = mt.group(2)
        # initial amounts are written several per line (`A = 1; B = 2;`) and are not parameters
        if ";" in rest.split("//")[0]:
            continue
        if "//" not in rest:
            bad.append(f"{i}: {line.strip()}")
    assert not bad, bad[:10]


def test_catalogue_values_equal_model_defaults():
    drugs = yaml.safe_load((MODELS_DIR / "drugs.yaml").read_text())["drugs"]
    from apopsim.library import _load_file  # raw file defaults, before the catalogue is applied
    mismatches = []
    for name in ["bcl2_core", "p53", *COMPOSED]:
        path = MODELS_DIR / f"{name}.ant"
        raw = _load_file(str(path), path.stat().st_mtime)
        for d in drugs:
            assert d["symbol"] == d["symbol"].strip()
            for k, spec in (d.get("parameters") or {}).items():
                v = spec["value"]
                if k in raw.parameters and abs(raw.parameters[k] - v) > 1e-9 * abs(v):
                    mismatches.append((name, k, raw.parameters[k], spec["value"]))
    assert not mismatches, mismatches


CONTEXTS = yaml.safe_load((MODELS_DIR / "contexts.yaml").read_text())["contexts"]


@pytest.mark.parametrize("ctx", sorted(CONTEXTS))
def test_context_applies_and_untreated_cell_lives(ctx):
    spec = CONTEXTS[ctx]
    assert spec.get("description") and spec.get("sources")
    model_name = spec["models"][0]
    m = load(model_name, ctx)
    times, tr = run(m, 24.0, dt=2.0)
    if "cleaved_PARP_fraction" in m.observables:
        assert max(tr["cleaved_PARP_fraction"]) < 0.01, ctx
