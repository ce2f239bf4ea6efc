"""``apopsim invivo``: run an in-vivo study file (PK -> cell-model kill hazard -> xenograft
growth of virtual animals) and write its report.

Wiring into the main CLI (``apopsim.cli``)::

    from apopsim.tissue import cli as tissue_cli
    tissue_cli.add_parser(sub)              # registers "invivo", sets defaults func=run

Errors are raised as :class:`~apopsim.errors.ApopsimError` subclasses (invalid study:
:class:`~apopsim.errors.ScenarioError`, refused output folder: ``OutputError``), which the main
command reports with exit status 2. Standalone: ``python -m apopsim.tissue.cli STUDY.yaml``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DESCRIPTION = """\
Run an in-vivo study (scenarios/invivo/*.yaml): plasma PK of every arm's regimens
(models/pk.yaml), the kill hazard from a cell-model population at the free plasma
concentrations, and Simeoni xenograft growth of virtual animals. Writes OUTDIR/summary.csv (one
row per arm: TGI %, median volumes, regrowth), volumes.csv, pk.csv, kill_table.csv, animals.csv,
run.json and plots/, atomically (default OUTDIR: results/<study name>).
"""


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``invivo`` options to an argument parser."""
    p.add_argument("study", metavar="STUDY.yaml", help="in-vivo study file")
    p.add_argument("-o", "--outdir", help="output folder (default results/<study name>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUTDIR even if it is a non-empty folder apopsim did not write")
    p.add_argument("--fast", action="store_true",
                   help="<= 12 cells in the kill link and <= 4 animals (also APOPSIM_FAST=1)")
    p.add_argument("--no-cache", action="store_true",
                   help="recompute the kill table even if apopsim's cache holds it")
    p.add_argument("--validate", action="store_true", help="check the study file and stop")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return p


def add_parser(subparsers) -> None:
    """Register the ``invivo`` subcommand (defaults ``func=run``)."""
    p = subparsers.add_parser("invivo", help="run an in-vivo (xenograft) study file",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the study named by parsed arguments; 0 on success (errors are raised)."""
    from apopsim._io import reserve_output_dir
    from apopsim.tissue.study import load_study, run_study, write_study_report

    t0 = time.perf_counter()
    study = load_study(args.study)
    if args.validate:
        if not args.quiet:
            print(f"{args.study}: valid study ({len(study.arms)} arms)")
        return 0
    outdir = Path(args.outdir) if args.outdir else Path("results") / study.name
    with reserve_output_dir(outdir, overwrite=args.overwrite, protect=[Path(args.study)]) as t:
        fast = True if args.fast else None
        result = run_study(study, fast=fast, cache=not args.no_cache,
                           progress=None if not args.quiet else False)
        write_study_report(result, t, plots=not args.no_plots, overwrite=args.overwrite)
    if not args.quiet:
        cols = ["arm", "drugs", "tgi_percent", "median_volume_end_of_dosing_mm3",
                "median_regrowth_days_after_dosing"]
        print(result.summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        print(f"\nwrote {t} ({time.perf_counter() - t0:.1f} s); all columns in summary.csv")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m apopsim.tissue.cli``."""
    from apopsim.errors import ApopsimError

    p = configure_parser(argparse.ArgumentParser(prog="apopsim invivo", description=DESCRIPTION,
                                                 formatter_class=argparse.RawDescriptionHelpFormatter))
    try:
        return run(p.parse_args(argv))
    except ApopsimError as exc:
        print(f"apopsim invivo: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
