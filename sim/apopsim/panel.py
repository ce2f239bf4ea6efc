"""Virtual cell-line panels: claims that are correlations across lines, tested as such.

A panel is many cell lines of one model, each line a cell context whose protein synthesis rates
(``ksyn_*``, nM/h) are drawn log-uniformly within stated fold ranges of a base context. For each
line the untreated cell is pre-equilibrated (its baseline complexes are the "western blot" of the
line), then treated for ``duration_h`` hours:

- the line's **killing concentration** of the panel drug (nM) is located by bisection on a log
  scale: the lowest concentration at which the line's nominal cell is dead (death variable above
  its threshold) at the end of the run. It is the single-cell analogue of a line's IC50 and is
  reported as ``ic50_nM``; a line alive at the top concentration gets ``NaN`` and
  ``ic50_censored = "above"``, a line dead at the lowest gets the lowest with ``"below"``;
- each named **condition** (fixed concentrations of one or more drugs) gives a ``killed_<name>``
  column, so responses of drug pairs can be compared over groups of lines (:func:`group_bliss`).

Spearman correlations of ``ic50_nM`` with baseline readouts (:func:`panel_correlations`) are the
panel's statistics; censored lines enter with their rank at the end they are censored at.

    from apopsim.panel import PanelSpec, run_panel, panel_correlations
    spec = PanelSpec.from_yaml("scenarios/panels/pelcitoclax_nen_panel.yaml")
    lines = run_panel(spec)
    panel_correlations(lines, ["BCLXL_BIM", "MCL1_total"])
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from apopsim.engine import (
    SolverOptions,
    integrate_segments,
    integrator_for,
)
from apopsim.errors import ApopsimError
from apopsim.margins import UntreatedCell, log_bisect
from apopsim.scenario.expect import _Assertion, _Claim

FoldRange = tuple[PositiveFloat, PositiveFloat]


class PanelCorrelation(_Claim, _Assertion):
    """``kind: correlation`` -- Spearman's rho of the lines' killing dose with a baseline
    readout (``control_for``: the partial rank correlation with that readout held fixed)."""

    kind: Literal["correlation"]
    x: str = Field(description="Baseline readout (one of the panel's `baseline`).")
    control_for: str | None = Field(None, description="Baseline readout held fixed.")

    def measure(self, lines: pd.DataFrame) -> float:
        corr = panel_correlations(lines, [self.x], control_for=self.control_for)
        return float(corr["rho_partial" if self.control_for else "rho"].iloc[0])


class PanelGroupBliss(_Claim, _Assertion):
    """``kind: group_bliss`` -- Bliss excess of a pair over the lines whose baseline readout is
    above (or below) its median, from fractions of lines killed (:func:`group_bliss`);
    ``relative_to_other_half: true`` measures the difference between the two halves."""

    kind: Literal["group_bliss"]
    a: str = Field(description="Condition name of the first drug alone.")
    b: str = Field(description="Condition name of the second drug alone.")
    ab: str = Field(description="Condition name of the pair.")
    readout: str = Field(description="Baseline readout that splits the lines at its median.")
    half: Literal["above", "below"] = "above"
    relative_to_other_half: bool = False

    def measure(self, lines: pd.DataFrame) -> float:
        high = lines[self.readout] > lines[self.readout].median()
        mine = high if self.half == "above" else ~high
        score = group_bliss(lines, self.a, self.b, self.ab, mine)["bliss"]
        if self.relative_to_other_half:
            score -= group_bliss(lines, self.a, self.b, self.ab, ~mine)["bliss"]
        return score


PanelExpectation = Annotated[PanelCorrelation | PanelGroupBliss, Field(discriminator="kind")]


class PanelSpec(BaseModel):
    """A virtual panel: model, base context, fold ranges, panel drug, conditions (YAML or code).

    Units: concentrations in nM, times in hours, fold ranges dimensionless (multiples of the
    base context's synthesis rate, nM/h).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$",
                      description="Panel name (output folder name).")
    description: str = ""
    model: str = Field(description="Built-in model name or model file path.")
    context: str | None = Field(None, description="Base cell context (contexts.yaml).")
    fold_ranges: dict[str, FoldRange] = Field(
        description="Synthesis-rate parameter -> [low, high] fold of the base context's value, "
        "sampled log-uniformly per line (scrambled Sobol).", min_length=1)
    range_sources: dict[str, str] = Field(
        default_factory=dict, description="Where each fold range comes from (per parameter).")
    parameters: dict[str, float] = Field(
        default_factory=dict, description="Parameter overrides for every line (model units), "
        "e.g. a knock-out control.")
    n_lines: int = Field(200, ge=2, le=100_000, description="Number of virtual lines.")
    drug: str = Field(description="Drug whose killing concentration (IC50 analogue) is located.")
    dose_range_nM: FoldRange = Field((0.1, 10_000.0),
                                     description="Search range of the killing concentration (nM).")
    dose_rel_tol: PositiveFloat = Field(0.05, lt=1,
                                        description="Relative precision of the located dose.")
    conditions: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Named fixed treatments {drug: nM}; each gives a killed_<name> column.")
    baseline: list[str] = Field(
        default_factory=list, description="Species or rule variables recorded at the untreated "
        "steady state of each line (nM).")
    duration_h: PositiveFloat = Field(72.0, le=10_000, description="Treatment time (h).")
    death_variable: str = Field("cleaved_PARP_fraction",
                                description="Variable whose value at the end decides death.")
    threshold: float = Field(0.5, description="Death threshold (variable units).")
    seed: int = Field(0, ge=0)
    expect: list[PanelExpectation] = Field(
        default_factory=list, description="Claims about the panel, checked by `apopsim check`.")

    @model_validator(mode="after")
    def _ordered(self) -> PanelSpec:
        for name, (lo, hi) in {**self.fold_ranges, "dose_range_nM": self.dose_range_nM}.items():
            if not lo < hi:
                raise ValueError(f"{name}: the range must be [low, high] with low < high, "
                                 f"got [{lo}, {hi}]")
        for i, e in enumerate(self.expect):
            names = [e.x, e.control_for] if isinstance(e, PanelCorrelation) else [e.readout]
            unknown = [n for n in names if n is not None and n not in self.baseline]
            unknown += [c for c in ([e.a, e.b, e.ab] if isinstance(e, PanelGroupBliss) else [])
                        if c not in self.conditions]
            if unknown:
                raise ValueError(f"expect[{i}] names {', '.join(map(repr, unknown))}: not in "
                                 "the panel's baseline readouts or conditions")
        return self

    def evaluate(self, lines: pd.DataFrame) -> list[dict[str, Any]]:
        """Verdict of every expectation on simulated ``lines``: one dict per expectation with
        ``study, index, kind, role, claim, source, measured, expected, passed, why_failing``."""
        out = []
        for i, e in enumerate(self.expect):
            measured = e.measure(lines)
            out.append({"study": e.study_label(self.name), "index": i, "kind": e.kind,
                        "role": e.role, "claim": e.claim, "source": e.source,
                        "measured": measured, "expected": e.expected_text(e.tolerance),
                        "passed": e.holds(measured, e.tolerance),
                        "why_failing": e.why_failing or ""})
        return out

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> PanelSpec:
        """Read a panel file safely; errors name the file, line and field."""
        from apopsim.scenario.checks import read_validated

        return read_validated(path, cls, "panel")[0]


