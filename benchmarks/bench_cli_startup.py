#!/usr/bin/env python
"""Start-up benchmark of the ``apopsim`` command: ``apopsim --help`` and ``apopsim models``.

Each command runs ``--repeat`` times (default 5) as a fresh subprocess after one untimed warm-up
run (which fills the OS file cache and apopsim's SBML translation cache); the median wall time in
seconds is printed, with the targets of issue 14 (``--help`` under 1 s, ``models`` under 2 s).
A benchmark, not a test: the numbers depend on the machine and its load.

Run from the repository root::

    .venv/bin/python benchmarks/bench_cli_startup.py
    .venv/bin/python benchmarks/bench_cli_startup.py --repeat 9
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

TARGETS_S = {"--help": 1.0, "models": 2.0}


def _command() -> list[str]:
    """The installed ``apopsim`` beside this Python, else ``python -m apopsim.cli``."""
    exe = shutil.which("apopsim", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "apopsim.cli"]


def time_command(args: list[str], repeat: int) -> list[float]:
    """Wall times (s) of ``repeat`` runs of ``apopsim ARGS`` after one warm-up run."""
    cmd = _command() + args
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    """Print the median start-up times; exit status 0 (a benchmark does not fail)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5, help="timed runs per command (default 5)")
    a = p.parse_args(argv)
    print(f"command: {' '.join(_command())}  ({a.repeat} runs each, after a warm-up)")
    for args, target in TARGETS_S.items():
        times = time_command(args.split(), a.repeat)
        med = statistics.median(times)
        verdict = "ok" if med < target else "SLOWER THAN TARGET"
        print(f"apopsim {args:8s} median {med:6.3f} s  (min {min(times):.3f}, max "
              f"{max(times):.3f}; target < {target:g} s: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
