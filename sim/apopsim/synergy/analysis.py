"""High-level analysis of drug-combination blocks: :func:`analyze` and :class:`SynergyResult`."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import (
    DATA_TYPES,
    OUT_OF_RANGE,
    SCALES,
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
from .methods import (
    LOEWE_UNDEFINED,
    REFERENCES,
    ZIP_VARIANTS,
    CIResult,
    ScoreResult,
    bliss,
    combination_index,
    hsa,
    level_label,
    loewe,
    most_synergistic_area,
    zip_scores,
)
from .musyc import MuSyCFit, fit_musyc

#: All methods, in output order.
METHODS: tuple[str, ...] = ("bliss", "hsa", "loewe", "zip", "ci", "musyc")
#: Methods whose scores are differences in percentage points of inhibition.
SCORE_METHODS: tuple[str, ...] = ("bliss", "hsa", "loewe", "zip")

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
class BlockResult:
    """Everything computed for one block (one drug pair on one dose grid).

    Attributes
    ----------
    block_id
        Block identifier as given.
    drug1, drug2
        Drug names.
    unit1, unit2
        Concentration units of drug 1 and drug 2.
    matrix
        The :class:`~apopsim.synergy.data.DoseMatrix` (fractional inhibition, after the
        out-of-range treatment).
    scores
        ``{"bliss"|"hsa"|"loewe"|"zip": ScoreResult}``.
    hill
        Four-parameter Hill fits of drug 1 and drug 2 (None if a margin was too short).
    ci
        Combination-index analysis (None unless requested).
    musyc
        MuSyC fit (None unless requested).
    baseline
        Baseline (fractional inhibition) subtracted with ``out_of_range="baseline*"``.
    skipped
        ``{method: reason}`` for requested methods this block could not support
        (``strict=False`` only).
    """

    block_id: Hashable
    drug1: str
    drug2: str
    unit1: str
    unit2: str
    matrix: DoseMatrix
    scores: dict[str, ScoreResult] = field(default_factory=dict)
    hill: tuple[HillFit, HillFit] | None = None
    ci: CIResult | None = None
    musyc: MuSyCFit | None = None
    baseline: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)


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


def parse_methods(methods: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a method list (``"bliss,zip"``, ``["bliss", "zip"]``, ``"all"``, None=all)."""
    if methods is None:
        return METHODS
    if isinstance(methods, str):
        items = [m.strip().lower() for m in methods.split(",") if m.strip()]
    else:
        items = [str(m).strip().lower() for m in methods]
    if items == ["all"]:
        return METHODS
    unknown = [m for m in items if m not in METHODS]
    if unknown or not items:
        raise ValueError(
            f"unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(METHODS)}"
        )
    return tuple(m for m in METHODS if m in items)


