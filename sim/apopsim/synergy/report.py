"""Writing synergy results to disk (atomically): tables, metadata and plots."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from apopsim._io import atomic_output_dir, strict_json

from .analysis import CONVENTIONS, BlockResult, SynergyResult
from .data import SynergyWarning
from .registry import metrics

README = """apopsim synergy report
======================

wells.csv    one row per block and measured well (replicates averaged)
             conc1, conc2 in conc_unit1 / conc_unit2; inhibition, inhibition_sd in percent;
             bliss, hsa, loewe, zip: synergy scores in percentage points of inhibition
             (observed or ZIP-fitted minus reference; positive = synergy; 0 on monotherapy
             wells); *_reference, zip_fitted, musyc_fitted: percent inhibition;
             ci: combination index at the observed effect (CI < 1 = synergy);
             dri1, dri2: dose-reduction indices.
summary.csv  one row per block: settings, single-drug Hill fits (hill*_e0/emax in %,
             ec50 in conc unit), mean score per method over combination wells (both doses > 0),
             most-synergistic-area scores (*_msa, best 3x3 window), CI and DRI at effect levels
             (ci_50, ...), MuSyC parameters with bootstrap intervals (musyc_*_lo/_hi;
             musyc_E* in percent inhibition, musyc_C* in conc unit).
ci_rays.csv  Chou-Talalay analysis of each constant-ratio ray (if CI was computed).
metadata.json  options, conventions and messages.
plots/       figures (PNG, 300 dpi).

Conventions: {conventions}
"""

PLOT_NAMES = (
    "response_matrix",
    "single_drug_curves",
    "heatmap",
    "contour",
    "surface3d",
    "isobologram",
    "fa_ci",
    "synergy_vs_ratio",
)


def safe_name(value: object) -> str:
    """File-name-safe version of a block id."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("._")
    return text or "block"


def _metadata(result: SynergyResult) -> dict:
    try:
        from importlib.metadata import version

        ver = version("apopsim")
    except Exception:  # noqa: BLE001 - not installed: no version to record
        ver = None
    return {
        "tool": "apopsim.synergy",
        "apopsim_version": ver,
        "settings": result.settings,
        "conventions": CONVENTIONS,
        "units": {
            "inhibition": "percent",
            "scores": "percentage points of inhibition, positive = synergy",
            "ci": "dimensionless, < 1 = synergy",
            "doses": "conc_unit1 / conc_unit2 columns",
        },
        "messages": result.messages,
    }


def _ci_rays(result: SynergyResult) -> pd.DataFrame | None:
    frames = []
    for block in result.blocks.values():
        if block.ci is not None and len(block.ci.rays):
            rays = block.ci.rays.copy()
            rays.insert(0, "block_id", block.block_id)
            frames.append(rays)
    return pd.concat(frames, ignore_index=True) if frames else None


def block_plots(block: BlockResult, plot_dir: str | os.PathLike[str], prefix: str = "") -> list:
    """Draw every applicable figure of one block into ``plot_dir``.

    Returns the list of written paths.  A figure that fails is skipped with a
    :class:`~apopsim.synergy.data.SynergyWarning` (the tables are still written).
    """
    from . import plots
    from .plots import (
        plot_isobologram,
        plot_response_matrix,
        plot_single_drug_curves,
        plot_synergy_vs_ratio,
    )

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    stem = prefix + safe_name(block.block_id)
    jobs: list[tuple[str, Callable[[], object]]] = [
        (
            "response_matrix",
            lambda: plot_response_matrix(block, plot_dir / f"{stem}_response_matrix.png"),
        ),
        (
            "single_drug_curves",
            lambda: plot_single_drug_curves(block, plot_dir / f"{stem}_single_drug_curves.png"),
        ),
    ]
    registry = metrics()
    for k in block.results:  # the figures each computed metric offers (PlotSpec, by name)
        for spec in registry[k].plots:
            if spec.kind == "surface3d" and not plots.full_grid(block):
                continue  # no 3-D surface for grids under 3 x 3 non-zero doses
            fn = getattr(plots, spec.function)
            if spec.per_method:
                out = plot_dir / f"{stem}_{k}_{spec.kind}.png"
                jobs.append(
                    (f"{k} {spec.kind}", lambda fn=fn, k=k, out=out: fn(block, k, out))
                )
            else:
                out = plot_dir / f"{stem}_{spec.kind}.png"
                jobs.append((spec.kind, lambda fn=fn, out=out: fn(block, out)))
    if block.hill is not None or block.ci is not None:
        jobs.append(
            ("isobologram", lambda: plot_isobologram(block, plot_dir / f"{stem}_isobologram.png"))
        )
    if block.scores or block.ci is not None:
        jobs.append(
            (
                "synergy_vs_ratio",
                lambda: plot_synergy_vs_ratio(block, plot_dir / f"{stem}_synergy_vs_ratio.png"),
            )
        )
    written = []
    for name, job in jobs:
        try:
            written.append(job())
        except Exception as exc:  # noqa: BLE001 - one bad figure must not lose the report
            warnings.warn(
                f"block {block.block_id!r}: plot '{name}' failed ({exc.__class__.__name__}: {exc})",
                SynergyWarning,
                stacklevel=2,
            )
    return written


