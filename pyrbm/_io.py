"""Atomic file output: write to a temporary name in the target directory, then move it in place.

A process killed at any moment leaves either the previous file or the new one, never a
half-written file under the final name.  Four guarantees, each against a way data was lost:

* **No silent replacement.**  With ``overwrite=False`` the temporary is *linked* to the final
  name (``os.link`` fails with :class:`FileExistsError` when the name exists), so of two
  processes racing for the same name exactly one wins and the other gets the error; the
  existence check before any work is only an early courtesy.
* **No silent loss of the temporary.**  Each writer holds an exclusive ``flock`` on a lock
  file beside its temporary (``<temporary>.lock``) for as long as it writes; the sweep of
  stale temporaries removes a temporary only when it can take that lock itself, i.e. when
  no live process holds it — whatever the PID namespace, and across NFS clients (Linux maps
  ``flock`` to NFS locks).  A temporary without a lock file is removed only when older than
  :data:`STALE_AGE_S`.  Before moving a temporary into place the writer checks that the file
  at the temporary name is still the one it created (same inode) and raises
  :class:`FileNotFoundError` naming both paths if not.
* **Errors name the file and free the space.**  :func:`write_failed` turns a bare
  ``RuntimeError: NetCDF: HDF error`` or ``OSError(ENOSPC)`` into an :class:`OSError` naming
  the target, and the temporary is truncated before it is unlinked, so its blocks are
  released even if a library still holds a handle on it.
* **Serialised library access.**  The HDF5/netCDF-C libraries are not thread-safe: pyrbm
  serialises its own file access through :data:`NETCDF_LOCK`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path

__all__ = ["NETCDF_LOCK", "netcdf_serialised", "check_writable", "atomic_path", "write_failed",
           "sweep_stale_temporaries", "STALE_AGE_S", "deferred_interrupt"]

#: The HDF5/netCDF-C libraries are not thread-safe: pyrbm serialises its own file access.
NETCDF_LOCK = threading.RLock()

#: A temporary without a lock file (left by an older pyrbm) is removed only after this many seconds.
STALE_AGE_S = 7 * 24 * 3600.0


def netcdf_serialised(func):
    """Run ``func`` holding :data:`NETCDF_LOCK` (threads of one process, e.g. dask workers)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with NETCDF_LOCK:
            return func(*args, **kwargs)

    return wrapper


def check_writable(path, overwrite: bool = False) -> Path:
    """Check that ``path`` can be written, before any work is done.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    PermissionError, FileNotFoundError
        the parent directory is missing or not writable.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path: {path} is a directory; give a file name such as {path / 'run.nc'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {path} exists; pass overwrite=True to replace it or choose another name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"path: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"path: directory {parent} is not writable; choose another location")
    return path


def temporary_name(path: Path) -> Path:
    """A unique temporary file name beside ``path`` (same file system, so rename is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}(?P<lock>\.lock)?$")


