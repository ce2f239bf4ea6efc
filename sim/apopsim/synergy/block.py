"""Per-block result of a synergy analysis: :class:`BlockResult`."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from .data import DoseMatrix
from .hill import HillFit
from .methods import CIResult, ScoreResult
from .musyc import MuSyCFit


@dataclass
class BlockResult:
    """Everything computed for one block (one drug pair on one dose grid).

    Attributes
    ----------
    block_id
        Block identifier as given.
    drug1, drug2
        Drug names.
    unit1, unit2
        Concentration units of drug 1 and drug 2.
    matrix
        The :class:`~apopsim.synergy.data.DoseMatrix` (fractional inhibition, after the
        out-of-range treatment).
    scores
        ``{"bliss"|"hsa"|"loewe"|"zip": ScoreResult}``.
    hill
        Four-parameter Hill fits of drug 1 and drug 2 (None if a margin was too short).
    ci
        Combination-index analysis (None unless requested).
    musyc
        MuSyC fit (None unless requested).
    baseline
        Baseline (fractional inhibition) subtracted with ``out_of_range="baseline*"``.
    skipped
        ``{method: reason}`` for requested methods this block could not support
        (``strict=False`` only).
    results
        ``{method: result}`` of every computed metric, whatever its type (``scores``, ``ci``
        and ``musyc`` are shortcuts kept by the built-in metrics).
    messages
        Notes raised while analysing this block (also in ``SynergyResult.messages``).
    """

    block_id: Hashable
    drug1: str
    drug2: str
    unit1: str
    unit2: str
    matrix: DoseMatrix
    scores: dict[str, ScoreResult] = field(default_factory=dict)
    hill: tuple[HillFit, HillFit] | None = None
    ci: CIResult | None = None
    musyc: MuSyCFit | None = None
    baseline: float | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list, repr=False)

    def note(self, message: str) -> None:
        """Record an informational note about this block (prefixed with the block name)."""
        self.messages.append(f"block {self.block_id!r}: {message}")
