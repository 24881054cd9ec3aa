"""Thread policy: one pool of threads per step, never BLAS and numba both spread over the cores.

Two busy-waiting pools (OpenMP or workqueue for numba, pthreads for OpenBLAS) stall each
other on a few cores, and a multi-threaded BLAS product waits at its end for its slowest
thread: when another process takes a core, every product of a step waits a scheduler
time slice (measured on 2 cores under load: AIS of a 784x500 RBM 15x, 300 sweeps of a
200x100 RBM with 64 chains 100x slower than one thread). So every hot loop of pyrbm runs
in exactly one of two ways, decided here:

* **tiles** (the samplers and AIS, :func:`run_tiles`): the chains are split into row
  tiles (a rule of the shapes only, :func:`pyrbm._kernels.gibbs.default_tile_rows`); up to
  :func:`workers` threads each take whole tiles and run *everything* of a tile -- BLAS
  products on one thread and the fused numba kernels (compiled ``nogil``, one numba
  thread) -- for
  all the steps of a call. Threads meet once per call, not once per product, so a thread
  that loses its core delays only its own tiles.
* **training** (:func:`training_threads`): BLAS on the calling thread, the numba kernels
  take the cores that other processes leave idle (:func:`idle_workers`); tiny models run
  everything on the calling thread, and large sparse updates are shared by a
  :class:`Team` of threads (BLAS and the kernels of a part on one thread each, no numba
  thread pool), woken by a lock for each phase of an update.

Results never depend on the choice: chains are independent and draw from their own
streams, the tile split depends only on the shapes, and the numba kernels split their
work so that the thread count cannot change a result.

The number of threads is numba's (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``),
capped by the CPUs this process may run on.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - optional dependency
    ThreadpoolController = None

__all__ = ["Team", "blas_serial", "idle_workers", "others_running", "own_load", "run_tiles", "sampler_threads",
           "training_threads", "workers", "PARALLEL_WORK"]

#: Multiply-adds per matrix product below which the training kernels run single-threaded.
PARALLEL_WORK = 1 << 20

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_controller = None
_threadsafe_layer = None


@numba.njit(parallel=True, nogil=True)
def _touch(x):
    for i in numba.prange(x.size):
        x[i] = i


def _layer_is_threadsafe() -> bool:
    """Whether numba's threading layer may be entered from several threads at once (omp, tbb: yes).

    The workqueue layer aborts the process on concurrent parallel launches; with it,
    :func:`run_tiles` runs the tiles on the calling thread.
    """
    global _threadsafe_layer
    if _threadsafe_layer is None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # not started yet: start it
            _touch(np.zeros(2))
            layer = numba.threading_layer()
        _threadsafe_layer = layer in ("omp", "tbb")
    return _threadsafe_layer


def workers() -> int:
    """Threads a hot loop may use: numba's thread count, at most the CPUs available to the process."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(numba.get_num_threads(), cpus))


#: Time constant (seconds) of the kernel's 1-minute load average, which :func:`own_load` mirrors.
LOAD_TAU = 60.0

# (monotonic seconds, process CPU seconds, estimate) at the last call of own_load.
_own = [time.monotonic(), time.process_time(), 0.0]


def own_load() -> float:
    r"""This process's share of the 1-minute load average: its running threads, averaged the same way.

    The kernel's load average counts this process's threads too, so right after this
    process kept both cores busy (a previous fit, a benchmark's previous contender) the
    load average says "busy" although no other process runs. The estimate follows the
    load average's exponential decay, :math:`\ell \leftarrow \ell e^{-\Delta t/\tau} +
    r (1 - e^{-\Delta t/\tau})`, with :math:`r` = process CPU seconds per wall second
    since the previous call and :math:`\tau` = :data:`LOAD_TAU`.
    """
    with _lock:
        now, cpu = time.monotonic(), time.process_time()
        then, cpu_then, est = _own
        dt = now - then
        if dt > 0.0:
            decay = math.exp(-dt / LOAD_TAU)
            est = est * decay + max(0.0, cpu - cpu_then) / dt * (1.0 - decay)
            _own[:] = [now, cpu, est]
        return est


