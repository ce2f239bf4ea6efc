"""Write the study notebooks (notebooks/study_*.ipynb) from one template.

Each notebook explores one study group of the seed claims (scenarios/README.md): it lists the
claims (the scenario's ``expect:`` block), runs a reduced grid of the group's first scenario
(``APOPSIM_FAST=1``: 10 cells, 24 h, doses up to the central well, in the kernel's process),
and shows the mechanism (species time courses at the central well), the dose-response matrix,
the Bliss synergy heat map (and surface when the grid allows), synergy over time, and a slider
for the context parameter the claim hinges on (with a choice of the group's scenario files;
under ``APOPSIM_FAST=1`` the default values are run once, without widgets).

Usage: ``.venv/bin/python tools/make_study_notebooks.py`` (rewrites the notebooks; review the
diff). The notebooks run in CI through nbmake with ``APOPSIM_FAST=1`` (< 60 s each).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GROUPS = {
    "study_981_lisaftoclax_hht": {
        "title": "Poster 981: lisaftoclax (APG-2575) + homoharringtonine in MCL-1-dependent AML",
        "files": ["apg2575_hht.yaml"],
        "hinge": "ksyn_MCL1", "hinge_text": "MCL-1 synthesis (HHT's target is MCL-1 turnover)",
    },
    "study_1096_1463_kinase_inhibitors": {
        "title": "Posters 1096 and 1463: olverembatinib with lisaftoclax (FLT3 AML) or "
                 "asciminib (BCR-ABL)",
        "files": ["hqp1351_apg2575_flt3.yaml", "hqp1351_apg2575_flt3wt.yaml",
                  "hqp1351_asciminib_compound.yaml", "hqp1351_asciminib_t315i.yaml",
                  "hqp1351_asciminib_wt.yaml"],
        "hinge": "ksyn_MCL1", "hinge_text": "MCL-1 synthesis (FLT3 status and the BCR-ABL "
                 "mutant are chosen with the scenario file)",
    },
    "study_976_lisaftoclax_palbociclib": {
        "title": "Poster 976: lisaftoclax + palbociclib in ER+ breast cancer",
        "files": ["apg2575_palbociclib_erbreast.yaml",
                  "apg2575_palbociclib_erbreast_nodilution.yaml",
                  "apg2575_palbociclib_erbreast_no_rb_effect.yaml",
                  "apg2575_palbociclib_erbreast_bclxl_dependence.yaml"],
        "hinge": "ksyn_BCL2", "hinge_text": "BCL-2 synthesis (arrested cells accumulate BCL-2)",
    },
    "study_1924_apg1387_ctb006": {
        "title": "Poster 1924: APG-1387 (IAP antagonist) + CTB-006 (DR5 agonist) in solid "
                 "tumours",
        "files": ["apg1387_ctb006_resistant.yaml", "apg1387_ctb006_resistant_c8ko.yaml",
                  "apg1387_ctb006_cflip.yaml", "apg1387_ctb006_cflip_c8ko.yaml",
                  "apg1387_ctb006_solid.yaml", "apg1387_ctb006_tnf_loop.yaml"],
        "hinge": "ksyn_XIAP", "hinge_text": "XIAP synthesis (XIAP decides type I vs type II "
                 "death-receptor signalling)",
    },
    "study_984_pelcitoclax_nen": {
        "title": "Poster 984: pelcitoclax (APG-1252) + S63845 in neuroendocrine neoplasms",
        "files": ["apg1252_s63845_nen_bclxl_high_mcl1_high.yaml",
                  "apg1252_s63845_nen_bclxl_high_mcl1_low.yaml",
                  "apg1252_s63845_nen_bclxl_low.yaml"],
        "hinge": "ksyn_MCL1", "hinge_text": "MCL-1 synthesis (MCL-1 limits pelcitoclax)",
    },
    "study_968_apg115_tissue_claims": {
        "title": "Poster 968 (APG-2449 + chemotherapy) and APG-115 + anti-PD-1: the cell-level "
                 "part of two tissue-level claims",
        "files": ["apg2449_paclitaxel_ovarian.yaml", "apg2449_carboplatin_ovarian.yaml",
                  "apg115_p53wt.yaml", "apg115_p53mutant.yaml"],
        "hinge": "ksyn_BCLXL", "hinge_text": "BCL-xL synthesis (BCL-xL holds the BIM that "
                 "MCL-1 loss frees)",
    },
}

INTRO = """\
# {title}

