"""The ``apopsim`` command: a thin layer over the library API.

Exit status:

* 0 -- success (also when the reader of the output closed the pipe early, e.g. ``| head``);
* 1 -- the run finished but some cell simulations failed (reported), an I/O error, or an
  internal error (one line; set ``APOPSIM_DEBUG=1`` to see the traceback);
* 2 -- invalid input (scenario, model, data or arguments) or a refused output path (see
  :mod:`apopsim._io` for the overwrite policy); nothing was written;
* 130 -- interrupted (Ctrl-C); nothing was written.

Only light modules are imported at start-up (``apopsim --help`` must be fast): everything heavy
(the engine, sympy, pandas, numba, plotting, the synergy analysis) is imported by the command that
needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

from apopsim.errors import ApopsimError, ScenarioError

EPILOG = """\
exit status: 0 ok; 1 simulation failure, I/O or internal error; 2 invalid input or refused output
folder (nothing written); 130 interrupted.
An existing output folder is replaced only if apopsim wrote it, or with --overwrite; the current
folder, home, / and folders holding the inputs are never replaced."""


def _input_paths(scenario) -> list[Path]:
    """The scenario file and its model file (outputs must never replace them)."""
    from apopsim.library import resolve_model_path

    paths = [Path(scenario.source)] if getattr(scenario, "source", None) else []
    with contextlib.suppress(ApopsimError):  # an unknown model is reported by the run itself
        paths.append(resolve_model_path(scenario.model, getattr(scenario, "base_dir", None)))
    return paths


def _cmd_run(args: argparse.Namespace) -> int:
    from apopsim._io import reserve_output_dir
    from apopsim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    outdir = Path(args.outdir) if args.outdir else Path("results") / scenario.name
    protect = [Path(args.scenario), *_input_paths(scenario)]
    # check (and lock) the output folder before any simulation
    with reserve_output_dir(outdir, overwrite=args.overwrite, protect=protect) as target:
        from apopsim import report, runner

        progress = False if args.quiet else None
        result = runner.run_scenario(scenario, progress=progress, executor=args.executor,
                                     workers=args.workers, scheduler=args.scheduler)
        report.write_report(result, target, plots=not args.no_plots, progress=progress)
    if not args.quiet:
        print(_summary_table(result))
        total = time.perf_counter() - getattr(args, "t0", time.perf_counter())
        print(f"\nwrote {target} (simulation {result.wall_time_s:.2f} s, total "
              f"{total:.2f} s); all columns are in summary.csv")
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
    """A compact, readable view of summary.csv for the terminal.

    For populations it states the denominators: ``died / live`` is the number of cells that died
    during the run over the cells live at treatment start (simulated minus dead untreated minus
    failed), the denominator of every "dead by" fraction; the median time to death is over the
    cells that died only.
    """
    df = result.to_dataframe()
    times = result.scenario.time.readout_times()
    cols = {f"apoptotic_fraction_{t:g}h": f"dead by {t:g} h" for t in times}
    view = df[["condition", *cols, "median_time_to_death_h"]].rename(
        columns={**cols, "median_time_to_death_h": "median death (h)"})
    pop = result.n_cells > 1
    if pop:
        view["died / live"] = [f"{d} / {n}" for d, n in zip(df["n_died"], df["n_live_at_start"])]
        if df["n_dead_untreated"].any():
            view["dead untreated"] = df["n_dead_untreated"]
    if df["n_failed"].any():
        view["failed"] = df["n_failed"]
    text = view.to_string(index=False, float_format=lambda x: f"{x:.3g}")
    if pop:
        text += (f"\n{result.n_cells} cells simulated per condition; live = alive at treatment "
                 "start (simulated - dead untreated - failed),\nthe denominator of every "
                 "fraction; median death (h) is over the cells that died.")
    return text


def _cmd_validate(args: argparse.Namespace) -> int:
    from apopsim.check import validate_scenarios
    from apopsim.claims import file_kind

    path = Path(args.scenario)
    kind = file_kind(path) if path.is_file() else "scenario"  # a missing file: scenario error
    if kind == "culture":
        from apopsim.culture_study import load_culture

        c = load_culture(path)
        c.culture.options(c.context)  # the context exists and its culture: block is valid
        print(f"{path}: valid culture study ({len(c.conditions())} wells, "
              f"{len(c.expect)} expectations)")
        return 0
    if kind == "invivo":
        from apopsim.tissue.study import load_study

        st = load_study(path)
        print(f"{path}: valid in-vivo study ({len(st.arms)} arms, {len(st.expect)} "
              "expectations)")
        return 0
    if kind == "panel":
        from apopsim.panel import PanelSpec

        pn = PanelSpec.from_yaml(path)
        print(f"{path}: valid panel ({pn.n_lines} lines, {len(pn.expect)} expectations)")
        return 0
    s = validate_scenarios([args.scenario])[0]  # also the expect: claims against the runs
    claims = f", {len(s.expect)} expectations" if s.expect else ""
    print(f"{args.scenario}: valid ({len(s.conditions())} conditions, model {s.model!r}{claims})")
    if s.model_units:
        from apopsim.runner import scenario_model

        print(f"  model units (declared in the scenario): {scenario_model(s).units.describe()}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from apopsim.scenario import scenario_json_schema

    print(json.dumps(scenario_json_schema(), indent=2))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from apopsim.library import list_models, model_summary

    for name in list_models():
        try:
            m = model_summary(name)  # SBML only: no sympy, no compilation
        except ApopsimError as exc:
            print(f"{name}: ERROR {exc}")
            continue
        print(f"{name}: {len(m.species)} species, {m.n_reactions} reactions; "
              f"drug inputs (nM): {', '.join(m.drug_inputs) or 'none'}")
        print(f"    species: {', '.join(m.species)}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from apopsim.library import load_model

    if args.model.endswith((".yaml", ".yml")):  # a scenario: its model, context, units, overrides
        from apopsim.runner import scenario_model
        from apopsim.scenario import load_scenario

        m = scenario_model(load_scenario(args.model))
    else:
        m = load_model(args.model, args.context)
    print(f"model {m.name} ({m.source})")
    print(f"units: concentrations nM, time h ({m.units.describe()})")
    for note in m.units.notes:
        print(f"  note: {note}")
    print(f"drug inputs (nM): {', '.join(m.drug_inputs) or 'none'}")
    print("\nspecies (initial nM):")
    for k, v in m.initial_concentrations().items():
        print(f"  {k:24s} {v:12.6g}")
    print("\nparameters:")
    for k, v in m.parameters.items():
        print(f"  {k:24s} {v:12.6g}  {m.units.parameter_units.get(k, '')}".rstrip())
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

    from apopsim._io import atomic_write_text, check_output_file
    from apopsim.library import load_model

    check_output_file(args.sbml)
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


def _cmd_panel(args: argparse.Namespace) -> int:
    from apopsim._io import reserve_output_dir
    from apopsim.panel import PanelSpec, panel_correlations, run_panel, write_panel_report

    path = Path(args.panel)
    spec = PanelSpec.from_yaml(path)
    if args.lines:
        spec = spec.model_copy(update={"n_lines": args.lines})
    outdir = args.outdir or f"results/{spec.name}"
    with reserve_output_dir(outdir, overwrite=args.overwrite, protect=[path]) as target:
        lines = run_panel(spec)
        write_panel_report(spec, lines, target, overwrite=args.overwrite, protect=[str(path)])
    corr = panel_correlations(lines, spec.baseline)
    print(f"{spec.name}: {len(lines)} lines; Spearman correlation of the {spec.drug} killing "
          "concentration (nM) with each baseline readout (nM):")
    print(corr.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    verdicts = spec.evaluate(lines)
    for v in verdicts:
        print(f"  [{'PASS' if v['passed'] else 'FAIL'}] {v['claim']}: {v['measured']:.3g} "
              f"(expected {v['expected']})")
    print(f"\nwrote {target}/lines.csv, correlations.csv, panel.png, run.json")
    return 0


def _cmd_margins(args: argparse.Namespace) -> int:
    from apopsim._io import atomic_output_dir, reserve_output_dir
    from apopsim.errors import ApopsimError
    from apopsim.library import context_spec
    from apopsim.margins import plot_margins, survival_margins

    spec = context_spec(args.context)
    model = args.model or next((m for m in spec.get("models", []) if m != "p53"), None)
    if model is None:
        raise ApopsimError(f"context {args.context!r} names no model with a death rule; "
                           "give --model")
    outdir = args.outdir or f"results/margins_{args.context}"
    names = [n.strip() for n in args.parameters.split(",") if n.strip()] \
        if args.parameters else None
    with reserve_output_dir(outdir, overwrite=args.overwrite) as target:
        df = survival_margins(model, args.context, names, max_fold=args.max_fold,
                              rel_tol=args.rel_tol)
        with atomic_output_dir(target, overwrite=args.overwrite) as tmp:
            df.to_csv(tmp / "margins.csv", index=False)
            plot_margins(df, tmp / "margins.png", title=f"{model} / {args.context}",
                         max_fold=args.max_fold)
    view = df.assign(fold_down=df["fold_down"].map(lambda x: f"{x:.3g}"),
                     fold_up=df["fold_up"].map(lambda x: f"{x:.3g}"))
    print(f"untreated {model} / {args.context}: fold change of each synthesis rate at which the "
          f"cell dies (nan: alive over 1/{args.max_fold:g}..{args.max_fold:g})")
    print(view.to_string(index=False))
    print(f"\nwrote {target}/margins.csv and margins.png")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from apopsim._io import reserve_output_dir
    from apopsim.claims import check_all, claim_files

    paths = claim_files(args.paths)
    fast = args.fast or os.environ.get("APOPSIM_FAST", "") not in ("", "0")
    outdir = args.outdir or ("results/check_fast" if fast else "results/check")
    with contextlib.ExitStack() as stack:
        target = stack.enter_context(
            reserve_output_dir(outdir, overwrite=args.overwrite, protect=paths))
        if args.figures:  # both folders are checked before anything runs
            figdir = stack.enter_context(
                reserve_output_dir(args.figures, overwrite=args.overwrite, protect=paths))
        report = check_all(paths, fast=fast, executor=args.executor,
                           workers=args.workers, progress=not args.quiet)
        report.write(target, overwrite=args.overwrite, protect=paths)
        if args.figures:
            from apopsim.check_figures import headline_figures

            figures = headline_figures(report, figdir, overwrite=args.overwrite)
    print(report.table())
    if not args.quiet:
        print(f"\nwrote {target}/check.csv and check.json ({report.timings_s['total']:.1f} s)")
        if args.figures:
            print(f"wrote {len(figures)} headline figures to {figdir}")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from apopsim import __version__

    p = argparse.ArgumentParser(
        prog="apopsim",
        description="Mechanistic simulator of apoptosis for drug-combination research "
        "(concentrations in nM, time in hours).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"apopsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a scenario and write tables, plots and run.json")
    r.add_argument("scenario", help="scenario YAML file")
    r.add_argument("-o", "--outdir", help="output directory (default results/<scenario name>)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace OUTDIR even if it is a non-empty folder apopsim did not write")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    r.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    r.add_argument("--executor", choices=["serial", "processes", "dask"],
                   help="where to run (default: the scenario's execution.executor)")
    r.add_argument("--workers", type=int, help="number of worker processes")
    r.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser("validate", help="check a claim file (scenario, panel, in-vivo study or "
                       "culture study, told apart by its fields) without running it")
    v.add_argument("scenario", help="scenario, panel, in-vivo or culture YAML file")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    s.set_defaults(func=_cmd_schema)

    m = sub.add_parser("models", help="list built-in models with species and drug inputs")
    m.set_defaults(func=_cmd_models)

    sh = sub.add_parser("show", help="show a model's species, parameters and reactions")
    sh.add_argument("model", help="built-in model name, model file, or scenario file (.yaml: "
                    "its model with context, model_units and overrides applied)")
    sh.add_argument("--context", help="apply a named cell context")
    sh.set_defaults(func=_cmd_show)

    e = sub.add_parser("export", help="export a model to SBML (checked with libsbml)")
    e.add_argument("model", help="built-in model name or model file")
    e.add_argument("--sbml", required=True, help="output SBML file")
    e.add_argument("--context", help="apply a named cell context")
    e.set_defaults(func=_cmd_export)

    mg = sub.add_parser("margins", help="how far each synthesis rate can move before the "
                        "untreated cell of a context dies")
    mg.add_argument("context", help="cell context (models/contexts.yaml)")
    mg.add_argument("--model", help="model (default: the context's first model)")
    mg.add_argument("--parameters", help="comma-separated parameters (default: every ksyn_*)")
    mg.add_argument("--max-fold", type=float, default=20.0,
                    help="search range 1/F..F (fold; default 20)")
    mg.add_argument("--rel-tol", type=float, default=0.02,
                    help="relative precision of each fold (default 0.02)")
    mg.add_argument("-o", "--outdir", help="output folder (default results/margins_<context>)")
    mg.add_argument("--overwrite", action="store_true",
                    help="replace OUTDIR even if apopsim did not write it")
    mg.set_defaults(func=_cmd_margins)

    c = sub.add_parser("check", help="run scenarios and check their expect: claims "
                       "(exit 1 if any fails)")
    c.add_argument("paths", nargs="*", help="scenario, panel or in-vivo study files, or "
                   "folders of them (default scenarios/, scenarios/panels/, scenarios/invivo/, "
                   "scenarios/cultures/)")
    c.add_argument("--fast", action="store_true",
                   help="reduced runs for CI (also APOPSIM_FAST=1): <= 50 cells, output every "
                   ">= 1 h, only the doses the claims name; <= 32 panel lines; the in-vivo fast "
                   "setting (see apopsim.claims)")
    c.add_argument("-o", "--outdir",
                   help="output folder for check.csv/check.json (default results/check, "
                   "results/check_fast with --fast)")
    c.add_argument("--overwrite", action="store_true",
                   help="replace OUTDIR even if apopsim did not write it")
    c.add_argument("--figures", metavar="DIR",
                   help="also draw each study's headline figure into DIR (study_<study>.png)")
    c.add_argument("-q", "--quiet", action="store_true", help="only the table")
    c.add_argument("--executor", choices=["serial", "processes", "dask"],
                   help="where to run (default: each scenario's execution.executor)")
    c.add_argument("--workers", type=int, help="number of worker processes")
    c.set_defaults(func=_cmd_check)

    pn = sub.add_parser("panel", help="run a virtual cell-line panel (scenarios/panels/): "
                        "killing concentration per line against baseline complexes")
    pn.add_argument("panel", help="panel YAML file")
    pn.add_argument("--lines", type=int, help="number of lines (default: the file's n_lines)")
    pn.add_argument("-o", "--outdir", help="output folder (default results/<panel name>)")
    pn.add_argument("--overwrite", action="store_true",
                    help="replace OUTDIR even if apopsim did not write it")
    pn.set_defaults(func=_cmd_panel)

    from apopsim.synergy import cli as synergy_cli
    from apopsim.tissue import cli as tissue_cli

    synergy_cli.add_parser(sub)
    tissue_cli.add_parser(sub)
    from apopsim import culture_cli

    culture_cli.add_parser(sub)  # apopsim culture FILE -o DIR
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as ``apopsim: warning: <text>`` (no source line)."""
    text = " ".join(str(message).split())
    print(f"apopsim: warning: {text}", file=sys.stderr if file is None else file)


def _quiet_broken_pipe() -> int:
    """The reader closed stdout (``| head``): stop quietly, without a flush error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apopsim`` command; returns the exit status (see module docstring)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        original = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, UserWarning):
                _show_warning(message, category, filename, lineno, file, line)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            args.t0 = t0
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
        except BrokenPipeError:
            return _quiet_broken_pipe()
        except OSError as exc:
            print(f"apopsim: error: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            if os.environ.get("APOPSIM_DEBUG", "") not in ("", "0"):
                import traceback

                traceback.print_exc()
            msg = " ".join(str(exc).split())
            print(f"apopsim: internal error: {type(exc).__name__}: {msg}", file=sys.stderr)
            print("  (set APOPSIM_DEBUG=1 to see the traceback)", file=sys.stderr)
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
