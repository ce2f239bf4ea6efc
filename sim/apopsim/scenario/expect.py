"""Expectations: a scenario's claims as data, checked by ``apopsim check``.

A scenario may carry an ``expect:`` list of readable assertions over its own outputs (and, for
comparisons and panels, over other scenario files), each with the claim's text, its source and a
tolerance. Six kinds, chosen by ``kind:``:

* ``readout`` -- a readout (apoptotic fraction, median time to death or a recorded species, nM)
  of one condition at one time (h), optionally relative to another condition or time;
* ``synergy`` -- a synergy score (Bliss, HSA, Loewe, ZIP; percentage points, positive =
  synergy) at one well of a two-drug grid or summarised (mean, max) over the grid;
* ``compare`` -- one measure against one or several others (the combination against each
  single agent, the ITD scenario's synergy against the WT scenario's) by a margin;
* ``correlation`` -- Spearman (or Pearson) correlation of two measures across a panel of
  scenario files;
* ``not_modelled`` -- a claim the model library cannot express yet (always reported failing);
* ``checked_elsewhere`` -- a pointer: the claim is checked by the expectations of other claim
  files (an in-vivo study, a culture), named in ``checked_in``; ``apopsim check`` shows their
  verdicts on this row and counts them there, not twice.

Every kind has ``claim`` (text), ``source`` (poster or paper), optional ``study`` (e.g. ``981``;
default: the poster number in ``source``), ``role`` (``claim``, ``control`` or ``mechanism``),
``tolerance`` and optional ``why_failing``. The format with examples: ``docs/expect.md``.

This module holds the schema (pydantic) and :func:`expectation_problems`, which checks the
names, doses and times an expectation uses against its scenario. The runner lives in
:mod:`apopsim.check`.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

SPECIAL_READOUTS = ("apoptotic_fraction", "median_time_to_death_h")
"""Readouts computed from cell fates rather than recorded species: the fraction (0-1) of cells
live at treatment start that are dead by ``at_h``, and the median time to death (h) of the cells
that died by ``at_h``."""

SYNERGY_METHODS = ("bliss", "hsa", "loewe", "zip")
"""Synergy scores an expectation may use (percentage points of killing above the reference)."""

STAT_NAMES = ("mean", "sd", "q05", "q25", "q50", "q75", "q95")
"""Statistics over cells of a species readout (``mean`` by default)."""

Op = Literal[">", ">=", "<", "<=", "between", "approx"]
Doses = dict[str, Annotated[float, Field(ge=0, le=1e9)]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---------------------------------------------------------------------------------- measures
class Baseline(_Strict):
    """The denominator of a relative readout: the same readout in ``condition`` at ``at_h``."""

    condition: Doses = Field(default_factory=dict, description="Drug -> nM ({} = untreated).")
    at_h: NonNegativeFloat | None = Field(
        None, description="Time (h); default: the measure's own at_h.")


class ReadoutMeasure(_Strict):
    """A readout of one condition at one time.

    ``readout`` is ``apoptotic_fraction`` (fraction 0-1 of the cells live at treatment start
    dead by ``at_h``), ``median_time_to_death_h`` (h), or a species/rule variable listed in the
    scenario's ``readouts.species`` (its ``stat`` over cells at ``at_h``, model units, nM).
    With ``relative_to`` the value is divided by the same readout in another condition or time
    (a fold change: 0.7 = a 30 % fall).
    """

    scenario: str | None = Field(
        None, description="Another scenario file (path relative to this file); default: this "
        "scenario.")
    readout: str = Field("apoptotic_fraction", min_length=1)
    condition: Doses = Field(default_factory=dict, description="Drug -> nM; unlisted drugs at "
                             "0 nM; {} = untreated control.")
    at_h: NonNegativeFloat = Field(description="Time after treatment start (h).")
    stat: Literal["mean", "sd", "q05", "q25", "q50", "q75", "q95"] = "mean"
    relative_to: Baseline | None = None

    def describe(self) -> str:
        """Short text, e.g. ``MCL1_total [hht 50] @24h / [control] @0h``."""
        text = f"{self.readout} [{_cond_text(self.condition)}] @{self.at_h:g}h"
        if self.stat != "mean":
            text = f"{self.stat} {text}"
        if self.relative_to is not None:
            b = self.relative_to
            at = self.at_h if b.at_h is None else b.at_h
            text += f" / [{_cond_text(b.condition)}] @{at:g}h"
        return _with_scenario(text, self.scenario)


class SynergyMeasure(_Strict):
    """A synergy score of the scenario's two-drug grid at ``at_h`` (percentage points of
    killing above the method's reference; positive = synergy): at one well (``dose``) or the
    ``summary`` (``mean`` or ``max``) over the grid's combination wells."""

    scenario: str | None = Field(None, description="Another scenario file (relative path).")
    method: Literal["bliss", "hsa", "loewe", "zip"]
    at_h: NonNegativeFloat = Field(description="Readout time (h).")
    dose: Doses | None = Field(
        None, description="The well (both drugs, nM); omit for a summary over the grid.")
    summary: Literal["mean", "max"] = Field(
        "mean", description="Over the combination wells, when no dose is given.")

    @model_validator(mode="after")
    def _dose_pair(self) -> SynergyMeasure:
        if self.dose is not None and len(self.dose) != 2:
            raise ValueError("'dose' names the well by both drugs of the grid, e.g. "
                             "{lisaftoclax: 100, hht: 50}")
        return self

    def describe(self) -> str:
        """Short text, e.g. ``bliss [lisaftoclax 100 + hht 50] @72h``."""
        where = f"[{_cond_text(self.dose)}]" if self.dose else f"{self.summary} over grid"
        return _with_scenario(f"{self.method} {where} @{self.at_h:g}h", self.scenario)


