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
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
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

from apopsim.errors import ApopsimWarning, ModelError, ScenarioError

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
    """A change of one drug during the run.

    ``add`` applies the condition's dose at ``at_h`` (the drug is absent before its first ``add``);
    ``washout`` sets it to 0 nM; ``set`` sets it to ``nM``.
    """

    at_h: NonNegativeFloat = Field(
        description="Time after treatment start (h); at most time.duration_h."
    )
    drug: str
    action: Literal["add", "washout", "set"]
    nM: Dose | None = Field(None, description="Concentration for 'set' (nM).")

    @model_validator(mode="after")
    def _nm(self) -> ScheduleEvent:
        if self.action == "set" and self.nM is None:
            raise ValueError("action 'set' needs a concentration 'nM'")
        if self.action != "set" and self.nM is not None:
            raise ValueError(f"'nM' is only used with action 'set', not {self.action!r}")
        return self


class DeathRule(_Strict):
    """A cell is dead once ``variable`` exceeds ``threshold``; its time of death is recorded."""

    variable: str = Field(
        "cleaved_PARP_fraction", description="Model variable (species or rule) to watch."
    )
    threshold: float = Field(0.5, description="Death threshold in the variable's units.")


class Readouts(_Strict):
    """What is recorded besides the death rule."""

    species: list[str] = Field(
        default_factory=list,
        description="Species or rule variables recorded in timecourse.csv and plotted (nM).",
    )
    death: DeathRule = Field(default_factory=DeathRule)


class Solver(_Strict):
    """Integration settings."""

    engine: Literal["scipy", "roadrunner"] = "scipy"
    method: Literal["LSODA", "BDF", "Radau"] = "LSODA"
    rtol: PositiveFloat = Field(1e-6, lt=1.0)
    atol: PositiveFloat = Field(1e-9, description="Absolute tolerance (nM).")


class Preequilibration(_Strict):
    """Untreated steady state before treatment."""

    enabled: bool = True
    tol_per_h: PositiveFloat = Field(1e-6, description="Max relative rate of change (1/h).")
    max_h: PositiveFloat = Field(1e5, description="Give up after this many hours.")


