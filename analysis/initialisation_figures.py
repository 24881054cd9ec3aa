"""Figures of the untrained RBM (PHYSICS.md §3, §7; the paper's figures 1, 3 and 5).

1. Marčenko–Pastur: histogram of the singular values of many random 784×500
   initialisations against the analytic density.
3. Reciprocal coordinates x_k under the uniform measure against N(μ_k, s²) for a few modes.
5. Mean kurtosis of x_k (paired modes) against 1/N, with the line 3 − 6/(N+2) and a linear fit.

    python analysis/initialisation_figures.py [--out docs/figures] [--n-init 200]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import pyrbm  # noqa: E402
from pyrbm.spectra import mp_edges, mp_pdf  # noqa: E402
from figure_io import save_figure  # noqa: E402


def figure_mp(out: Path, n_init: int, n_visible=784, n_hidden=500, sigma_w=0.01):
    s = np.concatenate([pyrbm.Hamiltonian.random(n_visible, n_hidden, sigma_w, seed=i).modes.s for i in range(n_init)])
    lo, hi = mp_edges(n_visible, n_hidden, sigma_w=sigma_w)
    grid = np.linspace(lo, hi, 400)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.hist(s, bins=120, density=True, alpha=0.6, label=f"{n_init} random {n_visible}×{n_hidden}")
    ax.plot(grid, mp_pdf(grid, n_visible, n_hidden, sigma_w=sigma_w), "k-", lw=1.5, label="Marčenko–Pastur")
    ax.axvline(hi, color="C3", ls=":", lw=1, label=f"edges [{lo:.4f}, {hi:.4f}]")
    ax.axvline(lo, color="C3", ls=":", lw=1)
    ax.set(xlabel="singular value σ", ylabel="density", title="Singular values at initialisation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "mp_initialisation.png")
    plt.close(fig)


def figure_uniform_histograms(out: Path, n_visible=784, n_hidden=500, n_samples=20000, seed=0):
    ham = pyrbm.Hamiltonian.random(n_visible, n_hidden, 0.01, seed=seed)
    md = ham.modes
    v = (np.random.default_rng(seed).random((n_samples, n_visible)) < 0.5).astype(float)
    x = md.x(v)
    modes = [0, 1, 2, 3, 449, md.n_modes - 1]
    fig, axes = plt.subplots(2, 3, figsize=(8, 4.4), sharey=True)
    for ax, k in zip(axes.flat, modes):
        ax.hist(x[:, k], bins=60, density=True, alpha=0.6)
        g = np.linspace(x[:, k].min(), x[:, k].max(), 200)
        ax.plot(g, np.exp(-(g - md.mu_x[k]) ** 2 / (2 * md.s2)) / np.sqrt(2 * np.pi * md.s2), "k-", lw=1)
        ax.set_title(f"mode {k + 1}: kurtosis {md.kurtosis_x[k]:.3f}", fontsize=9)
    fig.suptitle("x_k = U_kᵀv under the uniform measure vs N(μ_k, 1/4)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out / "uniform_measure_x.png")
    plt.close(fig)


def figure_kurtosis(out: Path, n_hidden=500, sizes=(500, 700, 784, 1200, 2000), seed=0):
    inv_n, kurt = [], []
    for n in sizes:
        md = pyrbm.Hamiltonian.random(n, n_hidden, 0.01, seed=seed).modes
        inv_n.append(1.0 / n)
        kurt.append(md.kurtosis_x[: md.n_modes].mean())
    inv_n, kurt = np.array(inv_n), np.array(kurt)
    slope, intercept = np.polyfit(inv_n, kurt, 1)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(inv_n, kurt, "o", label="mean kurtosis of x_k (paired modes)")
    g = np.linspace(0, inv_n.max() * 1.05, 50)
    ax.plot(g, intercept + slope * g, "C1-", lw=1, label=f"fit: {intercept:.4f} {slope:+.2f}/N")
    ax.plot(g, 3 - 6 * g / (1 + 2 * g), "k:", lw=1, label="3 − 6/(N+2)")
    ax.axhline(3.0, color="gray", lw=0.8)
    ax.set(xlabel="1/N", ylabel="kurtosis", title=f"Kurtosis vs 1/N (M = {n_hidden})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, out / "kurtosis_vs_inverse_n.png")
    plt.close(fig)
    return intercept, slope


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/figures"))
    p.add_argument("--n-init", type=int, default=200)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    figure_mp(args.out, args.n_init)
    figure_uniform_histograms(args.out)
    intercept, slope = figure_kurtosis(args.out)
    print(f"kurtosis fit: intercept {intercept:.4f}, slope {slope:.3f}; figures in {args.out}")


if __name__ == "__main__":
    main()
