"""Thread policy: who gets the cores, BLAS or the numba kernels.

Two busy-waiting pools (OpenMP or workqueue for numba, pthreads for OpenBLAS) stall each
other on a few cores, so every hot loop of pyrbm decides, in one place, which of the two
runs multi-threaded.  Results never depend on the choice: the numba kernels split their
work so that the thread count cannot change a result, and the sampling loops keep BLAS
products row-independent.
"""

from __future__ import annotations

import contextlib

import numba

__all__ = ["sampler_threads", "training_threads"]

#: Multiply-adds per matrix product below which the training kernels run single-threaded.
PARALLEL_WORK = 1 << 20


@contextlib.contextmanager
def sampler_threads():
    """Sampling loops: BLAS takes the cores, the fused numba kernels run on the calling thread.

    The kernel costs ~1.2 ns per unit, a few percent of the products; on 2 cores a sweep of
    1,000 chains of a 784x500 RBM ran at 0.25-0.7x the BLAS-only rate with two kernel
    threads against 0.6-1.0x with one (OpenMP/BLAS workers spinning after one call take
    cores from the next).
    """
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
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
    models (``n_rows·N·M < 2^20``) run everything on the calling thread. Without
    ``threadpoolctl`` BLAS keeps its threads and the numba kernels run single-threaded.
    """
    threads = numba.get_num_threads()
    limit = contextlib.nullcontext()
    use = 1 if n_rows * n_visible * n_hidden < PARALLEL_WORK else threads
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        use = 1
    else:
        limit = threadpool_limits(1, user_api="blas")
    numba.set_num_threads(use)
    try:
        with limit:
            yield
    finally:
        numba.set_num_threads(threads)