def _remove_if_unlocked(tmp: str, lock: str) -> None:
    """Remove ``tmp`` and its lock file if no process holds the lock."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a live writer (or locks unsupported): leave it
        os.close(fd)
        return
    try:
        _discard(Path(tmp))
        with contextlib.suppress(OSError):
            os.remove(lock)
    finally:
        os.close(fd)


def sweep_stale_temporaries(path: Path) -> None:
    """Remove temporary files for ``path`` left by writers that no longer run.

    A process killed hard (SIGKILL, power loss) cannot clean up after itself; its
    temporary is removed by the next atomic write to the same path.  A temporary is
    removed only if its lock file can be locked (its writer is gone), or, lacking a lock
    file, if it is older than :data:`STALE_AGE_S`.  PIDs are never trusted: they say
    nothing about processes in another PID namespace or on another node.
    """
    parent = path.parent if str(path.parent) else Path(".")
    with contextlib.suppress(OSError):
        names = {entry.name for entry in os.scandir(parent)}
        for name in names:
            m = _TMP_RE.match(name)
            if not m or m.group("name") != path.name:
                continue
            full = os.path.join(parent, name)
            if m.group("lock"):
                data = name[: -len(".lock")]
                if data not in names:  # writer killed before it created its temporary
                    with contextlib.suppress(OSError):
                        if time.time() - os.stat(full).st_mtime > 60:
                            _remove_if_unlocked(full + ".absent", full)
                continue
            if name + ".lock" in names:
                _remove_if_unlocked(full, full + ".lock")
            else:
                with contextlib.suppress(OSError):
                    if time.time() - os.stat(full).st_mtime > STALE_AGE_S:
                        _discard(Path(full))


def _discard(tmp: Path) -> None:
    """Truncate then unlink: the blocks are freed even if a library still holds a handle."""
    with contextlib.suppress(OSError):
        os.truncate(tmp, 0)
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)


def write_failed(path, exc: BaseException, tmp=None) -> OSError:
    """An :class:`OSError` naming ``path`` for a failed write (raise it ``from exc``).

    netCDF reports a full disk or quota as ``RuntimeError: NetCDF: HDF error`` without
    errno or file name; this names the target, the temporary (already removed by the
    caller) and what to do.
    """
    code = getattr(exc, "errno", None) or errno.EIO
    where = f" (temporary {tmp}, removed)" if tmp is not None else ""
    hint = ("the disk or quota is full: free space and run again"
            if code in (errno.ENOSPC, errno.EDQUOT) else
            "a full disk or quota, a failing device or a removed directory gives this error; "
            "free space or check the device and run again")
    err = OSError(code, f"writing {path} failed{where}: {type(exc).__name__}: {exc}; {path} is unchanged; {hint}")
    err.filename = str(path)
    return err


class TemporaryFile:
    """A locked temporary beside ``path``; :meth:`commit` moves it in place, :meth:`discard` removes it."""

    def __init__(self, path: Path, overwrite: bool):
        self.path = Path(path)
        self.overwrite = overwrite
        sweep_stale_temporaries(self.path)
        self.tmp = temporary_name(self.path)
        self.lock = Path(str(self.tmp) + ".lock")
        self._lock_fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        with contextlib.suppress(OSError):  # no lock support: the sweep can never lock it either
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._inode = None

    def created(self) -> None:
        """Record the identity of the temporary once the library has created it."""
        self._inode = os.stat(self.tmp).st_ino

    def check(self) -> None:
        """Raise :class:`FileNotFoundError` if the temporary was removed or replaced by another process."""
        try:
            ino = os.stat(self.tmp).st_ino
            same = self._inode is None or ino == self._inode
        except FileNotFoundError:
            same = False
        if not same:
            raise FileNotFoundError(
                errno.ENOENT,
                f"the temporary file of {self.path} was removed or replaced by another process while "
                f"being written; what was written is lost and {self.path} is unchanged; write again "
                f"(and do not clean the directory while pyrbm writes to it)", str(self.tmp))

    def commit(self) -> Path:
        """fsync, check, then move into place (``os.link`` + unlink when not overwriting)."""
        self.check()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if self.overwrite:
            os.replace(self.tmp, self.path)
        else:
            try:
                os.link(self.tmp, self.path)
            except FileExistsError:
                raise FileExistsError(
                    errno.EEXIST, f"path: {self.path} was created by another process while this one wrote; "
                    f"nothing was replaced and what this process wrote is discarded; pass overwrite=True "
                    f"to replace it or choose another name", str(self.path)) from None
            except OSError as exc:  # no hard links on this file system: best effort
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                if self.path.exists():
                    raise FileExistsError(errno.EEXIST, f"path: {self.path} was created by another process "
                                          f"while this one wrote; pass overwrite=True", str(self.path)) from None
                os.replace(self.tmp, self.path)
            else:
                os.remove(self.tmp)
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self.release()
        return self.path

    def release(self) -> None:
        """Remove the temporary (if still there) and the lock."""
        if self._lock_fd is None:
            return
        if self.tmp.exists() and (self._inode is None or os.stat(self.tmp).st_ino == self._inode):
            _discard(self.tmp)
        with contextlib.suppress(OSError):
            os.remove(self.lock)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        self._lock_fd = None

    discard = release


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = False):
    """Yield a temporary path; on success move it to ``path`` (see the module docstring).

    On an exception the temporary is removed and any existing ``path`` is untouched;
    ``OSError`` and ``RuntimeError`` (netCDF's "HDF error") from the block are re-raised
    as an :class:`OSError` naming ``path`` (:func:`write_failed`).

    Examples
    --------
    >>> with atomic_path("run.nc", overwrite=True) as tmp:   # doctest: +SKIP
    ...     ds.to_netcdf(tmp)
    """
    path = check_writable(path, overwrite)
    handle = TemporaryFile(path, overwrite)
    try:
        try:
            yield handle.tmp
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, (FileExistsError, FileNotFoundError, IsADirectoryError, PermissionError)):
                raise
            raise write_failed(path, exc, handle.tmp) from exc
        handle.commit()
    finally:
        handle.release()


@contextlib.contextmanager
def deferred_interrupt():
    """Hold back SIGINT (Ctrl-C) during a file write; re-raise it as KeyboardInterrupt after.

    A KeyboardInterrupt inside the netCDF library calls would leave a half-appended record
    (some variables one step longer than others). Only the main thread can do this;
    elsewhere the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except (ValueError, TypeError):  # not in the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)
        elif caught and previous != signal.SIG_IGN:
            raise KeyboardInterrupt
