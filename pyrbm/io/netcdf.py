r"""The low-level file layer: atomic writes, provenance stamp, checksum, verified open, CF checks.

Every file pyrbm writes is a netCDF4 file holding an :class:`xarray.Dataset` whose ``schema``
attribute names its kind (:mod:`pyrbm.io` lists them). This module knows nothing of those
kinds and imports nothing from pyrbm but its constants (:mod:`pyrbm._meta`); the schema
modules above it build on these functions.

Conventions, checked by the ``validate`` of every kind:

* provenance: ``schema``, ``pyrbm_version``, ``created`` (ISO 8601, UTC) and
  ``Conventions = "CF-1.10"``, stamped by :func:`stamp` and nowhere else;
* every variable and coordinate has a ``long_name`` and ``units`` (CF). The ``long_name`` is
  short, the label a plot shows (``"singular value $\sigma$"``, matplotlib mathtext, at most
  26 characters so that xarray does not wrap it); pyrbm adds a ``description`` that says it in
  full. Attributes are ASCII: HDF5 stores any other string as a variable-length string on its
  global heap, where a damaged byte can crash the reader instead of failing its checks.
  pyrbm's quantities are dimensionless: ``units = "1"``. Energies, couplings and fields are
  measured in units of k_B T at beta = 1 (the scale in which the Boltzmann weight is
  ``exp(-beta E)``), log likelihoods in nats; both are ``"1"``, and the ``description`` says
  which. Words that are not units (``"energy"``, ``"nats"``, ``"binary"``, ``"spin"``,
  ``""``) are refused;
* ``mode`` coordinates are 1-based labels (``ds.sel(mode=1)`` is σ₁);
* integrity: every variable (also in the groups) is stored with the HDF5 Fletcher-32 filter,
  and the attribute ``checksum`` holds a SHA-256 digest of the whole content (every group's
  variables, their values, dims, dtypes and attributes, and the global attributes); each
  group carries its own ``checksum`` too. :func:`open_verified` opens the path once (a
  concurrent replacement cannot mix two files), verifies it and raises
  :class:`IntegrityError` naming the file on a mismatch, a missing checksum or unreadable bytes.

Atomic output
-------------
Atomic file output: write to a temporary name in the target directory, then move it in place.

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
import datetime as _dt
import errno
import fcntl
import functools
import hashlib
import os
import re
import signal
import threading
import time
import uuid
from numbers import Integral, Real
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr
from xarray.backends import NetCDF4DataStore

from .._meta import ENERGY_UNIT_NOTE, __version__

__all__ = ["NETCDF_LOCK", "checked", "netcdf_serialised", "check_writable", "atomic_path", "write_failed",
           "sweep_stale_temporaries", "STALE_AGE_S", "deferred_interrupt", "interrupt_at_safe_points",
           "Terminated", "TemporaryFile", "directory_lock", "CONVENTIONS", "CHECKSUM_ATTR", "IntegrityError",
           "stamp", "provenance_problems", "cf_problems", "mode_problems", "is_flat_attr", "ContentHash",
           "checksum", "with_group_checksum", "block_bytes", "encoding", "write", "check_existing", "kind_of",
           "open_verified", "read_group", "OLD_SCHEMAS", "refuse_old", "READ_ERRORS"]

CONVENTIONS = "CF-1.10"
CHECKSUM_ATTR = "checksum"
#: Attribute values that are not units; dimensionless quantities take ``units = "1"``.
NOT_UNITS = ("", "energy", "nats", "binary", "spin", "none", "dimensionless", "-")
#: Files of these schemas have the 0-based mode labels and no checksum of the first redesign.
OLD_SCHEMAS = ("pyrbm.trajectory/1", "pyrbm.history/1")
#: Records hashed per block when a lazily opened file is verified.
_BLOCK_BYTES = 16 << 20





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
    if len(os.fsencode(path.name)) > 200:
        raise ValueError(f"path: the file name {path.name[:40]!r}... is {len(os.fsencode(path.name))} bytes long; "
                         f"pyrbm writes beside it a temporary with a longer name, and file systems allow 255 "
                         f"bytes: choose a name of at most 200 bytes")
    link = path
    if os.path.islink(path):  # writing replaces the target, not the link
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise IsADirectoryError(f"path: {path} is a directory; give a file name such as {path / 'run.nc'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {path} exists; pass overwrite=True to replace it or choose another name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        via = f" (the target of the link {link})" if link != path else ""
        raise FileNotFoundError(f"path: directory {parent}{via} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"path: directory {parent} is not writable; choose another location")
    return link


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


@contextlib.contextmanager
def directory_lock(directory):
    """Hold an exclusive ``flock`` on ``directory`` (every commit of pyrbm into it takes this lock).

    Where the file system refuses locks on directories the block runs unlocked.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class TemporaryFile:
    """A locked temporary beside ``path``; :meth:`commit` moves it in place, :meth:`discard` removes it."""

    def __init__(self, path: Path, overwrite: bool):
        self.path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)  # a link: write its target
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

    def commit(self, verify=None) -> Path:
        """fsync, then, holding the directory lock (:func:`directory_lock`), ``verify()`` and move into place.

        ``verify`` (optional) raises if the target changed in a way that forbids replacing it
        (a continued run whose file another process replaced meanwhile). It runs after the
        fsync and under the same lock as the move, and every commit of pyrbm takes that lock,
        so no other commit can land between the check and the move.
        """
        self.check()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        with directory_lock(self.path.parent if str(self.path.parent) else Path(".")):
            self.check()
            if verify is not None:
                verify()
            self._move()
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

    def _move(self) -> None:
        if self.overwrite:
            os.replace(self.tmp, self.path)
            return
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's stop, ``kill``) received while :func:`interrupt_at_safe_points` was active.

    A :class:`KeyboardInterrupt`, so that what keeps a run's records on Ctrl-C keeps them on SIGTERM too.
    """


class PendingInterrupt:
    """Set by :func:`interrupt_at_safe_points` when SIGINT or SIGTERM arrives; :meth:`raise_` delivers it."""

    def __init__(self):
        self.signum = None

    @property
    def pending(self) -> bool:
        """True once a signal arrived."""
        return self.signum is not None

    def raise_(self) -> None:
        """Raise what the signal stands for: :class:`KeyboardInterrupt` or :class:`Terminated`."""
        if self.signum == signal.SIGTERM:
            raise Terminated("terminated by SIGTERM")
        raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_at_safe_points():
    """Turn SIGINT (Ctrl-C) and SIGTERM into a flag that the caller checks at its safe points.

    Yields a :class:`PendingInterrupt`; the caller checks ``.pending`` where its data are
    consistent (after a record), keeps them, then calls ``.raise_()``. A second Ctrl-C raises
    :class:`KeyboardInterrupt` at once. Handlers installed by the program (not Python's
    defaults) are left alone, and so is everything outside the main thread.
    """
    flag = PendingInterrupt()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.pending and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.signum = signum

    previous = {}
    try:
        for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(sig) is default:
                previous[sig] = signal.signal(sig, handler)
    except (ValueError, TypeError):  # not in the main interpreter
        pass
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def deferred_interrupt():
    """Hold back SIGINT (Ctrl-C) and SIGTERM during a file write; deliver them after the block.

    A KeyboardInterrupt inside the netCDF library calls would leave a half-appended record
    (some variables one step longer than others). Only the main thread can do this;
    elsewhere the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    except (ValueError, TypeError):  # not in the main interpreter
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            handler = previous[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL and sig == signal.SIGTERM:
                signal.raise_signal(sig)
            elif handler != signal.SIG_IGN:
                raise KeyboardInterrupt


class IntegrityError(ValueError):
    """A file's content does not match its checksum, or it cannot be read at all."""


# ----------------------------------------------------------------------------- provenance
def now() -> str:
    """The current time, ISO 8601 UTC to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def stamp(attrs: dict, schema: str) -> dict:
    """Add the missing provenance attributes: the one place they are made.

    ``schema``, ``pyrbm_version``, ``created`` (now) and ``Conventions`` are set when
    missing; a stale ``checksum`` is dropped (it is recomputed when written).
    """
    out = {k: v for k, v in attrs.items() if k != CHECKSUM_ATTR}
    out.setdefault("schema", schema)
    out.setdefault("pyrbm_version", __version__)
    out.setdefault("created", now())
    out.setdefault("Conventions", CONVENTIONS)
    return out


def provenance_problems(attrs: dict, schema: str) -> list[str]:
    """Missing or wrong provenance attributes."""
    problems = []
    missing = [k for k in ("schema", "pyrbm_version", "created", "Conventions") if k not in attrs]
    if missing:
        problems.append(f"missing required attribute(s) {missing}; pyrbm's save functions add them "
                        f"(schema={schema!r}, Conventions={CONVENTIONS!r})")
    if "schema" in attrs and attrs["schema"] != schema:
        problems.append(f"attribute 'schema' is {attrs['schema']!r}, expected {schema!r}")
    for key in ("pyrbm_version", "created", "Conventions"):
        if key in attrs and not isinstance(attrs[key], str):
            problems.append(f"attribute {key!r} must be a str, got {type(attrs[key]).__name__}")
    return problems


def cf_problems(ds: xr.Dataset, where: str = "") -> list[str]:
    """Variables or coordinates without a ``long_name`` or with a missing/invalid ``units``."""
    problems = []
    for name, var in ds.variables.items():
        what = f"{where}{'coordinate' if name in ds.coords else 'variable'} {name!r}"
        ln = var.attrs.get("long_name")
        if not isinstance(ln, str) or not ln.strip():
            problems.append(f"{what}: needs a 'long_name' attribute (what it is, in words)")
        units = var.attrs.get("units")
        if not isinstance(units, str):
            problems.append(f"{what}: needs a 'units' attribute ('1' for dimensionless quantities)")
        elif units.strip().lower() in NOT_UNITS:
            problems.append(f"{what}: units {units!r} is not a unit; use '1' for dimensionless quantities "
                            f"(energies: '1' with '{ENERGY_UNIT_NOTE}' in the description)")
    return problems


def mode_problems(ds: xr.Dataset) -> list[str]:
    """A ``mode`` coordinate must hold distinct 1-based integer labels."""
    if "mode" not in ds.coords:
        return []
    labels = np.asarray(ds["mode"].values)
    if labels.dtype.kind not in "iu" or labels.size and (labels.min() < 1 or len(set(labels.tolist())) != labels.size):
        return [f"coordinate 'mode' must hold distinct 1-based integer labels (mode=1 is sigma_1), "
                f"got {labels.tolist()[:8]}"]
    return []


# ----------------------------------------------------------------------------- checksum
def _canonical_attr(value) -> str:
    if isinstance(value, (str, bytes)):
        return "s:" + (value.decode() if isinstance(value, bytes) else value)
    if isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return f"i:{int(value)}"
    if isinstance(value, (Real, np.floating)):
        return "f:" + float(value).hex()
    return "r:" + repr(np.asarray(value).tolist())


def _header(name: str, var: xr.Variable, shape) -> bytes:
    kind = "str" if var.dtype.kind in "OUS" else var.dtype.str
    attrs = ";".join(f"{k}={_canonical_attr(v)}" for k, v in sorted(var.attrs.items()))
    return f"{name}|{','.join(var.dims)}|{kind}|{tuple(shape)}|{attrs}".encode()


def block_bytes(values: np.ndarray, dims) -> bytes:
    """Canonical bytes of a block of a variable: ``step`` first, C order (strings joined)."""
    values = np.asarray(values)
    if "step" in dims:
        values = np.moveaxis(values, list(dims).index("step"), 0)
    if values.dtype.kind in "OUS":
        return "\x1f".join(str(x) for x in values.ravel()).encode()
    return np.ascontiguousarray(values).tobytes()


def _blocks(var: xr.Variable):
    if "step" not in var.dims or getattr(var, "_in_memory", True):
        yield var.values
        return
    per = max(1, var.dtype.itemsize * int(np.prod([s for d, s in var.sizes.items() if d != "step"])))
    n = max(1, _BLOCK_BYTES // per)
    for i in range(0, var.sizes["step"], n):
        yield var.isel(step=slice(i, i + n)).values


class ContentHash:
    """The checksum of a file's content, fed group by group (streams feed ``step`` blocks)."""

    def __init__(self):
        self._entries: dict[str, bytes] = {}

    def add_dataset(self, group: str, ds: xr.Dataset, data_digests: dict | None = None,
                    keep: dict | None = None) -> None:
        """Hash ``ds`` (stored as ``group``; ``""`` is the root).

        ``data_digests`` are digests of values hashed elsewhere (streamed); ``keep`` receives
        the hash objects of the ``step`` variables, to be fed more records (a continued run).
        """
        data_digests = data_digests or {}
        attrs = ";".join(f"{k}={_canonical_attr(v)}" for k, v in sorted(ds.attrs.items()) if k != CHECKSUM_ATTR)
        self._entries[f"{group}/"] = attrs.encode()
        for name, var in ds.variables.items():
            if name in data_digests:
                digest = data_digests[name]
            else:
                h = hashlib.sha256()
                for block in _blocks(var):
                    h.update(block_bytes(block, var.dims))
                digest = h.digest()
                if keep is not None and "step" in var.dims:
                    keep[name] = h
            self._entries[f"{group}/{name}"] = _header(name, var, var.shape) + b"|" + digest

    def hexdigest(self) -> str:
        h = hashlib.sha256()
        for key in sorted(self._entries):
            h.update(key.encode() + b"\x00" + self._entries[key] + b"\x00")
        return "sha256:" + h.hexdigest()


def checksum(groups: dict) -> str:
    """The checksum of ``{group name ("" = root): Dataset}``."""
    ch = ContentHash()
    for name, ds in groups.items():
        ch.add_dataset(name, ds)
    return ch.hexdigest()


def with_group_checksum(name: str, ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its own ``checksum`` attribute, so that the group can be verified alone."""
    ds = ds.copy(deep=False)
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != CHECKSUM_ATTR}
    ds.attrs[CHECKSUM_ATTR] = checksum({name: ds})
    return ds


# ----------------------------------------------------------------------------- writing
def encoding(ds: xr.Dataset, *, compress: bool = True, chunks: dict | None = None) -> dict:
    """netCDF encoding: Fletcher-32 on every variable with dims, zlib when ``compress``.

    ``chunks`` maps a variable name to its chunk sizes.
    """
    enc = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "iufb":
            continue
        e = {}
        if var.ndim:
            e["fletcher32"] = True
        if compress and (name not in ds.dims or chunks):
            e.update(zlib=True, complevel=4)
        if chunks and name in chunks:
            e["chunksizes"] = chunks[name]
        enc[name] = e
    return enc


def _clean(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy(deep=False)
    for var in ds.variables.values():
        var.encoding = {}
    ds.encoding = {}
    return ds


@netcdf_serialised
def write(path, groups: dict, *, overwrite: bool = False, compress: bool = True) -> Path:
    """Write ``{group ("" = root): Dataset}`` atomically, with the checksum and Fletcher-32.

    The datasets must be prepared (stamped, validated) by the caller. Raises
    :class:`OSError` naming ``path`` when the write fails (full disk, ...), and
    :class:`FileExistsError` when another process created ``path`` meanwhile
    (``overwrite=False``).
    """
    path = check_writable(path, overwrite)
    groups = {name: _clean(ds) if not name else with_group_checksum(name, _clean(ds)) for name, ds in groups.items()}
    root = groups[""]
    root.attrs[CHECKSUM_ATTR] = checksum(groups)
    handle = TemporaryFile(path, overwrite)
    try:
        try:
            root.to_netcdf(handle.tmp, mode="w", format="NETCDF4", engine="netcdf4",
                           encoding=encoding(root, compress=compress))
            handle.created()
            for name, ds in groups.items():
                if name:
                    handle.check()
                    ds.to_netcdf(handle.tmp, mode="a", group=name, engine="netcdf4",
                                 encoding=encoding(ds, compress=False))
        except (FileNotFoundError, FileExistsError):
            raise
        except (OSError, RuntimeError) as exc:
            raise write_failed(path, exc, handle.tmp) from exc
        handle.commit()
    finally:
        handle.release()
    return Path(path)


# ----------------------------------------------------------------------------- reading
def check_existing(path) -> Path:
    """``path`` as a :class:`~pathlib.Path` after checking that it names an existing file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {path}; check the name (pyrbm files are written by pyrbm.save)")
    return path


#: What the netCDF/HDF5 libraries and xarray raise on bytes they cannot read.
READ_ERRORS = (OSError, RuntimeError, ValueError, KeyError, IndexError, TypeError, OverflowError, AttributeError,
               UnicodeDecodeError)


def _damaged(path, exc) -> IntegrityError:
    return IntegrityError(f"path: cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged or "
                          f"not a netCDF4 file written by pyrbm; restore it from a copy or write it again")


def refuse_old(path, schema):
    raise ValueError(
        f"path: {path} is a {schema!r} file, written by pyrbm before mode labels became 1-based and "
        f"files carried checksums; this pyrbm reads only '/2' files. Read it with "
        f"xarray.open_dataset(path) (add 1 to ds['mode'] for 1-based labels), then pyrbm.save it again")


def _open(path) -> netCDF4.Dataset:
    try:
        return netCDF4.Dataset(path, "r")
    except READ_ERRORS as exc:
        raise _damaged(path, exc) from exc


@netcdf_serialised
def kind_of(path) -> tuple[str | None, list[str]]:
    """The ``schema`` attribute of a file and the names of its groups."""
    path = check_existing(path)
    nc = _open(path)
    try:
        schema = nc.getncattr("schema") if "schema" in nc.ncattrs() else None
        return (schema if isinstance(schema, str) else None), list(nc.groups)
    except READ_ERRORS as exc:
        raise _damaged(path, exc) from exc
    finally:
        nc.close()


def _close_once(nc: netCDF4.Dataset) -> None:
    """Close ``nc`` if it is still open (``ds.close()`` may be called any number of times)."""
    with NETCDF_LOCK:
        if nc.isopen():
            nc.close()


def _group_dataset(nc: netCDF4.Dataset, group: str) -> xr.Dataset:
    """A group of an open file, read into memory (the file stays open)."""
    store = NetCDF4DataStore(nc, group=group)
    return xr.open_dataset(store).load()


@netcdf_serialised
def open_verified(path, *, lazy: bool, verify: bool, schema: str | None = None, groups=(),
                  keep: dict | None = None) -> xr.Dataset:
    """Open a pyrbm file once, verify its checksum, strip the ``checksum`` attribute.

    The path is opened once and everything (schema, groups, root) is read through that one
    handle, so a file replaced meanwhile by another process is read whole, old or new, never
    mixed. The checksum goes to ``ds.encoding["checksum"]``; ``ds.encoding["source"]`` is the
    file. ``groups`` names groups to return too, in ``ds.attrs``-free form as
    ``ds.encoding["groups"][name]`` (each verified against its own checksum as well).
    ``keep`` receives the hash objects of the ``step`` variables (:meth:`ContentHash.add_dataset`).

    Raises
    ------
    IntegrityError
        The file cannot be read, lacks its checksum or does not match it.
    ValueError
        ``schema`` is given and the file has another one, or a group asked for is missing.
    """
    path = check_existing(path)
    nc = _open(path)
    try:
        try:
            file_schema = nc.getncattr("schema") if "schema" in nc.ncattrs() else None
            names = list(nc.groups)
            if file_schema in OLD_SCHEMAS:
                refuse_old(path, file_schema)
            if schema is not None and file_schema != schema:
                raise ValueError(f"path: {path} has schema {file_schema!r}, expected {schema!r}; "
                                 f"pyrbm.load(path) reads every kind of pyrbm file")
            missing = [g for g in groups if g not in names]
            if missing:
                raise ValueError(f"path: {path} has no {missing[0]!r} group")
            ds = xr.open_dataset(NetCDF4DataStore(nc), cache=not lazy)
            if not lazy:
                ds.load()
            stored = ds.attrs.get(CHECKSUM_ATTR)
            parts = {g: _group_dataset(nc, g) for g in names}
            if verify:
                if stored is None:
                    raise IntegrityError(f"path: {path} has no {CHECKSUM_ATTR!r} attribute, which every "
                                         f"{file_schema} file carries; it is damaged or was not written by pyrbm")
                ch = ContentHash()
                ch.add_dataset("", ds, keep=keep)
                for g, gds in parts.items():
                    ch.add_dataset(g, gds)
                if ch.hexdigest() != stored:
                    raise IntegrityError(
                        f"path: {path} does not match its checksum: the file was damaged after it was "
                        f"written (disk, transfer or a later edit); restore it from a copy or write it again")
        except (IntegrityError, ValueError) as exc:
            if type(exc) is ValueError and not str(exc).startswith("path:"):
                raise _damaged(path, exc) from exc
            raise
        except READ_ERRORS as exc:
            raise _damaged(path, exc) from exc
    except BaseException:
        nc.close()
        raise
    ds.set_close(functools.partial(_close_once, nc))
    if not lazy:
        _close_once(nc)
    ds.attrs.pop(CHECKSUM_ATTR, None)
    ds.encoding["source"] = str(path)
    if stored is not None:
        ds.encoding[CHECKSUM_ATTR] = stored
    out = {}
    for g in groups:
        gds = parts[g]
        own = gds.attrs.pop(CHECKSUM_ATTR, None)
        if verify and (own is None or checksum({g: gds}) != own):
            raise IntegrityError(f"path: the group {g!r} of {path} lacks its checksum or does not match it: the "
                                 f"file was damaged after it was written; restore it from a copy or write it again")
        out[g] = gds
    ds.encoding["groups"] = out
    return ds


def read_group(path, group: str, hint: str = "") -> xr.Dataset:
    """A group of a pyrbm file, in memory; the whole file and the group verified (:func:`open_verified`)."""
    try:
        ds = open_verified(path, lazy=True, verify=True, groups=(group,))
    except ValueError as exc:
        if f"has no {group!r} group" in str(exc) and hint:
            raise ValueError(f"{exc}; {hint}") from None
        raise
    ds.close()
    return ds.encoding["groups"][group]


def checked(ds, schema: str, problems_of) -> xr.Dataset:
    """Return ``ds`` if ``problems_of(ds)`` lists nothing, else raise ``ValueError`` listing every problem.

    The one shape of every schema's ``validate``: a ``TypeError`` for anything but a Dataset,
    then all of the schema's problems in one message.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    problems = problems_of(ds)
    if problems:
        raise ValueError(f"ds: not a valid {schema} dataset ({len(problems)} problem(s)):\n  - "
                         + "\n  - ".join(problems))
    return ds


def is_flat_attr(value) -> bool:
    """True for the attribute values netCDF stores as they are: str, int, float (not bool)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (str, Integral, Real, np.integer, np.floating))
