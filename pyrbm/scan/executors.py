"""Where the points run: serially, in a local process pool, or on a dask cluster.

Every backend runs :func:`pyrbm.scan._worker.execute` per point and yields its small status
dict as points finish; results travel back as files, never through a scheduler.  Large
inputs reach each worker once: the process pool hands them (and the point function) to
every worker process in its initializer; dask scatters them with ``broadcast=True`` and
passes the futures, so tasks carry only a key.  Threads: each worker caps numba and BLAS
at ``cores // workers`` on its host, so that workers do not oversubscribe the cores.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import pickle
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures import as_completed as _cf_as_completed
from concurrent.futures.process import BrokenProcessPool

from .._optional import require
from . import _worker

__all__ = ["backend", "EXECUTORS"]

EXECUTORS = ("serial", "processes", "dask")


def _dumps(obj) -> bytes:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle comes with dask
        return pickle.dumps(obj)
    return cloudpickle.dumps(obj)


class Serial:
    """Points one after another in this process (threads unchanged)."""

    name = "serial"

    def __init__(self, func, inputs):
        self.func, self.inputs = func, inputs

    def run(self, root, tasks):
        for name, params in tasks:
            yield _worker.execute(self.func, root, name, params, **self.inputs)

    def close(self):
        pass


class Processes:
    """A local pool of ``workers`` spawned processes, each with ``cores // workers`` threads."""

    name = "processes"

    def __init__(self, func, inputs, workers=None):
        cores = os.cpu_count() or 1
        self.workers = workers or cores
        threads = max(1, cores // self.workers)
        try:
            payload = _dumps({"func": func, "inputs": inputs})
        except Exception as exc:  # noqa: BLE001 - whatever the pickler raises
            raise TypeError(f"func, inputs: cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
                            f"define the point function at the top level of a module or script and pass "
                            f"picklable inputs, or use executor='serial'; no point was run") from exc
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker.init_process,
                                        initargs=(threads, payload, os.getpid()))
        try:
            self.pool.submit(_worker.ready).result()
        except BrokenProcessPool as exc:
            self.pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError(
                "executor='processes': the worker processes could not start (an error they printed is on "
                "standard error above); no point was run. Each worker is a fresh Python ('spawn') that imports the script running "
                "the scan: put the script's calls under `if __name__ == \"__main__\":`, and make the point "
                "function importable (defined at the top level of a module or of that script)") from exc

    def run(self, root, tasks):
        futures = {self.pool.submit(_worker.execute_in_process, str(root), name, params): name
                   for name, params in tasks}
        for fut in _cf_as_completed(futures):
            yield _result(fut, futures[fut])

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class Dask:
    """A ``distributed.Client`` (given, or connected to an address, or on a new ``LocalCluster``)."""

    name = "dask"

    def __init__(self, func, inputs, client=None, address=None, workers=None):
        require("distributed", purpose="the dask executor")
        from distributed import Client, LocalCluster

        self._own = []
        if client is None:
            if address is None:
                cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                       processes=True, dashboard_address=None)
                self._own.append(cluster)
                address = cluster
            client = Client(address)
            self._own.insert(0, client)
        self.client = client
        self.func = func
        # Large inputs: one copy per worker, shipped now; tasks refer to them by key.
        self.inputs = {k: client.scatter(v, broadcast=True, hash=False) for k, v in inputs.items()}
        self.threads = self._threads_per_worker()

    def _threads_per_worker(self) -> dict:
        """Worker address -> cores of its host // task threads of all workers on that host."""
        info = self.client.scheduler_info(n_workers=-1)["workers"] if _accepts_n_workers(self.client) \
            else self.client.scheduler_info()["workers"]
        cores = self.client.run(os.cpu_count)
        per_host: dict = {}
        for addr, w in info.items():
            per_host[w["host"]] = per_host.get(w["host"], 0) + w["nthreads"]
        return {addr: max(1, (cores.get(addr) or 1) // per_host[w["host"]]) for addr, w in info.items()}

    def run(self, root, tasks):
        from distributed import as_completed

        threads = min(self.threads.values()) if self.threads else 1
        futures = {}
        for name, params in tasks:
            fut = self.client.submit(_worker.execute, self.func, str(root), name, params, threads=threads,
                                     pure=False, key=f"pyrbm-point-{name}-{os.urandom(4).hex()}", **self.inputs)
            futures[fut] = name
        for fut in as_completed(futures):
            yield _result(fut, futures[fut])

    def close(self):
        for f in self.inputs.values():
            f.release()
        for obj in self._own:
            obj.close()


class Generic:
    """Any ``concurrent.futures.Executor``-like object (inputs travel with every task)."""

    name = "executor"

    def __init__(self, func, inputs, executor):
        self.func, self.inputs, self.executor = func, inputs, executor

    def run(self, root, tasks):
        futures = {self.executor.submit(_worker.execute, self.func, str(root), name, params, **self.inputs): name
                   for name, params in tasks}
        for fut in _cf_as_completed(futures):
            yield _result(fut, futures[fut])

    def close(self):
        pass


def _accepts_n_workers(client) -> bool:
    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _result(fut, name) -> dict:
    """The status dict of a finished future; a crashed worker counts as a failed point."""
    try:
        return fut.result()
    except Exception as err:  # noqa: BLE001 - the worker died or could not run the task
        return {"name": name, "status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": 0.0,
                "unrecorded": True}


def backend(executor, func, inputs, workers=None):
    """The backend for ``executor``: "serial", "processes", "dask", a dask ``Client``, a
    scheduler address ("tcp://..."), or a ``concurrent.futures.Executor``."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    if executor in (None, "serial"):
        return Serial(func, inputs)
    if executor == "processes":
        return Processes(func, inputs, workers)
    if executor == "dask":
        return Dask(func, inputs, workers=workers)
    if isinstance(executor, str) and "://" in executor:
        return Dask(func, inputs, address=executor)
    if type(executor).__name__ == "Client" and hasattr(executor, "scatter"):
        return Dask(func, inputs, client=executor)
    if isinstance(executor, Executor) or hasattr(executor, "submit"):
        return Generic(func, inputs, executor)
    raise ValueError(f"executor: expected one of {', '.join(map(repr, EXECUTORS))}, a dask distributed.Client, "
                     f"a scheduler address 'tcp://host:port' or a concurrent.futures.Executor, got {executor!r}")
