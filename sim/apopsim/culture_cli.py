"""``apopsim culture``: run a culture study file (:mod:`apopsim.culture_study`) and write its
report. Light at import (the command's parser is built at every start-up); the study module is
imported when the command runs. Errors are :class:`~apopsim.errors.ApopsimError` subclasses
(invalid file: ``ScenarioError``, refused output folder: ``OutputError``; exit status 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from apopsim.errors import ApopsimError

DESCRIPTION = """\
Grow a culture study (scenarios/cultures/*.yaml): every well of the dose grid from the same
founders, dividing, drifting and dying, read at the readout times as live cells, viability vs
vehicle, GR value and apoptotic fraction, with GR50/GRmax per drug and synergy on each readout at
each time. With regrowth_h the drugs are washed out at duration_h and the wells grow drug-free
(clonogenic-like readouts: viability, regrowth_gr, resumed_fraction after the washout).
Writes OUTDIR/summary.csv, columns.csv, counts.csv, gr_metrics.csv, synergy.csv,
synergy_wells.csv, run.json and plots/, atomically (default OUTDIR: results/<name>).
"""


def add_parser(subparsers: Any) -> None:
    """Register the ``culture`` subcommand (defaults ``func=cli_run``)."""
    p = subparsers.add_parser("culture", help="grow a culture study (dividing cells under a "
                              "dose grid): viability, GR, synergy over time",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("culture", metavar="CULTURE.yaml", help="culture study file")
    p.add_argument("-o", "--outdir", help="output folder (default results/<name>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUTDIR even if it is a non-empty folder apopsim did not write")
    p.add_argument("--founders", type=int, help="cells seeded per well (default: the file's)")
    p.add_argument("--fast", action="store_true",
                   help="at most 8 founders per well (culture_study.FAST_FOUNDERS; also "
                   "APOPSIM_FAST=1)")
    p.add_argument("--validate", action="store_true", help="check the file and stop")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cli_run)


def cli_run(args: argparse.Namespace) -> int:
    """Run the culture file named by parsed arguments; 0 on success, 1 if cells failed."""
    from apopsim._io import reserve_output_dir
    from apopsim.culture_study import check_culture, load_culture, run_culture, write_culture_report

    t0 = time.perf_counter()
    spec = load_culture(args.culture)
    if args.founders is not None and args.founders < 1:
        raise ApopsimError("--founders must be at least 1")
    if args.validate:
        if not args.quiet:
            print(f"{args.culture}: valid culture study ({len(spec.conditions())} wells, "
                  f"{len(spec.expect)} expectations)")
        return 0
    outdir = Path(args.outdir) if args.outdir else Path("results") / spec.name
    with reserve_output_dir(outdir, overwrite=args.overwrite,
                            protect=[Path(args.culture)]) as target:
        result = run_culture(spec, founders=args.founders, fast=True if args.fast else None,
                             progress=False if args.quiet else None)
        write_culture_report(result, target, plots=not args.no_plots,
                             overwrite=args.overwrite)
    if not args.quiet:
        cols = ["condition", "time_h", "live_cells", "dead_cells", "viability", "gr_value",
                "apoptotic_fraction"]
        if spec.regrowth_h:
            cols[6:6] = ["regrowth_gr", "resumed_fraction"]
            print(f"washout at {spec.duration_h:g} h, then {spec.regrowth_h:g} h drug-free")
        print(result.summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        table = result.synergy_table()
        if len(table):
            view = table.pivot_table(index=["readout", "method"], columns="time_h",
                                     values="mean_pp", sort=False)
            view.columns = [f"{t:g} h" for t in view.columns]
            print("\nsynergy (pp, mean over combination wells):")
            print(view.to_string(float_format=lambda v: f"{v:.3g}"))
        for o in check_culture(result):
            print(f"  [{o.status.upper()}] {o.claim}: {o.measured_text} (expected {o.expected})")
        print(f"\nwrote {target} ({time.perf_counter() - t0:.1f} s; "
              f"{result.provenance['live_cell_hours_total']:.0f} live cell-hours)")
    failed = result.provenance["n_cells_failed"]
    if failed:
        print(f"apopsim: {failed} cell integration(s) failed (dropped; see run.json)",
              file=sys.stderr)
        return 1
    return 0