def _check_option(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def analyze(
    wells: pd.DataFrame,
    *,
    data_type: str,
    scale: str,
    methods: str | Iterable[str] | None = ("bliss", "hsa", "loewe", "zip", "ci", "musyc"),
    zip_variant: str = "sf3",
    reference: str = "observed",
    loewe_undefined: str = "synergyfinder",
    out_of_range: str = "keep",
    effect_levels: tuple[float, ...] = (0.5, 0.75, 0.9),
    musyc_gamma: bool = False,
    n_bootstrap: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    conc_unit: str | None = None,
    source: str | None = None,
    strict: bool = True,
) -> SynergyResult:
    """Compute synergy scores for every block of a tidy well table.

    Parameters
    ----------
    wells
        One row per well and replicate with columns ``block_id, conc1, conc2, response`` and
        optionally ``drug1, drug2, conc_unit`` (or ``conc_unit1, conc_unit2``), ``replicate``.
        Doses are non-negative, in ``conc_unit``.
    data_type
        ``"viability"`` or ``"inhibition"``: what ``response`` measures.  Required.
    scale
        ``"percent"`` or ``"fraction"``: the scale of ``response``.  Required (never guessed;
        a :class:`~apopsim.synergy.data.SynergyWarning` is issued when the values look like the
        other scale).
    methods
        Subset of ``bliss, hsa, loewe, zip, ci, musyc`` (comma string or sequence, or
        ``"all"``).
    zip_variant
        ``"sf3"`` (slice Emax free, SynergyFinder 3) or ``"sf2"`` (slice Emax pinned at 100 %).
    reference
        Single-drug effects for Bliss and HSA: ``"observed"`` margins or ``"fitted"`` Hill
        curves.
    loewe_undefined
        Rule for wells without a Loewe-equivalent dose: ``"nan"``, ``"weaker_emax"``,
        ``"hsa"`` or ``"synergyfinder"`` (see :func:`apopsim.synergy.methods.loewe`).
    out_of_range
        Inhibition outside [0, 100] % (viability above control or below background):
        ``"keep"`` (default), ``"clip"`` to [0, 100] %, ``"baseline"`` (SynergyFinder's
        ``correct_baseline="all"``: ``y - (1 - y) * b`` with ``b`` the mean of the minima of the
        two fitted monotherapy curves) or ``"baseline_part"`` (the same, applied only to
        negative inhibition, SynergyFinder's ``"part"``).
    effect_levels
        Fractions affected for CI and DRI (default 50, 75, 90 %).
    musyc_gamma
        Fit MuSyC's cooperativity parameters gamma12, gamma21 (otherwise fixed at 1).
    n_bootstrap
        Residual-bootstrap refits for the MuSyC confidence intervals.
    confidence
        Coverage of the MuSyC intervals.
    seed
        Seed of the bootstrap generator (results are reproducible).
    conc_unit
        Unit for frames without a unit column (default ``"nM"``).
    source
        Name used in error messages.
    strict
        True (default): a block that cannot support a requested method (matrix too small,
        no partial monotherapy effects for CI, ...) raises :class:`SynergyInputError`.
        False: that method is skipped for that block (its columns are NaN) and the reason is
        recorded in ``messages`` and ``BlockResult.skipped`` — convenient for time courses
        where early readouts may show no effect yet.  Missing monotherapy margins or
        combination wells always raise.

    Returns
    -------
    SynergyResult

    Raises
    ------
    SynergyInputError
        Invalid table, missing monotherapy margins or combination wells, or a matrix too small
        for a requested method (the message names the block and column).
    ValueError
        Invalid option values.
    """
    frame = validate_wells(wells, source=source, conc_unit=conc_unit)
    return _analyze_validated(
        frame,
        data_type=data_type,
        scale=scale,
        methods=methods,
        zip_variant=zip_variant,
        reference=reference,
        loewe_undefined=loewe_undefined,
        out_of_range=out_of_range,
        effect_levels=effect_levels,
        musyc_gamma=musyc_gamma,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        source=source or "<DataFrame>",
        strict=strict,
    )


def analyze_file(path: str | os.PathLike[str], **kwargs) -> SynergyResult:
    """Read a SynergyFinder long-format CSV file and :func:`analyze` it.

    Keyword arguments are those of :func:`analyze` (``data_type`` and ``scale`` required);
    error messages name the file and line.
    """
    frame = read_synergyfinder_csv(path)
    kwargs.pop("conc_unit", None)
    kwargs.setdefault("source", str(path))
    return _analyze_validated(frame, **kwargs)


def _block_error(source: str, block: Hashable, column: str, expected: str) -> SynergyInputError:
    return SynergyInputError(expected, source=source, row=f"block {block!r}", column=column)


def _analyze_validated(
    frame: pd.DataFrame,
    *,
    data_type: str,
    scale: str,
    methods=None,
    zip_variant: str = "sf3",
    reference: str = "observed",
    loewe_undefined: str = "synergyfinder",
    out_of_range: str = "keep",
    effect_levels: tuple[float, ...] = (0.5, 0.75, 0.9),
    musyc_gamma: bool = False,
    n_bootstrap: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    source: str = "<DataFrame>",
    strict: bool = True,
) -> SynergyResult:
    _check_option("data_type", data_type, DATA_TYPES)
    _check_option("scale", scale, SCALES)
    _check_option("zip_variant", zip_variant, ZIP_VARIANTS)
    _check_option("reference", reference, REFERENCES)
    _check_option("loewe_undefined", loewe_undefined, LOEWE_UNDEFINED)
    _check_option("out_of_range", out_of_range, OUT_OF_RANGE)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    levels = tuple(float(x) for x in effect_levels)
    if any(not 0 < x < 1 for x in levels):
        raise ValueError("effect levels must lie strictly between 0 and 1 (fractions)")
    meths = parse_methods(methods)
    settings: dict[str, object] = {
        "methods": list(meths),
        "data_type": data_type,
        "scale": scale,
        "zip_variant": zip_variant,
        "reference": reference,
        "loewe_undefined": loewe_undefined,
        "out_of_range": out_of_range,
        "effect_levels": list(levels),
        "musyc_gamma": bool(musyc_gamma),
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "seed": int(seed),
        "source": source,
        "strict": bool(strict),
    }
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SynergyWarning)
        check_scale(frame["response"].to_numpy(dtype=float), scale, source=source)
    for w in caught:
        messages.append(str(w.message))
        warnings.warn(str(w.message), SynergyWarning, stacklevel=3)

    rng = np.random.default_rng(seed)
    blocks: dict[Hashable, BlockResult] = {}
    well_tables: list[pd.DataFrame] = []
    summaries: list[dict[str, object]] = []
    for block_id, sub in frame.groupby("block_id", sort=False):
        block = _analyze_block(
            block_id,
            sub,
            meths=meths,
            data_type=data_type,
            scale=scale,
            zip_variant=zip_variant,
            reference=reference,
            loewe_undefined=loewe_undefined,
            out_of_range=out_of_range,
            levels=levels,
            musyc_gamma=musyc_gamma,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            rng=rng,
            source=source,
            messages=messages,
            strict=strict,
        )
        blocks[block_id] = block
        well_tables.append(_wells_table(block, meths))
        summaries.append(_summary_row(block, meths, settings))
    wells_df = pd.concat(well_tables, ignore_index=True)
    summary_df = pd.DataFrame(summaries)
    return SynergyResult(wells_df, summary_df, blocks, settings, messages)


