"""One validated options object for a synergy analysis: :class:`SynergyOptions`.

Built once (from keywords, a scenario, or the command line via :meth:`SynergyOptions.add_arguments`
and :meth:`SynergyOptions.from_args`) and passed to :func:`apopsim.synergy.analyze`,
:func:`~apopsim.synergy.analyze_file` and :func:`~apopsim.synergy.analyze_time_course`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .flags import (
    DATA_TYPES,
    FLAGS,
    LOEWE_UNDEFINED,
    OUT_OF_RANGE,
    REFERENCES,
    SCALES,
    ZIP_VARIANTS,
    add_arguments,
)
from .registry import METHODS, parse_methods


class OptionError(ValueError):
    """An invalid option value; ``field`` names the :class:`SynergyOptions` attribute."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _choice(allowed: tuple[str, ...], meaning: str) -> dict[str, Any]:
    return {"choices": allowed, "help": meaning}


@dataclass(frozen=True)
class SynergyOptions:
    """Options of a synergy analysis, validated on construction (``ValueError`` /
    :class:`OptionError` naming the option, the value and what is allowed).

    Attributes
    ----------
    data_type
        ``"viability"`` or ``"inhibition"``: what ``response`` measures.  Required.
    scale
        ``"percent"`` or ``"fraction"``: the scale of ``response``.  Required (never guessed).
    methods
        Registered metric names (comma string, sequence, ``"all"`` or None = all registered);
        stored as a tuple in registry order.  Default: the six built-in methods.
    zip_variant
        ``"sf3"`` (slice Emax free, SynergyFinder 3) or ``"sf2"`` (pinned at 100 %).
    reference
        Single-drug effects for Bliss/HSA: ``"observed"`` margins or ``"fitted"`` Hill curves.
    loewe_undefined
        Rule for wells without a Loewe-equivalent dose: ``"nan"``, ``"weaker_emax"``,
        ``"hsa"`` or ``"synergyfinder"``.
    out_of_range
        Inhibition outside [0, 100] %: ``"keep"``, ``"clip"``, ``"baseline"`` or
        ``"baseline_part"``.
    effect_levels
        Fractions affected (strictly between 0 and 1) for CI and DRI.
    musyc_gamma
        Also fit MuSyC's cooperativity parameters.
    n_bootstrap
        Residual-bootstrap refits for the MuSyC intervals (>= 0).
    confidence
        Coverage of the MuSyC intervals, in (0, 1).
    seed
        Seed of the bootstrap generator.
    conc_unit
        Unit for frames without a unit column (None: ``"nM"``).
    source
        Name used in error messages (None: ``"<DataFrame>"`` or the file name).
    strict
        True: a block that cannot support a requested method raises; False: NaN + reason.
    """

    data_type: str = field(metadata=_choice(DATA_TYPES, "what 'response' measures"))
    scale: str = field(metadata=_choice(SCALES, "scale of 'response'"))
    methods: tuple[str, ...] = METHODS
    zip_variant: str = field(default="sf3", metadata=_choice(ZIP_VARIANTS, "ZIP slice fits"))
    reference: str = field(
        default="observed", metadata=_choice(REFERENCES, "single-drug effects for Bliss/HSA")
    )
    loewe_undefined: str = field(
        default="synergyfinder",
        metadata=_choice(LOEWE_UNDEFINED, "rule for wells without a Loewe-equivalent dose"),
    )
    out_of_range: str = field(
        default="keep",
        metadata=_choice(OUT_OF_RANGE, "treatment of inhibition outside [0, 100] %"),
    )
    effect_levels: tuple[float, ...] = (0.5, 0.75, 0.9)
    musyc_gamma: bool = False
    n_bootstrap: int = 100
    confidence: float = 0.95
    seed: int = 0
    conc_unit: str | None = None
    source: str | None = None
    strict: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise OptionError(
                    f.name,
                    f"{f.name} must be one of {', '.join(map(repr, choices))}, got {value!r} "
                    f"({f.metadata['help']})",
                )
        if not 0 < self.confidence < 1:
            raise OptionError(
                "confidence", f"confidence must lie in (0, 1), got {self.confidence!r}"
            )
        n_boot = _integer("n_bootstrap", self.n_bootstrap)
        if n_boot < 0:
            raise OptionError("n_bootstrap", f"n_bootstrap must be >= 0, got {n_boot!r}")
        try:
            levels = tuple(float(x) for x in _iterable(self.effect_levels))
        except (TypeError, ValueError):
            levels = ()
        if not levels or any(not 0 < x < 1 for x in levels):
            raise OptionError(
                "effect_levels",
                "effect levels must lie strictly between 0 and 1 (fractions), got "
                f"{self.effect_levels!r}",
            )
        try:
            methods = parse_methods(self.methods)
        except ValueError as exc:
            raise OptionError("methods", str(exc)) from None
        set_ = object.__setattr__
        set_(self, "methods", methods)
        set_(self, "effect_levels", levels)
        set_(self, "n_bootstrap", n_boot)
        set_(self, "confidence", float(self.confidence))
        set_(self, "seed", _integer("seed", self.seed))
        set_(self, "musyc_gamma", bool(self.musyc_gamma))
        set_(self, "strict", bool(self.strict))

    def replace(self, **changes: Any) -> SynergyOptions:
        """A copy with some options changed (validated again).

        Raises
        ------
        TypeError
            An unknown option name (the message lists the known ones).
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(
                f"unknown synergy option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **changes) if changes else self

    @classmethod
    def build(cls, options: SynergyOptions | None = None, **kwargs: Any) -> SynergyOptions:
        """``options`` with ``kwargs`` applied, or new options from ``kwargs`` alone."""
        if options is None:
            return cls(**kwargs)
        if not isinstance(options, SynergyOptions):
            raise TypeError(f"options must be a SynergyOptions, got {type(options).__name__}")
        return options.replace(**kwargs)

    def settings(self) -> dict[str, object]:
        """The options as recorded in ``SynergyResult.settings`` and ``metadata.json``."""
        return {
            "methods": list(self.methods),
            "data_type": self.data_type,
            "scale": self.scale,
            "zip_variant": self.zip_variant,
            "reference": self.reference,
            "loewe_undefined": self.loewe_undefined,
            "out_of_range": self.out_of_range,
            "effect_levels": list(self.effect_levels),
            "musyc_gamma": self.musyc_gamma,
            "n_bootstrap": self.n_bootstrap,
            "confidence": self.confidence,
            "seed": self.seed,
            "source": self.source,
            "strict": self.strict,
        }

    # --- command line -----------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add ``--data-type, --scale, --methods, --zip-variant, --reference, --loewe-undefined,
        --out-of-range, --effect-levels (percent), --musyc-gamma, --bootstrap, --confidence,
        --seed`` to ``parser``; read them back with :meth:`from_args`."""
        return add_arguments(parser)

    @classmethod
    def from_args(
        cls,
        args: argparse.Namespace,
        *,
        note: Callable[[str], None] | None = None,
        **overrides: Any,
    ) -> SynergyOptions:
        """Options from arguments parsed by a parser set up with :meth:`add_arguments`.

        ``--data-type``/``--scale`` not given: ``viability``/``percent`` (SynergyFinder's
        defaults), stated through ``note``.  ``overrides`` set options without a flag (e.g.
        ``strict``).

        Raises
        ------
        OptionError
            The message starts with the offending flag, e.g. ``"--effect-levels: ..."``.
        """
        values: dict[str, Any] = {}
        for spec in FLAGS:
            raw = getattr(args, spec.dest)
            if raw is None and spec.assumed is not None:
                raw = spec.assumed
                if note is not None:
                    note(f"{spec.flag} not given, assuming {raw!r}{spec.assumed_why}")
            try:
                values[spec.field] = spec.convert(raw) if spec.convert else raw
            except ValueError as exc:
                raise OptionError(spec.field, f"{spec.flag}: {exc}") from None
        values.update(overrides)
        try:
            return cls(**values)
        except OptionError as exc:
            flag = next((s.flag for s in FLAGS if s.field == exc.field), exc.field)
            raise OptionError(exc.field, f"{flag}: {exc}") from None


def _iterable(value: Any) -> Iterable:
    return (value,) if isinstance(value, (int, float)) else value


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise OptionError(name, f"{name} must be an integer, got {value!r}")
    return int(value)
