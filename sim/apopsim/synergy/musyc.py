"""MuSyC: the two-dimensional Hill surface of Meyer et al. (2019) and Wooten et al. (2021).

Model
-----
Cells move between four states: unaffected ``U``, affected by drug 1 only ``A1``, by drug 2
only ``A2`` and by both ``A12``, with effects (fractional inhibition) ``E0, E1, E2, E3``.
With ``x1 = (d1/C1)**h1`` and ``x2 = (d2/C2)**h2`` the transition rates are

================  ==============================================  ====================
transition        forward rate                                    reverse rate
================  ==============================================  ====================
U  <-> A1         ``r1r * x1``                                    ``r1r``
U  <-> A2         ``r2r * x2``                                    ``r2r``
A1 <-> A12        ``r2r**g12 * (alpha12 * d2 / C2)**(g12 * h2)``  ``r2r**g12``
A2 <-> A12        ``r1r**g21 * (alpha21 * d1 / C1)**(g21 * h1)``  ``r1r**g21``
================  ==============================================  ====================

so ``alpha12`` is the factor by which drug 1 multiplies the potency of drug 2 (``> 1`` =
synergistic potency), ``alpha21`` the factor by which drug 2 multiplies the potency of drug 1,
and ``gamma12`` / ``gamma21`` change the cooperativity (Hill slope) of drug 2 / drug 1 in the
presence of the other (this is the parametrisation of the ``synergy`` Python package).  The
steady state of the four-state cycle is computed in closed form with the matrix-tree theorem
(each state's weight is the sum, over the four spanning paths of the cycle, of the product of
the rates pointing towards it).  The rate constants ``r1r = r2r = 1`` only matter when
detailed balance is broken (``alpha12**h1 != alpha21**h2`` or ``gamma != 1``), as in the
``synergy`` package.

Synergistic efficacy ``beta = (E3 - max(E1, E2)) / (max(E1, E2) - E0)`` (> 0 = the combination
is more effective than the stronger drug alone); it does not depend on whether effects are
expressed as inhibition or viability.

Fitting is unit-independent: doses are divided by the geometric mean of each drug's positive
doses, ``h, C, alpha, gamma`` are fitted on log scales, and ``C`` is scaled back afterwards.
Confidence intervals come from a residual bootstrap (resampled centred residuals added to the
fitted surface, each resample refitted) with a seeded :class:`numpy.random.Generator`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.optimize import least_squares

from .hill import E_BOUNDS, H_BOUNDS, LOG_C_MARGIN, HillFit, dose_scale, fit_hill

#: Bounds on alpha (dimensionless potency multipliers).
ALPHA_BOUNDS: tuple[float, float] = (1e-4, 1e4)
#: Bounds on gamma (dimensionless cooperativity multipliers).
GAMMA_BOUNDS: tuple[float, float] = (1e-2, 1e2)

_LOG_CLIP = 200.0  # exp(200) ~ 7e86: keeps products of three rates finite


@dataclass(frozen=True)
class MuSyCParams:
    """Parameters of a MuSyC surface.

    Attributes
    ----------
    E0, E1, E2, E3
        Fractional inhibition of the untreated, drug-1-, drug-2- and doubly-affected states.
    h1, h2
        Hill slopes of drug 1 and drug 2.
    C1, C2
        EC50s of drug 1 and drug 2 (conc unit).
    alpha12, alpha21
        Synergistic potency: drug 1 on drug 2, drug 2 on drug 1 (> 1 = synergy).
    gamma12, gamma21
        Synergistic cooperativity: drug 1 on drug 2, drug 2 on drug 1 (> 1 = synergy).
    r1r, r2r
        Reverse rate constants (fixed at 1 when fitting).
    """

    E0: float
    E1: float
    E2: float
    E3: float
    h1: float
    h2: float
    C1: float
    C2: float
    alpha12: float = 1.0
    alpha21: float = 1.0
    gamma12: float = 1.0
    gamma21: float = 1.0
    r1r: float = 1.0
    r2r: float = 1.0

    @property
    def beta(self) -> float:
        """Synergistic efficacy ``(E3 - max(E1, E2)) / (max(E1, E2) - E0)``."""
        return musyc_beta(self.E0, self.E1, self.E2, self.E3)

    def as_dict(self) -> dict[str, float]:
        """Parameters and ``beta`` as a dict."""
        out = asdict(self)
        out["beta"] = self.beta
        return out


def musyc_beta(E0, E1, E2, E3):  # noqa: N803 - names follow the paper
    """Synergistic efficacy from the four plateau effects (fractional inhibition)."""
    strongest = np.maximum(E1, E2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (E3 - strongest) / (strongest - E0)


def _log_ratio(d: np.ndarray, c: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(d, dtype=float)) - np.log(c)


def _state_weights(
    ld1: np.ndarray,
    ld2: np.ndarray,
    h1: float,
    h2: float,
    la12: float,
    la21: float,
    g12: float,
    g21: float,
    r1r: float,
    r2r: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unnormalised steady-state weights of U, A1, A2, A12.

    ``ld1 = log(d1/C1)``, ``ld2 = log(d2/C2)`` (may be -inf for zero dose), ``la = log(alpha)``.
    """

    def powexp(v: np.ndarray) -> np.ndarray:
        return np.exp(np.minimum(v, _LOG_CLIP))

    # directed rates around the cycle U -> A1 -> A12 -> A2 -> U
    a = r1r * powexp(h1 * ld1)  # U -> A1
    b = r1r  # A1 -> U
    c = r2r * powexp(h2 * ld2)  # U -> A2
    e = r2r  # A2 -> U
    f = r2r**g12 * powexp(g12 * h2 * (ld2 + la12))  # A1 -> A12
    g = r2r**g12  # A12 -> A1
    p = r1r**g21 * powexp(g21 * h1 * (ld1 + la21))  # A2 -> A12
    q = r1r**g21  # A12 -> A2
    w_u = f * q * e + b * q * e + g * b * e + p * g * b
    w_1 = c * p * g + q * e * a + e * a * g + a * g * p
    w_2 = a * f * q + g * b * c + b * c * q + c * q * f
    w_12 = f * p * c + b * c * p + a * f * e + p * f * a
    return w_u, w_1, w_2, w_12


