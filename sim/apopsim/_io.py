"""Safe, atomic output: results appear whole or not at all, and never replace the user's files.

Every writer in apopsim builds its output in a temporary sibling directory and renames it into
place only when everything has been written. A failure (exception, Ctrl-C) removes the temporary
directory and leaves any previous output untouched.

Overwrite policy (:func:`check_output_dir`, applied by :func:`atomic_output_dir` and, before any
simulation, by the ``apopsim`` command):

* Every output folder apopsim writes holds a small marker file :data:`MARKER`
  (``.apopsim-output``, JSON: ``{"apopsim_output": 1, "files": [...]}`` listing the entries
  apopsim wrote). An existing folder is replaced without asking only if it is empty or is such
  an apopsim output holding nothing but the listed entries (folders written by earlier apopsim
  versions, without a marker, are recognised by a ``run.json`` / ``metadata.json`` carrying
  ``apopsim_version``).
* Any other existing folder is replaced only with ``overwrite=True`` (``--overwrite``).
* Never replaced, even with ``overwrite``: the filesystem root, the home directory (or an
  ancestor of it), the current working directory (or an ancestor of it), an existing file, and
  any folder holding (or equal to) one of the ``protect`` paths (the scenario, model or input
  plate).
* The nearest existing ancestor of the target must accept new files (probed with a temporary
  file), so a bad ``-o`` is refused before any work starts.
* While a target is being produced it is locked with ``flock`` on an empty ``.<name>.lock`` file
  beside it; a second process writing the same target is refused at once. The lock file is
  removed on release (a process that locked a file since unlinked notices and retries).
* Leftover ``.<name>.tmp-*`` / ``.<name>.old-*`` folders from a killed run are removed (under the
  lock) by the next write to the same target.
* Folders and files are created with the usual permissions (``0o777`` / ``0o666`` minus the
  umask), not the private ``0o700`` / ``0o600`` of :mod:`tempfile`.

Refusals raise :class:`OutputError` (an :class:`~apopsim.errors.ApopsimError`; the command
exits with status 2) and change nothing on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apopsim.errors import ApopsimError

#: Marker file written into every output folder apopsim produces.
MARKER = ".apopsim-output"
_LEGACY_RECORDS = ("run.json", "metadata.json")


class OutputError(ApopsimError):
    """An output path was refused (would replace the user's files, not writable, or locked)."""


@dataclass
class _Reservation:
    fd: int | None
    lock: Path | None
    overwrite: bool
    depth: int = 1


_HELD: dict[Path, _Reservation] = {}
_HELD_LOCK = threading.Lock()


def _is_within(path: Path, folder: Path) -> bool:
    """True if ``path`` equals ``folder`` or lies inside it (both resolved)."""
    return path == folder or folder in path.parents


def _apopsim_entries(folder: Path) -> set[str] | None:
    """Entries apopsim wrote into ``folder`` if it is an apopsim output, else None."""
    marker = folder / MARKER
    if marker.is_file():
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if isinstance(data, dict) and data.get("apopsim_output") == 1:
            return {str(f) for f in data.get("files", [])} | {MARKER}
        return None
    for name in _LEGACY_RECORDS:  # written by apopsim versions without the marker
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "apopsim_version" in data:
            return {p.name for p in folder.iterdir()}
    return None


def _probe_writable(target: Path) -> None:
    """Raise OutputError unless the nearest existing ancestor of ``target`` accepts files."""
    anc = target.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"cannot write output {target}: {anc} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=anc):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write output {target}: {anc} does not accept new files "
                          f"({reason})") from None


def check_output_dir(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Check that ``target`` may be (re)placed by an apopsim output; return it resolved.

    Parameters
    ----------
    target
        The output folder.
    overwrite
        Also allow replacing an existing non-empty folder that apopsim did not write.
    protect
        Input files or folders (scenario, model, data) that must survive: a target equal to one
        of them or holding one of them is refused.

    Raises
    ------
    OutputError
        With a message naming the folder and the reason; nothing is changed on disk.
    """
    t = Path(target).expanduser().resolve()
    cwd = Path.cwd().resolve()
    try:
        home: Path | None = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home directory known
        home = None
    why = None
    if t == t.parent:
        why = "it is the filesystem root"
    elif home is not None and _is_within(home, t):
        why = "it is your home folder" if t == home else "it holds your home folder"
    elif _is_within(cwd, t):
        why = ("it is the current working directory" if t == cwd
               else "it holds the current working directory")
    else:
        for p in protect:
            pr = Path(p).expanduser().resolve()
            if _is_within(pr, t):
                why = f"it {'is' if pr == t else 'holds'} the input {pr}"
                break
    if why:
        raise OutputError(f"refusing to write output to {t}: {why}; choose a new folder "
                          "(e.g. -o results/NAME)")
    if t.exists() or t.is_symlink():
        if not t.is_dir():
            raise OutputError(f"refusing to write output to {t}: it exists and is not a folder")
        own = _apopsim_entries(t)
        present = {p.name for p in t.iterdir()}
        foreign = sorted(present - own) if own is not None else sorted(present)
        if foreign and not overwrite:
            kind = ("an apopsim output with other files added" if own is not None
                    else "a non-empty folder not written by apopsim")
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise OutputError(f"refusing to replace {t}: it is {kind} ({shown}); choose a new "
                              "folder or pass --overwrite to replace it")
    _probe_writable(t)
    return t


def _clean_stale(target: Path) -> None:
    """Remove ``.<name>.tmp-*`` / ``.<name>.old-*`` folders left by killed runs (lock held)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-[\w-]+$")
    with contextlib.suppress(OSError):
        for p in target.parent.iterdir():
            if pattern.match(p.name) and p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)


