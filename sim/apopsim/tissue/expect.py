"""``expect:`` entries of in-vivo study files: the check/expect format (issue 11,
:mod:`apopsim.scenario.expect`: ``kind``, ``claim``, ``source``, ``study``, ``role``,
``tolerance``, ``why_failing``, ``op``/``value``) with in-vivo measures of an arm.

An **arm measure**::

    {arm: combination, readout: tgi_percent}                 # at the end of dosing
    {arm: combination, readout: median_volume_mm3, at_day: 35}
    {arm: combination, readout: regrowth_days}               # median over animals; inf if none
                                                             # regrew during follow-up
    {arm: lisaftoclax, readout: kill_hazard_per_day}         # mean during dosing (1/day)
    {arm: apg2449, readout: stem_fraction, at_day: 21}       # layer studies: any variable of
                                                             # the layer model, median over
                                                             # animals (default: end of dosing)

Kinds: ``readout`` (one arm measure against ``op``/``value``), ``compare`` (``left`` against
each of ``right``: ``op: '>'`` passes if ``left - right > margin`` for every right; ``scale:
ratio`` compares ``left / right`` with ``margin``), ``not_modelled``. Verdicts are
:class:`apopsim.check.Outcome` objects, the rows of ``apopsim check``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from apopsim.scenario.expect import (
    NotModelledExpectation,
    _Assertion,
    _Claim,
    _CompareLayer,
    evaluate,
)

if TYPE_CHECKING:
    from apopsim.check import Outcome

#: A :class:`apopsim.tissue.study.StudyResult` (not imported: study.py imports this module).
StudyResult = Any

#: What an arm measure can read.
ARM_READOUTS = ("tgi_percent", "median_volume_mm3", "regrowth_days", "kill_hazard_per_day")


class ArmMeasure(BaseModel):
    """A readout of one arm (see the module docstring); ``at_day`` (days from the first dose)
    for ``tgi_percent``, ``median_volume_mm3`` and layer variables, default the end of dosing.
    ``readout`` is one of :data:`ARM_READOUTS` or, in a layer study, a variable of the layer
    model (checked on load)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    arm: str = Field(min_length=1)
    readout: str = Field(default="tgi_percent", min_length=1)
    at_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class InVivoReadout(_Claim, ArmMeasure, _Assertion):
    """``kind: readout`` -- one arm measure against ``op``/``value``."""

    kind: Literal["readout"]


class InVivoCompare(_CompareLayer):
    """``kind: compare`` -- ``left`` against each measure in ``right`` (worst case reported)."""

    kind: Literal["compare"]
    left: ArmMeasure
    right: Annotated[list[ArmMeasure], Field(min_length=1)]


InVivoExpectation = Annotated[Union[InVivoReadout, InVivoCompare,  # noqa: UP007
                                    NotModelledExpectation], Field(discriminator="kind")]


def expectation_problems(study: Any, variables: set[str]) -> list[tuple[tuple, str]]:
    """``(field path, message)`` for expectations naming arms the study does not have, or layer
    variables not in ``variables`` (:func:`apopsim.tissue.study.layer_variables`; empty
    without a layer)."""
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
            if m.readout not in ARM_READOUTS and m.readout not in variables:
                extra = " or a variable of the layer model" if study.layer else ""
                out.append((("expect", i, *loc, "readout"),
                            f"unknown readout {m.readout!r} (one of {', '.join(ARM_READOUTS)}"
                            f"{extra})"))
    return out


def measure(result: StudyResult, m: ArmMeasure) -> float:
    """The value of an arm measure in a study result."""
    from apopsim.tissue.xenograft import HOURS_PER_DAY, regrowth_days, tgi_percent

    t = result.times_days
    day = result.dosing_end_day if m.at_day is None else m.at_day
    i = int(np.argmin(np.abs(t - min(day, t[-1]))))
    v = result.volumes_mm3[m.arm]
    if m.readout not in ARM_READOUTS:
        return float(np.median(result.layer_values[m.arm][m.readout][:, i]))
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


def check_study(result: StudyResult) -> list[Outcome]:
    """Evaluate the study's ``expect:`` entries on its result: one
    :class:`apopsim.check.Outcome` per entry (``status`` ``pass`` or ``fail``)."""
    from apopsim.check import Outcome

    s = result.study
    return evaluate(s.expect, s.name, str(s._source) if s._source else "",
                    functools.partial(measure, result), InVivoCompare, Outcome)
