"""The ``apopsim`` command: a thin layer over the library API.

Exit status: 0 success; 1 the run finished but some conditions failed (reported); 2 invalid input
(scenario, model or arguments), nothing was written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apopsim.errors import ApopsimError, ScenarioError


def _cmd_run(args: argparse.Namespace) -> int:
    from apopsim.runner import run_scenario
    from apopsim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    outdir = Path(args.outdir) if args.outdir else Path("results") / scenario.name
    progress = False if args.quiet else None
    result = run_scenario(scenario, progress=progress, executor=args.executor,
                          workers=args.workers, scheduler=args.scheduler)
    result.write(outdir, plots=not args.no_plots)
    if not args.quiet:
        print(_summary_table(result))
        print(f"\nwrote {outdir.resolve()} ({result.wall_time_s:.2f} s); all columns are in "
              "summary.csv")
    failures = result.failures
    if failures:
        conds = sorted({c for c, _, _ in failures})
        print(f"apopsim: {len(failures)} cell simulation(s) failed in {len(conds)} "
              f"condition(s): {'; '.join(conds)}", file=sys.stderr)
        for c, cell, msg in failures[:5]:
            print(f"  {c}, cell {cell}: {msg.splitlines()[0]}", file=sys.stderr)
        print("  (all failures are listed in run.json and deaths.csv)", file=sys.stderr)
        return 1
    return 0


def _summary_table(result) -> str:
    """A compact, readable view of summary.csv for the terminal."""
    df = result.to_dataframe()
    times = result.scenario.time.readout_times()
    cols = {f"apoptotic_fraction_{t:g}h": f"dead by {t:g} h" for t in times}
    view = df[["condition", *cols, "time_to_death_h"]].rename(
        columns={**cols, "time_to_death_h": "median death (h)"})
    if result.n_cells > 1:
        view["live cells"] = [c.n_ok for c in result.conditions]
    if df["n_failed"].any():
        view["failed"] = df["n_failed"]
    return view.to_string(index=False, float_format=lambda x: f"{x:.3g}")


def _cmd_validate(args: argparse.Namespace) -> int:
    from apopsim.scenario import load_scenario

    s = load_scenario(args.scenario)
    print(f"{args.scenario}: valid ({len(s.conditions())} conditions, model {s.model!r})")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from apopsim.scenario import scenario_json_schema

    print(json.dumps(scenario_json_schema(), indent=2))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from apopsim.library import list_models, load_model

    for name in list_models():
        try:
            m = load_model(name)
        except ApopsimError as exc:
            print(f"{name}: ERROR {exc}")
            continue
        print(f"{name}: {len(m.species)} species, {len(m.reactions)} reactions; "
              f"drug inputs (nM): {', '.join(m.drug_inputs) or 'none'}")
        print(f"    species: {', '.join(m.species)}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from apopsim.library import load_model

    m = load_model(args.model, args.context)
    print(f"model {m.name} ({m.source})")
    print("units: concentrations nM, time h")
    print(f"drug inputs (nM): {', '.join(m.drug_inputs) or 'none'}")
    print("\nspecies (initial nM):")
    for k, v in m.initial_concentrations().items():
        print(f"  {k:24s} {v:12.6g}")
    print("\nparameters:")
    for k, v in m.parameters.items():
        print(f"  {k:24s} {v:12.6g}")
    print("\nassignment rules:")
    for k, v in m.assignment_rules.items():
        print(f"  {k} := {v}")
    print(f"\nreactions ({len(m.reactions)}):")
    for r in m.reactions:
        lhs = " + ".join(f"{c:g} {s}" if c != 1 else s for s, c in r.reactants.items()) or "∅"
        rhs = " + ".join(f"{c:g} {s}" if c != 1 else s for s, c in r.products.items()) or "∅"
        print(f"  {r.id}: {lhs} -> {rhs}; {r.rate}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import libsbml

    from apopsim._io import atomic_write_text
    from apopsim.library import load_model

    m = load_model(args.model, args.context)
    text = m.to_sbml()
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        for e in errors:
            print(f"apopsim: SBML check: {e.getMessage().strip()}", file=sys.stderr)
        return 2
    atomic_write_text(args.sbml, text)
    print(f"wrote {args.sbml}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from apopsim import __version__

    p = argparse.ArgumentParser(
        prog="apopsim",
        description="Mechanistic simulator of apoptosis for drug-combination research "
        "(concentrations in nM, time in hours).",
    )
    p.add_argument("--version", action="version", version=f"apopsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a scenario and write tables, plots and run.json")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("-o", "--outdir", help="output directory (default results/<scenario name>)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    r.add_argument("--executor", choices=["serial", "processes", "dask"],
                   help="where to run (default: the scenario's execution.executor)")
    r.add_argument("--workers", type=int, help="number of worker processes")
    r.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser("validate", help="check a scenario without running it")
    v.add_argument("scenario")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    s.set_defaults(func=_cmd_schema)

    m = sub.add_parser("models", help="list built-in models with species and drug inputs")
    m.set_defaults(func=_cmd_models)

    sh = sub.add_parser("show", help="show a model's species, parameters and reactions")
    sh.add_argument("model", help="built-in model name or model file")
    sh.add_argument("--context", help="apply a named cell context")
    sh.set_defaults(func=_cmd_show)

    e = sub.add_parser("export", help="export a model to SBML (checked with libsbml)")
    e.add_argument("model", help="built-in model name or model file")
    e.add_argument("--sbml", required=True, help="output SBML file")
    e.add_argument("--context", help="apply a named cell context")
    e.set_defaults(func=_cmd_export)

    from apopsim.synergy import cli as synergy_cli

    synergy_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apopsim`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"apopsim: {exc}", file=sys.stderr)
        return 2
    except ApopsimError as exc:
        print(f"apopsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("apopsim: interrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
