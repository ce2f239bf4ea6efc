"""Atomic output: results appear whole or not at all.

Every writer in apopsim builds its output in a temporary sibling directory and renames it into
place only when everything has been written. A failure (exception, Ctrl-C) removes the temporary
directory and leaves any previous output untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output_dir(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces ``target`` on success.

    Parameters
    ----------
    target
        Final output directory. Its parent is created if needed (the only change made before
        success, and only when it did not exist).
    overwrite
        Replace an existing ``target`` on success. If False and ``target`` exists, raise
        ``FileExistsError`` before anything is written.

    On any exception (including ``KeyboardInterrupt``) the temporary directory is deleted and
    ``target`` is left exactly as it was.
    """
    target = Path(target).resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"output directory {target} exists (use overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "d")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
