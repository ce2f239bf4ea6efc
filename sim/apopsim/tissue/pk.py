"""Plasma pharmacokinetics: one- and two-compartment models with first-order absorption.

Units are part of every name: doses in mg, body weight in kg, clearances in L/h (per kg in the
data file), volumes in L, rates in 1/h, time in h, plasma concentrations in mg/L or nM.

The model is linear, so it is solved exactly: the state (amounts in mg in the absorption depot,
the central and the peripheral compartment, and the amount eliminated) is propagated between
breakpoints (doses, infusion starts and ends, output times) with the matrix exponential of the
system (Van Loan's block form for the constant infusion input). Repeated doses superpose
exactly; the eliminated amount closes the mass balance.

Drug data (``models/pk.yaml``): molecular weight, CL, V1 (and Q, V2 for two compartments) per
species, and per absorption route the bioavailability F and the absorption rate ka. The free
concentration ``fu * C`` (nM) is what the cell model sees.

One free-fraction table (:func:`plasma_fraction_unbound`): the plasma unbound fraction comes
from the drug catalogue (``models/drugs.yaml`` ``exposure.fu_plasma``, the value the cell layer
uses for its serum shift, :func:`apopsim.library.unbound_fraction`) whenever the catalogue knows
it, for every species (assumption: mouse plasma binds like human plasma, as the catalogue has
human values only). ``fraction_unbound`` in ``models/pk.yaml`` is a fallback, read only for
drugs the catalogue has no value for (``value: null``) or does not list (e.g. an anti-PD-1
antibody); a pk.yaml value for a drug the catalogue knows is ignored (and named in
``DrugPK.sources``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

#: Routes with first-order uptake from a depot (bioavailability F, absorption rate ka).
ABSORBED_ROUTES = ("oral", "sc", "ip")
#: All routes.
ROUTES = (*ABSORBED_ROUTES, "iv_bolus", "infusion")


@dataclass(frozen=True)
class Absorption:
    """First-order absorption of one route: bioavailability ``F`` (0-1) and ``ka_per_h``."""

    F: float
    ka_per_h: float


@dataclass(frozen=True)
class DrugPK:
    """Plasma PK of one drug in one species (absolute units for one body weight).

    ``CL_L_per_h`` elimination clearance, ``V1_L`` central volume, ``Q_L_per_h`` and ``V2_L``
    the peripheral compartment (``Q_L_per_h = 0`` for one compartment), ``fraction_unbound``
    in plasma, ``molecular_weight_g_per_mol``; ``absorption`` per route in
    :data:`ABSORBED_ROUTES`.
    """

    drug: str
    species: str
    molecular_weight_g_per_mol: float
    fraction_unbound: float
    CL_L_per_h: float
    V1_L: float
    Q_L_per_h: float = 0.0
    V2_L: float = 1.0
    absorption: Mapping[str, Absorption] = field(default_factory=dict)
    body_weight_kg: float = 1.0
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("molecular_weight_g_per_mol", "CL_L_per_h", "V1_L", "V2_L",
                     "body_weight_kg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"PK of {self.drug}: {name} must be > 0 (got {v})")
        if not 0 < self.fraction_unbound <= 1:
            raise ValueError(f"PK of {self.drug}: fraction_unbound must be in (0, 1]")
        if self.Q_L_per_h < 0:
            raise ValueError(f"PK of {self.drug}: Q_L_per_h must be >= 0")
        for route, a in self.absorption.items():
            if route not in ABSORBED_ROUTES:
                raise ValueError(f"PK of {self.drug}: unknown absorption route {route!r}")
            if not (0 < a.F <= 1 and a.ka_per_h > 0):
                raise ValueError(f"PK of {self.drug}, route {route}: need 0 < F <= 1, ka > 0")

    @property
    def compartments(self) -> int:
        """1 or 2."""
        return 2 if self.Q_L_per_h > 0 else 1

    @property
    def k10_per_h(self) -> float:
        """Elimination rate constant CL/V1 (1/h)."""
        return self.CL_L_per_h / self.V1_L

    def nM_per_mg_per_L(self) -> float:
        """Conversion factor: 1 mg/L of this drug is ``1e6 / MW`` nM."""
        return 1e6 / self.molecular_weight_g_per_mol


@dataclass(frozen=True)
class DoseEvent:
    """One administration: ``amount_mg`` at ``time_h`` by ``route``; an infusion lasts
    ``duration_h``."""

    time_h: float
    amount_mg: float
    route: str
    duration_h: float = 0.0

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; one of {', '.join(ROUTES)}")
        if self.amount_mg < 0 or self.time_h < 0:
            raise ValueError("dose amount and time must be >= 0")
        if self.route == "infusion" and not self.duration_h > 0:
            raise ValueError("an infusion needs duration_h > 0")


@dataclass(frozen=True)
class PKProfile:
    """Plasma concentrations over time for one drug.

    ``times_h``; ``total_mg_per_L`` (central compartment); ``total_nM``; ``free_nM``
    (``fraction_unbound * total_nM``); ``amounts_mg`` (columns: depot, central, peripheral,
    eliminated).
    """

    drug: str
    times_h: np.ndarray
    total_mg_per_L: np.ndarray
    total_nM: np.ndarray
    free_nM: np.ndarray
    amounts_mg: np.ndarray

    def occupancy(self, kd_nM: float) -> np.ndarray:
        """Target occupancy ``free / (free + Kd)`` (0-1) at each time."""
        return occupancy(self.free_nM, kd_nM)


def occupancy(free_nM: np.ndarray | float, kd_nM: float) -> np.ndarray:
    """Fractional target occupancy ``C / (C + Kd)`` of a free concentration (nM)."""
    if not kd_nM > 0:
        raise ValueError("Kd must be > 0 nM")
    c = np.asarray(free_nM, dtype=float)
    return c / (c + kd_nM)


# ------------------------------------------------------------------------------- the system
def _system_matrix(pk: DrugPK, ka_per_h: float) -> np.ndarray:
    """Rate matrix A (1/h) of amounts [depot, central, peripheral, eliminated]."""
    k10 = pk.k10_per_h
    k12 = pk.Q_L_per_h / pk.V1_L
    k21 = pk.Q_L_per_h / pk.V2_L
    return np.array([
        [-ka_per_h, 0.0, 0.0, 0.0],
        [ka_per_h, -(k10 + k12), k21, 0.0],
        [0.0, k12, -k21, 0.0],
        [0.0, k10, 0.0, 0.0],
    ])


class _Propagator:
    """Exact step of dx/dt = A x + b over dt: x -> Phi x + Gamma b (cached per dt)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self._cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def step(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        key = round(dt, 12)
        hit = self._cache.get(key)
        if hit is None:
            from scipy.linalg import expm

            n = self.a.shape[0]
            block = np.zeros((2 * n, 2 * n))
            block[:n, :n] = self.a
            block[:n, n:] = np.eye(n)
            e = expm(block * dt)
            hit = (e[:n, :n], e[:n, n:])
            if len(self._cache) < 4096:
                self._cache[key] = hit
        return hit


def simulate_pk(pk: DrugPK, doses: Sequence[DoseEvent], times_h: Iterable[float]) -> PKProfile:
    """Plasma concentrations of ``pk`` under ``doses`` at ``times_h`` (h, non-decreasing).

    All absorbed doses of one call must use one route (one depot with one ka); a dose at time t
    is in the body from t on (the value at t includes it).
    """
    times = np.asarray(list(times_h), dtype=float)
    if times.size == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times_h must be a non-empty, non-decreasing list of hours >= 0")
    absorbed = {d.route for d in doses if d.route in ABSORBED_ROUTES}
    if len(absorbed) > 1:
        raise ValueError(f"{pk.drug}: one absorbed route per profile (got {sorted(absorbed)})")
    ka, f = 1.0, 1.0
    if absorbed:
        route = absorbed.pop()
        if route not in pk.absorption:
            raise ValueError(f"no {route} absorption data for {pk.drug} in {pk.species} "
                             f"(routes with data: {', '.join(pk.absorption) or 'none'})")
        ka, f = pk.absorption[route].ka_per_h, pk.absorption[route].F
    prop = _Propagator(_system_matrix(pk, ka))
    # events: (time, kind, value); kind 0 = bolus into a compartment, 1 = infusion rate change
    events: list[tuple[float, int, int, float]] = []
    for d in doses:
        if d.route in ABSORBED_ROUTES:
            events.append((d.time_h, 0, 0, f * d.amount_mg))
        elif d.route == "iv_bolus":
            events.append((d.time_h, 0, 1, d.amount_mg))
        else:
            rate = d.amount_mg / d.duration_h
            events += [(d.time_h, 1, 1, rate), (d.time_h + d.duration_h, 1, 1, -rate)]
    events.sort()
    x = np.zeros(4)
    b = np.zeros(4)
    out = np.empty((times.size, 4))
    t = 0.0
    ei = 0
    for i, tout in enumerate(times):
        while ei < len(events) and events[ei][0] <= tout:
            te, kind, comp, value = events[ei]
            if te > t:
                phi, gam = prop.step(te - t)
                x = phi @ x + gam @ b
                t = te
            if kind == 0:
                x[comp] += value
            else:
                b[comp] += value
                if abs(b[comp]) < 1e-12 * max(1.0, abs(value)):
                    b[comp] = 0.0
            ei += 1
        if tout > t:
            phi, gam = prop.step(tout - t)
            x = phi @ x + gam @ b
            t = tout
        out[i] = x
    total = out[:, 1] / pk.V1_L
    total_nM = total * pk.nM_per_mg_per_L()
    return PKProfile(pk.drug, times, total, total_nM, pk.fraction_unbound * total_nM, out)


def effect_site_nM(times_h: np.ndarray, plasma_nM: np.ndarray, ke0_per_h: float | None
                   ) -> np.ndarray:
    """Effect-compartment concentration (nM) behind a plasma profile: ``dCe/dt = ke0 (Cp -
    Ce)``, ``Ce(0) = 0`` (Sheiner et al., Clin Pharmacol Ther 1979), solved exactly for the
    plasma concentration linear between ``times_h`` (h). ``ke0_per_h`` None or inf: no delay
    (``Ce = Cp``)."""
    cp = np.asarray(plasma_nM, dtype=float)
    if ke0_per_h is None or math.isinf(ke0_per_h):
        return cp.copy()
    if not ke0_per_h > 0:
        raise ValueError("ke0_per_h must be > 0 (1/h)")
    t = np.asarray(times_h, dtype=float)
    ce = np.empty_like(cp)
    ce[0] = 0.0 if t[0] == 0 else cp[0]
    for i in range(1, t.size):
        dt = t[i] - t[i - 1]
        if dt <= 0:
            ce[i] = ce[i - 1]
            continue
        e = math.exp(-ke0_per_h * dt)
        slope = (cp[i] - cp[i - 1]) / dt
        ce[i] = (ce[i - 1] * e + cp[i - 1] * (1 - e)
                 + slope * (dt - (1 - e) / ke0_per_h))
    return ce


# ------------------------------------------------------------------------------- the data file
def _value(entry: Any, where: str) -> float:
    if isinstance(entry, Mapping) and "value" in entry:
        if not entry.get("source"):
            raise ValueError(f"models/pk.yaml: {where} has no source")
        return float(entry["value"])
    raise ValueError(f"models/pk.yaml: {where} must be {{value: ..., source: ...}}")


def _source(entry: Any) -> str:
    return str(entry.get("source", "")) if isinstance(entry, Mapping) else ""


def pk_file() -> Path:
    """Path of the PK data file (``models/pk.yaml`` among the built-in models)."""
    from apopsim.library import models_dir

    return models_dir() / "pk.yaml"


@lru_cache(maxsize=4)
def _read(path: str, mtime: float) -> dict[str, Any]:
    from apopsim.scenario.yaml_io import _read_yaml

    data, _ = _read_yaml(Path(path), path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with 'species' and 'drugs'")
    return data


def pk_data(path: str | Path | None = None) -> dict[str, Any]:
    """The parsed PK data file (default :func:`pk_file`)."""
    p = Path(path) if path is not None else pk_file()
    return _read(str(p), p.stat().st_mtime)


def body_weight_kg(species: str, path: str | Path | None = None) -> float:
    """Default body weight (kg) of ``species`` from the PK data file."""
    sp = pk_data(path).get("species", {})
    if species not in sp:
        raise ValueError(f"unknown species {species!r}; known: {', '.join(sp)}")
    return _value(sp[species]["body_weight_kg"], f"species.{species}.body_weight_kg")


def drug_pk(drug: str, species: str, body_weight: float | None = None,
            path: str | Path | None = None) -> DrugPK:
    """The PK of ``drug`` (catalogue id or alias) in ``species``, scaled to ``body_weight`` kg
    (default: the species' body weight in the data file)."""
    from apopsim.library import catalogue

    data = pk_data(path)
    d = catalogue().get(drug)
    key = d.id if d is not None and d.id in data.get("drugs", {}) else drug
    if key not in data.get("drugs", {}):
        raise ValueError(f"no PK data for drug {drug!r}; drugs with data: "
                         f"{', '.join(data.get('drugs', {}))}")
    entry = data["drugs"][key]
    if species not in entry.get("species", {}):
        raise ValueError(f"no PK data for {key} in {species!r}; species with data: "
                         f"{', '.join(entry.get('species', {}))}")
    sp = entry["species"][species]
    bw = float(body_weight) if body_weight is not None else body_weight_kg(species, path)
    w = f"drugs.{key}.species.{species}"
    absorption = {
        route: Absorption(_value(a["F"], f"{w}.absorption.{route}.F"),
                          _value(a["ka_per_h"], f"{w}.absorption.{route}.ka_per_h"))
        for route, a in (sp.get("absorption") or {}).items()
    }
    two = "Q_L_per_h_per_kg" in sp
    sources = {k: _source(v) for k, v in sp.items() if k != "absorption"}
    fu, sources["fraction_unbound"] = plasma_fraction_unbound(key, species, path)
    sources["molecular_weight_g_per_mol"] = _source(entry["molecular_weight_g_per_mol"])
    return DrugPK(
        drug=key,
        species=species,
        molecular_weight_g_per_mol=_value(entry["molecular_weight_g_per_mol"],
                                          f"drugs.{key}.molecular_weight_g_per_mol"),
        fraction_unbound=fu,
        CL_L_per_h=_value(sp["CL_L_per_h_per_kg"], f"{w}.CL_L_per_h_per_kg") * bw,
        V1_L=_value(sp["V1_L_per_kg"], f"{w}.V1_L_per_kg") * bw,
        Q_L_per_h=_value(sp["Q_L_per_h_per_kg"], f"{w}.Q_L_per_h_per_kg") * bw if two else 0.0,
        V2_L=_value(sp["V2_L_per_kg"], f"{w}.V2_L_per_kg") * bw if two else 1.0,
        absorption=absorption,
        body_weight_kg=bw,
        sources=sources,
    )


def plasma_fraction_unbound(drug: str, species: str, path: str | Path | None = None
                            ) -> tuple[float, str]:
    """The plasma unbound fraction of ``drug`` in ``species`` (dimensionless) and its source.

    The rule (one table): the catalogue's ``exposure.fu_plasma`` (``models/drugs.yaml``, what
    the cell layer uses) wins whenever it is known; ``fraction_unbound`` in ``models/pk.yaml``
    is the fallback for drugs the catalogue has no value for. Raises ``ValueError`` if neither
    gives one.
    """
    from apopsim.library import catalogue

    d = catalogue().get(drug)
    if d is not None and d.fu_plasma is not None:
        return float(d.fu_plasma), (f"models/drugs.yaml {d.id} exposure.fu_plasma (human "
                                    "plasma; assumption: same in every species)")
    data = pk_data(path)
    entry = data.get("drugs", {}).get(d.id if d is not None else drug, {})
    sp = entry.get("species", {}).get(species, {})
    where = f"drugs.{drug}.species.{species}.fraction_unbound"
    if "fraction_unbound" not in sp:
        raise ValueError(f"no plasma unbound fraction for {drug!r}: models/drugs.yaml has none "
                         f"and models/pk.yaml has no {where}")
    return _value(sp["fraction_unbound"], where), (
        "models/pk.yaml fallback (drugs.yaml has no fu_plasma): " + _source(sp["fraction_unbound"]))


def potency_nM(drug: str, target: str | None = None) -> float:
    """The drug's potency from the drug catalogue, in nM: a ``Kd_*`` or ``koff_*/kon_*`` pair
    (binding), an ``IC50_*`` (rate inhibition) or an ``EC50_*`` (half-maximal effect, e.g.
    carboplatin's DNA-damage signal), at ``target`` (the parameter-name suffix, e.g.
    ``FLT3``) or else at the first target listed. Used for occupancy. A drug the catalogue does
    not list (a biologic acting above the cell, e.g. an anti-PD-1 antibody) takes
    ``target_Kd_nM`` from ``models/pk.yaml``."""
    from apopsim.library import catalogue

    d = catalogue().get(drug)
    if d is None:
        entry = pk_data().get("drugs", {}).get(drug, {})
        if "target_Kd_nM" in entry:
            return _value(entry["target_Kd_nM"], f"drugs.{drug}.target_Kd_nM")
        raise ValueError(f"unknown drug {drug!r} (not in the catalogue, and models/pk.yaml "
                         "gives no target_Kd_nM)")
    params = {k: float(v["value"]) for k, v in d.parameters.items()
              if target is None or k.lower().endswith("_" + target.lower())}
    for name, v in params.items():
        if name.startswith("koff_") and name.replace("koff_", "kon_", 1) in params:
            return v / params[name.replace("koff_", "kon_", 1)]
        if name.startswith(("Kd_", "IC50_", "EC50_")):
            return v
    at = f" at {target}" if target else ""
    raise ValueError(f"the catalogue gives no Kd or IC50 for {drug!r}{at}")
