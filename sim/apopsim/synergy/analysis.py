"""High-level analysis of drug-combination blocks: :func:`analyze` and :class:`SynergyResult`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .block import BlockResult
from .data import (
    DoseMatrix,
    SynergyInputError,
    SynergyWarning,
    baseline_correct,
    check_scale,
    read_synergyfinder_csv,
    to_inhibition,
    validate_wells,
)
from .hill import HillFit, fit_hill
from .options import SynergyOptions
from .registry import (
    METHODS,
    SCORE_METHODS,
    MetricUnsupported,
    hill_problem,
    metrics,
    parse_methods,
)

__all__ = [
    "CONVENTIONS",
    "METHODS",
    "SCORE_METHODS",
    "BlockResult",
    "SynergyResult",
    "analyze",
    "analyze_file",
    "analyze_time_course",
    "parse_methods",
]

CONVENTIONS = (
    "Responses are converted to fractional inhibition (0 = untreated control, 1 = complete "
    "inhibition) from the declared data type and scale; tables report inhibition and effect "
    "parameters in percent. Bliss, HSA, Loewe and ZIP scores are percentage points of "
    "inhibition, observed (ZIP: fitted) minus reference; positive = synergy, as in "
    "SynergyFinder. Combination index: CI < 1 = synergy, 1 = additivity, > 1 = antagonism. "
    "MuSyC: alpha > 1 = synergistic potency, beta > 0 = synergistic efficacy, gamma > 1 = "
    "synergistic cooperativity. Block summary scores are means over combination wells "
    "(both doses > 0). Replicates are averaged for non-parametric methods and used whole for "
    "fits. Doses are in the data's concentration unit."
)


@dataclass
class SynergyResult:
    """Result of :func:`analyze`.

    Attributes
    ----------
    wells
        One row per block and measured well (replicates averaged): ``block_id, drug1, drug2,
        conc1, conc2, conc_unit1, conc_unit2, n_replicates, inhibition, inhibition_sd`` (percent)
        and per method ``bliss, bliss_reference, hsa, hsa_reference, loewe, loewe_reference,
        zip, zip_fitted, zip_reference`` (scores in percentage points, references and fits in
        percent inhibition), ``ci, dri1, dri2`` and ``musyc_fitted`` (percent inhibition).
    summary
        One row per block: settings and conventions, single-drug Hill parameters, the mean
        score per method over combination wells, the most-synergistic-area score
        (``<method>_msa``), CI/DRI at the effect levels, MuSyC parameters with bootstrap
        intervals (``musyc_<p>``, ``musyc_<p>_lo``, ``musyc_<p>_hi``).
    blocks
        Per-block details (:class:`BlockResult`), keyed by block id.
    settings
        Options used (methods, data type, scale, variants, rules, seed, ...).
    messages
        Informational notes and warnings raised during the analysis.
    """

    wells: pd.DataFrame
    summary: pd.DataFrame
    blocks: dict[Hashable, BlockResult]
    settings: dict[str, object]
    messages: list[str] = field(default_factory=list)

    conventions: str = CONVENTIONS


def analyze(
    wells: pd.DataFrame, options: SynergyOptions | None = None, **kwargs: Any
) -> SynergyResult:
    """Compute synergy scores for every block of a tidy well table.

    Parameters
    ----------
    wells
        One row per well and replicate with columns ``block_id, conc1, conc2, response`` and
        optionally ``drug1, drug2, conc_unit`` (or ``conc_unit1, conc_unit2``), ``replicate``.
        Doses are non-negative, in ``conc_unit``.
    options
        A :class:`~apopsim.synergy.options.SynergyOptions` (data type and scale, methods,
        variants and rules, bootstrap, seed, ``strict``, ...).
    **kwargs
        Option fields, as keywords (``analyze(w, data_type="viability", scale="percent",
        methods="bliss,zip")``): they build the options, or override fields of ``options``.
        ``data_type`` and ``scale`` are required (never guessed; a
        :class:`~apopsim.synergy.data.SynergyWarning` is issued when the values look like the
        other scale).  See :class:`~apopsim.synergy.options.SynergyOptions` for every field.
        With ``strict=False`` a block that cannot support a requested method gets NaN for it,
        with the reason in ``messages``, ``BlockResult.skipped`` and the summary's
        ``skipped_methods``; missing monotherapy margins or combination wells always raise.

    Returns
    -------
    SynergyResult

    Raises
    ------
    SynergyInputError
        Invalid table, missing monotherapy margins or combination wells, or a matrix too small
        for a requested method (the message names the block and column).
    ValueError
        Invalid option values (:class:`~apopsim.synergy.options.OptionError`).
    TypeError
        Missing ``data_type``/``scale`` or an unknown option name.
    """
    opts = SynergyOptions.build(options, **kwargs)
    frame = validate_wells(wells, source=opts.source, conc_unit=opts.conc_unit)
    return _analyze_validated(frame, opts.replace(source=opts.source or "<DataFrame>"))


def analyze_file(
    path: str | os.PathLike[str], options: SynergyOptions | None = None, **kwargs: Any
) -> SynergyResult:
    """Read a SynergyFinder long-format CSV file and :func:`analyze` it.

    ``options`` and keyword arguments are those of :func:`analyze` (``data_type`` and
    ``scale`` required); ``conc_unit`` is ignored (the file has a unit column); error messages
    name the file and line.
    """
    opts = SynergyOptions.build(options, **kwargs)
    frame = read_synergyfinder_csv(path)
    return _analyze_validated(frame, opts.replace(source=opts.source or str(path)))


def _block_error(source: str, block: Hashable, column: str, expected: str) -> SynergyInputError:
    return SynergyInputError(expected, source=source, row=f"block {block!r}", column=column)


def _analyze_validated(frame: pd.DataFrame, opts: SynergyOptions) -> SynergyResult:
    """Analyse a validated well table block by block (``opts.source`` already resolved)."""
    settings = opts.settings()
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SynergyWarning)
        check_scale(frame["response"].to_numpy(dtype=float), opts.scale, source=opts.source)
    for w in caught:
        messages.append(str(w.message))
        warnings.warn(str(w.message), SynergyWarning, stacklevel=3)

    rng = np.random.default_rng(opts.seed)
    blocks: dict[Hashable, BlockResult] = {}
    well_tables: list[pd.DataFrame] = []
    summaries: list[dict[str, object]] = []
    for block_id, sub in frame.groupby("block_id", sort=False):
        block = _analyze_block(block_id, sub, opts, rng)
        messages.extend(block.messages)
        blocks[block_id] = block
        well_tables.append(_wells_table(block))
        summaries.append(_summary_row(block, opts))
    wells_df = pd.concat(well_tables, ignore_index=True)
    summary_df = pd.DataFrame(summaries)
    return SynergyResult(wells_df, summary_df, blocks, settings, messages)


def _analyze_block(
    block_id: Hashable, sub: pd.DataFrame, opts: SynergyOptions, rng: np.random.Generator
) -> BlockResult:
    """Prepare one block (checks, out-of-range treatment, Hill fits) and run each metric."""
    block = _prepare_block(block_id, sub, opts)
    source = opts.source or "<DataFrame>"

    def problem_with(k: str, column: str, message: str) -> None:
        """Raise in strict mode, otherwise record why method ``k`` is skipped."""
        if opts.strict:
            raise _block_error(source, block_id, column, message)
        block.skipped[k] = message
        block.note(f"method '{k}' skipped: {message}")

    registry = metrics()
    for k in opts.methods:
        # requirements are structural (dose and measurement counts): checked up front
        problem = registry[k].problem(block, opts)
        if problem:
            problem_with(k, *problem)
    block.matrix = _treat_out_of_range(block, opts)
    # Single-drug Hill fits (shared by the metrics; also used for plots when available).
    if hill_problem(block.matrix, "") is None:
        block.hill = _fit_pair(block)
    for k in opts.methods:
        if k in block.skipped:
            continue
        metric = registry[k]
        try:
            result = metric.compute(block, opts, rng)
        except MetricUnsupported as exc:
            problem_with(k, exc.column, exc.message)
            continue
        metric.attach(block, result)
    return block


def _prepare_block(block_id: Hashable, sub: pd.DataFrame, opts: SynergyOptions) -> BlockResult:
    """Block with its dose matrix (fractional inhibition); raise on structural problems."""
    y = to_inhibition(sub["response"].to_numpy(dtype=float), opts.data_type, opts.scale)
    m = DoseMatrix(sub["conc1"].to_numpy(dtype=float), sub["conc2"].to_numpy(dtype=float), y)
    source = opts.source or "<DataFrame>"
    # --- structural checks (always fatal) ----------------------------------------------
    if not m.combination.any():
        raise _block_error(
            source, block_id, "conc1",
            "no combination wells (rows with both conc1 > 0 and conc2 > 0)",
        )  # fmt: skip
    for drug, col, other in ((1, "conc1", "conc2"), (2, "conc2", "conc1")):
        if m.n_nonzero_margin_doses(drug) == 0:
            raise _block_error(
                source, block_id, col,
                f"no monotherapy margin for drug{drug}: expected rows with {col} > 0 and "
                f"{other} == 0",
            )  # fmt: skip
    if opts.out_of_range.startswith("baseline"):
        problem = hill_problem(m, f"out_of_range='{opts.out_of_range}'")
        if problem:
            raise _block_error(source, block_id, *problem)
    first = sub.iloc[0]
    return BlockResult(
        block_id=block_id,
        drug1=str(first["drug1"]),
        drug2=str(first["drug2"]),
        unit1=str(first["conc_unit1"]),
        unit2=str(first["conc_unit2"]),
        matrix=m,
    )


def _treat_out_of_range(block: BlockResult, opts: SynergyOptions) -> DoseMatrix:
    """The block's matrix after ``opts.out_of_range`` (sets ``block.baseline``)."""
    m = block.matrix
    n_out = int(np.count_nonzero((m.y < 0) | (m.y > 1)))
    if n_out:
        block.note(
            f"{n_out} measurement(s) outside [0, 100] % inhibition "
            f"(out_of_range='{opts.out_of_range}')"
        )
    if opts.out_of_range == "clip":
        return DoseMatrix(m.d1, m.d2, np.clip(m.y, 0.0, 1.0))
    if opts.out_of_range.startswith("baseline"):
        f1, f2 = _fit_pair(block)
        b1 = float(np.min(f1(m.margin(1)[0])))
        b2 = float(np.min(f2(m.margin(2)[0])))
        block.baseline = 0.5 * (b1 + b2)
        part = opts.out_of_range.endswith("part")
        return DoseMatrix(m.d1, m.d2, baseline_correct(m.y, block.baseline, part=part))
    return m