def _hill_problem(m: DoseMatrix, why: str) -> tuple[str, str] | None:
    """(column, message) if a margin is too short for a four-parameter Hill fit."""
    for drug, col in ((1, "conc1"), (2, "conc2")):
        doses, _ = m.margin(drug)
        if doses.size < 4:
            return col, (
                f"{why} needs a monotherapy curve of drug{drug} with at least 4 distinct doses "
                f"(including the zero-dose control) in column '{col}' with the other drug at 0; "
                f"found {doses.size}"
            )
    return None


def _method_problem(
    k: str, m: DoseMatrix, *, zip_variant: str, reference: str, musyc_gamma: bool
) -> tuple[str, str] | None:
    """(column, message) when the block cannot support method ``k``."""
    if k in ("loewe", "zip", "musyc") or (k in ("bliss", "hsa") and reference == "fitted"):
        why = f"method '{k}'" + (" with reference='fitted'" if k in ("bliss", "hsa") else "")
        problem = _hill_problem(m, why)
        if problem:
            return problem
    if k == "zip":
        need = 3 if zip_variant == "sf3" else 2
        for drug, col in ((1, "conc1"), (2, "conc2")):
            doses = m.dose1 if drug == 1 else m.dose2
            comb_any = m.combination.any(axis=1 if drug == 1 else 0)
            n = int(np.count_nonzero((doses > 0) & comb_any))
            if n < need:
                return col, (
                    f"method 'zip' ({zip_variant}) needs combination wells at >= {need} "
                    f"non-zero doses of drug{drug} ('{col}'); found {n}"
                )
    if k == "musyc":
        n_par = 12 if musyc_gamma else 10
        if m.y.size <= n_par:
            return "response", (
                f"method 'musyc' needs more than {n_par} measurements; found {m.y.size}"
            )
    return None


