"""Drawing the cells of a population: log-normal variation (mean preserved), optional common
correlation, random or scrambled Sobol sampling, all from one seed, up front."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from apopsim.errors import ApopsimError
from apopsim.model import Model


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
        Common correlation coefficient between the log-values of all varied quantities (0-<1).
    sampling
        ``"random"`` (numpy PCG64) or ``"sobol"`` (scrambled Sobol, lower variance at equal N).
    """

    parameters: tuple[str, ...] = ()
    species: tuple[str, ...] = ()
    cv: float = 0.25
    cv_per: dict[str, float] = field(default_factory=dict)
    correlation: float = 0.0
    sampling: str = "random"


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

        d = len(names)
        rng = np.random.default_rng(seed)
        if variation.sampling == "sobol":
            u = qmc.Sobol(d, scramble=True, seed=rng).random(n_cells)
            z = norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        else:
            z = rng.standard_normal((n_cells, d))
        rho = variation.correlation
        if rho:
            corr = np.full((d, d), rho) + (1 - rho) * np.eye(d)
            z = z @ np.linalg.cholesky(corr).T
        cv = np.array([variation.cv_per.get(k, variation.cv) for k in names])
        sigma = np.sqrt(np.log1p(cv**2))
        vals = base * np.exp(sigma * z - sigma**2 / 2)  # mean-preserving log-normal
    return pnames, vals[:, :len(pnames)], snames, vals[:, len(pnames):]
