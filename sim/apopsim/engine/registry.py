"""The back-end protocol and the registry of back ends, by name.

A back end integrates a compiled model (:class:`~apopsim.engine.compiler.CompiledModel`) from a
state ``y0`` (amounts) with a parameter vector ``p`` and returns the states at the requested
times (hours). It holds no cell state between calls, so one instance serves every cell, context
and dose of a model structure (:func:`~apopsim.engine.backends.integrator_for` caches them).
The built-in back ends are in :mod:`apopsim.engine.backends`; see ``docs/extending.md`` for
adding one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np

    from apopsim.engine.compiler import CompiledModel

#: ``(marker_index, band_start, band_end)``: switch the right-hand side off as the marker moves
#: from ``band_start`` to ``band_end`` (see :class:`~apopsim.engine.compiler.CompiledModel`).
Freeze = tuple[int, float, float]


class Options(Protocol):
    """What a back end reads from :class:`~apopsim.engine.options.SolverOptions` (declared
    here as a protocol so that the registry does not import the options module, which
    validates names against this registry)."""

    engine: str
    method: str | None
    rtol: float
    atol: float
    max_steps: int


class Backend(Protocol):
    """What every back end provides.

    Class attributes declare its capabilities: ``name`` (the registry key), ``methods`` (valid
    ``SolverOptions.method`` values), ``default_method`` and ``supports_freeze`` (whether
    ``integrate`` honours ``freeze``; a back end that does not integrates frozen cells to the
    end, which costs time but gives the same fates).
    """

    name: ClassVar[str]
    methods: ClassVar[tuple[str, ...]]
    default_method: ClassVar[str]
    supports_freeze: ClassVar[bool]

    def __init__(self, cm: CompiledModel, opts: Options) -> None: ...

    def integrate(self, y0: np.ndarray, p: np.ndarray, times: np.ndarray,
                  freeze: Freeze | None = None) -> np.ndarray:
        """States (amounts), shape (len(times), n_state); ``times[0]`` is the start (h).

        Raises :class:`~apopsim.errors.SimulationError` if the solver fails.
        """
        ...

    @classmethod
    def retry_options(cls, opts: Options) -> Options:
        """Options for one more attempt after a failure (the back end's retry policy)."""
        ...

    # Optional: ``integrate_many(y0s, ps, times, freezes=None) -> (states, errors)``, many
    # cells in one call (states (n_cells, len(times), n_state), errors: per cell None or the
    # failure message). Populations use it when present
    # (:func:`~apopsim.engine.segments.integrate_batch`), else ``integrate`` cell by cell.


_REGISTRY: dict[str, type[Backend]] = {}
#: back ends known by name whose module is imported on first use: name -> module
_LAZY: dict[str, str] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make ``cls`` available as ``SolverOptions(engine=cls.name)``."""
    _REGISTRY[cls.name] = cls
    return cls


def register_lazy_backend(name: str, module: str) -> None:
    """Declare back end ``name``, registered by importing ``module`` (whose class carries
    :func:`register_backend`) the first time :func:`get_backend` asks for it: a back end with
    a costly import (numba) costs nothing until used, yet is listed by :func:`backend_names`."""
    if name not in _REGISTRY:
        _LAZY[name] = module


def backend_names() -> tuple[str, ...]:
    """Names of the registered back ends (including those not imported yet)."""
    return tuple(dict.fromkeys([*_REGISTRY, *_LAZY]))


def get_backend(name: str) -> type[Backend]:
    """The back-end class registered as ``name`` (importing its module if it is lazy)."""
    if name not in _REGISTRY and name in _LAZY:
        import importlib

        importlib.import_module(_LAZY[name])
        if name not in _REGISTRY:
            raise ValueError(f"module {_LAZY[name]!r} did not register engine {name!r}")
        del _LAZY[name]
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known engines: "
                         f"{', '.join(backend_names())}") from None
