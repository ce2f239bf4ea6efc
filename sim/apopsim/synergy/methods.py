"""Reference-model synergy scores: Bliss, HSA, Loewe, ZIP and the Chou–Talalay combination index.

Conventions
-----------
* Inputs are a :class:`~apopsim.synergy.data.DoseMatrix` of **fractional inhibition**.
* Bliss, HSA, Loewe and ZIP scores are **percentage points of inhibition**,
  ``100 * (observed - reference)`` (ZIP: ``100 * (fitted - reference)``); positive = synergy,
  as in SynergyFinder.  They are 0 on measured monotherapy wells and NaN on unmeasured wells.
* The combination index is dimensionless; ``CI < 1`` = synergy, ``= 1`` additive, ``> 1``
  antagonism.  It is NaN on monotherapy wells and where the observed effect is outside (0, 1).
* Replicates are averaged for the observed responses; the Hill and median-effect fits use every
  replicate point.

Every function returns arrays shaped ``(len(m.dose1), len(m.dose2))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from .data import DoseMatrix
from .flags import LOEWE_UNDEFINED, REFERENCES, ZIP_VARIANTS
from .hill import HillFit, MedianEffectFit, fit_hill, fit_median_effect

Reference = Literal["observed", "fitted"]
LoeweUndefined = Literal["nan", "weaker_emax", "hsa", "synergyfinder"]
ZipVariant = Literal["sf2", "sf3"]



@dataclass
class ScoreResult:
    """Scores of one reference model on a dose matrix.

    Attributes
    ----------
    score
        ``(n1, n2)`` synergy scores, percentage points of inhibition (positive = synergy).
    reference
        ``(n1, n2)`` expected (non-interaction) fractional inhibition.
    extra
        Method-specific details (see each function).
    """

    score: np.ndarray
    reference: np.ndarray
    extra: dict = field(default_factory=dict)


def fit_single_drugs(m: DoseMatrix) -> tuple[HillFit, HillFit]:
    """Four-parameter Hill fits of both monotherapy margins (all replicates, control included).

    Raises
    ------
    ValueError
        A margin has fewer than 4 distinct doses (including the zero-dose control).
    """
    fits = []
    for drug in (1, 2):
        d, y = m.margin_points(drug)
        fits.append(fit_hill(d, y))
    return fits[0], fits[1]


def _interp_margin(query: np.ndarray, doses: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Observed monotherapy response at ``query`` doses.

    Exact at measured doses; between measured positive doses, linear in log dose (as the
    ``synergy`` package's log-linear model); NaN outside the measured range.
    """
    query = np.asarray(query, dtype=float)
    out = np.full(query.shape, np.nan)
    if doses.size == 0:
        return out
    for k, q in np.ndenumerate(query):
        hit = np.flatnonzero(doses == q)
        if hit.size:
            out[k] = values[hit[0]]
    pos = doses > 0
    if pos.sum() >= 2:
        order = np.argsort(doses[pos])
        ld = np.log(doses[pos][order])
        lv = values[pos][order]
        need = np.isnan(out) & (query > 0)
        if need.any():
            out[need] = np.interp(np.log(query[need]), ld, lv, left=np.nan, right=np.nan)
    return out


def _single_effects(
    m: DoseMatrix, reference: str, fits: tuple[HillFit, HillFit] | None
) -> tuple[np.ndarray, np.ndarray]:
    if reference == "observed":
        d1, v1 = m.margin(1)
        d2, v2 = m.margin(2)
        return _interp_margin(m.dose1, d1, v1), _interp_margin(m.dose2, d2, v2)
    if reference == "fitted":
        if fits is None:
            fits = fit_single_drugs(m)
        return fits[0](m.dose1), fits[1](m.dose2)
    raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")


def _finish(m: DoseMatrix, reference: np.ndarray) -> np.ndarray:
    """Score in percentage points; 0 on measured monotherapy wells, NaN where unmeasured."""
    score = 100.0 * (m.mean - reference)
    mono = m.measured & ~m.combination
    score[mono] = 0.0
    score[~m.measured] = np.nan
    return score


