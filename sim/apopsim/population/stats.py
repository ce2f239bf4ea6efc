"""Statistics over the cells of a condition: Wilson intervals and readout summaries."""

from __future__ import annotations

import numpy as np

#: Statistics reported for readout variables across the cells of a condition.
STATS = ("mean", "sd", "q05", "q25", "q50", "q75", "q95", "mean_ci_low", "mean_ci_high")


def wilson_interval(k: np.ndarray, n: np.ndarray, z: float = 1.96):
    """95 % Wilson score interval of a binomial proportion ``k / n``."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def summarise_traces(traces: np.ndarray) -> np.ndarray:
    """Statistics :data:`STATS` over cells: (n_cells, n_vars, n_times) -> (n_stats, n_vars, n_t).

    NaN traces (failed cells, cells dead before treatment) are left out. ``mean_ci_low`` /
    ``mean_ci_high`` are the 95 % normal-approximation interval of the mean over the sampled
    cells (mean ± 1.96 sd / sqrt(n)).
    """
    import warnings

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        x = traces.astype(float)
        shape = traces.shape[1:]
        q = _quantiles(x, (0.05, 0.25, 0.5, 0.75, 0.95)) if len(x) else \
            np.full((5, *shape), np.nan)
        sd = np.nanstd(x, axis=0, ddof=1) if len(x) > 1 else np.zeros(shape)
        mean = np.nanmean(x, axis=0)
        half = 1.959964 * sd / np.sqrt(np.maximum(np.sum(~np.isnan(x), axis=0), 1))
        return np.concatenate([mean[None], sd[None], q, (mean - half)[None],
                               (mean + half)[None]])


def _quantiles(x: np.ndarray, probs: tuple[float, ...]) -> np.ndarray:
    """``np.nanquantile(x, probs, axis=0)``, fast when NaNs fill whole cells (failed or dead
    untreated cells have all-NaN traces): those rows are dropped and the vectorised
    ``np.quantile`` runs on the rest, which gives the same numbers (numpy's NaN-aware quantile
    loops over every (variable, time) column in Python, 10-100x slower)."""
    nan = np.isnan(x)
    whole = nan.reshape(len(x), -1).all(axis=1)
    rest = x[~whole]
    if not rest.size or np.isnan(rest).any():  # scattered NaNs (or none left): the general path
        return np.nanquantile(x, probs, axis=0)
    return np.quantile(rest, probs, axis=0)
