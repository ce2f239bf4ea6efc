"""The scenario format: pydantic models of every section, with units and limits.

Each section produces the engine's own option objects (``Solver.options()``,
``Preequilibration.options()``, ``DeathRule.event()``, ``Population.variation()``), so one
vocabulary runs from YAML to generated code. ``apopsim schema`` prints the JSON Schema.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
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
from pydantic_core import InitErrorDetails, PydanticCustomError

from apopsim.engine.options import PreequilibrationOptions, SolverOptions, ThresholdEvent
from apopsim.engine.registry import backend_names
from apopsim.scenario.expect import Expectation

if TYPE_CHECKING:
    from apopsim.model import Model
    from apopsim.population import Variation

MAX_NM = 1e9
"""Largest concentration accepted anywhere (nM): 1 mol/L, beyond the solubility of any drug and
the abundance of any protein; larger values only make the solver overflow."""
MAX_DURATION_H = 1e5
"""Longest simulated time (h), about 11 years: far beyond any cell experiment."""

Dose = Annotated[float, Field(ge=0, le=MAX_NM)]
DoseList = Annotated[list[Dose], Field(min_length=1)]


def _rate_or_amount(value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError("model parameters are rate constants or amounts: expected a finite "
                         "number >= 0")
    return value


Parameter = Annotated[float, Field(allow_inf_nan=True, json_schema_extra={"minimum": 0}),
                      AfterValidator(_rate_or_amount)]

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class _Strict(BaseModel):
    # allow_inf_nan=False: NaN and infinities (YAML .nan, .inf, 1.0e+999) are rejected in every
    # float field, including those inside lists and dicts
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def log_doses(from_nM: float, to_nM: float, n: int, include_zero: bool = True) -> list[float]:
    """``n`` log-spaced doses from ``from_nM`` to ``to_nM`` (nM), preceded by 0 nM if asked.

    ``log_doses(1, 1000, 7)`` gives ``[0, 1, 3.16, 10, 31.6, 100, 316, 1000]``: an 8-point series.
    """
    import numpy as np

    doses = [float(f"{d:.6g}") for d in np.geomspace(from_nM, to_nM, n)]
    return ([0.0] if include_zero else []) + doses


class LogDoses(BaseModel):
    """Log-spaced doses in a scenario: ``{from_nM: 1, to_nM: 1000, n: 7, include_zero: true}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    from_nM: PositiveFloat = Field(le=MAX_NM, description="Lowest non-zero dose (nM).")
    to_nM: PositiveFloat = Field(le=MAX_NM, description="Highest dose (nM).")
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