def bliss(
    m: DoseMatrix,
    *,
    reference: Reference = "observed",
    fits: tuple[HillFit, HillFit] | None = None,
) -> ScoreResult:
    """Bliss independence: expected ``y1 + y2 - y1*y2`` (fractional inhibition).

    Parameters
    ----------
    m
        Dose matrix.
    reference
        ``"observed"``: single-drug effects from the measured monotherapy margins (replicate
        means; log-linear interpolation for combination doses absent from a margin), as
        SynergyFinder and the ``synergy`` package do.  ``"fitted"``: from the Hill fits.
    fits
        Hill fits to use with ``reference="fitted"`` (computed when omitted).

    Returns
    -------
    ScoreResult
        Score in percentage points of inhibition, positive = synergy.
    """
    y1, y2 = _single_effects(m, reference, fits)
    ref = y1[:, None] + y2[None, :] - y1[:, None] * y2[None, :]
    return ScoreResult(_finish(m, ref), ref, {"reference": reference})


def hsa(
    m: DoseMatrix,
    *,
    reference: Reference = "observed",
    fits: tuple[HillFit, HillFit] | None = None,
) -> ScoreResult:
    """Highest single agent: expected ``max(y1, y2)`` (fractional inhibition).

    Parameters are those of :func:`bliss`.  Score in percentage points, positive = synergy.
    """
    y1, y2 = _single_effects(m, reference, fits)
    ref = np.maximum(y1[:, None], y2[None, :])
    return ScoreResult(_finish(m, ref), ref, {"reference": reference})


def loewe_reference(
    d1: float,
    d2: float,
    f1: HillFit,
    f2: HillFit,
) -> float:
    """Loewe-additive effect at ``(d1, d2)``: the ``y`` with ``d1/D1(y) + d2/D2(y) = 1``.

    ``D1, D2`` are the inverse Hill curves.  Returns NaN when no such effect exists, which
    happens exactly when the curves point in different directions or when one drug alone at its
    dose already exceeds the other drug's maximal effect (different Emax).
    """
    if d1 == 0 and d2 == 0:
        return 0.5 * (f1.e0 + f2.e0)
    if d2 == 0:
        return float(f1(d1))
    if d1 == 0:
        return float(f2(d2))
    if f1.increasing != f2.increasing or f1.emax == f1.e0 or f2.emax == f2.e0:
        return float("nan")
    sign = 1.0 if f1.increasing else -1.0
    lo = max(sign * f1.e0, sign * f2.e0)
    hi = min(sign * f1.emax, sign * f2.emax)
    if not hi > lo:
        return float("nan")

    def g(z: float) -> float:
        y = sign * z
        with np.errstate(divide="ignore", invalid="ignore"):
            s = d1 / f1.inverse(y) + d2 / f2.inverse(y)
        return float(np.log(s)) if np.isfinite(s) else float("inf")

    width = hi - lo
    z_lo = lo + 1e-13 * width
    z_hi = hi - 1e-13 * width
    g_lo, g_hi = g(z_lo), g(z_hi)
    if not (g_lo > 0):  # pragma: no cover - combination of positive doses always > 0 here
        return sign * z_lo
    if not (g_hi < 0):
        return float("nan")
    z = brentq(g, z_lo, z_hi, xtol=1e-14, rtol=1e-14, maxiter=500)
    return float(sign * z)