def sample_lines(base: Mapping[str, float], fold_ranges: Mapping[str, Sequence[float]],
                 n_lines: int, seed: int = 0) -> pd.DataFrame:
    """Synthesis rates of ``n_lines`` lines, log-uniform within the fold ranges of ``base``.

    Scrambled Sobol points (scipy.stats.qmc), so the ranges are covered evenly at any panel
    size. Returns one row per line, one column per parameter (model units, nM/h).
    """
    from scipy.stats import qmc

    names = list(fold_ranges)
    u = qmc.Sobol(d=len(names), scramble=True, seed=seed).random(n_lines)
    lo = np.log([fold_ranges[k][0] for k in names])
    hi = np.log([fold_ranges[k][1] for k in names])
    fold = np.exp(lo + u * (hi - lo))
    return pd.DataFrame(fold * np.array([base[k] for k in names]), columns=names)


class _Line:
    """One pre-equilibrated line: treat it with any doses and tell whether it dies."""

    def __init__(self, panel: _Panel, rates: Mapping[str, float]) -> None:
        self.panel = panel
        self.rates = {**panel.spec.parameters, **rates}
        self.y, self.p = panel.cell.steady_state(self.rates)
        self.death0 = panel.cell.value(panel.spec.death_variable, self.y, self.p)

    @property
    def dead_untreated(self) -> bool:
        return not (math.isfinite(self.death0) and self.death0 <= self.panel.spec.threshold)

    def baseline(self, names: Sequence[str]) -> dict[str, float]:
        return {n: self.panel.cell.value(n, self.y, self.p) for n in names}

    def dies(self, doses_nM: Mapping[str, float]) -> bool:
        panel = self.panel
        treated = {**self.rates, **panel.untreated, **panel.resolve(panel.model, doses_nM)}
        traj = integrate_segments(panel.cm, panel.integrator, self.y, treated, [],
                                  panel.times)
        end = float(traj[panel.spec.death_variable][-1])
        return not (math.isfinite(end) and end <= panel.spec.threshold)

    def killing_dose(self) -> tuple[float, str]:
        """(lowest killing concentration in nM, censoring: "", "above" or "below")."""
        lo, hi = self.panel.spec.dose_range_nM
        drug = self.panel.spec.drug
        if not self.dies({drug: hi}):
            return math.nan, "above"
        if self.dies({drug: lo}):
            return lo, "below"
        return log_bisect(lambda c: self.dies({drug: c}), lo, hi,
                          math.log1p(self.panel.spec.dose_rel_tol)), ""


