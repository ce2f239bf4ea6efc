"""Drawing the cells of a population: log-normal variation (mean preserved) split into one
factor shared by every varied quantity plus private noise, random or scrambled Sobol sampling,
all from one seed, up front.

Each varied quantity ``k`` of cell ``i`` is ``base_k * exp(sigma_k * z_ik - sigma_k**2 / 2)``
with ``sigma_k = sqrt(log(1 + cv_k**2))`` and

    z_ik = sqrt(f) * s_i + sqrt(1 - f) * e_ik,      s_i, e_ik ~ N(0, 1) independent,

so a fraction ``f`` (``Variation.correlation``, the *shared fraction*) of every log-variance comes
from the cell's shared extrinsic factor ``s_i`` (cell size, mitochondrial content, translation
capacity) and ``1 - f`` is private to the protein; any two varied log-values correlate with
coefficient ``f`` (a one-factor, equicorrelated Gaussian copula).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from apopsim.errors import ApopsimError
from apopsim.model import Model

#: Default shared fraction of each varied quantity's log-variance (dimensionless, 0-<1).
#: Source: protein levels in human cells co-vary: Sigal et al. 2006 (Nature 444:643; 20 proteins
#: tagged in H1299 cells, SD 15-30 % of the mean; pairs tagged in two colours correlated, more
#: strongly within a pathway) and Marquez-Jurado et al. 2018 (Nat Commun 9:389; mitochondrial
#: content co-varies with the levels of apoptotic proteins and sets the variability of TRAIL
#: killing). Neither gives one number for the BCL-2 family; 0.5 (half shared, half private,
#: pairwise correlation 0.5 of the log-levels) is an assumption within the range they report
#: (unverified against the papers' figures).
DEFAULT_SHARED_FRACTION = 0.5


@dataclass(frozen=True)
class Variation:
    """How cells differ.

    Attributes
    ----------
    parameters
        Parameter names (glob patterns allowed, e.g. ``ksyn_*``) whose values vary per cell.
    species
        Species whose initial amounts vary per cell (glob patterns allowed). With
        pre-equilibration, only quantities that turnover does not reset (e.g. conserved totals)
        keep such variation; vary synthesis rates instead.
    cv
        Default coefficient of variation of the log-normal draws.
    cv_per
        Per-name coefficient of variation (exact names).
    correlation
        Shared fraction ``f`` of every varied quantity's log-variance (0-<1): the part carried
        by one extrinsic factor common to all varied quantities of a cell; ``1 - f`` is private
        noise. Equals the correlation coefficient between any two varied log-values. Default
        :data:`DEFAULT_SHARED_FRACTION`; 0 makes every quantity independent.
    sampling
        ``"random"`` (numpy PCG64) or ``"sobol"`` (scrambled Sobol, lower variance at equal N).
    """

    parameters: tuple[str, ...] = ()
    species: tuple[str, ...] = ()
    cv: float = 0.25
    cv_per: dict[str, float] = field(default_factory=dict)
    correlation: float = DEFAULT_SHARED_FRACTION
    sampling: str = "random"

    @property
    def shared_fraction(self) -> float:
        """Shared fraction of the log-variance (the same number as ``correlation``)."""
        return self.correlation


def _match(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    out = []
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            raise ApopsimError(f"population variation: {pat!r} matches no name in the model")
        out += [h for h in hits if h not in out]
    return out


def sample_cells(model: Model, variation: Variation, n_cells: int, seed: int):
    """Per-cell parameter and initial-amount values.

    Returns
    -------
    param_names, param_values, species_names, species_values
        ``param_values`` has shape (n_cells, len(param_names)) in model units;
        ``species_values`` (n_cells, len(species_names)) are initial amounts (nM for size-1
        compartments). With ``n_cells == 1`` the single cell is the context's own cell.
    """
    pnames = _match(variation.parameters, [k for k in model.parameters
                                            if k not in model.drug_inputs])
    snames = _match(variation.species, list(model.state))
    names = pnames + snames
    base = np.array([model.parameters[k] for k in pnames]
                    + [model.initial[model.state.index(s)] for s in snames], dtype=float)
    if n_cells == 1 or not names:
        vals = np.tile(base, (n_cells, 1))
    else:
        from scipy.stats import norm, qmc

        f = float(variation.correlation)
        if not 0.0 <= f < 1.0:
            raise ApopsimError(f"population variation: shared fraction {f} is not in [0, 1)")
        d = len(names)
        shared = f > 0 and d > 1  # one quantity: a shared factor changes nothing
        ncol = d + 1 if shared else d  # column 0 is the shared factor
        rng = np.random.default_rng(seed)
        if variation.sampling == "sobol":
            u = qmc.Sobol(ncol, scramble=True, seed=rng).random(n_cells)
            z = norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        else:
            z = rng.standard_normal((n_cells, ncol))
        if shared:
            z = np.sqrt(f) * z[:, :1] + np.sqrt(1.0 - f) * z[:, 1:]
        cv = np.array([variation.cv_per.get(k, variation.cv) for k in names])
        sigma = np.sqrt(np.log1p(cv**2))
        vals = base * np.exp(sigma * z - sigma**2 / 2)  # mean-preserving log-normal
    return pnames, vals[:, :len(pnames)], snames, vals[:, len(pnames):]
