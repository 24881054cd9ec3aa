"""What machine a benchmark ran on, and a competing load (shared by the benchmark scripts)."""

import contextlib
import os
import platform
import subprocess
import sys
import time


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other processes on the machine)."""
    return "%.2f %.2f %.2f" % os.getloadavg()


@contextlib.contextmanager
def competing_load(n_procs: int | None = None):
    """Start ``n_procs`` CPU-bound processes (default: one per CPU) for the block, then stop them.

    Each spins in a pure-Python loop (no memory traffic to speak of): the situation of a
    machine shared with other work (another user's job, scan workers, a laptop's browser).
    The processes are ended by their ids when the block exits.
    """
    n = n_procs if n_procs is not None else (os.cpu_count() or 1)
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5)  # let them start spinning
    try:
        yield n
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def timed(fn):
    """``(wall seconds, process CPU seconds)`` of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0