def loewe(
    m: DoseMatrix,
    *,
    fits: tuple[HillFit, HillFit] | None = None,
    undefined: LoeweUndefined = "synergyfinder",
) -> ScoreResult:
    """Loewe additivity from fitted four-parameter Hill curves.

    Parameters
    ----------
    m
        Dose matrix.
    fits
        Hill fits of drug 1 and drug 2 (fitted on the margins when omitted).
    undefined
        Rule for combination wells without a Loewe-equivalent dose (drugs with different
        maximal effects, where the stronger drug alone already exceeds the weaker drug's Emax;
        or curves pointing in opposite directions):

        ``"nan"``
            Score NaN (excluded from the block mean).
        ``"weaker_emax"``
            Reference = the weaker drug's Emax (``synergy`` package ``mode="delta_weakest"``).
        ``"hsa"``
            Reference = the larger of the two fitted single-drug effects at their doses
            (``synergy`` package ``mode="delta_HSA"``).
        ``"synergyfinder"``
            Reference = the larger of the two single-drug curves evaluated at the *total* dose
            ``d1 + d2`` (each drug combined with itself), capped at 100 % inhibition, which is
            SynergyFinder's fallback when its Loewe equation has no solution.

    Returns
    -------
    ScoreResult
        ``extra["undefined"]``: ``(n1, n2)`` bool mask of combination wells where the rule was
        applied; ``extra["rule"]``: the rule.
    """
    if undefined not in LOEWE_UNDEFINED:
        raise ValueError(f"undefined must be one of {LOEWE_UNDEFINED}, got {undefined!r}")
    if fits is None:
        fits = fit_single_drugs(m)
    f1, f2 = fits
    n1, n2 = m.dose1.size, m.dose2.size
    ref = np.full((n1, n2), np.nan)
    undef = np.zeros((n1, n2), dtype=bool)
    for i in range(n1):
        for j in range(n2):
            if not m.measured[i, j]:
                continue
            a, b = m.dose1[i], m.dose2[j]
            r = loewe_reference(a, b, f1, f2)
            if np.isnan(r) and a > 0 and b > 0:
                undef[i, j] = True
                if undefined == "weaker_emax":
                    if f1.increasing == f2.increasing:
                        r = min(f1.emax, f2.emax) if f1.increasing else max(f1.emax, f2.emax)
                    else:
                        r = max(float(f1(a)), float(f2(b)))
                elif undefined == "hsa":
                    r = max(float(f1(a)), float(f2(b)))
                elif undefined == "synergyfinder":
                    r = min(max(float(f1(a + b)), float(f2(a + b))), 1.0)
            ref[i, j] = r
    score = _finish(m, ref)
    score[undef & np.isnan(ref)] = np.nan
    return ScoreResult(score, ref, {"undefined": undef, "rule": undefined})


def zip_scores(
    m: DoseMatrix,
    *,
    fits: tuple[HillFit, HillFit] | None = None,
    variant: ZipVariant = "sf3",
) -> ScoreResult:
    """Zero interaction potency delta score (Yadav et al. 2015).

    For each row ``d2 = D2 > 0`` a Hill curve in ``d1`` is fitted to the combination wells of
    that row (all replicates, ``d1 > 0``) with its bottom pinned at the fitted drug-2 effect
    ``y2(D2)``; likewise for each column.  The ZIP-fitted response at ``(d1, d2)`` is the mean
    of the row and column curves there, and the reference is Bliss applied to the fitted
    single-drug curves, ``y1(d1) + y2(d2) - y1(d1) * y2(d2)``.

    Parameters
    ----------
    m
        Dose matrix.
    fits
        Hill fits of the single drugs (fitted on the margins when omitted).
    variant
        ``"sf2"``: slice top (Emax) pinned at 100 % inhibition, as in SynergyFinder 2 and the
        original paper; ``"sf3"``: slice Emax free, as in SynergyFinder 3.

    Returns
    -------
    ScoreResult
        Delta score in percentage points (positive = synergy).  ``extra``: ``"fitted"``
        (``(n1, n2)`` ZIP-fitted inhibition), ``"variant"``, ``"n_unfitted"`` (slices with too
        few doses or a failed fit; the observed means are used there, as SynergyFinder does).
    """
    if variant not in ZIP_VARIANTS:
        raise ValueError(f"variant must be one of {ZIP_VARIANTS}, got {variant!r}")
    if fits is None:
        fits = fit_single_drugs(m)
    f1, f2 = fits
    top = 1.0 if variant == "sf2" else None
    n_free = 2 if variant == "sf2" else 3
    n1, n2 = m.dose1.size, m.dose2.size
    row_fit = np.full((n1, n2), np.nan)  # curve in d1 at fixed d2 (drug 1 varies)
    col_fit = np.full((n1, n2), np.nan)  # curve in d2 at fixed d1
    n_unfitted = 0
    comb = m.combination

    def slice_fit(d: np.ndarray, y: np.ndarray, bottom: float, start: HillFit):
        if np.unique(d).size < n_free:
            return None
        try:
            return fit_hill(d, y, e0=bottom, emax=top, p0=start)
        except (ValueError, np.linalg.LinAlgError):
            return None

    for j in range(n2):
        if m.dose2[j] <= 0 or not comb[:, j].any():
            continue
        sel = (m.d2 == m.dose2[j]) & (m.d1 > 0)
        fit = slice_fit(m.d1[sel], m.y[sel], float(f2(m.dose2[j])), f1)
        if fit is None:
            n_unfitted += 1
            row_fit[:, j] = np.where(comb[:, j], m.mean[:, j], np.nan)
        else:
            row_fit[:, j] = np.where(comb[:, j], fit(m.dose1), np.nan)
    for i in range(n1):
        if m.dose1[i] <= 0 or not comb[i, :].any():
            continue
        sel = (m.d1 == m.dose1[i]) & (m.d2 > 0)
        fit = slice_fit(m.d2[sel], m.y[sel], float(f1(m.dose1[i])), f2)
        if fit is None:
            n_unfitted += 1
            col_fit[i, :] = np.where(comb[i, :], m.mean[i, :], np.nan)
        else:
            col_fit[i, :] = np.where(comb[i, :], fit(m.dose2), np.nan)

    y1 = f1(m.dose1)[:, None]
    y2 = f2(m.dose2)[None, :]
    ref = y1 + y2 - y1 * y2
    fitted = 0.5 * (row_fit + col_fit)
    score = 100.0 * (fitted - ref)
    score[m.measured & ~comb] = 0.0
    score[~m.measured] = np.nan
    return ScoreResult(score, ref, {"fitted": fitted, "variant": variant, "n_unfitted": n_unfitted})


