"""Exceptions raised by apopsim. Each message says what was wrong and where."""

from __future__ import annotations


class ApopsimError(Exception):
    """Base class of all apopsim errors."""


class ModelError(ApopsimError):
    """A model file or model override is invalid."""


class ScenarioError(ApopsimError):
    """A scenario is invalid; raised before anything is simulated.

    ``problems`` lists ``(location, message)`` pairs, e.g. ``("file.yaml:12 drugs.hht", "...")``.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class SimulationError(ApopsimError):
    """The solver failed (the message names the condition, cell and time)."""


class PreequilibrationError(SimulationError):
    """The untreated cell did not reach steady state within the allowed time."""


class ApopsimWarning(UserWarning):
    """Something will work but deserves attention, e.g. a run estimated to need hours or GiBs."""
