"""Dosing regimens: what a study protocol says (dose, route, frequency, days on/off, ramp-up,
start day), turned into dose events in hours (:class:`~apopsim.tissue.pk.DoseEvent`).

Units are in the field names: ``dose_mg_per_kg`` or ``dose_mg``; ``start_day``,
``duration_days``, ``days_on``/``days_off`` in days from the start of treatment (day 0);
``infusion_h`` and ``dose_time_h`` (time of the first dose of a dosing day) in hours.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from apopsim.tissue.pk import DoseEvent

#: Hours after the start of a dosing day at which each dose is given.
FREQUENCIES: dict[str, tuple[float, ...]] = {
    "once": (0.0,),
    "QD": (0.0,),
    "BID": (0.0, 12.0),
    "TID": (0.0, 8.0, 16.0),
    "QOD": (0.0,),
    "weekly": (0.0,),
    "biweekly": (0.0,),
}
#: Days between dosing days.
_EVERY_DAYS = {"once": 0, "QD": 1, "BID": 1, "TID": 1, "QOD": 2, "weekly": 7, "biweekly": 14}


class Regimen(BaseModel):
    """One drug's dosing regimen.

    ``frequency``: ``once``, ``QD`` (daily), ``BID`` (every 12 h), ``TID`` (every 8 h), ``QOD``
    (every other day), ``weekly``, ``biweekly`` (every 14 days). Dosing days run from
    ``start_day`` for ``duration_days``; with ``days_on``/``days_off`` only the on-days of each
    cycle (counted from ``start_day``) are dosing days. ``ramp_up_mg`` / ``ramp_up_mg_per_kg``
    give the dose of each of the first dosing days (one value per day, e.g. the clinical daily
    ramp-up of lisaftoclax); afterwards the full dose is given.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    drug: str = Field(min_length=1)
    dose_mg_per_kg: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    dose_mg: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    route: Literal["oral", "sc", "ip", "iv_bolus", "infusion"]
    frequency: Literal["once", "QD", "BID", "TID", "QOD", "weekly", "biweekly"] = "QD"
    start_day: int = Field(default=0, ge=0, le=3650)
    duration_days: int = Field(default=1, ge=1, le=3650)
    days_on: int | None = Field(default=None, ge=1, le=365)
    days_off: int | None = Field(default=None, ge=0, le=365)
    ramp_up_mg: list[float] | None = None
    ramp_up_mg_per_kg: list[float] | None = None
    infusion_h: float | None = Field(default=None, gt=0, le=24 * 30, allow_inf_nan=False)
    dose_time_h: float = Field(default=0.0, ge=0, lt=24, allow_inf_nan=False)

    @model_validator(mode="after")
    def _consistent(self) -> Regimen:
        if (self.dose_mg is None) == (self.dose_mg_per_kg is None):
            raise ValueError("give exactly one of dose_mg and dose_mg_per_kg")
        if self.ramp_up_mg is not None and self.ramp_up_mg_per_kg is not None:
            raise ValueError("give at most one of ramp_up_mg and ramp_up_mg_per_kg")
        if self.ramp_up_mg is not None and self.dose_mg is None:
            raise ValueError("ramp_up_mg needs dose_mg (same unit)")
        if self.ramp_up_mg_per_kg is not None and self.dose_mg_per_kg is None:
            raise ValueError("ramp_up_mg_per_kg needs dose_mg_per_kg (same unit)")
        for v in self.ramp_up_mg or self.ramp_up_mg_per_kg or ():
            if not (v >= 0 and v == v and v != float("inf")):
                raise ValueError("ramp-up doses must be finite and >= 0")
        if (self.days_on is None) != (self.days_off is None):
            raise ValueError("give days_on and days_off together")
        if (self.route == "infusion") != (self.infusion_h is not None):
            raise ValueError("infusion_h is required for route infusion and only for it")
        return self

    def dosing_days(self) -> list[int]:
        """Days (from day 0) on which doses are given."""
        if self.frequency == "once":
            return [self.start_day]
        step = _EVERY_DAYS[self.frequency]
        days = []
        for k in range(0, self.duration_days, step):
            if self.days_on is not None and k % (self.days_on + self.days_off) >= self.days_on:
                continue
            days.append(self.start_day + k)
        return days

    def dosing_interval_h(self) -> float | None:
        """The dosing interval (h): the shortest time between two consecutive doses (12 for
        BID, 24 for QD, 48 for QOD, 72 for QD 1 day on / 2 off, 168 for weekly); None for a
        single dose."""
        times = sorted(e.time_h for e in self.dose_events(1.0))
        gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
        return min(gaps) if gaps else None

    def last_dose_day(self) -> int:
        """The last dosing day."""
        return self.dosing_days()[-1]

    def dose_events(self, body_weight_kg: float) -> list[DoseEvent]:
        """Dose events in h and mg for an animal or patient of ``body_weight_kg``."""
        if not body_weight_kg > 0:
            raise ValueError("body_weight_kg must be > 0")
        scale = body_weight_kg if self.dose_mg_per_kg is not None else 1.0
        full = self.dose_mg_per_kg if self.dose_mg_per_kg is not None else self.dose_mg
        ramp = self.ramp_up_mg_per_kg or self.ramp_up_mg or []
        events = []
        for i, day in enumerate(self.dosing_days()):
            per_dose = (ramp[i] if i < len(ramp) else full) * scale
            for h in FREQUENCIES[self.frequency]:
                events.append(DoseEvent(day * 24.0 + self.dose_time_h + h, per_dose, self.route,
                                        self.infusion_h or 0.0))
        return events