@dataclass
class CIResult:
    """Chou–Talalay combination-index analysis of one block.

    Attributes
    ----------
    ci
        ``(n1, n2)`` per-well CI at the observed effect (non-constant-ratio analysis):
        ``d1/Dx1(fa) + d2/Dx2(fa)``; NaN on monotherapy wells and where ``fa`` is not in (0, 1).
    dri1, dri2
        ``(n1, n2)`` per-well dose-reduction indices ``Dx1(fa)/d1`` and ``Dx2(fa)/d2``.
    fits
        Median-effect fits of drug 1 and drug 2 (monotherapy margins, all replicates).
    rays
        One row per constant-ratio ray ``d1:d2`` with at least ``min_ray_points`` combination
        doses: ``ratio`` (d1/d2), ``n_doses``, ``m``, ``dm`` (total dose d1+d2), ``r``, and
        for every effect level ``x``: ``ci_<x>``, ``dri1_<x>``, ``dri2_<x>``.
    summary
        ``{f"ci_{x}": ..., f"dri1_{x}": ..., f"dri2_{x}": ...}``: the value of the single
        ray of a constant-ratio design, or the median over rays of a checkerboard design.
    effect_levels
        Fractions affected at which CI/DRI are reported.
    """

    ci: np.ndarray
    dri1: np.ndarray
    dri2: np.ndarray
    fits: tuple[MedianEffectFit, MedianEffectFit]
    rays: pd.DataFrame
    summary: dict[str, float]
    effect_levels: tuple[float, ...]


def level_label(x: float) -> str:
    """Column suffix of an effect level, e.g. 0.5 -> ``"50"``, 0.975 -> ``"97.5"``."""
    return f"{100 * x:g}"


