"""Reciprocal-space Langevin throughput: pyrbm's fused kernel against vectorised numpy.

Both integrate the same Euler-Maruyama step on the Gaussian-DOS potential of a
784 x 500 RBM (all 784 + 500 reciprocal coordinates: 500 paired modes, 284 free),

    z <- z - grad Phi(z) dt + sqrt(2 dt) xi,

with the same divergence handling (a paired mode leaving |x - mu_x|, |y - mu_y| <= bound
is frozen and flagged).  The model is trained-like: its leading singular values are past
the threshold sigma > 4T, so the divergence bookkeeping is exercised.  Rates are in
mode-steps per second, one mode-step being one (x_k, y_k) pair advanced by one step
(free coordinates count as half a mode), best of ``--repeats`` interleaved rounds.
The last line is a one-line summary of the ratios.

Usage: ``python benchmarks/langevin.py [--chains 100 1000] [--seconds 2] [--repeats 3]``
"""

import argparse
import os
import time

import numba
import numpy as np

import pyrbm
from pyrbm.samplers import LangevinSampler

N_VISIBLE, N_HIDDEN = 784, 500


def make_ham():
    s = np.concatenate([[30.0, 12.0, 6.0], np.linspace(3.0, 0.05, N_HIDDEN - 3)])
    r = np.random.default_rng(0)
    return pyrbm.Hamiltonian.from_modes(s, N_VISIBLE, N_HIDDEN, seed=0, a=0.1 * r.normal(size=N_VISIBLE),
                                        b=0.1 * r.normal(size=N_HIDDEN))


def bench_pyrbm(ham, n_chains, dt):
    sampler = LangevinSampler(n_chains, dt=dt, seed=0)
    holder = {"state": sampler.init_state(ham)}

    def run(k):
        holder["state"] = sampler.advance(ham, state=holder["state"], n_steps=k)

    return run


def bench_numpy(ham, n_chains, dt, bound=1e6):
    md = ham.modes
    K = md.n_modes
    beta, s2 = ham.beta, ham.s2
    mu_x, mu_y, a_t, b_t, s = md.mu_x, md.mu_y, md.a_tilde, md.b_tilde, md.s
    r = np.random.default_rng(0)
    x = mu_x + np.sqrt(s2) * r.standard_normal((n_chains, N_VISIBLE))
    y = mu_y + np.sqrt(s2) * r.standard_normal((n_chains, N_HIDDEN))
    live = np.ones((n_chains, K), dtype=bool)
    noise = np.sqrt(2 * dt)
    state = {"x": x, "y": y, "live": live}

    def run(k):
        x, y, live = state["x"], state["y"], state["live"]
        for _ in range(k):
            gx = (x - mu_x) / s2 - beta * a_t
            gy = (y - mu_y) / s2 - beta * b_t
            gx[:, :K] -= beta * s * y[:, :K]
            gy[:, :K] -= beta * s * x[:, :K]
            xn = x - dt * gx + noise * r.standard_normal(x.shape)
            yn = y - dt * gy + noise * r.standard_normal(y.shape)
            ok = (np.abs(xn[:, :K] - mu_x[:K]) <= bound) & (np.abs(yn[:, :K] - mu_y[:K]) <= bound)
            live &= ok
            xn[:, :K] = np.where(live, xn[:, :K], x[:, :K])
            yn[:, :K] = np.where(live, yn[:, :K], y[:, :K])
            x, y = xn, yn
        state.update(x=x, y=y, live=live)

    return run


def best_rates(runners, n_units, seconds, repeats):
    ks = {}
    for name, fn in runners.items():
        fn(1)
        t0 = time.perf_counter()
        fn(2)
        ks[name] = max(1, int(seconds / max((time.perf_counter() - t0) / 2, 1e-6)))
    best = dict.fromkeys(runners, 0.0)
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn(ks[name])
            best[name] = max(best[name], ks[name] * n_units / (time.perf_counter() - t0))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--dt", type=float, default=0.01)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f}; numba "
          f"{numba.__version__} with {numba.get_num_threads()} threads ({numba.config.THREADING_LAYER}); "
          f"numpy {np.__version__} (single-threaded elementwise, PCG64 ziggurat normals)")
    ham = make_ham()
    print(f"{N_VISIBLE}x{N_HIDDEN} model, {int((~ham.stable_modes()).sum())} modes past sigma > 4T, dt = {args.dt}")
    print(f"{'chains':>7} {'pyrbm':>14} {'numpy':>14}   (mode-steps/s)")
    ratios = []
    for n_chains in args.chains:
        n_units = n_chains * (N_VISIBLE + N_HIDDEN) / 2
        row = best_rates({"pyrbm": bench_pyrbm(ham, n_chains, args.dt),
                          "numpy": bench_numpy(ham, n_chains, args.dt)}, n_units, args.seconds, args.repeats)
        print(f"{n_chains:>7} {row['pyrbm']:>14.3e} {row['numpy']:>14.3e}", flush=True)
        ratios.append(f"C={n_chains}: pyrbm/numpy={row['pyrbm'] / row['numpy']:.1f}")
    print("SUMMARY langevin (target pyrbm/numpy >= 3): " + "; ".join(ratios))


if __name__ == "__main__":
    main()