def _fit_pair(block: BlockResult) -> tuple[HillFit, HillFit]:
    """Four-parameter Hill fits of both margins of ``block.matrix`` (notes non-convergence)."""
    fits = []
    for drug in (1, 2):
        fit = fit_hill(*block.matrix.margin_points(drug))
        if not fit.converged:
            block.note(f"Hill fit of drug{drug} did not converge")
        fits.append(fit)
    return fits[0], fits[1]


def _pct(x):
    return 100.0 * np.asarray(x, dtype=float)


def _wells_table(block: BlockResult) -> pd.DataFrame:
    """One row per measured well: doses, responses (percent) and each metric's columns."""
    m = block.matrix
    ii, jj = np.nonzero(m.measured)
    out = pd.DataFrame(
        {
            "block_id": [block.block_id] * ii.size,
            "drug1": block.drug1,
            "drug2": block.drug2,
            "conc1": m.dose1[ii],
            "conc2": m.dose2[jj],
            "conc_unit1": block.unit1,
            "conc_unit2": block.unit2,
            "n_replicates": m.count[ii, jj],
            "inhibition": _pct(m.mean[ii, jj]),
            "inhibition_sd": _pct(m.sd[ii, jj]),
        }
    )
    registry = metrics()
    for k, result in block.results.items():
        for col, values in registry[k].wells(block, result, ii, jj).items():
            out[col] = values
    for k in block.skipped:  # requested but not computable here: NaN columns
        for col in registry[k].well_columns:
            if col not in out:
                out[col] = np.nan
    return out


