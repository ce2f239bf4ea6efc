"""Where chunks run: in this process, local worker processes (which end with their parent) or a
Dask cluster; a chunk whose worker fails is resubmitted once."""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any


def _guarded(fn: Callable, task: Any):
    """Run ``fn(task)`` returning ``(result, None)`` or ``(None, error text)``."""
    try:
        return fn(task), None
    except Exception as exc:  # noqa: BLE001 - reported per chunk, never hidden
        return None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"


class Executor:
    """Runs chunk functions over tasks and yields ``(index, result, error)`` as they finish."""

    def map(self, fn: Callable, tasks: list) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release workers."""


class SerialExecutor(Executor):
    """Everything in this process."""

    def map(self, fn, tasks):
        for i, t in enumerate(tasks):
            yield (i, *_guarded(fn, t))


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def set_parent_death_signal() -> bool:
    """Linux: ask the kernel to SIGKILL this process when its parent dies (``prctl``).

    Returns False where unavailable (other systems, no libc). The signal fires when the parent
    *thread* that forked this process ends; :class:`ProcessExecutor` creates its workers from the
    thread that runs the chunks and shuts them down before that thread returns.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent_pid: int, interval_s: float = 1.0) -> threading.Thread:
    """Start a daemon thread that ends this process (``os._exit``) once its parent is no longer
    ``parent_pid`` (the parent died and the process was re-parented), checked every
    ``interval_s`` seconds. Portable fallback of :func:`set_parent_death_signal`."""

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(1)

    thread = threading.Thread(target=poll, name="apopsim-parent-watch", daemon=True)
    thread.start()
    return thread


def exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when its parent ``parent_pid`` dies, however it dies
    (kill -9, OOM killer): the kernel's parent-death signal on Linux, plus a watcher thread.
    Also sets :data:`WORKER_THREADS_ENV` to 1 (one solver thread per worker)."""
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    watch_parent(parent_pid)
    os.environ[WORKER_THREADS_ENV] = "1"  # the processes use the cores: no threads within


#: Threads per worker process for batched solvers (read by the numba engine's
#: ``integrate_many``; see :data:`apopsim.engine.stiff.THREADS_ENV`): workers use 1, so that
#: processes x threads do not oversubscribe the cores.
WORKER_THREADS_ENV = "APOPSIM_THREADS"


class ProcessExecutor(Executor):
    """Local worker processes (default: all cores); they exit when this process dies. If a
    worker dies (e.g. killed by the OOM killer), its pool is replaced before the next
    :meth:`map`, so failed chunks can be resubmitted."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.pool = self._new_pool()

    def _new_pool(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=exit_with_parent,
                                   initargs=(os.getpid(),))

    def map(self, fn, tasks):
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        try:
            futures = {self.pool.submit(_guarded, fn, t): i for i, t in enumerate(tasks)}
        except BrokenProcessPool:  # a worker died in an earlier map: start a fresh pool
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = self._new_pool()
            futures = {self.pool.submit(_guarded, fn, t): i for i, t in enumerate(tasks)}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    result, err = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died
                    result, err = None, f"worker failed: {type(exc).__name__}: {exc}"
                yield i, result, err
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """A Dask distributed cluster: an existing scheduler address, or a new local cluster."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if address:
            self.client = Client(address)
        else:
            self._cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                         threads_per_worker=1, processes=True,
                                         dashboard_address=None,
                                         env={WORKER_THREADS_ENV: "1"})
            self.client = Client(self._cluster)

    def map(self, fn, tasks):
        from dask.distributed import as_completed

        futures = self.client.map(_guarded, [fn] * len(tasks), tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                result, err = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died
                result, err = None, f"worker failed: {type(exc).__name__}: {exc}"
            yield i, result, err

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(kind: str = "processes", workers: int | None = None,
                  scheduler: str | None = None) -> Executor:
    """``"serial"``, ``"processes"`` (default; all cores) or ``"dask"`` (``scheduler`` address
    of an existing cluster, or a new local cluster when None)."""
    if scheduler:
        return DaskExecutor(scheduler, workers)
    if kind == "serial" or workers == 1:
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "dask":
        return DaskExecutor(None, workers)
    raise ValueError(f"unknown executor {kind!r} (serial, processes or dask)")


#: Populations up to this many cell-runs (cells x conditions) run in this process under
#: ``executor: auto`` even on engines without threads: starting workers costs more.
SMALL_RUN = 64


def auto_executor(engine: str, n_cell_runs: int) -> str:
    """What ``executor: auto`` means for a population on back end ``engine``: ``"serial"``
    (this process) when the back end runs many cells per call in parallel threads
    (``integrate_many``: the numba engine; no workers to start, nothing pickled, the kernel
    loaded once) or the run is small (<= :data:`SMALL_RUN` cell-runs), else ``"processes"``
    (also for an unresolved ``engine: auto``, which runs scipy)."""
    from apopsim.engine import get_backend
    from apopsim.engine.options import AUTO_ENGINE

    threaded = engine != AUTO_ENGINE and hasattr(get_backend(engine), "integrate_many")
    return "serial" if threaded or n_cell_runs <= SMALL_RUN else "processes"


def run_chunks(executor: Executor, fn: Callable, tasks: list,
               on_result: Callable[[int, Any, str | None], None], *, retries: int = 1) -> None:
    """Run every task, calling ``on_result(index, result, error)`` once per task.

    A task whose chunk fails (an exception escaped the chunk function, or its worker died) is
    resubmitted up to ``retries`` times; after that ``on_result`` gets ``result=None`` and the
    error text.
    """
    pending = list(range(len(tasks)))
    for attempt in range(retries + 1):
        failed = []
        for k, result, err in executor.map(fn, [tasks[i] for i in pending]):
            i = pending[k]
            if err is None:
                on_result(i, result, None)
            elif attempt == retries:
                on_result(i, None, err)
            else:
                failed.append(i)
        pending = failed
        if not pending:
            break