Claims of this study group, as the scenario files state them (`expect:`; checked by
`apopsim check`), then a reduced run of one scenario: the mechanism at the central well (the
second non-zero dose of each drug, the rule of scenarios/README.md), the dose-response matrix,
Bliss synergy (heat map, surface when the grid allows, and over time), and a slider for
{hinge_text}.

Units: concentrations in nM, time in hours; responses are fractions of cells killed; synergy
scores are percentage points of killing above the reference (positive = synergy).

`APOPSIM_FAST=1` (CI): 10 cells, 24 h, doses up to the central well, simulated in the kernel's
own process, sliders replaced by one run at the default values. Without it: 100 cells, 72 h,
the full grid."""

SETUP = """\
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

import apopsim
from apopsim.library import scenarios_dir
from apopsim.report.synergy import grid_drugs, grid_wells
from apopsim.synergy import analyze_time_course
from apopsim.synergy import plots as splots

FAST = os.environ.get("APOPSIM_FAST", "0") == "1"
# FAST runs are small: simulate them in this process (workers forked from a Jupyter kernel can
# deadlock, and their start-up costs more than such a run).
EXECUTOR = "serial" if FAST else None
FILES = {files!r}
HINGE = {hinge!r}  # {hinge_text}
scenarios = {{f: apopsim.load_scenario(scenarios_dir() / f) for f in FILES}}
for f, s in scenarios.items():
    print(f"{{f}}: {{' '.join(s.description.split())}}")
    for e in s.expect:
        print(f"  [{{e.role}}] {{' '.join(e.claim.split())}}")"""

RUN_MD = """\
## A reduced run

The first scenario of the group, with fewer cells and (under `APOPSIM_FAST=1`) doses up to the
central well; `factor` scales the context's value of the hinge parameter."""

RUN = """\
def reduced(s, n_cells, hours, keep=None, factor=1.0):
    \"\"\"Scenario ``s`` with ``n_cells`` cells over ``hours`` h, the first ``keep`` non-zero doses
    of each drug (all if None) and the hinge parameter scaled by ``factor``.\"\"\"
    spec = s.model_dump(exclude={{"expect"}})
    model = apopsim.load_model(s.model, s.context)
    spec["drugs"] = {{d: v if keep is None else v[: keep + 1] for d, v in s.dose_lists().items()}}
    spec["population"] = {{**spec["population"], "n_cells": n_cells}}
    spec["time"] = {{"duration_h": hours, "output_every_h": 1.0,
                    "readout_times_h": sorted({{hours / 3, 2 * hours / 3, hours}})}}
    params = dict(spec["overrides"]["parameters"])
    params[HINGE] = params.get(HINGE, model.parameters[HINGE]) * factor
    spec["overrides"] = {{**spec["overrides"], "parameters": params}}
    return apopsim.Scenario.model_validate(spec)


n_cells, hours, keep = (10, 24, 2) if FAST else (100, 72, None)
scenario = reduced(scenarios[FILES[0]], n_cells, hours, keep)
result = apopsim.run_scenario(scenario, progress=not FAST, executor=EXECUTOR)
print(f"{{scenario.name}}: {{len(result.conditions)}} conditions x {{n_cells}} cells in "
      f"{{result.wall_time_s:.1f}} s")
result.to_dataframe()[["condition", "apoptotic_fraction", "median_time_to_death_h",
                       "n_live_at_start"]]"""

MECH_MD = """\
## Mechanism: species at the central well

Mean over cells of each recorded species for the control, each drug alone and the combination
at the central well (second non-zero dose of each drug)."""

MECH = """\
lists = scenarios[FILES[0]].dose_lists()
central = {{d: sorted(x for x in v if x > 0)[min(1, len(v) - 2)] for d, v in lists.items()}}
picks = [{{}}] + [{{d: x}} for d, x in central.items()] + ([central] if len(central) > 1 else [])


def condition(r, doses):
    return next(i for i, c in enumerate(r.conditions)
                if all(c.doses_nM.get(k, 0.0) == doses.get(k, 0.0) for k in c.doses_nM))


species = scenario.readouts.species[:6]
fig, axes = plt.subplots(1, len(species), figsize=(2.6 * len(species), 2.4), squeeze=False,
                         layout="constrained")
for ax, v in zip(axes[0], species):
    for doses in picks:
        i = condition(result, doses)
        ax.plot(result.times_h, result.trace(i, v), label=result.conditions[i].name)
    ax.set(title=v, xlabel="h", ylabel="nM")
axes[0][0].legend(fontsize=6, frameon=False)
plt.show()"""