class IC50Measure(_Strict):
    """The dose (nM) of drug ``ic50`` at which the apoptotic fraction at ``at_h`` first reaches
    ``level``, log-linearly interpolated along the drug's dose series (other drugs as in
    ``condition``, default 0 nM); ``inf`` if never reached, the lowest non-zero dose if
    already reached there."""

    scenario: str | None = Field(None, description="Another scenario file (relative path).")
    ic50: str = Field(min_length=1, description="The drug whose dose series is read.")
    at_h: NonNegativeFloat = Field(description="Readout time (h).")
    condition: Doses = Field(default_factory=dict, description="Other drugs' doses (nM).")
    level: float = Field(0.5, gt=0, lt=1, description="Apoptotic fraction (0-1).")

    def describe(self) -> str:
        """Short text, e.g. ``IC50 pelcitoclax @72h``."""
        extra = f" [{_cond_text(self.condition)}]" if self.condition else ""
        name = "IC50" if self.level == 0.5 else f"IC{self.level * 100:g}"
        return _with_scenario(f"{name} {self.ic50}{extra} @{self.at_h:g}h (nM)", self.scenario)


def _pick_measure(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A measure's form follows from its keys: ``method`` -> synergy, ``ic50`` -> IC50,
    otherwise a readout (errors then name the fields of the form meant, not of all three)."""
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected a mapping: a readout {readout, condition, at_h}, a synergy "
                         "score {method, at_h, dose} or an IC50 {ic50, at_h}")
    if "method" in value:
        return SynergyMeasure.model_validate(value)
    if "ic50" in value:
        return IC50Measure.model_validate(value)
    return ReadoutMeasure.model_validate(value)


Measure = Annotated[Union[ReadoutMeasure, SynergyMeasure, IC50Measure],  # noqa: UP007
                    WrapValidator(_pick_measure)]


# ------------------------------------------------------------------------------ expectations
class _Claim(_Strict):
    claim: str = Field(min_length=1, description="The claim in words.")
    source: str = Field(min_length=1, description="Where it is claimed (poster, paper).")
    study: str | None = Field(
        None, description="Study label in the check table (default: 'poster N' in source, "
        "else the scenario name).")
    role: Literal["claim", "control", "mechanism"] = Field(
        "claim", description="'claim': the published effect; 'control': the control that "
        "must remove it; 'mechanism': the route the claim names.")
    tolerance: NonNegativeFloat = Field(
        0.0, description="Slack in the measured quantity's units, granted in the passing "
        "direction.")
    why_failing: str | None = Field(
        None, description="Why the model does not reproduce the claim (kept while it fails).")

    @field_validator("study", mode="before")
    @classmethod
    def _study_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    def study_label(self, scenario_name: str) -> str:
        """``study`` if set, else the poster number found in ``source``, else the scenario."""
        if self.study:
            return self.study
        m = re.search(r"poster\s+(\d+)", self.source, re.IGNORECASE)
        return m.group(1) if m else scenario_name


class _CompareLayer(_Claim):
    """The ``compare`` fields shared by the in-vivo and culture kinds (their ``left``/``right``
    measures differ): ``op '>'`` passes if ``left - right > margin`` for every right
    (``scale: ratio``: ``left / right > margin``); the worst case is reported."""

    op: Literal[">", "<"] = ">"
    margin: float = Field(0.0, allow_inf_nan=False)
    scale: Literal["difference", "ratio"] = "difference"

    def expected_text(self) -> str:
        """E.g. ``left - right > 10``."""
        what = "left - right" if self.scale == "difference" else "left / right"
        target = -self.margin if (self.scale == "difference" and self.op == "<") else self.margin
        return f"{what} {self.op} {target:.4g}" + (
            f" (tol {self.tolerance:.3g})" if self.tolerance else "")


class _Assertion(BaseModel):
    op: Op = Field(description="'>', '>=', '<', '<=', 'between' (value [lo, hi]) or 'approx' "
                   "(|measured - value| <= tolerance).")
    value: float | list[float] = Field(description="Threshold, or [lo, hi] for 'between'.")

    @model_validator(mode="after")
    def _value_form(self) -> Any:
        v = self.value
        if self.op == "between":
            if not (isinstance(v, list) and len(v) == 2 and v[0] <= v[1]):
                raise ValueError("op 'between' needs value: [low, high] with low <= high")
        elif isinstance(v, list):
            raise ValueError(f"op {self.op!r} needs a single number as value")
        return self

    def holds(self, measured: float, tolerance: float) -> bool:
        """Whether ``measured`` satisfies ``op value`` with ``tolerance`` of slack."""
        return compare_value(measured, self.op, self.value, tolerance)

    def expected_text(self, tolerance: float) -> str:
        """E.g. ``> 0.05 (tol 0.01)``."""
        v = self.value
        text = (f"in [{v[0]:.4g}, {v[1]:.4g}]" if isinstance(v, list)
                else f"≈ {v:.4g}" if self.op == "approx" else f"{self.op} {v:.4g}")
        return text + (f" (tol {tolerance:.3g})" if tolerance else "")


def compare_worst(left: float, rights: list[float], op: str, scale: str, margin: float,
                  tol: float) -> tuple[float, bool]:
    """A ``compare`` verdict: ``left`` against each of ``rights`` as a difference or a ratio
    (``scale``); returns the worst case (the smallest for ``op '>'``, the largest for ``'<'``;
    NaN if any is undefined) and whether it passes ``margin`` with ``tol`` of slack."""
    up = op == ">"
    with np.errstate(all="ignore"):
        diffs = [(left - x) if scale == "difference" else (left / x if x else math.nan)
                 for x in rights]
    if not diffs or any(math.isnan(d) for d in diffs):
        return math.nan, False
    worst = min(diffs) if up else max(diffs)
    target = -margin if (scale == "difference" and not up) else margin
    return worst, (worst > target - tol if up else worst < target + tol)


def fmt_value(x: float) -> str:
    """A measured value for the check table: 3 significant digits, ``nan``/``inf`` spelled."""
    return "nan" if math.isnan(x) else "inf" if math.isinf(x) else f"{x:.3g}"


def evaluate(expect: list, name: str, source: str, measure: Any, compare_type: type,
             outcome: type, detail: str = "") -> list:
    """One ``outcome`` (:class:`apopsim.check.Outcome`, passed in: this module is imported by
    the scenario schema, below the check) per entry of ``expect`` (a study's or culture's
    ``expect:`` list): ``not_modelled`` always fails; a ``compare_type`` entry compares
    ``measure(left)`` with each ``measure(right)`` (:func:`compare_worst`); any other entry is
    ``measure(entry)`` against its own assertion (``holds``). ``name`` and ``source`` (file)
    label the rows; ``detail`` goes into every row."""
    out = []
    for i, e in enumerate(expect):
        if isinstance(e, NotModelledExpectation):
            value, text, expected, ok = math.nan, "not modelled", f"needs {e.needs}", False
        elif isinstance(e, compare_type):
            lv = measure(e.left)
            rv = [measure(m) for m in e.right]
            worst, ok = compare_worst(lv, rv, e.op, e.scale, e.margin, e.tolerance)
            value, expected = worst, e.expected_text()
            text = f"{fmt_value(lv)} vs {', '.join(fmt_value(x) for x in rv)}: {fmt_value(worst)}"
        else:
            value = measure(e)
            text, expected = fmt_value(value), e.expected_text(e.tolerance)
            ok = e.holds(value, e.tolerance)
        out.append(outcome(
            study=e.study_label(name), scenario=name, file=source, index=i, kind=e.kind,
            role=e.role, claim=e.claim, source=e.source, measured=value, measured_text=text,
            expected=expected, status="pass" if ok else "fail",
            why_failing="" if ok else (e.why_failing or ""), detail=detail))
    return out


def compare_value(measured: float, op: str, value: float | list[float], tol: float) -> bool:
    """``measured op value`` with ``tol`` of slack in the passing direction (False for NaN)."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return False
    if op == "between":
        lo, hi = value  # type: ignore[misc]
        return lo - tol <= measured <= hi + tol
    v = float(value)  # type: ignore[arg-type]
    return {">": measured > v - tol, ">=": measured >= v - tol, "<": measured < v + tol,
            "<=": measured <= v + tol, "approx": abs(measured - v) <= tol}[op]


class ReadoutExpectation(_Claim, ReadoutMeasure, _Assertion):
    """``kind: readout`` -- a readout of one condition at one time, against a value."""

    kind: Literal["readout"]

    def measures(self) -> list[tuple[tuple, Any]]:
        """``(field path, measure)`` of every measure this expectation reads."""
        return [((), self)]


class SynergyExpectation(_Claim, SynergyMeasure, _Assertion):
    """``kind: synergy`` -- a synergy score (pp) at a well or over the grid, against a value."""

    kind: Literal["synergy"]

    def measures(self) -> list[tuple[tuple, Any]]:
        """``(field path, measure)`` of every measure this expectation reads."""
        return [((), self)]


class CompareExpectation(_Claim):
    """``kind: compare`` -- ``left`` against each measure in ``right``.

    ``op: '>'``: ``left - right > margin`` for every right (``scale: ratio``: ``left / right >
    margin``); ``'<'``: ``left - right < -margin`` (ratio: ``left / right < margin``). The
    measured value reported is the worst case over ``right``. With ``wilson: true`` (apoptotic
    fractions of population runs) the bounds of the 95 % Wilson intervals are compared instead
    of the fractions: the lower bound of ``left`` against the upper bound of ``right`` for
    ``'>'``.
    """

    kind: Literal["compare"]
    left: Measure
    right: Annotated[list[Measure], Field(min_length=1)]
    op: Literal[">", "<"] = ">"
    margin: float = Field(0.0, description="In the measures' units (difference) or a factor "
                          "(ratio).")
    scale: Literal["difference", "ratio"] = "difference"
    wilson: bool = Field(False, description="Compare 95 % Wilson bounds (apoptotic fractions).")

    @field_validator("right", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _wilson_fractions(self) -> CompareExpectation:
        if self.wilson:
            for m in (self.left, *self.right):
                if not (isinstance(m, ReadoutMeasure) and m.readout == "apoptotic_fraction"
                        and m.relative_to is None):
                    raise ValueError("wilson: true compares apoptotic fractions only (readout "
                                     "apoptotic_fraction, no relative_to)")
        return self

    def measures(self) -> list[tuple[tuple, Any]]:
        """``(field path, measure)`` of every measure this expectation reads."""
        return [(("left",), self.left)] + [(("right", i), m) for i, m in enumerate(self.right)]

    def expected_text(self) -> str:
        """E.g. ``> each by 0.1 (Wilson bounds)``."""
        if self.scale == "ratio":
            what = f"ratio {self.op} {self.margin:.3g} (each)"
        elif self.margin:
            what = f"{self.op} each by {self.margin:.3g}"
        else:
            what = f"{self.op} each"
        return (what + (" (Wilson bounds)" if self.wilson else "")
                + (f" (tol {self.tolerance:.3g})" if self.tolerance else ""))


class CorrelationExpectation(_Claim, _Assertion):
    """``kind: correlation`` -- rank (Spearman) or linear (Pearson) correlation of ``x`` with
    ``y`` across the ``panel`` of scenario files (paths or globs relative to this file; at least
    3 members); ``x`` and ``y`` are measures evaluated in each member (no ``scenario`` key)."""

    kind: Literal["correlation"]
    panel: Annotated[list[str], Field(min_length=1)]
    x: Measure
    y: Measure
    method: Literal["spearman", "pearson"] = "spearman"

    @model_validator(mode="after")
    def _no_scenario(self) -> CorrelationExpectation:
        for name in ("x", "y"):
            if getattr(self, name).scenario is not None:
                raise ValueError(f"{name} is evaluated in every panel member: it takes no "
                                 "'scenario'")
        return self

    def measures(self) -> list[tuple[tuple, Any]]:
        """``(field path, measure)``: x and y (read in every panel member)."""
        return [(("x",), self.x), (("y",), self.y)]


class NotModelledExpectation(_Claim):
    """``kind: not_modelled`` -- a claim the library cannot express yet; ``needs`` says what is
    missing. Always reported failing (never removed), so the gap stays visible."""

    kind: Literal["not_modelled"]
    needs: str = Field(min_length=1, description="What the model would need.")

    def measures(self) -> list[tuple[tuple, Any]]:
        """No measures."""
        return []


class CheckedElsewhereExpectation(_Claim):
    """``kind: checked_elsewhere`` -- a claim that lives above this file's level (a tumour, a
    culture) and is checked by the expectations of the claim files in ``checked_in`` (paths
    relative to this file). ``apopsim check`` reports it with status ``elsewhere`` and the
    verdicts of those files' expectations; it is not counted again, and a path that does not
    exist is an error before anything runs."""

    kind: Literal["checked_elsewhere"]
    checked_in: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="Claim files (relative to this file) whose expectations "
                                  "check this claim.")

    def measures(self) -> list[tuple[tuple, Any]]:
        """No measures."""
        return []


_KINDS: dict[str, type[_Claim]] = {
    "readout": ReadoutExpectation, "synergy": SynergyExpectation, "compare": CompareExpectation,
    "correlation": CorrelationExpectation, "not_modelled": NotModelledExpectation,
    "checked_elsewhere": CheckedElsewhereExpectation,
}


def _pick_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate against the class named by ``kind`` (errors name that class's fields only)."""
    if isinstance(value, _Claim):
        return value
    if not isinstance(value, dict):
        raise ValueError("each expectation is a mapping with a 'kind'")
    kind = value.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(_KINDS)} (got {kind!r})")
    return _KINDS[kind].model_validate(value)


Expectation = Annotated[
    Union[ReadoutExpectation, SynergyExpectation, CompareExpectation,  # noqa: UP007
          CorrelationExpectation, NotModelledExpectation, CheckedElsewhereExpectation],
    WrapValidator(_pick_kind),
]
"""One claim about a scenario's outputs (a discriminated union on ``kind``)."""


# ------------------------------------------------------------------------- checks by scenario
def _cond_text(doses: dict[str, float] | None) -> str:
    parts = [f"{d} {v:g}" for d, v in (doses or {}).items() if v > 0]
    return " + ".join(parts) if parts else "control"


def _with_scenario(text: str, scenario: str | None) -> str:
    return f"{scenario}: {text}" if scenario else text


def measure_problems(m: Any, s: Any) -> list[tuple[tuple, str]]:
    """Problems of measure ``m`` read in scenario ``s`` (a :class:`~apopsim.scenario.Scenario`;
    ``(field path, message)``; no import of the schema here, which imports this module).

    Checks that the drugs and doses are in ``s``'s dose lists, the times within its run, the
    readout recorded, and that a synergy measure has a two-drug grid.
    """
    problems: list[tuple[tuple, str]] = []
    lists = s.dose_lists()
    duration = s.time.duration_h

    def doses_ok(doses: dict[str, float] | None, path: tuple) -> None:
        for drug, nM in (doses or {}).items():
            if drug not in lists:
                problems.append(((*path, drug), f"scenario {s.name!r} has no drug {drug!r} "
                                 f"(drugs: {', '.join(lists) or 'none'})"))
            elif not any(math.isclose(nM, d, rel_tol=1e-9, abs_tol=1e-12) for d in lists[drug]):
                problems.append(((*path, drug), f"{drug} {nM:g} nM is not a dose of scenario "
                                 f"{s.name!r} ({', '.join(f'{d:g}' for d in lists[drug])} nM)"))

    def time_ok(t: float | None, path: tuple) -> None:
        if t is not None and t > duration:
            problems.append((path, f"{t:g} h is after the end of scenario {s.name!r} "
                             f"(time.duration_h = {duration:g} h)"))

    time_ok(m.at_h, ("at_h",))
    if isinstance(m, ReadoutMeasure):
        doses_ok(m.condition, ("condition",))
        known = set(s.readouts.species) | {s.readouts.death.variable}
        if m.readout not in known and m.readout not in SPECIAL_READOUTS:
            problems.append((("readout",), f"{m.readout!r} is not recorded by scenario "
                             f"{s.name!r}: use {', '.join(SPECIAL_READOUTS)} or one of "
                             f"readouts.species ({', '.join(s.readouts.species) or 'none'})"))
        if m.relative_to is not None:
            doses_ok(m.relative_to.condition, ("relative_to", "condition"))
            time_ok(m.relative_to.at_h, ("relative_to", "at_h"))
    elif isinstance(m, SynergyMeasure):
        varied = [d for d, v in lists.items() if len(set(v)) > 1]
        if s.design != "grid" or len(varied) != 2:
            problems.append((("method",), f"scenario {s.name!r} is not a two-drug grid (drugs "
                             f"with several doses: {', '.join(varied) or 'none'})"))
        else:
            doses_ok(m.dose, ("dose",))
            if m.dose and set(m.dose) != set(varied):
                problems.append((("dose",), f"name the well by both grid drugs: "
                                 f"{' and '.join(varied)}"))
            n = min(len({x for x in lists[d] if x > 0}) for d in varied)
            if m.method in ("loewe", "zip") and n < 3:
                problems.append((("method",), f"{m.method} needs at least 3 non-zero doses of "
                                 f"each drug (scenario {s.name!r} has {n})"))
    else:  # IC50Measure
        if m.ic50 not in lists:
            problems.append((("ic50",), f"scenario {s.name!r} has no drug {m.ic50!r}"))
        elif len({x for x in lists[m.ic50] if x > 0}) < 2:
            problems.append((("ic50",), f"{m.ic50} needs at least 2 non-zero doses"))
        doses_ok(m.condition, ("condition",))
    return problems


def expectation_problems(scenario: Any) -> list[tuple[tuple, str]]:
    """Problems of ``scenario.expect`` (a :class:`~apopsim.scenario.Scenario`) against the
    scenario itself, as ``(field path,
    message)`` with paths from the top of the file (``('expect', 0, 'condition', 'hht')``).

    Measures that name another ``scenario:`` (and panel members) are checked when that file is
    loaded, by :mod:`apopsim.check`.
    """
    problems: list[tuple[tuple, str]] = []
    for i, e in enumerate(scenario.expect):
        if isinstance(e, CorrelationExpectation):
            continue
        for path, m in e.measures():
            if m.scenario is None:
                problems += [(("expect", i, *path, *p), msg)
                             for p, msg in measure_problems(m, scenario)]
    return problems
