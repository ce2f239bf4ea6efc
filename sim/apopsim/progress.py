"""Progress on stderr for long work: named phases with their durations, and a bar over cells.

Shown when asked, or by default only when stderr is a terminal; the durations are recorded
either way (run.json ``timings_s``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator


def _show(progress: bool | None) -> bool:
    """Progress output on stderr: as asked, or (None) only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


class Phases:
    """Times named phases into ``timings`` (s); when shown, one status line per phase on stderr:
    ``apopsim: <label> ... <seconds> s``."""

    def __init__(self, timings: dict[str, float], progress: bool | None) -> None:
        self.timings = timings
        self.show = _show(progress)

    @contextlib.contextmanager
    def __call__(self, key: str, label: str, *, show: bool = True) -> Iterator[None]:
        show = show and self.show
        if show:
            print(f"apopsim: {label} ...", end="", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            self.timings[key] = time.perf_counter() - t0
            if show:
                print(f" {self.timings[key]:.1f} s" if ok else " failed", file=sys.stderr,
                      flush=True)


def progress_bar(total: int, show: bool | None, desc: str):
    """A tqdm bar on stderr, shown only when asked or (by default) when stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="cell-run", file=sys.stderr, mininterval=0.5,
                delay=2.0, disable=not _show(show))
