"""Atomic outputs and output locks: readers see the old state or the new one, never half of one.

The one place where the project writes files and folders (bottom floor, so
every package uses it):

* :func:`atomic_open` / :func:`atomic_write_bytes` / :func:`atomic_write_text`:
  a file is written to a temporary sibling, synced and renamed onto its name.
* :func:`atomic_directory`: a folder is built as a temporary sibling and
  swapped into place as a unit (on Linux one atomic exchange of the two
  names); an existing folder is replaced only when the caller's
  ``replaceable`` check says it holds an output of ours
  (:func:`holds_only` builds that check from the names an output consists of).
* :func:`output_lock`: one writer per output (a table, a result folder); a
  second one is refused with the holder's pid.  A lock whose process is gone
  (same host, pid not running) is stale and taken over.
* :func:`check_writable`: refuse an output location before any work starts.

Temporary names carry the writer's pid (``.<name>.<pid>.<host>.<random>.tmp``),
so a writer killed without a chance to clean up (``SIGKILL``, power loss)
leaves a file the next writer of the same name removes.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO

__all__ = [
    "OutputLockedError",
    "atomic_directory",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_replaceable",
    "check_writable",
    "holds_only",
    "output_lock",
]

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


class OutputLockedError(RuntimeError):
    """Another live process holds the lock of an output (``pid``, ``lock_path`` say which)."""

    def __init__(self, target: Path, lock_path: Path, holder: dict):
        self.target, self.lock_path, self.pid = target, lock_path, holder.get("pid")
        since = holder.get("started")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "?"
        where = "" if holder.get("host") == _HOST else f" on another host ({holder.get('hostname', '?')})"
        super().__init__(f"{target} is in use by pid {self.pid}{where} since {started} "
                         f"({holder.get('what', 'ofa-hw')}); wait for it to finish, or delete {lock_path} if that "
                         "process is gone")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _temp_prefix(name: str) -> str:
    return f".{name}.{os.getpid()}.{_HOST}."


def _sweep_stale_temps(folder: Path, name: str) -> None:
    """Remove temporaries of ``name`` left in ``folder`` by writers of this host that no longer run."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.{_HOST}\..*\.tmp")
    try:
        candidates = list(folder.iterdir())
    except OSError:
        return
    for path in candidates:
        match = pattern.fullmatch(path.name)
        if match and not _pid_alive(int(match.group(1))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike, *, what: str = "output") -> Path:
    """Raise ``PermissionError`` unless ``path`` (file or folder, existing or not) can be written.

    Checks the nearest existing ancestor: it must be a folder this process
    may create entries in; an existing ``path`` must itself be writable.
    Called before long work, so a read-only location fails in a second,
    not after the search.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> check_writable(pathlib.Path(tempfile.mkdtemp()) / "new" / "result.json").name
    'result.json'
    """
    path = Path(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{what} {path} is not writable (permissions); choose another location")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"{what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path}: folder {parent} is not writable; choose another location")
    return path


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it is synced and renamed onto ``path``.

    An exception inside the ``with`` block (or an interruption) removes the
    temporary file and leaves ``path`` as it was.  The file is made
    world-readable (``mkstemp`` creates 0600): reports and data are meant to be shared.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_open(target, "w") as handle:
    ...     _ = handle.write("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    if path.is_dir():  # else os.replace fails at the end, naming the temporary file
        raise IsADirectoryError(f"cannot write the file {path}: it is a folder; give a file path inside or beside it")
    created = _make_parents(path.parent)
    _sweep_stale_temps(path.parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        _remove_empty(created)
        raise


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing ancestors; return the ones created, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Undo :func:`_make_parents` after a failed write: a failure leaves no empty folders behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, line ends as given) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return Path(path)


@contextmanager
def atomic_directory(path: str | os.PathLike, *, replaceable: Callable[[Path], str | None] | None = None,
                     what: str = "output folder", locked: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling; on success swap it into place as a unit.

    Parameters
    ----------
    path : path
        The folder to create or replace.
    replaceable : callable, optional
        ``replaceable(path)`` returns None when an existing ``path`` may be
        replaced (it holds an output of ours), else the reason it may not.
        Without it an existing ``path`` is never replaced.
    what : str
        Names the output in messages.
    locked : bool
        The caller already holds :func:`output_lock` of ``path`` (a search
        locks its output folder for the whole run); otherwise it is taken here.

    The check runs before the block (nothing is built for an output that
    could not be moved into place) and again just before the swap; the
    folder's :func:`output_lock` is held throughout, so a second writer of
    the same folder is refused instead of racing this one.  An
    exception in the block removes the temporary folder and leaves ``path``
    as it was; the old folder is deleted only after the new one is in place.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with atomic_directory(target) as tmp:
    ...     _ = (tmp / "a.txt").write_text("1")
    >>> sorted(p.name for p in target.iterdir())
    ['a.txt']
    """
    path = check_replaceable(path, replaceable=replaceable, what=what)
    with nullcontext() if locked else output_lock(path, what=what):
        _sweep_stale_temps(path.parent, path.name)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent))
        try:
            yield tmp
            os.chmod(tmp, 0o755)
            reason = _refuse_reason(path, replaceable)
            if reason is not None:
                raise FileExistsError(f"{what} {path} changed while it was written and was not replaced: {reason}")
            _swap_into_place(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _refuse_reason(path: Path, replaceable: Callable[[Path], str | None] | None) -> str | None:
    if not (path.exists() or path.is_symlink()):
        return None
    if path.is_symlink():  # replacing it would swap the link, not what it points at: a user's folder kept apart
        return f"it is a symbolic link (to {os.readlink(path)}), not a folder; give a folder's own path"
    if not path.is_dir():
        return "it is not a folder"
    return "it exists" if replaceable is None else replaceable(path)


def check_replaceable(path: str | os.PathLike, *, replaceable: Callable[[Path], str | None] | None = None,
                      what: str = "output folder") -> Path:
    """Raise unless :func:`atomic_directory` could create or replace ``path`` (see there); nothing is written."""
    path = Path(path)
    reason = _refuse_reason(path, replaceable)
    if reason is not None:
        raise FileExistsError(f"{what} {path} was not replaced: {reason}")
    return check_writable(path, what=what)


def _ours(name: str) -> bool:
    """A lock or a temporary of this module (they belong to the output they sit in, never to the user)."""
    return name.startswith(".") and (name.endswith(".lock") or name.endswith(".tmp"))


def holds_only(names: Iterable[str], *, required: Iterable[str] = (), suffix: str | None = None,
               what: str = "an ofa-hw output") -> Callable[[Path], str | None]:
    """The ``replaceable`` check of an output made of ``names``: an empty folder, or one of ours.

    The returned check passes a folder that is empty or whose entries are all
    in ``names`` or end with ``suffix`` (besides this module's locks and
    temporaries) and include every name in ``required``; otherwise it returns the reason, naming the
    first foreign entries, so a folder of the user's is never swapped away.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check = holds_only({"report.html", "plot.png"}, required={"report.html"}, what="a report")
    >>> check(folder) is None
    True
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> check(folder)
    'it holds files that are not part of a report (notes.txt); choose an empty or new folder'
    """
    allowed, needed = frozenset(names), frozenset(required)

    def check(path: Path) -> str | None:
        present = {p.name for p in path.iterdir() if not _ours(p.name)}
        if not present:
            return None
        foreign = sorted(name for name in present - allowed if suffix is None or not name.endswith(suffix))
        if foreign:
            listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            return f"it holds files that are not part of {what} ({listed}); choose an empty or new folder"
        missing = sorted(needed - present)
        if missing:
            return (f"it holds no {', '.join(missing)}, so it is not {what} of ours; "
                    "choose an empty or new folder")
        return None

    return check


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    rename = getattr(_libc(), "renameat2", None)
    if rename is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if rename(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # no such call, or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(b))


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _swap_into_place(tmp: Path, path: Path) -> None:
    if not path.exists():
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):  # the new folder is in place; the previous one now sits under the temporary name
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # Elsewhere: two renames a moment apart (the previous folder set aside, then the new one moved in).
    old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent))
    os.rename(path, old / "previous")
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old / "previous", path)  # put the previous folder back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _read_holder(lock: Path) -> dict | None:
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@contextmanager
def output_lock(target: str | os.PathLike, *, what: str = "ofa-hw") -> Iterator[Path]:
    """Hold the lock of output ``target`` (a file or folder) for the ``with`` block.

    The lock is a file ``.<name>.lock`` beside ``target`` holding the owner's
    pid, host and start time, created exclusively.  A second writer gets
    :class:`OutputLockedError` naming the pid.  Stale-lock rule: a lock of
    this host whose pid no longer runs (or an unreadable lock older than a
    minute) is removed and taken over; a lock of another host is never
    guessed stale.  The folders made to hold the lock are removed again if
    the block leaves them empty: a run that fails before writing leaves
    nothing behind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> table = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> with output_lock(table) as lock:
    ...     lock.exists()
    True
    >>> lock.exists()
    False
    """
    target = Path(target)
    lock = _lock_path(target)
    created = _missing_folders(lock.parent)
    me = {"pid": os.getpid(), "host": _HOST, "hostname": socket.gethostname(), "started": time.time(), "what": what}
    vanished = False
    for _ in range(3):
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileNotFoundError:  # another run removed the empty folder it had made: make it again
            vanished = True
            continue
        except FileExistsError:
            holder = _read_holder(lock)
            if holder is None:
                continue  # released meanwhile
            if _stale(lock, holder):
                lock.unlink(missing_ok=True)
                continue
            raise OutputLockedError(target, lock, holder) from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        break
    else:
        if vanished:  # a folder that takes no new files (/proc, a pseudo file system), not a lock held
            raise FileNotFoundError(errno.ENOENT, f"cannot create files in {lock.parent} (the lock {lock.name} "
                                    f"of {target.name} could not be made); choose another location", str(target))
        raise OutputLockedError(target, lock, _read_holder(lock) or {})
    try:
        yield lock
    finally:
        if (_read_holder(lock) or {}).get("pid") == me["pid"]:
            lock.unlink(missing_ok=True)
        _remove_if_empty(created)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: a run that wrote nothing leaves no folder behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (the run's output, or another run's lock), or gone
            return


def _stale(lock: Path, holder: dict) -> bool:
    pid = holder.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        try:
            return time.time() - lock.stat().st_mtime > 60
        except FileNotFoundError:
            return True
    return holder.get("host") == _HOST and not _pid_alive(pid)