def _analyze_block(
    block_id,
    sub: pd.DataFrame,
    *,
    meths,
    data_type,
    scale,
    zip_variant,
    reference,
    loewe_undefined,
    out_of_range,
    levels,
    musyc_gamma,
    n_bootstrap,
    confidence,
    rng,
    source,
    messages,
    strict,
) -> BlockResult:
    y = to_inhibition(sub["response"].to_numpy(dtype=float), data_type, scale)
    d1 = sub["conc1"].to_numpy(dtype=float)
    d2 = sub["conc2"].to_numpy(dtype=float)
    m = DoseMatrix(d1, d2, y)
    name = f"block {block_id!r}"

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
    if out_of_range.startswith("baseline"):
        problem = _hill_problem(m, f"out_of_range='{out_of_range}'")
        if problem:
            raise _block_error(source, block_id, *problem)

    skipped: dict[str, str] = {}

    def problem_with(k: str, column: str, message: str) -> None:
        """Raise in strict mode, otherwise record why method ``k`` is skipped."""
        if strict:
            raise _block_error(source, block_id, column, message)
        skipped[k] = message
        messages.append(f"{name}: method '{k}' skipped: {message}")

    for k in meths:
        problem = _method_problem(
            k, m, zip_variant=zip_variant, reference=reference, musyc_gamma=musyc_gamma
        )
        if problem:
            problem_with(k, *problem)
    todo = [k for k in meths if k not in skipped]

    # --- out-of-range responses --------------------------------------------------------
    n_out = int(np.count_nonzero((m.y < 0) | (m.y > 1)))
    baseline = None
    if n_out:
        messages.append(
            f"{name}: {n_out} measurement(s) outside [0, 100] % inhibition "
            f"(out_of_range='{out_of_range}')"
        )
    if out_of_range == "clip":
        m = DoseMatrix(d1, d2, np.clip(m.y, 0.0, 1.0))
    elif out_of_range.startswith("baseline"):
        f1, f2 = _fit_pair(m, messages, name)
        b1 = float(np.min(f1(m.margin(1)[0])))
        b2 = float(np.min(f2(m.margin(2)[0])))
        baseline = 0.5 * (b1 + b2)
        m = DoseMatrix(d1, d2, baseline_correct(m.y, baseline, part=out_of_range.endswith("part")))

    first = sub.iloc[0]
    block = BlockResult(
        block_id=block_id,
        drug1=str(first["drug1"]),
        drug2=str(first["drug2"]),
        unit1=str(first["conc_unit1"]),
        unit2=str(first["conc_unit2"]),
        matrix=m,
        baseline=baseline,
        skipped=skipped,
    )
    # Single-drug Hill fits (also used for plots when available).
    if _hill_problem(m, "") is None:
        block.hill = _fit_pair(m, messages, name)

    for k in ("bliss", "hsa"):
        if k not in todo:
            continue
        fn = bliss if k == "bliss" else hsa
        res = fn(m, reference=reference, fits=block.hill)
        if not np.isfinite(res.score[m.combination]).any():
            problem_with(
                k, "conc1",
                f"method '{k}': no combination well has monotherapy responses of both drugs at "
                "its doses (the monotherapy margins do not cover the combination doses)",
            )  # fmt: skip
        else:
            block.scores[k] = res
    if "loewe" in todo:
        res = loewe(m, fits=block.hill, undefined=loewe_undefined)
        block.scores["loewe"] = res
        n_undef = int(res.extra["undefined"].sum())
        if n_undef:
            messages.append(
                f"{name}: Loewe undefined (no Loewe-equivalent dose: different maximal effects) "
                f"in {n_undef} combination well(s); rule '{loewe_undefined}' applied"
            )
    if "zip" in todo:
        res = zip_scores(m, fits=block.hill, variant=zip_variant)
        block.scores["zip"] = res
        if res.extra["n_unfitted"]:
            messages.append(
                f"{name}: {res.extra['n_unfitted']} ZIP slice(s) could not be fitted; observed "
                "responses used there"
            )
    if "ci" in todo:
        ci = combination_index(m, effect_levels=levels)
        bad = [
            (drug, col, fit)
            for drug, col, fit in ((1, "conc1", ci.fits[0]), (2, "conc2", ci.fits[1]))
            if not (np.isfinite(fit.m) and fit.m > 0)
        ]
        if bad:
            drug, col, fit = bad[0]
            problem_with(
                "ci", col,
                f"method 'ci' needs at least 2 monotherapy doses of drug{drug} with "
                "inhibition strictly between 0 and 100 % and an increasing median-effect "
                f"line (found {fit.n} usable point(s), slope {fit.m:.3g})",
            )  # fmt: skip
        else:
            block.ci = ci
    if "musyc" in todo:
        fit = fit_musyc(
            m.d1, m.d2, m.y, fit_gamma=musyc_gamma, n_bootstrap=n_bootstrap,
            confidence=confidence, seed=rng, single_fits=block.hill,
        )  # fmt: skip
        if not fit.converged:
            messages.append(f"{name}: MuSyC fit did not converge")
        block.musyc = fit
    return block


