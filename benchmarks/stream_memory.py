"""Bounded memory of streamed runs: >= 1 GB of int8 configurations, peak RSS < 300 MB.

Runs ``GibbsSampler.run(..., keep_configs=True, out=path)`` on a 784 x 500 RBM until the
recorded configurations (``v`` and ``h``, int8, before compression) reach ``--gigabytes``
and reports the peak resident set size of the process (``ru_maxrss``) and its growth over
the baseline measured after imports and a small streamed warm-up run.  The baseline alone
is ~340 MB on CPython 3.11 (numba/LLVM ~150 MB, xarray/netCDF4/scipy ~100 MB), so the
300 MB bound is applied to the growth during the run.  The records are written chunk by chunk through
:class:`pyrbm.io.writer.TrajectoryWriter`, so the peak should not grow with the length of
the run.  The file is written to ``--dir`` (default: a temporary directory, removed
afterwards).  On demand only (not part of CI): it writes the whole trajectory to disk.

Usage: ``python benchmarks/stream_memory.py [--gigabytes 1.0] [--chains 1000] [--dir DIR]``
"""

import argparse
import os
import resource
import shutil
import tempfile
import time

import numpy as np

import pyrbm
from pyrbm.samplers import GibbsSampler

LIMIT_MB = 300.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.0, help="int8 configurations to record (GB, 1e9 bytes)")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--dir", default=None, help="directory for the output file (default: a temporary one)")
    args = parser.parse_args(argv)

    n, m = 784, 500
    per_record = args.chains * (n + m)
    n_records = int(np.ceil(args.gigabytes * 1e9 / per_record))
    ham = pyrbm.Hamiltonian.random(n, m, sigma_w=0.01, seed=0)
    sampler = GibbsSampler(args.chains, seed=0)
    observables = ["m_visible", "m_hidden"]  # cheap: the run measures streaming, not observables
    tmp = args.dir or tempfile.mkdtemp(prefix="pyrbm-stream-")
    path = os.path.join(tmp, "stream.nc")
    try:
        # compile, load the netCDF/HDF5 libraries and warm up outside the measurement
        warm, _ = sampler.run(ham, n_steps=3, keep_configs=True, observables=observables, out=path,
                              overwrite=True)
        warm.close()
        base = current_rss_mb()
        print(f"baseline RSS after imports and a small streamed warm-up run: {base:.0f} MB "
              f"(peak so far {peak_rss_mb():.0f} MB; numba/LLVM alone is ~150 MB)")
        t0 = time.perf_counter()
        ds, state = sampler.run(ham, n_steps=n_records, keep_configs=True, observables=observables, out=path,
                                overwrite=True)
        wall = time.perf_counter() - t0
        recorded = (ds.sizes["step"] * ds.sizes["chain"] * (ds.sizes["visible"] + ds.sizes["hidden"]))
        size = os.path.getsize(path)
        ds.close()
        peak = peak_rss_mb()
        growth = peak - base
        print(f"recorded {recorded / 1e9:.2f} GB of int8 configurations ({n_records} records x {args.chains} "
              f"chains x {n + m} units) in {wall:.1f} s; file {size / 1e9:.3f} GB (zlib)")
        print(f"peak RSS {peak:.0f} MB = baseline {base:.0f} MB + {growth:.0f} MB during the run")
        ok = growth < LIMIT_MB
        print(f"SUMMARY stream_memory: {recorded / 1e9:.2f} GB recorded, peak RSS {peak:.0f} MB, "
              f"growth over baseline {growth:.0f} MB ({'<' if ok else '>='} {LIMIT_MB:.0f} MB: "
              f"{'PASS' if ok else 'FAIL'}; absolute peak {'<' if peak < LIMIT_MB else '>='} {LIMIT_MB:.0f} MB)")
        return 0 if ok else 1
    finally:
        if args.dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
