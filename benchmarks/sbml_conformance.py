"""SBML Test Suite conformance: apopsim and libRoadRunner on the suite's semantic time courses.

Each case (``cases/semantic/NNNNN/`` of https://github.com/sbmlteam/sbml-test-suite: the model
``NNNNN-sbml-l3v2.xml`` (or the highest level present), ``NNNNN-settings.txt`` and the expected
``NNNNN-results.csv``) is run as one cell from ``t = 0``, without pre-equilibration, at the case's
output times, reporting amounts or concentrations as the settings say. apopsim converts models
that declare units to hours and nM at load; its outputs are converted back to the model's own
units here (``Model.units``) before they are compared. The suite's pass rule: every value within
``absolute + relative * |expected|``.

Outcomes: ``pass``; ``rejected`` (a clear :class:`~apopsim.errors.ModelError`: a feature apopsim
refuses); ``wrong`` (ran, outside tolerance: must never happen); ``error`` (another apopsim error,
e.g. the solver gave up); ``crash`` (any other exception, or over the time limit).

    python benchmarks/sbml_conformance.py CASES_DIR [--every K] [--first N] [--ids 1,5-9]
        [--tags EventWithDelay] [--skip-tags CSymbolDelay,AlgebraicRule]
        [--out results.csv] [--timeout 60]

``CASES_DIR`` is the suite's ``cases/semantic`` folder, or a ``.tar.xz`` archive of case folders
(as vendored in ``tests/data/sbml_test_suite/``).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import re
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEVELS = ("l3v2", "l3v1", "l2v5", "l2v4", "l2v3", "l2v2", "l2v1", "l1v2")


@dataclass
class Case:
    """One test case: its id, SBML text, settings, expected table and tags."""

    id: str
    sbml: str
    settings: dict[str, str]
    expected: dict[str, np.ndarray]
    tags: tuple[str, ...]
    test_type: str

    @property
    def times(self) -> np.ndarray:
        return self.expected["time"]

    @property
    def variables(self) -> list[str]:
        return [v.strip() for v in self.settings.get("variables", "").split(",") if v.strip()]

    def wants_amount(self, v: str) -> bool:
        amounts = {x.strip() for x in self.settings.get("amount", "").split(",")}
        return v in amounts

    def wants_concentration(self, v: str) -> bool:
        concs = {x.strip() for x in self.settings.get("concentration", "").split(",")}
        return v in concs


def read_case(files: dict[str, str], case_id: str) -> Case | None:
    """A case from ``file name -> text`` (``None`` if it has no SBML at a supported level)."""
    sbml = next((files[f"{case_id}-sbml-{lv}.xml"] for lv in LEVELS
                 if f"{case_id}-sbml-{lv}.xml" in files), None)
    if sbml is None or f"{case_id}-settings.txt" not in files:
        return None
    settings = {}
    for line in files[f"{case_id}-settings.txt"].splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            settings[k.strip()] = v.strip()
    rows = list(csv.reader(files.get(f"{case_id}-results.csv", "").splitlines()))
    expected = {}
    if rows:
        header = [h.strip() for h in rows[0]]
        header[0] = "time"  # spelled "time" or "Time"
        data = np.array([[float(x) for x in r] for r in rows[1:] if r], dtype=float)
        expected = {h: data[:, i] for i, h in enumerate(header)}
    meta = files.get(f"{case_id}-model.m", "")
    tags: list[str] = []
    test_type = ""
    for key in ("componentTags", "testTags"):
        m = re.search(rf"^{key}:\s*(.*)$", meta, re.M)
        if m:
            tags += [t.strip() for t in m.group(1).split(",") if t.strip()]
    m = re.search(r"^testType:\s*(\S+)", meta, re.M)
    if m:
        test_type = m.group(1)
    return Case(case_id, sbml, settings, expected, tuple(tags), test_type)


def iter_cases(source: Path, ids: set[str] | None = None):
    """Yield cases from a ``cases/semantic`` folder or a tar archive of case folders."""
    if source.is_dir():
        for d in sorted(p for p in source.iterdir() if p.is_dir() and p.name.isdigit()):
            if ids and d.name not in ids:
                continue
            files = {f.name: f.read_text() for f in d.iterdir()
                     if f.suffix in (".xml", ".txt", ".csv", ".m")}
            case = read_case(files, d.name)
            if case is not None:
                yield case
        return
    by_case: dict[str, dict[str, str]] = defaultdict(dict)
    with tarfile.open(source) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            name = Path(member.name).name
            cid = name.split("-")[0]
            if ids and cid not in ids:
                continue
            fh = tar.extractfile(member)
            if fh is not None:
                by_case[cid][name] = fh.read().decode()
    for cid in sorted(by_case):
        case = read_case(by_case[cid], cid)
        if case is not None:
            yield case


# ---------------------------------------------------------------------- simulators
def run_apopsim(case: Case) -> dict[str, np.ndarray]:
    """Outputs of apopsim for ``case`` in the model's own units (raises on failure)."""
    import apopsim
    from apopsim.model import load_sbml_text

    model = load_sbml_text(_with_rate_outputs(case.sbml, case.variables), allow_events=True)
    u = model.units
    times_h = case.times / u.time_per_hour
    if model.events or not model.state or model.variable_compartments or model.fast_reactions:
        # the events integrator (apopsim.engine.sbml_events), which also runs sizes set by rules
        from apopsim.engine.sbml_events import simulate_sbml

        columns = simulate_sbml(model, times_h, rtol=1e-10, atol=1e-14)
    else:  # the engine every scenario uses
        off = apopsim.PreequilibrationOptions(enabled=False)
        traj = apopsim.simulate(model, times_h, preequilibration=off, engine="scipy",
                                method="LSODA", rtol=1e-10, atol=1e-14, max_steps=500_000)
        columns = {name: traj[name] for name in traj.names}
    out = {}
    for v in case.variables:
        if v in columns:
            val = np.array(columns[v], dtype=float)
        elif f"rate_of_{v}" in columns:
            val = np.array(columns[f"rate_of_{v}"], dtype=float)
        elif v in model.boundary_species:
            val = np.full(len(times_h), model.boundary_species[v])
        elif v in model.parameters:
            val = np.full(len(times_h), model.parameters[v])
        else:
            raise LookupError(f"no output {v!r}")
        comp = model.species_compartment.get(v)
        if comp is not None:
            val = val / u.nM_per_native.get(v, 1.0)  # back to native units
            size = columns[comp] if comp in columns else model.parameters[comp]
            if v in model.only_substance:
                if case.wants_concentration(v):
                    val = val / size
            elif case.wants_amount(v):
                val = val * size
        out[v] = val
    return out


