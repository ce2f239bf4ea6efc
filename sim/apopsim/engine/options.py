"""Small, immutable objects that configure a simulation: solver, pre-equilibration, event.

They are passed into the engine (as diffrax passes solver, event and save-at objects) instead of
flags, and each scenario section produces its own (:mod:`apopsim.scenario`), so there is one
vocabulary from YAML to generated code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from apopsim.engine.registry import get_backend

#: ``SolverOptions(engine="auto")``: the engine is chosen per run by
#: :func:`apopsim.engine.auto.choose_engine` (populations: numba when the workload repays its
#: compile, else scipy); one cell at a time it is scipy.
AUTO_ENGINE = "auto"


@dataclass(frozen=True)
class SolverOptions:
    """Solver settings.

    Attributes
    ----------
    engine
        Name of a registered back end (:func:`apopsim.engine.backend_names`: ``"scipy"``,
        ``"roadrunner"``, ``"numba"``, ...), or ``"auto"`` (:data:`AUTO_ENGINE`): chosen per
        run by :func:`apopsim.engine.auto.choose_engine` (then ``method`` must be None).
    method
        The back end's integration method; ``None`` means the back end's default (scipy:
        ``"LSODA"``; ``"BDF"`` and ``"Radau"`` also accepted).
    rtol, atol
        Relative tolerance and absolute tolerance (absolute in nM). libRoadRunner scales its
        absolute tolerance by each species' magnitude, so equal nominal values do not mean equal
        accuracy across engines.
    max_steps
        Maximum internal steps per output interval (LSODA ``mxstep``, CVODE
        ``maximum_num_steps``).
    """

    engine: str = "scipy"
    method: str | None = None
    rtol: float = 1e-6
    atol: float = 1e-9
    max_steps: int = 100_000

    def __post_init__(self) -> None:
        if self.engine == AUTO_ENGINE:
            if self.method is not None:
                raise ValueError(f"engine 'auto' chooses the engine and its default method, so "
                                 f"it takes no method (got {self.method!r}); name an engine "
                                 "to choose a method")
        else:
            backend = get_backend(self.engine)  # raises for an unknown name
            method = self.method or backend.default_method
            if method not in backend.methods:
                raise ValueError(f"engine {self.engine!r} has no method {method!r}; its "
                                 f"methods are {', '.join(backend.methods)}")
            object.__setattr__(self, "method", method)
        if not (0 < self.rtol < 1 and self.atol > 0 and self.max_steps >= 1):
            raise ValueError("solver tolerances must satisfy 0 < rtol < 1, atol > 0 and "
                             f"max_steps >= 1 (got rtol={self.rtol}, atol={self.atol}, "
                             f"max_steps={self.max_steps})")


@dataclass(frozen=True)
class PreequilibrationOptions:
    """Bring the untreated cell to steady state before treatment.

    The untreated model (every drug input at 0 nM) is integrated over growing windows until the
    largest relative rate of change ``|dy_i/dt| / max(|y_i|, floor)`` is below ``tol_per_h``
    (1/h), where ``floor = 1e-6 x`` the largest state value. If that does not happen within
    ``max_h`` hours a :class:`~apopsim.errors.PreequilibrationError` is raised.
    """

    enabled: bool = True
    tol_per_h: float = 1e-6
    max_h: float = 1e5
    first_window_h: float = 10.0


@dataclass(frozen=True)
class ThresholdEvent:
    """A variable crossing a threshold, and what happens to the cell afterwards.

    This one object carries a death rule (or any other fate rule) from the scenario through the
    population tasks and the engine into the generated code.

    Attributes
    ----------
    variable
        Species (its concentration, nM) or assignment-rule variable (its own units) to watch.
    threshold
        Crossing level, in the variable's units.
    direction
        ``"up"``: the event fires when the variable first rises above ``threshold``;
        ``"down"``: when it first falls below it.
    after
        ``"continue"``: only record the crossing time. ``"freeze"``: once the cell is clearly
        past the threshold (the band ``freeze_band`` x threshold) its right-hand side is
        switched off smoothly inside the compiled model, so its values stay as they are and the
        solver steps over the rest of the run almost for free; later schedule segments are
        skipped. ``"stop"``: the values are held at the state of the crossing time itself (the
        rest of the current schedule segment is still integrated, later ones are skipped).
    freeze_band
        Multiples of ``threshold`` between which the freeze switches off (smoothstep, C1): the
        right-hand side is untouched up to the first and zero from the second. For ``"down"``
        both must be below 1, for ``"up"`` above 1. Default: (1.1, 1.2) for ``"up"``,
        (0.9, 0.8) for ``"down"``.
    """

    variable: str
    threshold: float
    direction: Literal["up", "down"] = "up"
    after: Literal["continue", "freeze", "stop"] = "freeze"
    freeze_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold):
            raise ValueError(f"event threshold must be finite (got {self.threshold})")
        if self.direction not in ("up", "down"):
            raise ValueError(f"event direction must be 'up' or 'down', not {self.direction!r}")
        if self.after not in ("continue", "freeze", "stop"):
            raise ValueError(f"event 'after' must be continue, freeze or stop, not {self.after!r}")
        if self.freeze_band is None:
            default = (1.1, 1.2) if self.direction == "up" else (0.9, 0.8)
            object.__setattr__(self, "freeze_band", default)
        a, b = self.freeze_band
        ok = 1 < a < b if self.direction == "up" else 1 > a > b > 0
        if not ok:
            raise ValueError(f"freeze_band {self.freeze_band} must move away from the threshold "
                             f"in the event's direction ({self.direction})")

    def crossed(self, values):
        """Boolean mask: ``values`` past the threshold in the event's direction."""
        return values > self.threshold if self.direction == "up" else values < self.threshold

    @property
    def freezes(self) -> bool:
        """True if the compiled right-hand side switches the cell off after the event."""
        return self.after == "freeze" and self.threshold > 0
