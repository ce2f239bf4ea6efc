"""Layers above the cell (issue 12): pharmacokinetics and regimens (:mod:`~.pk`,
:mod:`~.regimen`), the cell-model kill link (:mod:`~.killrate`), xenograft tumour growth
(:mod:`~.xenograft`, model ``models/tissue/simeoni_xenograft.ant``) and in-vivo study files
(:mod:`~.study`: :func:`run_study`, :func:`write_study_report`).

Units at the interfaces: doses mg or mg/kg, PK time h, concentrations nM (free = unbound in
plasma), tumour time days, volumes mm^3.
"""

import importlib

_EXPORTS = {
    **dict.fromkeys(("DrugPK", "DoseEvent", "PKProfile", "drug_pk", "occupancy", "simulate_pk",
                     "effect_site_nM", "plasma_fraction_unbound"), "pk"),
    "run_tissue_model": "layers",
    "Regimen": "regimen",
    **dict.fromkeys(("KillTable", "kill_table_from_cell_model"), "killrate"),
    **dict.fromkeys(("simulate_tumour", "tgi_percent", "regrowth_days"), "xenograft"),
    **dict.fromkeys(("Study", "StudyResult", "load_study", "run_study", "write_study_report"),
                    "study"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"apopsim.tissue.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