SYN_MD = """\
## Dose-response matrix and synergy

For a two-drug grid: the response matrix and the Bliss heat map at the last time (surface when
the grid has at least 3 x 3 non-zero doses), and synergy over time. For a single-drug series:
the apoptotic fraction against dose."""

SYN = """\
out = Path(tempfile.mkdtemp())
if grid_drugs(result):
    times = scenario.time.readout_times()
    synergy = analyze_time_course({{t: grid_wells(result, t) for t in times}},
                                  data_type="inhibition", scale="fraction",
                                  methods=["bliss", "hsa"])
    block = next(iter(synergy[max(synergy)].blocks.values()))
    figures = [splots.plot_response_matrix(block, out / "matrix.png"),
               splots.plot_synergy_heatmap(block, "bliss", out / "bliss.png")]
    if splots.full_grid(block):
        figures.append(splots.plot_synergy_surface(block, "bliss", out / "surface.png"))
    figures.append(splots.plot_synergy_vs_time({{t: r.summary for t, r in synergy.items()}},
                                               out / "time.png"))
    for f in figures:
        display(Image(filename=str(f), width=420))
else:
    df = result.to_dataframe()
    drug = next(iter(lists))
    for t in scenario.time.readout_times():
        plt.plot(df[f"{{drug}}_nM"].replace(0, np.nan), df[f"apoptotic_fraction_{{t:g}}h"],
                 "o-", label=f"{{t:g}} h")
    plt.xscale("log")
    plt.gca().set(xlabel=f"{{drug}} (nM)", ylabel="apoptotic fraction", ylim=(0, 1))
    plt.legend(frameon=False)
    plt.show()"""

SLIDER_MD = """\
## Interactive: scenario file and {hinge}

Pick a scenario of the group and scale {hinge_text}; **Run** simulates a small grid (30 cells,
48 h, doses up to the central well) and prints the apoptotic fractions at the central well.
With `APOPSIM_FAST=1` the default values are run once, without widgets."""

SLIDER = """\
def rerun(file, factor):
    \"\"\"Small run of ``file`` with the hinge parameter scaled by ``factor``.\"\"\"
    small = (8, 12, 2) if FAST else (30, 48, 2)
    s = reduced(scenarios[file], *small, factor=factor)
    r = apopsim.run_scenario(s, progress=False, executor=EXECUTOR)
    t = s.time.readout_times()[-1]
    print(f"{{file}}, {{HINGE}} x {{factor:g}}: apoptotic fraction at {{t:g}} h")
    for c in r.conditions:
        print(f"  {{c.name:45s}} {{c.apoptotic_fraction(t)[0]:.2f}}")


if FAST:
    # headless (CI): no widgets (a widget cell can block a headless runner, jupyter/nbclient#312)
    rerun(FILES[0], 1.5)
else:
    import ipywidgets as w
    from IPython.display import clear_output

    pick = w.Dropdown(options=FILES, description="scenario")
    factor = w.FloatLogSlider(value=1.0, base=2, min=-2, max=2, description=f"{{HINGE}} x")
    button = w.Button(description="Run")
    panel = w.Output()

    def on_click(*_):
        with panel:
            clear_output(wait=True)
            rerun(pick.value, factor.value)

    button.on_click(on_click)
    display(w.VBox([pick, factor, button, panel]))"""


def _cell(kind: str, text: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook(spec: dict) -> dict:
    """The notebook of one study group as nbformat-4 JSON data."""
    f = {**spec}
    cells = [("markdown", INTRO), ("code", SETUP), ("markdown", RUN_MD), ("code", RUN),
             ("markdown", MECH_MD), ("code", MECH), ("markdown", SYN_MD), ("code", SYN),
             ("markdown", SLIDER_MD), ("code", SLIDER)]
    return {"cells": [_cell(k, t.format(**f)) for k, t in cells],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 4}


def main() -> None:
    """Write every group's notebook into notebooks/."""
    for name, spec in GROUPS.items():
        path = ROOT / "notebooks" / f"{name}.ipynb"
        path.write_text(json.dumps(notebook(spec), indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
