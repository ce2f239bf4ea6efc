"""A growing culture: cells that divide, drift and die, as in a well over days.

The single-cell models describe one non-dividing cell; screening labs score live-cell counts,
viability and growth-rate inhibition over 24-72 h. :func:`grow_culture` follows a clone of
cells of one model in lock-step windows of ``step_h`` hours (all live cells of a window are
integrated in one batched call, so the cost follows the number of cells alive):

- **Division.** Each cell has an intermitotic time drawn log-normally (mean ``cycle_h``, CV
  ``cycle_cv``); its cycle progresses at ``(1 - a)`` per hour of that time, where ``a`` in [0, 1]
  is the model's arrest readout (``arrest_variable``, e.g. G1 arrest under palbociclib; none by
  default). At division, each species' molecules are split binomially between the two
  daughters (``molecules_per_nM``; 1 nM = 1000 molecules in a 1.66 pL cell, the EARM
  convention), and each daughter keeps the mother's concentration up to that partition noise.
- **Slow noise in synthesis.** Every rate matching ``vary`` (default ``ksyn_*``, nM/h) is
  multiplied by ``exp(sigma z - sigma^2 / 2)`` (``sigma`` per rate, so that the protein it makes
  has the stationary CV ``noise_cv``, or its own from ``noise_cv_per``) where ``z`` is an
  Ornstein-Uhlenbeck process (unit variance, correlation time ``noise_tau_h``), updated exactly
  at each window and held within it. A ``shared_fraction`` of its variance is common to all of a
  cell's rates (one extrinsic factor), the rest private to each rate. Daughters inherit the
  mother's ``z``, so sisters start alike and drift apart (Spencer et al., Nature 2009; how
  fast depends on which proteins fluctuate how much: a cell context's ``culture:`` block in
  ``contexts.yaml`` can set it, see :meth:`CultureOptions.for_context`). No
  variation is static: founders are drawn from the stationary state of this drift
  (``burnin_h``), so a protein's deviation lives as long as the protein and its synthesis noise
  remember it.
- **Growth dilution** (``growth_dilution``, off by default): for models whose degradation is
  proteolysis only, each live cell's concentrations are also diluted by its volume growth,
  ``ln 2 / T (1 - a)`` per h, with synthesis raised to keep untreated levels (see
  :class:`CultureOptions`). The built-in models' long half-lives already include dilution.
- **Death** is the scenarios' rule (death variable crossing its threshold, located inside the
  window); a dead cell stays in the well as a dead cell (no clearance) and stops.

- **Washout and regrowth.** With ``regrowth_h > 0`` the drugs are removed at ``duration_h``
  (every drug input back to its untreated value; what the drugs left bound or changed relaxes
  by the model's own kinetics) and the culture grows drug-free for ``regrowth_h`` hours, still
  slowed by ``arrest_variable``: whether arrested or senescent cells divide again is decided by
  the model, not assumed (a clonogenic-like readout, as colony assays after drug removal).

Founders are pre-equilibrated with their own noise values, drift untreated for ``burnin_h``
hours less the warm-up (no division), are given random cycle ages (an asynchronous culture),
and grow untreated for ``warmup_h`` hours before treatment, so that their states carry
division and drift history. Time 0 of every output is treatment start.

Wells of one seed share founders, warm-up and random streams (synthesis noise, cycle times and
partition each draw from their own stream), so a dose that changes no cell's fate leaves the
culture dividing exactly as the vehicle. ``Culture.work`` counts the cost: one integration per
live cell and window (dead cells are never integrated again).

Units: times in hours, concentrations in nM, counts in cells.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from apopsim.cell import untreated_parameters
from apopsim.engine import (
    PreequilibrationOptions,
    SolverOptions,
    ThresholdEvent,
    compile_model,
    integrator_for,
    preequilibrate,
)
from apopsim.engine.segments import integrate_segments_many
from apopsim.errors import ApopsimError
from apopsim.model import Model


@dataclass(frozen=True)
class CultureOptions:
    """How cells grow and drift (all times in hours).

    Attributes
    ----------
    cycle_h
        Mean intermitotic time (h). HeLa: about 20-24 h (assumption within the usual range).
    cycle_cv
        Coefficient of variation of intermitotic times (about 0.15-0.25 in live imaging of
        cancer lines; assumption 0.15).
    noise_cv
        Stationary CV of each varied rate's protein (``noise_of="protein"``, default; Spencer
        et al. 2009: protein CV 0.2-0.3; Sigal et al. 2006: SD 15-30 % of the mean) or of the
        synthesis multiplier itself (``"synthesis"``).
    noise_cv_per
        Per-rate CVs that replace ``noise_cv`` (rate name or glob pattern -> CV; the first
        matching pattern wins), e.g. ``{"ksyn_FLIP": 0.5}``: proteins whose fluctuations are
        larger than the typical 0.2-0.3 (Bertaux et al. PLoS Comput Biol 2014 fitted large, rare
        fluctuations of the short-lived c-FLIP and MCL-1 to HeLa TRAIL fate data). Empty by
        default: every rate gets ``noise_cv``. A cell context can carry its own noise in
        ``contexts.yaml`` (``culture:`` block, read by :meth:`for_context`): HeLa's switches
        the c-FLIP and MCL-1 genes (``bursts_on_off_h``, Bertaux et al.'s turnover model,
        fitted to HeLa TRAIL fate data), with which sisters decorrelate within a cycle as
        Spencer et al. 2009 observed (a consistency check, not an independent prediction).
    bursts_on_off_h
        Rates whose gene switches ON and OFF (a two-state promoter, "telegraph" noise) instead
        of drifting log-normally: rate name or glob pattern -> (mean ON time, mean OFF time) in
        hours (the first matching pattern wins). The rate is ``ksyn / p`` while ON and 0 while
        OFF (``p = on / (on + off)``, the fraction of time ON, so the mean is ``ksyn``); the
        state switches at the window ends with the exact two-state transition probabilities
        over ``step_h``, founders draw it from the stationary distribution, daughters inherit
        the mother's. The protein follows through its own turnover (no mRNA stage: it would
        smooth a 1 h mRNA's worth more). A protein of half-life h_p under switching times much
        longer than h_p has CV ``sqrt((1 - p) / p)`` and a correlation time
        ``1 / (1/on + 1/off)`` (h).
        Bertaux et al. 2014's fitted HeLa model gives c-FLIP and MCL-1 ON 16 h / OFF 24 h (CV
        1.15 with their 1 h mRNA, 9.6 h; the ``hela`` context's culture block). Such rates take
        no shared part, and a rate matching both this and ``noise_cv_per`` is an error.
    noise_of
        ``"protein"``: a protein made at rate ``ksyn`` and turned over at rate k averages its
        synthesis noise over about 1/k hours, so its log-variance is the multiplier's times
        ``k / (k + 1 / noise_tau_h)``; each rate's multiplier is widened by the inverse,
        with k measured from the untreated cell's step response
        (``_Setup.turnover_per_h``): short-lived proteins (MCL-1, BIM, c-FLIP) keep about
        ``noise_cv``, the 27 h ones need a multiplier CV of about 0.6. ``"synthesis"``:
        ``noise_cv`` is the multiplier's CV (the stable proteins then vary only about 0.1).
    noise_tau_h
        Correlation time of the synthesis noise (h). The multiplier stands for a gene's mRNA
        level, which fluctuates on the mRNA lifetime: median mRNA half-life 7.1 h in mouse ES
        cells (Sharova et al. DNA Res 2009;16:45), 9 h in NIH3T3 (Schwanhausser et al. Nature
        2011;473:337), so lifetime 10-13 h; default 10 h. The protein levels' own memory is
        longer (they average synthesis over 1/kdeg, 39 h for the stable proteins), as Sigal et
        al. 2006 (Nature 444:643) found: mixing times of more than two generations for many
        proteins.
    shared_fraction
        Fraction of the log-variance common to all of a cell's varied rates (extrinsic factor).
    burnin_h
        Untreated drift (h) that draws founders from the stationary state of the noise-driven
        dynamics (see ``_Setup.founders``); 96 h = 2.5 lifetimes of the stable proteins (1/kdeg
        = 39 h), leaving 8 % of the frozen start's deviation (assumption: enough). With 0 the
        founders keep their pre-equilibrated levels (frozen noise): stable proteins then carry
        a static deviation (CV 0.2-0.27 instead of about 0.1 under the drift) that sisters
        share for days. ``grow_culture`` counts its warm-up toward the burn-in.
    step_h
        Window length (h): noise updates, division checks and batching happen per window.
    molecules_per_nM
        Molecules per nM in one cell (1000: 1.661 pL, the EARM convention).
    vary
        Patterns of the parameters that carry synthesis noise.
    arrest_variable
        Model readout in [0, 1] that slows the cycle (None: no arrest).
    max_cells
        Refuse to grow beyond this many cells (live + dead).
    growth_dilution
        Dilute by volume growth (default False: the model's own kinetics only, as before). For
        models whose degradation rates are proteolysis only: a cycling cell also dilutes every
        concentration at ``mu = ln 2 / T (1 - a)`` per h (T its own intermitotic time,
        ``cycle_h`` in :func:`sister_correlation`; ``a`` the arrest readout at the window end).
        Removal then is proteolysis + dilution, as measured in growing cells (Eden et al.,
        Science 2011;331:764: removal half-lives of 45 min to 22.5 h in H1299 cells). Not for
        the built-in models as they stand: their long half-lives (27 h, "dilution-limited",
        Bertaux et al. 2014) are lumped turnovers that already include dilution, and
        ``cdk46_breast`` writes dilution out for BCL-2 / BCL-xL, so switching this on counts
        dilution twice (a 27 h protein would be removed with a 12.7 h half-life in a 24 h
        cycle, below Eden et al.'s longest). With True: (1) after each window every live cell's
        concentration species
        (the model's species that are not boundary, constant or amount-only species; no
        rate-rule state such as ``committed``, and no rule readout such as a cleaved fraction)
        are multiplied by ``exp(-mu step_h)`` (Lie operator splitting: a protein's stationary
        level is then low by about ``mu step_h / 2`` relative to the exact ``s / (k + mu)``,
        1.4 % at ``step_h`` = 1 h and 2.9 % at 2 h for a 24 h cycle); (2) every rate carrying
        noise (``vary``) is raised by a flux balance at the non-growing steady state
        (``_Setup.compensation``; ``mu0 = ln 2 / cycle_h``), so that an untreated cycling cell
        keeps the documented levels (``(k + mu0) / k`` exactly for a protein made and degraded
        alone at k, an approximation for complexes); ``noise_of="protein"`` then widens each
        multiplier for the effective turnover ``k + mu0`` (k from ``_Setup.turnover_per_h``).
        Founders are pre-equilibrated at the documented levels and burnt in under the same
        dilution and compensated synthesis.
    """

    cycle_h: float = 24.0
    cycle_cv: float = 0.15
    noise_cv: float = 0.25
    noise_cv_per: Mapping[str, float] = field(default_factory=dict)
    bursts_on_off_h: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    noise_of: str = "protein"
    noise_tau_h: float = 10.0
    shared_fraction: float = 0.5
    burnin_h: float = 96.0
    step_h: float = 1.0
    molecules_per_nM: float = 1000.0
    vary: tuple[str, ...] = ("ksyn_*",)
    arrest_variable: str | None = None
    max_cells: int = 200_000
    growth_dilution: bool = False

    def __post_init__(self) -> None:
        checks = {"cycle_h": self.cycle_h > 0, "cycle_cv": self.cycle_cv >= 0,
                  "noise_cv": self.noise_cv >= 0,
                  "noise_cv_per": all(v >= 0 for v in self.noise_cv_per.values()),
                  "bursts_on_off_h": all(len(v) == 2 and min(v) > 0 and math.isfinite(sum(v))
                                         for v in self.bursts_on_off_h.values()),
                  "noise_tau_h": self.noise_tau_h > 0,
                  "shared_fraction": 0 <= self.shared_fraction <= 1,
                  "burnin_h": self.burnin_h >= 0,
                  "noise_of": self.noise_of in ("protein", "synthesis"),
                  "step_h": 0 < self.step_h <= self.cycle_h / 4,
                  "molecules_per_nM": self.molecules_per_nM > 0, "max_cells": self.max_cells > 0}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"CultureOptions: invalid {', '.join(bad)} (times > 0 h, CVs >= 0, "
                             "shared_fraction in [0, 1], step_h <= cycle_h / 4, bursts_on_off_h: "
                             "(ON h, OFF h) > 0)")

    @classmethod
    def for_context(cls, context: str | None, **changes: Any) -> CultureOptions:
        """Options for a culture of a named cell context: the defaults, then the context's
        ``culture:`` block in ``contexts.yaml`` (how that line's cells drift, e.g. HeLa's
        large c-FLIP / MCL-1 fluctuations), then ``changes`` (any field; they win).

        Raises
        ------
        ApopsimError
            The context is unknown, or its ``culture:`` block names a field that
            :class:`CultureOptions` does not have.
        """
        return cls(**{**context_culture(context), **changes})


#: CultureOptions fields a cell context's ``culture:`` block may set: how the line's cells divide
#: and drift (the experiment's windows, burn-in, readouts and limits stay the caller's).
CONTEXT_CULTURE_FIELDS = ("cycle_h", "cycle_cv", "noise_cv", "noise_cv_per", "bursts_on_off_h",
                          "noise_of", "noise_tau_h", "shared_fraction", "vary")


def context_culture(context: str | None) -> dict[str, Any]:
    """The ``culture:`` block of a named cell context (``contexts.yaml``): how that line's cells
    drift in a growing culture, as :class:`CultureOptions` fields (``{}`` without a context or a
    block). Mappings are copied, lists become tuples (also inside mappings)."""
    from apopsim.library import context_spec

    if context is None:
        return {}
    block = context_spec(context).get("culture") or {}
    unknown = sorted(set(block) - set(CONTEXT_CULTURE_FIELDS))
    if unknown:
        raise ApopsimError(f"contexts.yaml, context {context!r}, culture: unknown field(s) "
                           f"{', '.join(unknown)}; a context can set "
                           f"{', '.join(CONTEXT_CULTURE_FIELDS)}")

    def plain(v: Any) -> Any:
        return ({k: plain(x) for k, x in v.items()} if isinstance(v, Mapping)
                else tuple(v) if isinstance(v, list) else v)

    out = {k: plain(v) for k, v in block.items()}
    try:
        CultureOptions(**out)
    except (TypeError, ValueError) as e:
        raise ApopsimError(f"contexts.yaml, context {context!r}, culture: {e}") from None
    return out


@dataclass
class Culture:
    """The outcome of :func:`grow_culture`.

    Attributes
    ----------
    counts
        One row per window end from treatment start: ``time_h``, ``live``, ``dead`` (cells that
        died since treatment start, still in the well), ``divisions`` (in that window).
    cells
        One row per cell that existed after treatment start: ``cell``, ``parent`` (-1 for a
        founder), ``birth_h`` (negative: born before treatment), ``fate`` ("divided", "died",
        "alive"), ``end_h`` (division or death time, or the end), ``death_h`` (NaN unless died).
    n_failed
        Cells whose integration failed (dropped, reported, never hidden).
    duration_h
        Treatment time (h from treatment start; the washout time when ``regrowth_h > 0``).
    regrowth_h
        Drug-free growth after the washout (h; 0: no washout phase).
    work
        What the culture cost: ``cell_hours`` (live cells integrated x window length, h,
        burn-in and warm-up included), ``cell_windows`` (cell integrations),
        ``burnin_cell_windows`` (of which the founders' burn-in), ``wall_s`` (s).
    """

    counts: pd.DataFrame
    cells: pd.DataFrame
    n_failed: int = 0
    options: CultureOptions = field(default_factory=CultureOptions)
    work: dict[str, float] = field(default_factory=dict)
    duration_h: float = math.nan
    regrowth_h: float = 0.0

    def at(self, t_h: float) -> pd.Series:
        """The counts row at the last window end at or before ``t_h`` (h)."""
        rows = self.counts[self.counts["time_h"] <= t_h + 1e-9]
        return rows.iloc[-1]

    def apoptotic_fraction(self, t_h: float) -> float:
        """Dead cells / all cells in the well at ``t_h`` (dead cells since treatment start)."""
        r = self.at(t_h)
        total = r["live"] + r["dead"]
        return float(r["dead"] / total) if total else math.nan

    def after_washout(self, t_h: float) -> bool:
        """Whether ``t_h`` (h after treatment start) lies in the drug-free regrowth phase."""
        return self.regrowth_h > 0 and t_h > self.duration_h + 1e-9

    def resumed_fraction(self, t_h: float) -> float:
        """Of the cells alive at the washout (``duration_h``), the fraction that divided at
        least once by ``t_h`` (h after treatment start): the per-cell clonogenic-like readout
        (a colony needs a cell that divides again after the drug is gone). NaN before the
        washout, without a regrowth phase, or if no cell was alive at the washout."""
        if not self.after_washout(t_h):
            return math.nan
        w, c = self.duration_h, self.cells
        at_washout = c[(c["birth_h"] <= w + 1e-9) & (c["end_h"] > w + 1e-9)]
        if at_washout.empty:
            return math.nan
        divided = (at_washout["fate"] == "divided") & (at_washout["end_h"] <= t_h + 1e-9)
        return float(divided.mean())


class _Noise:
    """Per-cell noise states ``z`` (n, 1 + rates): column 0 the shared Ornstein-Uhlenbeck
    factor, then one per rate: a private OU factor (unit variance; ``sigma`` is each rate's
    log-SD, one per rate) or, for the rates with finite ``on_h`` / ``off_h`` (mean ON / OFF
    times, h; NaN elsewhere), the promoter state 1 (ON) or 0 (OFF) of a two-state gene."""

    def __init__(self, opts: CultureOptions, rng: np.random.Generator, sigma: np.ndarray,
                 on_h: np.ndarray, off_h: np.ndarray) -> None:
        self.d, self.opts, self.rng = len(sigma), opts, rng
        self.sigma = sigma
        self.burst = np.flatnonzero(np.isfinite(on_h))  # rate indices with a two-state gene
        on, off = on_h[self.burst], off_h[self.burst]
        self.p_on = on / (on + off)
        self.rate = 1.0 / on + 1.0 / off  # 1/h, relaxation rate

    def stationary(self, n: int) -> np.ndarray:
        z = self.rng.standard_normal((n, self.d + 1))
        z[:, 1 + self.burst] = self.rng.random((n, len(self.burst))) < self.p_on
        return z

    def step(self, z: np.ndarray, dt: float) -> np.ndarray:
        a = math.exp(-dt / self.opts.noise_tau_h)
        new = a * z + math.sqrt(1 - a * a) * self.rng.standard_normal(z.shape)
        if len(self.burst):  # exact two-state transition over dt
            e = np.exp(-self.rate * dt)
            state = z[:, 1 + self.burst]
            p = np.where(state > 0.5, self.p_on + (1 - self.p_on) * e, self.p_on * (1 - e))
            new[:, 1 + self.burst] = self.rng.random(state.shape) < p
        return new

    def multipliers(self, z: np.ndarray) -> np.ndarray:
        f = self.opts.shared_fraction
        x = math.sqrt(f) * z[:, :1] + math.sqrt(1 - f) * z[:, 1:]
        m = np.exp(self.sigma * x - self.sigma ** 2 / 2)
        m[:, self.burst] = z[:, 1 + self.burst] / self.p_on
        return m


class _Setup:
    """What both experiments share: compiled model, back end, the varied synthesis rates, the
    untreated and treated parameter values, the death event and the noise."""

    def __init__(self, model: Model, doses_nM: Mapping[str, float] | None,
                 opts: CultureOptions, solver: SolverOptions, rng: np.random.Generator,
                 death_variable: str, threshold: float,
                 parameters: Mapping[str, float] | None = None, direction: str = "up") -> None:
        from apopsim.library import catalogue

        self.cm = compile_model(model)
        self.integrator = integrator_for(self.cm, solver)
        self.untreated = {**dict(parameters or {}), **untreated_parameters(model)}
        self.vary = [k for k in model.parameters
                     if any(fnmatch.fnmatchcase(k, p) for p in opts.vary)
                     and k not in model.drug_inputs and model.parameters[k] > 0]
        if not self.vary:
            raise ApopsimError(f"model {model.name!r} has no parameter matching "
                               f"{', '.join(opts.vary)} to carry synthesis noise")
        self.base = np.array([self.untreated.get(k, model.parameters[k]) for k in self.vary])
        self.static_base = self.base  # rates of a non-growing cell (pre-equilibration)
        self.mu0 = math.log(2) / opts.cycle_h if opts.growth_dilution else 0.0  # 1/h
        self.arrest = opts.arrest_variable
        skip = set(model.boundary_species) | model.constant_amount | model.only_substance
        self.diluted = np.array([i for i, n in enumerate(model.state)
                                 if n in set(model.species) and n not in skip], dtype=np.intp)
        self.treated = {**self.untreated, **catalogue().resolve(model, doses_nM or {})}
        self.event = ThresholdEvent(death_variable, threshold, direction, after="stop")
        self.model, self.solver = model, solver
        own_cv = self.per_rate("noise_cv_per", opts.noise_cv_per)
        on_off = self.per_rate("bursts_on_off_h", opts.bursts_on_off_h)
        both = [k for k, c, b in zip(self.vary, own_cv, on_off) if c is not None and b is not None]
        if both:
            raise ApopsimError(f"{', '.join(both)}: in both noise_cv_per and bursts_on_off_h "
                               "(a rate either drifts log-normally or switches ON/OFF; a cell "
                               "context's culture: block may set one of them: override it "
                               "with an empty mapping)")
        cv = np.array([opts.noise_cv if c is None else c for c in own_cv])
        sigma = np.sqrt(np.log1p(cv ** 2))
        if opts.growth_dilution:
            self.base = self.base * self.compensation()
        if opts.noise_of == "protein":  # a growing cell averages over 1 / (k + mu0)
            k = self.turnover_per_h() + self.mu0
            sigma = sigma * np.sqrt(1.0 + 1.0 / (opts.noise_tau_h * k))
        on, off = np.array([(np.nan, np.nan) if b is None else b for b in on_off],
                           dtype=float).reshape(-1, 2).T
        self.noise = _Noise(opts, rng, sigma, on, off)
        self.cycle_h = opts.cycle_h  # h; the founders' burn-in dilutes at this cycle time

    def per_rate(self, name: str, per: Mapping[str, Any]) -> list[Any]:
        """Each varied rate's value in ``per`` (rate name or glob pattern -> value; the first
        matching pattern wins), None where no pattern matches; a pattern that matches no varied
        rate is an error naming the option ``name``."""
        unmatched = [p for p in per if not any(fnmatch.fnmatchcase(k, p) for k in self.vary)]
        if unmatched:
            raise ApopsimError(f"{name}: {', '.join(map(repr, unmatched))} matches no "
                               f"rate carrying synthesis noise ({', '.join(self.vary)})")
        return [next((v for p, v in per.items() if fnmatch.fnmatchcase(k, p)), None)
                for k in self.vary]

    def turnover_per_h(self, horizon_h: float = 400.0, rel_step: float = 0.1) -> np.ndarray:
        """Relaxation rate (1/h) of what each varied rate makes, from the untreated cell's step
        response: the rate is raised by ``rel_step`` and the species that moves most (relative
        to its level) is followed from the old to the new steady state; the rate is
        1 / (mean response time). A protein made at that rate and degraded at k gives k. A rate
        that moves nothing in the untreated cell (e.g. a switched-off loop) gets inf (its noise
        is then the synthesis noise itself)."""
        pre = PreequilibrationOptions()
        y0 = preequilibrate(self.cm, self.solver, np.array(self.model.initial),
                            self.cm.param_vector(self.untreated), pre)[0]
        up = [{**self.untreated, k: self.untreated.get(k, self.model.parameters[k])
               * (1 + rel_step)} for k in self.vary]
        y1 = np.array([preequilibrate(self.cm, self.solver, y0, self.cm.param_vector(v), pre)[0]
                       for v in up])
        grid = np.linspace(0.0, horizon_h, int(horizon_h) + 1)
        out = integrate_segments_many(self.cm, self.integrator, np.tile(y0, (len(up), 1)), up,
                                      [], grid)
        names = list(self.model.state)
        rates = np.empty(len(up))
        for i, tr in enumerate(out):
            if isinstance(tr, str):
                raise ApopsimError(f"culture noise: step response of {self.vary[i]} failed: {tr}")
            delta = y1[i] - y0
            rel = np.where(y0 > 1e-6, np.abs(delta) / np.maximum(y0, 1e-12), 0.0)
            j = int(np.argmax(rel))
            if rel[j] < 1e-3 * rel_step:
                rates[i] = np.inf
                continue
            frac = (tr[names[j]] - y0[j]) / delta[j] if delta[j] else np.ones_like(grid)
            mean_time = float(np.trapezoid(np.clip(1.0 - frac, 0.0, 1.0), grid))
            rates[i] = 1.0 / max(mean_time, 1e-3)
        return rates

    def compensation(self, floor_nM: float = 1e-3) -> np.ndarray:
        """Factors on the varied rates that keep an untreated cell diluting at
        ``mu0 = ln 2 / cycle_h`` (1/h) at the non-growing cell's steady state ``y*`` (nM).

        Flux balance at ``y*``: the synthesis rates are raised by ``delta`` (relative) so that
        ``F(y*) + B delta - mu0 D y* = 0`` holds as closely as possible, where ``B`` holds each
        rate's synthesis flux (nM/h) and ``D`` selects the diluted species. A protein made and
        degraded alone at k gets exactly ``(k + mu0) / k``; a protein held in complexes gets
        the dilution of its whole pool (free and bound), because the residual is weighed where
        it lands: ``delta`` minimises the relative deviation of the linearised steady state,
        ``(J - mu0 D)^-1 (mu0 D y* - B delta) / y*``, over the species above ``floor_nM``
        (least squares; ``J`` the exact Jacobian). Exact to first order in the deviation;
        complexes whose dilution no synthesis rate can replace stay approximate (measured in
        tests/test_culture.py)."""
        pre = PreequilibrationOptions()
        p0 = self.cm.param_vector(self.untreated)
        y0 = preequilibrate(self.cm, self.solver, np.array(self.model.initial), p0, pre)[0]
        f0 = self.cm.rhs(0.0, y0, p0)
        flux = np.empty((len(y0), len(self.vary)))
        for i, k in enumerate(self.vary):  # rates are linear in ksyn: doubling adds the flux
            p1 = self.cm.param_vector({**self.untreated, k: 2 * self.base[i]})
            flux[:, i] = self.cm.rhs(0.0, y0, p1) - f0
        d = np.zeros(len(y0))
        d[self.diluted] = self.mu0
        a = self.cm.jac(0.0, y0, p0) - np.diag(d)
        m = np.linalg.solve(a, flux)
        r = np.linalg.solve(a, d * y0)
        w = np.where(y0 > floor_nM, 1.0 / np.maximum(y0, floor_nM), 0.0)
        delta = np.linalg.lstsq(w[:, None] * m, w * r, rcond=None)[0]
        return np.maximum(1.0 + delta, 0.0)

    def values(self, z: np.ndarray, treated: bool, static: bool = False
               ) -> list[dict[str, float]]:
        """Parameter values of cells with noise states ``z``, untreated or treated; with
        ``static`` the rates of a non-growing cell (no growth-dilution compensation)."""
        fixed = self.treated if treated else self.untreated
        base = self.static_base if static else self.base
        return [{**fixed, **dict(zip(self.vary, base * m))}
                for m in self.noise.multipliers(z)]

    def dilute(self, y: np.ndarray, dt: float, cycle_h: float | np.ndarray,
               arrest: np.ndarray | None) -> None:
        """Growth dilution of states ``y`` (n, n_state; nM) in place over ``dt`` h: the
        concentration species times ``exp(-ln 2 / cycle_h (1 - a) dt)`` (cycle time in h,
        scalar or one per cell; ``a`` the arrest readout per cell, clipped to [0, 1], 0 or None
        without one). Nothing happens without ``growth_dilution``."""
        if not self.mu0 or not len(y):
            return
        go = np.ones(len(y)) if arrest is None else 1.0 - np.clip(arrest, 0.0, 1.0)
        f = np.exp(-math.log(2) / np.asarray(cycle_h) * go * dt)
        y[:, self.diluted] *= f[:, None]

    def advance(self, y: np.ndarray, values: list[dict[str, float]], grid: np.ndarray,
                cycle_h: float) -> tuple[np.ndarray, np.ndarray]:
        """One window (``grid``, h) of non-dividing cells ``y`` (nM, updated in place) with
        parameter ``values``, then their growth dilution at ``cycle_h`` (h), slowed by the
        arrest readout (:meth:`dilute`; nothing without ``growth_dilution``). Returns each
        cell's death time within the window (inf: none) and whether its integration failed."""
        died, failed, a = _window(self.cm, self.integrator, y, values, grid, self.event,
                                  self.arrest if self.mu0 else None)
        self.dilute(y, float(grid[-1]), cycle_h, a)
        return died, failed

    def preequilibrated(self, z: np.ndarray) -> np.ndarray:
        """Untreated steady states (nM) of cells with noise states ``z`` held fixed (of a
        non-growing cell: the documented levels, which growth dilution with compensated
        synthesis keeps up to the approximation stated in :class:`CultureOptions`)."""
        pre = PreequilibrationOptions()
        return np.array([preequilibrate(self.cm, self.solver, np.array(self.model.initial),
                                        self.cm.param_vector(v), pre)[0]
                         for v in self.values(z, treated=False, static=True)])

    def founders(self, n: int, burnin_h: float, step_h: float) -> tuple[np.ndarray, np.ndarray]:
        """``n`` untreated cells drawn from the stationary state of the drifting noise: states
        (nM) and noise states ``z``.

        Each cell is pre-equilibrated with its noise frozen, then drifts untreated for
        ``burnin_h`` h (windows of ``step_h`` h, noise updated per window, no division), so that
        its protein levels carry the noise's history rather than a frozen multiplier: a
        protein with degradation rate k averages its synthesis over about 1/k hours, and a
        frozen start would give stable proteins (half-life 27 h) a static deviation that their
        descendants keep for days. A deviation left from the frozen start decays as
        ``exp(-k burnin_h)`` (0.08 for k = 0.0257 /h and 96 h). With ``growth_dilution`` the
        burn-in dilutes at ``ln 2 / cycle_h`` (no arrest readout is applied to founders'
        burn-in unless ``arrest_variable`` is set) with compensated synthesis.
        """
        z = self.noise.stationary(n)
        y = self.preequilibrated(z)
        grid = np.array([0.0, step_h / 2, step_h])
        for _ in range(int(round(burnin_h / step_h))):
            self.advance(y, self.values(z, False), grid, self.cycle_h)
            z = self.noise.step(z, step_h)
        return y, z


def _window(cm, integrator, y: np.ndarray, values: list[dict[str, float]], grid: np.ndarray,
            event: ThresholdEvent, watch: str | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate a batch of cells over one window (``grid``, h from the window start); ``y`` is
    updated in place. Returns per cell the death time within the window (inf: none), whether
    its integration failed, and the value of ``watch`` at the window end (0 without one)."""
    out = integrate_segments_many(cm, integrator, y, values, [], grid, event=event)
    died = np.full(len(y), np.inf)
    failed = np.zeros(len(y), dtype=bool)
    last = np.zeros(len(y))
    for c, tr in enumerate(out):
        if isinstance(tr, str):
            failed[c] = True
            continue
        y[c] = tr.meta["final_state"]
        died[c] = tr.meta["crossing_h"]
        if watch is not None:
            last[c] = tr[watch][-1]
    return died, failed, last


def sister_correlation(
    model: Model,
    doses_nM: Mapping[str, float],
    delays_h: Sequence[float],
    *,
    n_pairs: int = 100,
    max_h: float = 24.0,
    options: CultureOptions | None = None,
    death_variable: str = "cleaved_PARP_fraction",
    threshold: float = 0.5,
    solver: SolverOptions | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Spencer et al. 2009's sister-cell experiment: how fast sisters' fates decorrelate.

    ``n_pairs`` mothers (drawn from the stationary drift, ``options.burnin_h``) divide at 0 h;
    the sisters then drift independently, untreated and without dividing again, and at each
    delay (h) a copy of every pair is treated with ``doses_nM`` for up to ``max_h`` hours.
    Returns one row per delay: ``delay_h``, ``n_both_died`` (pairs where both sisters died),
    ``pearson_r`` and ``spearman_rho`` of the sisters' times to death (h) over those pairs, and
    the same for random pairs of cells at that delay (``random_r``). With
    ``options.growth_dilution`` the sisters grow (dilute at ``ln 2 / cycle_h``, slowed by the
    arrest readout) before and during treatment, as in a cycling culture.
    """
    from scipy.stats import pearsonr, spearmanr

    opts = options or CultureOptions()
    rng = np.random.default_rng(seed)
    st = _Setup(model, doses_nM, opts, solver or SolverOptions(), rng, death_variable,
                threshold)
    mothers, z = st.founders(n_pairs, opts.burnin_h, opts.step_h)
    a, b = partition(mothers, opts.molecules_per_nM, rng)
    y = np.concatenate([a, b])  # sister of cell i is cell i + n_pairs
    z = np.concatenate([z, z])
    dt = opts.step_h
    grid = np.array([0.0, dt / 2, dt])
    rows = []
    t = 0.0
    for delay in sorted(delays_h):
        while t < delay - 1e-9:  # drift untreated up to this delay
            st.advance(y, st.values(z, False), grid, opts.cycle_h)
            z = st.noise.step(z, dt)
            t += dt
        yy, zz = y.copy(), z.copy()
        ttd = np.full(len(yy), np.inf)
        running = np.ones(len(yy), dtype=bool)
        for k in range(int(round(max_h / dt))):
            idx = np.nonzero(running)[0]
            if not idx.size:
                break
            sub = yy[idx]
            died, failed = st.advance(sub, st.values(zz[idx], True), grid,
                                      opts.cycle_h)  # dead cells stop anyway
            yy[idx] = sub
            ttd[idx[np.isfinite(died)]] = k * dt + died[np.isfinite(died)]
            running[idx[np.isfinite(died) | failed]] = False
            zz = st.noise.step(zz, dt)
        first, second = ttd[:n_pairs], ttd[n_pairs:]
        both = np.isfinite(first) & np.isfinite(second)
        shuffled = rng.permutation(second[both])
        ok = both.sum() >= 3
        rows.append({"delay_h": delay, "n_both_died": int(both.sum()),
                     "pearson_r": pearsonr(first[both], second[both])[0] if ok else math.nan,
                     "spearman_rho": spearmanr(first[both], second[both])[0] if ok else math.nan,
                     "random_r": pearsonr(first[both], shuffled)[0] if ok else math.nan})
    return pd.DataFrame(rows)


def partition(y: np.ndarray, molecules_per_nM: float, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Split mothers' states ``y`` (n, n_state; nM) into two daughters' states (nM).

    Each species' molecules (``y * molecules_per_nM``, rounded) go to the first daughter
    binomially with p = 1/2, the rest to the second; each daughter has half the volume, so its
    concentration is ``2 * molecules / molecules_per_nM`` and the pair's mean equals the
    mother's (up to rounding to whole molecules).
    """
    mols = np.maximum(np.rint(y * molecules_per_nM), 0).astype(np.int64)
    half = rng.binomial(mols, 0.5)
    scale = 2.0 / molecules_per_nM
    return half * scale, (mols - half) * scale


def grow_culture(
    model: Model,
    doses_nM: Mapping[str, float] | None,
    duration_h: float,
    *,
    n_founders: int = 100,
    warmup_h: float = 24.0,
    options: CultureOptions | None = None,
    death_variable: str = "cleaved_PARP_fraction",
    threshold: float = 0.5,
    solver: SolverOptions | None = None,
    seed: int = 0,
    parameters: Mapping[str, float] | None = None,
    direction: str = "up",
    progress: Callable[[float, int], None] | None = None,
    regrowth_h: float = 0.0,
) -> Culture:
    """Grow a clone of ``model`` cells untreated for ``warmup_h`` h, then treat for
    ``duration_h`` h with ``doses_nM`` (nM by drug name; None or {} = vehicle), then, if
    ``regrowth_h > 0``, wash the drugs out and grow drug-free for ``regrowth_h`` h (the
    culture's counts then run to ``duration_h + regrowth_h``; ``arrest_variable`` still slows
    the cycle, so the model decides whether arrested cells resume dividing).

    Same ``seed`` -> same culture, so a vehicle and a treated arm share their founders and
    warm-up. A cell dies when ``death_variable`` crosses ``threshold`` (rising, or falling with
    ``direction="down"``). ``progress(t_h, n_live)`` is called after every window (h from
    treatment start, negative during the warm-up; live cells at its end).
    """
    import time

    wall0 = time.perf_counter()
    opts = options or CultureOptions()
    if not (duration_h >= 0 and regrowth_h >= 0):
        raise ValueError(f"grow_culture: duration_h ({duration_h:g} h) and regrowth_h "
                         f"({regrowth_h:g} h) must be >= 0")
    # three independent streams (synthesis noise, cycle times, partition), so that wells of one
    # seed draw the same cycle times and noise for as long as their cells divide alike:
    # binomial sampling consumes a state-dependent number of draws, and would otherwise make
    # the division times of a drug that kills no cell differ from the vehicle's
    rng, cyc_rng, part_rng = (np.random.default_rng(s)
                              for s in np.random.SeedSequence(seed).spawn(3))
    st = _Setup(model, doses_nM, opts, solver or SolverOptions(), rng, death_variable,
                threshold, parameters, direction)
    cyc_sigma = math.sqrt(math.log1p(opts.cycle_cv ** 2))

    def cycle_times(n: int) -> np.ndarray:
        return opts.cycle_h * np.exp(cyc_sigma * cyc_rng.standard_normal(n)
                                     - cyc_sigma ** 2 / 2)

    # founders: pre-equilibrated with their own synthesis multipliers, random cycle ages
    # the warm-up drifts the noise too, so it counts toward the burn-in
    burnin_h = max(opts.burnin_h - warmup_h, 0.0)
    y, z = st.founders(n_founders, burnin_h, opts.step_h)
    tcyc = cycle_times(n_founders)
    phase = cyc_rng.uniform(0, 1, n_founders)
    ident = np.arange(n_founders)
    parent = np.full(n_founders, -1)
    birth = np.full(n_founders, -warmup_h)
    next_id = n_founders
    records: list[dict] = []
    counts: list[dict] = []
    n_failed = 0
    dead_since_treatment = 0
    burnin_windows = n_founders * int(round(burnin_h / opts.step_h))
    cell_windows = burnin_windows
    n_steps_warm = int(round(warmup_h / opts.step_h))
    n_steps = int(round(duration_h / opts.step_h))
    n_regrow = int(round(regrowth_h / opts.step_h))
    dt = opts.step_h
    grid = np.array([0.0, dt / 2, dt])
    for k in range(-n_steps_warm, n_steps + n_regrow):
        t0 = k * dt
        on = 0 <= k < n_steps  # treated from 0 h until the washout at duration_h
        if k == 0:
            counts.append({"time_h": 0.0, "live": len(y), "dead": 0, "divisions": 0})
        if len(y) == 0:
            if k >= 0:
                counts.append({"time_h": t0 + dt, "live": 0, "dead": dead_since_treatment,
                               "divisions": 0})
            if progress is not None:
                progress(t0 + dt, 0)
            continue
        cell_windows += len(y)
        died, failed, last = _window(st.cm, st.integrator, y, st.values(z, on), grid, st.event,
                                     opts.arrest_variable)
        n_failed += int(failed.sum())
        dead = np.isfinite(died)
        alive = ~failed & ~dead
        if k >= 0:
            dead_since_treatment += int(dead.sum())
            records += [{"cell": ident[c], "parent": parent[c], "birth_h": birth[c],
                         "fate": "died", "end_h": t0 + died[c], "death_h": t0 + died[c]}
                        for c in np.nonzero(dead)[0]]
        phase[alive] += dt * (1.0 - np.clip(last[alive], 0.0, 1.0)) / tcyc[alive]
        if st.mu0:  # volume doubles as the phase goes from 0 to 1
            grown = np.nonzero(alive)[0]
            sub = y[grown]
            st.dilute(sub, dt, tcyc[grown], last[grown])
            y[grown] = sub
        keep = alive & (phase < 1.0)
        split = np.nonzero(alive & (phase >= 1.0))[0]
        n_div, n_kids = len(split), 2 * len(split)
        if t0 + dt > 0:
            records += [{"cell": ident[c], "parent": parent[c], "birth_h": birth[c],
                         "fate": "divided", "end_h": t0 + dt, "death_h": math.nan}
                        for c in split]
        first, second = partition(y[split], opts.molecules_per_nM, part_rng)
        y = np.concatenate([y[keep], first, second])
        z = np.concatenate([z[keep], z[split], z[split]])
        tcyc = np.concatenate([tcyc[keep], cycle_times(n_kids)])
        phase = np.concatenate([phase[keep], np.zeros(n_kids)])
        parent = np.concatenate([parent[keep], ident[split], ident[split]])
        ident = np.concatenate([ident[keep], np.arange(next_id, next_id + n_kids)])
        birth = np.concatenate([birth[keep], np.full(n_kids, t0 + dt)])
        next_id += n_kids
        z = st.noise.step(z, dt)
        if len(y) + dead_since_treatment > opts.max_cells:
            raise ApopsimError(f"culture grew beyond max_cells = {opts.max_cells} cells at "
                               f"{t0 + dt:g} h; shorten the run or raise the limit")
        if k >= 0:
            counts.append({"time_h": t0 + dt, "live": len(y), "dead": dead_since_treatment,
                           "divisions": n_div})
        if progress is not None:
            progress(t0 + dt, len(y))
    end = (n_steps + n_regrow) * dt
    records += [{"cell": i, "parent": p, "birth_h": b, "fate": "alive", "end_h": end,
                 "death_h": math.nan} for i, p, b in zip(ident, parent, birth)]
    work = {"cell_windows": cell_windows, "cell_hours": cell_windows * dt,
            "burnin_cell_windows": burnin_windows,
            "wall_s": time.perf_counter() - wall0}
    return Culture(pd.DataFrame(counts), pd.DataFrame(records), n_failed, opts, work,
                   duration_h=n_steps * dt, regrowth_h=n_regrow * dt)


def gr_value(x: float, x0: float, xc: float, xc0: float | None = None) -> float:
    """Growth-rate inhibition value (Hafner et al. 2016, Nat Methods 13:521) of a well grown
    from ``x0`` to ``x`` live cells while its control grew from ``xc0`` (default ``x0``) to
    ``xc``: ``2 ** (log2(x / x0) / log2(xc / xc0)) - 1``; 1 = no effect, 0 = no net growth,
    < 0 = net loss. NaN unless ``x0 > 0`` and the control grew (``xc > xc0``)."""
    xc0 = x0 if xc0 is None else xc0
    if not (x0 > 0 and xc0 > 0 and xc > xc0):
        return math.nan
    return float(2 ** (math.log2(max(x, 1e-9) / x0) / math.log2(xc / xc0)) - 1)


def growth_metrics(treated: Culture, vehicle: Culture, t_h: float) -> dict[str, float]:
    """Screening readouts at ``t_h`` (h) of a treated culture against its vehicle.

    - ``viability``: live treated / live vehicle cells (CellTiter-Glo-like, relative to
      vehicle; after a washout the vehicle keeps growing, so a well whose cells regrow at the
      vehicle's rate keeps its viability and one whose cells stay arrested loses it);
    - ``gr``: growth-rate inhibition value of Hafner et al. 2016 (Nat Methods 13:521),
      ``2 ** (log2(x / x0) / log2(x_ctrl / x0)) - 1`` with x0 the live count at treatment
      start: 1 = no effect, 0 = cytostatic, < 0 = cytotoxic. Defined over the treatment only:
      NaN after a washout (over 0-t it would average treated and drug-free growth into one
      number that is neither);
    - ``regrowth_gr``: the same formula over the drug-free phase, from the washout
      (``duration_h``) to ``t_h``, each well against its own count at the washout and the
      vehicle against its own: 1 = the cells regrow at the vehicle's rate (arrest reversed),
      0 = no net regrowth (arrest permanent or balanced by death), < 0 = cells keep dying.
      NaN up to the washout;
    - ``resumed_fraction``: :meth:`Culture.resumed_fraction`;
    - ``apoptotic_fraction`` of the treated well.
    """
    x0 = treated.at(0.0)["live"]
    x, xc = treated.at(t_h)["live"], vehicle.at(t_h)["live"]
    after = treated.after_washout(t_h)
    gr = math.nan if after else gr_value(x, x0, xc)
    regrowth = math.nan
    if after:
        w = treated.duration_h
        regrowth = gr_value(x, treated.at(w)["live"], xc, vehicle.at(w)["live"])
    return {"viability": float(x / xc) if xc else math.nan, "gr": gr,
            "regrowth_gr": regrowth, "resumed_fraction": treated.resumed_fraction(t_h),
            "apoptotic_fraction": treated.apoptotic_fraction(t_h)}


def culture_grid(
    model: Model,
    doses_nM: Mapping[str, Sequence[float]],
    times_h: Sequence[float],
    *,
    n_founders: int = 100,
    warmup_h: float = 24.0,
    options: CultureOptions | None = None,
    seed: int = 0,
    **kwargs,
) -> pd.DataFrame:
    """Grow one culture per dose combination (full grid of ``doses_nM``, nM by drug) and read
    it at ``times_h`` (h after treatment start).

    Every well starts from the same founders and warm-up (same ``seed``); the all-zero
    condition is the vehicle for viability and GR. Returns a long table: one column per drug
    (nM), then ``time_h``, ``live``, ``dead`` and the readouts of :func:`growth_metrics`
    (treatment only: ``regrowth_gr`` and ``resumed_fraction`` are NaN; washout studies are
    culture study files, :mod:`apopsim.culture_study`). Feed it to :func:`synergy_wells` to
    score synergy on any readout. ``kwargs`` go to :func:`grow_culture` (death rule, solver,
    parameters).
    """
    import itertools

    drugs = list(doses_nM)
    duration = float(max(times_h))
    combos = list(itertools.product(*(sorted(set(doses_nM[d]) | {0.0}) for d in drugs)))
    wells = {c: grow_culture(model, dict(zip(drugs, c)), duration, n_founders=n_founders,
                             warmup_h=warmup_h, options=options, seed=seed, **kwargs)
             for c in combos}
    vehicle = wells[tuple(0.0 for _ in drugs)]
    rows = []
    for c, culture in wells.items():
        for t in times_h:
            r = culture.at(t)
            rows.append({**dict(zip(drugs, c)), "time_h": float(t), "live": int(r["live"]),
                         "dead": int(r["dead"]), **growth_metrics(culture, vehicle, t)})
    return pd.DataFrame(rows)


def synergy_wells(grid: pd.DataFrame, readout: str = "viability") -> pd.DataFrame:
    """A two-drug :func:`culture_grid` table as synergy wells (one block per time), for
    :func:`apopsim.synergy.analyze`: ``response`` is the readout as a fraction
    (``viability`` and ``gr`` are read as viability, ``apoptotic_fraction`` as inhibition:
    pass ``data_type`` accordingly), ``conc_unit`` nM."""
    drugs = [c for c in grid.columns if c not in
             ("time_h", "live", "dead", "viability", "gr", "regrowth_gr", "resumed_fraction",
              "apoptotic_fraction")]
    if len(drugs) != 2:
        raise ValueError(f"synergy needs a two-drug grid, got drugs {drugs}")
    d1, d2 = drugs
    return pd.DataFrame({"block_id": grid["time_h"].map(lambda t: f"{t:g} h"),
                         "drug1": d1, "drug2": d2, "conc1": grid[d1], "conc2": grid[d2],
                         "response": grid[readout], "conc_unit": "nM"})