class Population(_Strict):
    """A heterogeneous population: each cell's synthesis rates (or initial amounts) are drawn
    log-normally (mean preserved) around the context's values."""

    n_cells: int = Field(500, ge=1, le=1_000_000, description="Cells per condition.")
    cv: NonNegativeFloat = Field(0.25, le=5, description="Coefficient of variation (default).")
    cv_per: dict[str, Annotated[float, Field(ge=0, le=5)]] = Field(
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


@dataclass(frozen=True)
class WorkEstimate:
    """The size of a run, computed from the scenario alone (see :meth:`Scenario.work_estimate`).

    Attributes
    ----------
    n_conditions, n_cells
        Dose conditions, and cells per condition.
    cell_runs
        Simulations: ``n_cells * (1 + n_conditions)`` (one untreated pre-equilibration per cell).
    n_output_times, n_recorded_variables
        Recorded times and variables per cell-run.
    trace_bytes
        Upper bound of the memory (bytes) of the per-condition traces the runner holds as float32
        arrays of ``n_cells x n_variables x n_times``, assuming every condition in flight at once.
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


class Scenario(_Strict):
    """A scenario: model, context, drugs (nM), schedule, time (h), readouts, solver and seed."""

    name: str = Field(
        description="Short identifier, used as the output folder name (results/<name>): 1-100 "
        "letters, digits, '.', '_' or '-', not starting with '.'.",
        json_schema_extra={"pattern": f"^{_NAME.pattern}$"},
    )
    description: str = ""
    model: str = Field(description="Built-in model name or path to an Antimony/SBML file.")
    context: str | None = Field(None, description="Named cell context from contexts.yaml.")
    overrides: Overrides = Field(default_factory=Overrides)
    drugs: dict[str, Dose | DoseList | LogDoses] = Field(
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
    def _paired(self) -> Scenario:
        if self.design == "paired":
            lengths = {len(v) for v in self.drugs.values() if len(v) > 1}
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
        cell_runs = n_cells * (1 + n_cond)
        return WorkEstimate(
            n_conditions=n_cond, n_cells=n_cells, cell_runs=cell_runs, n_output_times=n_times,
            n_recorded_variables=n_vars, trace_bytes=n_cond * n_cells * n_vars * n_times * 4,
            cpu_s=cell_runs * CPU_S_PER_CELL_RUN_72H * self.time.duration_h / 72.0,
        )

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
MAX_FILE_BYTES = 1 << 20
"""Largest scenario file (bytes): a scenario is a small text file (the shipped ones are < 4 KiB)."""
MAX_DEPTH = 50
"""Deepest nesting of YAML values (aliases expanded); scenarios nest 4 levels."""
MAX_NODES = 100_000
"""Most YAML values in a scenario, counting an alias (``*name``) at each use, so that an alias bomb
("billion laughs") is refused before any Python object is built; scenarios have a few hundred."""


class _TooBig(yaml.MarkedYAMLError):
    """A YAML document beyond :data:`MAX_DEPTH` or :data:`MAX_NODES`."""


class _LineLoader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys, unreadable values and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # the composer recurses once per level: stop before Python's recursion limit
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(None, None, f"nested deeper than {MAX_DEPTH} levels",
                              self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. date 2024-13-01, a 5000-digit integer
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark) from None


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or mapping",
                key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _check_graph(root: yaml.Node) -> None:
    """Refuse a composed document whose values, aliases expanded, exceed the limits.

    Walks the node graph once, without recursion: each node's expanded size and depth are
    computed from its children's (memoised, so shared anchors cost nothing). Raises
    :class:`_TooBig` (more than :data:`MAX_NODES` values or :data:`MAX_DEPTH` levels) or a
    ComposerError for an alias inside its own anchor (a cycle).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # nodes being expanded: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finish = stack.pop()
        key = id(node)
        if finish:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_.discard(key)
            if size[key] > MAX_NODES:
                raise _TooBig(None, None, f"more than {MAX_NODES:,} values here, counting each "
                              "use of an alias (*name); a scenario has a few hundred",
                              node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise _TooBig(None, None, f"nested deeper than {MAX_DEPTH} levels (aliases "
                              "expanded)", node.start_mark)
        elif key in open_:
            raise yaml.composer.ComposerError(None, None, "an alias refers to a value that "
                                              "contains it (a cycle)", node.start_mark)
        elif key not in size:
            open_.add(key)
            stack.append((node, True))
            stack += [(k, False) for k in reversed(_children(node)) if id(k) not in size]


def _line_index(root: yaml.Node | None) -> dict:
    """Map field paths (tuples of keys/indices) to 1-based line numbers.

    Iterative; call it on a graph checked by :func:`_check_graph` (bounded size, no cycles).
    """
    out: dict[tuple, int] = {}
    stack = [] if root is None else [(root, ())]
    while stack:
        node, path = stack.pop()
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in reversed(node.value):
                if isinstance(k, yaml.ScalarNode):
                    out[(*path, k.value)] = k.start_mark.line + 1
                    stack.append((v, (*path, k.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack += [(v, (*path, i)) for i, v in reversed(list(enumerate(node.value)))]
    return out


def _read_yaml(path: Path, where: str) -> tuple[Any, dict]:
    """Parse a scenario file once: ``(data, line index)``; every failure is a ScenarioError.

    Order of the defences: file size, UTF-8 decoding (byte offset reported), composing nodes
    (nesting limited while composing), then the expanded size of the node graph (aliases), and
    only then construction of Python objects.
    """
    def fail(line: int | None, msg: str) -> ScenarioError:
        loc = f"{where}:{line}" if line else where
        return ScenarioError(f"{loc}: {msg}", [(loc, msg)])

    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise fail(None, f"cannot read the scenario file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise fail(None, f"file larger than {MAX_FILE_BYTES // 1024} KiB; a scenario is a small "
                   "YAML text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(raw.count(b"\n", 0, exc.start) + 1,
                   f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                   f"({exc.reason}); a scenario is a YAML text file") from None
    loader = None
    try:
        loader = _LineLoader(text)  # checks the characters
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_graph(node)
        lines = _line_index(node)
        return loader.construct_document(node), lines
    except _TooBig as exc:
        raise fail(exc.problem_mark.line + 1, f"YAML too large: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character, e.g. NUL
        raise fail(text.count("\n", 0, exc.position) + 1,
                   f"YAML syntax error: character U+{int(exc.character):04X} at offset "
                   f"{exc.position} is not allowed in YAML text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError | \
                                          yaml.composer.ComposerError) else "YAML syntax error"
        what = ", ".join(filter(None, (getattr(exc, "context", None),
                                       getattr(exc, "problem", None)))) or str(exc)
        raise fail(mark.line + 1 if mark else None, f"{kind}: {what}") from None
    except RecursionError:
        raise fail(None, f"YAML nested too deeply (limit {MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()


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
        if isinstance(part, str) and not part.isprintable():  # no control characters on a tty
            part = repr(part)
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

    Hostile files are refused before Python objects are built: files over
    :data:`MAX_FILE_BYTES`, non-UTF-8 bytes, nesting beyond :data:`MAX_DEPTH`, more than
    :data:`MAX_NODES` values counting alias uses. Runs that cannot fit are refused by
    :func:`check_work`; a run estimated above 2 GiB of traces or 1 h of CPU gets an
    :class:`~apopsim.errors.ApopsimWarning` with the estimate.

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
        base = path.resolve().parent
        data, lines = _read_yaml(path, where)
    if not isinstance(data, dict):
        msg = "expected a mapping of scenario fields at the top level"
        raise ScenarioError(f"{where}: {msg}", [(where, msg)])

    def at(loc: tuple) -> str:
        return f"{f'{where}:{ln}' if (ln := _locate(lines, loc)) else where} {_fmt_loc(loc)}"

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [(at(loc), msg) for loc, msg in _pydantic_problems(exc)]
        raise ScenarioError(_summarise(problems), problems) from None
    except RecursionError:  # a dict source nested or linked beyond reason
        msg = "scenario nested too deeply"
        raise ScenarioError(f"{where}: {msg}", [(where, msg)]) from None
    problems = [(at(loc), msg) for loc, msg in check_work(scenario)]
    if problems:
        raise ScenarioError(_summarise(problems), problems)
    scenario._base_dir = base
    scenario._source = None if base is None else Path(source).resolve()  # type: ignore[arg-type]
    if check_model:
        problems = check_against_model(scenario, lines, where)
        if problems:
            raise ScenarioError(_summarise(problems), problems)
    est = scenario.work_estimate()
    if est.trace_bytes > WARN_TRACE_BYTES or est.cpu_s > WARN_CPU_S:
        warnings.warn(f"{where}: a large run: {est.describe()}", ApopsimWarning, stacklevel=2)
    return scenario


MAX_CONDITIONS = 100_000
"""Most dose conditions: each gets its own tasks, summary row, death-time column and plot entry;
10^5 is more than a 4-drug grid of 17 doses each, beyond what any figure or table shows."""
MAX_OUTPUT_TIMES = 1_000_000
"""Most recorded times per cell-run: each worker holds the full state (float64, every species and
rule, twice) at every output time of the cell it simulates, about 1.6 GB for a 100-variable model
at 10^6 times (one per 0.26 s over 72 h); finer output has no use for kinetics in hours."""
MEMORY_FRACTION = 0.75
"""Refuse a run whose trace memory estimate exceeds this fraction of the physical memory."""
WARN_TRACE_BYTES = 2 << 30
"""Warn (ApopsimWarning) above this trace memory estimate (bytes)."""
WARN_CPU_S = 3600.0
"""Warn (ApopsimWarning) above this estimated CPU time (s)."""


def physical_memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_work(scenario: Scenario) -> list[tuple[tuple, str]]:
    """``(field path, message)`` per size limit the scenario exceeds (empty if it fits).

    Refused: more than :data:`MAX_CONDITIONS` conditions, more than :data:`MAX_OUTPUT_TIMES`
    output times, and traces needing more than :data:`MEMORY_FRACTION` of this machine's memory.
    """
    n_cond = scenario.n_conditions()
    drugs_loc = ("drugs",)
    if n_cond > MAX_CONDITIONS:
        sizes = " x ".join(str(len(v)) for v in scenario.dose_lists().values())
        return [(drugs_loc, f"{n_cond:,} conditions ({scenario.design} of {sizes} doses) exceed "
                 f"the limit of {MAX_CONDITIONS:,}; use fewer doses per drug (or design: paired)")]
    t = scenario.time
    n_times = t.n_output_times()
    if n_times > MAX_OUTPUT_TIMES:
        field = "output_times_h" if t.output_times_h else "output_every_h"
        return [(("time", field), f"{n_times:,} output times per cell exceed the limit of "
                 f"{MAX_OUTPUT_TIMES:,}; record less often (time.output_every_h)")]
    est = scenario.work_estimate()
    total = physical_memory_bytes()
    if total and est.trace_bytes > MEMORY_FRACTION * total:
        loc = ("population", "n_cells") if scenario.population is not None else drugs_loc
        return [(loc, f"the run does not fit in memory: {est.describe()}; the traces alone "
                 f"exceed {MEMORY_FRACTION:.0%} of this machine's {_gib(total)}; reduce "
                 "population.n_cells, the number of doses, readouts.species or the output "
                 "times (time.output_every_h)")]
    return []


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