def _summary_row(block: BlockResult, opts: SynergyOptions) -> dict[str, object]:
    """One summary row: block, settings, Hill fits, then each metric's entries."""
    m = block.matrix
    comb = m.combination
    row: dict[str, object] = {
        "block_id": block.block_id,
        "drug1": block.drug1,
        "drug2": block.drug2,
        "conc_unit1": block.unit1,
        "conc_unit2": block.unit2,
        "n_wells": int(m.measured.sum()),
        "n_combination_wells": int(comb.sum()),
        "n_measurements": int(m.y.size),
        "data_type": opts.data_type,
        "scale": opts.scale,
        "out_of_range": opts.out_of_range,
        "baseline": _pct(block.baseline) if block.baseline is not None else float("nan"),
        "inhibition_unit": "percent",
        "score_unit": "percentage points of inhibition (positive = synergy)",
    }
    if block.hill is not None:
        for k, f in enumerate(block.hill, start=1):
            row[f"hill{k}_e0"] = 100.0 * f.e0
            row[f"hill{k}_emax"] = 100.0 * f.emax
            row[f"hill{k}_h"] = f.h
            row[f"hill{k}_ec50"] = f.ec50
    registry = metrics()
    for k, result in block.results.items():
        row.update(registry[k].summary(block, result, opts))
    for k in block.skipped:
        for col in registry[k].summary_columns:
            row.setdefault(col, float("nan"))
    row["skipped_methods"] = "; ".join(f"{k}: {r}" for k, r in block.skipped.items())
    return row


def analyze_time_course(
    wells: Mapping[float, pd.DataFrame] | pd.DataFrame,
    options: SynergyOptions | None = None,
    *,
    time_column: str = "time",
    **kwargs: Any,
) -> dict[float, SynergyResult]:
    """:func:`analyze` each readout time of a time course.

    Parameters
    ----------
    wells
        ``{time: wells_frame}`` or one frame with a ``time_column``.
    options, **kwargs
        As for :func:`analyze` (built once, validated before any time is analysed).
    time_column
        Column holding the readout time when a single frame is given.

    Returns
    -------
    dict
        ``{time: SynergyResult}`` in increasing time order.
    """
    opts = SynergyOptions.build(options, **kwargs)
    if isinstance(wells, pd.DataFrame):
        if time_column not in wells.columns:
            raise SynergyInputError(
                f"missing column '{time_column}' (readout time)", source=opts.source
            )
        groups = {float(t): g.drop(columns=[time_column]) for t, g in wells.groupby(time_column)}
    else:
        groups = {float(t): g for t, g in wells.items()}
    return {t: analyze(groups[t], opts) for t in sorted(groups)}
