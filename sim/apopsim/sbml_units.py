"""SBML units: read a model's declared units and the factors that bring it to hours and nM.

apopsim's engine always runs in hours (time) and nM (species concentrations). A model that
declares other units (seconds, minutes, moles, molecules, litres, picolitres...) is converted when
it is loaded (:func:`apopsim.model.load_sbml_text`) by an exact change of variables:

* time: ``t_native = time_per_hour * t_h``; every rate (reaction rates, rate rules) is multiplied
  by ``time_per_hour`` and every use of ``time`` in the math becomes ``time_per_hour * time``;
* species: the state holds ``amount_native * nM_per_native[s]``, so amount / (compartment size in
  its native units) is the concentration in nM; every use of the species symbol in the math is
  divided by the same factor, so the model's own math still sees its native values.

Parameters and compartment sizes keep their native units (listed in ``parameter_units``): the
conversion never has to guess what a parameter's unit is, so it is exact for any rate law.

A model that declares no units is taken as already in hours and nM (``assumed`` is then true and
``describe()`` says so; the runner warns). SBML Level 1/2 models have built-in default units
(second, mole, litre), which are honoured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Avogadro's number (1/mol, exact SI 2019 value), for units in items (molecules).
AVOGADRO_SI = 6.02214076e23

_SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class ModelUnits:
    """Native units of a model and the conversion applied at load.

    Attributes
    ----------
    time
        The model's time unit (e.g. ``"second"``), or ``"hour (assumed)"``.
    substance, volume
        The model's default substance and volume units (e.g. ``"item"``, ``"litre"``), or
        ``"nmol (assumed)"`` / ``"litre (assumed)"``.
    time_per_hour
        Native time units per hour (3600 for seconds, 60 for minutes, 1 for hours). Times in
        hours times this factor give the model's own time.
    nM_per_native
        ``species -> factor``: nM per native concentration unit (amount unit / volume unit of its
        compartment; 1e9 for mol/l, 1e9/(N_A * 1e-12) for molecules per pl). For a species with
        ``hasOnlySubstanceUnits`` the state is still native amount times this factor.
    declared_time, declared_substance
        Whether the model declares these units (else hours / nM are assumed).
    parameter_units
        ``parameter -> unit`` as declared (parameters keep their native units).
    notes
        Assumptions made while reading the units, in words.
    """

    time: str = "hour (assumed)"
    substance: str = "nmol (assumed)"
    volume: str = "litre (assumed)"
    time_per_hour: float = 1.0
    nM_per_native: dict[str, float] = field(default_factory=dict)
    declared_time: bool = False
    declared_substance: bool = False
    parameter_units: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def assumed(self) -> bool:
        """True if time or substance units are not declared (taken as hours / nM)."""
        return not (self.declared_time and self.declared_substance)

    @property
    def converted(self) -> bool:
        """True if the model was rescaled at load (time or any species factor is not 1)."""
        return self.time_per_hour != 1.0 or any(f != 1.0 for f in self.nM_per_native.values())

    def describe(self) -> str:
        """One line for ``apopsim show`` and warnings: native units and the conversion."""
        if not self.declared_time and not self.declared_substance:
            return ("no units declared: time taken as hours and concentrations as nM "
                    "(no conversion)")
        parts = [f"time in {self.time} ({self.time_per_hour:g} per hour)",
                 f"substance in {self.substance}, volume in {self.volume}"]
        factors = sorted(set(self.nM_per_native.values()))
        if factors:
            parts.append("concentration x " + ", ".join(f"{f:.6g}" for f in factors) + " -> nM")
        text = "model units: " + "; ".join(parts) + "; converted to hours and nM at load"
        if self.assumed:
            text += " (undeclared units taken as hours / nM)"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for ``run.json``."""
        return {
            "time": self.time, "substance": self.substance, "volume": self.volume,
            "time_per_hour": self.time_per_hour, "nM_per_native": dict(self.nM_per_native),
            "declared_time": self.declared_time, "declared_substance": self.declared_substance,
            "assumed_hours_nM": self.assumed, "converted": self.converted,
            "parameter_units": dict(self.parameter_units), "notes": list(self.notes),
        }


