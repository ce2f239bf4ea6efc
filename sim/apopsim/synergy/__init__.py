"""Drug-combination synergy analysis: Bliss, HSA, Loewe, ZIP, Chou–Talalay CI and MuSyC.

Conventions (stated in every output)
------------------------------------
* Responses are converted internally to **fractional inhibition** (0 = untreated control,
  1 = complete inhibition).  The input may be viability or inhibition, in percent or fractions;
  the caller declares which (``data_type``, ``scale``) — it is never guessed, and a
  :class:`SynergyWarning` is issued when values look like the other scale.  Tables report
  inhibition (and effect parameters such as Emax, MuSyC ``E0..E3``) in **percent**.
* **Bliss, HSA, Loewe and ZIP scores are percentage points of inhibition**, observed (ZIP:
  fitted) minus reference; **positive = synergy** (as SynergyFinder).  They are 0 on monotherapy
  wells.  **CI < 1 = synergy** (1 additive, > 1 antagonism).  MuSyC: ``alpha > 1`` synergistic
  potency, ``beta > 0`` synergistic efficacy, ``gamma > 1`` synergistic cooperativity.
* The **summary score of a block is the mean over its combination wells** (both doses > 0).
* **Replicates are averaged** for the non-parametric methods (Bliss, HSA, observed responses in
  Loewe/ZIP/CI scores) and **used whole for fits** (Hill, median-effect, ZIP slices, MuSyC).
* Doses are in the data's concentration unit; all fits normalise doses by their geometric mean,
  so results do not depend on the unit (EC50s and ``C`` scale with it).

Public API
----------
High level::

    SynergyOptions(data_type: "viability"|"inhibition", scale: "percent"|"fraction",
                   methods="bliss,hsa,loewe,zip,ci,musyc" | Iterable[str] | "all",
                   zip_variant="sf3"|"sf2", reference="observed"|"fitted",
                   loewe_undefined="synergyfinder"|"nan"|"weaker_emax"|"hsa",
                   out_of_range="keep"|"clip"|"baseline"|"baseline_part",
                   effect_levels=(0.5, 0.75, 0.9), musyc_gamma=False, n_bootstrap=100,
                   confidence=0.95, seed=0, conc_unit=None, source=None, strict=True)
        frozen, validated on construction (OptionError, a ValueError naming the option, the
        value and what is allowed); .replace(**changes), .settings();
        SynergyOptions.add_arguments(parser) / .from_args(namespace) for command lines.
        ``strict=False``: a block that cannot support a requested method gets NaN for it
        (reason in ``summary.skipped_methods``) instead of raising SynergyInputError.
    analyze(wells: pd.DataFrame, options: SynergyOptions | None = None, **option_keywords)
            -> SynergyResult
        keywords build the options (or override fields of ``options``), e.g.
        ``analyze(wells, data_type="viability", scale="percent", methods="bliss,zip")``.
        ``wells``: one row per well and replicate, columns ``block_id, conc1, conc2,
        response`` [+ ``drug1, drug2, conc_unit`` (or ``conc_unit1, conc_unit2``),
        ``replicate``].
    analyze_file(path, options=None, **option_keywords) -> SynergyResult  # SynergyFinder CSV
    analyze_time_course({time: wells} | wells_with_time_column, options=None, *,
                        time_column="time", **option_keywords) -> dict[float, SynergyResult]
    SynergyResult: .wells (DataFrame, one row per block and well), .summary (DataFrame, one
        row per block), .blocks {block_id: BlockResult}, .settings, .messages, .conventions
    write_report(result, outdir, *, plots=True, overwrite=False) -> Path
        atomically writes outdir/wells.csv, summary.csv, ci_rays.csv, metadata.json,
        README.txt, plots/
    write_time_course_report({time: SynergyResult}, outdir, *, time_unit="h", plots=True)
        same tables stacked with a ``time`` column + plots/synergy_vs_time.png
    plot_synergy_vs_time(summaries_by_time: dict[float, DataFrame], path, *, methods=None,
                         time_unit="h") -> Path
    read_synergyfinder_csv(path) -> DataFrame; validate_wells(frame, ...) -> DataFrame
    SynergyInputError (ValueError: .source, .row, .column, .expected), SynergyWarning

Array level (``DoseMatrix.from_arrays(d1, d2, inhibition_fraction)``; results are
``(n_dose1, n_dose2)`` arrays)::

    bliss(m, *, reference="observed", fits=None) -> ScoreResult(score, reference, extra)
    hsa(m, *, reference="observed", fits=None) -> ScoreResult
    loewe(m, *, fits=None, undefined="synergyfinder") -> ScoreResult
    zip_scores(m, *, fits=None, variant="sf3") -> ScoreResult
    combination_index(m, *, effect_levels=(0.5, 0.75, 0.9)) -> CIResult
    fit_single_drugs(m) -> (HillFit, HillFit); fit_hill(d, y, *, e0=None, emax=None)
    fit_median_effect(d, fa) -> MedianEffectFit
    fit_musyc(d1, d2, y, *, fit_gamma=False, n_bootstrap=100, confidence=0.95, seed=0)
        -> MuSyCFit(params: MuSyCParams, intervals: {name: (lo, hi)}, ...)
    musyc_surface(d1, d2, MuSyCParams) -> inhibition

Metrics (``apopsim.synergy.registry``): one object per method in a registry, over the base
:class:`Metric` (``name``, ``label``, ``requirements(options)`` -> :class:`Requirements`,
``problem(block, options)``, ``compute(block, options, rng)``, ``well_columns``,
``summary_columns``, ``wells(...)``, ``summary(...)``, ``plots``: :class:`PlotSpec` naming
functions of ``apopsim.synergy.plots``); :class:`ScoreMetric` for percentage-point scores.
``register_metric`` (class decorator), ``unregister_metric(name)``, ``metrics()`` ->
``{name: Metric}``; ``METHODS`` (the built-ins) and ``parse_methods`` come from the registry.
:func:`analyze` loops over the requested metrics generically (``docs/extending.md``).

Plots (``apopsim.synergy.plots``): response matrix heat map, synergy heat map and contour with
the most synergistic 3x3 area outlined, 3-D synergy surface, single-drug curves with Hill fits,
isobologram (classic and normalised), Fa–CI plot, synergy-versus-dose-ratio and
synergy-versus-time.

CLI: ``apopsim synergy DATA.csv -o OUTDIR [--data-type viability|inhibition]
[--scale percent|fraction] [--methods ...] [--zip-variant sf2|sf3] ...`` (see
:mod:`apopsim.synergy.cli`).

Definitions that differ from other tools (details in ``docs/synergy.md``)
--------------------------------------------------------------------------
* ZIP: the reference uses each drug's own fitted curve (SynergyFinder); the ``synergy``
  package averages the two fitted E0s.  ``sf3`` leaves the slice Emax free within
  [-100, 200] % (``synergy`` bounds it to [-50, 100] % inhibition); ``sf2`` pins it at 100 %.
* Loewe: undefined wells follow an explicit rule; ``"weaker_emax"`` and ``"hsa"`` equal the
  ``synergy`` package's ``delta_weakest`` / ``delta_HSA`` modes; ``"synergyfinder"`` is
  SynergyFinder's fallback.  The Loewe equation is solved to machine precision (root
  bracketing) rather than by bounded minimisation.
* Bliss/HSA with ``reference="observed"`` average replicates with the mean (``synergy`` uses the
  median for monotherapy replicates and scores each replicate separately).
* CI: the median-effect line is fitted to every replicate point with 0 < fa < 1 (CompuSyn
  averages first); block-level ``CI_x`` comes from constant-ratio rays (median over rays for a
  checkerboard).
* MuSyC: residual bootstrap (resampled residuals) instead of the ``synergy`` package's Gaussian
  parametric bootstrap; parameters are bounded (``ALPHA_BOUNDS``, ``GAMMA_BOUNDS``, Hill slopes
  0.05–20, effects -100–200 %).
"""

