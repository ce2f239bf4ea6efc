"""Results of a scenario run as data: per-condition fates, death times and statistics, and the
tables derived from them. No I/O and no plotting here; :func:`apopsim.write_report` writes them.

Cell accounting, per condition: ``n_cells`` cells are simulated; ``n_dead_untreated`` of them are
already dead in their own untreated steady state and ``n_failed`` could not be simulated; the rest,
``n_live_at_start = n_died + n_survived``, are the live cells at treatment start and the
denominator of every apoptotic fraction. Concentrations in nM, times in h.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from apopsim.model import Model
from apopsim.population import FATE_LABELS, STATS, Fate, wilson_interval
from apopsim.scenario import Scenario


@dataclass
class ConditionResult:
    """One condition.

    Attributes
    ----------
    name
        Label such as ``lisaftoclax 100 nM + hht 50 nM``.
    doses_nM
        Factor -> value at treatment start: each drug's concentration (nM), each input's value
        (species in nM, parameters in the model's units; see
        :meth:`ScenarioResult.factor_units`).
    death_h
        Per cell (index = cell number): time of death in h after treatment start; NaN unless the
        cell's ``fate`` is ``Fate.DIED``.
    fate
        Per cell: a :class:`~apopsim.population.Fate` value (``int8`` array; compare with
        ``Fate.DIED``, ``Fate.SURVIVED``, ``Fate.DEAD_UNTREATED``, ``Fate.FAILED``). Cells dead
        in their untreated steady state are not live cells at treatment start and failed cells
        were not simulated: both are excluded from fractions and statistics.
    stats
        Array (len(STATS), n_variables, n_times): mean, sd, 5/25/50/75/95 % quantiles over
        cells and the 95 % interval of the mean.
    errors
        Cell index -> failure message.
    """

    name: str
    doses_nM: dict[str, float]
    death_h: np.ndarray
    fate: np.ndarray
    stats: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def live(self) -> np.ndarray:
        """Death times (h) of the cells live at treatment start, in cell order: the time of
        death for cells that died, ``inf`` for cells that survived the run."""
        keep = (self.fate == Fate.DIED) | (self.fate == Fate.SURVIVED)
        return np.where(self.fate == Fate.DIED, self.death_h, np.inf)[keep]

    def _count(self, fate: Fate) -> int:
        return int(np.sum(self.fate == fate))

    @property
    def n_live_at_start(self) -> int:
        """Cells simulated successfully and alive at treatment start (``n_died + n_survived``):
        the denominator of every apoptotic fraction."""
        return self._count(Fate.DIED) + self._count(Fate.SURVIVED)

    @property
    def n_ok(self) -> int:
        """Same as :attr:`n_live_at_start`."""
        return self.n_live_at_start

    @property
    def n_died(self) -> int:
        """Cells live at treatment start that died during the run (by its end, ``duration_h``)."""
        return self._count(Fate.DIED)

    @property
    def n_survived(self) -> int:
        """Cells live at treatment start and still alive at the end of the run."""
        return self._count(Fate.SURVIVED)

    @property
    def n_dead_untreated(self) -> int:
        """Cells already dead in their untreated steady state (excluded)."""
        return self._count(Fate.DEAD_UNTREATED)

    @property
    def n_failed(self) -> int:
        """Cells whose simulation failed (excluded; messages in ``errors``)."""
        return self._count(Fate.FAILED)

    def apoptotic_fraction(self, t_h: float) -> tuple[float, float, float]:
        """Fraction of the cells live at treatment start (:attr:`n_live_at_start`) dead by
        ``t_h`` hours, with a 95 % Wilson interval."""
        ok = self.live
        if not ok.size:
            return (np.nan, np.nan, np.nan)
        k = int(np.sum(ok <= t_h + 1e-9))
        lo, hi = wilson_interval(k, ok.size)
        return k / ok.size, float(lo), float(hi)


@dataclass
class ScenarioResult:
    """Results of :func:`apopsim.run_scenario` (concentrations in nM, times in h).

    ``provenance`` is the run's record (what ran, with which code, inputs and settings), set once
    by the runner; the report layer adds its own timings and the synergy settings to the run.json
    it writes without changing this object.
    """

    scenario: Scenario
    model: Model
    times_h: np.ndarray
    variables: tuple[str, ...]
    conditions: list[ConditionResult]
    wall_time_s: float
    n_cells: int
    n_retried: int = 0
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Seconds per phase: ``setup`` (load and compile the model, sample the cells),
    #: ``start_workers``, ``preequilibration``, ``treatment``, ``run`` (all of
    #: :func:`~apopsim.run_scenario`, = ``wall_time_s``). :func:`apopsim.write_report` records
    #: its own phases (``tables``, ``dose_response``, ``synergy``, ``plots``, ``write``) in
    #: run.json's ``timings_s``, not here.
    timings: dict[str, float] = field(default_factory=dict)

    def factor_units(self) -> dict[str, str | None]:
        """Every factor (drugs, then inputs) -> its unit: ``"nM"`` for drugs and species, the
        declared unit of a parameter input, or None (the model's units, not stated)."""
        from apopsim.inputs import factor_units

        return factor_units(self.scenario, self.model)

    def factor_column(self, name: str) -> str:
        """The summary column of a factor: ``<name>_nM`` for concentrations, else ``<name>``."""
        return f"{name}_nM" if self.factor_units().get(name, "nM") == "nM" else name

    @property
    def failures(self) -> list[tuple[str, int, str]]:
        """``(condition, cell, message)`` for every cell that failed."""
        return [(c.name, cell, msg) for c in self.conditions for cell, msg in c.errors.items()]

    def trace(self, condition: int | str, variable: str, stat: str = "mean") -> np.ndarray:
        """Time course of ``variable`` (statistic over cells) for a condition (index or name)."""
        c = self._condition(condition)
        return c.stats[STATS.index(stat), self.variables.index(variable)]

    def _condition(self, condition: int | str) -> ConditionResult:
        if isinstance(condition, int):
            return self.conditions[condition]
        for c in self.conditions:
            if c.name == condition:
                return c
        raise KeyError(f"no condition {condition!r}")

    # ------------------------------------------------------------------ tables
    def to_dataframe(self) -> pd.DataFrame:
        """Summary: one row per condition.

        Columns: ``condition``, ``<drug>_nM`` (and per input ``<species>_nM`` or
        ``<parameter>``, in the model's units), ``apoptotic_fraction_<t>h`` (with ``_ci_low`` /
        ``_ci_high`` for populations) per readout time, ``apoptotic_fraction`` (last readout),
        ``median_time_to_death_h`` (h; median over the cells that died during the run only, NaN
        if none did), ``time_to_death_h`` (the same value, older name), ``<variable>_end`` (mean
        at the end over the cells live at start, nM), and the cell counts: ``n_cells``
        (simulated), ``n_dead_untreated`` (dead in their untreated steady state, excluded),
        ``n_failed`` (simulation failed, excluded), ``n_live_at_start`` (``n_cells -
        n_dead_untreated - n_failed``: the denominator of every apoptotic fraction),
        ``n_died`` (died during the run) and ``n_survived`` (``n_live_at_start - n_died``).
        """
        s = self.scenario
        pop = self.n_cells > 1
        rows = []
        for c in self.conditions:
            row: dict[str, Any] = {"condition": c.name}
            row.update({self.factor_column(d): c.doses_nM.get(d, 0.0) for d in s.factors()})
            for t in s.time.readout_times():
                f, lo, hi = c.apoptotic_fraction(t)
                row[f"apoptotic_fraction_{t:g}h"] = f
                if pop:
                    row[f"apoptotic_fraction_{t:g}h_ci_low"] = lo
                    row[f"apoptotic_fraction_{t:g}h_ci_high"] = hi
            row["apoptotic_fraction"] = c.apoptotic_fraction(s.time.readout_times()[-1])[0]
            dead = c.death_h[c.fate == Fate.DIED]
            median = float(np.median(dead)) if dead.size else np.nan
            row["median_time_to_death_h"] = median
            row["time_to_death_h"] = median
            for j, v in enumerate(self.variables):
                if v in s.readouts.species:
                    row[f"{v}_end"] = float(c.stats[0, j, -1])
            row["n_cells"] = len(c.fate)
            row["n_dead_untreated"] = c.n_dead_untreated
            row["n_failed"] = c.n_failed
            row["n_live_at_start"] = c.n_live_at_start
            row["n_died"] = c.n_died
            row["n_survived"] = c.n_survived
            rows.append(row)
        return pd.DataFrame(rows)

    def timecourse(self) -> pd.DataFrame:
        """Tidy time courses: condition, time_h, variable, value (mean over cells)
        [, sd, q05, q25, q50, q75, q95, mean_ci_low, mean_ci_high for populations]."""
        frames = []
        nt = len(self.times_h)
        for c in self.conditions:
            for j, v in enumerate(self.variables):
                d = {"condition": [c.name] * nt, "time_h": self.times_h, "variable": [v] * nt,
                     "value": c.stats[0, j]}
                if self.n_cells > 1:
                    d.update({st: c.stats[k, j] for k, st in enumerate(STATS) if k > 0})
                frames.append(pd.DataFrame(d))
        return pd.concat(frames, ignore_index=True)

    def deaths(self) -> pd.DataFrame:
        """One row per condition and cell: ``condition``, ``cell`` (0-based index, the same cell
        in every condition), ``fate`` (``died``, ``survived``, ``dead_untreated`` = dead in its
        own untreated steady state, or ``failed``; the last two are excluded from fractions) and
        ``time_to_death_h`` (h after treatment start; empty unless ``fate`` is ``died``)."""
        labels = np.array(FATE_LABELS)
        frames = [pd.DataFrame({"condition": c.name, "cell": np.arange(len(c.fate)),
                                "fate": labels[c.fate], "time_to_death_h": c.death_h})
                  for c in self.conditions]
        return pd.concat(frames, ignore_index=True)
