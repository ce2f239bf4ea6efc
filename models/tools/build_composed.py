"""Regenerate the composed models (models/<name>.ant) from the module files.

Each composed model imports its modules and exposes every module symbol under its plain name with
`x is I.x`; a name defined in several modules is merged (the module that defines it by an
assignment rule wins, otherwise the first-listed module). Run after adding or renaming a symbol
in a module:

    .venv/bin/python models/tools/build_composed.py

tests/models/test_library.py fails if a composed model is stale (a prefixed name appears).
"""

# ruff: noqa: E501  (the header texts are copied verbatim into the .ant files)
from __future__ import annotations

import os

import antimony
import libsbml

MODELS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

I = ("I", "intrinsic", "modules/intrinsic.ant")  # noqa: E741
T = ("T", "translation_ctl", "modules/translation.ant")
P = ("P", "p53_mdm2", "p53.ant")
X = ("X", "extrinsic", "modules/extrinsic.ant")
N = ("N", "tnf_nfkb", "modules/tnf_nfkb.ant")
F = ("S", "flt3_stat5_signalling", "modules/flt3_stat5.ant")
B = ("S", "bcr_abl_allosteric", "modules/bcr_abl_allosteric.ant")
C = ("S", "cdk46_signalling", "modules/signalling.ant")
K = ("S", "fak_chemo", "modules/signalling.ant")
D = ("D", "platinum_damage", "modules/platinum.ant")
CDK46_PROTEOLYSIS = [
    "kdeg_BCL2 = 0.01155;  // 1/h; proteolysis alone, half-life 60 h (the long end of 27-60 h, Cloete et al. npj Syst Biol Appl 2023; taken as dilution-free: assumption); cdk46_signalling adds growth dilution",
    "kdeg_BCLXL = 0.01155;  // 1/h; as kdeg_BCL2 (Cloete et al. 2023; assumption as above)",
]
PLATINUM_AFTER_P53 = [
    "// PUMA / NOXA transcription: p53 route (P) plus the p53-independent platinum route (D)",
    "D.PUMA_tx_p53 is P.PUMA_tx;",
    "D.NOXA_tx_p53 is P.NOXA_tx;",
]
NO_LUMPED_FEEDBACK = ["kfb_C3 = 0;  // replaced by the explicit caspase-6/-8 loop of extrinsic.ant"]

COMPOSED = {
    "apoptosis_intrinsic": ([I, T], """
        apoptosis_intrinsic: intrinsic (BCL-2 family, MOMP, apoptosome, caspase-3, PARP) + translation (HHT).
        Units: nM (compartment cell = 1), hours.""", []),
    "intrinsic_p53": ([I, T, P], """
        intrinsic_p53: intrinsic + translation + p53-MDM2 (p53 drives PUMA_tx, NOXA_tx).
        Units: nM (compartment cell = 1), hours. Inputs: damage (a.u.), carboplatin, alrizomadlin and the intrinsic drugs.""", []),
    "intrinsic_extrinsic": ([I, T, X, N], """
        intrinsic_extrinsic: intrinsic + translation + extrinsic (TRAIL / CTB-006 -> caspase-8 -> tBID, caspase-3)
        + tnf_nfkb (cIAP loss -> NIK/NF-kB -> autocrine TNF -> TNFR1 complex II -> caspase-8; inert unless a
        context sets autocrine_TNF = 1). Units: nM (compartment cell = 1), hours. The lumped caspase-3 feedback
        of intrinsic.ant (kfb_C3) is set to 0 here because extrinsic.ant supplies the caspase-3 -> caspase-6 ->
        caspase-8 loop.""",
                            NO_LUMPED_FEEDBACK),
    "flt3_aml": ([I, T, F], """
        flt3_aml: intrinsic + translation + FLT3 signalling (modules/flt3_stat5.ant): FLT3-ITD -> STAT5 -> MCL-1,
        ligand-driven wild-type FLT3 -> ERK/AKT -> BIM, FLT3-independent STAT5 (JAK) and ERK inputs; olverembatinib.
        Units: nM (compartment cell = 1), hours. Poster 1096 (and HHT + lisaftoclax in AML/MDS contexts, poster 981).""",
                 []),
    "bcr_abl_cml": ([I, T, B], """
        bcr_abl_cml: intrinsic + translation + BCR-ABL two-state (open/closed) allosteric kinase (modules/bcr_abl_allosteric.ant):
        ATP site (olverembatinib, ponatinib) and myristoyl site (asciminib) coupled through the conformational equilibrium
        -> survival signal -> MCL-1 up, BIM down. Units: nM (compartment cell = 1), hours (poster 1463).""",
                    []),
    "cdk46_breast": ([I, T, C], """
        cdk46_breast: intrinsic + translation + CDK4/6 -> Rb -> G1/S, proliferation state (cycling, G1-arrested,
        senescent), growth dilution of BCL-2 / BCL-xL that arrest removes, senescence raising BIM, lisaftoclax's
        Rb effect (assumption), caspase-7 (palbociclib + lisaftoclax, poster 976). Units: nM (compartment cell = 1),
        hours. kdeg_BCL2 / kdeg_BCLXL are proteolysis alone here: cdk46_signalling adds the dilution.""",
                     CDK46_PROTEOLYSIS),
    "ovarian_chemo": ([I, T, P, K, D], """
        ovarian_chemo: intrinsic + translation + p53-MDM2 (carboplatin damage) + FAK / paclitaxel
        + platinum_damage (p53-independent carboplatin route: Pt-DNA adducts -> replication stress in
        cycling cells -> ATF3/ATF4, E2F1/p73 -> NOXA, PUMA; modules/platinum.ant)
        (APG-2449 + chemotherapy, poster 968). Units: nM (compartment cell = 1), hours.""",
                      PLATINUM_AFTER_P53, {"PUMA_tx": "D", "NOXA_tx": "D"}),
    "intrinsic_extrinsic_p53": ([I, T, X, P, N], """
        intrinsic_extrinsic_p53: intrinsic + translation + extrinsic + p53-MDM2 + tnf_nfkb (full apoptosis network).
        Units: nM (compartment cell = 1), hours.""", NO_LUMPED_FEEDBACK),
}


