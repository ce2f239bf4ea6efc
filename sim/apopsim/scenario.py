"""Scenario files: what to simulate, validated completely before anything runs.

A scenario YAML names the model, a cell context, drugs and doses (nM), an optional schedule, the
simulated duration and output times (hours), readouts, the solver and a seed. :func:`load_scenario`
parses it safely (no object construction), checks its structure with pydantic and its content
against the model (species, drugs, parameters), and reports every problem with the file, line,
field path and what was expected. ``apopsim schema`` prints the JSON Schema of this format.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from apopsim.engine.options import PreequilibrationOptions, SolverOptions, ThresholdEvent
from apopsim.engine.registry import backend_names
from apopsim.errors import ModelError, ScenarioError

if TYPE_CHECKING:
    from apopsim.population import Variation

DoseList = Annotated[list[NonNegativeFloat], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def log_doses(from_nM: float, to_nM: float, n: int, include_zero: bool = True) -> list[float]:
    """``n`` log-spaced doses from ``from_nM`` to ``to_nM`` (nM), preceded by 0 nM if asked.

    ``log_doses(1, 1000, 7)`` gives ``[0, 1, 3.16, 10, 31.6, 100, 316, 1000]``: an 8-point series.
    """
    import numpy as np

    doses = [float(f"{d:.6g}") for d in np.geomspace(from_nM, to_nM, n)]
    return ([0.0] if include_zero else []) + doses


class LogDoses(BaseModel):
    """Log-spaced doses in a scenario: ``{from_nM: 1, to_nM: 1000, n: 7, include_zero: true}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_nM: PositiveFloat = Field(description="Lowest non-zero dose (nM).")
    to_nM: PositiveFloat = Field(description="Highest dose (nM).")
    n: int = Field(ge=1, le=1000, description="Number of non-zero doses.")
    include_zero: bool = Field(True, description="Add a 0 nM dose (the monotherapy margin).")

    @model_validator(mode="after")
    def _order(self) -> LogDoses:
        if self.to_nM < self.from_nM:
            raise ValueError(f"to_nM ({self.to_nM}) is below from_nM ({self.from_nM})")
        return self

    def doses(self) -> list[float]:
        """The doses in nM."""
        return log_doses(self.from_nM, self.to_nM, self.n, self.include_zero)


class Overrides(_Strict):
    """Parameter and initial-amount overrides applied on top of the context."""

    parameters: dict[str, float] = Field(
        default_factory=dict, description="Model parameter -> value, in the model's units."
    )
    initial_nM: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="Species -> initial concentration in nM."
    )


class TimeSpec(_Strict):
    """Simulated time after treatment start, in hours."""

    duration_h: PositiveFloat = Field(72.0, description="Simulated duration after treatment (h).")
    output_every_h: PositiveFloat | None = Field(
        0.5, description="Spacing of recorded time points (h); ignored if output_times_h is set."
    )
    output_times_h: list[NonNegativeFloat] | None = Field(
        None, description="Explicit recorded times (h); must lie within [0, duration_h]."
    )
    readout_times_h: list[NonNegativeFloat] | None = Field(
        None,
        description="Times (h) at which the apoptotic fraction is reported (default: the end).",
    )

    @model_validator(mode="after")
    def _within(self) -> TimeSpec:
        for name in ("output_times_h", "readout_times_h"):
            values = getattr(self, name) or []
            late = [t for t in values if t > self.duration_h]
            if late:
                raise ValueError(f"{name} {late} exceed duration_h = {self.duration_h}")
        return self

    def output_times(self) -> list[float]:
        """Recorded times in hours, always including 0, the readout times and the end."""
        if self.output_times_h:
            ts = set(self.output_times_h)
        else:
            step = self.output_every_h or self.duration_h
            n = int(math.floor(self.duration_h / step + 1e-9))
            ts = {round(i * step, 12) for i in range(n + 1)}
        ts |= {0.0, self.duration_h, *self.readout_times()}
        return sorted(ts)

    def readout_times(self) -> list[float]:
        """Times (h) at which apoptotic fractions are reported."""
        return sorted(set(self.readout_times_h or [self.duration_h]))