from __future__ import annotations

import importlib

# Public names -> submodule defining them. Imported on first use (PEP 562), so that
# ``apopsim.synergy.cli`` (and ``apopsim --help``) do not pull in pandas, scipy or matplotlib.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("CONVENTIONS", "METHODS", "BlockResult", "SynergyResult", "analyze", "analyze_file",
         "analyze_time_course", "parse_methods"), "analysis"),
    **dict.fromkeys(
        ("DoseMatrix", "SynergyInputError", "SynergyWarning", "read_synergyfinder_csv",
         "to_inhibition", "validate_wells"), "data"),
    **dict.fromkeys(
        ("HillFit", "MedianEffectFit", "fit_hill", "fit_median_effect", "hill_inverse"), "hill"),
    **dict.fromkeys(
        ("CIResult", "ScoreResult", "bliss", "combination_index", "fit_single_drugs", "hsa",
         "loewe", "loewe_reference", "most_synergistic_area", "zip_scores"), "methods"),
    **dict.fromkeys(("MuSyCFit", "MuSyCParams", "fit_musyc", "musyc_surface"), "musyc"),
    **dict.fromkeys(
        ("Metric", "MetricUnsupported", "PlotSpec", "Requirements", "ScoreMetric", "metrics",
         "register_metric", "unregister_metric"), "registry"),
    **dict.fromkeys(("OptionError", "SynergyOptions"), "options"),
    **dict.fromkeys(("write_report", "write_time_course_report"), "report"),
    "plot_synergy_vs_time": "plots",
}

__all__ = [
    "CONVENTIONS",
    "METHODS",
    "BlockResult",
    "CIResult",
    "DoseMatrix",
    "HillFit",
    "MedianEffectFit",
    "Metric",
    "MetricUnsupported",
    "MuSyCFit",
    "MuSyCParams",
    "OptionError",
    "PlotSpec",
    "Requirements",
    "ScoreMetric",
    "ScoreResult",
    "SynergyInputError",
    "SynergyOptions",
    "SynergyResult",
    "SynergyWarning",
    "analyze",
    "analyze_file",
    "analyze_time_course",
    "bliss",
    "combination_index",
    "fit_hill",
    "fit_median_effect",
    "fit_musyc",
    "fit_single_drugs",
    "hill_inverse",
    "hsa",
    "loewe",
    "loewe_reference",
    "metrics",
    "most_synergistic_area",
    "musyc_surface",
    "parse_methods",
    "plot_synergy_vs_time",
    "read_synergyfinder_csv",
    "register_metric",
    "to_inhibition",
    "unregister_metric",
    "validate_wells",
    "write_report",
    "write_time_course_report",
    "zip_scores",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