def symbols(file: str, module: str) -> tuple[list[str], set[str]]:
    """Species, parameter and compartment ids of one module, and its assignment-rule variables."""
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyFile(os.path.join(MODELS, file)) < 0:
        raise RuntimeError(antimony.getLastError())
    model = libsbml.readSBMLFromString(antimony.getSBMLString(module)).getModel()
    ids = [s.getId() for s in model.getListOfSpecies()]
    ids += [p.getId() for p in model.getListOfParameters()]
    ids += [c.getId() for c in model.getListOfCompartments()]
    return ids, {r.getVariable() for r in model.getListOfRules()}


def compose(name: str, parts, header: str, overrides=(), prefer=None) -> None:
    """Write models/<name>.ant. `prefer` maps a merged name to the instance whose definition wins
    (over the assignment-rule / first-listed default), for a module that wraps another's output."""
    prefer = prefer or {}
    syms, rules = {}, {}
    for inst, mod, f in parts:
        syms[inst], rules[inst] = symbols(f, mod)
    lines = ["// " + ln.strip() for ln in header.strip().splitlines()]
    lines += [
        "// Generated layout: each submodule symbol is exposed under its plain name with `x is I.x`;",
        "// a name defined in several modules is merged (the module defining it by an assignment rule",
        "// wins, otherwise the first-listed module).",
        "",
    ]
    lines += [f'import "{f}"' for f in dict.fromkeys(f for _, _, f in parts)]
    lines += ["", f"model {name}()"]
    lines += [f"  {inst}: {mod}();" for inst, mod, _ in parts]
    for n in dict.fromkeys(n for inst, _, _ in parts for n in syms[inst]):
        owners = [inst for inst, _, _ in parts if n in syms[inst]]
        win = prefer.get(n) or next((i for i in owners if n in rules[i]), owners[0])
        wrapped = {o for o in owners if n in prefer and n in rules[o]}  # read by the winner instead
        lines += [f"  {o}.{n} is {win}.{n};" for o in owners if o != win and o not in wrapped]
        lines.append(f"  {n} is {win}.{n};")
    if overrides:
        lines.append("  // composed-model overrides")
        lines += ["  " + o for o in overrides]
    lines.append("end")
    with open(os.path.join(MODELS, name + ".ant"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    for model_name, (model_parts, text, extra, *prefer) in COMPOSED.items():
        compose(model_name, model_parts, text, extra, *prefer)
