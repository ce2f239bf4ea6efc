"""Culture study files: growing, drifting, dying cultures under a dose grid, read as a screening
lab reads a plate (live cells, viability vs vehicle, GR values, apoptotic fraction) at several
times, with synergy scored on any of those readouts at every time.

A culture study file (YAML, strict: unknown fields are errors; units in the field names)::

    name: apg2575_hht_culture
    model: bcl2_core                   # built-in model or model file
    context: aml_mcl1_dependent        # cell context (models/contexts.yaml)
    parameters: {}                     # optional overrides (model units)
    drugs:                             # nM; every combination is a well (0 nM is always added)
      lisaftoclax: [0, 100]
      hht: [0, 50]
    duration_h: 72                     # treatment time after the warm-up
    regrowth_h: 0                      # optional: drug-free growth after a washout at duration_h
    readout_times_h: [24, 48, 72]      # h after treatment start (up to duration_h + regrowth_h)
    culture:                           # apopsim.culture.CultureOptions, units in the names;
                                       # fields not given here come from the context's
                                       # culture: block (contexts.yaml), then the defaults
      founders: 40                     # cells seeded per well (same founders in every well)
      warmup_h: 24                     # untreated growth before treatment (h)
      cycle_h: 24                      # mean intermitotic time (h)
      cycle_cv: 0.15
      noise_cv: 0.25                   # stationary CV of each varied rate's protein
      noise_cv_per: {}                 # rate name or glob pattern -> its own CV (first match)
      bursts_on_off_h: {}              # rate pattern -> [ON h, OFF h]: two-state promoter
      noise_of: protein                # or synthesis: noise_cv is the multiplier's CV
      noise_tau_h: 10                  # their correlation time (h)
      shared_fraction: 0.5
      burnin_h: 96                     # untreated drift to the noise's stationary state (h)
      step_h: 1                        # window (h): noise, division, batching
      arrest_variable: null            # model readout in [0, 1] that slows the cycle
    death: {variable: cleaved_PARP_fraction, threshold: 0.5}
    solver: {engine: numba}
    synergy:
      readouts: [viability, gr_value, apoptotic_fraction]
      methods: [bliss, hsa]
    seed: 0
    expect: []                         # claims checked by `apopsim check` (see below)

Washout and regrowth (``regrowth_h > 0``): the wells are treated from 0 h to ``duration_h``,
then every drug is removed and the culture grows drug-free for ``regrowth_h`` hours, still slowed
by ``culture.arrest_variable``, so whether arrested or senescent cells divide again is the
model's answer, not an assumption (a clonogenic-like readout). Readouts after the washout:
``live_cells``, ``viability`` (against the vehicle, which keeps growing: a well whose cells regrow
at the vehicle's rate keeps its viability, one whose cells stay arrested loses it),
``regrowth_gr`` (GR over the drug-free phase alone, each well from its own count at the washout:
1 = regrows as the vehicle, 0 = no net regrowth, < 0 = keeps dying), ``resumed_fraction`` (cells
alive at the washout that divided again) and ``apoptotic_fraction``. ``gr_value`` is Hafner's GR
over the treatment only (its reference is the vehicle's growth during treatment; over 0-t after
a washout it would blend treated and drug-free growth into one number that is neither), so it is
NaN after the washout, and a readout or synergy on it there is a validation error.

Library: :func:`load_culture`, :func:`run_culture` -> :class:`CultureResult`,
:func:`write_culture_report` (atomic, apopsim's output-folder policy), :func:`check_cultures`
(the ``expect:`` verdicts as ``apopsim check`` rows). Command: ``apopsim culture FILE -o DIR``
(:mod:`apopsim.culture_cli`).

``expect:`` kinds (the claim fields of :mod:`apopsim.scenario.expect`: ``claim``, ``source``,
``study``, ``role``, ``tolerance``, ``why_failing``; ``op``/``value``):

* ``readout`` -- ``{readout, condition, at_h}``: one of :data:`READOUTS` of one well;
* ``synergy`` -- ``{method, readout, at_h, dose}`` (``dose`` omitted: ``summary`` mean or max
  over the combination wells), percentage points of effect above the reference;
* ``compare`` -- ``left`` against each of ``right`` (readout or synergy measures), as a
  difference or ratio with a ``margin`` (e.g. Bliss at 72 h against Bliss at 24 h);
* ``not_modelled``.

Units: concentrations in nM, times in hours, counts in cells.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

from apopsim.culture import (
    Culture,
    CultureOptions,
    context_culture,
    grow_culture,
    growth_metrics,
)
from apopsim.errors import ApopsimError
from apopsim.scenario.expect import (
    Doses,
    NotModelledExpectation,
    _Assertion,
    _Claim,
    _CompareLayer,
    evaluate,
)
from apopsim.scenario.schema import DeathRule, DoseList, Parameter, Solver

Readout = Literal["live_cells", "dead_cells", "viability", "gr_value", "regrowth_gr",
                  "resumed_fraction", "apoptotic_fraction"]
READOUTS: tuple[str, ...] = get_args(Readout)
"""What a culture well reports at a time (see :data:`DEFINITIONS`)."""

SYNERGY_READOUTS = ("viability", "gr_value", "apoptotic_fraction")
"""Readouts synergy can be scored on (live-cell synergy is viability: live / vehicle live)."""

DEFINITIONS = {
    "time_h": ("h", "time after treatment start (the warm-up ends at 0 h)"),
    "phase": ("", "treatment (up to duration_h) or regrowth (drug-free, after the washout)"),
    "live_cells": ("cells", "live cells in the well"),
    "dead_cells": ("cells", "cells that died since treatment start (dead cells stay in the "
                   "well; no clearance)"),
    "live_fold_change": ("1", "live cells / live cells at treatment start"),
    "viability": ("fraction", "live cells / live cells of the vehicle well at the same time "
                  "(CellTiter-Glo-like, relative to vehicle)"),
    "gr_value": ("1", "growth-rate inhibition value, Hafner et al. 2016 (Nat Methods 13:521): "
                 "2^(log2(x/x0) / log2(x_vehicle/x0)) - 1, x0 = live cells at 0 h; 1 no effect, "
                 "0 cytostatic, < 0 cytotoxic; over the treatment only (NaN after a washout)"),
    "regrowth_gr": ("1", "GR value of the drug-free phase after a washout: "
                    "2^(log2(x/x_w) / log2(x_vehicle/x_vehicle,w)) - 1, x_w = live cells at the "
                    "washout (duration_h); 1 regrows as the vehicle, 0 no net regrowth, < 0 keeps "
                    "dying; NaN up to the washout"),
    "resumed_fraction": ("fraction", "cells alive at the washout that have divided again by "
                         "this time / cells alive at the washout (a colony needs a cell that "
                         "divides); NaN up to the washout"),
    "apoptotic_fraction": ("fraction", "dead cells / (live + dead cells) in the well"),
    "GR50_nM": ("nM", "dose at which the single-agent GR value falls to 0.5, log-linear "
                "interpolation between tested doses (inf: never reached; the lowest dose if "
                "already reached there, censored 'below')"),
    "GRmax": ("1", "GR value at the highest tested single-agent dose"),
    "synergy score": ("percentage points", "effect above the method's reference (positive = "
                      "synergy); viability and GR are scored as effect = 1 - value, the "
                      "apoptotic fraction as effect"),
}

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ------------------------------------------------------------------------------------ schema
class CultureSettings(BaseModel):
    """How cells are seeded, grow and drift (:class:`apopsim.culture.CultureOptions`)."""

    model_config = _STRICT

    founders: int = Field(40, ge=1, le=100_000, description="Cells seeded per well.")
    warmup_h: NonNegativeFloat = Field(24.0, le=10_000, description="Untreated growth before "
                                       "treatment (h).")
    cycle_h: PositiveFloat = Field(24.0, le=10_000, description="Mean intermitotic time (h).")
    cycle_cv: NonNegativeFloat = Field(0.15, le=3, description="CV of intermitotic times.")
    noise_cv: NonNegativeFloat = Field(0.25, le=3, description="Stationary CV of each varied "
                                       "rate's protein (noise_of: protein) or of its synthesis "
                                       "multiplier (noise_of: synthesis).")
    noise_cv_per: dict[str, Annotated[float, Field(ge=0, le=3)]] = Field(
        default_factory=dict, description="Per-rate CVs replacing noise_cv: rate name or glob "
        "pattern -> CV (the first matching pattern wins), e.g. {ksyn_FLIP: 0.5}.")
    bursts_on_off_h: dict[str, tuple[PositiveFloat, PositiveFloat]] = Field(
        default_factory=dict, description="Rates whose gene switches ON and OFF (two-state "
        "promoter) instead of drifting log-normally: rate name or glob pattern -> [mean ON h, "
        "mean OFF h] (first match), e.g. {ksyn_MCL1: [16, 24]}.")
    noise_of: Literal["protein", "synthesis"] = Field("protein", description="What noise_cv "
                                                      "is the CV of.")
    noise_tau_h: PositiveFloat = Field(10.0, le=10_000, description="Correlation time of the "
                                       "synthesis noise (h).")
    shared_fraction: float = Field(0.5, ge=0, le=1, description="Shared (extrinsic) fraction of "
                                   "the noise's log-variance.")
    burnin_h: NonNegativeFloat = Field(96.0, le=10_000, description="Untreated drift that draws "
                                       "founders from the noise's stationary state (h); the "
                                       "warm-up counts toward it.")
    step_h: PositiveFloat = Field(1.0, description="Window (h); at most cycle_h / 4.")
    molecules_per_nM: PositiveFloat = Field(1000.0, description="Molecules per nM in one cell.")
    vary: list[str] = Field(default_factory=lambda: ["ksyn_*"], min_length=1,
                            description="Parameters (glob patterns) carrying synthesis noise.")
    arrest_variable: str | None = Field(None, description="Model readout in [0, 1] that slows "
                                        "the cycle (e.g. G1_arrest).")
    max_cells: int = Field(200_000, ge=1, le=10_000_000,
                           description="Refuse to grow a well beyond this many cells.")
    growth_dilution: bool = Field(False, description="Dilute every concentration by volume "
                                  "growth (ln 2 / cycle time x (1 - arrest) per h), with "
                                  "synthesis raised so that untreated levels stay as "
                                  "documented; for models whose degradation is proteolysis "
                                  "only, the built-in models' long half-lives already include "
                                  "dilution (apopsim.culture.CultureOptions).")

    @model_validator(mode="after")
    def _consistent(self) -> CultureSettings:
        if self.step_h > self.cycle_h / 4:
            raise ValueError(f"step_h ({self.step_h:g} h) must be at most cycle_h / 4 "
                             f"({self.cycle_h / 4:g} h)")
        return self

    def options(self, context: str | None = None) -> CultureOptions:
        """The :class:`~apopsim.culture.CultureOptions` of these settings: the fields this
        file sets, over the ``culture:`` block of the cell ``context`` (``contexts.yaml``,
        e.g. HeLa's c-FLIP / MCL-1 fluctuations), over the defaults."""
        d = self.model_dump(exclude={"founders", "warmup_h"})
        d["vary"] = tuple(d["vary"])
        given = {k: v for k, v in d.items() if k in self.model_fields_set}
        block = context_culture(context)
        try:
            return CultureOptions(**{**d, **block, **given})
        except ValueError as e:
            raise ApopsimError(f"culture: with context {context!r}'s culture: block "
                               f"({', '.join(block)}): {e}") from None


class SynergySettings(BaseModel):
    """Which readouts synergy is scored on, and with which methods (two-drug grids only)."""

    model_config = _STRICT

    readouts: list[Literal["viability", "gr_value", "apoptotic_fraction"]] = Field(
        default_factory=lambda: list(SYNERGY_READOUTS), min_length=1)
    methods: list[Literal["bliss", "hsa", "loewe", "zip"]] = Field(
        default_factory=lambda: ["bliss", "hsa"], min_length=1,
        description="Loewe and ZIP need >= 3 non-zero doses per drug (NaN otherwise).")


class WellMeasure(BaseModel):
    """A readout of one well at one time (``condition``: drug -> nM; {} = vehicle)."""

    model_config = _STRICT

    readout: Readout = "viability"
    condition: Doses = Field(default_factory=dict)
    at_h: NonNegativeFloat

    def describe(self) -> str:
        """E.g. ``viability [hht 50] @72h``."""
        return f"{self.readout} [{_cond_text(self.condition)}] @{self.at_h:g}h"


class SynergyWellMeasure(BaseModel):
    """A synergy score (pp) on ``readout`` at ``at_h``: at one well (``dose``, both drugs) or
    ``summary`` over the combination wells."""

    model_config = _STRICT

    method: Literal["bliss", "hsa", "loewe", "zip"]
    readout: Literal["viability", "gr_value", "apoptotic_fraction"] = "viability"
    at_h: NonNegativeFloat
    dose: Doses | None = None
    summary: Literal["mean", "max"] = "mean"

    def describe(self) -> str:
        """E.g. ``bliss on viability [lisaftoclax 100 + hht 50] @72h``."""
        where = f"[{_cond_text(self.dose)}]" if self.dose else f"{self.summary} over grid"
        return f"{self.method} on {self.readout} {where} @{self.at_h:g}h"


CultureMeasure = SynergyWellMeasure | WellMeasure


class CultureReadout(_Claim, WellMeasure, _Assertion):
    """``kind: readout`` -- one well's readout at one time against ``op``/``value``."""

    kind: Literal["readout"]


class CultureSynergy(_Claim, SynergyWellMeasure, _Assertion):
    """``kind: synergy`` -- a synergy score (pp) against ``op``/``value``."""

    kind: Literal["synergy"]


class CultureCompare(_CompareLayer):
    """``kind: compare`` -- ``left`` against each of ``right`` (worst case reported):
    ``op '>'`` passes if ``left - right > margin`` for every right (``scale: ratio``:
    ``left / right > margin``)."""

    kind: Literal["compare"]
    left: CultureMeasure
    right: Annotated[list[CultureMeasure], Field(min_length=1)]


CultureExpectation = Annotated[CultureReadout | CultureSynergy | CultureCompare
                               | NotModelledExpectation, Field(discriminator="kind")]


class CultureStudy(BaseModel):
    """A culture study (see the module docstring)."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$",
                      description="Study name (default output folder results/<name>).")
    description: str = ""
    model: str = Field(description="Built-in model name or model file path.")
    context: str | None = Field(None, description="Cell context (models/contexts.yaml).")
    parameters: dict[str, Parameter] = Field(default_factory=dict,
                                             description="Parameter overrides (model units).")
    drugs: dict[str, DoseList] = Field(min_length=1, description="Drug -> doses (nM); every "
                                       "combination is a well; 0 nM is added to each list.")
    duration_h: PositiveFloat = Field(le=2000, description="Treatment time (h); with "
                                      "regrowth_h, the washout time.")
    regrowth_h: NonNegativeFloat = Field(0.0, le=2000, description="Drug-free growth after "
                                         "the washout at duration_h (h); 0: no washout.")
    readout_times_h: list[PositiveFloat] = Field(min_length=1, description="Readout times (h "
                                                 "after treatment start, up to duration_h + "
                                                 "regrowth_h).")
    culture: CultureSettings = Field(default_factory=CultureSettings)
    death: DeathRule = Field(default_factory=DeathRule)
    solver: Solver = Field(default_factory=Solver)
    synergy: SynergySettings = Field(default_factory=SynergySettings)
    seed: int = Field(0, ge=0)
    expect: list[CultureExpectation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> CultureStudy:
        step = self.culture.step_h
        for name in ("duration_h", "regrowth_h"):
            v = getattr(self, name)
            if abs(v / step - round(v / step)) > 1e-9:
                raise ValueError(f"{name} ({v:g} h) must be a whole number of culture.step_h "
                                 f"({step:g} h): the washout falls on a step")
        late = [t for t in self.readout_times_h if t > self.end_h]
        if late:
            raise ValueError(f"readout_times_h {late} lie beyond {self._end_text()}")
        for i, e in enumerate(self.expect):
            for loc, m in _measures(e):
                msg = self.measure_problem(m)
                if msg:
                    where = ".".join(str(x) for x in ("expect", i, *loc))
                    raise ValueError(f"{where}: {msg}")
        return self

    @property
    def end_h(self) -> float:
        """Last time of the run (h after treatment start): ``duration_h + regrowth_h``."""
        return self.duration_h + self.regrowth_h

    def _end_text(self) -> str:
        if self.regrowth_h:
            return (f"duration_h + regrowth_h ({self.duration_h:g} + {self.regrowth_h:g} = "
                    f"{self.end_h:g} h)")
        return f"duration_h ({self.duration_h:g} h)"

    def after_washout(self, t_h: float) -> bool:
        """Whether ``t_h`` (h) lies in the drug-free phase (after the washout)."""
        return self.regrowth_h > 0 and t_h > self.duration_h

    def doses(self) -> dict[str, list[float]]:
        """Each drug's doses (nM), sorted, 0 nM included."""
        return {d: sorted(set(v) | {0.0}) for d, v in self.drugs.items()}

    def conditions(self) -> list[dict[str, float]]:
        """Every well's doses (nM), the vehicle first."""
        lists = self.doses()
        return [dict(zip(lists, c)) for c in itertools.product(*lists.values())]

    def measure_problem(self, m: Any) -> str | None:
        """Why measure ``m`` cannot be read in this study (None if it can)."""
        lists = self.doses()
        doses = m.condition if isinstance(m, WellMeasure) else (m.dose or {})
        for d, v in doses.items():
            if d not in lists:
                return f"no drug {d!r} in this study (drugs: {', '.join(lists)})"
            if v not in lists[d]:
                return f"{d} {v:g} nM is not one of its doses {lists[d]}"
        if isinstance(m, SynergyWellMeasure):
            if len(lists) != 2:
                return "synergy needs a two-drug grid"
            if m.at_h not in self.readout_times_h:
                return f"synergy is scored at readout_times_h {self.readout_times_h}, not " \
                       f"{m.at_h:g} h"
            if m.readout not in self.synergy.readouts or m.method not in self.synergy.methods:
                return (f"{m.method} on {m.readout} is not scored: add it to synergy.readouts "
                        "and synergy.methods")
            if m.dose is not None and len(m.dose) != 2:
                return "'dose' names the well by both drugs"
        elif m.at_h > self.end_h:
            return f"at_h {m.at_h:g} lies beyond {self._end_text()}"
        return self._phase_problem(m.readout, m.at_h)

    def _phase_problem(self, readout: str, at_h: float) -> str | None:
        if readout == "gr_value" and self.after_washout(at_h):
            return (f"gr_value is defined over the treatment only (0-{self.duration_h:g} h); "
                    f"after the washout read regrowth_gr, viability or live_cells at "
                    f"{at_h:g} h")
        if readout in ("regrowth_gr", "resumed_fraction") and not self.after_washout(at_h):
            if not self.regrowth_h:
                return f"{readout} needs a washout phase (regrowth_h > 0)"
            return (f"{readout} is read after the washout at duration_h {self.duration_h:g} h, "
                    f"not at {at_h:g} h")
        return None

    _source: Path | None = None


def _measures(e: Any) -> list[tuple[tuple, Any]]:
    if isinstance(e, CultureCompare):
        return [(("left",), e.left)] + [(("right", j), m) for j, m in enumerate(e.right)]
    if isinstance(e, CultureReadout | CultureSynergy):
        return [((), e)]
    return []


def _cond_text(doses: dict[str, float] | None) -> str:
    parts = [f"{d} {v:g}" for d, v in (doses or {}).items() if v > 0]
    return " + ".join(parts) if parts else "vehicle"


def load_culture(source: str | os.PathLike[str] | dict[str, Any] | CultureStudy
                 ) -> CultureStudy:
    """Read and validate a culture study (file path, parsed dict or :class:`CultureStudy`).

    Raises :class:`~apopsim.errors.ScenarioError` naming ``file:line field`` per problem.
    """
    from apopsim.scenario.checks import read_validated

    if isinstance(source, CultureStudy):
        return source
    spec, _, _, src = read_validated(source, CultureStudy, "culture")
    spec._source = src
    return spec


# ----------------------------------------------------------------------------------- results
@dataclass
class CultureResult:
    """Everything a culture study produced (data; :func:`write_culture_report` writes it).

    ``wells``: condition name -> :class:`~apopsim.culture.Culture`; ``doses``: condition name ->
    drug -> nM; ``summary``: one row per well and readout time (columns in
    :data:`DEFINITIONS`); ``gr_metrics``: GR50 (nM) and GRmax per drug and time;
    ``synergy``: readout -> time (h) -> :class:`~apopsim.synergy.SynergyResult`;
    ``provenance``: the run.json record.
    """

    spec: CultureStudy
    wells: dict[str, Culture]
    doses: dict[str, dict[str, float]]
    summary: pd.DataFrame
    gr_metrics: pd.DataFrame
    synergy: dict[str, dict[float, Any]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def vehicle(self) -> Culture:
        """The vehicle well."""
        return self.wells[condition_name({d: 0.0 for d in self.spec.drugs})]

    def counts(self) -> pd.DataFrame:
        """Every window of every well: ``condition``, ``<drug>_nM``, ``time_h``, ``live``,
        ``dead``, ``divisions``."""
        frames = []
        for name, c in self.wells.items():
            f = c.counts.copy()
            for d, v in self.doses[name].items():
                f.insert(0, f"{d}_nM", v)
            f.insert(0, "condition", name)
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def synergy_table(self) -> pd.DataFrame:
        """Synergy per readout, time and method: ``readout, time_h, method, mean_pp,
        max_pp`` over the combination wells (NaN where a method does not apply)."""
        rows = []
        for readout, by_time in self.synergy.items():
            for t, res in by_time.items():
                w = res.wells
                combo = w[(w["conc1"] > 0) & (w["conc2"] > 0)]
                for m in self.spec.synergy.methods:
                    vals = combo[m].astype(float) if m in combo else pd.Series([math.nan])
                    rows.append({"readout": readout, "time_h": t, "method": m,
                                 "mean_pp": float(vals.mean()), "max_pp": float(vals.max())})
        return pd.DataFrame(rows, columns=["readout", "time_h", "method", "mean_pp", "max_pp"])

    def synergy_wells(self) -> pd.DataFrame:
        """Every well's synergy scores: ``readout, time_h`` then the synergy wells table."""
        frames = [res.wells.assign(readout=r, time_h=t)
                  for r, by_time in self.synergy.items() for t, res in by_time.items()]
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        return df[["readout", "time_h", *[c for c in df if c not in ("readout", "time_h")]]]

    def checks(self) -> pd.DataFrame:
        """The ``expect:`` verdicts as a DataFrame with ``apopsim check``'s columns."""
        from dataclasses import asdict

        return pd.DataFrame([asdict(o) for o in check_culture(self)])


def condition_name(doses: dict[str, float]) -> str:
    """``vehicle`` or e.g. ``lisaftoclax 100 nM + hht 50 nM`` (non-zero doses only)."""
    parts = [f"{d} {v:g} nM" for d, v in doses.items() if v > 0]
    return " + ".join(parts) if parts else "vehicle"


def _readouts(c: Culture, vehicle: Culture, t: float) -> dict[str, float]:
    """Every readout of :data:`READOUTS` (and ``live_fold_change``) of well ``c`` at ``t`` h."""
    r = c.at(t)
    live, x0 = float(r["live"]), float(c.at(0.0)["live"])
    m = growth_metrics(c, vehicle, t)
    return {"live_cells": int(r["live"]), "dead_cells": int(r["dead"]),
            "live_fold_change": live / x0 if x0 else math.nan,
            "viability": m["viability"], "gr_value": m["gr"], "regrowth_gr": m["regrowth_gr"],
            "resumed_fraction": m["resumed_fraction"],
            "apoptotic_fraction": m["apoptotic_fraction"]}


def _summary(spec: CultureStudy, wells: dict[str, Culture],
             doses: dict[str, dict[str, float]]) -> pd.DataFrame:
    vehicle = wells[condition_name({d: 0.0 for d in spec.drugs})]
    rows = [{"condition": name, **{f"{d}_nM": v for d, v in doses[name].items()},
             "time_h": float(t), "phase": "regrowth" if spec.after_washout(t) else "treatment",
             **_readouts(c, vehicle, t)}
            for name, c in wells.items() for t in spec.readout_times_h]
    return pd.DataFrame(rows)


def gr_metrics(spec: CultureStudy, summary: pd.DataFrame) -> pd.DataFrame:
    """GR50 (nM) and GRmax of each drug alone (other drugs at 0 nM) at every readout time.

    GR50: log-linear interpolation between the tested doses where the GR value first falls to
    0.5 (``inf`` if it never does, censored ``above``; the lowest non-zero dose if already there,
    censored ``below``); GRmax: the GR value at the highest tested dose (Hafner et al. 2016
    define both from a sigmoid fit; with few doses the tested values are reported as they are).
    Treatment times only: GR is not defined after a washout (see :func:`growth_metrics`).
    """
    rows = []
    drugs = list(spec.drugs)
    for d in drugs:
        others = [o for o in drugs if o != d]
        single = summary[np.logical_and.reduce([summary[f"{o}_nM"] == 0 for o in others])] \
            if others else summary
        for t in spec.readout_times_h:
            if spec.after_washout(t):
                continue
            s = single[(single["time_h"] == t) & (single[f"{d}_nM"] > 0)]
            s = s.sort_values(f"{d}_nM")
            if s.empty:
                continue
            dose, gr = s[f"{d}_nM"].to_numpy(float), s["gr_value"].to_numpy(float)
            gr50, cens = math.inf, "above"
            for i in range(len(dose)):
                if gr[i] <= 0.5:
                    if i == 0:
                        gr50, cens = float(dose[0]), "below"
                    else:
                        w = (gr[i - 1] - 0.5) / (gr[i - 1] - gr[i])
                        gr50 = float(10 ** (math.log10(dose[i - 1]) + w * (
                            math.log10(dose[i]) - math.log10(dose[i - 1]))))
                        cens = ""
                    break
            rows.append({"drug": d, "time_h": float(t), "n_doses": len(dose),
                         "GR50_nM": gr50, "GR50_censored": cens, "GRmax": float(gr[-1]),
                         "top_dose_nM": float(dose[-1])})
    return pd.DataFrame(rows, columns=["drug", "time_h", "n_doses", "GR50_nM", "GR50_censored",
                                       "GRmax", "top_dose_nM"])


def _synergy(spec: CultureStudy, summary: pd.DataFrame) -> dict[str, dict[float, Any]]:
    """Readout -> time -> SynergyResult of the two-drug grid (empty otherwise)."""
    import warnings

    from apopsim.synergy import analyze_time_course

    if len(spec.drugs) != 2:
        return {}
    d1, d2 = spec.drugs
    out: dict[str, dict[float, Any]] = {}
    for readout in spec.synergy.readouts:
        wells = {float(t): pd.DataFrame({
            "block_id": readout, "drug1": d1, "drug2": d2, "conc1": g[f"{d1}_nM"].to_numpy(),
            "conc2": g[f"{d2}_nM"].to_numpy(), "response": g[readout].to_numpy(float),
            "conc_unit": "nM"}) for t, g in summary.groupby("time_h")
            if not spec._phase_problem(readout, float(t))}  # no GR after a washout
        data_type = "inhibition" if readout == "apoptotic_fraction" else "viability"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[readout] = analyze_time_course(
                wells, data_type=data_type, scale="fraction",
                methods=",".join(spec.synergy.methods), seed=spec.seed, strict=False,
                source=f"culture {spec.name} ({readout})")
    return out


FAST_FOUNDERS = 8
"""Founders per well in fast mode (``--fast``, ``apopsim check --fast``, ``APOPSIM_FAST=1``)."""


def _contexts_sha256() -> str | None:
    """sha256 of the models directory's ``contexts.yaml`` (cell contexts and their culture
    blocks), None without one."""
    from apopsim._io import file_sha256
    from apopsim.library import models_dir

    path = models_dir() / "contexts.yaml"
    return file_sha256(path) if path.is_file() else None


def _fast() -> bool:
    return os.environ.get("APOPSIM_FAST", "") not in ("", "0", "false", "no")




def run_culture(source: str | os.PathLike[str] | dict[str, Any] | CultureStudy,
                out_dir: str | os.PathLike[str] | None = None, *,
                founders: int | None = None, fast: bool | None = None,
                progress: bool | None = False, overwrite: bool = False,
                plots: bool = True) -> CultureResult:
    """Grow every well of a culture study and read it out.

    Parameters
    ----------
    source
        Culture file, dict or :class:`CultureStudy`.
    out_dir
        If given, write the report there (:func:`write_culture_report`, atomic).
    founders
        Override ``culture.founders`` (cells per well).
    fast
        At most :data:`FAST_FOUNDERS` founders (default: ``APOPSIM_FAST``).
    progress
        A bar over the wells' windows on stderr (None: only on a terminal).
    """
    from apopsim import __version__
    from apopsim.library import load_model
    from apopsim.progress import progress_bar

    t0 = time.perf_counter()
    spec = load_culture(source)
    fast = _fast() if fast is None else fast
    n_founders = founders or spec.culture.founders
    if fast:
        n_founders = min(n_founders, FAST_FOUNDERS)
    model_path = spec.model
    if spec._source is not None and (spec._source.parent / spec.model).is_file():
        model_path = str(spec._source.parent / spec.model)
    model = load_model(model_path, spec.context)
    missing = [k for k in spec.parameters if k not in model.parameters]
    names = set(model.state) | set(model.assignment_rules)
    missing += [v for v in (spec.death.variable, spec.culture.arrest_variable)
                if v is not None and v not in names]
    if missing:
        raise ApopsimError(f"culture {spec.name!r}: model {model.name!r} has no "
                           f"{', '.join(missing)}")
    from apopsim.library import catalogue

    for c in spec.conditions():
        catalogue().resolve(model, c)  # unknown drugs fail before any simulation
    opts = spec.culture.options(spec.context)
    solver = spec.solver.options()
    conditions = spec.conditions()
    n_windows = (round(spec.culture.warmup_h / opts.step_h)
                 + round(spec.duration_h / opts.step_h) + round(spec.regrowth_h / opts.step_h))
    wells: dict[str, Culture] = {}
    doses: dict[str, dict[str, float]] = {}
    with progress_bar(len(conditions) * n_windows, progress, f"culture {spec.name}") as bar:
        bar.unit = "window"
        for cond in conditions:
            name = condition_name(cond)
            bar.set_postfix_str(name, refresh=False)
            wells[name] = grow_culture(
                model, cond, spec.duration_h, n_founders=n_founders,
                warmup_h=spec.culture.warmup_h, options=opts,
                death_variable=spec.death.variable, threshold=spec.death.threshold,
                direction=spec.death.direction, solver=solver, seed=spec.seed,
                parameters=dict(spec.parameters), progress=lambda t, n: bar.update(1),
                regrowth_h=spec.regrowth_h)
            doses[name] = cond
    t_sim = time.perf_counter() - t0
    summary = _summary(spec, wells, doses)
    grm = gr_metrics(spec, summary)
    syn = _synergy(spec, summary)
    work = {name: {k: round(float(v), 4) for k, v in c.work.items()}
            for name, c in wells.items()}
    prov = {
        "apopsim_version": __version__, "kind": "culture",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "culture_file": str(spec._source) if spec._source else None,
        "spec": spec.model_dump(mode="json"),
        "culture_options": asdict(opts),  # what ran: the file over the context over defaults
        "model": {"name": model.name, "source": str(model.source),
                  "file_sha256": model.source_hashes,
                  "contexts_yaml_sha256": _contexts_sha256()},
        "seed": spec.seed, "engine": solver.engine, "founders_per_well": n_founders,
        "fast": fast, "n_wells": len(wells),
        "duration_h": spec.duration_h, "regrowth_h": spec.regrowth_h,
        "washout_h": spec.duration_h if spec.regrowth_h else None,
        "n_cells_failed": int(sum(c.n_failed for c in wells.values())),
        "units": {"concentration": "nM", "time": "h", "counts": "cells"},
        "definitions": {k: {"unit": u, "definition": d} for k, (u, d) in DEFINITIONS.items()},
        "work": work,
        "live_cell_hours_total": round(sum(w["cell_hours"] for w in work.values()), 1),
        "timings_s": {"simulation": round(t_sim, 3),
                      "total": round(time.perf_counter() - t0, 3)},
        "python": sys.version.split()[0],
    }
    result = CultureResult(spec, wells, doses, summary, grm, syn, prov)
    if out_dir is not None:
        write_culture_report(result, out_dir, overwrite=overwrite, plots=plots)
    return result


# ------------------------------------------------------------------------------------ report
def write_culture_report(result: CultureResult, outdir: str | os.PathLike[str], *,
                         plots: bool = True, overwrite: bool = False) -> Path:
    """Write, atomically into ``outdir`` (see :mod:`apopsim._io` for the overwrite policy):
    ``summary.csv`` (one row per well and readout time), ``columns.csv`` (unit and definition
    of every column), ``counts.csv`` (every window), ``gr_metrics.csv``, ``synergy.csv`` and
    ``synergy_wells.csv`` (two-drug grids), ``check.csv`` (with ``expect:``), ``run.json`` and
    ``plots/`` (growth curves, synergy vs time, viability heat maps; the washout marked when
    the study has a drug-free regrowth phase)."""
    from apopsim._io import atomic_output_dir, strict_json

    spec = result.spec
    protect = [spec._source] if spec._source else []
    with atomic_output_dir(outdir, overwrite=overwrite, protect=protect) as tmp:
        result.summary.to_csv(tmp / "summary.csv", index=False)
        cols = [{"column": f"{d}_nM", "unit": "nM", "definition": f"{d} concentration"}
                for d in spec.drugs]
        cols += [{"column": k, "unit": u, "definition": d} for k, (u, d) in DEFINITIONS.items()]
        pd.DataFrame(cols).to_csv(tmp / "columns.csv", index=False)
        result.counts().to_csv(tmp / "counts.csv", index=False)
        result.gr_metrics.to_csv(tmp / "gr_metrics.csv", index=False)
        if result.synergy:
            result.synergy_table().to_csv(tmp / "synergy.csv", index=False)
            result.synergy_wells().to_csv(tmp / "synergy_wells.csv", index=False)
        if spec.expect:
            result.checks().to_csv(tmp / "check.csv", index=False)
        if plots:
            (tmp / "plots").mkdir()
            plot_culture(result, tmp / "plots")
        (tmp / "run.json").write_text(strict_json(result.provenance) + "\n", encoding="utf-8")
    return Path(outdir)


def plot_culture(result: CultureResult, folder: str | os.PathLike[str]) -> list[Path]:
    """``growth_curves.png`` (live and dead cells of every well against time),
    ``synergy_vs_time.png`` (grid-mean score per method, one line per readout) and
    ``viability_heatmap.png`` (viability of every well at every readout time)."""
    import matplotlib.pyplot as plt

    from apopsim.report.style import save, style

    folder = Path(folder)
    spec = result.spec
    out = []
    with style():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.6), layout="constrained")
        colours = plt.get_cmap("tab10" if len(result.wells) <= 11 else "tab20").colors
        for i, (name, c) in enumerate(result.wells.items()):
            kw = ({"color": "black", "ls": "--", "zorder": 5} if i == 0
                  else {"color": colours[(i - 1) % len(colours)]})
            ax1.plot(c.counts["time_h"], c.counts["live"], label=name, **kw)
            ax2.plot(c.counts["time_h"], c.counts["dead"], **kw)
        ax1.set_yscale("log", base=2)
        ax1.set_ylabel("live cells")
        ax2.set_ylabel("dead cells (since treatment)")
        for ax in (ax1, ax2):
            ax.set_xlabel("time after treatment start (h)")
            for t in spec.readout_times_h:
                ax.axvline(t, color="0.85", lw=0.8, zorder=0)
            _mark_washout(ax, spec)
        fig.legend(*ax1.get_legend_handles_labels(), loc="outside lower center",
                   ncol=min(len(result.wells), 3), frameon=False, fontsize="small")
        fig.suptitle(f"{spec.name}: growth per well")
        save(fig, folder / "growth_curves.png")
        out.append(folder / "growth_curves.png")
        table = result.synergy_table()
        if len(table):
            methods = list(spec.synergy.methods)
            fig, axes = plt.subplots(1, len(methods), figsize=(3.4 * len(methods) + 0.4, 3.2),
                                     squeeze=False, layout="constrained")
            for ax, m in zip(axes[0], methods):
                for readout, g in table[table["method"] == m].groupby("readout", sort=False):
                    ax.plot(g["time_h"], g["mean_pp"], marker="o", label=readout)
                if table.loc[table["method"] == m, "mean_pp"].isna().all():
                    ax.text(0.5, 0.5, "not applicable to this grid\n(needs >= 3 non-zero "
                            "doses per drug)", transform=ax.transAxes, ha="center",
                            va="center", fontsize="small", color="0.4")
                ax.axhline(0, color="0.6", lw=0.8)
                _mark_washout(ax, spec)
                ax.set_title(m)
                ax.set_xlabel("time after treatment start (h)")
            axes[0][0].set_ylabel("synergy, mean over combination wells (pp)")
            fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center",
                       ncol=3, frameon=False)
            fig.suptitle(f"{spec.name}: synergy over time")
            save(fig, folder / "synergy_vs_time.png")
            out.append(folder / "synergy_vs_time.png")
        if len(spec.drugs) == 2:
            d1, d2 = spec.drugs
            times = spec.readout_times_h
            fig, axes = plt.subplots(1, len(times), figsize=(3.0 * len(times) + 0.6, 3.0),
                                     squeeze=False, layout="constrained")
            s = result.summary
            for ax, t in zip(axes[0], times):
                grid = s[s["time_h"] == t].pivot_table(index=f"{d2}_nM", columns=f"{d1}_nM",
                                                       values="viability")
                im = ax.imshow(grid.to_numpy(float), origin="lower", vmin=0, vmax=1.2,
                               cmap="viridis", aspect="auto")
                ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
                ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
                for (i, j), v in np.ndenumerate(grid.to_numpy(float)):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize="small",
                            color="white" if v < 0.6 else "black")
                ax.set_xlabel(f"{d1} (nM)")
                ax.set_title(f"{t:g} h" + (f" ({t - spec.duration_h:g} h drug-free)"
                                           if spec.after_washout(t) else ""))
            axes[0][0].set_ylabel(f"{d2} (nM)")
            fig.colorbar(im, ax=axes[0].tolist(), label="viability vs vehicle")
            fig.suptitle(f"{spec.name}: viability")
            save(fig, folder / "viability_heatmap.png")
            out.append(folder / "viability_heatmap.png")
    return out


