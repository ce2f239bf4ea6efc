"""Synergy metrics as objects in a registry: one :class:`Metric` per method.

A metric declares what it needs from a block (:class:`Requirements`), computes its result on a
prepared block (:meth:`Metric.compute`), and contributes columns to the wells table (one row per
block and well) and to the summary table (one row per block).  :func:`apopsim.synergy.analyze`
loops over the requested metrics generically; nothing else needs to know a metric's name.

Adding a metric is one class in one file (see ``docs/extending.md``)::

    @register_metric
    class MyMetric(Metric):
        name = "mine"
        label = "Mine"
        well_columns = ("mine",)
        summary_columns = ("mine",)

        def compute(self, block, options, rng):
            return ...                      # any object; stored in block.results["mine"]

        def wells(self, block, result, ii, jj):
            return {"mine": ...}            # arrays indexed by the measured wells (ii, jj)

        def summary(self, block, result, options):
            return {"mine": ...}

Units follow the package conventions: inhibition in fractions inside, percent in tables;
Bliss/HSA/Loewe/ZIP scores in percentage points of inhibition (positive = synergy); doses in
the data's concentration unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .block import BlockResult
from .data import DoseMatrix
from .methods import (
    ScoreResult,
    bliss,
    combination_index,
    hsa,
    level_label,
    loewe,
    most_synergistic_area,
    zip_scores,
)
from .musyc import fit_musyc

#: The options a metric reads: a :class:`apopsim.synergy.options.SynergyOptions` (typed loosely
#: here because ``options`` imports this module for the method names).
SynergyOptions = Any

#: A reason a block cannot support a metric: ``(column, message)``; the column is named in the
#: :class:`~apopsim.synergy.data.SynergyInputError` raised in strict mode.
Problem = tuple[str, str]


class MetricUnsupported(Exception):
    """Raised by :meth:`Metric.compute` when the block turns out not to support the metric.

    The analysis raises a :class:`~apopsim.synergy.data.SynergyInputError` naming ``column`` in
    strict mode, or records ``message`` in ``BlockResult.skipped`` and NaN columns otherwise.
    """

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Requirements:
    """What a block must offer before a metric is computed (checked by :meth:`Metric.problem`).

    Attributes
    ----------
    hill_fits
        Four-parameter Hill fits of both drugs: each monotherapy margin needs at least 4
        distinct doses, including the zero-dose control.
    combination_doses
        Minimum number of non-zero doses of *each* drug that have combination wells.
    more_measurements_than
        The block must hold more measurements (all replicates) than this (e.g. the number of
        fitted parameters).
    detail
        Appended to ``"method '<name>'"`` in messages, e.g. ``" with reference='fitted'"``.
    """

    hill_fits: bool = False
    combination_doses: int = 0
    more_measurements_than: int = 0
    detail: str = ""


@dataclass(frozen=True)
class PlotSpec:
    """A figure a metric offers, referenced by name so :mod:`apopsim.synergy.plots` need not know
    the registry.

    Attributes
    ----------
    function
        Name of a function in :mod:`apopsim.synergy.plots`.
    kind
        File-name part: ``<block>_<metric>_<kind>.png`` when ``per_method``, else
        ``<block>_<kind>.png``.
    per_method
        True: called as ``function(block, metric_name, path)``; False: ``function(block, path)``.
    """

    function: str
    kind: str
    per_method: bool = False


def hill_problem(m: DoseMatrix, why: str) -> Problem | None:
    """``(column, message)`` if a margin is too short for a four-parameter Hill fit."""
    for drug, col in ((1, "conc1"), (2, "conc2")):
        doses, _ = m.margin(drug)
        if doses.size < 4:
            return col, (
                f"{why} needs a monotherapy curve of drug{drug} with at least 4 distinct doses "
                f"(including the zero-dose control) in column '{col}' with the other drug at 0; "
                f"found {doses.size}"
            )
    return None


def _mean_over_combinations(values: np.ndarray, mask: np.ndarray) -> float:
    v = values[mask]
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _pct(x) -> np.ndarray:
    return 100.0 * np.asarray(x, dtype=float)


class Metric:
    """Base of every synergy metric.

    Class attributes
    ----------------
    name
        Method name used in ``methods=`` and as the column prefix (lower case).
    label
        Human-readable name for figures and messages.
    well_columns, summary_columns
        Columns the metric adds to the wells and summary tables; a block that cannot support
        the metric (``strict=False``) gets NaN in exactly these.
    plots
        Figures offered (:class:`PlotSpec`), drawn by :func:`apopsim.synergy.report.block_plots`.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    well_columns: ClassVar[tuple[str, ...]] = ()
    summary_columns: ClassVar[tuple[str, ...]] = ()
    plots: ClassVar[tuple[PlotSpec, ...]] = ()

    def requirements(self, options: SynergyOptions) -> Requirements:
        """What the block must support under ``options`` (default: nothing beyond margins)."""
        return Requirements()

    def problem(self, block: BlockResult, options: SynergyOptions) -> Problem | None:
        """Why ``block`` cannot support this metric (``(column, message)``), or None."""
        req = self.requirements(options)
        what = f"method '{self.name}'{req.detail}"
        m = block.matrix
        if req.hill_fits:
            problem = hill_problem(m, what)
            if problem:
                return problem
        if req.combination_doses:
            for drug, col in ((1, "conc1"), (2, "conc2")):
                doses = m.dose1 if drug == 1 else m.dose2
                comb_any = m.combination.any(axis=1 if drug == 1 else 0)
                n = int(np.count_nonzero((doses > 0) & comb_any))
                if n < req.combination_doses:
                    return col, (
                        f"{what} needs combination wells at >= {req.combination_doses} "
                        f"non-zero doses of drug{drug} ('{col}'); found {n}"
                    )
        if req.more_measurements_than and m.y.size <= req.more_measurements_than:
            return "response", (
                f"{what} needs more than {req.more_measurements_than} measurements; "
                f"found {m.y.size}"
            )
        return None

    def compute(
        self, block: BlockResult, options: SynergyOptions, rng: np.random.Generator
    ) -> Any:
        """Compute the metric on a prepared block.

        ``block.matrix`` holds fractional inhibition after the out-of-range treatment;
        ``block.hill`` the single-drug Hill fits (None when a margin is too short).  Append
        notes with :meth:`BlockResult.note`; raise :class:`MetricUnsupported` if the block
        turns out not to support the metric.  ``rng`` is the analysis' generator (seeded by
        ``options.seed``, shared by all blocks in order): use it for any resampling.
        """
        raise NotImplementedError

    def attach(self, block: BlockResult, result: Any) -> None:
        """Store ``result`` on the block (``block.results[name]``; subclasses add shortcuts)."""
        block.results[self.name] = result

    def wells(
        self, block: BlockResult, result: Any, ii: np.ndarray, jj: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Wells-table columns at the measured wells ``(dose1[ii], dose2[jj])``."""
        return {}

    def summary(
        self, block: BlockResult, result: Any, options: SynergyOptions
    ) -> dict[str, object]:
        """Summary-table entries of one block."""
        return {}


_SCORE_PLOTS = (
    PlotSpec("plot_synergy_heatmap", "heatmap", per_method=True),
    PlotSpec("plot_synergy_contour", "contour", per_method=True),
    PlotSpec("plot_synergy_surface", "surface3d", per_method=True),
)


class ScoreMetric(Metric):
    """A reference-model score in percentage points of inhibition (a :class:`ScoreResult`).

    Wells: ``<name>`` and ``<name>_reference`` (percent inhibition); summary: ``<name>`` (mean
    over combination wells) and ``<name>_msa`` (best 3x3 window).  Stored in ``block.scores``.
    """

    plots = _SCORE_PLOTS

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name and not cls.__dict__.get("well_columns"):
            cls.well_columns = (cls.name, f"{cls.name}_reference")
        if cls.name and not cls.__dict__.get("summary_columns"):
            cls.summary_columns = (cls.name, f"{cls.name}_msa")

    def attach(self, block: BlockResult, result: ScoreResult) -> None:
        super().attach(block, result)
        block.scores[self.name] = result

    def wells(self, block, result: ScoreResult, ii, jj):
        return {
            self.name: result.score[ii, jj],
            f"{self.name}_reference": _pct(result.reference[ii, jj]),
        }

    def summary(self, block, result: ScoreResult, options):
        comb = block.matrix.combination
        return {
            self.name: _mean_over_combinations(result.score, comb),
            f"{self.name}_msa": most_synergistic_area(result.score, comb)[0],
        }


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: type[Metric] | Metric) -> Any:
    """Register a metric class (instantiated without arguments) or instance; usable as a class
    decorator.  Returns its argument.  Output order is registration order.

    Raises
    ------
    ValueError
        Missing or invalid name, or a name already registered.
    """
    obj = metric() if isinstance(metric, type) else metric
    name = obj.name
    if not name or not name.isidentifier() or name != name.lower() or name == "all":
        raise ValueError(
            f"metric name must be a lower-case identifier other than 'all', got {name!r}"
        )
    if name in _REGISTRY:
        raise ValueError(f"metric {name!r} is already registered")
    _REGISTRY[name] = obj
    return metric


def unregister_metric(name: str) -> None:
    """Remove a registered metric (KeyError if absent)."""
    del _REGISTRY[name]


def metrics() -> Mapping[str, Metric]:
    """Read-only ``{name: Metric}`` of every registered metric, in output order."""
    return MappingProxyType(_REGISTRY)


def parse_methods(methods: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a method list (``"bliss,zip"``, ``["bliss", "zip"]``, ``"all"``, None=all).

    Returns the registered names in registration order.
    """
    known = tuple(_REGISTRY)
    if methods is None:
        return known
    if isinstance(methods, str):
        items = [m.strip().lower() for m in methods.split(",") if m.strip()]
    else:
        items = [str(m).strip().lower() for m in methods]
    if items == ["all"]:
        return known
    unknown = [m for m in items if m not in known]
    if unknown or not items:
        raise ValueError(
            f"unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(known)}"
        )
    return tuple(m for m in known if m in items)


# --- built-in metrics -------------------------------------------------------------------------


class _MarginScore(ScoreMetric):
    """Bliss and HSA: observed or fitted single-drug effects (``options.reference``)."""

    function: ClassVar[Any] = None

    def requirements(self, options):
        if options.reference == "fitted":
            return Requirements(hill_fits=True, detail=" with reference='fitted'")
        return Requirements()

    def compute(self, block, options, rng):
        m = block.matrix
        res = type(self).function(m, reference=options.reference, fits=block.hill)
        if not np.isfinite(res.score[m.combination]).any():
            raise MetricUnsupported(
                "conc1",
                f"method '{self.name}': no combination well has monotherapy responses of both "
                "drugs at its doses (the monotherapy margins do not cover the combination doses)",
            )
        return res

    def summary(self, block, result, options):
        row = super().summary(block, result, options)
        row[f"{self.name}_reference_source"] = options.reference
        return row


@register_metric
class Bliss(_MarginScore):
    """Bliss independence, ``y1 + y2 - y1*y2`` (:func:`apopsim.synergy.methods.bliss`)."""

    name = "bliss"
    label = "Bliss"
    function = staticmethod(bliss)


@register_metric
class HSA(_MarginScore):
    """Highest single agent, ``max(y1, y2)`` (:func:`apopsim.synergy.methods.hsa`)."""

    name = "hsa"
    label = "HSA"
    function = staticmethod(hsa)


@register_metric
class Loewe(ScoreMetric):
    """Loewe additivity from the Hill fits (:func:`apopsim.synergy.methods.loewe`)."""

    name = "loewe"
    label = "Loewe"

    def requirements(self, options):
        return Requirements(hill_fits=True)

    def compute(self, block, options, rng):
        res = loewe(block.matrix, fits=block.hill, undefined=options.loewe_undefined)
        n_undef = int(res.extra["undefined"].sum())
        if n_undef:
            block.note(
                f"Loewe undefined (no Loewe-equivalent dose: different maximal effects) "
                f"in {n_undef} combination well(s); rule '{options.loewe_undefined}' applied"
            )
        return res

    def summary(self, block, result, options):
        row = super().summary(block, result, options)
        row["loewe_undefined_rule"] = options.loewe_undefined
        row["loewe_n_undefined"] = int(result.extra["undefined"].sum())
        return row


@register_metric
class ZIP(ScoreMetric):
    """Zero interaction potency delta (:func:`apopsim.synergy.methods.zip_scores`)."""

    name = "zip"
    label = "ZIP"
    well_columns = ("zip", "zip_fitted", "zip_reference")

    def requirements(self, options):
        need = 3 if options.zip_variant == "sf3" else 2
        return Requirements(
            hill_fits=True, combination_doses=need, detail=f" ({options.zip_variant})"
        )

    def compute(self, block, options, rng):
        res = zip_scores(block.matrix, fits=block.hill, variant=options.zip_variant)
        if res.extra["n_unfitted"]:
            block.note(
                f"{res.extra['n_unfitted']} ZIP slice(s) could not be fitted; observed "
                "responses used there"
            )
        return res

    def wells(self, block, result, ii, jj):
        return {
            "zip": result.score[ii, jj],
            "zip_fitted": _pct(result.extra["fitted"][ii, jj]),
            "zip_reference": _pct(result.reference[ii, jj]),
        }

    def summary(self, block, result, options):
        row = super().summary(block, result, options)
        row["zip_variant"] = options.zip_variant
        row["zip_n_unfitted_slices"] = int(result.extra["n_unfitted"])
        return row


@register_metric
class CombinationIndex(Metric):
    """Chou–Talalay combination index (:func:`apopsim.synergy.methods.combination_index`).

    Dimensionless, CI < 1 = synergy.  Stored in ``block.ci``.
    """

    name = "ci"
    label = "CI"
    well_columns = ("ci", "dri1", "dri2")
    summary_columns = ("ci",)
    plots = (PlotSpec("plot_fa_ci", "fa_ci"),)

    def compute(self, block, options, rng):
        ci = combination_index(block.matrix, effect_levels=options.effect_levels)
        for drug, col, fit in ((1, "conc1", ci.fits[0]), (2, "conc2", ci.fits[1])):
            if not (np.isfinite(fit.m) and fit.m > 0):
                raise MetricUnsupported(
                    col,
                    f"method 'ci' needs at least 2 monotherapy doses of drug{drug} with "
                    "inhibition strictly between 0 and 100 % and an increasing median-effect "
                    f"line (found {fit.n} usable point(s), slope {fit.m:.3g})",
                )
        return ci

    def attach(self, block, result):
        super().attach(block, result)
        block.ci = result

    def wells(self, block, result, ii, jj):
        return {"ci": result.ci[ii, jj], "dri1": result.dri1[ii, jj], "dri2": result.dri2[ii, jj]}

    def summary(self, block, result, options):
        row: dict[str, object] = {
            "ci": _mean_over_combinations(result.ci, block.matrix.combination),
            "ci_convention": "CI < 1 = synergy",
        }
        for x in result.effect_levels:
            lab = level_label(x)
            for p in ("ci", "dri1", "dri2"):
                row[f"{p}_{lab}"] = result.summary[f"{p}_{lab}"]
        row["ci_n_rays"] = len(result.rays)
        for k, f in enumerate(result.fits, start=1):
            row[f"me{k}_m"] = f.m
            row[f"me{k}_dm"] = f.dm
            row[f"me{k}_r"] = f.r
        return row


@register_metric
class MuSyC(Metric):
    """MuSyC surface fit with bootstrap intervals (:func:`apopsim.synergy.musyc.fit_musyc`).

    ``alpha > 1`` synergistic potency, ``beta > 0`` efficacy, ``gamma > 1`` cooperativity;
    effects ``E0..E3`` in percent inhibition.  Stored in ``block.musyc``.
    """

    name = "musyc"
    label = "MuSyC"
    well_columns = ("musyc_fitted",)
    summary_columns = tuple(
        f"musyc_{p}{s}" for p in ("alpha12", "alpha21", "beta") for s in ("", "_lo", "_hi")
    )

    def requirements(self, options):
        n_par = 12 if options.musyc_gamma else 10  # fitted parameters
        return Requirements(hill_fits=True, more_measurements_than=n_par)

    def compute(self, block, options, rng):
        m = block.matrix
        fit = fit_musyc(
            m.d1, m.d2, m.y, fit_gamma=options.musyc_gamma, n_bootstrap=options.n_bootstrap,
            confidence=options.confidence, seed=rng, single_fits=block.hill,
        )  # fmt: skip
        if not fit.converged:
            block.note("MuSyC fit did not converge")
        return fit

    def attach(self, block, result):
        super().attach(block, result)
        block.musyc = result

    def wells(self, block, result, ii, jj):
        m = block.matrix
        return {"musyc_fitted": _pct(result(m.dose1[ii], m.dose2[jj]))}

    def summary(self, block, result, options):
        p = result.params.as_dict()
        names = ["alpha12", "alpha21", "beta"]
        if result.fit_gamma:
            names += ["gamma12", "gamma21"]
        names += ["E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2"]
        row: dict[str, object] = {}
        for n in names:
            scale = 100.0 if n.startswith("E") else 1.0
            row[f"musyc_{n}"] = scale * p[n]
            lo, hi = result.intervals.get(n, (math.nan, math.nan))
            row[f"musyc_{n}_lo"] = scale * lo
            row[f"musyc_{n}_hi"] = scale * hi
        row["musyc_gamma_fitted"] = result.fit_gamma
        row["musyc_r2"] = result.r2
        row["musyc_converged"] = result.converged
        row["musyc_n_bootstrap"] = result.n_bootstrap
        row["musyc_confidence"] = result.confidence
        return row


#: The built-in methods, in output order (``metrics()`` also lists metrics registered later).
METHODS: tuple[str, ...] = tuple(_REGISTRY)
#: Built-in methods whose scores are differences in percentage points of inhibition.
SCORE_METHODS: tuple[str, ...] = tuple(
    k for k, v in _REGISTRY.items() if isinstance(v, ScoreMetric)
)