def others_running(samples: int = 5) -> int | None:
    """Threads of other processes running or waiting for a core now (Linux), else None.

    The kernel's count of runnable threads (``/proc/loadavg``) less this process's
    threads in state R (``/proc/self/task/*/stat``); the median of ``samples`` readings
    0.5 ms apart. Unlike the 1-minute load average it forgets a process that has just
    ended (a previous run of a scan) and sees one that has just started. This process's
    threads never count, so the BLAS and numba pools that spin for a while after a call
    do not pass for other work; fits run side by side in threads of one process (a dask
    cluster with ``processes=False``) therefore each take every core: run concurrent
    fits in processes.
    """
    counts = []
    try:
        for i in range(samples):
            if i:
                time.sleep(5e-4)
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            own = 0
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/stat") as f:
                        own += f.read().rsplit(")", 1)[1].split()[0] == "R"
                except OSError:  # the thread ended meanwhile
                    pass
            counts.append(max(0, running - own))
    except (OSError, ValueError, IndexError):
        return None
    return int(np.median(counts))


def idle_workers() -> int:
    """:func:`workers` less the cores other processes keep busy, at least 1.

    Other processes' load: :func:`others_running` where the system tells it, else the
    1-minute load average less this process's own share of it (:func:`own_load`),
    rounded. For loops whose threads meet after every short parallel step (the training
    update): a thread that waits for a core stalls all the others, so such loops use
    only the cores that are idle. (Tiles, which meet once per call, use all
    :func:`workers`.)
    """
    busy = others_running()
    if busy is None:
        try:
            busy = int(max(0.0, os.getloadavg()[0] - own_load()) + 0.5)
        except (AttributeError, OSError):  # pragma: no cover - not Unix
            busy = 0
    cpus = os.cpu_count() or 1
    return max(1, min(workers(), cpus - busy))


def _blas_controller():
    global _controller
    if _controller is None and ThreadpoolController is not None:
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_serial():
    """BLAS on the calling thread for the duration of the block (numpy's BLAS; a no-op without threadpoolctl).

    The BLAS libraries are found once per process (``threadpoolctl.ThreadpoolController``);
    entering the block then costs about 10 µs.
    """
    ctl = _blas_controller()
    if ctl is None:  # pragma: no cover - optional dependency
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield


