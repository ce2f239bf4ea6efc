"""The synergy options' choices and command-line flags, in one light module.

Nothing here imports numpy, pandas or scipy, so the CLI can build its parser (``apopsim
--help``) without loading the analysis. :class:`~apopsim.synergy.options.SynergyOptions`
validates against the same tuples and reads the same flags back with ``from_args``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DATA_TYPES: tuple[str, ...] = ("viability", "inhibition")
"""What a ``response`` column measures."""
SCALES: tuple[str, ...] = ("percent", "fraction")
"""The scale of a ``response`` column."""
OUT_OF_RANGE: tuple[str, ...] = ("keep", "clip", "baseline", "baseline_part")
"""Rules for inhibition outside [0, 100] %."""
LOEWE_UNDEFINED: tuple[str, ...] = ("nan", "weaker_emax", "hsa", "synergyfinder")
"""Rules for wells without a Loewe-equivalent dose."""
ZIP_VARIANTS: tuple[str, ...] = ("sf2", "sf3")
"""ZIP slice fits with Emax pinned at 100 % (sf2) or free (sf3)."""
REFERENCES: tuple[str, ...] = ("observed", "fitted")
"""Single-drug effects for Bliss/HSA: observed margins or fitted Hill curves."""
BUILTIN_METHODS: tuple[str, ...] = ("bliss", "hsa", "loewe", "zip", "ci", "musyc")
"""The built-in metrics, in registry order (the registry may hold more)."""


def percent_levels(text: str) -> tuple[float, ...]:
    """``"50,75,90"`` (percent) -> ``(0.5, 0.75, 0.9)`` (fractions affected)."""
    try:
        levels = tuple(float(v) / 100.0 for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"expected comma-separated percentages, got {text!r}") from None
    if not levels or any(not 0 < x < 1 for x in levels):
        raise ValueError("each level must lie strictly between 0 and 100 (percent)")
    return levels


@dataclass(frozen=True)
class Flag:
    """One command-line flag of a :class:`~apopsim.synergy.options.SynergyOptions` field."""

    field: str
    flag: str
    help: str
    default: Any = None
    type: Callable | None = None
    choices: tuple[str, ...] | None = None
    action: str | None = None
    metavar: str | None = None
    convert: Callable[[Any], Any] | None = None
    assumed: str | None = None
    assumed_why: str = ""

    @property
    def dest(self) -> str:
        """The argparse destination name."""
        return self.flag.lstrip("-").replace("-", "_")

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``ArgumentParser.add_argument``."""
        out: dict[str, Any] = {"help": self.help, "default": self.default}
        for key in ("type", "choices", "action", "metavar"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


FLAGS: tuple[Flag, ...] = (
    Flag("data_type", "--data-type", choices=DATA_TYPES, assumed="viability",
         assumed_why=" (SynergyFinder's default)",
         help="what 'response' measures (default: viability, SynergyFinder's default; stated "
         "on stderr when not given)"),
    Flag("scale", "--scale", choices=SCALES, assumed="percent",
         help="scale of 'response' (default: percent, stated on stderr when not given)"),
    Flag("methods", "--methods", default=",".join(BUILTIN_METHODS),
         help=f"comma-separated subset of {','.join(BUILTIN_METHODS)} or 'all' (default: all)"),
    Flag("zip_variant", "--zip-variant", choices=ZIP_VARIANTS, default="sf3",
         help="ZIP slice fits with free Emax (sf3, SynergyFinder 3; default) or Emax pinned at "
         "100%% (sf2, SynergyFinder 2)"),
    Flag("reference", "--reference", choices=REFERENCES, default="observed",
         help="single-drug effects for Bliss/HSA: observed margins (default) or fitted Hill "
         "curves"),
    Flag("loewe_undefined", "--loewe-undefined", choices=LOEWE_UNDEFINED,
         default="synergyfinder",
         help="rule for wells without a Loewe-equivalent dose (different Emax): nan, the "
         "weaker drug's Emax, HSA, or SynergyFinder's fallback (default)"),
    Flag("out_of_range", "--out-of-range", choices=OUT_OF_RANGE, default="keep",
         help="inhibition outside [0, 100]%%: keep (default), clip, or baseline-correct as "
         "SynergyFinder's correct_baseline 'all' (baseline) or 'part' (baseline_part)"),
    Flag("effect_levels", "--effect-levels", default="50,75,90", convert=percent_levels,
         help="effect levels in percent for CI and DRI (default: 50,75,90)"),
    Flag("musyc_gamma", "--musyc-gamma", action="store_true", default=False,
         help="also fit MuSyC cooperativity (gamma)"),
    Flag("n_bootstrap", "--bootstrap", type=int, default=100, metavar="N",
         help="bootstrap refits for MuSyC confidence intervals (default: 100)"),
    Flag("confidence", "--confidence", type=float, default=0.95,
         help="interval coverage (default: 0.95)"),
    Flag("seed", "--seed", type=int, default=0, help="bootstrap seed (default: 0)"),
)  # fmt: skip
"""Every option flag, read back by ``SynergyOptions.from_args``."""


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every :data:`FLAGS` option to ``parser``."""
    for spec in FLAGS:
        parser.add_argument(spec.flag, **spec.kwargs())
    return parser