def _mark_washout(ax: Any, spec: CultureStudy) -> None:
    """Shade the drug-free phase and mark the washout (``duration_h``) on a time axis."""
    if spec.regrowth_h:
        ax.axvspan(spec.duration_h, spec.end_h, color="tab:blue", alpha=0.06, lw=0, zorder=0)
        ax.axvline(spec.duration_h, color="tab:blue", ls=":", lw=1.0, zorder=1)
        ax.text(spec.duration_h, 0.98, " washout", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize="small", color="tab:blue")


# ----------------------------------------------------------------------------------- expect
def measure(result: CultureResult, m: Any) -> float:
    """The value of a :class:`WellMeasure` or :class:`SynergyWellMeasure` in ``result``."""
    spec = result.spec
    if isinstance(m, SynergyWellMeasure):
        res = result.synergy[m.readout][float(m.at_h)]
        w = res.wells
        if m.dose is not None:
            d1, d2 = spec.drugs
            row = w[(w["conc1"] == m.dose[d1]) & (w["conc2"] == m.dose[d2])]
            return float(row[m.method].iloc[0]) if len(row) else math.nan
        combo = w[(w["conc1"] > 0) & (w["conc2"] > 0)][m.method].astype(float)
        return float(combo.mean() if m.summary == "mean" else combo.max())
    doses = {d: float(m.condition.get(d, 0.0)) for d in spec.drugs}
    c = result.wells[condition_name(doses)]
    return float(_readouts(c, result.vehicle, m.at_h)[m.readout])


def check_culture(result: CultureResult) -> list[Any]:
    """The study's ``expect:`` verdicts: one :class:`apopsim.check.Outcome` per entry."""
    from apopsim.check import Outcome

    s = result.spec
    return evaluate(s.expect, s.name, str(s._source) if s._source else "",
                    functools.partial(measure, result), CultureCompare, Outcome,
                    detail=f"{result.provenance.get('founders_per_well')} founders per well")


def check_cultures(paths: list[str | os.PathLike[str]] | None = None, *,
                   fast: bool = False) -> list[Any]:
    """Run every culture file in ``paths`` (files, or folders' ``*.yaml``; default
    ``scenarios/cultures/``) that has ``expect:`` entries; return their verdicts (one
    :class:`apopsim.check.Outcome` per entry, the rows of ``apopsim check``)."""
    from apopsim.check import scenario_paths
    from apopsim.library import scenarios_dir

    outcomes: list[Any] = []
    for f in scenario_paths(paths or [scenarios_dir() / "cultures"]):
        spec = load_culture(f)
        if spec.expect:
            outcomes += check_culture(run_culture(spec, fast=fast))
    return outcomes
