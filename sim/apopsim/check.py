"""``apopsim check``: run scenarios and evaluate their ``expect:`` claims.

:func:`check_scenarios` loads every scenario (and every scenario file its expectations refer to),
checks the expectations' names, doses and times against the scenarios they read, runs each
scenario once, evaluates every expectation and returns a :class:`CheckReport` (one
:class:`Outcome` per expectation: study, claim, measured, expected, pass/fail).
:meth:`CheckReport.write` writes ``check.csv`` and ``check.json`` atomically.

Fast mode (``fast=True``, ``apopsim check --fast``, for CI) is a documented reduction of every
scenario run: at most :data:`FAST_N_CELLS` cells per condition, outputs every
:data:`FAST_OUTPUT_EVERY_H` h or coarser, and each drug's dose list cut to 0 nM plus the doses
the expectations name, except where a grid summary, a Loewe/ZIP score or an IC50 needs the full
series (those drugs keep every dose). Readout times, the model, solver and seed are unchanged.
Verdicts of borderline claims can differ from full runs (fewer cells widen the Wilson
intervals); the report records the mode.

Units: concentrations in nM, times in h, synergy scores in percentage points.
"""

from __future__ import annotations

import glob
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apopsim.errors import ScenarioError
from apopsim.results import ScenarioResult
from apopsim.scenario import Scenario, load_scenario
from apopsim.scenario.checks import _summarise
from apopsim.scenario.expect import (
    CheckedElsewhereExpectation,
    CompareExpectation,
    CorrelationExpectation,
    IC50Measure,
    NotModelledExpectation,
    ReadoutMeasure,
    SynergyMeasure,
    compare_worst,
    expectation_problems,
    measure_problems,
)
from apopsim.scenario.yaml_io import _read_yaml, located

FAST_N_CELLS = 50
"""Largest number of cells per condition in fast mode."""
FAST_OUTPUT_EVERY_H = 1.0
"""Smallest output spacing (h) in fast mode."""
DEFAULT_DIR = Path("scenarios")
"""Scanned when no path is given, if it exists in the working directory (else the built-in
scenarios, :func:`apopsim.library.scenarios_dir`): ``*.yaml`` directly in it, so
``scenarios/validation/`` (validation runs against published data, tested by the test suite,
not claims) is left out."""

__all__ = ["DEFAULT_DIR", "FAST_N_CELLS", "FAST_OUTPUT_EVERY_H", "CheckReport", "Outcome",
           "check_scenarios", "evaluate", "resolve_pointers", "scenario_paths",
           "validate_scenarios"]


@dataclass
class Outcome:
    """One expectation's verdict.

    ``status`` is ``pass``, ``fail`` or ``error`` (the expectation could not be evaluated, e.g.
    a failed run; counted as failing), or ``elsewhere`` for a ``checked_elsewhere`` pointer
    (not counted: its verdicts are the rows of the files in ``checked_in``, summarised in
    ``measured_text`` by :func:`resolve_pointers`). ``measured`` is the number compared (NaN if
    none); ``measured_text`` and ``expected`` are readable forms.
    """

    study: str
    scenario: str
    file: str
    index: int
    kind: str
    role: str
    claim: str
    source: str
    measured: float
    measured_text: str
    expected: str
    status: str
    why_failing: str = ""
    detail: str = ""
    checked_in: str = ""
    """For a pointer: the claim files (as in ``file``, ``; ``-separated) that check it."""

    @property
    def passed(self) -> bool:
        """True if the claim holds."""
        return self.status == "pass"