class _Panel:
    def __init__(self, spec: PanelSpec, solver: SolverOptions | None) -> None:
        from apopsim.library import catalogue, load_model

        self.spec = spec
        self.model = load_model(spec.model, spec.context)
        self.cell = UntreatedCell(self.model, spec.death_variable, spec.threshold, solver)
        self.cm, self.untreated = self.cell.cm, self.cell.untreated
        self.integrator = integrator_for(self.cm, self.cell.solver)
        self.resolve = catalogue().resolve
        self.times = np.array([0.0, spec.duration_h])
        missing = [k for k in {**spec.fold_ranges, **spec.parameters}
                   if k not in self.model.parameters]
        if missing:
            raise ApopsimError(f"panel {spec.name!r}: model {self.model.name!r} has no "
                               f"parameter {', '.join(missing)}")
        for drugs in [{spec.drug: 1.0}, *spec.conditions.values()]:
            self.resolve(self.model, drugs)  # unknown drugs fail before any simulation


def run_panel(spec: PanelSpec, *, solver: SolverOptions | None = None,
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Simulate every line of the panel.

    Returns
    -------
    pandas.DataFrame
        One row per line: ``line``, the sampled synthesis rates (nM/h), ``dead_untreated``,
        each ``baseline`` readout at the untreated steady state (nM), ``ic50_nM`` (killing
        concentration of ``spec.drug``, nM; NaN when alive at the top of the range),
        ``ic50_censored``, and ``killed_<condition>`` (bool) per condition. Lines dead before
        treatment get NaN/None in the treatment columns. A line whose pre-equilibration fails
        is reported with ``failed`` True instead of stopping the panel.
    """
    panel = _Panel(spec, solver)
    base = {k: panel.model.parameters[k] for k in spec.fold_ranges}
    rates = sample_lines(base, spec.fold_ranges, spec.n_lines, spec.seed)
    rows = []
    for i, r in enumerate(rates.to_dict("records")):
        row: dict[str, Any] = {"line": i, **r, "failed": False}
        try:
            line = _Line(panel, r)
        except ApopsimError as exc:
            row.update(failed=True, error=str(exc), dead_untreated=None)
            rows.append(row)
            continue
        row["dead_untreated"] = line.dead_untreated
        row.update(line.baseline(spec.baseline))
        if not line.dead_untreated:
            row["ic50_nM"], row["ic50_censored"] = line.killing_dose()
            for name, doses in spec.conditions.items():
                row[f"killed_{name}"] = line.dies(doses)
        rows.append(row)
        if progress is not None:
            progress(i + 1, spec.n_lines)
    return pd.DataFrame(rows)


def panel_correlations(lines: pd.DataFrame, readouts: Sequence[str],
                       target: str = "ic50_nM", control_for: str | None = None) -> pd.DataFrame:
    """Spearman correlation of ``target`` with each baseline readout over the live lines.

    Lines censored "above" (alive at the top dose) rank as the most resistant (their NaN is
    replaced by +inf before ranking). With ``control_for`` (a readout, e.g. ``"MCL1_total"``)
    the partial rank correlation is given too (``rho_partial``: Pearson correlation of the
    ranks after removing each one's linear dependence on the ranks of ``control_for``), which
    separates a readout's own association from one it shares with a confounder.

    Returns ``readout, rho, p_value, n_lines`` (and ``rho_partial``).
    """
    from scipy.stats import rankdata, spearmanr

    live = lines[(lines["dead_untreated"] == False) & ~lines["failed"]]  # noqa: E712
    y = live[target].fillna(np.inf).to_numpy(float)

    def residual(v: np.ndarray, z: np.ndarray) -> np.ndarray:
        return v - np.polyval(np.polyfit(z, v, 1), z)

    z = rankdata(live[control_for].to_numpy(float)) if control_for else None
    out = []
    for name in readouts:
        x = live[name].to_numpy(float)
        rho, p = spearmanr(x, y)
        row = {"readout": name, "rho": float(rho), "p_value": float(p), "n_lines": len(live)}
        if z is not None:
            rx, ry = residual(rankdata(x), z), residual(rankdata(y), z)
            denom = float(np.sqrt((rx @ rx) * (ry @ ry)))
            row["rho_partial"] = float(rx @ ry / denom) if denom > 0 else math.nan
        out.append(row)
    return pd.DataFrame(out)


def group_bliss(lines: pd.DataFrame, a: str, b: str, ab: str,
                mask: pd.Series | None = None) -> dict[str, float]:
    """Bliss excess of a drug pair over a group of lines, from fractions of lines killed.

    ``a``, ``b``, ``ab`` are condition names (columns ``killed_<name>``); ``mask`` selects the
    group (default: every live line). Returns the fractions killed and
    ``bliss = f_ab - (f_a + f_b - f_a f_b)`` (positive: the pair kills more lines than
    independent action predicts), with ``n_lines``.
    """
    live = (lines["dead_untreated"] == False) & ~lines["failed"]  # noqa: E712
    group = lines[live & (mask if mask is not None else True)]
    f = {k: float(group[f"killed_{k}"].astype(float).mean()) for k in (a, b, ab)}
    return {"f_a": f[a], "f_b": f[b], "f_ab": f[ab],
            "bliss": f[ab] - (f[a] + f[b] - f[a] * f[b]), "n_lines": len(group)}


def plot_panel(lines: pd.DataFrame, readouts: Sequence[str], path: str | os.PathLike[str], *,
               drug: str, title: str | None = None) -> None:
    """Scatter of each line's killing concentration of ``drug`` (nM, log) against each baseline
    readout (nM, log).

    Lines alive at the top of the dose range are drawn as open triangles at the top edge;
    each panel's title gives Spearman's rho over all live lines (censored ones ranked last).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from apopsim.report.style import save, style

    live = lines[(lines["dead_untreated"] == False) & ~lines["failed"]]  # noqa: E712
    cens = live["ic50_nM"].isna()
    top = float(live["ic50_nM"].max()) * 2 if (~cens).any() else 1.0
    rho = panel_correlations(lines, readouts).set_index("readout")["rho"]
    with style():
        n = len(readouts)
        ncol = min(n, 3)
        nrow = math.ceil(n / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(2.7 * ncol + 0.4, 2.6 * nrow + 0.3),
                                 sharey=True, squeeze=False, layout="constrained")
        for ax, name in zip(axes.flat, readouts):
            ax.scatter(live.loc[~cens, name], live.loc[~cens, "ic50_nM"], s=10, alpha=0.7,
                       color="#0072B2", label="killed: lowest killing dose")
            ax.scatter(live.loc[cens, name], np.full(int(cens.sum()), top), s=14,
                       marker="^", facecolors="none", edgecolors="#D55E00",
                       label="alive at the top dose")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(f"baseline {name} (nM)")
            ax.set_title(f"Spearman \u03c1 = {rho[name]:+.2f}")
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for row in axes:
            row[0].set_ylabel(f"{drug} killing conc. (nM)")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
        fig.suptitle(title or "virtual panel")
        save(fig, path)


def write_panel_report(spec: PanelSpec, lines: pd.DataFrame, outdir: str | os.PathLike[str],
                       *, overwrite: bool = False, protect: Sequence[str] = ()) -> Path:
    """Write ``lines.csv``, ``correlations.csv``, ``panel.png`` and ``run.json`` atomically."""
    import datetime

    from apopsim import __version__
    from apopsim._io import atomic_output_dir, strict_json

    readouts = list(spec.baseline)
    with atomic_output_dir(outdir, overwrite=overwrite, protect=protect) as tmp:
        lines.to_csv(tmp / "lines.csv", index=False)
        corr = panel_correlations(lines, readouts)
        corr.to_csv(tmp / "correlations.csv", index=False)
        plot_panel(lines, readouts, tmp / "panel.png", drug=spec.drug, title=spec.name)
        run = {"apopsim_version": __version__, "kind": "panel",
               "created": datetime.datetime.now(datetime.UTC).isoformat(),
               "spec": spec.model_dump(mode="json"),
               "units": {"concentration": "nM", "time": "h", "synthesis_rate": "nM/h"},
               "n_dead_untreated": int((lines["dead_untreated"] == True).sum()),  # noqa: E712
               "n_failed": int(lines["failed"].sum()),
               "correlations": corr.to_dict("records")}
        (tmp / "run.json").write_text(strict_json(run) + "\n", encoding="utf-8")
    return Path(outdir)
