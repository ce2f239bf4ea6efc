"""In-vivo study files: arms of dosing regimens -> PK -> kill hazard from the cell model ->
xenograft growth of virtual animals -> TGI and regrowth per arm.

A study file (YAML, strict: unknown fields are errors; units in the field names)::

    name: apg2575_hht_xenograft
    species: mouse                      # PK from models/pk.yaml for this species
    body_weight_kg: 0.02                # optional (default: the species' in pk.yaml)
    duration_days: 35                   # observation from the first dose (day 0)
    tumour:                             # models/tissue/simeoni_xenograft.ant by default
      initial_volume_mm3: 150
      parameters: {lambda0: 0.25, lambda1: 150}
    kill_link:                          # the cell model behind the kill hazard
      model: bcl2_core
      context: aml_mcl1_dependent
      grid_nM: {lisaftoclax: [0, 1, 10, 100], hht: [0, 10, 100, 1000]}
      n_cells: 60                       # window_h: default the dosing interval
    arms:
      - {name: vehicle, regimens: []}
      - name: lisaftoclax
        regimens:
          - {drug: lisaftoclax, dose_mg_per_kg: 100, route: oral, frequency: QD,
             duration_days: 21}
    animals: {n: 10, cv: 0.2, vary: [lambda0, lambda1, initial_volume_mm3], seed: 0}

A **layer study** (cancer-stem-cell or tumour-immune layer, ``models/tissue/*.ant``) replaces
the Simeoni tumour by a tissue model whose inputs follow each arm's dosing::

    layer:
      model: tumour_immune              # models/tissue/<model>.ant or a path
      parameters: {tumour_p53_wt: 0}    # context switches and overrides (the model's units)
      volume: T                         # the variable read as tumour volume (mm^3)
      inputs:                           # model parameter -> what drives it
        apg115_occ: {drug: alrizomadlin, signal: occupancy}     # free / (free + Kd), 0-1
        apg2449_nM: {drug: apg2449, signal: free_nM}            # free plasma nM
        chemo_kill_D_per_day: {signal: kill_hazard_per_day, kill_link: differentiated}
    kill_links:                         # named cell-model links for kill_hazard_per_day inputs
      differentiated: {model: ovarian_chemo, context: ovarian_hgsoc, grid_nM: {...}}

``kill_link`` (the Simeoni kill hazard) is then optional. Any kill link may give
``ke0_per_h: {drug: 1/h}``: an effect compartment between plasma and killing (the table is read
at the effect-site concentration, :func:`apopsim.tissue.pk.effect_site_nM`); a layer input may
give its own ``ke0_per_h``. Virtual animals vary the layer parameters named in
``animals.vary``. Arm measures can read any layer variable (``{arm: x, readout:
stem_fraction, at_day: 21}``, median over animals).

Library: :func:`load_study`, :func:`run_study` -> :class:`StudyResult`,
:func:`write_study_report` (atomic, apopsim's output-folder policy).
Units: PK time in h and concentrations in nM; tumour time in days, volumes in mm^3.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from apopsim.errors import ScenarioError
from apopsim.tissue.expect import InVivoExpectation, expectation_problems
from apopsim.tissue.killrate import MAX_DRUGS
from apopsim.tissue.regimen import Regimen

_STRICT = ConfigDict(extra="forbid", strict=True)


class TumourSpec(BaseModel):
    """The tumour model: ``model`` (path to an Antimony file; default the built-in Simeoni
    model), ``initial_volume_mm3`` at randomisation (day 0) and parameter overrides
    (``lambda0`` 1/day, ``lambda1`` mm^3/day, ``k1`` 1/day, ``psi``)."""

    model_config = _STRICT

    model: str | None = None
    initial_volume_mm3: float | None = Field(default=None, gt=0, le=1e5, allow_inf_nan=False)
    parameters: dict[str, float] = Field(default_factory=dict)


class KillLinkSpec(BaseModel):
    """The cell model behind the kill hazard (:mod:`apopsim.tissue.killrate`): a population of
    ``n_cells`` (log-normal synthesis rates, ``cv``) at every combination of ``grid_nM``
    (free concentrations, nM) for ``window_h`` hours; by default (None) the window is the
    dosing interval of the link's drugs (:func:`kill_window_h`), so the hazard applied over one
    interval kills what one interval of exposure kills in the cell model (see
    :mod:`apopsim.tissue.killrate`). ``kill_table_csv``: use a stored table
    (written by a previous report as ``kill_table.csv``) instead. ``parameters``: cell-model
    parameter overrides on top of the context (the model's units). ``ke0_per_h``: per drug, an
    effect-compartment rate (1/h) between plasma and killing (none: the plasma value)."""

    model_config = _STRICT

    model: str = "bcl2_core"
    context: str | None = None
    grid_nM: dict[str, list[float]]
    n_cells: int = Field(default=50, ge=1, le=5000)
    cv: float = Field(default=0.25, ge=0, le=3, allow_inf_nan=False)
    window_h: float | None = Field(default=None, gt=0, le=336, allow_inf_nan=False)
    seed: int = Field(default=0, ge=0)
    kill_table_csv: str | None = None
    parameters: dict[str, float] = Field(default_factory=dict)
    ke0_per_h: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ke0(self) -> KillLinkSpec:
        for d, k in self.ke0_per_h.items():
            if d not in self.grid_nM or not (k > 0 and np.isfinite(k)):
                raise ValueError(f"ke0_per_h.{d}: a drug of grid_nM, finite and > 0 (1/h)")
        return self

    @model_validator(mode="after")
    def _grid(self) -> KillLinkSpec:
        if not 1 <= len(self.grid_nM) <= MAX_DRUGS:
            raise ValueError(f"grid_nM covers 1 to {MAX_DRUGS} drugs (the kill table's "
                             "cell-model run grows as the product of the grid sizes)")
        for d, g in self.grid_nM.items():
            if len(g) < 2 or any(not (v >= 0 and np.isfinite(v)) for v in g):
                raise ValueError(f"grid_nM.{d}: at least 2 finite values >= 0 nM")
        return self


class ArmSpec(BaseModel):
    """One arm: a name and the regimens given together (none = vehicle)."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100)
    regimens: list[Regimen] = Field(default_factory=list)


class LayerInput(BaseModel):
    """What drives one parameter of a layer model: a drug's free plasma concentration
    (``free_nM``, nM) or target occupancy (``occupancy``, 0-1, Kd from the catalogue or
    ``models/pk.yaml``), each optionally behind an effect compartment ``ke0_per_h`` (1/h); or
    the kill hazard of a named kill link (``kill_hazard_per_day``, 1/day) at the arm's free
    concentrations."""

    model_config = _STRICT

    signal: Literal["free_nM", "occupancy", "kill_hazard_per_day"]
    drug: str | None = None
    kill_link: str | None = None
    ke0_per_h: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _source(self) -> LayerInput:
        if self.signal == "kill_hazard_per_day":
            if self.kill_link is None or self.drug is not None or self.ke0_per_h is not None:
                raise ValueError("kill_hazard_per_day takes kill_link (and no drug or ke0_per_h:"
                                 " give the link its ke0_per_h)")
        elif self.drug is None or self.kill_link is not None:
            raise ValueError(f"{self.signal} takes drug (and no kill_link)")
        return self


class LayerSpec(BaseModel):
    """A tissue-layer model driven by the arms' dosing (see the module docstring)."""

    model_config = _STRICT

    model: str
    parameters: dict[str, float] = Field(default_factory=dict)
    inputs: dict[str, LayerInput] = Field(min_length=1)
    volume: str = "tumour_volume"
    max_step_days: float = Field(default=0.05, gt=0, le=1, allow_inf_nan=False)


class AnimalsSpec(BaseModel):
    """Virtual animals: ``n`` per arm, each with log-normal draws (mean kept, coefficient of
    variation ``cv``) of the ``vary`` tumour parameters (and ``initial_volume_mm3``), and with
    ``pk_cv`` > 0 of each drug's clearance (independently per drug), so each animal has its own
    exposure and kill hazard. The same animals are used in every arm (common random numbers)."""

    model_config = _STRICT

    n: int = Field(default=10, ge=1, le=1000)
    cv: float = Field(default=0.2, ge=0, le=3, allow_inf_nan=False)
    pk_cv: float = Field(default=0.0, ge=0, le=3, allow_inf_nan=False)
    vary: list[str] = Field(default_factory=lambda: ["lambda0", "lambda1",
                                                     "initial_volume_mm3"])
    seed: int = Field(default=0, ge=0)


class Study(BaseModel):
    """An in-vivo study (see the module docstring)."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    species: Literal["mouse", "human"] = "mouse"
    body_weight_kg: float | None = Field(default=None, gt=0, le=500, allow_inf_nan=False)
    duration_days: float = Field(gt=0, le=730, allow_inf_nan=False)
    pk_output_every_h: float = Field(default=0.25, gt=0, le=24, allow_inf_nan=False)
    tumour_output_every_days: float = Field(default=0.25, gt=0, le=7, allow_inf_nan=False)
    tumour: TumourSpec = Field(default_factory=TumourSpec)
    kill_link: KillLinkSpec | None = None
    kill_links: dict[str, KillLinkSpec] = Field(default_factory=dict)
    layer: LayerSpec | None = None
    arms: list[ArmSpec] = Field(min_length=2)
    animals: AnimalsSpec = Field(default_factory=AnimalsSpec)
    occupancy_targets: dict[str, str] = Field(default_factory=dict)
    expect: list[InVivoExpectation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _arms(self) -> Study:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        if sum(1 for a in self.arms if not a.regimens) != 1:
            raise ValueError("exactly one arm must have no regimens (the vehicle control)")
        if (self.layer is None) == (self.kill_link is None):
            raise ValueError("give kill_link (xenograft growth) or layer (a tissue-layer model),"
                             " not both")
        if self.layer is None and self.kill_links:
            raise ValueError("kill_links feed layer inputs; this study has no layer")
        read = set(self.kill_link.grid_nM) if self.kill_link else set()
        if self.layer is not None:
            for k, inp in self.layer.inputs.items():
                if inp.kill_link is not None:
                    if inp.kill_link not in self.kill_links:
                        raise ValueError(f"layer.inputs.{k}: no kill_links.{inp.kill_link}")
                    read |= set(self.kill_links[inp.kill_link].grid_nM)
                else:
                    read.add(str(inp.drug))
        for a in self.arms:
            drugs = [r.drug for r in a.regimens]
            if len(set(drugs)) != len(drugs):
                raise ValueError(f"arm {a.name!r}: one regimen per drug")
            missing = set(drugs) - read
            if missing:
                where = "kill_link.grid_nM" if self.layer is None else "layer input or kill link"
                raise ValueError(f"arm {a.name!r}: no {where} for "
                                 f"{', '.join(sorted(missing))}")
            for r in a.regimens:
                if r.last_dose_day() >= self.duration_days:
                    raise ValueError(f"arm {a.name!r}: {r.drug} is dosed on day "
                                     f"{r.last_dose_day()}, beyond duration_days")
        bad = set(self.animals.vary) - {"lambda0", "lambda1", "k1", "psi",
                                        "initial_volume_mm3"}
        if self.layer is not None:  # layer parameters are checked against the model on load
            bad = set()
        if bad:
            raise ValueError(f"animals.vary: unknown {', '.join(sorted(bad))}")
        return self

    @property
    def vehicle(self) -> str:
        """The vehicle arm's name."""
        return next(a.name for a in self.arms if not a.regimens)

    def dosing_end_day(self) -> float:
        """End of dosing: one day after the last dosing day of any arm."""
        return float(max(r.last_dose_day() for a in self.arms for r in a.regimens) + 1)

    _base_dir: Path | None = None
    _source: Path | None = None


def load_study(source: str | os.PathLike[str] | dict[str, Any] | Study) -> Study:
    """Read and validate a study (file path, parsed dict or :class:`Study`).

    Raises :class:`~apopsim.errors.ScenarioError` naming ``file:line field`` per problem.
    """
    from apopsim.scenario.checks import _summarise, read_validated
    from apopsim.scenario.yaml_io import located

    if isinstance(source, Study):
        return source
    study, where, lines, src = read_validated(source, Study, "study")
    study._base_dir = None if src is None else src.parent
    study._source = src
    try:
        variables = layer_variables(study)
    except ValueError:  # reported by the layer checks
        variables = set()
    problems = (_pk_problems(study) + _layer_problems(study)
                + expectation_problems(study, variables))
    if problems:
        problems = [(located(where, lines, loc), msg) for loc, msg in problems]
        raise ScenarioError(_summarise(problems, "study"), problems)
    return study


def _layer_model(study: Study):
    """``(Model, CompiledModel)`` of the study's layer model (resolved like tissue models,
    relative paths against the study file's folder first)."""
    from apopsim.tissue.xenograft import _compiled

    path = _layer_model_path(study)
    return _compiled(str(path), path.stat().st_mtime)


def layer_variables(study: Study) -> set[str]:
    """Names an arm measure can read in a layer study: the layer model's states, assignment
    rules and parameters (inputs included); empty without a layer."""
    if study.layer is None:
        return set()
    model, cm = _layer_model(study)
    return set(model.state) | set(model.assignment_rules) | set(cm.param_names)


def _layer_problems(study: Study) -> list[tuple[tuple, str]]:
    """``(field path, message)`` for layer names the layer model does not have."""
    if study.layer is None:
        return []
    try:
        model, cm = _layer_model(study)
    except ValueError as exc:
        return [(("layer", "model"), str(exc))]
    params = set(cm.param_names)
    out: list[tuple[tuple, str]] = []
    for k in study.layer.parameters:
        if k not in params:
            out.append((("layer", "parameters", k), f"{study.layer.model} has no parameter {k!r}"))
    for k in study.layer.inputs:
        if k not in params:
            out.append((("layer", "inputs", k), f"{study.layer.model} has no parameter {k!r}"))
    if study.layer.volume not in set(model.state) | set(model.assignment_rules):
        out.append((("layer", "volume"), f"{study.layer.model} has no variable "
                    f"{study.layer.volume!r}"))
    for j, k in enumerate(study.animals.vary):
        if k not in params or k in study.layer.inputs:
            out.append((("animals", "vary", j), f"{k!r} is not a parameter of "
                        f"{study.layer.model} (a layer study varies layer parameters)"))
    return out


def _pk_problems(study: Study) -> list[tuple[tuple, str]]:
    """``(field path, message)`` for regimens without PK data (drug, species, route) or
    without a catalogue potency (needed for occupancy)."""
    from apopsim.tissue import pk as pkmod

    out: list[tuple[tuple, str]] = []
    for i, arm in enumerate(study.arms):
        for j, r in enumerate(arm.regimens):
            loc = ("arms", i, "regimens", j)
            try:
                dpk = pkmod.drug_pk(r.drug, study.species, study.body_weight_kg)
                pkmod.potency_nM(r.drug, study.occupancy_targets.get(r.drug))
            except ValueError as exc:
                out.append((loc, str(exc)))
                continue
            if r.route in pkmod.ABSORBED_ROUTES and r.route not in dpk.absorption:
                out.append((loc + ("route",), f"no {r.route} absorption data for {r.drug} in "
                            f"{study.species} (models/pk.yaml has: "
                            f"{', '.join(dpk.absorption) or 'none'})"))
    return out


# ------------------------------------------------------------------------------------ results
@dataclass
class StudyResult:
    """Everything a study produced (data only; :func:`write_study_report` writes it).

    ``pk[arm][drug]``: :class:`~apopsim.tissue.pk.PKProfile` on ``pk_times_h``;
    ``hazard_per_h[arm]``: kill hazard on ``pk_times_h``; ``volumes_mm3[arm]``: array
    (animals x ``times_days``); ``typical_mm3[arm]``: the typical animal (no variation);
    ``summary``: one row per arm (pandas DataFrame); ``kill_table``; ``animals``: the parameter
    draws (DataFrame); ``provenance``: the run record.
    """

    study: Study
    pk_times_h: np.ndarray
    times_days: np.ndarray
    pk: dict[str, dict[str, Any]]
    hazard_per_h: dict[str, np.ndarray]
    volumes_mm3: dict[str, np.ndarray]
    typical_mm3: dict[str, np.ndarray]
    kill_table: Any
    summary: Any
    animals: Any
    dosing_end_day: float
    occupancy_kd_nM: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    layer_values: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    """Layer studies: ``layer_values[arm][variable]`` (animals x ``times_days``), every state,
    rule and input of the layer model."""
    kill_tables: dict[str, Any] = field(default_factory=dict)
    """Layer studies: the named kill links' tables."""

    def checks(self):
        """The study's ``expect:`` verdicts (:func:`apopsim.tissue.expect.check_study`) as a
        DataFrame with the columns of ``apopsim check``'s check.csv."""
        from dataclasses import asdict

        import pandas as pd

        from apopsim.tissue.expect import check_study

        return pd.DataFrame([asdict(o) for o in check_study(self)])

    def volumes(self):
        """Tidy volumes: ``arm, animal, day, volume_mm3`` (animal -1 = the typical animal)."""
        import pandas as pd

        frames = []
        for arm, v in self.volumes_mm3.items():
            rows = [(-1, self.typical_mm3[arm])] + list(enumerate(v))
            for i, vol in rows:
                frames.append(pd.DataFrame({"arm": arm, "animal": i, "day": self.times_days,
                                            "volume_mm3": vol}))
        return pd.concat(frames, ignore_index=True)

    def layer_frame(self):
        """Layer studies, tidy: ``arm, variable, day, median, q05, q95`` over animals."""
        import pandas as pd

        frames = []
        for arm, variables in self.layer_values.items():
            for name, v in variables.items():
                frames.append(pd.DataFrame({
                    "arm": arm, "variable": name, "day": self.times_days,
                    "median": np.median(v, axis=0), "q05": np.quantile(v, 0.05, axis=0),
                    "q95": np.quantile(v, 0.95, axis=0)}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def pk_frame(self):
        """Tidy PK: ``arm, drug, time_h, total_nM, free_nM, occupancy, kill_hazard_per_h``."""
        import pandas as pd

        frames = []
        for arm, profiles in self.pk.items():
            for drug, prof in profiles.items():
                frames.append(pd.DataFrame({
                    "arm": arm, "drug": drug, "time_h": prof.times_h,
                    "total_nM": prof.total_nM, "free_nM": prof.free_nM,
                    "occupancy": prof.occupancy(self.occupancy_kd_nM[drug]),
                    "kill_hazard_per_h": self.hazard_per_h[arm]}))
        cols = ["arm", "drug", "time_h", "total_nM", "free_nM", "occupancy",
                "kill_hazard_per_h"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


# ----------------------------------------------------------------------------------- running
def _fast() -> bool:
    return os.environ.get("APOPSIM_FAST", "") not in ("", "0", "false", "no")


def _lognormal(rng: np.random.Generator, n: int, cv: float) -> np.ndarray:
    """Mean-one log-normal factors with coefficient of variation ``cv``."""
    s2 = np.log1p(cv ** 2)
    return np.exp(rng.standard_normal(n) * np.sqrt(s2) - s2 / 2)


def _kill_table_key(spec: KillLinkSpec, base: Path | None) -> str:
    """Cache key of a kill table: the link settings and the bytes of its inputs (the model file
    and every file it imports, the drug catalogue and the contexts)."""
    from apopsim import __version__
    from apopsim._io import file_sha256
    from apopsim.library import load_model, models_dir, resolve_model_path

    path = resolve_model_path(spec.model, base)
    # the files the model is built from (hashed now: the loaded model may be cached)
    sources = sorted(load_model(path, apply_catalogue=False).source_hashes or {}) or [path]
    files = [*map(Path, sources), models_dir() / "drugs.yaml", models_dir() / "contexts.yaml"]
    payload = {"spec": spec.model_dump(exclude={"kill_table_csv"}), "version": __version__,
               "files": [file_sha256(f) for f in files if f.is_file()]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


#: Kill window (h) of a link whose drugs are each given once (no dosing interval): one day
#: (assumption: the length of the cell model's first wave of killing, which ends within 24 h in
#: bcl2_core and flt3_aml, scenarios/invivo/README.md).
SINGLE_DOSE_WINDOW_H = 24.0


def _link_spec(study: Study, link: str | None) -> KillLinkSpec:
    """The study's ``kill_link`` (``link`` None) or its named ``kill_links`` entry."""
    spec = study.kill_link if link is None else study.kill_links[link]
    if spec is None:
        raise ValueError(f"study {study.name!r} has no kill_link")
    return spec


def kill_window_h(study: Study, link: str | None = None) -> float:
    """The exposure window (h) of a kill link: its ``window_h`` if given, else the dosing
    interval of its drugs, the shortest :meth:`~apopsim.tissue.regimen.Regimen.dosing_interval_h`
    over every arm's regimens of a drug in the link's grid (each dose starts a new exposure
    episode; :data:`SINGLE_DOSE_WINDOW_H` if every such drug is given once)."""
    spec = _link_spec(study, link)
    if spec.window_h is not None:
        return float(spec.window_h)
    intervals = [iv for a in study.arms for r in a.regimens if r.drug in spec.grid_nM
                 for iv in [r.dosing_interval_h()] if iv is not None]
    return float(min(intervals)) if intervals else SINGLE_DOSE_WINDOW_H


def study_kill_table(study: Study, *, fast: bool = False, cache: bool = True,
                     progress: bool | None = False, link: str | None = None):
    """The study's :class:`~apopsim.tissue.killrate.KillTable` (``kill_link``, or the named
    entry ``link`` of ``kill_links``) and where it came from: read from ``kill_table_csv``,
    else from apopsim's cache, else computed from the cell model (and cached)."""
    import pandas as pd

    from apopsim._io import atomic_write_text, cache_dir
    from apopsim.tissue.killrate import KillTable, kill_table_from_cell_model

    spec = _link_spec(study, link)
    spec = spec.model_copy(update={"window_h": kill_window_h(study, link)})
    if fast:
        spec = spec.model_copy(update={"n_cells": min(spec.n_cells, 12)})
    if spec.kill_table_csv:
        p = Path(spec.kill_table_csv)
        if not p.is_absolute() and study._base_dir is not None:
            p = study._base_dir / p
        return KillTable.from_frame(pd.read_csv(p), spec.window_h), str(p)
    key = _kill_table_key(spec, study._base_dir)
    cached = cache_dir() / "kill_tables" / f"{key}.csv"
    if cache and cached.is_file():
        return KillTable.from_frame(pd.read_csv(cached), spec.window_h), str(cached)
    model = spec.model
    if study._base_dir is not None and (study._base_dir / model).is_file():
        model = str(study._base_dir / model)
    table = kill_table_from_cell_model(model, spec.context, spec.grid_nM, n_cells=spec.n_cells,
                                       cv=spec.cv, window_h=spec.window_h, seed=spec.seed,
                                       progress=progress, parameters=spec.parameters)
    if cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cached, table.to_frame().to_csv(index=False))
        except OSError:  # a read-only cache is not an error
            pass
    return table, "computed"


def _arm_rows(study: Study, times_days: np.ndarray, end: float, volumes: dict,
              typical_v: dict, hazard: dict, pk: dict, pk_times: np.ndarray, n_animals: int,
              extra: Any = None) -> list[dict]:
    """One summary row per arm (volumes in mm³, TGI %, regrowth in days, kill hazard per day,
    free drug in nM), shared by xenograft and layer studies; ``extra(arm)`` adds columns
    before the drug columns."""
    from apopsim.tissue.xenograft import HOURS_PER_DAY, regrowth_days, tgi_percent

    i_end = int(np.argmin(np.abs(times_days - min(end, times_days[-1]))))
    veh = study.vehicle
    med = {a: np.median(v, axis=0) for a, v in volumes.items()}
    in_dosing = pk_times <= end * HOURS_PER_DAY
    rows = []
    for arm in study.arms:
        a = arm.name
        regrow = [regrowth_days(times_days, vi, end) for vi in volumes[a]]
        row = {
            "arm": a,
            "drugs": " + ".join(r.drug for r in arm.regimens) or "vehicle",
            "n_animals": n_animals,
            "median_volume_day0_mm3": float(med[a][0]),
            "median_volume_end_of_dosing_mm3": float(med[a][i_end]),
            "median_volume_last_day_mm3": float(med[a][-1]),
            "dosing_end_day": end,
            "tgi_percent": tgi_percent(med[a][0], med[a][i_end], med[veh][0], med[veh][i_end]),
            "tgi_percent_typical_animal": tgi_percent(
                typical_v[a][0], typical_v[a][i_end], typical_v[veh][0], typical_v[veh][i_end]),
            # animals not regrown by the end of follow-up count as infinitely late
            "median_regrowth_days_after_dosing": float(np.median(
                np.where(np.isnan(regrow), np.inf, regrow))),
            "n_regrown": int(np.sum(np.isfinite(regrow))),
            "mean_kill_hazard_per_day_during_dosing": float(
                np.mean(hazard[a][in_dosing]) * HOURS_PER_DAY),
        }
        if extra is not None:
            row.update(extra(a))
        for drug, prof in pk[a].items():
            row[f"{drug}_free_cmax_nM"] = float(prof.free_nM.max())
            row[f"{drug}_free_mean_nM_during_dosing"] = float(np.mean(prof.free_nM[in_dosing]))
        rows.append(row)
    return rows


def run_study(source: str | os.PathLike[str] | dict[str, Any] | Study, *,
              kill_table: Any = None, fast: bool | None = None, cache: bool = True,
              progress: bool | None = False) -> StudyResult:
    """Run a study: PK of every arm, the kill hazard through the cell model's kill table, and
    the tumour volume of every virtual animal.

    Parameters
    ----------
    source
        Study file, dict or :class:`Study`.
    kill_table
        Use this :class:`~apopsim.tissue.killrate.KillTable` instead of the study's kill link
        (layer studies: a dict ``{kill link name: KillTable}``; links not in it are computed).
    fast
        Fewer cells in the kill link (<= 12) and animals (<= 4) (default: ``APOPSIM_FAST``).
    cache
        Reuse (and store) kill tables in apopsim's cache folder.
    """
    import pandas as pd

    from apopsim.tissue import pk as pkmod
    from apopsim.tissue.xenograft import (
        HOURS_PER_DAY,
        simulate_tumours,
        tumour_defaults,
    )

    t0 = time.perf_counter()
    study = load_study(source)
    fast = _fast() if fast is None else fast
    if study.layer is not None:
        return _run_layer_study(study, kill_table, fast=fast, cache=cache, progress=progress)
    assert study.kill_link is not None
    timings: dict[str, float] = {}
    if kill_table is None:
        kill_table, table_source = study_kill_table(study, fast=fast, cache=cache,
                                                    progress=progress)
    else:
        table_source = "given"
    timings["kill_table"] = time.perf_counter() - t0
    # PK and hazard per arm
    pk_times = np.arange(0.0, study.duration_days * HOURS_PER_DAY + 1e-9,
                         study.pk_output_every_h)
    pk: dict[str, dict[str, Any]] = {}
    hazard: dict[str, np.ndarray] = {}
    kd: dict[str, float] = {}
    for arm in study.arms:
        pk[arm.name] = {}
        for r in arm.regimens:
            dpk = pkmod.drug_pk(r.drug, study.species, study.body_weight_kg)
            pk[arm.name][r.drug] = pkmod.simulate_pk(dpk, r.dose_events(dpk.body_weight_kg),
                                                     pk_times)
            kd[r.drug] = pkmod.potency_nM(r.drug, study.occupancy_targets.get(r.drug))
        hazard[arm.name] = (_link_hazard(kill_table, study.kill_link, pk_times,
                                         {d: p.free_nM for d, p in pk[arm.name].items()})
                            if arm.regimens else np.zeros(pk_times.size))
    timings["pk"] = time.perf_counter() - t0 - timings["kill_table"]
    # virtual animals
    defaults = tumour_defaults(study.tumour.model)
    typical = {**defaults, **study.tumour.parameters}
    if study.tumour.initial_volume_mm3 is not None:
        typical["initial_volume_mm3"] = study.tumour.initial_volume_mm3
    n_animals = min(study.animals.n, 4) if fast else study.animals.n
    rng = np.random.default_rng(study.animals.seed)
    draws = {k: typical[k] * (_lognormal(rng, n_animals, study.animals.cv)
                              if k in study.animals.vary else np.ones(n_animals))
             for k in ("lambda0", "lambda1", "k1", "psi", "initial_volume_mm3")}
    drugs = sorted({r.drug for a in study.arms for r in a.regimens})
    cl_factor = {d: (_lognormal(rng, n_animals, study.animals.pk_cv)
                     if study.animals.pk_cv > 0 else np.ones(n_animals)) for d in drugs}
    animals = pd.DataFrame({"animal": np.arange(n_animals), **draws,
                            **{f"CL_factor_{d}": f for d, f in cl_factor.items()}})
    times_days = np.arange(0.0, study.duration_days + 1e-9, study.tumour_output_every_days)
    end = study.dosing_end_day()
    volumes: dict[str, np.ndarray] = {}
    typical_v: dict[str, np.ndarray] = {}

    dt_h = study.pk_output_every_h
    for arm in study.arms:
        kill = None
        if np.any(hazard[arm.name] > 0):
            # hazard rows: the typical animal, then each virtual animal (its own PK if pk_cv)
            rows = [hazard[arm.name]]
            for i in range(n_animals):
                if study.animals.pk_cv > 0:
                    free = {}
                    for r in arm.regimens:
                        base = pkmod.drug_pk(r.drug, study.species, study.body_weight_kg)
                        dpk = replace(base, CL_L_per_h=base.CL_L_per_h * cl_factor[r.drug][i])
                        free[r.drug] = pkmod.simulate_pk(
                            dpk, r.dose_events(dpk.body_weight_kg), pk_times).free_nM
                    rows.append(_link_hazard(kill_table, study.kill_link, pk_times, free))
                else:
                    rows.append(hazard[arm.name])
            h = np.array(rows) * HOURS_PER_DAY  # 1/day

            def kill(t_days: float, h=h) -> np.ndarray:
                x = min(max(t_days * HOURS_PER_DAY / dt_h, 0.0), h.shape[1] - 1.0)
                i0 = min(int(x), h.shape[1] - 2)
                f = x - i0
                return h[:, i0] * (1 - f) + h[:, i0 + 1] * f
        # the typical animal first, then the virtual animals, in one integration
        params = {k: np.concatenate([[typical[k]], draws[k]])
                  for k in ("lambda0", "lambda1", "k1", "psi")}
        w0 = np.concatenate([[typical["initial_volume_mm3"]], draws["initial_volume_mm3"]])
        curves = simulate_tumours(times_days, initial_volume_mm3=w0, parameters=params,
                                  kill_per_day=kill, model_path=study.tumour.model)
        typical_v[arm.name] = curves[0].volume_mm3
        volumes[arm.name] = np.array([c.volume_mm3 for c in curves[1:]])
    timings["tumour"] = time.perf_counter() - t0 - timings["kill_table"] - timings["pk"]
    rows = _arm_rows(study, times_days, end, volumes, typical_v, hazard, pk, pk_times, n_animals)
    summary = pd.DataFrame(rows)
    import apopsim

    prov = {
        "apopsim_version": apopsim.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "study_file": str(study._source) if study._source else None,
        "study": study.model_dump(mode="json"),
        "fast": fast,
        "n_animals": n_animals,
        "kill_table_source": table_source,
        "kill_link_n_cells": min(study.kill_link.n_cells, 12) if fast
        else study.kill_link.n_cells,
        "tumour_parameters_typical": typical,
        "tgi_definition": "100 * (1 - (V_T(end) - V_T(0)) / (V_C(end) - V_C(0))), median "
                          "volumes, end = dosing_end_day",
        "kill_link": "hazard -ln(1-f)/window_h from the cell model's apoptotic fraction f at "
                     "constant free concentrations after window_h (the dosing interval unless "
                     "given), interpolated at the PK free concentrations",
        "kill_window_h": kill_window_h(study),
    }
    timings["total"] = time.perf_counter() - t0
    prov["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return StudyResult(study, pk_times, times_days, pk, hazard, volumes, typical_v, kill_table,
                       summary, animals, end, kd, prov)


def _link_hazard(table: Any, spec: KillLinkSpec, times_h: np.ndarray,
                 free_nM: dict[str, np.ndarray]) -> np.ndarray:
    """Kill hazard (1/h) on ``times_h`` from a kill table at the free plasma concentrations
    (nM), each drug first passed through its effect compartment (``spec.ke0_per_h``)."""
    from apopsim.tissue.pk import effect_site_nM

    site = {d: effect_site_nM(times_h, c, spec.ke0_per_h.get(d)) for d, c in free_nM.items()}
    return table(site)


def _arm_pk(study: Study, arm: ArmSpec, pk_times: np.ndarray,
            cl_factor: dict[str, float] | None = None) -> dict[str, Any]:
    """PK profiles of an arm's drugs (clearance scaled per drug by ``cl_factor``)."""
    from apopsim.tissue import pk as pkmod

    out = {}
    for r in arm.regimens:
        dpk = pkmod.drug_pk(r.drug, study.species, study.body_weight_kg)
        if cl_factor is not None:
            dpk = replace(dpk, CL_L_per_h=dpk.CL_L_per_h * cl_factor[r.drug])
        out[r.drug] = pkmod.simulate_pk(dpk, r.dose_events(dpk.body_weight_kg), pk_times)
    return out


def _layer_signals(study: Study, tables: dict[str, Any], pk_times: np.ndarray,
                   free: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each layer input on ``pk_times`` (the model's units) from an arm's free plasma
    concentrations (nM; drugs the arm does not give are at 0)."""
    from apopsim.tissue import pk as pkmod
    from apopsim.tissue.xenograft import HOURS_PER_DAY

    assert study.layer is not None
    zero = np.zeros(pk_times.size)
    out = {}
    for name, inp in study.layer.inputs.items():
        if inp.signal == "kill_hazard_per_day":
            spec = study.kill_links[str(inp.kill_link)]
            given = {d: c for d, c in free.items() if d in spec.grid_nM}
            out[name] = (_link_hazard(tables[str(inp.kill_link)], spec, pk_times, given)
                         * HOURS_PER_DAY if given else zero)
            continue
        c = pkmod.effect_site_nM(pk_times, free.get(str(inp.drug), zero), inp.ke0_per_h)
        out[name] = (c if inp.signal == "free_nM" else
                     pkmod.occupancy(c, pkmod.potency_nM(str(inp.drug),
                                                         study.occupancy_targets.get(inp.drug))))
    return out


def _run_layer_study(study: Study, kill_table: Any, *, fast: bool, cache: bool,
                     progress: bool | None) -> StudyResult:
    """:func:`run_study` for a layer study: PK per arm -> layer inputs -> the layer model for
    the typical and every virtual animal."""
    import pandas as pd

    import apopsim
    from apopsim.tissue import pk as pkmod
    from apopsim.tissue.layers import run_tissue_model
    from apopsim.tissue.xenograft import HOURS_PER_DAY

    assert study.layer is not None
    layer = study.layer
    t0 = time.perf_counter()
    if kill_table is not None and not isinstance(kill_table, dict):
        raise TypeError("a layer study takes kill tables as {kill link name: KillTable}")
    given = kill_table or {}
    tables: dict[str, Any] = {}
    table_source: dict[str, str] = {}
    for link in study.kill_links:
        if link in given:
            tables[link], table_source[link] = given[link], "given"
        else:
            tables[link], table_source[link] = study_kill_table(
                study, fast=fast, cache=cache, progress=progress, link=link)
    t_tables = time.perf_counter() - t0
    pk_times = np.arange(0.0, study.duration_days * HOURS_PER_DAY + 1e-9,
                         study.pk_output_every_h)
    times_days = np.arange(0.0, study.duration_days + 1e-9, study.tumour_output_every_days)
    _, cm = _layer_model(study)
    base = dict(zip(cm.param_names, cm.param_vector(dict(layer.parameters)), strict=True))
    n_animals = min(study.animals.n, 4) if fast else study.animals.n
    rng = np.random.default_rng(study.animals.seed)
    draws = {k: base[k] * _lognormal(rng, n_animals, study.animals.cv)
             for k in study.animals.vary}
    drugs = sorted({r.drug for a in study.arms for r in a.regimens})
    cl_factor = {d: (_lognormal(rng, n_animals, study.animals.pk_cv)
                     if study.animals.pk_cv > 0 else np.ones(n_animals)) for d in drugs}
    animals = pd.DataFrame({"animal": np.arange(n_animals), **draws,
                            **{f"CL_factor_{d}": f for d, f in cl_factor.items()}})
    pk: dict[str, dict[str, Any]] = {}
    hazard: dict[str, np.ndarray] = {}
    kd: dict[str, float] = {}
    volumes: dict[str, np.ndarray] = {}
    typical_v: dict[str, np.ndarray] = {}
    values: dict[str, dict[str, np.ndarray]] = {}
    path = str(_layer_model_path(study))
    kill_inputs = [k for k, i in layer.inputs.items() if i.signal == "kill_hazard_per_day"]
    for arm in study.arms:
        pk[arm.name] = _arm_pk(study, arm, pk_times)
        for r in arm.regimens:
            kd[r.drug] = pkmod.potency_nM(r.drug, study.occupancy_targets.get(r.drug))
        frees = [{d: p.free_nM for d, p in pk[arm.name].items()}]
        for i in range(n_animals):
            if study.animals.pk_cv > 0 and arm.regimens:
                prof = _arm_pk(study, arm, pk_times, {d: cl_factor[d][i] for d in drugs})
                frees.append({d: p.free_nM for d, p in prof.items()})
            else:
                frees.append(frees[0])
        frames = []
        for j, free in enumerate(frees):
            params = dict(layer.parameters)
            if j > 0:
                params.update({k: float(v[j - 1]) for k, v in draws.items()})
            inputs = None
            if arm.regimens:
                sig = _layer_signals(study, tables, pk_times, free)
                if j == 0:
                    hazard[arm.name] = (sum((sig[k] for k in kill_inputs),
                                            np.zeros(pk_times.size)) / HOURS_PER_DAY)
                inputs = {k: (lambda td, a=a: float(np.interp(td * HOURS_PER_DAY, pk_times, a)))
                          for k, a in sig.items()}
            elif j == 0:
                hazard[arm.name] = np.zeros(pk_times.size)
            frame = run_tissue_model(path, times_days, params, inputs=inputs,
                                     max_step_days=layer.max_step_days if inputs else np.inf)
            for k in layer.inputs:  # the vehicle's inputs are 0
                if k not in frame.columns:
                    frame[k] = 0.0
            frames.append(frame)
        typical_v[arm.name] = frames[0][layer.volume].to_numpy()
        volumes[arm.name] = np.array([f[layer.volume].to_numpy() for f in frames[1:]])
        values[arm.name] = {c: np.array([f[c].to_numpy() for f in frames[1:]])
                            for c in frames[0].columns}
    end = study.dosing_end_day()
    rows = _arm_rows(study, times_days, end, volumes, typical_v, hazard, pk, pk_times, n_animals,
                     extra=lambda a: {f"{k}_mean_during_dosing": float(np.mean(
                         np.median(values[a][k], axis=0)[times_days <= end]))
                         for k in layer.inputs})
    prov = {
        "apopsim_version": apopsim.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "study_file": str(study._source) if study._source else None,
        "study": study.model_dump(mode="json"),
        "fast": fast, "n_animals": n_animals,
        "layer_model": path,
        "kill_table_source": table_source,
        "kill_link_n_cells": {k: min(v.n_cells, 12) if fast else v.n_cells
                              for k, v in study.kill_links.items()},
        "kill_window_h": {k: kill_window_h(study, k) for k in study.kill_links},
        "tgi_definition": "100 * (1 - (V_T(end) - V_T(0)) / (V_C(end) - V_C(0))), median "
                          "volumes of the layer's volume variable, end = dosing_end_day",
        "timings_s": {"kill_tables": round(t_tables, 3),
                      "total": round(time.perf_counter() - t0, 3)},
    }
    first = next(iter(tables.values()), None)
    return StudyResult(study, pk_times, times_days, pk, hazard, volumes, typical_v, first,
                       pd.DataFrame(rows), animals, end, kd, prov, values, tables)


def _layer_model_path(study: Study) -> Path:
    """The layer model file (see :func:`_layer_model`)."""
    from apopsim.tissue.layers import tissue_model_path

    assert study.layer is not None
    name = study.layer.model
    if study._base_dir is not None and (study._base_dir / name).is_file():
        name = str(study._base_dir / name)
    return tissue_model_path(name).resolve()


def write_study_report(result: StudyResult, outdir: str | os.PathLike[str], *,
                       plots: bool = True, overwrite: bool = False) -> Path:
    """Write ``summary.csv`` (one row per arm), ``volumes.csv``, ``pk.csv``,
    ``kill_table.csv``, ``animals.csv``, ``check.csv`` (if the study has ``expect:``
    entries), ``run.json`` and ``plots/`` atomically into
    ``outdir`` (see :mod:`apopsim._io` for the overwrite policy); return it."""
    from apopsim._io import atomic_output_dir, strict_json

    outdir = Path(outdir)
    protect = [result.study._source] if result.study._source else []
    with atomic_output_dir(outdir, overwrite=overwrite, protect=protect) as tmp:
        result.summary.to_csv(tmp / "summary.csv", index=False)
        result.volumes().to_csv(tmp / "volumes.csv", index=False)
        result.pk_frame().to_csv(tmp / "pk.csv", index=False)
        if result.kill_tables:  # layer study: one table per named kill link
            for name, table in result.kill_tables.items():
                table.to_frame().to_csv(tmp / f"kill_table_{name}.csv", index=False)
        elif result.kill_table is not None:
            result.kill_table.to_frame().to_csv(tmp / "kill_table.csv", index=False)
        if result.layer_values:
            result.layer_frame().to_csv(tmp / "layer.csv", index=False)
        result.animals.to_csv(tmp / "animals.csv", index=False)
        if result.study.expect:
            result.checks().to_csv(tmp / "check.csv", index=False)
        if plots:
            from apopsim.tissue import plots as tplots

            (tmp / "plots").mkdir()
            tplots.plot_study(result, tmp / "plots")
        (tmp / "run.json").write_text(strict_json(result.provenance) + "\n")
    return outdir


def check_studies(paths: list[str | os.PathLike[str]] | None = None, *, fast: bool = False,
                  cache: bool = True) -> list[Any]:
    """Run every study file in ``paths`` (files, or folders' ``*.yaml``; default
    ``scenarios/invivo/``) that has ``expect:`` entries and return their verdicts, one
    :class:`apopsim.check.Outcome` per entry (the rows of ``apopsim check``)."""
    from apopsim.check import scenario_paths
    from apopsim.library import scenarios_dir
    from apopsim.tissue.expect import check_study

    outcomes: list[Any] = []
    for f in scenario_paths(paths or [scenarios_dir() / "invivo"]):
        study = load_study(f)
        if study.expect:
            outcomes += check_study(run_study(study, fast=fast, cache=cache))
    return outcomes
