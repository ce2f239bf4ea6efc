"""The engine: integrate a model, knowing no biology.

A run is: optional pre-equilibration of the untreated cell to steady state
(:mod:`~apopsim.engine.steady_state`), then treatment from ``t = 0`` h with piecewise integration
between schedule events and threshold events located between outputs
(:mod:`~apopsim.engine.segments`). Times are in hours; drug inputs are parameters in nM.

The pieces, each small and passed in rather than switched on by flags:

* :mod:`~apopsim.engine.compiler`: model -> generated right-hand side, exact Jacobian and the
  frozen variants (numba), cached on disk per model structure;
* :mod:`~apopsim.engine.options`: :class:`SolverOptions`, :class:`PreequilibrationOptions`,
  :class:`ThresholdEvent`;
* :mod:`~apopsim.engine.registry`: the back-end protocol and the registry of back ends by name;
* :mod:`~apopsim.engine.backends`: the built-in back ends (``"scipy"``: LSODA/BDF/Radau, the
  reference; ``"roadrunner"``: libRoadRunner's CVODE) and the per-structure instance cache;
  ``"numba"`` (:mod:`~apopsim.engine.stiff`, Rodas4 compiled whole) is registered lazily: its
  module (and numba's parallel machinery) loads the first time the engine is used;
* :mod:`~apopsim.engine.auto`: ``engine: auto``, the measured rule that picks numba for a
  population whose work repays compiling (or loading) its kernel, scipy otherwise;
* :mod:`~apopsim.engine.trajectory`: :class:`Trajectory`, the one-cell result.

Drug names are resolved outside the engine (:mod:`apopsim.cell`, the drug catalogue).
"""

from apopsim.engine.backends import integrator_for, make_integrator
from apopsim.engine.compiler import CompiledModel, compile_model
from apopsim.engine.options import PreequilibrationOptions, SolverOptions, ThresholdEvent
from apopsim.engine.registry import (
    Backend,
    backend_names,
    get_backend,
    register_backend,
    register_lazy_backend,
)
from apopsim.engine.segments import (
    Schedule,
    integrate_batch,
    integrate_segments,
    integrate_segments_many,
    watched_values,
)
from apopsim.engine.steady_state import (
    conservation_laws,
    newton_polish,
    preequilibrate,
    preequilibrate_many,
    relative_rate,
)
from apopsim.engine.trajectory import Trajectory

__all__ = [
    "Backend",
    "CompiledModel",
    "PreequilibrationOptions",
    "Schedule",
    "SolverOptions",
    "ThresholdEvent",
    "Trajectory",
    "backend_names",
    "compile_model",
    "conservation_laws",
    "get_backend",
    "integrate_batch",
    "integrate_segments",
    "integrate_segments_many",
    "integrator_for",
    "make_integrator",
    "newton_polish",
    "preequilibrate",
    "preequilibrate_many",
    "register_backend",
    "register_lazy_backend",
    "relative_rate",
    "watched_values",
]
