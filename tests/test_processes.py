"""Worker processes end when the process that started them is killed (kill -9, OOM killer).

Local pools (``ProcessExecutor``) arm the kernel's parent-death signal and a watcher thread; the
watcher alone is tested too (the portable fallback). A Dask ``LocalCluster`` started by apopsim
relies on Dask's own mechanism (its worker processes watch a pipe from the parent). A chunk whose
worker died is resubmitted to a fresh pool.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: A parent that starts two workers, each of which records its pid and sleeps.
PARENT = """
import os
import sys
import time
from pathlib import Path


def record_and_sleep(path):
    Path(path).write_text(str(os.getpid()))
    time.sleep(600)


if __name__ == "__main__":
    folder, mode = sys.argv[1], sys.argv[2]
    tasks = [f"{folder}/worker-{i}.pid" for i in range(2)]
    if mode in ("executor", "dask"):
        from apopsim.population import DaskExecutor, ProcessExecutor

        ex = ProcessExecutor(2) if mode == "executor" else DaskExecutor(None, 2)
        for _ in ex.map(record_and_sleep, tasks):
            pass
    else:  # only the portable fallback: the watcher thread, no kernel parent-death signal
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from apopsim.population import watch_parent

        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        pool = ProcessPoolExecutor(2, mp_context=ctx, initializer=watch_parent,
                                   initargs=(os.getpid(), 0.2))
        for f in [pool.submit(record_and_sleep, t) for t in tasks]:
            f.result()
"""


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped by its new parent, is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pid reused by another user's process: ours is gone
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def _wait(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("mode", ["executor", "watcher_only", "dask"])
def test_workers_exit_when_parent_is_killed(tmp_path, mode):
    if mode == "dask":
        pytest.importorskip("dask.distributed")
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(PARENT))
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), mode],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pid_files = [tmp_path / f"worker-{i}.pid" for i in range(2)]
    pids: list[int] = []
    try:
        started = _wait(lambda: parent.poll() is not None
                        or all(p.exists() and p.read_text() for p in pid_files), 120)
        assert started and parent.poll() is None, \
            parent.stderr.read().decode() if parent.poll() is not None else "workers too slow"
        pids = [int(p.read_text()) for p in pid_files]
        assert parent.pid not in pids and all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        assert _wait(lambda: not any(_alive(p) for p in pids), 15), \
            f"workers still alive 15 s after the parent was killed: {pids}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(30)
        for pid in pids:  # never leave a worker behind, even if the test failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _die_once(task: tuple[str, int]) -> int:
    """Chunk function whose worker dies (as under the OOM killer) the first time it gets 1."""
    folder, i = task
    marker = Path(folder) / f"died-{i}"
    if i == 1 and not marker.exists():
        marker.write_text("x")
        os._exit(9)
    return 10 * i


def test_chunk_of_a_dead_worker_is_resubmitted(tmp_path):
    from apopsim.population import ProcessExecutor, run_chunks

    got: dict[int, tuple] = {}
    ex = ProcessExecutor(2)
    try:
        run_chunks(ex, _die_once, [(str(tmp_path), i) for i in range(4)],
                   lambda i, r, e: got.update({i: (r, e)}))
    finally:
        ex.close()
    assert (tmp_path / "died-1").exists()  # the worker did die
    assert got == {i: (10 * i, None) for i in range(4)}