def write_report(
    result: SynergyResult,
    outdir: str | os.PathLike[str],
    *,
    plots: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write ``wells.csv``, ``summary.csv``, ``ci_rays.csv``, ``metadata.json``, ``README.txt``
    and ``plots/`` to ``outdir`` atomically (all or nothing).

    Parameters
    ----------
    result
        Output of :func:`apopsim.synergy.analyze`.
    outdir
        Target directory (replaced as a whole on success).
    plots
        Also draw the figures (the slow part).
    overwrite
        Also replace an existing non-empty folder that apopsim did not write. Without it, only
        an empty folder or an earlier apopsim output is replaced; anything else raises
        :class:`apopsim._io.OutputError` (see :mod:`apopsim._io` for the full policy).

    Returns
    -------
    pathlib.Path
        ``outdir``.
    """
    with atomic_output_dir(outdir, overwrite=overwrite) as tmp:
        _write_tables(result, tmp)
        if plots:
            for block in result.blocks.values():
                block_plots(block, tmp / "plots")
    return Path(outdir)


def _write_tables(result: SynergyResult, tmp: Path) -> None:
    result.wells.to_csv(tmp / "wells.csv", index=False)
    result.summary.to_csv(tmp / "summary.csv", index=False)
    rays = _ci_rays(result)
    if rays is not None:
        rays.to_csv(tmp / "ci_rays.csv", index=False)
    (tmp / "metadata.json").write_text(
        strict_json(_metadata(result)) + "\n", encoding="utf-8"
    )
    (tmp / "README.txt").write_text(README.format(conventions=CONVENTIONS), encoding="utf-8")


def write_time_course_report(
    results: Mapping[float, SynergyResult],
    outdir: str | os.PathLike[str],
    *,
    time_unit: str = "h",
    plots: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write the synergy tables of a time course, atomically.

    ``wells.csv`` and ``summary.csv`` are the per-time tables stacked with a leading ``time``
    column (and ``time_unit``); ``plots/`` holds ``synergy_vs_time.png`` and, with
    ``plots=True``, every per-block figure prefixed ``t<time>_``.

    Parameters
    ----------
    results
        ``{time: SynergyResult}``, e.g. from :func:`apopsim.synergy.analyze_time_course`.
    outdir
        Target directory.
    time_unit
        Unit of the times (label only).
    plots
        Draw the per-time block figures too (``synergy_vs_time.png`` is always drawn).
    overwrite
        As for :func:`write_report`.
    """
    times = sorted(results)
    if not times:
        raise ValueError("no results given")
    with atomic_output_dir(outdir, overwrite=overwrite) as tmp:
        wells, summaries, rays = [], [], []
        for t in times:
            r = results[t]
            for frame, acc in ((r.wells, wells), (r.summary, summaries)):
                f = frame.copy()
                f.insert(0, "time_unit", time_unit)
                f.insert(0, "time", t)
                acc.append(f)
            cr = _ci_rays(r)
            if cr is not None:
                cr.insert(0, "time", t)
                rays.append(cr)
        pd.concat(wells, ignore_index=True).to_csv(tmp / "wells.csv", index=False)
        pd.concat(summaries, ignore_index=True).to_csv(tmp / "summary.csv", index=False)
        if rays:
            pd.concat(rays, ignore_index=True).to_csv(tmp / "ci_rays.csv", index=False)
        first = results[times[0]]
        meta = _metadata(first)
        meta["times"] = times
        meta["time_unit"] = time_unit
        meta["messages"] = [
            f"t={t:g} {time_unit}: {msg}" for t in times for msg in results[t].messages
        ]
        (tmp / "metadata.json").write_text(strict_json(meta) + "\n", "utf-8")
        (tmp / "README.txt").write_text(
            README.format(conventions=CONVENTIONS)
            + "\nTime course: tables carry 'time' and 'time_unit' columns; "
            "plots/synergy_vs_time.png shows the block means against time.\n",
            encoding="utf-8",
        )
        (tmp / "plots").mkdir()
        from .plots import plot_synergy_vs_time

        plot_synergy_vs_time(
            {t: results[t].summary for t in times},
            tmp / "plots" / "synergy_vs_time.png",
            time_unit=time_unit,
        )
        if plots:
            for t in times:
                for block in results[t].blocks.values():
                    block_plots(block, tmp / "plots", prefix=f"t{safe_name(f'{t:g}')}_")
    return Path(outdir)
