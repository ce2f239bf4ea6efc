"""Single-drug dose-response fits: four-parameter Hill curves and Chou's median-effect line.

All effects are **fractional inhibition** (0 = control, 1 = complete inhibition); doses are in
the data's concentration unit.  Fits are done in log-dose space normalised by the geometric mean
of the positive doses, so the fitted EC50 scales exactly with the concentration unit and nothing
else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit
from scipy.stats import linregress

#: Bounds on the effect parameters (E0, Emax) of fitted Hill curves, in fractional inhibition.
E_BOUNDS: tuple[float, float] = (-1.0, 2.0)
#: Bounds on the Hill slope of fitted curves.
H_BOUNDS: tuple[float, float] = (0.05, 20.0)
#: Half-width, in natural-log units, of the EC50 search window around the tested dose range.
LOG_C_MARGIN: float = 7.0


def hill(d: np.ndarray | float, e0: float, emax: float, h: float, c: float) -> np.ndarray:
    """Four-parameter Hill curve ``E0 + (Emax - E0) * d**h / (d**h + c**h)``.

    Parameters
    ----------
    d
        Doses (conc unit, >= 0); dose 0 gives ``e0``.
    e0, emax
        Effect without drug and at saturating dose (fractional inhibition).
    h
        Hill slope (> 0).
    c
        EC50 (conc unit, > 0).
    """
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        u = h * (np.log(d) - np.log(c))
    return e0 + (emax - e0) * expit(u)


def hill_inverse(y: np.ndarray | float, e0: float, emax: float, h: float, c: float) -> np.ndarray:
    """Dose giving effect ``y`` on a Hill curve; NaN unless ``y`` is strictly between E0, Emax."""
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (y - e0) / (emax - y)
        d = c * np.power(ratio, 1.0 / h)
    return np.where(ratio > 0, d, np.nan)


@dataclass(frozen=True)
class HillFit:
    """A fitted (or given) four-parameter Hill curve.

    Attributes
    ----------
    e0, emax
        Fractional inhibition without drug and at saturating dose.
    h
        Hill slope.
    ec50
        Dose of half-maximal effect (conc unit).
    rss
        Residual sum of squares (fractional inhibition squared); NaN if not fitted.
    n
        Number of data points used.
    converged
        Whether the optimiser reported convergence.
    """

    e0: float
    emax: float
    h: float
    ec50: float
    rss: float = float("nan")
    n: int = 0
    converged: bool = True

    def __call__(self, d: np.ndarray | float) -> np.ndarray:
        """Effect (fractional inhibition) at dose(s) ``d``."""
        return hill(d, self.e0, self.emax, self.h, self.ec50)

    def inverse(self, y: np.ndarray | float) -> np.ndarray:
        """Dose(s) giving effect ``y``; NaN outside the open interval (E0, Emax)."""
        return hill_inverse(y, self.e0, self.emax, self.h, self.ec50)

    @property
    def increasing(self) -> bool:
        """True if inhibition increases with dose."""
        return self.emax > self.e0


def dose_scale(d: np.ndarray) -> float:
    """Geometric mean of the positive doses (the normalisation used by all fits)."""
    d = np.asarray(d, dtype=float)
    pos = d[d > 0]
    if pos.size == 0:
        return 1.0
    return float(np.exp(np.mean(np.log(pos))))


def fit_hill(
    d: np.ndarray,
    y: np.ndarray,
    *,
    e0: float | None = None,
    emax: float | None = None,
    p0: HillFit | None = None,
    scale: float | None = None,
) -> HillFit:
    """Least-squares fit of a Hill curve to ``(dose, inhibition)`` points.

    Parameters
    ----------
    d, y
        Doses (conc unit, >= 0) and fractional inhibition; replicates are used as separate
        points.
    e0, emax
        Fix E0 and/or Emax at these values (fractional inhibition) instead of fitting them.
    p0
        Starting curve (its ``h`` and ``ec50``, and free effects, seed the first start).
    scale
        Dose normalisation; the geometric mean of the positive doses by default.

    Returns
    -------
    HillFit

    Notes
    -----
    Parameters are ``E0, Emax`` (bounded to :data:`E_BOUNDS`), ``log h`` (:data:`H_BOUNDS`) and
    ``log(EC50/scale)`` (within :data:`LOG_C_MARGIN` of the tested log-dose range).  Several
    starting EC50s are tried and the lowest residual kept; the Jacobian is analytic.

    Raises
    ------
    ValueError
        Fewer distinct doses than free parameters.
    """
    d = np.asarray(d, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(d) & np.isfinite(y) & (d >= 0)
    d, y = d[ok], y[ok]
    n_free = 2 + (e0 is None) + (emax is None)
    n_doses = np.unique(d).size
    if n_doses < n_free or not np.any(d > 0):
        raise ValueError(
            f"need at least {n_free} distinct doses to fit a Hill curve, got {n_doses}"
        )
    s = dose_scale(d) if scale is None else float(scale)
    with np.errstate(divide="ignore"):
        x = np.log(d / s)
    finite = np.isfinite(x)
    xmin, xmax = float(x[finite].min()), float(x[finite].max())
    lc_bounds = (xmin - LOG_C_MARGIN, xmax + LOG_C_MARGIN)
    lh_bounds = (np.log(H_BOUNDS[0]), np.log(H_BOUNDS[1]))

    def unpack(theta: np.ndarray) -> tuple[float, float, float, float]:
        k = 0
        if e0 is None:
            a = theta[k]
            k += 1
        else:
            a = e0
        if emax is None:
            b = theta[k]
            k += 1
        else:
            b = emax
        return a, b, theta[k], theta[k + 1]

    def resid(theta: np.ndarray) -> np.ndarray:
        a, b, lh, lc = unpack(theta)
        u = np.where(finite, np.exp(lh) * (np.where(finite, x, 0.0) - lc), -np.inf)
        return a + (b - a) * expit(u) - y

    def jac(theta: np.ndarray) -> np.ndarray:
        a, b, lh, lc = unpack(theta)
        h = np.exp(lh)
        xs = np.where(finite, x, 0.0)
        u = h * (xs - lc)
        sig = np.where(finite, expit(u), 0.0)
        ds = sig * (1.0 - sig)
        cols = []
        if e0 is None:
            cols.append(1.0 - sig)
        if emax is None:
            cols.append(sig)
        cols.append(np.where(finite, (b - a) * ds * u, 0.0))
        cols.append(np.where(finite, -(b - a) * ds * h, 0.0))
        return np.column_stack(cols)

    # Starting values.
    lo_y = float(np.mean(y[d == d.min()]))
    hi_y = float(np.mean(y[d == d.max()]))
    e_lo, e_hi = E_BOUNDS
    starts_e = []
    if e0 is None:
        starts_e.append(np.clip(p0.e0 if p0 is not None else lo_y, e_lo + 1e-6, e_hi - 1e-6))
    if emax is None:
        starts_e.append(np.clip(p0.emax if p0 is not None else hi_y, e_lo + 1e-6, e_hi - 1e-6))
    lc_starts = list(np.quantile(x[finite], [0.5, 0.2, 0.8]))
    lh_start = 0.0
    if p0 is not None and np.isfinite(p0.ec50) and p0.ec50 > 0:
        lc_starts.insert(0, float(np.log(p0.ec50 / s)))
        lh_start = float(np.log(np.clip(p0.h, *H_BOUNDS)))
    lower = [e_lo] * len(starts_e) + [lh_bounds[0], lc_bounds[0]]
    upper = [e_hi] * len(starts_e) + [lh_bounds[1], lc_bounds[1]]

    best = None
    for lc0 in lc_starts:
        theta0 = np.array(
            [*starts_e, np.clip(lh_start, *lh_bounds), np.clip(lc0, *lc_bounds)], dtype=float
        )
        res = least_squares(
            resid,
            theta0,
            jac=jac,
            bounds=(lower, upper),
            method="trf",
            x_scale="jac",
            ftol=1e-11,
            xtol=1e-11,
            gtol=1e-11,
            max_nfev=400,
        )
        if best is None or res.cost < best.cost - 1e-15:
            best = res
    assert best is not None
    a, b, lh, lc = unpack(best.x)
    return HillFit(
        e0=float(a),
        emax=float(b),
        h=float(np.exp(lh)),
        ec50=float(np.exp(lc) * s),
        rss=float(2.0 * best.cost),
        n=int(y.size),
        converged=bool(best.status > 0),
    )


@dataclass(frozen=True)
class MedianEffectFit:
    """Chou's median-effect line ``log(fa/fu) = m*log(D) - m*log(Dm)``.

    Attributes
    ----------
    m
        Slope (shape; 1 = hyperbolic, > 1 sigmoidal).
    dm
        Median-effect dose (conc unit), i.e. the dose for ``fa = 0.5``.
    r
        Linear correlation coefficient of the median-effect plot.
    n
        Number of points used (those with 0 < fa < 1 and dose > 0).
    """

    m: float
    dm: float
    r: float
    n: int

    def dose(self, fa: np.ndarray | float) -> np.ndarray:
        """Dose ``Dx`` giving fraction affected ``fa``: ``Dm * (fa / (1 - fa))**(1/m)``.

        NaN outside 0 < fa < 1 or when the slope is not positive.
        """
        fa = np.asarray(fa, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = self.dm * np.power(fa / (1.0 - fa), np.divide(1.0, np.float64(self.m)))
        valid = (fa > 0) & (fa < 1) & (self.m > 0) & np.isfinite(self.dm)
        return np.where(valid, dx, np.nan)

    def fa(self, d: np.ndarray | float) -> np.ndarray:
        """Fraction affected at dose ``d``."""
        d = np.asarray(d, dtype=float)
        with np.errstate(divide="ignore"):
            return expit(self.m * (np.log(d) - np.log(self.dm)))


def fit_median_effect(d: np.ndarray, fa: np.ndarray) -> MedianEffectFit:
    """Fit the median-effect equation by linear regression (Chou & Talalay 1984).

    Parameters
    ----------
    d
        Doses (conc unit); points with ``d <= 0`` are ignored.
    fa
        Fraction affected (= fractional inhibition); points outside the open interval (0, 1)
        are ignored, as in CompuSyn.

    Returns
    -------
    MedianEffectFit
        NaN parameters when fewer than two distinct usable doses remain.
    """
    d = np.asarray(d, dtype=float).ravel()
    fa = np.asarray(fa, dtype=float).ravel()
    ok = np.isfinite(d) & np.isfinite(fa) & (d > 0) & (fa > 0) & (fa < 1)
    d, fa = d[ok], fa[ok]
    if np.unique(d).size < 2:
        return MedianEffectFit(float("nan"), float("nan"), float("nan"), int(d.size))
    s = dose_scale(d)
    lx = np.log(d / s)
    ly = np.log(fa / (1.0 - fa))
    reg = linregress(lx, ly)
    m = float(reg.slope)
    dm = float(np.exp(-reg.intercept / m) * s) if m != 0 else float("nan")
    return MedianEffectFit(m=m, dm=dm, r=float(reg.rvalue), n=int(d.size))
