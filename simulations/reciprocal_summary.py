"""Reciprocal-space summary of a random RBM at the paper's initialisation.

Builds a 784×500 RBM with W_ij ~ N(0, σ_w²) and prints its singular-value spectrum against
the Marčenko–Pastur edges, the saddle energy and the number of modes whose diffusion
converges (σ_k < 4T).

    python simulations/reciprocal_summary.py [--n-visible 784] [--n-hidden 500] [--sigma-w 0.01] [--seed 0]
"""

import argparse

import numpy as np

import pyrbm
from pyrbm.spectra import count_outliers, mp_edges


def summary(ham: pyrbm.Hamiltonian, sigma_w: float) -> str:
    """A short text report of the reciprocal space of ``ham``."""
    md = ham.modes
    lo, hi = mp_edges(ham.n_visible, ham.n_hidden, sigma_w=sigma_w)
    _, _, eps = md.saddle()
    stable = ham.stable_modes()
    lines = [
        f"RBM {ham.n_visible}×{ham.n_hidden}, units={ham.units}, beta={ham.beta:g}, sigma_w={sigma_w:g}",
        f"singular values      : max {md.s[0]:.4f}, min {md.s[-1]:.4f}",
        f"Marchenko-Pastur bulk: [{lo:.4f}, {hi:.4f}]",
        f"modes above the edge : {count_outliers(md.s, ham.n_visible, ham.n_hidden, sigma_w=sigma_w)}",
        f"saddle energy        : sum_k eps_k = {np.sum(eps):.6g}",
        f"stable modes (s<4T)  : {int(stable.sum())} of {md.n_modes}",
        f"free modes           : {md.n_free_visible} visible, {md.n_free_hidden} hidden",
        f"mean kurtosis of x   : {md.kurtosis_x[:md.n_modes].mean():.4f} (Haar: {3 - 6 / (ham.n_visible + 2):.4f})",
    ]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-visible", type=int, default=784)
    p.add_argument("--n-hidden", type=int, default=500)
    p.add_argument("--sigma-w", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    ham = pyrbm.Hamiltonian.random(args.n_visible, args.n_hidden, sigma_w=args.sigma_w, seed=args.seed)
    print(summary(ham, args.sigma_w))


if __name__ == "__main__":
    main()
