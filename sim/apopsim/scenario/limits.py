"""Size limits checked before any work starts: conditions, output times and memory."""

from __future__ import annotations

import os

from apopsim.scenario.schema import Scenario, _gib

MAX_CONDITIONS = 100_000
"""Most dose conditions: each gets its own tasks, summary row, death-time column and plot entry;
10^5 is more than a 4-drug grid of 17 doses each, beyond what any figure or table shows."""
MAX_OUTPUT_TIMES = 1_000_000
"""Most recorded times per cell-run: each worker holds the full state (float64, every species and
rule, twice) at every output time of the cell it simulates, about 1.6 GB for a 100-variable model
at 10^6 times (one per 0.26 s over 72 h); finer output has no use for kinetics in hours."""
MEMORY_FRACTION = 0.75
"""Refuse a run whose trace memory estimate exceeds this fraction of the physical memory."""
WARN_TRACE_BYTES = 2 << 30
"""Warn (ApopsimWarning) above this trace memory estimate (bytes)."""
WARN_CPU_S = 3600.0
"""Warn (ApopsimWarning) above this estimated CPU time (s)."""


def physical_memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_work(scenario: Scenario) -> list[tuple[tuple, str]]:
    """``(field path, message)`` per size limit the scenario exceeds (empty if it fits).

    Refused: more than :data:`MAX_CONDITIONS` conditions, more than :data:`MAX_OUTPUT_TIMES`
    output times, and traces needing more than :data:`MEMORY_FRACTION` of this machine's memory.
    """
    n_cond = scenario.n_conditions()
    drugs_loc = ("drugs",)
    if n_cond > MAX_CONDITIONS:
        sizes = " x ".join(str(len(v)) for v in scenario.dose_lists().values())
        return [(drugs_loc, f"{n_cond:,} conditions ({scenario.design} of {sizes} doses) exceed "
                 f"the limit of {MAX_CONDITIONS:,}; use fewer doses per drug (or design: paired)")]
    t = scenario.time
    n_times = t.n_output_times()
    if n_times > MAX_OUTPUT_TIMES:
        field = "output_times_h" if t.output_times_h else "output_every_h"
        return [(("time", field), f"{n_times:,} output times per cell exceed the limit of "
                 f"{MAX_OUTPUT_TIMES:,}; record less often (time.output_every_h)")]
    est = scenario.work_estimate()
    total = physical_memory_bytes()
    if total and est.trace_bytes > MEMORY_FRACTION * total:
        loc = ("population", "n_cells") if scenario.population is not None else drugs_loc
        return [(loc, f"the run does not fit in memory: {est.describe()}; the traces alone "
                 f"exceed {MEMORY_FRACTION:.0%} of this machine's {_gib(total)}; reduce "
                 "population.n_cells, the number of doses, readouts.species or the output "
                 "times (time.output_every_h)")]
    return []
