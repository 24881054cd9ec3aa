"""What runs on a worker: one point, in a private temporary directory, renamed into place.

The protocol that makes a scan safe to kill at any moment:

1. the point runs in ``root/.tmp@<host>@<pid>@<random>@<name>`` (``params.json`` first);
2. its result file, ``status.json`` and, on failure, ``error.txt`` (the traceback) are
   written there;
3. the directory is renamed to ``root/<name>`` (one atomic ``rename``; a failed attempt
   left by an earlier run is moved aside first and deleted).

A point is done when ``root/<name>/result.nc`` exists, so a rerun never sees half a result;
temporaries of processes that no longer exist are removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pickle
import shutil
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path

import numba
import xarray as xr

from ..io.netcdf import atomic_path, write
from .points import RESULT

__all__ = ["execute", "init_process", "ready", "limit_threads", "record_failure", "runner_lock", "TMP_PREFIX",
           "TRASH_PREFIX", "LOCK_NAME"]

TMP_PREFIX = ".tmp@"
TRASH_PREFIX = ".trash@"
#: The file a runner locks while it runs a scan (removed when it finishes).
LOCK_NAME = ".runner.lock"
#: Seconds between a worker's checks that the runner that started it is alive.
PARENT_POLL_S = 0.5
#: Inputs (and the point function) of this worker process, set once by :func:`init_process`.
_PROCESS: dict = {}


def host() -> str:
    return socket.gethostname().replace("@", "_")


def write_json(path: Path, obj, sort_keys: bool = True) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=1, sort_keys=sort_keys) + "\n")


@contextlib.contextmanager
def limit_threads(threads: int | None):
    """numba and BLAS threads of this process capped at ``threads`` for the block (None: unchanged)."""
    if threads is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        ctx = contextlib.nullcontext()
    else:
        ctx = threadpool_limits(int(threads))
    try:
        with ctx:
            yield
    finally:
        numba.set_num_threads(old)


def _watch_parent(runner: int) -> None:
    """End this worker process as soon as the runner that started it is gone (SIGKILL, crash)."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != runner:
            os._exit(1)


def init_process(threads: int, payload: bytes, runner: int) -> None:
    """Pool initializer: thread caps for the worker's lifetime, the point function and inputs once,
    and a watch that ends the worker with its runner (pid ``runner``): no orphan goes on computing."""
    threading.Thread(target=_watch_parent, args=(runner,), name="pyrbm-parent-watch", daemon=True).start()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    _PROCESS.update(pickle.loads(payload))
    _PROCESS["threads"] = threads


def ready() -> int:
    """A task that only proves the pool started (its pid)."""
    return os.getpid()


@contextlib.contextmanager
def runner_lock(root: Path):
    """Hold ``root/.runner.lock`` for the block; refuse (``RuntimeError``) while another runner holds it."""
    path = Path(root) / LOCK_NAME
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            who = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise RuntimeError(f"root: another runner ({who}) is running the scan in {root}; wait until it "
                               f"finishes, or stop it first: two runners would run the same points") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file that the previous holder removed meanwhile
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {host()}".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
        os.close(fd)


def record_failure(root, name: str, params: dict, error: str) -> None:
    """Record a point whose worker could not report itself (it died): ``error.txt`` and ``status.json``."""
    root = Path(root)
    tmp = root / f"{TMP_PREFIX}{host()}@{os.getpid()}@{uuid.uuid4().hex[:8]}@{name}"
    tmp.mkdir(parents=True)
    write_json(tmp / "params.json", params)
    (tmp / "error.txt").write_text(f"{error}\n(the worker process running this point ended without a "
                                   f"traceback: killed, out of memory, or a crash in compiled code)\n")
    write_json(tmp / "status.json", {"name": name, "status": "failed", "error": error, "seconds": 0.0,
                                     "pid": None, "host": host()})
    _replace_dir(tmp, root / name)


def execute_in_process(root: str, name: str, params: dict) -> dict:
    """A process-pool task: the function, inputs and thread cap come from :func:`init_process`."""
    return execute(_PROCESS["func"], root, name, params, threads=_PROCESS["threads"], **_PROCESS["inputs"])


def _replace_dir(tmp: Path, final: Path) -> bool:
    """Rename ``tmp`` to ``final``; False (and ``tmp`` removed) if ``final`` is already done."""
    if (final / RESULT).exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    if final.exists():  # an earlier failed attempt
        trash = final.with_name(f"{TRASH_PREFIX}{uuid.uuid4().hex[:8]}@{final.name}")
        os.rename(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(tmp, final)
    return True


def execute(func, root, name: str, params: dict, threads: int | None = None, **inputs) -> dict:
    """Run one point; return a small status dict (the result stays on disk).

    Returns
    -------
    dict
        ``name``, ``status`` ("done", "skipped" or "failed"), ``seconds``, ``error`` (the
        last line of the traceback, "" on success), ``pid``, ``host``.
    """
    root = Path(root)
    final = root / name
    info = {"name": name, "pid": os.getpid(), "host": host(), "error": "", "seconds": 0.0}
    if (final / RESULT).exists():
        return {**info, "status": "skipped"}
    tmp = root / f"{TMP_PREFIX}{info['host']}@{os.getpid()}@{uuid.uuid4().hex[:8]}@{name}"
    tmp.mkdir(parents=True)
    write_json(tmp / "params.json", params)
    start = time.perf_counter()
    try:
        with limit_threads(threads):
            result = func(dict(params), tmp, **inputs)
            if result is not None:
                if not isinstance(result, xr.Dataset):
                    raise TypeError(f"point function: expected it to return an xarray.Dataset or None "
                                    f"(after writing {RESULT} in its directory), got {type(result).__name__}")
                write(tmp / RESULT, {"": result})   # atomic, checksummed
            elif not (tmp / RESULT).exists():
                raise RuntimeError(f"point function: returned None without writing {RESULT} in its directory")
        status = "done"
    except Exception:  # noqa: BLE001 - a failed point is recorded, the others go on
        text = traceback.format_exc()
        info["error"] = text.strip().splitlines()[-1]
        status = "failed"
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp / RESULT)
        try:
            (tmp / "error.txt").write_text(text)
        except OSError as exc:  # a full disk: the scan goes on, the point is reported failed here
            return _unrecorded(info, tmp, final, exc, start)
    info.update(status=status, seconds=round(time.perf_counter() - start, 3))
    try:
        write_json(tmp / "status.json", info)
        moved = _replace_dir(tmp, final)
    except OSError as exc:
        return _unrecorded({**info, "status": "failed"}, tmp, final, exc, start)
    if not moved:
        info["status"] = "skipped"
    return info


def _unrecorded(info: dict, tmp: Path, final: Path, exc: OSError, start: float) -> dict:
    """A point whose outcome could not be written (full disk): removed, reported in the returned status."""
    shutil.rmtree(tmp, ignore_errors=True)
    what = info["error"] or "its result"
    info.update(status="failed", seconds=round(time.perf_counter() - start, 3),
                error=f"{what}; and writing {final} failed ({type(exc).__name__}: {exc}): free space and run "
                      f"the scan again")
    return info
