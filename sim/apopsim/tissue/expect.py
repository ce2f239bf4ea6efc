"""``expect:`` entries of in-vivo study files: the check/expect format (issue 11,
:mod:`apopsim.scenario.expect`: ``kind``, ``claim``, ``source``, ``study``, ``role``,
``tolerance``, ``why_failing``, ``op``/``value``) with in-vivo measures of an arm.

An **arm measure**::

    {arm: combination, readout: tgi_percent}                 # at the end of dosing
    {arm: combination, readout: median_volume_mm3, at_day: 35}
    {arm: combination, readout: regrowth_days}               # median over animals; inf if none
                                                             # regrew during follow-up
    {arm: lisaftoclax, readout: kill_hazard_per_day}         # mean during dosing (1/day)

Kinds: ``readout`` (one arm measure against ``op``/``value``), ``compare`` (``left`` against
each of ``right``: ``op: '>'`` passes if ``left - right > margin`` for every right; ``scale:
ratio`` compares ``left / right`` with ``margin``), ``not_modelled``. Verdicts are
:class:`apopsim.check.Outcome` objects, the rows of ``apopsim check``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from apopsim.scenario.expect import NotModelledExpectation, _Assertion, _Claim, compare_worst

if TYPE_CHECKING:
    from apopsim.check import Outcome

#: A :class:`apopsim.tissue.study.StudyResult` (not imported: study.py imports this module).
StudyResult = Any

#: What an arm measure can read.
ARM_READOUTS = ("tgi_percent", "median_volume_mm3", "regrowth_days", "kill_hazard_per_day")


class ArmMeasure(BaseModel):
    """A readout of one arm (see the module docstring); ``at_day`` (days from the first dose)
    for ``tgi_percent`` and ``median_volume_mm3``, default the end of dosing."""

    model_config = ConfigDict(extra="forbid", strict=True)

    arm: str = Field(min_length=1)
    readout: Literal["tgi_percent", "median_volume_mm3", "regrowth_days",
                     "kill_hazard_per_day"] = "tgi_percent"
    at_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class InVivoReadout(_Claim, ArmMeasure, _Assertion):
    """``kind: readout`` -- one arm measure against ``op``/``value``."""

    kind: Literal["readout"]


class InVivoCompare(_Claim):
    """``kind: compare`` -- ``left`` against each measure in ``right`` (worst case reported)."""

    kind: Literal["compare"]
    left: ArmMeasure
    right: Annotated[list[ArmMeasure], Field(min_length=1)]
    op: Literal[">", "<"] = ">"
    margin: float = Field(0.0, allow_inf_nan=False)
    scale: Literal["difference", "ratio"] = "difference"

    def expected_text(self) -> str:
        """E.g. ``left - right > 10``."""
        what = "left - right" if self.scale == "difference" else "left / right"
        target = -self.margin if (self.scale == "difference" and self.op == "<") else self.margin
        return f"{what} {self.op} {target:.4g}" + (
            f" (tol {self.tolerance:.3g})" if self.tolerance else "")


InVivoExpectation = Annotated[Union[InVivoReadout, InVivoCompare,  # noqa: UP007
                                    NotModelledExpectation], Field(discriminator="kind")]


def expectation_problems(study: Any) -> list[tuple[tuple, str]]:
    """``(field path, message)`` for expectations naming arms the study does not have."""
    arms = {a.name for a in study.arms}
    out = []
    for i, e in enumerate(study.expect):
        measures: list[tuple[tuple, ArmMeasure]] = []
        if isinstance(e, InVivoReadout):
            measures = [((), e)]
        elif isinstance(e, InVivoCompare):
            measures = [(("left",), e.left)] + [(("right", j), m) for j, m in enumerate(e.right)]
        for loc, m in measures:
            if m.arm not in arms:
                out.append((("expect", i, *loc, "arm"),
                            f"no arm {m.arm!r} (arms: {', '.join(sorted(arms))})"))
    return out


def measure(result: StudyResult, m: ArmMeasure) -> float:
    """The value of an arm measure in a study result."""
    from apopsim.tissue.xenograft import HOURS_PER_DAY, regrowth_days, tgi_percent

    t = result.times_days
    day = result.dosing_end_day if m.at_day is None else m.at_day
    i = int(np.argmin(np.abs(t - min(day, t[-1]))))
    v = result.volumes_mm3[m.arm]
    if m.readout == "median_volume_mm3":
        return float(np.median(v[:, i]))
    if m.readout == "tgi_percent":
        veh = result.volumes_mm3[result.study.vehicle]
        return tgi_percent(float(np.median(v[:, 0])), float(np.median(v[:, i])),
                           float(np.median(veh[:, 0])), float(np.median(veh[:, i])))
    if m.readout == "regrowth_days":
        r = np.array([regrowth_days(t, vi, result.dosing_end_day) for vi in v])
        return float(np.median(np.where(np.isnan(r), np.inf, r)))
    during = result.pk_times_h <= result.dosing_end_day * HOURS_PER_DAY
    return float(np.mean(result.hazard_per_h[m.arm][during]) * HOURS_PER_DAY)


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else "inf" if math.isinf(x) else f"{x:.3g}"


def check_study(result: StudyResult) -> list[Outcome]:
    """Evaluate the study's ``expect:`` entries on its result: one
    :class:`apopsim.check.Outcome` per entry (``status`` ``pass`` or ``fail``)."""
    from apopsim.check import Outcome

    s = result.study
    out = []
    for i, e in enumerate(s.expect):
        if isinstance(e, NotModelledExpectation):
            value, text, expected, ok = math.nan, "not modelled", f"needs {e.needs}", False
        elif isinstance(e, InVivoCompare):
            lv = measure(result, e.left)
            rv = [measure(result, m) for m in e.right]
            worst, ok = compare_worst(lv, rv, e.op, e.scale, e.margin, e.tolerance)
            value, expected = worst, e.expected_text()
            text = f"{_fmt(lv)} vs {', '.join(_fmt(x) for x in rv)}: {_fmt(worst)}"
        else:
            value = measure(result, e)
            text, expected = _fmt(value), e.expected_text(e.tolerance)
            ok = e.holds(value, e.tolerance)
        out.append(Outcome(
            study=e.study_label(s.name), scenario=s.name,
            file=str(s._source) if s._source else "", index=i, kind=e.kind, role=e.role,
            claim=e.claim, source=e.source, measured=value, measured_text=text,
            expected=expected, status="pass" if ok else "fail",
            why_failing=e.why_failing or ""))
    return out