@dataclass
class CheckReport:
    """The outcome of :func:`check_scenarios`.

    ``timings_s``: seconds per scenario run (by scenario name) and ``total``.
    ``unchecked``: scenario files without expectations (listed, not run).
    ``results``: the runs by scenario name (in memory only; for figures).
    """

    outcomes: list[Outcome]
    fast: bool
    timings_s: dict[str, float] = field(default_factory=dict)
    unchecked: list[str] = field(default_factory=list)
    results: dict[str, ScenarioResult] = field(default_factory=dict, repr=False)

    @property
    def counted(self) -> list[Outcome]:
        """The outcomes that count: every one but the ``elsewhere`` pointers."""
        return [o for o in self.outcomes if o.status != "elsewhere"]

    @property
    def n_failed(self) -> int:
        """Expectations that do not pass (``fail`` or ``error``; pointers not counted)."""
        return sum(not o.passed for o in self.counted)

    @property
    def ok(self) -> bool:
        """True if every expectation passes."""
        return self.n_failed == 0

    def rows(self) -> list[dict[str, Any]]:
        """One dict per outcome (the CSV/JSON columns)."""
        return [asdict(o) for o in self.outcomes]

    def table(self, width: int = 70) -> str:
        """A plain-text table (#, study, scenario, role, claim, measured, expected, status),
        then the reason given for each failing claim (``why_failing``, or the error)."""
        head = ("#", "study", "scenario", "role", "claim", "measured", "expected", "status")
        rows = [(str(k), o.study, o.scenario, o.role, _cut(o.claim, width),
                 o.measured_text if o.status == "elsewhere" else _cut(o.measured_text, 40),
                 _cut(o.expected, 40), o.status.upper())
                for k, o in enumerate(self.outcomes, 1)]
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        out = [line(head), line(tuple("-" * w for w in widths)), *map(line, rows)]
        notes = [f"  #{k} {o.scenario}[{o.index}]: " + " ".join(
                 (o.why_failing or o.detail or "(no reason given)").split())
                 for k, o in enumerate(self.outcomes, 1)
                 if not o.passed and o.status != "elsewhere"]
        if notes:
            out += ["", "why failing:", *notes]
        n = len(self.counted)
        out.append(f"\n{n - self.n_failed} of {n} expectations pass"
                   f"{' (fast mode: reduced runs)' if self.fast else ''}")
        if n < len(self.outcomes):
            out.append(f"{len(self.outcomes) - n} claims are checked in other files (status "
                       "ELSEWHERE; their verdicts are counted there)")
        if self.unchecked:
            out.append("no expectations: " + ", ".join(self.unchecked))
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-safe data."""
        from apopsim._io import json_safe

        return json_safe({"fast": self.fast, "n_expectations": len(self.counted),
                          "n_checked_elsewhere": len(self.outcomes) - len(self.counted),
                          "n_failed": self.n_failed, "timings_s": self.timings_s,
                          "unchecked": self.unchecked, "outcomes": self.rows()})

    def write(self, outdir: str | Path, *, overwrite: bool = False,
              protect: list[Path] | None = None) -> Path:
        """Write ``check.csv`` and ``check.json`` into ``outdir`` atomically (the output-folder
        policy of :func:`apopsim._io.atomic_output_dir`); return the folder."""
        import pandas as pd

        from apopsim._io import atomic_output_dir, strict_json

        cols = list(Outcome.__dataclass_fields__)
        with atomic_output_dir(outdir, overwrite=overwrite, protect=protect or []) as tmp:
            pd.DataFrame(self.rows(), columns=cols).to_csv(tmp / "check.csv", index=False)
            (tmp / "check.json").write_text(strict_json(self.to_json()) + "\n",
                                            encoding="utf-8")
        return Path(outdir).expanduser().resolve()


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------------------- loading
def scenario_paths(paths: list[str | Path] | None = None) -> list[Path]:
    """Scenario files to check: files as given, folders as their ``*.yaml`` (not recursive);
    default :data:`DEFAULT_DIR` (see there)."""
    if not paths:
        from apopsim.library import scenarios_dir

        paths = [DEFAULT_DIR if DEFAULT_DIR.is_dir() else scenarios_dir()]
    out: list[Path] = []
    for p in [Path(x) for x in paths]:
        if p.is_dir():
            out += sorted(p.glob("*.yaml"))
        elif p.is_file():
            out.append(p)
        else:
            raise ScenarioError(f"{p}: no such scenario file or folder",
                                [(str(p), "no such file or folder")])
    return list(dict.fromkeys(q.resolve() for q in out))


class _Loaded:
    """Scenarios by resolved path, with their YAML line index (for located messages)."""

    def __init__(self) -> None:
        self.scenarios: dict[Path, Scenario] = {}
        self.lines: dict[Path, dict] = {}

    def get(self, path: Path) -> Scenario:
        path = path.resolve()
        if path not in self.scenarios:
            self.scenarios[path] = load_scenario(path)
            self.lines[path] = _read_yaml(path, str(path))[1]
        return self.scenarios[path]

    def where(self, path: Path, loc: tuple) -> str:
        return located(_rel(path), self.lines.get(path, {}), loc)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _panel(base: Path, patterns: list[str]) -> list[Path]:
    members: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(str(base / pat))) if any(c in pat for c in "*?[") else [
            str(base / pat)]
        members += [Path(h).resolve() for h in hits]
    return list(dict.fromkeys(members))


def _collect(paths: list[Path]) -> tuple[_Loaded, dict[Path, list[tuple[Path, Any]]]]:
    """Load the scenarios and everything their expectations read; check every measure.

    Returns the loaded scenarios and, per scenario path, the ``(path, measure)`` pairs read
    from it (for the fast-mode reduction). Raises one :class:`ScenarioError` for all problems.
    """
    loaded = _Loaded()
    problems: list[tuple[str, str]] = []
    reads: dict[Path, list[tuple[Path, Any]]] = {}
    for path in paths:
        try:
            s = loaded.get(path)
        except ScenarioError as exc:
            problems += exc.problems
            continue
        reads.setdefault(path, [])
        problems += [(loaded.where(path, loc), msg) for loc, msg in expectation_problems(s)]
        for i, e in enumerate(s.expect):
            if isinstance(e, CheckedElsewhereExpectation):
                problems += [(loaded.where(path, ("expect", i, "checked_in", j)),
                              f"no such claim file: {_rel(path.parent / f)}")
                             for j, f in enumerate(e.checked_in) if not (path.parent / f).is_file()]
            # (measure, its path under expect[i], the panel member it is read in)
            targets: list[tuple[Any, tuple, Path | None]] = [
                (m, (i, *p), None) for p, m in e.measures()]
            if isinstance(e, CorrelationExpectation):
                members = _panel(path.parent, e.panel)
                if len(members) < 3:
                    problems.append((loaded.where(path, ("expect", i, "panel")),
                                     f"a panel needs at least 3 scenario files (found "
                                     f"{len(members)})"))
                targets = [(m, loc, member) for member in members for m, loc, _ in targets]
            for m, loc, member in targets:
                other = member or (path.parent / m.scenario if m.scenario else None)
                if other is None:
                    reads[path].append((path, m))
                    continue
                try:
                    o = loaded.get(other)
                except ScenarioError as exc:
                    problems.append((loaded.where(path, ("expect", *loc)),
                                     f"cannot read {_rel(other)}: " + "; ".join(
                                         f"{w}: {msg}" for w, msg in exc.problems)))
                    continue
                reads.setdefault(other.resolve(), []).append((path, m))
                problems += [(loaded.where(path, ("expect", *loc, *p)), f"{msg} (in {_rel(other)})")
                             for p, msg in measure_problems(m, o)]
    if problems:
        raise ScenarioError(_summarise(problems), problems)
    return loaded, reads


def validate_scenarios(paths: list[str | Path]) -> list[Scenario]:
    """Load and check the scenario files at ``paths`` and their expectations (names, doses and
    times against every scenario they read), running nothing; raise one located
    :class:`ScenarioError` listing every problem."""
    files = scenario_paths(paths)
    loaded, _ = _collect(files)
    return [loaded.scenarios[p] for p in files]


# ------------------------------------------------------------------------- fast reduction
def reduce_for_check(s: Scenario, measures: list[Any]) -> Scenario:
    """The fast-mode version of ``s`` given the ``measures`` read from it (module docstring);
    only drug doses are cut (inputs keep their values)."""
    lists = {d: v for d, v in s.dose_lists().items() if d in s.drugs}
    keep: dict[str, set[float]] = {d: {0.0} for d in lists}
    full: set[str] = set()
    for m in measures:
        if isinstance(m, SynergyMeasure):
            if m.dose is None or m.method in ("loewe", "zip"):
                full.update(d for d, v in lists.items() if len(v) > 1)
            else:
                for d, v in m.dose.items():
                    keep.setdefault(d, set()).add(v)
        elif isinstance(m, IC50Measure):
            full.add(m.ic50)
            for d, v in m.condition.items():
                keep.setdefault(d, set()).add(v)
        else:
            conds = [m.condition] + ([m.relative_to.condition] if m.relative_to else [])
            for c in conds:
                for d, v in c.items():
                    keep.setdefault(d, set()).add(v)
    drugs = {d: (v if d in full or s.design != "grid"
                 else [x for x in v if any(math.isclose(x, k, rel_tol=1e-9, abs_tol=1e-12)
                                           for k in keep[d])])
             for d, v in lists.items()}
    data = s.model_dump(mode="python")
    data["drugs"] = drugs
    if data.get("population"):
        data["population"]["n_cells"] = min(data["population"]["n_cells"], FAST_N_CELLS)
    t = data["time"]
    if not t.get("output_times_h"):
        t["output_every_h"] = max(t.get("output_every_h") or 0.0, FAST_OUTPUT_EVERY_H)
    out = Scenario.model_validate(data)
    out._base_dir, out._source = s.base_dir, s.source
    return out


# ------------------------------------------------------------------------------ measuring
def _condition(r: ScenarioResult, doses: dict[str, float]):
    """The condition with ``doses``; a factor not named there is at 0 (drugs) or has a single
    value in the scenario (e.g. a fixed input)."""
    lists = r.scenario.dose_lists()

    def close(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)

    for c in r.conditions:
        named = all(close(c.doses_nM.get(k, 0.0), v) for k, v in doses.items())
        rest = all(close(v, 0.0) or len(set(lists.get(k, [v]))) == 1
                   for k, v in c.doses_nM.items() if k not in doses)
        if named and rest:
            return c
    raise KeyError(f"scenario {r.scenario.name!r} has no condition {doses or 'control'}")


def _readout(r: ScenarioResult, readout: str, doses: dict[str, float], t: float,
             stat: str = "mean") -> tuple[float, float, float]:
    """``(value, low, high)``: Wilson bounds for fractions, else ``low = high = value``."""
    c = _condition(r, doses)
    if readout == "apoptotic_fraction":
        return c.apoptotic_fraction(t)
    if readout == "median_time_to_death_h":
        live = c.live
        dead = live[live <= t + 1e-9]
        v = float(np.median(dead)) if dead.size else math.nan
        return v, v, v
    i = r.conditions.index(c)
    v = float(np.interp(t, r.times_h, r.trace(i, readout, stat)))
    return v, v, v


class _Evaluator:
    """Measures on run results (results by scenario path; synergy tables cached)."""

    def __init__(self, results: dict[Path, ScenarioResult]) -> None:
        self.results = results
        self._synergy: dict[tuple, Any] = {}

    def result(self, base: Path, m: Any, member: Path | None = None) -> ScenarioResult:
        if member is not None:
            return self.results[member.resolve()]
        return self.results[(base.parent / m.scenario).resolve() if m.scenario else base]

    def measure(self, base: Path, m: Any, member: Path | None = None
                ) -> tuple[float, float, float]:
        """``(value, low, high)`` of measure ``m`` read from its scenario."""
        r = self.result(base, m, member)
        if isinstance(m, ReadoutMeasure):
            v = _readout(r, m.readout, m.condition, m.at_h, m.stat)
            if m.relative_to is None:
                return v
            b = m.relative_to
            ref = _readout(r, m.readout, b.condition, m.at_h if b.at_h is None else b.at_h,
                           m.stat)[0]
            x = v[0] / ref if ref else math.nan
            return x, x, x
        if isinstance(m, SynergyMeasure):
            x = self.synergy(r, m)
            return x, x, x
        x = ic50(r, m)
        return x, x, x

    def synergy(self, r: ScenarioResult, m: SynergyMeasure) -> float:
        key = (id(r), m.method, m.at_h)
        if key not in self._synergy:
            import warnings

            from apopsim.report.synergy import grid_wells
            from apopsim.synergy import analyze

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = analyze(grid_wells(r, m.at_h), data_type="inhibition", scale="fraction",
                              methods=[m.method], seed=r.scenario.seed, strict=False)
            self._synergy[key] = res.wells
        w = self._synergy[key]
        if m.dose is not None:
            d1, d2 = w["drug1"].iloc[0], w["drug2"].iloc[0]
            hit = w[np.isclose(w["conc1"], m.dose[d1]) & np.isclose(w["conc2"], m.dose[d2])]
            return float(hit[m.method].iloc[0])
        combo = w[(w["conc1"] > 0) & (w["conc2"] > 0)][m.method]
        return float(combo.mean() if m.summary == "mean" else combo.max())


def ic50(r: ScenarioResult, m: IC50Measure) -> float:
    """Dose (nM) of ``m.ic50`` at which the apoptotic fraction at ``m.at_h`` reaches
    ``m.level`` (log-linear interpolation; ``inf`` if never, the lowest dose if at once)."""
    doses = sorted(x for x in r.scenario.dose_lists()[m.ic50] if x > 0)
    prev: tuple[float, float] | None = None
    for d in doses:
        f = _condition(r, {**m.condition, m.ic50: d}).apoptotic_fraction(m.at_h)[0]
        if f >= m.level:
            if prev is None or f == prev[1]:
                return d
            w = (m.level - prev[1]) / (f - prev[1])
            return float(10 ** (math.log10(prev[0]) + w * (math.log10(d) - math.log10(prev[0]))))
        prev = (d, f)
    return math.inf


def _fmt(x: float) -> str:
    return "nan" if x is None or math.isnan(x) else "inf" if math.isinf(x) else f"{x:.3g}"


def evaluate(e: Any, base: Path, results: dict[Path, ScenarioResult],
             ev: _Evaluator | None = None) -> tuple[float, str, str, bool]:
    """Evaluate expectation ``e`` of the scenario file ``base`` on run ``results`` (by
    resolved scenario path): ``(measured, measured_text, expected_text, passed)``."""
    ev = ev or _Evaluator(results)
    if isinstance(e, NotModelledExpectation):
        return math.nan, "not modelled", f"needs {e.needs}", False
    if isinstance(e, CheckedElsewhereExpectation):
        return math.nan, "not run in this check", "see " + ", ".join(e.checked_in), False
    if isinstance(e, CompareExpectation):
        up = e.op == ">"
        left = ev.measure(base, e.left)
        rights = [ev.measure(base, m) for m in e.right]
        lv = (left[1] if up else left[2]) if e.wilson else left[0]
        rv = [((r[2] if up else r[1]) if e.wilson else r[0]) for r in rights]
        worst, passed = compare_worst(lv, rv, e.op, e.scale, e.margin, e.tolerance)
        name = "low" if up else "high"
        lt = f"{_fmt(lv)} ({name} bound)" if e.wilson else _fmt(lv)
        text = f"{lt} vs {', '.join(_fmt(x) for x in rv)}: {_fmt(worst)}"
        return worst, text, e.expected_text(), passed
    if isinstance(e, CorrelationExpectation):
        from scipy import stats

        members = _panel(base.parent, e.panel)
        xs = [ev.measure(base, e.x, p)[0] for p in members]
        ys = [ev.measure(base, e.y, p)[0] for p in members]
        pairs = [(x, y) for x, y in zip(xs, ys) if not (math.isnan(x) or math.isnan(y))]
        if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
            rho = math.nan
        else:
            a, b = np.array(pairs).T
            if e.method == "pearson":
                rho = float(stats.pearsonr(a, b)[0])
            else:
                rho = float(stats.spearmanr(a, b)[0])
        text = (f"{e.method} {_fmt(rho)} (n={len(pairs)}; x {', '.join(map(_fmt, xs))}; "
                f"y {', '.join(map(_fmt, ys))})")
        return rho, text, e.expected_text(e.tolerance), e.holds(rho, e.tolerance)
    v = ev.measure(base, e)[0]
    return v, _fmt(v), e.expected_text(e.tolerance), e.holds(v, e.tolerance)


# ----------------------------------------------------------------------------------- main
def check_scenarios(paths: list[str | Path] | None = None, *, fast: bool = False,
                    executor: str | None = None, workers: int | None = None,
                    progress: bool = False) -> CheckReport:
    """Run the scenarios at ``paths`` (files or folders; default ``scenarios/``) and every
    scenario their expectations read, and evaluate every expectation.

    Parameters
    ----------
    paths
        Scenario files or folders of them (``*.yaml``, not recursive).
    fast
        Reduced runs (see the module docstring).
    executor, workers
        Passed to :func:`apopsim.run_scenario` (default: each scenario's own setting).
    progress
        One line per scenario run on stderr.

    Raises
    ------
    ScenarioError
        Before anything runs, listing every invalid scenario or expectation with file:line
        and field.
    """
    import sys

    from apopsim.runner import run_scenario

    t0 = time.perf_counter()
    files = scenario_paths(paths)
    loaded, reads = _collect(files)
    unchecked = [loaded.scenarios[p].name for p in files if not loaded.scenarios[p].expect]
    needed = [p for p in reads if reads[p] or loaded.scenarios[p].expect]
    results: dict[Path, ScenarioResult] = {}
    timings: dict[str, float] = {}
    for p in needed:
        s = loaded.scenarios[p]
        if fast:
            s = reduce_for_check(s, [m for _, m in reads[p]])
        if progress:
            print(f"apopsim check: running {s.name} ({s.work_estimate().describe()})",
                  file=sys.stderr, flush=True)
        t = time.perf_counter()
        results[p] = run_scenario(s, progress=False, executor=executor, workers=workers)
        timings[s.name] = round(time.perf_counter() - t, 3)
    ev = _Evaluator(results)
    outcomes: list[Outcome] = []
    for p in files:
        s = loaded.scenarios[p]
        for i, e in enumerate(s.expect):
            pointer = isinstance(e, CheckedElsewhereExpectation)
            try:
                measured, text, expected, passed = evaluate(e, p, results, ev)
                status, detail = ("pass" if passed else "elsewhere" if pointer else "fail"), ""
                if passed and e.why_failing:
                    detail = "passes although why_failing is set: update the scenario"
            except Exception as exc:  # an expectation that cannot be evaluated fails, named
                measured, text, expected = math.nan, "error", ""
                status, detail = "error", f"{type(exc).__name__}: {exc}"
            failures = sum(len(r.failures) for r in results.values() if r.scenario.name == s.name)
            if failures:
                detail = (detail + "; " if detail else "") + f"{failures} cell simulations failed"
            outcomes.append(Outcome(
                study=e.study_label(s.name), scenario=s.name, file=_rel(p), index=i,
                kind=e.kind, role=e.role, claim=e.claim, source=e.source, measured=measured,
                measured_text=text, expected=expected, status=status,
                why_failing=(e.why_failing or "") if status != "pass" else "", detail=detail,
                checked_in="; ".join(_rel((p.parent / f).resolve()) for f in e.checked_in)
                if pointer else ""))
    outcomes.sort(key=lambda o: (_study_key(o.study), o.scenario, o.index))
    timings["total"] = round(time.perf_counter() - t0, 3)
    return CheckReport(resolve_pointers(outcomes), fast, timings, unchecked,
                       {r.scenario.name: r for r in results.values()})


def resolve_pointers(outcomes: list[Outcome]) -> list[Outcome]:
    """Fill each ``elsewhere`` pointer's ``measured_text`` with the verdicts of the files it
    names (``k of n pass`` per file, from the rows of ``outcomes`` with that ``file``; "not run
    in this check" if none). Returns ``outcomes`` (changed in place)."""
    for o in outcomes:
        if o.status != "elsewhere":
            continue
        parts = []
        for f in o.checked_in.split("; "):
            rows = [r for r in outcomes if r.file == f and r.status != "elsewhere"]
            name = Path(f).name
            parts.append(f"{name}: {sum(r.passed for r in rows)} of {len(rows)} pass" if rows
                         else f"{name}: not run in this check")
        o.measured_text = "; ".join(parts)
    return outcomes


def _study_key(study: str) -> tuple:
    return (0, int(study), "") if study.isdigit() else (1, 0, study)
