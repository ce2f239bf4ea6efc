"""``engine: auto``: which engine a population runs on when its scenario names none.

The rule is :func:`choose_engine`. A population (``n_cell_runs`` pre-equilibrations and
treatments of one model with ``n_state`` state variables) runs on the compiled Rodas4
(``"numba"``) when the CPU it saves repays what its kernel costs to get ready, and on scipy
LSODA (``"scipy"``, the reference) otherwise::

    numba  if  n_cell_runs x n_state x SAVING >= COMPILE_PER_STATE x n_state

so numba runs a population of at least ``COMPILE_PER_STATE / SAVING`` = 28,000 cell-runs,
whatever the model's size: such a run repays compiling its kernel even on a machine that has
never compiled it (the kernel is then cached on disk for later runs). The rule deliberately
ignores whether a kernel happens to be cached already: the engine, and so the last digits of the
results, must depend on the scenario, not on the machine's history.
The constants are measured (``benchmarks/README.md``, "Default engine"). Both engines pass the
agreement tests (``tests/test_engine_agreement.py``), so the choice changes the cost, not the
fates; ``run.json`` records the engine that ran and this rule's reason. One cell at a time
(``simulate``, margins, panels, cultures: anything that calls the engine without a population
workload) ``auto`` is scipy: :func:`single_cell_options`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from apopsim.engine.options import AUTO_ENGINE, SolverOptions

if TYPE_CHECKING:
    from apopsim.engine.compiler import CompiledModel

#: CPU (s) numba saves against scipy LSODA per cell-run and state variable, pre-equilibration
#: included. Measured 2026-11-30 (one thread, serial executor, 30 cells x 4 conditions, 72 h,
#: rtol 1e-6): intrinsic_extrinsic_p53, 74 states, 14.2 -> 6.5 ms per cell-run (0.104 ms per
#: state); bcl2_core, 24 states, 5.2 -> 2.6 ms (0.106 ms per state); rounded down. At rtol 1e-8
#: p53 saves more (18.2 -> 7.6 ms) and bcl2_core nothing (7.9 -> 7.8 ms).
NUMBA_SAVING_S_PER_STATE_RUN = 1.0e-4

#: CPU (s) per state variable to compile a model's kernel (``rodas4`` + its threaded
#: ``rodas4_many``) with an empty cache. Measured 2026-11-30: engine fixture, 18 states, 33 s;
#: bcl2_core, 24 states, 45 s; intrinsic_extrinsic_p53, 74 states, 204 s (the largest per state,
#: 2.8 s, taken).
NUMBA_COMPILE_S_PER_STATE = 2.8

@dataclass(frozen=True)
class EngineChoice:
    """The engine a run uses (``solver``, its engine named) and why (one sentence)."""

    solver: SolverOptions
    reason: str


def single_cell_options(opts: SolverOptions) -> SolverOptions:
    """``opts`` with ``engine: auto`` resolved for one cell at a time: scipy (LSODA)."""
    return replace(opts, engine="scipy") if opts.engine == AUTO_ENGINE else opts


def numba_unavailable(cm: CompiledModel) -> str | None:
    """Why the numba engine cannot run ``cm`` here (None if it can)."""
    if cm.jac_sparse_stop is None or cm.jac_pattern is None:
        return "the compiled model has no sparse Jacobian"
    if not hasattr(cm.rhs_stop, "py_func"):
        return "numba's JIT is off (APOPSIM_JIT=0)"
    return None


def choose_engine(cm: CompiledModel, solver: SolverOptions, n_cell_runs: int) -> EngineChoice:
    """Resolve ``engine: auto`` for a population of ``n_cell_runs`` cell-runs (cells x
    (conditions + pre-equilibrations)) of the compiled model ``cm``; a named engine is kept.

    The choice depends on the scenario only (model size and workload), never on whether this
    machine happens to have the kernel cached, so a scenario runs on the same engine everywhere
    and its numbers are reproducible. See the module docstring for the rule and its measured
    constants."""
    if solver.engine != AUTO_ENGINE:
        return EngineChoice(solver, f"engine {solver.engine!r} named in the solver options")
    n_state = len(cm.model.state)
    why_not = numba_unavailable(cm)
    if why_not is not None:
        return EngineChoice(replace(solver, engine="scipy"),
                            f"engine auto: scipy, because numba cannot run this model ({why_not})")
    saved = n_cell_runs * n_state * NUMBA_SAVING_S_PER_STATE_RUN
    compile_s = NUMBA_COMPILE_S_PER_STATE * n_state
    work = f"{n_cell_runs} cell-runs x {n_state} states save ~{saved:.3g} s CPU on numba"
    if saved >= compile_s:
        return EngineChoice(replace(solver, engine="numba"), (
            f"engine auto: numba, because {work}, more than compiling its kernel costs "
            f"(~{compile_s:.3g} s)"))
    return EngineChoice(replace(solver, engine="scipy"), (
        f"engine auto: scipy, because {work}, less than compiling its kernel costs "
        f"(~{compile_s:.3g} s, a one-off: cached kernels are reused)"))