# ---------------------------------------------------------------------- unit arithmetic
def _unit_dims(m: Any, unit_id: str) -> tuple[dict[str, float], float] | None:
    """``unit_id`` as (dimensions over s, mol, m, g, ...) and the factor to the SI-like base
    (second, mole, cubic metre); ``None`` if unknown."""
    import libsbml

    base = {"second": ({"s": 1}, 1.0), "mole": ({"mol": 1}, 1.0),
            "item": ({"mol": 1}, 1.0 / AVOGADRO_SI), "litre": ({"m": 3}, 1e-3),
            "liter": ({"m": 3}, 1e-3), "metre": ({"m": 1}, 1.0), "meter": ({"m": 1}, 1.0),
            "dimensionless": ({}, 1.0), "gram": ({"g": 1}, 1.0), "kilogram": ({"g": 1}, 1e3)}
    ud = m.getUnitDefinition(unit_id) if unit_id else None
    if ud is None:
        return base.get(unit_id)
    dims: dict[str, float] = {}
    factor = 1.0
    for i in range(ud.getNumUnits()):
        u = ud.getUnit(i)
        kind = libsbml.UnitKind_toString(u.getKind())
        if kind not in base:
            return None
        d, f = base[kind]
        e = u.getExponentAsDouble()
        factor *= (u.getMultiplier() * 10.0 ** u.getScale() * f) ** e
        for k, v in d.items():
            dims[k] = dims.get(k, 0.0) + v * e
    return {k: v for k, v in dims.items() if v != 0}, factor


def _named(m: Any, unit_id: str) -> str:
    import libsbml

    ud = m.getUnitDefinition(unit_id) if unit_id else None
    if ud is None:
        return unit_id
    return f"{unit_id} = {libsbml.UnitDefinition.printUnits(ud, True)}"


def read_units(m: Any, level: int) -> ModelUnits:
    """Read the units of the libsbml model ``m`` (SBML ``level``) and the factors to h and nM."""
    defaults = level < 3
    notes: list[str] = []

    def model_unit(attr: str, builtin: str) -> str:
        getter = getattr(m, f"get{attr}Units", None)
        uid = getter() if getter is not None else ""
        if not uid and defaults:
            # Level 1/2: built-in units, unless redefined under the reserved id
            reserved = {"Time": "time", "Substance": "substance", "Volume": "volume"}[attr]
            uid = reserved if m.getUnitDefinition(reserved) is not None else builtin
        return uid

    time_id = model_unit("Time", "second")
    time_per_hour = 1.0
    declared_time = False
    time_name = "hour (assumed)"
    if time_id:
        got = _unit_dims(m, time_id)
        if got is not None and got[0] == {"s": 1}:
            time_per_hour = _SECONDS_PER_HOUR / got[1]
            declared_time = True
            time_name = _named(m, time_id)
        else:
            notes.append(f"time unit {time_id!r} is not a time; taken as hours")

    sub_id = model_unit("Substance", "mole")
    vol_id = model_unit("Volume", "litre")

    def mol_factor(uid: str) -> float | None:
        got = _unit_dims(m, uid) if uid else None
        if got is None or got[0] != {"mol": 1}:
            return None
        return got[1]

    def litre_factor(uid: str) -> float | None:
        got = _unit_dims(m, uid) if uid else None
        if got is None or got[0] != {"m": 3}:
            return None
        return got[1] * 1e3

    declared_substance = mol_factor(sub_id) is not None
    if sub_id and not declared_substance:
        notes.append(f"substance unit {sub_id!r} is not an amount; concentrations kept as declared")
    factors: dict[str, float] = {}
    for i in range(m.getNumSpecies()):
        s = m.getSpecies(i)
        sid = s.getSubstanceUnits() or sub_id
        fs = mol_factor(sid)
        if fs is None and sid != sub_id and mol_factor(sub_id) is not None:
            notes.append(f"species {s.getId()!r}: substance unit {sid!r} is not an amount; "
                         f"the model's {sub_id!r} is used")
            fs = mol_factor(sub_id)
        comp = m.getCompartment(s.getCompartment())
        if fs is None:
            factors[s.getId()] = 1.0
            continue
        dims = comp.getSpatialDimensionsAsDouble() if comp is not None else 3.0
        cid = (comp.getUnits() if comp is not None else "") or (vol_id if dims == 3 else "")
        if dims != 3:
            factors[s.getId()] = fs * 1e9
            notes.append(f"species {s.getId()!r} lives in a {dims:g}-D compartment: amounts in "
                         f"nmol per native size unit")
            continue
        fv = litre_factor(cid)
        if fv is None:
            if not cid:
                notes.append("volume unit not declared: taken as litre")
            else:
                notes.append(f"volume unit {cid!r} is not a volume: taken as litre")
            fv = 1.0
        factors[s.getId()] = fs * 1e9 / fv
    param_units = {
        m.getParameter(i).getId(): _named(m, m.getParameter(i).getUnits())
        for i in range(m.getNumParameters()) if m.getParameter(i).getUnits()
    }
    return ModelUnits(
        time=time_name,
        substance=_named(m, sub_id) if declared_substance else "nmol (assumed)",
        volume=_named(m, vol_id) if litre_factor(vol_id) is not None else "litre (assumed)",
        time_per_hour=time_per_hour,
        nM_per_native=factors if declared_substance or any(f != 1 for f in factors.values())
        else {k: 1.0 for k in factors},
        declared_time=declared_time,
        declared_substance=declared_substance,
        parameter_units=param_units,
        notes=tuple(dict.fromkeys(notes)),
    )


