"""Scenario files: what to simulate, validated completely before anything runs.

A scenario YAML names the model, a cell context, drugs and doses (nM), inputs (any model
parameter or species by name, :mod:`apopsim.inputs`), an optional schedule, the
simulated duration and output times (hours), readouts, the solver and a seed. :func:`load_scenario`
parses it safely (no object construction), checks its structure with pydantic and its content
against the model (species, drugs, parameters), and reports every problem with the file, line,
field path and what was expected. ``apopsim schema`` prints the JSON Schema of this format.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from apopsim.errors import ApopsimWarning, ScenarioError
from apopsim.scenario.checks import _summarise, check_against_model, read_validated
from apopsim.scenario.limits import (
    MAX_CONDITIONS,
    MAX_OUTPUT_TIMES,
    MEMORY_FRACTION,
    WARN_CPU_S,
    WARN_TRACE_BYTES,
    check_work,
    physical_memory_bytes,
)
from apopsim.scenario.schema import (
    MAX_DURATION_H,
    MAX_NM,
    DeathRule,
    Execution,
    Input,
    LogDoses,
    Overrides,
    Population,
    Preequilibration,
    Readouts,
    Scenario,
    ScheduleEvent,
    Series,
    Solver,
    TimeSpec,
    WorkEstimate,
    log_doses,
    scenario_json_schema,
)
from apopsim.scenario.yaml_io import located

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DURATION_H",
    "MAX_NM",
    "MAX_OUTPUT_TIMES",
    "MEMORY_FRACTION",
    "WARN_CPU_S",
    "WARN_TRACE_BYTES",
    "DeathRule",
    "Execution",
    "Input",
    "LogDoses",
    "Overrides",
    "Population",
    "Preequilibration",
    "Readouts",
    "Scenario",
    "ScheduleEvent",
    "Series",
    "Solver",
    "TimeSpec",
    "WorkEstimate",
    "check_against_model",
    "check_work",
    "load_scenario",
    "log_doses",
    "physical_memory_bytes",
    "scenario_json_schema",
]


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
    scenario, where, lines, path = read_validated(source, Scenario, "scenario")

    def at(loc: tuple) -> str:
        return located(where, lines, loc)

    problems = [(at(loc), msg) for loc, msg in check_work(scenario)]
    if problems:
        raise ScenarioError(_summarise(problems), problems)
    scenario._base_dir = None if path is None else path.parent
    scenario._source = path
    if check_model:
        problems = check_against_model(scenario, lines, where)
        if problems:
            raise ScenarioError(_summarise(problems), problems)
    est = scenario.work_estimate()
    if est.trace_bytes > WARN_TRACE_BYTES or est.cpu_s > WARN_CPU_S:
        warnings.warn(f"{where}: a large run: {est.describe()}", ApopsimWarning, stacklevel=2)
    return scenario