def _with_rate_outputs(sbml: str, variables: list[str]) -> str:
    """The model with an assignment rule ``v := v`` for every requested output ``v`` that is a
    reaction id (a reaction's rate is not a trajectory column in apopsim; a rule naming the
    reaction id is). Hierarchical models are flattened first so their reaction ids exist."""
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    m = doc.getModel()
    if m is None:
        return sbml
    if doc.getPlugin("comp") is not None and doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0:
        props = libsbml.ConversionProperties()
        props.addOption("flatten comp", True)
        if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
            return sbml
        m = doc.getModel()
    wanted = [v for v in variables if m.getReaction(v) is not None]
    if not wanted:
        return sbml if doc.getPlugin("comp") is None else libsbml.writeSBMLToString(doc)
    for v in wanted:
        out = f"rate_of_{v}"
        p = m.createParameter()
        p.setId(out)
        p.setConstant(False)
        p.setValue(0.0)
        rule = m.createAssignmentRule()
        rule.setVariable(out)
        rule.setMath(libsbml.parseL3Formula(v))
    return libsbml.writeSBMLToString(doc)


def _flattened(sbml: str) -> str:
    """A hierarchical (``comp``) model flattened by libsbml's converter (else unchanged)."""
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    if doc.getPlugin("comp") is None or doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR):
        return sbml
    props = libsbml.ConversionProperties()
    props.addOption("flatten comp", True)
    if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
        return sbml
    return libsbml.writeSBMLToString(doc)


def run_roadrunner(case: Case) -> dict[str, np.ndarray]:
    """Outputs of libRoadRunner for ``case`` (raises on failure)."""
    import roadrunner

    rr = roadrunner.RoadRunner(_flattened(case.sbml))  # comp models: as apopsim reads them
    species = set(rr.model.getFloatingSpeciesIds()) | set(rr.model.getBoundarySpeciesIds())
    sel = ["time"] + [f"[{v}]" if v in species and case.wants_concentration(v) else v
                      for v in case.variables]
    rr.timeCourseSelections = sel
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.variable_step_size = False
    t = case.times
    if t[0] > 0:
        rr.simulate(0, float(t[0]), 2)
    res = rr.simulate(float(t[0]), float(t[-1]), len(t))
    return {v: np.asarray(res[:, i + 1]) for i, v in enumerate(case.variables)}


SIMULATORS = {"apopsim": run_apopsim, "roadrunner": run_roadrunner}


def passes(case: Case, got: dict[str, np.ndarray]) -> tuple[bool, str]:
    """The suite's rule: |got - expected| <= absolute + relative * |expected| everywhere."""
    atol = float(case.settings.get("absolute", 0) or 0)
    rtol = float(case.settings.get("relative", 0) or 0)
    for v in case.variables:
        exp, val = case.expected[v], got[v]
        with np.errstate(invalid="ignore"):  # inf - inf: equal infinities pass by exp == val
            bad = ~((np.isnan(exp) & np.isnan(val)) | (exp == val)
                    | (np.abs(val - exp) <= atol + rtol * np.abs(exp)))
        if bad.any():
            i = int(np.argmax(bad))
            return False, f"{v} at t={case.times[i]:g}: {val[i]:.6g} vs {exp[i]:.6g}"
    return True, ""


