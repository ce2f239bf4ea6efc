"""``apopsim synergy``: synergy analysis of measured drug-combination data.

Wiring into the main CLI (``apopsim.cli``)::

    from apopsim.synergy import cli as synergy_cli
    synergy_cli.add_parser(subparsers)      # registers "synergy", sets defaults func=run
    ...
    return args.func(args)                  # -> synergy_cli.run(args)

Standalone: ``python -m apopsim.synergy.cli DATA.csv -o OUTDIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from .flags import add_arguments

DESCRIPTION = """\
Compute Bliss, HSA, Loewe, ZIP, Chou-Talalay CI and MuSyC synergy for every block of a
SynergyFinder long-format CSV file (columns block_id, drug1, drug2, conc1, conc2, response,
conc_unit; one row per well and replicate).

Writes OUTDIR/wells.csv (one row per block and well), OUTDIR/summary.csv (one row per block),
OUTDIR/ci_rays.csv, OUTDIR/metadata.json and OUTDIR/plots/, atomically. An existing OUTDIR is
replaced only if apopsim wrote it, or with --overwrite; never the current folder or a folder
holding DATA.csv.

Conventions: responses are converted to fractional inhibition from the declared --data-type and
--scale; Bliss/HSA/Loewe/ZIP scores are percentage points of inhibition, positive = synergy;
CI < 1 = synergy; block scores are means over combination wells (both doses > 0).
"""

EXIT_OK = 0
EXIT_INPUT = 2


def configure_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the synergy options to an argument parser."""
    p.add_argument("data", metavar="DATA.csv", help="SynergyFinder long-format CSV file")
    p.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="output directory")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUTDIR even if it is a non-empty folder apopsim did not write",
    )
    add_arguments(p)  # the same flags SynergyOptions.from_args reads (light module)
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    return p


def add_parser(subparsers) -> None:
    """Register the ``synergy`` subcommand on an argparse ``subparsers`` object.

    The subparser's defaults include ``func=run``.
    """
    p = subparsers.add_parser(
        "synergy",
        help="synergy analysis of measured drug-combination data (SynergyFinder CSV)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_parser(p)
    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    """Stand-alone parser (``python -m apopsim.synergy.cli``)."""
    p = argparse.ArgumentParser(
        prog="apopsim synergy",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return configure_parser(p)


def _fail(msg: str) -> int:
    print(f"apopsim synergy: error: {msg}", file=sys.stderr)
    return EXIT_INPUT


def run(args: argparse.Namespace) -> int:
    """Run the analysis described by parsed arguments.

    Returns
    -------
    int
        0 on success, 2 on invalid input or options (message on stderr naming file, row,
        column and what was expected) or a refused output folder (see :mod:`apopsim._io`).
    """
    from apopsim._io import OutputError, reserve_output_dir

    from .analysis import analyze_file
    from .data import SynergyInputError, SynergyWarning
    from .options import SynergyOptions
    from .report import write_report

    try:  # one validated options object; errors name the flag
        options = SynergyOptions.from_args(
            args, note=lambda msg: print(f"apopsim synergy: note: {msg}", file=sys.stderr))
    except ValueError as exc:
        return _fail(str(exc))

    overwrite = bool(getattr(args, "overwrite", False))
    with contextlib.ExitStack() as stack:
        try:  # check and lock the output folder before the analysis
            stack.enter_context(
                reserve_output_dir(args.outdir, overwrite=overwrite, protect=[args.data])
            )
        except OutputError as exc:
            return _fail(str(exc))
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        warnings.simplefilter("always", SynergyWarning)
        try:
            result = analyze_file(args.data, options)
        except SynergyInputError as exc:
            return _fail(str(exc))
        out = write_report(result, args.outdir, plots=not args.no_plots, overwrite=overwrite)
    for w in caught:
        if issubclass(w.category, SynergyWarning):
            print(f"apopsim synergy: warning: {w.message}", file=sys.stderr)
    for msg in result.messages:
        if not any(str(w.message) == msg for w in caught):
            print(f"apopsim synergy: note: {msg}", file=sys.stderr)
    cols = [
        c
        for c in (
            "block_id",
            "bliss",
            "hsa",
            "loewe",
            "zip",
            "ci",
            "musyc_alpha12",
            "musyc_alpha21",
            "musyc_beta",
        )
        if c in result.summary
    ]
    print(result.summary[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {out}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m apopsim.synergy.cli``."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
