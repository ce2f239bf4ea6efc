"""Heterogeneous cell populations over dose conditions, split into chunks for any executor.

A population is ``n_cells`` cells whose synthesis rates (or initial amounts) are drawn
log-normally around the context's values (mean preserved, coefficient of variation ``cv``), from
a seeded generator or a scrambled Sobol sequence, optionally with a common correlation between
all varied quantities (Gaussian copula). All draws are made once, up front, in the calling
process, so a seed gives the same cells, and the same results, whatever the executor and number
of workers.

Work is split into independent chunks: first each block of cells is pre-equilibrated untreated
(once per cell, shared by every condition), then each (condition, cell block) is treated. Each
cell is frozen once its fate is decided (the death rule is an engine
:class:`~apopsim.engine.ThresholdEvent`; by default the right-hand side is switched off smoothly
between 1.1 and 1.2 x the death threshold), so the solver steps over the rest of the run almost
for free; its species then stay at their values at that point. The time of death is located on a
fine grid between output times, so it does not depend on the output spacing. A cell whose solver
fails is retried once under its back end's retry policy (scipy: BDF at rtol/100; numba: scipy BDF
at rtol/100), then reported as failed (never silently dropped). A chunk whose worker fails is
resubmitted once.

Each chunk runs its cells together: pre-equilibration one batched solver call per window, and
treatment one per schedule segment (:func:`~apopsim.engine.preequilibrate_many`,
:func:`~apopsim.engine.integrate_segments_many`). On the numba engine such a call runs the
cells in parallel threads (``integrate_many``), so one process uses every core without pickling
anything (:func:`auto_executor`); worker processes use one thread each (``APOPSIM_THREADS=1``).

The modules: :mod:`~apopsim.population.sampling` (drawing cells),
:mod:`~apopsim.population.tasks` (chunks and fates), :mod:`~apopsim.population.executors`
(serial, processes, Dask) and :mod:`~apopsim.population.stats` (intervals and summaries).

Each cell ends each condition with one :class:`Fate`: it died during the run (with a time of
death), survived to the end, was already dead in its own untreated steady state (not a live cell
at treatment start), or its simulation failed.

Local worker processes end when the process that started them dies, even by SIGKILL or the OOM
killer (:func:`exit_with_parent`), so no orphaned workers keep their memory.
"""

from apopsim.population.executors import (
    DaskExecutor,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    auto_executor,
    exit_with_parent,
    make_executor,
    run_chunks,
    set_parent_death_signal,
    watch_parent,
)
from apopsim.population.sampling import Variation, sample_cells
from apopsim.population.stats import STATS, summarise_traces, wilson_interval
from apopsim.population.tasks import (
    FATE_LABELS,
    Fate,
    PreeqResult,
    PreeqTask,
    TreatResult,
    TreatTask,
    record_cell,
    run_preeq_task,
    run_treat_task,
)

__all__ = [
    "FATE_LABELS",
    "STATS",
    "DaskExecutor",
    "Executor",
    "Fate",
    "PreeqResult",
    "PreeqTask",
    "ProcessExecutor",
    "SerialExecutor",
    "TreatResult",
    "TreatTask",
    "record_cell",
    "Variation",
    "auto_executor",
    "exit_with_parent",
    "make_executor",
    "run_chunks",
    "run_preeq_task",
    "run_treat_task",
    "sample_cells",
    "set_parent_death_signal",
    "summarise_traces",
    "watch_parent",
    "wilson_interval",
]