def musyc_surface(d1: np.ndarray, d2: np.ndarray, params: MuSyCParams) -> np.ndarray:
    """Effect (fractional inhibition) of the MuSyC model at doses ``(d1, d2)`` (conc unit)."""
    p = params
    ld1 = _log_ratio(d1, p.C1)
    ld2 = _log_ratio(d2, p.C2)
    ld1, ld2 = np.broadcast_arrays(ld1, ld2)
    w = _state_weights(
        ld1,
        ld2,
        p.h1,
        p.h2,
        np.log(p.alpha12),
        np.log(p.alpha21),
        p.gamma12,
        p.gamma21,
        p.r1r,
        p.r2r,
    )
    total = w[0] + w[1] + w[2] + w[3]
    return (w[0] * p.E0 + w[1] * p.E1 + w[2] * p.E2 + w[3] * p.E3) / total


@dataclass
class MuSyCFit:
    """Result of :func:`fit_musyc`.

    Attributes
    ----------
    params
        Best-fit parameters (effects in fractional inhibition, EC50s in conc unit).
    intervals
        Percentile bootstrap intervals ``{name: (low, high)}`` for ``alpha12, alpha21, beta``
        (and ``gamma12, gamma21`` when fitted) plus the other parameters; empty without
        bootstrap.
    confidence
        Coverage of the intervals (e.g. 0.95).
    fit_gamma
        Whether gamma was fitted (otherwise fixed at 1).
    rss, r2
        Residual sum of squares and coefficient of determination on fractional inhibition.
    n
        Number of data points.
    converged
        Optimiser convergence of the best fit.
    n_bootstrap
        Number of successful bootstrap refits.
    bootstrap
        ``(n_bootstrap, n_params)`` array of bootstrap parameter sets (columns ``names``).
    names
        Column names of ``bootstrap``.
    """

    params: MuSyCParams
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    confidence: float = 0.95
    fit_gamma: bool = False
    rss: float = float("nan")
    r2: float = float("nan")
    n: int = 0
    converged: bool = False
    n_bootstrap: int = 0
    bootstrap: np.ndarray | None = None
    names: tuple[str, ...] = ()

    def __call__(self, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
        """Fitted surface (fractional inhibition)."""
        return musyc_surface(d1, d2, self.params)


_BASE_NAMES = ("E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2", "alpha12", "alpha21")


class _Problem:
    """Parameter vector <-> MuSyCParams in normalised, log-transformed space."""

    def __init__(self, d1, d2, y, s1, s2, fit_gamma):
        self.y = y
        self.fit_gamma = fit_gamma
        self.s1, self.s2 = s1, s2
        with np.errstate(divide="ignore"):
            self.lx1 = np.log(d1 / s1)
            self.lx2 = np.log(d2 / s2)
        fin1 = self.lx1[np.isfinite(self.lx1)]
        fin2 = self.lx2[np.isfinite(self.lx2)]
        self.lc1_bounds = (fin1.min() - LOG_C_MARGIN, fin1.max() + LOG_C_MARGIN)
        self.lc2_bounds = (fin2.min() - LOG_C_MARGIN, fin2.max() + LOG_C_MARGIN)
        lh = (np.log(H_BOUNDS[0]), np.log(H_BOUNDS[1]))
        la = (np.log(ALPHA_BOUNDS[0]), np.log(ALPHA_BOUNDS[1]))
        lg = (np.log(GAMMA_BOUNDS[0]), np.log(GAMMA_BOUNDS[1]))
        lower = [E_BOUNDS[0]] * 4 + [lh[0], lh[0], self.lc1_bounds[0], self.lc2_bounds[0]]
        upper = [E_BOUNDS[1]] * 4 + [lh[1], lh[1], self.lc1_bounds[1], self.lc2_bounds[1]]
        lower += [la[0], la[0]]
        upper += [la[1], la[1]]
        if fit_gamma:
            lower += [lg[0], lg[0]]
            upper += [lg[1], lg[1]]
        self.lower = np.array(lower)
        self.upper = np.array(upper)
        self.names = _BASE_NAMES + (("gamma12", "gamma21") if fit_gamma else ())

    def predict(self, theta: np.ndarray, lx1=None, lx2=None) -> np.ndarray:
        lx1 = self.lx1 if lx1 is None else lx1
        lx2 = self.lx2 if lx2 is None else lx2
        e0, e1, e2, e3, lh1, lh2, lc1, lc2, la12, la21 = theta[:10]
        g12, g21 = (np.exp(theta[10]), np.exp(theta[11])) if self.fit_gamma else (1.0, 1.0)
        w = _state_weights(
            lx1 - lc1, lx2 - lc2, np.exp(lh1), np.exp(lh2), la12, la21, g12, g21, 1.0, 1.0
        )
        total = w[0] + w[1] + w[2] + w[3]
        return (w[0] * e0 + w[1] * e1 + w[2] * e2 + w[3] * e3) / total

    def residuals(self, theta: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.predict(theta) - y

    def to_params(self, theta: np.ndarray) -> MuSyCParams:
        e0, e1, e2, e3, lh1, lh2, lc1, lc2, la12, la21 = (float(v) for v in theta[:10])
        g12, g21 = (
            (float(np.exp(theta[10])), float(np.exp(theta[11])))
            if self.fit_gamma
            else (
                1.0,
                1.0,
            )
        )
        return MuSyCParams(
            E0=e0,
            E1=e1,
            E2=e2,
            E3=e3,
            h1=float(np.exp(lh1)),
            h2=float(np.exp(lh2)),
            C1=float(np.exp(lc1) * self.s1),
            C2=float(np.exp(lc2) * self.s2),
            alpha12=float(np.exp(la12)),
            alpha21=float(np.exp(la21)),
            gamma12=g12,
            gamma21=g21,
        )

    def to_theta(self, p: MuSyCParams) -> np.ndarray:
        theta = [
            p.E0,
            p.E1,
            p.E2,
            p.E3,
            np.log(p.h1),
            np.log(p.h2),
            np.log(p.C1 / self.s1),
            np.log(p.C2 / self.s2),
            np.log(p.alpha12),
            np.log(p.alpha21),
        ]
        if self.fit_gamma:
            theta += [np.log(p.gamma12), np.log(p.gamma21)]
        eps = 1e-9
        return np.clip(np.array(theta, dtype=float), self.lower + eps, self.upper - eps)

    def solve(self, theta0: np.ndarray, y: np.ndarray, max_nfev: int = 3000):
        return least_squares(
            self.residuals,
            theta0,
            args=(y,),
            bounds=(self.lower, self.upper),
            method="trf",
            x_scale="jac",
            ftol=1e-12,
            xtol=1e-12,
            gtol=1e-12,
            max_nfev=max_nfev,
        )


def _param_vector(p: MuSyCParams, fit_gamma: bool) -> list[float]:
    vals = [getattr(p, n) for n in _BASE_NAMES]
    if fit_gamma:
        vals += [p.gamma12, p.gamma21]
    return vals


def fit_musyc(
    d1: np.ndarray,
    d2: np.ndarray,
    y: np.ndarray,
    *,
    fit_gamma: bool = False,
    n_bootstrap: int = 100,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
    single_fits: tuple[HillFit, HillFit] | None = None,
    p0: MuSyCParams | None = None,
) -> MuSyCFit:
    """Fit the MuSyC surface to combination data by least squares.

    Parameters
    ----------
    d1, d2
        Doses of drug 1 and drug 2 (conc unit, >= 0), one entry per well and replicate.
    y
        Fractional inhibition at each point (replicates used whole).
    fit_gamma
        Also fit the cooperativity parameters ``gamma12, gamma21`` (otherwise fixed at 1).
    n_bootstrap
        Number of residual-bootstrap refits for the confidence intervals (0 = none).
    confidence
        Coverage of the percentile intervals.
    seed
        Seed (or generator) for the bootstrap resampling.
    single_fits
        Hill fits of drug 1 and drug 2 used for the starting point (fitted on the monotherapy
        margins when omitted).
    p0
        Explicit starting parameters (overrides ``single_fits``).

    Returns
    -------
    MuSyCFit

    Notes
    -----
    Bounds: effects in :data:`~apopsim.synergy.hill.E_BOUNDS`, slopes in
    :data:`~apopsim.synergy.hill.H_BOUNDS`, EC50 within ``LOG_C_MARGIN`` (natural-log units) of
    the tested dose range, alpha in :data:`ALPHA_BOUNDS`, gamma in :data:`GAMMA_BOUNDS`.  The
    best fit is the lowest-residual of several starts (alpha12, alpha21 in {0.1, 1, 10}, with the
    single-drug Hill slopes and with h1 = h2 = 1).
    """
    d1 = np.asarray(d1, dtype=float).ravel()
    d2 = np.asarray(d2, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(d1) & np.isfinite(d2) & np.isfinite(y)
    d1, d2, y = d1[ok], d2[ok], y[ok]
    n_par = 12 if fit_gamma else 10
    if y.size <= n_par:
        raise ValueError(f"MuSyC needs more than {n_par} data points, got {y.size}")
    if not (np.any(d1 > 0) and np.any(d2 > 0)):
        raise ValueError("MuSyC needs positive doses of both drugs")
    s1, s2 = dose_scale(d1), dose_scale(d2)
    prob = _Problem(d1, d2, y, s1, s2, fit_gamma)

    if p0 is None:
        if single_fits is None:
            single_fits = (
                fit_hill(d1[d2 == 0], y[d2 == 0]),
                fit_hill(d2[d1 == 0], y[d1 == 0]),
            )
        f1, f2 = single_fits
        top = (d1 == d1.max()) & (d2 == d2.max())
        e3 = float(np.mean(y[top])) if top.any() else max(f1.emax, f2.emax)
        p0 = MuSyCParams(
            E0=0.5 * (f1.e0 + f2.e0),
            E1=f1.emax,
            E2=f2.emax,
            E3=e3,
            h1=f1.h,
            h2=f2.h,
            C1=f1.ec50,
            C2=f2.ec50,
        )
    starts = []
    # Noisy margins can give extreme single-drug slopes: also start from h1 = h2 = 1.
    for base in (p0, replace(p0, h1=1.0, h2=1.0)):
        for a12 in (1.0, 0.1, 10.0):
            for a21 in (1.0, 0.1, 10.0):
                starts.append(replace(base, alpha12=a12 * p0.alpha12, alpha21=a21 * p0.alpha21))
    best = None
    for start in starts:
        res = prob.solve(prob.to_theta(start), y)
        if best is None or res.cost < best.cost - 1e-15:
            best = res
    assert best is not None
    theta = best.x
    params = prob.to_params(theta)
    resid = prob.residuals(theta, y)
    rss = float(np.sum(resid**2))
    tss = float(np.sum((y - y.mean()) ** 2))
    fit = MuSyCFit(
        params=params,
        confidence=confidence,
        fit_gamma=fit_gamma,
        rss=rss,
        r2=1.0 - rss / tss if tss > 0 else float("nan"),
        n=int(y.size),
        converged=bool(best.status > 0),
        names=tuple(prob.names) + ("beta",),
    )
    if n_bootstrap > 0:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        fitted = y + resid
        centred = resid - resid.mean()
        rows = []
        for _ in range(int(n_bootstrap)):
            y_star = fitted + rng.choice(centred, size=centred.size, replace=True)
            res = prob.solve(theta, y_star, max_nfev=1000)
            if not np.all(np.isfinite(res.x)) or res.status <= 0:
                continue
            pb = prob.to_params(res.x)
            rows.append(_param_vector(pb, fit_gamma) + [pb.beta])
        if rows:
            boot = np.array(rows, dtype=float)
            lo_q = 100.0 * (1.0 - confidence) / 2.0
            bounds = np.nanpercentile(boot, [lo_q, 100.0 - lo_q], axis=0)
            fit.bootstrap = boot
            fit.n_bootstrap = len(rows)
            fit.intervals = {
                name: (float(bounds[0, k]), float(bounds[1, k])) for k, name in enumerate(fit.names)
            }
    return fit