def _fit_pair(m: DoseMatrix, messages: list[str], name: str) -> tuple[HillFit, HillFit]:
    fits = []
    for drug in (1, 2):
        fit = fit_hill(*m.margin_points(drug))
        if not fit.converged:
            messages.append(f"{name}: Hill fit of drug{drug} did not converge")
        fits.append(fit)
    return fits[0], fits[1]


def _pct(x):
    return 100.0 * np.asarray(x, dtype=float)


def _wells_table(block: BlockResult, meths: tuple[str, ...]) -> pd.DataFrame:
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
    for k in ("bliss", "hsa", "loewe"):
        if k in block.scores:
            out[k] = block.scores[k].score[ii, jj]
            out[f"{k}_reference"] = _pct(block.scores[k].reference[ii, jj])
    if "zip" in block.scores:
        z = block.scores["zip"]
        out["zip"] = z.score[ii, jj]
        out["zip_fitted"] = _pct(z.extra["fitted"][ii, jj])
        out["zip_reference"] = _pct(z.reference[ii, jj])
    if block.ci is not None:
        out["ci"] = block.ci.ci[ii, jj]
        out["dri1"] = block.ci.dri1[ii, jj]
        out["dri2"] = block.ci.dri2[ii, jj]
    if block.musyc is not None:
        out["musyc_fitted"] = _pct(block.musyc(m.dose1[ii], m.dose2[jj]))
    for k in block.skipped:  # requested but not computable here: NaN columns
        for col in _WELL_COLUMNS[k]:
            if col not in out:
                out[col] = np.nan
    return out


_WELL_COLUMNS = {
    "bliss": ("bliss", "bliss_reference"),
    "hsa": ("hsa", "hsa_reference"),
    "loewe": ("loewe", "loewe_reference"),
    "zip": ("zip", "zip_fitted", "zip_reference"),
    "ci": ("ci", "dri1", "dri2"),
    "musyc": ("musyc_fitted",),
}
_SUMMARY_COLUMNS = {
    "bliss": ("bliss", "bliss_msa"),
    "hsa": ("hsa", "hsa_msa"),
    "loewe": ("loewe", "loewe_msa"),
    "zip": ("zip", "zip_msa"),
    "ci": ("ci",),
    "musyc": tuple(
        f"musyc_{p}{s}" for p in ("alpha12", "alpha21", "beta") for s in ("", "_lo", "_hi")
    ),
}


