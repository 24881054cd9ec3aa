"""Atomic file output: write to a temporary name in the target directory, then rename.

A process killed at any moment leaves either the previous file or the new one, never a
half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import uuid
from pathlib import Path


#: The HDF5/netCDF-C libraries are not thread-safe: pyrbm serialises its own file access.
NETCDF_LOCK = threading.RLock()


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


_TMP_RE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}$")


def sweep_stale_temporaries(path: Path) -> None:
    """Remove temporary files for ``path`` left by processes that no longer exist.

    A process killed hard (SIGKILL, power loss) cannot clean up after itself; its
    temporary file is removed by the next atomic write to the same path.
    """
    parent = path.parent if str(path.parent) else Path(".")
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            m = _TMP_RE.match(entry.name)
            if not m or m.group("name") != path.name or int(m.group("pid")) == os.getpid():
                continue
            try:
                os.kill(int(m.group("pid")), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    os.remove(entry.path)
            except OSError:
                pass


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = False):
    """Yield a temporary path; on success fsync it and rename it to ``path``.

    On an exception the temporary file is removed and any existing ``path`` is untouched;
    temporaries of ``path`` left by killed processes are removed first.

    Examples
    --------
    >>> with atomic_path("run.nc", overwrite=True) as tmp:   # doctest: +SKIP
    ...     ds.to_netcdf(tmp)
    """
    path = check_writable(path, overwrite)
    sweep_stale_temporaries(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