def _lock_name(target: Path) -> Path:
    name = f".{target.name}.lock"
    if len(name.encode()) > 255:  # keep within NAME_MAX for very long folder names
        name = f".{hashlib.sha256(target.name.encode()).hexdigest()[:16]}.lock"
    return target.parent / name


@contextlib.contextmanager
def reserve_output_dir(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Check ``target`` (:func:`check_output_dir`) and lock it for this process.

    Hold it around a whole run so that the check happens before any work and no other process
    writes the same folder meanwhile; :func:`atomic_output_dir` inside the block reuses the lock
    and the ``overwrite`` decision. Creates missing parent folders (after the check). Yields the
    resolved target. Raises :class:`OutputError` if refused or if another process holds the lock.
    """
    t = Path(target).expanduser().resolve()
    with _HELD_LOCK:
        held = _HELD.get(t)
        if held is not None:
            check_output_dir(t, overwrite=overwrite or held.overwrite, protect=protect)
            held.depth += 1
            held.overwrite = held.overwrite or overwrite
    if held is not None:
        try:
            yield t
        finally:
            with _HELD_LOCK:
                held.depth -= 1
        return
    check_output_dir(t, overwrite=overwrite, protect=protect)
    try:
        t.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {t.parent}: {exc.strerror}") from None
    fd, lock = _acquire_lock(t)
    res = _Reservation(fd, lock, overwrite)
    with _HELD_LOCK:
        _HELD[t] = res
    try:
        yield t
    finally:
        with _HELD_LOCK:
            _HELD.pop(t, None)
        if fd is not None and lock is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # while still locked: a waiting process will notice
            os.close(fd)  # releases the flock


def _acquire_lock(t: Path) -> tuple[int | None, Path | None]:
    """Take the exclusive, non-blocking lock of target ``t``; return (fd, lock file)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
        return None, None
    lock = _lock_name(t)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(f"cannot lock output {t}: {lock}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"refusing to write output to {t}: another apopsim process is "
                              f"writing it (lock {lock}); wait for it to finish or choose "
                              "another folder") from None
        try:  # the holder we waited for may have removed the file: lock the current one
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd, lock
        except FileNotFoundError:
            pass
        os.close(fd)


def _fresh_sibling(target: Path, kind: str) -> Path:
    """Create an empty hidden sibling folder (permissions 0o777 minus the umask)."""
    while True:
        p = target.parent / f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(p)
            return p
        except FileExistsError:  # pragma: no cover - random name collision
            continue


@contextlib.contextmanager
def atomic_output_dir(
    target: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces ``target`` on success.

    Parameters
    ----------
    target
        Final output directory. It is checked and locked first (see the module docstring);
        missing parent folders are created.
    overwrite
        Also replace an existing non-empty folder that apopsim did not write (never the
        current directory, home, root or a folder holding a ``protect`` path).
    protect
        Input paths that must not be inside (or equal to) ``target``.

    On success the marker file :data:`MARKER` listing the written entries is added. On any
    exception (including ``KeyboardInterrupt``) the temporary directory is deleted and
    ``target`` is left exactly as it was. Raises :class:`OutputError` before anything is
    written if ``target`` is refused.
    """
    with reserve_output_dir(target, overwrite=overwrite, protect=protect) as t:
        with _HELD_LOCK:
            allowed = _HELD[t].overwrite if t in _HELD else overwrite
        check_output_dir(t, overwrite=allowed, protect=protect)
        _clean_stale(t)
        tmp = _fresh_sibling(t, "tmp")
        try:
            yield tmp
            files = sorted(p.name for p in tmp.iterdir())
            (tmp / MARKER).write_text(
                json.dumps({"apopsim_output": 1, "files": files}) + "\n", encoding="utf-8")
            if t.exists():
                old = _fresh_sibling(t, "old")
                os.replace(t, old / "d")
                os.replace(tmp, t)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, t)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be written as a file: its folder exists and it is not a folder.

    Raises :class:`OutputError` naming the missing folder; nothing is created.
    """
    p = Path(path).expanduser()
    folder = p.parent.resolve()
    if not folder.is_dir():
        raise OutputError(f"cannot write {p}: the folder {folder} does not exist "
                          "(create it first)")
    if p.is_dir():
        raise OutputError(f"cannot write {p}: it is a folder")
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename.

    The folder must exist (it is not created). The file gets permissions ``0o666`` minus the
    umask.
    """
    path = check_output_file(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cache_dir() -> Path:
    """apopsim's cache folder: ``$APOPSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/apopsim``, else
    ``~/.cache/apopsim``."""
    env = os.environ.get("APOPSIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "apopsim"


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf, also numpy floats) replaced by None,
    recursively through dicts, lists and tuples; numpy scalars and arrays become Python
    values (recognised by their ``tolist``/``item`` methods, so numpy is not imported here)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "shape"):  # numpy array or scalar
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def strict_json(obj: Any) -> str:
    """Strict JSON text (RFC 8259: no NaN or Infinity; non-finite floats become null; other
    non-JSON values such as paths become strings), indented by 2."""
    return json.dumps(json_safe(obj), indent=2, default=str, allow_nan=False)