class ScheduleEvent(_Strict):
    """A change of one drug during the run.

    ``add`` applies the condition's dose at ``at_h`` (the drug is absent before its first ``add``);
    ``washout`` sets it to 0 nM; ``set`` sets it to ``nM``.
    """

    at_h: NonNegativeFloat = Field(description="Time after treatment start (h).")
    drug: str
    action: Literal["add", "washout", "set"]
    nM: NonNegativeFloat | None = Field(None, description="Concentration for 'set' (nM).")

    @model_validator(mode="after")
    def _nm(self) -> ScheduleEvent:
        if self.action == "set" and self.nM is None:
            raise ValueError("action 'set' needs a concentration 'nM'")
        if self.action != "set" and self.nM is not None:
            raise ValueError(f"'nM' is only used with action 'set', not {self.action!r}")
        return self


class DeathRule(_Strict):
    """A cell is dead once ``variable`` crosses ``threshold`` (rising, or falling with
    ``direction: down``); its time of death is recorded."""

    variable: str = Field(
        "cleaved_PARP_fraction", description="Model variable (species or rule) to watch."
    )
    threshold: float = Field(0.5, description="Death threshold in the variable's units.")
    direction: Literal["up", "down"] = Field(
        "up", description="'up': dead once the variable rises above the threshold; 'down': once "
        "it falls below it.")

    def event(self, freeze: bool = True) -> ThresholdEvent:
        """The engine's event for this rule; ``freeze`` stops simulating dead cells."""
        return ThresholdEvent(self.variable, self.threshold, self.direction,
                              "freeze" if freeze else "continue")


class Readouts(_Strict):
    """What is recorded besides the death rule."""

    species: list[str] = Field(
        default_factory=list,
        description="Species or rule variables recorded in timecourse.csv and plotted (nM).",
    )
    death: DeathRule = Field(default_factory=DeathRule)


class Solver(_Strict):
    """Integration settings: a registered engine (back end) and its method."""

    engine: str = Field("scipy", description="Back end: " + ", ".join(backend_names()) + ".",
                        json_schema_extra={"enum": list(backend_names())})
    method: str | None = Field(
        None, description="The engine's method (scipy: LSODA, BDF or Radau; default LSODA).")
    rtol: PositiveFloat = Field(1e-6, lt=1.0)
    atol: PositiveFloat = Field(1e-9, description="Absolute tolerance (nM).")
    max_steps: int = Field(100_000, ge=1, description="Maximum solver steps per output interval.")

    @model_validator(mode="after")
    def _known(self) -> Solver:
        self.options()  # raises ValueError naming the known engines or methods
        return self

    def options(self) -> SolverOptions:
        """The engine's :class:`~apopsim.engine.SolverOptions`."""
        return SolverOptions(self.engine, self.method, self.rtol, self.atol, self.max_steps)


class Preequilibration(_Strict):
    """Untreated steady state before treatment."""

    enabled: bool = True
    tol_per_h: PositiveFloat = Field(1e-6, description="Max relative rate of change (1/h).")
    max_h: PositiveFloat = Field(1e5, description="Give up after this many hours.")

    def options(self) -> PreequilibrationOptions:
        """The engine's :class:`~apopsim.engine.PreequilibrationOptions`."""
        return PreequilibrationOptions(self.enabled, self.tol_per_h, self.max_h)


class Population(_Strict):
    """A heterogeneous population: each cell's synthesis rates (or initial amounts) are drawn
    log-normally (mean preserved) around the context's values."""

    n_cells: int = Field(500, ge=1, le=1_000_000, description="Cells per condition.")
    cv: NonNegativeFloat = Field(0.25, le=5, description="Coefficient of variation (default).")
    cv_per: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="Coefficient of variation per varied name."
    )
    vary_parameters: list[str] = Field(
        default_factory=lambda: ["ksyn_*"],
        description="Parameters varied per cell (glob patterns), e.g. synthesis rates (nM/h).",
    )
    vary_species: list[str] = Field(
        default_factory=list,
        description="Species whose initial amounts (nM) vary per cell (glob patterns); "
        "pre-equilibration resets those with turnover.",
    )
    correlation: float = Field(0.0, ge=0.0, lt=1.0,
                               description="Common correlation of the log-values.")
    sampling: Literal["random", "sobol"] = Field(
        "random", description="'random' (seeded PCG64) or 'sobol' (scrambled, lower variance)."
    )
    stop_at_death: bool = Field(
        True, description="Stop simulating a cell once it is dead (species held from then)."
    )
    block_size: int = Field(50, ge=1, description="Cells per chunk of work.")

    def variation(self) -> Variation:
        """The population's :class:`~apopsim.population.Variation`."""
        from apopsim.population import Variation

        return Variation(tuple(self.vary_parameters), tuple(self.vary_species), self.cv,
                         dict(self.cv_per), self.correlation, self.sampling)