def _mean_over_combinations(values: np.ndarray, mask: np.ndarray) -> float:
    v = values[mask]
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _summary_row(
    block: BlockResult, meths: tuple[str, ...], settings: Mapping[str, object]
) -> dict[str, object]:
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
        "data_type": settings["data_type"],
        "scale": settings["scale"],
        "out_of_range": settings["out_of_range"],
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
    for k in SCORE_METHODS:
        if k not in block.scores:
            continue
        res = block.scores[k]
        row[k] = _mean_over_combinations(res.score, comb)
        row[f"{k}_msa"] = most_synergistic_area(res.score, comb)[0]
        if k in ("bliss", "hsa"):
            row[f"{k}_reference_source"] = settings["reference"]
        if k == "loewe":
            row["loewe_undefined_rule"] = settings["loewe_undefined"]
            row["loewe_n_undefined"] = int(res.extra["undefined"].sum())
        if k == "zip":
            row["zip_variant"] = settings["zip_variant"]
            row["zip_n_unfitted_slices"] = int(res.extra["n_unfitted"])
    if block.ci is not None:
        ci = block.ci
        row["ci"] = _mean_over_combinations(ci.ci, comb)
        row["ci_convention"] = "CI < 1 = synergy"
        for x in ci.effect_levels:
            lab = level_label(x)
            for p in ("ci", "dri1", "dri2"):
                row[f"{p}_{lab}"] = ci.summary[f"{p}_{lab}"]
        row["ci_n_rays"] = len(ci.rays)
        for k, f in enumerate(ci.fits, start=1):
            row[f"me{k}_m"] = f.m
            row[f"me{k}_dm"] = f.dm
            row[f"me{k}_r"] = f.r
    if block.musyc is not None:
        fit = block.musyc
        p = fit.params.as_dict()
        names = ["alpha12", "alpha21", "beta"]
        if fit.fit_gamma:
            names += ["gamma12", "gamma21"]
        names += ["E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2"]
        for n in names:
            scale = 100.0 if n.startswith("E") else 1.0
            row[f"musyc_{n}"] = scale * p[n]
            lo, hi = fit.intervals.get(n, (math.nan, math.nan))
            row[f"musyc_{n}_lo"] = scale * lo
            row[f"musyc_{n}_hi"] = scale * hi
        row["musyc_gamma_fitted"] = fit.fit_gamma
        row["musyc_r2"] = fit.r2
        row["musyc_converged"] = fit.converged
        row["musyc_n_bootstrap"] = fit.n_bootstrap
        row["musyc_confidence"] = fit.confidence
    for k in block.skipped:
        for col in _SUMMARY_COLUMNS[k]:
            row.setdefault(col, float("nan"))
    row["skipped_methods"] = "; ".join(f"{k}: {r}" for k, r in block.skipped.items())
    return row


def analyze_time_course(
    wells: Mapping[float, pd.DataFrame] | pd.DataFrame,
    *,
    time_column: str = "time",
    **kwargs,
) -> dict[float, SynergyResult]:
    """:func:`analyze` each readout time of a time course.

    Parameters
    ----------
    wells
        ``{time: wells_frame}`` or one frame with a ``time_column``.
    time_column
        Column holding the readout time when a single frame is given.
    **kwargs
        Passed to :func:`analyze` (``data_type`` and ``scale`` required).

    Returns
    -------
    dict
        ``{time: SynergyResult}`` in increasing time order.
    """
    if isinstance(wells, pd.DataFrame):
        if time_column not in wells.columns:
            raise SynergyInputError(
                f"missing column '{time_column}' (readout time)", source=kwargs.get("source")
            )
        groups = {float(t): g.drop(columns=[time_column]) for t, g in wells.groupby(time_column)}
    else:
        groups = {float(t): g for t, g in wells.items()}
    return {t: analyze(groups[t], **kwargs) for t in sorted(groups)}
