"""Every claim of the project in one check: cell scenarios, virtual panels and in-vivo studies.

``apopsim check`` checks four kinds of claim file, told apart by their top-level fields:

* **scenario** files (``scenarios/*.yaml``; :mod:`apopsim.check`): cell populations under dose
  conditions;
* **panel** files (``fold_ranges:``; ``scenarios/panels/``; :mod:`apopsim.panel`): correlations
  over virtual cell lines;
* **in-vivo study** files (``arms:``; ``scenarios/invivo/``; :mod:`apopsim.tissue`): xenograft
  growth under dosing regimens;
* **culture** files (``readout_times_h:``; ``scenarios/cultures/``; :mod:`apopsim.culture_study`):
  growing cultures read as viability, GR and synergy over time.

:func:`check_all` validates every file before anything runs, runs each once and returns one
:class:`~apopsim.check.CheckReport`. Fast mode: the scenario reduction of :mod:`apopsim.check`,
at most :data:`FAST_PANEL_LINES` lines per panel, and the in-vivo studies' own fast setting
(at most 12 cells in the kill link and 4 animals), and at most
:data:`apopsim.culture_study.FAST_FOUNDERS` founders per culture well.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from apopsim.check import (
    CheckReport,
    Outcome,
    _rel,
    _study_key,
    check_scenarios,
    resolve_pointers,
    scenario_paths,
)
from apopsim.errors import ScenarioError
from apopsim.scenario.checks import _summarise

FAST_PANEL_LINES = 32
"""Largest number of virtual lines per panel in fast mode."""
CLAIM_SUBDIRS = ("panels", "invivo", "cultures")
"""Folders under the default scenarios folder whose files are checked too."""

__all__ = ["CLAIM_SUBDIRS", "FAST_PANEL_LINES", "check_all", "claim_files", "file_kind"]


def claim_files(paths: list[str | Path] | None = None) -> list[Path]:
    """Files to check: as given (folders: their ``*.yaml``); by default the scenarios folder
    (:data:`apopsim.check.DEFAULT_DIR`) and its :data:`CLAIM_SUBDIRS`."""
    if paths:
        return scenario_paths(paths)
    top = scenario_paths(None)
    folder = top[0].parent if top else None
    extra = [folder / d for d in CLAIM_SUBDIRS if folder and (folder / d).is_dir()]
    return list(dict.fromkeys(top + (scenario_paths(extra) if extra else [])))


def file_kind(path: Path) -> str:
    """``scenario``, ``panel`` (has ``fold_ranges``), ``invivo`` (has ``arms``) or
    ``culture`` (has a top-level ``readout_times_h``; :mod:`apopsim.culture_study`)."""
    from apopsim.scenario.yaml_io import _read_yaml

    data, _ = _read_yaml(path, str(path))
    if isinstance(data, dict) and "readout_times_h" in data:
        return "culture"
    if isinstance(data, dict) and "fold_ranges" in data:
        return "panel"
    if isinstance(data, dict) and "arms" in data:
        return "invivo"
    return "scenario"


def check_all(paths: list[str | Path] | None = None, *, fast: bool = False,
              executor: str | None = None, workers: int | None = None,
              progress: bool = False) -> CheckReport:
    """Check every claim file at ``paths`` (default: see :func:`claim_files`).

    Raises :class:`~apopsim.errors.ScenarioError` (every problem located, file:line field)
    before anything runs if a file is invalid.
    """
    from apopsim.culture_study import check_culture, load_culture, run_culture
    from apopsim.panel import PanelSpec, run_panel
    from apopsim.tissue.expect import check_study
    from apopsim.tissue.study import load_study, run_study

    t0 = time.perf_counter()
    files = claim_files(paths)
    kinds = {p: file_kind(p) for p in files}
    problems: list[tuple[str, str]] = []
    panels, studies, cultures = {}, {}, {}
    for p, kind in kinds.items():
        try:
            if kind == "culture":
                cultures[p] = load_culture(p)
            elif kind == "panel":
                panels[p] = PanelSpec.from_yaml(p)
            elif kind == "invivo":
                studies[p] = load_study(p)
        except ScenarioError as exc:
            problems += exc.problems
    scenario_files = [p for p, k in kinds.items() if k == "scenario"]
    if problems:
        raise ScenarioError(_summarise(problems), problems)
    report = (check_scenarios(scenario_files, fast=fast, executor=executor, workers=workers,
                              progress=progress)
              if scenario_files else CheckReport([], fast))
    outcomes = list(report.outcomes)

    def say(what: str) -> None:
        if progress:
            print(f"apopsim check: running {what}", file=sys.stderr, flush=True)

    for p, spec in panels.items():
        if not spec.expect:
            report.unchecked.append(spec.name)
            continue
        if fast:
            spec = spec.model_copy(update={"n_lines": min(spec.n_lines, FAST_PANEL_LINES)})
        say(f"panel {spec.name} ({spec.n_lines} lines)")
        t = time.perf_counter()
        lines = run_panel(spec)
        report.timings_s[spec.name] = round(time.perf_counter() - t, 3)
        for d in spec.evaluate(lines):
            m = float(d["measured"])
            outcomes.append(Outcome(
                study=d["study"], scenario=spec.name, file=_rel(p), index=d["index"],
                kind=d["kind"], role=d["role"], claim=d["claim"], source=d["source"],
                measured=m, measured_text="nan" if math.isnan(m) else f"{m:.3g}",
                expected=d["expected"], status="pass" if d["passed"] else "fail",
                why_failing="" if d["passed"] else d["why_failing"],
                detail=f"{spec.n_lines} lines"))
    for what, specs, run, check in (("in-vivo study", studies, run_study, check_study),
                                    ("culture", cultures, run_culture, check_culture)):
        for p, spec in specs.items():
            if not spec.expect:
                report.unchecked.append(spec.name)
                continue
            say(f"{what} {spec.name}")
            t = time.perf_counter()
            checked = check(run(spec, fast=fast))
            report.timings_s[spec.name] = round(time.perf_counter() - t, 3)
            for o in checked:
                o.file = _rel(p)
                outcomes.append(o)
    outcomes.sort(key=lambda o: (_study_key(o.study), o.scenario, o.index))
    report.outcomes = resolve_pointers(outcomes)
    report.timings_s["total"] = round(time.perf_counter() - t0, 3)
    return report
