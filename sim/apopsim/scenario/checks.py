"""Turning pydantic's errors into located messages, and checking names against the model."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from apopsim.errors import ModelError, ScenarioError
from apopsim.scenario.schema import Scenario
from apopsim.scenario.yaml_io import _read_yaml, located

if TYPE_CHECKING:
    from apopsim.model import Model

_UNION_MEMBERS = ("float", "constrained-float", "str", "int", "bool", "LogDoses")
_CONSTRAINTS = ("finite_number", "greater_than", "greater_than_equal", "less_than",
                "less_than_equal")


def _pydantic_problems(exc: ValidationError) -> list[tuple[tuple, str]]:
    """``(field path, message)`` per problem, with union noise folded.

    A value that fits none of a union's forms yields one error per form: errors under a deeper
    path (the form the user evidently meant) win over shallow type mismatches at its parent, and
    the type mismatches left at one path are merged into one "expected ..." message.
    """
    raw = []
    for err in exc.errors():
        # pydantic puts union member names (e.g. 'list[...]') into the path: drop those
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (
            "[" in p or p in _UNION_MEMBERS)))
        value = err.get("input")
        got = f" (got {value!r})" if not isinstance(value, dict | list) else ""
        raw.append((loc, err["type"], err["msg"], got))
    deep = {loc for loc, *_ in raw}
    # a value that broke a constraint of one form (e.g. finite, >= 0) was meant as that form:
    # type mismatches of the other forms at that path are noise
    meant = {loc for loc, kind, *_ in raw if kind in _CONSTRAINTS}
    out: dict[tuple, list[str]] = {}
    for loc, kind, msg, got in raw:
        mismatch = kind.endswith("_type") or kind in ("model_attributes_type", "dict_type")
        has_deeper = any(d[:len(loc)] == loc and len(d) > len(loc) for d in deep)
        if mismatch and (has_deeper or loc in meant):
            continue
        out.setdefault(loc, []).append(f"{msg}{got}")
    problems = []
    for loc, msgs in out.items():
        msgs = list(dict.fromkeys(msgs))
        valid = [m for m in msgs if m.startswith("Input should be a valid ")]
        if len(valid) > 1:
            kinds = [m.removeprefix("Input should be a valid ").split(" (got")[0].split(",")[0]
                     .replace("dictionary or instance of LogDoses",
                              "mapping {from_nM, to_nM, n} of log-spaced doses")
                     for m in valid]
            got = valid[0][valid[0].find(" (got"):] if " (got" in valid[0] else ""
            msgs = [m for m in msgs if m not in valid]
            msgs.insert(0, f"expected a {' or a '.join(kinds)}{got}")
        problems += [(loc, m) for m in msgs]
    return problems


def _summarise(problems: list[tuple[str, str]], what: str = "scenario") -> str:
    n = len(problems)
    head = f"invalid {what}: {n} problem{'s' if n > 1 else ''}"
    return head + "".join(f"\n  {loc}: {msg}" for loc, msg in problems)


_M = TypeVar("_M", bound=BaseModel)


def read_validated(source: str | os.PathLike[str] | dict, cls: type[_M], what: str
                   ) -> tuple[_M, str, dict, Path | None]:
    """Read a YAML file (or take an already parsed dict) and validate it as ``cls``: the one
    loading path of scenario, study, culture and panel files (``what`` names the kind).

    Returns ``(object, where, lines, path)``: ``where`` and ``lines`` locate further problems
    (:func:`apopsim.scenario.yaml_io.located`), ``path`` is the resolved file (None for a
    dict). Raises :class:`~apopsim.errors.ScenarioError` for a missing file, a top level that
    is not a mapping, and every schema problem (``file:line field``)."""
    if isinstance(source, dict):
        data, lines, where, path = source, {}, f"<{what}>", None
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ScenarioError(f"{where}: no such {what} file", [(where, "no such file")])
        data, lines = _read_yaml(path, where)
        path = path.resolve()
    if not isinstance(data, dict):
        msg = f"expected a mapping of {what} fields at the top level"
        raise ScenarioError(f"{where}: {msg}", [(where, msg)])
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        problems = [(located(where, lines, loc), msg) for loc, msg in _pydantic_problems(exc)]
        raise ScenarioError(_summarise(problems, what), problems) from None
    except RecursionError:  # a dict source nested or linked beyond reason
        msg = f"{what} nested too deeply"
        raise ScenarioError(f"{where}: {msg}", [(where, msg)]) from None
    return obj, where, lines, path


@functools.lru_cache(maxsize=16)
def _load_user_model(path: str, mtime: float, units: tuple[tuple[str, str], ...]) -> Model:
    """A model file of the user's (SBML, gzipped SBML or Antimony) with SBML events kept and
    ``units`` declared (see :func:`apopsim.model.load_sbml_text`); cached per file version."""
    import gzip

    from apopsim.library import _antimony_to_sbml, file_sha256
    from apopsim.model import load_sbml_text

    p = Path(path)
    if p.name.endswith((".xml.gz", ".sbml.gz")):
        text, hashes = gzip.decompress(p.read_bytes()).decode(), {path: file_sha256(p)}
    elif p.suffix in (".xml", ".sbml"):
        text, hashes = p.read_text(encoding="utf-8"), {path: file_sha256(p)}
    else:
        text, hashes = _antimony_to_sbml(p)
    return load_sbml_text(text, source=p, source_hashes=hashes, units=dict(units) or None,
                          allow_events=True)


def scenario_base_model(scenario: Scenario, *, context: bool = True) -> Model:
    """The scenario's model, drug inputs marked and (with ``context``) its cell context
    applied; no overrides. A model file of the user's keeps its SBML events (run on the event
    integrator, :func:`apopsim.cell.simulate_events`) and takes the scenario's ``model_units``.

    Raises :class:`ModelError` (a bad file, unit or context)."""
    from apopsim.library import (
        apply_context,
        catalogue,
        list_models,
        load_model,
        models_dir,
        resolve_model_path,
    )

    units = scenario.model_units.declared() if scenario.model_units else {}
    path = resolve_model_path(scenario.model, scenario.base_dir)
    builtin = scenario.model in list_models() or path.resolve().parent == models_dir().resolve()
    if builtin:
        if units:
            raise ModelError(f"{scenario.model!r} is a built-in model, written in hours and nM; "
                             "model_units is for your own model files")
        model = load_model(scenario.model, base=scenario.base_dir)
    else:
        key = tuple(sorted(units.items()))
        model = catalogue().apply(_load_user_model(str(path), path.stat().st_mtime, key))
    if context and scenario.context is not None:
        model = apply_context(model, scenario.context)
    return model


def event_problems(scenario: Scenario, model: Model) -> list[tuple[tuple, str]]:
    """``(field path, message)`` for settings the event integrator cannot honour when the
    scenario needs it (a model with SBML events or without ODE states, a species changed
    during the run; :func:`apopsim.cell.event_path_problems`)."""
    from apopsim.cell import event_path_problems
    from apopsim.inputs import species_schedule

    try:
        solver, preeq = scenario.solver.options(), scenario.preequilibration.options()
    except ValueError:
        return []  # reported by the schema
    _, changes = species_schedule(scenario, model, {k: 0.0 for k in scenario.inputs})
    changes = [(t, {k: ("set", 0.0) for k in c}) for t, c in changes]
    holds = scenario.population is None or scenario.population.stop_at_death
    return [((field,), msg) for field, msg in
            event_path_problems(model, solver, preeq, changes, holds_at_death=holds)]


def check_against_model(scenario: Scenario, lines: dict, where: str) -> list[tuple[str, str]]:
    """Problems with names in ``scenario`` given its model (empty list if none)."""
    from apopsim.library import apply_context, catalogue, contexts

    def at(*loc: Any) -> str:
        return located(where, lines, loc)

    problems: list[tuple[str, str]] = []
    try:
        model = scenario_base_model(scenario, context=False)
    except ModelError as exc:
        units = scenario.model_units is not None and ("units:" in str(exc)
                                                      or "built-in model" in str(exc))
        return [(at("model_units" if units else "model"), str(exc))]
    if scenario.context is not None:
        if scenario.context not in contexts():
            problems.append((at("context"), f"unknown cell context {scenario.context!r}; known: "
                             f"{', '.join(sorted(contexts())) or 'none'}"))
        else:
            try:
                model = apply_context(model, scenario.context)
            except ModelError as exc:
                problems.append((at("context"), str(exc)))
    for k in scenario.overrides.parameters:
        if k not in model.parameters:
            problems.append((at("overrides", "parameters", k), f"model {model.name!r} has no "
                             f"parameter {k!r}"))
    for k in scenario.overrides.initial_nM:
        if k not in model.state:
            problems.append((at("overrides", "initial_nM", k), f"model {model.name!r} has no "
                             f"species {k!r}"))
    cat = catalogue()
    for name in scenario.drugs:
        drug = cat.get(name)
        symbol = drug.symbol if drug else name
        if drug is None and symbol not in model.drug_inputs:
            hint = ""
            if name in model.parameters or name in model.state:
                kind = "parameter" if name in model.parameters else "species"
                hint = (f"; {name!r} is a {kind} of model {model.name!r}: to dose it by name, "
                        f"list it under 'inputs' ({name}: <value or list>)")
            problems.append((at("drugs", name), f"unknown drug {name!r}; the catalogue has "
                             f"{', '.join(cat.names())}{hint}"))
        elif symbol not in model.parameters:
            problems.append((at("drugs", name), f"model {model.name!r} has no input for drug "
                             f"{name!r}; its drug inputs are {', '.join(model.drug_inputs)}"))
    for i, e in enumerate(scenario.schedule):
        if e.drug is not None and e.drug not in scenario.drugs and e.drug not in scenario.inputs:
            problems.append((at("schedule", i, "drug"), f"drug {e.drug!r} is scheduled but not "
                             f"listed under 'drugs' ({', '.join(scenario.drugs) or 'none'})"))
    from apopsim.inputs import input_problems

    problems += [(at(*loc), msg) for loc, msg in input_problems(scenario, model)]
    problems += [(at(*loc), msg) for loc, msg in event_problems(scenario, model)]
    known = set(model.observables)
    for i, s in enumerate(scenario.readouts.species):
        if s not in known:
            problems.append((at("readouts", "species", i), f"model {model.name!r} has no "
                             f"species or rule variable {s!r}"))
    if scenario.population is not None:
        import fnmatch

        from apopsim.scenario.schema import no_variation_message

        pop = scenario.population
        varied: set[str] = set()
        for field_name, names in (("vary_parameters", list(model.parameters)),
                                  ("vary_species", list(model.state))):
            patterns = (pop.varied_parameters(model) if field_name == "vary_parameters"
                        else pop.vary_species)
            for i, pat in enumerate(patterns):
                hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
                varied.update(hits)
                if not hits:
                    problems.append((at("population", field_name, i), f"{pat!r} matches no "
                                     f"{'parameter' if 'param' in field_name else 'species'} "
                                     f"of model {model.name!r}"))
        if pop.n_cells > 1 and not pop.varied_parameters(model) and not pop.vary_species:
            problems.append((at("population", "vary_parameters"), no_variation_message(model)))
        for k in pop.cv_per:
            if k not in varied:
                problems.append((at("population", "cv_per", k), f"{k!r} is not varied: "
                                 "cv_per names parameters or species matched by "
                                 "vary_parameters or vary_species"))
    if scenario.readouts.death.variable not in known:
        problems.append((at("readouts", "death", "variable"), "model has no variable "
                         f"{scenario.readouts.death.variable!r} for the death rule"))
    return problems