class Execution(_Strict):
    """Where the work runs. Results are identical across executors for the same seed."""

    executor: Literal["auto", "serial", "processes", "dask"] = Field(
        "auto",
        description="'auto': serial for small runs, local processes (all cores) otherwise; "
        "'dask': a Dask cluster (scheduler address, or a new local cluster).",
    )
    workers: int | None = Field(None, ge=1, description="Worker processes (default: all cores).")
    scheduler: str | None = Field(None, description="Dask scheduler address, tcp://host:8786.")


class Scenario(_Strict):
    """A scenario: model, context, drugs (nM), schedule, time (h), readouts, solver and seed."""

    name: str = Field(description="Short identifier, used in output names.")
    description: str = ""
    model: str = Field(description="Built-in model name or path to an Antimony/SBML file.")
    context: str | None = Field(None, description="Named cell context from contexts.yaml.")
    overrides: Overrides = Field(default_factory=Overrides)
    drugs: dict[str, NonNegativeFloat | DoseList | LogDoses] = Field(
        default_factory=dict,
        description="Drug -> concentration in nM: a single value, a list of values, or "
        "log-spaced doses {from_nM, to_nM, n, include_zero}.",
    )
    design: Literal["grid", "paired"] = Field(
        "grid",
        description="'grid': every combination of the drugs' doses; "
        "'paired': the i-th dose of every drug together (lists of equal length).",
    )
    schedule: list[ScheduleEvent] = Field(default_factory=list)
    time: TimeSpec = Field(default_factory=TimeSpec)
    readouts: Readouts = Field(default_factory=Readouts)
    solver: Solver = Field(default_factory=Solver)
    preequilibration: Preequilibration = Field(default_factory=Preequilibration)
    population: Population | None = Field(
        None, description="Simulate a heterogeneous population (default: one cell)."
    )
    execution: Execution = Field(default_factory=Execution)
    seed: int = Field(0, ge=0, description="Seed of every random choice in the run.")

    _base_dir: Path | None = PrivateAttr(None)
    _source: Path | None = PrivateAttr(None)

    @property
    def base_dir(self) -> Path | None:
        """Folder of the scenario file (relative model paths are resolved against it)."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        """The scenario file, if it came from one."""
        return self._source

    @field_validator("drugs")
    @classmethod
    def _lists(cls, v: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, x in v.items():
            if isinstance(x, LogDoses):
                x = x.doses()
            out[k] = x if isinstance(x, list) else [x]
        return out

    @model_validator(mode="after")
    def _paired(self) -> Scenario:
        if self.design == "paired":
            lengths = {len(v) for v in self.drugs.values() if len(v) > 1}
            if len(lengths) > 1:
                raise ValueError(
                    "design 'paired' needs dose lists of equal length (or single values); "
                    f"got lengths {sorted(lengths)}"
                )
        return self

    def dose_lists(self) -> dict[str, list[float]]:
        """Drug -> list of doses (nM)."""
        return {k: list(v) for k, v in self.drugs.items()}  # type: ignore[arg-type]

    def conditions(self) -> list[dict[str, float]]:
        """One ``{drug: nM}`` dict per condition, in a stable order."""
        lists = self.dose_lists()
        if not lists:
            return [{}]
        names = list(lists)
        if self.design == "grid":
            combos = itertools.product(*(lists[n] for n in names))
        else:
            n = max(len(v) for v in lists.values())
            combos = zip(*((v * n if len(v) == 1 else v) for v in lists.values()))
        return [dict(zip(names, c)) for c in combos]

    def engine_schedule(self, doses: dict[str, float]) -> tuple[dict[str, float], list]:
        """Initial doses at t = 0 and engine schedule ``[(time_h, {drug: nM})]`` for a condition."""
        start = dict(doses)
        added = {e.drug for e in self.schedule if e.action == "add"}
        for d in added:
            start[d] = 0.0
        events = []
        for e in sorted(self.schedule, key=lambda e: e.at_h):
            value = {"add": doses.get(e.drug, 0.0), "washout": 0.0, "set": e.nM}[e.action]
            events.append((e.at_h, {e.drug: float(value)}))
        return start, events


# ============================================================================ loading
class _LineLoader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, path: tuple = (), out: dict | None = None) -> dict:
    """Map field paths (tuples of keys/indices) to 1-based line numbers."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value
            out[(*path, key)] = k.start_mark.line + 1
            _line_index(v, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _line_index(v, (*path, i), out)
    return out


def _locate(lines: dict, loc: tuple) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_scenario(
    source: str | os.PathLike[str] | dict[str, Any], *, check_model: bool = True
) -> Scenario:
    """Read, validate and return a scenario.

    Parameters
    ----------
    source
        Path to a YAML file, or an already-parsed dict.
    check_model
        Also check names against the model (species, drugs, parameters, context). This loads the
        model but simulates nothing.

    Raises
    ------
    ScenarioError
        With one ``(location, message)`` per problem; locations read ``file:line field.path``.
    """
    if isinstance(source, dict):
        data, lines, where, base = source, {}, "<scenario>", None
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ScenarioError(f"{where}: no such scenario file", [(where, "no such file")])
        text = path.read_text(encoding="utf-8")
        base = path.resolve().parent
        try:
            data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
            lines = _line_index(yaml.compose(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            loc = f"{where}:{mark.line + 1}" if mark else where
            msg = f"YAML syntax error: {getattr(exc, 'problem', None) or exc}"
            raise ScenarioError(f"{loc}: {msg}", [(loc, msg)]) from None
    if not isinstance(data, dict):
        msg = "expected a mapping of scenario fields at the top level"
        raise ScenarioError(f"{where}: {msg}", [(where, msg)])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [(f"{f'{where}:{ln}' if (ln := _locate(lines, loc)) else where} "
                     f"{_fmt_loc(loc)}", msg) for loc, msg in _pydantic_problems(exc)]
        raise ScenarioError(_summarise(problems), problems) from None
    scenario._base_dir = base
    scenario._source = None if base is None else Path(source).resolve()  # type: ignore[arg-type]
    if check_model:
        problems = check_against_model(scenario, lines, where)
        if problems:
            raise ScenarioError(_summarise(problems), problems)
    return scenario


_UNION_MEMBERS = ("float", "constrained-float", "str", "int", "bool", "LogDoses")


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
    out: dict[tuple, list[str]] = {}
    for loc, kind, msg, got in raw:
        mismatch = kind.endswith("_type") or kind in ("model_attributes_type", "dict_type")
        has_deeper = any(d[:len(loc)] == loc and len(d) > len(loc) for d in deep)
        if mismatch and has_deeper:
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


def _summarise(problems: list[tuple[str, str]]) -> str:
    n = len(problems)
    head = f"invalid scenario: {n} problem{'s' if n > 1 else ''}"
    return head + "".join(f"\n  {loc}: {msg}" for loc, msg in problems)


def check_against_model(scenario: Scenario, lines: dict, where: str) -> list[tuple[str, str]]:
    """Problems with names in ``scenario`` given its model (empty list if none)."""
    from apopsim.library import apply_context, catalogue, contexts, load_model

    def at(*loc: Any) -> str:
        line = _locate(lines, loc)
        return f"{where}:{line} {_fmt_loc(loc)}" if line else f"{where} {_fmt_loc(loc)}"

    problems: list[tuple[str, str]] = []
    try:
        model = load_model(scenario.model, base=scenario.base_dir)
    except ModelError as exc:
        return [(at("model"), str(exc))]
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
            problems.append((at("drugs", name), f"unknown drug {name!r}; the catalogue has "
                             f"{', '.join(cat.names())}"))
        elif symbol not in model.parameters:
            problems.append((at("drugs", name), f"model {model.name!r} has no input for drug "
                             f"{name!r}; its drug inputs are {', '.join(model.drug_inputs)}"))
    for i, e in enumerate(scenario.schedule):
        if e.drug not in scenario.drugs:
            problems.append((at("schedule", i, "drug"), f"drug {e.drug!r} is scheduled but not "
                             f"listed under 'drugs' ({', '.join(scenario.drugs) or 'none'})"))
    known = set(model.observables)
    for i, s in enumerate(scenario.readouts.species):
        if s not in known:
            problems.append((at("readouts", "species", i), f"model {model.name!r} has no "
                             f"species or rule variable {s!r}"))
    if scenario.population is not None:
        import fnmatch

        pop = scenario.population
        for field_name, names in (("vary_parameters", list(model.parameters)),
                                  ("vary_species", list(model.state))):
            for i, pat in enumerate(getattr(pop, field_name)):
                if not any(fnmatch.fnmatchcase(n, pat) for n in names):
                    problems.append((at("population", field_name, i), f"{pat!r} matches no "
                                     f"{'parameter' if 'param' in field_name else 'species'} "
                                     f"of model {model.name!r}"))
    if scenario.readouts.death.variable not in known:
        problems.append((at("readouts", "death", "variable"), "model has no variable "
                         f"{scenario.readouts.death.variable!r} for the death rule"))
    return problems


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format."""
    return Scenario.model_json_schema()