class Series(BaseModel):
    """Evenly spaced values of a scenario input: ``{from: 0.01, to: 10, n: 7}`` (log-spaced by
    default; ``spacing: linear`` for a linear series), in the input's own unit."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              populate_by_name=True)

    from_: NonNegativeFloat = Field(alias="from", description="First value.")
    to: NonNegativeFloat = Field(description="Last value.")
    n: int = Field(ge=1, le=1000, description="Number of values.")
    spacing: Literal["log", "linear"] = Field("log", description="'log' or 'linear'.")
    include_zero: bool = Field(False, description="Add the value 0 in front.")

    @model_validator(mode="after")
    def _order(self) -> Series:
        if self.to < self.from_:
            raise ValueError(f"'to' ({self.to}) is below 'from' ({self.from_})")
        if self.spacing == "log" and self.from_ <= 0:
            raise ValueError("a log series needs 'from' > 0 (add include_zero: true for a 0)")
        return self

    def values(self) -> list[float]:
        """The values, rounded to 6 significant digits (as :func:`log_doses`)."""
        import numpy as np

        space = np.geomspace if self.spacing == "log" else np.linspace
        vals = [float(f"{v:.6g}") for v in space(self.from_, self.to, self.n)]
        return ([0.0] if self.include_zero else []) + vals


InputValue = Annotated[float, Field(ge=0)]


def _input_short_forms(schema: dict[str, Any]) -> None:
    """JSON Schema of an input: the long form, or the short forms (a value, a list, a series)."""
    long_form = dict(schema)
    schema.clear()
    short_form = dict(long_form["properties"]["values"])  # a value, a list or a series
    short_form.pop("description", None)
    schema["anyOf"] = [long_form, short_form]
    schema["description"] = long_form.get("description", "")


class Input(_Strict):
    """A model parameter or species dosed by name (``inputs:``), in its own unit.

    Short form ``{name: value}``, ``{name: [values]}`` or ``{name: {from, to, n}}``; long form
    ``{name: {values: ..., kind: ..., mode: ..., unit: ...}}``. A parameter input takes its value
    from treatment start (``mode: treat``, like a drug: the cell is pre-equilibrated with the
    model's own value) or is the cell's own value, pre-equilibrated with it (``mode: cell``). A
    species input (nM) is applied after pre-equilibration, at treatment start: added to the
    amount the cell has (``mode: add``) or held at the value for the whole run
    (``mode: clamp``); scheduled (:class:`ScheduleEvent`), it is given as boluses during the
    run, or clamped and released at schedule times.
    """

    values: list[InputValue] | Series | InputValue = Field(
        description="A value, a list of values or a series {from, to, n, spacing}; species in "
        "nM, parameters in the model's units (finite, >= 0).")
    kind: Literal["parameter", "species"] | None = Field(
        None, description="'parameter' or 'species' (default: whichever the model has).")
    mode: Literal["treat", "cell", "add", "clamp"] | None = Field(
        None, description="Parameters: 'treat' (default; from treatment start) or 'cell' "
        "(also during pre-equilibration); species: 'add' (default) or 'clamp' (held).")
    unit: str | None = Field(
        None, max_length=40, description="Unit shown in tables and plots (species: nM).")

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              json_schema_extra=_input_short_forms)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if not isinstance(data, dict) or ("values" not in data and "from" in data):
            return {"values": data}
        return data

    @field_validator("values")
    @classmethod
    def _as_list(cls, v: Any) -> list[float]:
        if isinstance(v, Series):
            return v.values()
        values = v if isinstance(v, list) else [v]
        if not values:
            raise ValueError("give at least one value")
        return values

    @model_validator(mode="after")
    def _kind_and_mode(self) -> Input:
        species_modes, parameter_modes = ("add", "clamp"), ("treat", "cell")
        if self.kind == "parameter" and self.mode in species_modes:
            raise ValueError(f"mode {self.mode!r} is for species; a parameter takes 'treat' or "
                             "'cell'")
        if self.kind == "species" and self.mode in parameter_modes:
            raise ValueError(f"mode {self.mode!r} is for parameters; a species takes 'add' or "
                             "'clamp'")
        if self.kind == "species" and self.unit not in (None, "nM"):
            raise ValueError("species inputs are concentrations in nM")
        if self.kind == "species" or self.mode in species_modes:
            high = [v for v in self.values if v > MAX_NM]  # type: ignore[union-attr]
            if high:
                raise ValueError(f"species values above {MAX_NM:g} nM: {high}")
        return self


class Overrides(_Strict):
    """Parameter and initial-amount overrides applied on top of the context."""

    parameters: dict[str, Parameter] = Field(
        default_factory=dict,
        description="Model parameter -> value, in the model's units (rate constants and amounts: "
        "finite, >= 0).",
    )
    initial_nM: dict[str, Dose] = Field(
        default_factory=dict, description="Species -> initial concentration in nM."
    )


class TimeSpec(_Strict):
    """Simulated time after treatment start, in hours."""

    duration_h: PositiveFloat = Field(
        72.0, le=MAX_DURATION_H, description="Simulated duration after treatment (h)."
    )
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

    def n_output_times(self) -> int:
        """``len(self.output_times())``, computed without building the list.

        Exact unless the spacing is below about 1e-12 h (then an upper bound); returns at least
        10**15 when the spacing is absurdly small, so huge grids are refused, never built.
        """
        if self.output_times_h:
            return len(self.output_times())
        step = self.output_every_h or self.duration_h
        ratio = self.duration_h / step
        if not ratio < 1e15:
            return int(min(ratio, 1e18))
        n = int(math.floor(ratio + 1e-9))
        extra = {0.0, self.duration_h, *self.readout_times()}
        on_grid = sum(1 for t in extra
                      if round(t / step) <= n and round(round(t / step) * step, 12) == t)
        return n + 1 + len(extra) - on_grid

    def readout_times(self) -> list[float]:
        """Times (h) at which apoptotic fractions are reported."""
        return sorted(set(self.readout_times_h or [self.duration_h]))


class ScheduleEvent(_Strict):
    """A change of one drug (``drug:``) or input (``input:``) during the run.

    ``add`` applies the condition's dose at ``at_h`` (the drug is absent before its first ``add``);
    ``washout`` sets it to 0 nM; ``set`` sets it to ``nM`` (or ``value``, in the input's unit).
    A parameter input's ``washout`` restores the model's own value of the parameter. A species
    input (``mode: add``) gets a bolus of the condition's value at each ``add``; ``set`` sets
    its concentration, ``washout`` sets it to 0 nM. A clamped species input (``mode: clamp``) is
    clamped from an ``add`` (the condition's value) or a ``set``; ``release`` ends the clamp
    (the species keeps its value and follows the model again), ``washout`` ends it at 0 nM.
    """

    at_h: NonNegativeFloat = Field(
        description="Time after treatment start (h); at most time.duration_h."
    )
    drug: str | None = Field(None, description="A drug listed under 'drugs'.")
    input: str | None = Field(None, description="A parameter listed under 'inputs'.")
    action: Literal["add", "washout", "set", "release"] = Field(
        description="'add', 'washout', 'set' or 'release' (ends the clamp of a species input, "
        "which keeps its value).")
    nM: Dose | None = Field(None, description="Concentration for 'set' (nM).")
    value: InputValue | None = Field(
        None, allow_inf_nan=False, description="Value for 'set' of an input (its unit).")

    @model_validator(mode="after")
    def _nm(self) -> ScheduleEvent:
        if (self.drug is None) == (self.input is None):
            raise ValueError("name exactly one of 'drug' or 'input'")
        if self.nM is not None and self.value is not None:
            raise ValueError("give 'nM' or 'value', not both")
        amount = self.nM if self.value is None else self.value
        if self.action == "set" and amount is None:
            raise ValueError("action 'set' needs a concentration 'nM' (or a 'value')")
        if self.action == "release" and self.input is None:
            raise ValueError("'release' ends the clamp of a species input: name it with 'input'")
        if self.action != "set" and amount is not None:
            raise ValueError(f"'nM' and 'value' are only used with action 'set', not "
                             f"{self.action!r}")
        return self

    @property
    def name(self) -> str:
        """The drug or input this event changes."""
        return self.drug if self.drug is not None else self.input  # type: ignore[return-value]

    @property
    def set_value(self) -> float | None:
        """The value of a 'set' (nM for drugs and species, the input's unit otherwise)."""
        return self.nM if self.value is None else self.value


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

    engine: str = Field("auto", description="Back end: auto (populations: numba when the "
                        "work repays compiling its kernel, else scipy; one cell: scipy), "
                        + ", ".join(backend_names()) + ".",
                        json_schema_extra={"enum": ["auto", *backend_names()]})
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


DEFAULT_VARY_PARAMETERS = ("ksyn_*",)
"""What a population varies by default: synthesis rates (nM/h)."""


def variation_candidates(model: Model, limit: int = 12) -> list[str]:
    """Parameters a population could vary on a model without synthesis rates (``ksyn_*``):
    synthesis- or production-like names first, then the other parameters that are neither drug
    inputs nor compartment sizes; at most ``limit``."""
    comps = set(model.species_compartment.values())
    names = [k for k in model.parameters if k not in model.drug_inputs and k not in comps]
    likely = [k for k in names if any(w in k.lower() for w in ("syn", "prod", "expr", "basal"))]
    return (likely + [k for k in names if k not in likely])[:limit]


def no_variation_message(model: Model) -> str:
    """Why a population on ``model`` varies nothing by default, and what it could vary."""
    comps = set(model.species_compartment.values())
    species = [s for s, v in zip(model.state, model.initial, strict=True) if v > 0
               and s not in comps][:8]
    return (f"model {model.name!r} has no synthesis rates (ksyn_*), which a population varies "
            "by default: name what to vary in population.vary_parameters (glob patterns) or "
            "population.vary_species (initial amounts); candidate parameters: "
            f"{', '.join(variation_candidates(model)) or 'none'}"
            + (f"; species with initial amounts: {', '.join(species)}" if species else ""))


class Population(_Strict):
    """A heterogeneous population: each cell's synthesis rates (or initial amounts) are drawn
    log-normally (mean preserved) around the context's values."""

    n_cells: int = Field(500, ge=1, le=1_000_000, description="Cells per condition.")
    cv: NonNegativeFloat = Field(0.25, le=5, description="Coefficient of variation (default).")
    cv_per: dict[str, Annotated[float, Field(ge=0, le=5)]] = Field(
        default_factory=dict, description="Coefficient of variation per varied name."
    )
    vary_parameters: list[str] | None = Field(
        None,
        description="Parameters varied per cell (glob patterns), e.g. synthesis rates (nM/h). "
        "Default: the model's synthesis rates, ksyn_* (a model without them must name what "
        "to vary).",
    )
    vary_species: list[str] = Field(
        default_factory=list,
        description="Species whose initial amounts (nM) vary per cell (glob patterns); "
        "pre-equilibration resets those with turnover.",
    )
    correlation: float = Field(
        0.5, ge=0.0, lt=1.0,
        description="Shared fraction of each varied log-variance: one extrinsic factor per cell "
        "plus private noise (= correlation of any two log-values; 0 = independent). Default "
        "0.5 (assumption within Sigal et al. 2006 Nature; Marquez-Jurado et al. 2018 Nat "
        "Commun).")
    sampling: Literal["random", "sobol"] = Field(
        "random", description="'random' (seeded PCG64) or 'sobol' (scrambled, lower variance)."
    )
    stop_at_death: bool = Field(
        True, description="Stop simulating a cell once it is dead (species held from then)."
    )
    block_size: int = Field(50, ge=1, description="Cells per chunk of work.")

    def varied_parameters(self, model: Model | None = None) -> list[str]:
        """The parameter patterns to vary: ``vary_parameters``, or by default the synthesis
        rates ``ksyn_*`` (none if ``model`` has no parameter of that name)."""
        if self.vary_parameters is not None:
            return list(self.vary_parameters)
        if model is None or any(fnmatch.fnmatchcase(k, p) for k in model.parameters
                                for p in DEFAULT_VARY_PARAMETERS):
            return list(DEFAULT_VARY_PARAMETERS)
        return []

    def variation(self, model: Model | None = None) -> Variation:
        """The population's :class:`~apopsim.population.Variation` (the default parameters
        resolved against ``model``, see :meth:`varied_parameters`).

        Raises ValueError when a population of several cells would vary nothing (a model
        without ``ksyn_*`` and no ``vary_parameters`` or ``vary_species``)."""
        from apopsim.population import Variation

        params = self.varied_parameters(model)
        if model is not None and self.n_cells > 1 and not params and not self.vary_species:
            raise ValueError(no_variation_message(model))
        return Variation(tuple(params), tuple(self.vary_species), self.cv,
                         dict(self.cv_per), self.correlation, self.sampling)


class Execution(_Strict):
    """Where the work runs. Results are identical across executors for the same seed."""

    executor: Literal["auto", "serial", "processes", "dask"] = Field(
        "auto",
        description="'auto': serial for small runs, local processes (all cores) otherwise; "
        "'dask': a Dask cluster (scheduler address, or a new local cluster).",
    )
    workers: int | None = Field(
        None, ge=1, le=1024, description="Worker processes (default: all cores; at most 1024)."
    )
    scheduler: str | None = Field(None, description="Dask scheduler address, tcp://host:8786.")


CPU_S_PER_CELL_RUN_72H = 4.5e-3
"""Rough CPU time of one cell-run (one cell under one condition, 72 h), in seconds: measured for
the 70-species model in benchmarks/README.md (58.7 CPU-s for 12,800 cell-runs on 2 workers, i.e.
about 2.4 ms of wall time per cell-run there). Smaller models run faster, and cells that die
early cost less once frozen: take estimates from it as good to a factor of a few."""


TRACE_BYTES_PER_VALUE = 8
"""Bytes per recorded value in the runner's per-cell traces: float64, so that timecourse.csv
holds full double precision (its size is the same as with float32 traces: every number is
written in its shortest round-trip form either way)."""


@dataclass(frozen=True)
class WorkEstimate:
    """The size of a run, computed from the scenario alone (see :meth:`Scenario.work_estimate`).

    Attributes
    ----------
    n_conditions, n_cells
        Dose conditions, and cells per condition.
    cell_runs
        Simulations: ``n_cells * (1 + n_conditions)`` (one untreated pre-equilibration per cell;
        one per cell and value set of the ``cell``-mode parameter inputs, if any).
    n_output_times, n_recorded_variables
        Recorded times and variables per cell-run.
    trace_bytes
        Upper bound of the memory (bytes) of the per-condition traces the runner holds as float64
        arrays of ``n_cells x n_variables x n_times`` (:data:`TRACE_BYTES_PER_VALUE` each),
        assuming every condition in flight at once.
    cpu_s
        Estimated CPU time (s), from :data:`CPU_S_PER_CELL_RUN_72H` scaled by the duration: rough.
    """

    n_conditions: int
    n_cells: int
    cell_runs: int
    n_output_times: int
    n_recorded_variables: int
    trace_bytes: int
    cpu_s: float

    def describe(self) -> str:
        """One line for messages, e.g. ``64 conditions x 200 cells = 12,864 cell-runs, ...``."""
        return (f"{self.n_conditions:,} conditions x {self.n_cells:,} cells = "
                f"{self.cell_runs:,} cell-runs, {self.n_output_times:,} output times x "
                f"{self.n_recorded_variables} variable"
                f"{'s' if self.n_recorded_variables != 1 else ''}; traces up to "
                f"{_gib(self.trace_bytes)}, about {_hours(self.cpu_s)} of CPU (rough)")


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} h" if seconds >= 3600 else f"{seconds / 60:.2g} min"


class ModelUnitsSpec(_Strict):
    """The model file's default units, where it states none or the wrong ones (SBML or Antimony
    files only; the built-in models are in hours and nM). Each is ``"[multiplier] word"``, e.g.
    ``second``, ``60 second``, ``item`` (molecules), ``nanomole``, ``1.661e-12 litre`` (one cell
    volume); the model is converted from them to hours and nM at load
    (:func:`apopsim.sbml_units.declare_units`)."""

    time: str | None = Field(None, max_length=40, description="Time unit, e.g. 'second'.")
    substance: str | None = Field(None, max_length=40,
                                  description="Substance unit, e.g. 'item' or 'nanomole'.")
    volume: str | None = Field(None, max_length=40,
                               description="Volume unit, e.g. 'litre' or '1.661e-12 litre'.")

    def declared(self) -> dict[str, str]:
        """The units given, ``{"time": "second", ...}``."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Scenario(_Strict):
    """A scenario: model, context, drugs (nM), schedule, time (h), readouts, solver and seed."""

    name: str = Field(
        description="Short identifier, used as the output folder name (results/<name>): 1-100 "
        "letters, digits, '.', '_' or '-', not starting with '.'.",
        json_schema_extra={"pattern": f"^{_NAME.pattern}$"},
    )
    description: str = ""
    model: str = Field(description="Built-in model name or path to an Antimony/SBML file.")
    model_units: ModelUnitsSpec | None = Field(
        None, description="The model file's units where it declares none or the wrong ones, "
        "e.g. {substance: item, time: second}: converted to hours and nM at load.")
    context: str | None = Field(None, description="Named cell context from contexts.yaml.")
    overrides: Overrides = Field(default_factory=Overrides)
    drugs: dict[str, Dose | DoseList | LogDoses] = Field(
        default_factory=dict,
        description="Drug -> concentration in nM: a single value, a list of values, or "
        "log-spaced doses {from_nM, to_nM, n, include_zero}.",
    )
    inputs: dict[str, Input] = Field(
        default_factory=dict,
        description="Model parameter or species -> value(s), dosed by name like a drug: a value, "
        "a list, a series {from, to, n, spacing}, or {values, kind, mode, unit}. Species: nM, "
        "applied after pre-equilibration (mode add or clamp; at treatment start, or at the "
        "times of their schedule entries); parameters: the model's units.",
    )
    design: Literal["grid", "paired"] = Field(
        "grid",
        description="'grid': every combination of the drugs' doses (and inputs' values); "
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
    serum_percent: float = Field(
        10.0, ge=0.0, le=100.0,
        description="Serum in the medium, % (v/v) FBS. Doses are total concentrations (nM); "
        "the model sees the free concentration total x fu(serum %) (models/drugs.yaml, "
        "exposure). Default 10 % FBS.")
    seed: int = Field(0, ge=0, description="Seed of every random choice in the run.")
    expect: list[Expectation] = Field(
        default_factory=list,
        description="Claims about this scenario's outputs, checked by `apopsim check`.",
    )

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

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(
                "the name is used as the output folder name (results/<name>), so it must be "
                "1-100 letters, digits, '.', '_' or '-', not starting with '.' (no '/', no "
                "spaces, not '.' or '..')"
            )
        return v

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
    def _inputs_apart(self) -> Scenario:
        both = [InitErrorDetails(
            type=PydanticCustomError(
                "duplicate_input", "{name!r} is listed under both 'drugs' and 'inputs'",
                {"name": k}), loc=("inputs", k), input=k)
            for k in self.inputs if k in self.drugs]
        if both:
            raise ValidationError.from_exception_data(type(self).__name__, both)
        return self

    @model_validator(mode="after")
    def _paired(self) -> Scenario:
        if self.design == "paired":
            lengths = {len(v) for v in self.dose_lists().values() if len(v) > 1}
            if len(lengths) > 1:
                raise ValueError(
                    "design 'paired' needs dose lists of equal length (or single values); "
                    f"got lengths {sorted(lengths)}"
                )
        return self

    @model_validator(mode="after")
    def _schedule_within_run(self) -> Scenario:
        end = self.time.duration_h
        late = [InitErrorDetails(
            type=PydanticCustomError(
                "after_end", "event at {at_h} h is after the end of the run (time.duration_h = "
                "{end} h), so it would never happen", {"at_h": e.at_h, "end": end}),
            loc=("schedule", i, "at_h"), input=e.at_h)
            for i, e in enumerate(self.schedule) if e.at_h > end]
        if late:
            raise ValidationError.from_exception_data(type(self).__name__, late)
        return self

    def dose_lists(self) -> dict[str, list[float]]:
        """Factor -> list of values: each drug's doses (nM), then each input's values (species
        in nM, parameters in the model's units)."""
        out = {k: list(v) for k, v in self.drugs.items()}  # type: ignore[arg-type]
        out.update({k: list(v.values) for k, v in self.inputs.items()})  # type: ignore[arg-type]
        return out

    def factors(self) -> list[str]:
        """The names that define conditions: the drugs, then the inputs."""
        return [*self.drugs, *self.inputs]

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

    def n_conditions(self) -> int:
        """``len(self.conditions())``, computed without building them."""
        lengths = [len(v) for v in self.dose_lists().values()]
        if not lengths:
            return 1
        return math.prod(lengths) if self.design == "grid" else max(lengths)

    def work_estimate(self) -> WorkEstimate:
        """Cells, conditions, output size, trace memory (bytes) and CPU time (s) of a run."""
        n_cond = self.n_conditions()
        n_cells = self.population.n_cells if self.population is not None else 1
        n_times = self.time.n_output_times()
        n_vars = len(dict.fromkeys([*self.readouts.species, self.readouts.death.variable]))
        # cells are pre-equilibrated once per value set of the 'cell'-mode parameter inputs
        cell_inputs = [len(set(v.values)) for v in self.inputs.values()  # type: ignore[arg-type]
                       if v.mode == "cell"]
        n_pre = min(n_cond, math.prod(cell_inputs)) if cell_inputs else 1
        cell_runs = n_cells * (n_pre + n_cond)
        return WorkEstimate(
            n_conditions=n_cond, n_cells=n_cells, cell_runs=cell_runs, n_output_times=n_times,
            n_recorded_variables=n_vars,
            trace_bytes=n_cond * n_cells * n_vars * n_times * TRACE_BYTES_PER_VALUE,
            cpu_s=cell_runs * CPU_S_PER_CELL_RUN_72H * self.time.duration_h / 72.0,
        )

    def engine_schedule(self, doses: dict[str, float]) -> tuple[dict[str, float], list]:
        """Initial doses at t = 0 and engine schedule ``[(time_h, {drug: nM})]`` for a condition.

        Inputs appear like drugs, with ``None`` where a parameter input returns to the model's
        own value (before its first ``add``, after a ``washout``)."""
        start: dict[str, float | None] = dict(doses)  # type: ignore[arg-type]
        # a drug is absent (0 nM) before its first 'add' and after a washout; a parameter input
        # has the model's own value then, marked None (the runner knows the model)
        off = {k: (None if k in self.inputs else 0.0) for k in self.factors()}
        added = {e.name for e in self.schedule if e.action == "add"}
        for d in added:
            start[d] = off.get(d, 0.0)
        events = []
        for e in sorted(self.schedule, key=lambda e: e.at_h):
            value = {"add": doses.get(e.name, 0.0), "washout": off.get(e.name, 0.0),
                     "set": e.set_value, "release": None}[e.action]
            events.append((e.at_h, {e.name: None if value is None else float(value)}))
        return start, events  # type: ignore[return-value]


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format."""
    return Scenario.model_json_schema()