def combination_index(
    m: DoseMatrix,
    *,
    effect_levels: tuple[float, ...] = (0.5, 0.75, 0.9),
    min_ray_points: int = 3,
) -> CIResult:
    """Chou–Talalay combination index from median-effect fits.

    Parameters
    ----------
    m
        Dose matrix (fraction affected = fractional inhibition).
    effect_levels
        Fractions affected ``x`` at which ``CI_x`` and ``DRI_x`` are computed for each
        constant-ratio ray: ``CI_x = p1*Dx_mix/Dx1 + p2*Dx_mix/Dx2`` where the mixture's
        median-effect line is fitted to total dose ``d1 + d2`` along the ray and ``p1, p2`` are
        the dose fractions of the ray.
    min_ray_points
        Minimum number of distinct combination doses (with 0 < fa < 1) along a ray; rays with
        fewer are skipped.  When no ray qualifies, rays with 2 points are used.

    Returns
    -------
    CIResult
    """
    levels = tuple(float(x) for x in effect_levels)
    if any(not 0 < x < 1 for x in levels):
        raise ValueError("effect levels must lie strictly between 0 and 1")
    me1 = fit_median_effect(*m.margin_points(1))
    me2 = fit_median_effect(*m.margin_points(2))
    fa = m.mean
    d1 = np.broadcast_to(m.dose1[:, None], fa.shape)
    d2 = np.broadcast_to(m.dose2[None, :], fa.shape)
    dx1 = me1.dose(fa)
    dx2 = me2.dose(fa)
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = d1 / dx1 + d2 / dx2
        dri1 = dx1 / d1
        dri2 = dx2 / d2
    comb = m.combination
    for arr in (ci, dri1, dri2):
        arr[~comb] = np.nan

    # Constant-ratio rays.
    sel = (m.d1 > 0) & (m.d2 > 0)
    ratio = np.full(m.d1.shape, np.nan)
    ratio[sel] = m.d1[sel] / m.d2[sel]
    key = np.round(np.log(np.where(sel, ratio, 1.0)), 9)
    rows = []
    for min_pts in (min_ray_points, 2):
        for k in np.unique(key[sel]):
            on = sel & (key == k)
            tot = m.d1[on] + m.d2[on]
            usable = (m.y[on] > 0) & (m.y[on] < 1)
            if np.unique(tot[usable]).size < min_pts:
                continue
            mix = fit_median_effect(tot, m.y[on])
            p1 = float(np.median(m.d1[on] / tot))
            p2 = 1.0 - p1
            row = {
                "ratio": float(np.exp(k)),
                "n_doses": int(np.unique(tot).size),
                "m": mix.m,
                "dm": mix.dm,
                "r": mix.r,
            }
            for x in levels:
                dmix = float(mix.dose(x))
                a, b = p1 * dmix, p2 * dmix
                e1, e2 = float(me1.dose(x)), float(me2.dose(x))
                lab = level_label(x)
                row[f"ci_{lab}"] = a / e1 + b / e2
                row[f"dri1_{lab}"] = e1 / a
                row[f"dri2_{lab}"] = e2 / b
            rows.append(row)
        if rows:
            break
    cols = ["ratio", "n_doses", "m", "dm", "r"]
    for x in levels:
        lab = level_label(x)
        cols += [f"ci_{lab}", f"dri1_{lab}", f"dri2_{lab}"]
    rays = pd.DataFrame(rows, columns=cols)
    summary: dict[str, float] = {}
    for c in cols[5:]:
        vals = rays[c].to_numpy(dtype=float) if len(rays) else np.array([])
        vals = vals[np.isfinite(vals)]
        summary[c] = float(np.median(vals)) if vals.size else float("nan")
    return CIResult(ci, dri1, dri2, (me1, me2), rays, summary, levels)


def most_synergistic_area(score: np.ndarray, mask: np.ndarray, size: int = 3) -> tuple:
    """Window of ``size x size`` adjacent combination doses with the highest mean score.

    Parameters
    ----------
    score
        ``(n1, n2)`` scores.
    mask
        Combination wells (both doses > 0) that may be part of a window.
    size
        Window edge (reduced to the matrix size when smaller), as SynergyFinder's 3x3 area.

    Returns
    -------
    tuple
        ``(value, (i0, i1, j0, j1))``: mean score and half-open index ranges; ``(nan, None)``
        if no window has a finite score.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return float("nan"), None
    r0, c0 = rows.min(), cols.min()
    sub = np.where(mask, score, np.nan)[r0:, c0:]
    wi = min(size, sub.shape[0])
    wj = min(size, sub.shape[1])
    best, where = -np.inf, None
    for i in range(sub.shape[0] - wi + 1):
        for j in range(sub.shape[1] - wj + 1):
            win = sub[i : i + wi, j : j + wj]
            if np.isfinite(win).any():
                v = float(np.nanmean(win))
                if v > best:
                    best, where = v, (r0 + i, r0 + i + wi, c0 + j, c0 + j + wj)
    if where is None:
        return float("nan"), None
    return best, where