def _executor(n: int) -> ThreadPoolExecutor:
    """The process's pool of tile threads, grown to ``n`` threads when needed."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="pyrbm-tile")
            _pool_size = n
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def run_tiles(fn, n_tiles: int, threads: int | None = None) -> None:
    """Call ``fn(tile, slot)`` for every ``tile`` in ``range(n_tiles)``, on up to ``threads`` threads.

    Each thread takes the next tile not yet taken until none is left (dynamic balance: a
    thread that loses its core to another process takes fewer tiles); ``slot`` in
    ``range(threads)`` names the thread, for per-thread buffers. BLAS runs on one thread
    inside ``fn`` (:func:`blas_serial`), so ``fn`` must release the GIL for its long
    parts (numpy's BLAS calls do, numba kernels compiled with ``nogil=True`` do); numba
    kernels called in ``fn`` run on one thread (``numba.set_num_threads(1)`` is per
    thread). The calling thread takes part; the call returns when every tile is done and re-raises the
    first exception of any tile.

    Parameters
    ----------
    fn : callable
        ``fn(tile: int, slot: int) -> None``.
    n_tiles : int
        Number of tiles (>= 0).
    threads : int, optional
        Most threads (default and at most :func:`workers`).
    """
    n = min(workers() if threads is None else max(1, min(threads, workers())), n_tiles)
    if n > 1 and not _layer_is_threadsafe():  # pragma: no cover - numba without OpenMP or TBB
        n = 1
    tiles = itertools.count()  # next() is atomic under the GIL
    failed = []

    def loop(slot):
        old = numba.get_num_threads()  # per thread: the numba kernels of a tile run on its thread
        numba.set_num_threads(1)
        try:
            for t in tiles:
                if t >= n_tiles or failed:
                    return
                fn(t, slot)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            failed.append(exc)
        finally:
            numba.set_num_threads(old)

    with blas_serial():
        if n <= 1:
            loop(0)
            if failed:
                raise failed[0]
            return

        futures = [_executor(n - 1).submit(loop, slot) for slot in range(1, n)]
        loop(0)
        for f in futures:
            f.result()
        if failed:
            raise failed[0]


class Team:
    """``n`` threads -- the caller and ``n - 1`` helpers -- that run the parts of a step side by side.

    ``run(fn)`` calls ``fn(part)`` for ``part`` in ``range(n)``, part 0 on the calling
    thread and part ``i`` on helper ``i``, and returns when all are done (re-raising the
    first exception). A step of a training update takes about a millisecond, so the
    helpers are started once (for one :meth:`Trainer.fit`) and woken by a lock each:
    about 70 µs a hand-off on 2 cores, against 140 µs for :func:`run_tiles`' pool.
    Helpers run numba kernels on their own thread (``numba.set_num_threads(1)``) and
    BLAS as the caller set it (:func:`training_threads`: one thread), so ``fn`` must
    release the GIL for its long parts (BLAS calls and ``nogil`` kernels do). Use it as
    a context manager: the helpers end on exit.

    Parameters
    ----------
    n : int
        Threads (>= 1); with 1, ``run(fn)`` is ``fn(0)``.
    """

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._fn = None
        self._failed = []
        self._go = [threading.Lock() for _ in range(self.n - 1)]
        self._done = [threading.Lock() for _ in range(self.n - 1)]
        for lock in self._go + self._done:
            lock.acquire()
        self._threads = [threading.Thread(target=self._helper, args=(i + 1,), daemon=True,
                                          name=f"pyrbm-team-{i + 1}") for i in range(self.n - 1)]
        for t in self._threads:
            t.start()

    def _helper(self, part):
        numba.set_num_threads(1)
        go, done = self._go[part - 1], self._done[part - 1]
        while True:
            go.acquire()
            fn = self._fn
            if fn is None:
                done.release()
                return
            try:
                fn(part)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                self._failed.append(exc)
            done.release()

    def run(self, fn) -> None:
        """``fn(part)`` for every part, side by side; returns when all are done."""
        if self.n == 1:
            fn(0)
            return
        self._fn = fn
        for go in self._go:
            go.release()
        try:
            fn(0)
        finally:
            for done in self._done:
                done.acquire()
            self._fn = None
        if self._failed:
            exc = self._failed[0]
            self._failed.clear()
            raise exc

    def close(self) -> None:
        """End the helpers (idempotent)."""
        if self._threads:
            self._fn = None
            for go in self._go:
                go.release()
            for done in self._done:
                done.acquire()
            for t in self._threads:
                t.join()
            self._threads = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def sampler_threads():
    """Sampling loops outside the tiles: BLAS and the numba kernels on the calling thread.

    Used around the short serial parts of a sampler (replica exchanges, the initial
    draw); the tiles of :func:`run_tiles` carry the parallel work.
    """
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with blas_serial():
            yield
    finally:
        numba.set_num_threads(old)


@contextlib.contextmanager
def training_threads(n_rows: int = 0, n_visible: int = 0, n_hidden: int = 0):
    """Thread settings of the training loop, for the duration of the block.

    BLAS runs on the calling thread and the numba kernels (gathers, sampling, fused
    update) take the cores. Two busy-waiting pools (OpenMP for numba, pthreads for
    OpenBLAS) stall each other on a few cores (measured on 2 cores, 784x500, batch 100:
    5x slower per update), and a single BLAS thread also keeps the rounding of the
    products, hence the results, independent of the machine's core count (the numba
    kernels split their work so that the thread count never changes a result). Tiny
    models (``n_rows·N·M < 2^20``) run everything on the calling thread, and the kernels
    use only the cores other processes leave idle (:func:`idle_workers`; measured on 2
    cores with other work running: PCD-20 updates at batch 500 took 2.2-2.7 s on one
    thread against 5.0-5.3 s with two numba threads and 5.7-6.3 s with two BLAS threads). Without
    ``threadpoolctl`` BLAS keeps its threads and the numba kernels run single-threaded.
    """
    threads = numba.get_num_threads()
    use = 1 if n_rows * n_visible * n_hidden < PARALLEL_WORK else idle_workers()
    if _blas_controller() is None:  # pragma: no cover - optional dependency
        use = 1
    numba.set_num_threads(use)
    try:
        with blas_serial():
            yield
    finally:
        numba.set_num_threads(threads)