def classify(case: Case, simulator: str) -> tuple[str, str]:
    """``(outcome, message)`` of one simulator on one case."""
    from apopsim.errors import ApopsimError, ModelError

    if case.test_type != "TimeCourse":
        return "skipped", case.test_type
    try:
        got = SIMULATORS[simulator](case)
    except ModelError as exc:
        return "rejected", str(exc).splitlines()[0][:300]
    except ApopsimError as exc:
        return "error", str(exc).splitlines()[0][:300]
    except Exception as exc:  # noqa: BLE001  (classified, not hidden)
        kind = "rejected" if simulator == "roadrunner" else "crash"
        return kind, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    ok, why = passes(case, got)
    return ("pass", "") if ok else ("wrong", why)


def _worker(args: tuple[Case, str]) -> tuple[str, str]:
    return classify(*args)


def run_all(cases: list[Case], simulators: list[str], timeout: float = 60.0,
            progress: bool = False) -> list[dict[str, str]]:
    """Classify every case under every simulator, each in a child process with a time limit."""
    rows = []
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    pool = ctx.Pool(1, maxtasksperchild=25)
    try:
        for n, case in enumerate(cases):
            row = {"case": case.id, "tags": " ".join(case.tags)}
            for s in simulators:
                job = pool.apply_async(_worker, ((case, s),))
                try:
                    row[s], row[f"{s}_message"] = job.get(timeout)
                except mp.TimeoutError:
                    pool.terminate()
                    pool = ctx.Pool(1, maxtasksperchild=25)
                    row[s], row[f"{s}_message"] = "crash", f"over the {timeout:g} s limit"
                except Exception as exc:  # noqa: BLE001  (a child that died)
                    pool.terminate()
                    pool = ctx.Pool(1, maxtasksperchild=25)
                    row[s], row[f"{s}_message"] = "crash", f"worker died: {exc!r}"
            rows.append(row)
            if progress:
                print(f"{n + 1}/{len(cases)} {case.id} "
                      + " ".join(f"{s}={row[s]}" for s in simulators), file=sys.stderr)
    finally:
        pool.terminate()
    return rows


def by_tag(rows: list[dict[str, str]], simulators: list[str]) -> str:
    """Markdown table: outcomes per test-suite tag, one column group per simulator."""
    outcomes = ("pass", "rejected", "wrong", "error", "crash")
    table: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        for tag in ["(all)"] + r["tags"].split():
            table[tag]["n"] += 1
            for s in simulators:
                table[tag][f"{s}:{r[s]}"] += 1
    head = "| tag | cases | " + " | ".join(
        f"{s} {o}" for s in simulators for o in outcomes) + " |"
    lines = [head, "|" + "---|" * (2 + len(simulators) * len(outcomes))]
    for tag in sorted(table, key=lambda t: (t != "(all)", -table[t]["n"], t)):
        c = table[tag]
        lines.append(f"| {tag} | {c['n']} | " + " | ".join(
            str(c[f"{s}:{o}"]) for s in simulators for o in outcomes) + " |")
    return "\n".join(lines)


def _parse_ids(text: str) -> set[str]:
    ids = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            ids |= {f"{i:05d}" for i in range(int(a), int(b) + 1)}
        elif part:
            ids.add(f"{int(part):05d}")
    return ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", type=Path)
    ap.add_argument("--ids", default="", help="e.g. 1-100,1234")
    ap.add_argument("--every", type=int, default=1, help="every k-th time-course case")
    ap.add_argument("--first", type=int, default=0, help="at most this many cases")
    ap.add_argument("--tags", default="", help="only cases with one of these suite tags")
    ap.add_argument("--skip-tags", default="", help="no case with one of these suite tags")
    ap.add_argument("--simulators", default="apopsim,roadrunner")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=None, help="CSV of every case's outcome")
    args = ap.parse_args(argv)
    os.environ.setdefault("APOPSIM_JIT", "0")  # plain Python: no per-model compile wait
    os.environ.setdefault("APOPSIM_CACHE_DIR", tempfile.mkdtemp(prefix="apopsim-sbmlts-"))
    cases = [c for c in iter_cases(args.cases, _parse_ids(args.ids) or None)
             if c.test_type == "TimeCourse"]
    want, skip = (set(filter(None, x.split(","))) for x in (args.tags, args.skip_tags))
    cases = [c for c in cases if (not want or want & set(c.tags)) and not skip & set(c.tags)]
    cases = cases[:: args.every]
    if args.first:
        cases = cases[: args.first]
    sims = [s for s in args.simulators.split(",") if s]
    t0 = time.perf_counter()
    rows = run_all(cases, sims, args.timeout, progress=True)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    print(by_tag(rows, sims))
    print(f"\n{len(rows)} cases in {time.perf_counter() - t0:.0f} s")
    bad = sum(r.get("apopsim") in ("wrong", "crash") for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