#: Unit words accepted by :func:`declare_units`: SBML base kind and multiplier.
UNIT_WORDS: dict[str, tuple[str, float]] = {
    "second": ("second", 1.0), "s": ("second", 1.0), "minute": ("second", 60.0),
    "min": ("second", 60.0), "hour": ("second", 3600.0), "h": ("second", 3600.0),
    "day": ("second", 86400.0), "mole": ("mole", 1.0), "mol": ("mole", 1.0),
    "mmol": ("mole", 1e-3), "umol": ("mole", 1e-6), "nmol": ("mole", 1e-9),
    "pmol": ("mole", 1e-12), "item": ("item", 1.0), "molecule": ("item", 1.0),
    "molecules": ("item", 1.0), "litre": ("litre", 1.0), "liter": ("litre", 1.0),
    "l": ("litre", 1.0), "ml": ("litre", 1e-3), "ul": ("litre", 1e-6), "nl": ("litre", 1e-9),
    "pl": ("litre", 1e-12), "fl": ("litre", 1e-15),
}
_KIND_OF = {"time": "second", "substance": ("mole", "item"), "volume": "litre"}


def declare_units(doc: Any, units: dict[str, str], where: str) -> None:
    """Declare a model's default ``time``/``substance``/``volume`` units in the libsbml document
    ``doc`` (for models whose file states none or the wrong ones, e.g. molecule counts written
    as SBML Level 2 defaults). Values are ``"[multiplier] word"``, e.g. ``"second"``,
    ``"60 second"``, ``"item"``, ``"1.661e-12 litre"`` (one cell volume), words from
    :data:`UNIT_WORDS`."""
    import libsbml

    from apopsim.errors import ModelError

    m = doc.getModel()
    for key, text in units.items():
        if key not in _KIND_OF:
            raise ModelError(f"{where}: units: unknown key {key!r} (time, substance, volume)")
        parts = str(text).split()
        try:
            mult = float(parts[0]) if len(parts) == 2 else 1.0
        except ValueError:
            mult = math.nan
        word = parts[-1].lower() if parts else ""
        if word not in UNIT_WORDS or len(parts) > 2 or not math.isfinite(mult) or mult <= 0:
            raise ModelError(f"{where}: units: cannot read {key} unit {text!r} "
                             f"(e.g. 'second', '60 second', 'item', '1.661e-12 litre')")
        kind, factor = UNIT_WORDS[word]
        allowed = _KIND_OF[key]
        if kind not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            raise ModelError(f"{where}: units: {text!r} is not a {key} unit")
        uid = key if doc.getLevel() < 3 else f"apopsim_{key}"
        old = m.getUnitDefinition(uid)
        if old is not None:
            m.removeUnitDefinition(uid)
        ud = m.createUnitDefinition()
        ud.setId(uid)
        u = ud.createUnit()
        u.setKind(libsbml.UnitKind_forName(kind))
        u.setExponent(1)
        u.setScale(0)
        u.setMultiplier(mult * factor)
        if doc.getLevel() >= 3:
            {"time": m.setTimeUnits, "substance": m.setSubstanceUnits,
             "volume": m.setVolumeUnits}[key](uid)
            if key == "substance":
                m.setExtentUnits(uid)
