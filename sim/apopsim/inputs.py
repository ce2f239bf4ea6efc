"""Scenario inputs beyond the drug catalogue: any model parameter or species dosed by name.

A scenario's ``inputs:`` name model parameters and species; their values join the drugs' doses
in the conditions (grid or paired design), so a parameter sweep yields the same tables and plots
as a dose series. This module resolves each input against the model (:func:`plan_inputs`) and
applies it:

* a **parameter** input (model units) takes its value from treatment start (``mode: treat``, as
  a drug does; the cell is pre-equilibrated with the model's own value) or is the cell's own
  value (``mode: cell``; the cell is pre-equilibrated once per value);
* a **species** input (nM) is applied after pre-equilibration, at treatment start: added to the
  amount the cell has (``mode: add``) or held at the value for the whole run (``mode: clamp``;
  :func:`clamp_model` gives the species a zero rate of change, the state vector is unchanged).
  Scheduled, it acts during the run (:func:`species_schedule`): a bolus (``add``), a ``set``,
  a ``washout`` (to 0 nM), and for a clamp its start (``add``, ``set``) and end (``release``,
  ``washout``); such a run goes through the event integrator (:func:`apopsim.cell.
  simulate_events`), which locates every change by root finding.

In a population, a parameter input that the population also varies (e.g. ``ksyn_MCL1`` under
the default ``ksyn_*``) moves the centre of the variation: each cell keeps its relative
deviation (:func:`scale_varied`). A scheduled change sets one value for every cell.

Units: drugs and species in nM; parameters in the model's units (named by the input's ``unit``,
or by the model when it declares them).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from apopsim.errors import ScenarioError
from apopsim.model import Model

if TYPE_CHECKING:
    from apopsim.scenario import Scenario

__all__ = ["InputPlan", "apply_species", "clamp_model", "factor_units", "input_problems",
           "parameter_unit", "plan_inputs", "scale_varied", "species_schedule"]

PARAMETER_MODES = ("treat", "cell")
SPECIES_MODES = ("add", "clamp")


def parameter_unit(model: Model, name: str) -> str | None:
    """The unit of parameter ``name`` if the model declares it, else None.

    Hook for models that carry their native units (a ``parameter_units`` mapping on
    :class:`~apopsim.model.Model`); apopsim's own models state units only in comments.
    """
    units = getattr(model, "parameter_units", None) or {}
    unit = units.get(name)
    return str(unit) if unit else None


def _kind(model: Model, name: str) -> str | None:
    if name in model.parameters:
        return "parameter"
    if name in model.state:
        return "species"
    return None


def _near(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=3)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def input_problems(scenario: Scenario, model: Model) -> list[tuple[tuple, str]]:
    """``(field path, message)`` for every input or schedule entry the model cannot take."""
    from apopsim.scenario.schema import MAX_NM

    problems: list[tuple[tuple, str]] = []
    kinds: dict[str, str] = {}
    for name, spec in scenario.inputs.items():
        loc = ("inputs", name)
        kind = _kind(model, name)
        if name in model.drug_inputs:
            problems.append((loc, f"{name!r} is a drug input of model {model.name!r}; list it "
                             "under 'drugs' (it is 0 nM during pre-equilibration there)"))
            continue
        if kind is None:
            what = ("is computed by an assignment rule; dose a parameter it depends on"
                    if name in model.assignment_rules else
                    "is a boundary species (a constant); dose it as a parameter-like override "
                    "under overrides" if name in model.boundary_species else
                    "is neither a parameter nor a species of the model"
                    + _near(name, [*model.parameters, *model.state]))
            problems.append((loc, f"{name!r} {what}"))
            continue
        want = spec.kind or ("species" if spec.mode in SPECIES_MODES else
                             "parameter" if spec.mode in PARAMETER_MODES else kind)
        if want != kind:
            problems.append(((*loc, "kind") if spec.kind else (*loc, "mode"),
                             f"{name!r} is a {kind} of model {model.name!r}, not a {want}"))
            continue
        if kind == "species":
            high = [v for v in spec.values if v > MAX_NM]  # type: ignore[union-attr]
            if high:
                problems.append(((*loc, "values"), f"species values above {MAX_NM:g} nM: {high}"))
            if spec.unit not in (None, "nM"):
                problems.append(((*loc, "unit"), "species inputs are concentrations in nM"))
        kinds[name] = kind
    for i, e in enumerate(scenario.schedule):
        if e.input is None and e.action == "release":
            problems.append((("schedule", i, "action"), "'release' ends the clamp of a species "
                             f"input; {e.drug!r} is a drug"))
        if e.input is None:
            if e.drug in scenario.inputs:
                problems.append((("schedule", i, "drug"), f"{e.drug!r} is listed under "
                                 f"'inputs': schedule it with 'input: {e.drug}'"))
            continue
        loc = ("schedule", i, "input")
        if e.input not in scenario.inputs:
            problems.append((loc, f"input {e.input!r} is scheduled but not listed under 'inputs' "
                             f"({', '.join(scenario.inputs) or 'none'})"))
            continue
        spec = scenario.inputs[e.input]
        if kinds.get(e.input) == "species":
            if e.action == "release" and (spec.mode or "add") != "clamp":
                problems.append((("schedule", i, "action"), f"'release' ends a clamp, but "
                                 f"species input {e.input!r} has mode {spec.mode or 'add'!r}"))
        elif e.action == "release":
            problems.append((("schedule", i, "action"), f"'release' ends the clamp of a "
                             f"species input; {e.input!r} is a parameter"))
        elif spec.mode == "cell":
            problems.append((loc, f"input {e.input!r} has mode 'cell' (the cell's own value); "
                             "only 'treat' inputs can be scheduled"))
    return problems


@dataclass(frozen=True)
class InputPlan:
    """The scenario's inputs resolved against its model.

    Attributes
    ----------
    kinds
        Input -> ``"parameter"`` or ``"species"``.
    modes
        Input -> ``"treat"``, ``"cell"``, ``"add"`` or ``"clamp"``.
    units
        Every factor (drugs, then inputs) -> its unit (``"nM"`` for drugs and species), or None
        where the model does not say (parameters in the model's units).
    treat_model
        The model used for treatment: the scenario's model, with clamped species held.
    """

    kinds: dict[str, str]
    modes: dict[str, str]
    units: dict[str, str | None]
    treat_model: Model

    def cell_values(self, condition: dict[str, float]) -> dict[str, float]:
        """The ``cell``-mode parameter values of a condition (used for pre-equilibration)."""
        return {k: float(v) for k, v in condition.items() if self.modes.get(k) == "cell"}

    def species_values(self, condition: dict[str, float]) -> dict[str, tuple[str, float]]:
        """Species input -> (mode, nM) for a condition."""
        return {k: (self.modes[k], float(v)) for k, v in condition.items()
                if self.kinds.get(k) == "species"}

    def split(self, model: Model, values: dict[str, float | None]
              ) -> tuple[dict[str, float], dict[str, float]]:
        """Drug doses (name -> nM) and parameter values (name -> model units) of ``values``;
        species inputs are left out (see :func:`apply_species`), and ``None`` (a parameter input
        off) is the model's own value."""
        drugs, params = {}, {}
        for k, v in values.items():
            kind = self.kinds.get(k)
            if kind == "parameter":
                params[k] = model.parameters[k] if v is None else float(v)
            elif kind is None:
                drugs[k] = 0.0 if v is None else float(v)
        return drugs, params


def plan_inputs(scenario: Scenario, model: Model) -> InputPlan:
    """Resolve the scenario's inputs against ``model`` (context and overrides applied).

    Raises :class:`ScenarioError` naming the field for an input the model cannot take.
    """
    problems = input_problems(scenario, model)
    if problems:
        from apopsim.scenario.yaml_io import _fmt_loc

        located = [(_fmt_loc(loc), msg) for loc, msg in problems]
        raise ScenarioError("invalid inputs: " + "; ".join(f"{w}: {m}" for w, m in located),
                            located)
    kinds = {k: _kind(model, k) or "" for k in scenario.inputs}
    modes = {k: spec.mode or ("add" if kinds[k] == "species" else "treat")
             for k, spec in scenario.inputs.items()}
    units: dict[str, str | None] = {k: "nM" for k in scenario.drugs}
    for k, spec in scenario.inputs.items():
        units[k] = "nM" if kinds[k] == "species" else (spec.unit or parameter_unit(model, k))
    clamped = [k for k in scenario.inputs if modes[k] == "clamp"]
    return InputPlan(kinds, modes, units, clamp_model(model, clamped) if clamped else model)


def factor_units(scenario: Scenario, model: Model) -> dict[str, str | None]:
    """Every factor of ``scenario`` (drugs, then inputs) -> its unit, None if unknown (a
    parameter in the model's units). Inputs the model cannot take get None."""
    units: dict[str, str | None] = {k: "nM" for k in scenario.drugs}
    for k, spec in scenario.inputs.items():
        units[k] = "nM" if _kind(model, k) == "species" else (spec.unit or
                                                               parameter_unit(model, k))
    return units


def clamp_model(model: Model, species: list[str] | tuple[str, ...]) -> Model:
    """``model`` with each of ``species`` held constant: its rate of change is zero (a rate rule
    ``d/dt = 0``), while reactions still read its value. The state vector is unchanged, so a
    state pre-equilibrated with ``model`` is a valid start; set the held value in it."""
    rules = dict(model.rate_rules)
    for s in species:
        if s not in model.state:
            raise ScenarioError(f"cannot clamp {s!r}: not a state variable of {model.name!r}",
                                [(s, "not a state variable")])
        rules[s] = sp.Integer(0)
    return replace(model, rate_rules=rules)


def apply_species(model: Model, y0: np.ndarray, species: dict[str, tuple[str, float]],
                  param_names: list[str] | tuple[str, ...] = (),
                  param_values: np.ndarray | None = None) -> np.ndarray:
    """A copy of the states ``y0`` (n_cells, n_state; amounts) with species inputs applied:
    ``add`` adds the concentration (nM), ``clamp`` sets it; amounts are concentration times the
    species' compartment size (per cell when the size varies, ``param_values`` columns named by
    ``param_names``)."""
    y = np.array(y0, dtype=float, copy=True)
    for name, (mode, conc) in species.items():
        i = model.state.index(name)
        comp = model.species_compartment.get(name)
        if comp is None or name in model.only_substance:
            size: Any = 1.0
        elif comp in param_names and param_values is not None:
            size = param_values[:, list(param_names).index(comp)]
        else:
            size = model.parameters[comp]
        amount = conc * size
        y[:, i] = y[:, i] + amount if mode == "add" else amount
    return y


def scale_varied(model: Model, param_names: list[str] | tuple[str, ...], param_values: np.ndarray,
                 values: dict[str, float]) -> tuple[np.ndarray, dict[str, float]]:
    """Apply parameter input ``values`` to a population's per-cell parameters.

    A parameter the population varies keeps each cell's deviation: its column of
    ``param_values`` (n_cells, len(param_names)) is scaled by ``value / model value``, so the
    cells vary around the input's value. Returns the (copied if changed) per-cell values and
    the other inputs, which apply to every cell alike.
    """
    out, rest = param_values, {}
    for k, v in values.items():
        base = model.parameters.get(k, 0.0)
        if k in param_names and base != 0:
            if out is param_values:
                out = param_values.copy()
            col = list(param_names).index(k)
            out[:, col] = param_values[:, col] * (v / base)
        else:
            rest[k] = v
    return out, rest


def species_schedule(scenario: Scenario, model: Model, condition: dict[str, float]
                     ) -> tuple[dict[str, tuple[str, float]],
                                list[tuple[float, dict[str, tuple[str, float | None]]]]]:
    """The species inputs of one condition over time: ``(start, changes)``.

    ``start``: species -> (mode, nM) applied at treatment start (a species with a scheduled
    ``add`` is absent until then, as a drug is). ``changes``: ``(time_h, {species: (action,
    nM)})`` in time order, actions as :data:`apopsim.cell.SpeciesAction`: for ``mode: add``,
    ``add`` gives a bolus of the condition's value, ``set`` sets the concentration, ``washout``
    sets it to 0 nM; for ``mode: clamp``, ``add`` and ``set`` clamp at the condition's (or the
    given) value, ``washout`` ends the clamp at 0 nM and ``release`` ends it at the value held.
    """
    species = {k for k in scenario.inputs if _kind(model, k) == "species"}
    modes = {k: scenario.inputs[k].mode or "add" for k in species}
    added = {e.input for e in scenario.schedule if e.input in species and e.action == "add"}
    start = {k: (modes[k], float(v)) for k, v in condition.items()
             if k in species and k not in added}
    changes: list[tuple[float, dict[str, tuple[str, float | None]]]] = []
    for e in sorted(scenario.schedule, key=lambda e: e.at_h):
        k = e.input
        if k not in species:
            continue
        value = {"add": float(condition.get(k, 0.0)), "set": e.set_value,
                 "washout": 0.0, "release": None}[e.action]
        if modes[k] == "clamp":
            action = "release" if e.action in ("washout", "release") else "clamp"
        else:
            action = "add" if e.action == "add" else "set"
        if changes and changes[-1][0] == e.at_h:
            changes[-1][1][k] = (action, value)
        else:
            changes.append((float(e.at_h), {k: (action, value)}))
    return start, changes
