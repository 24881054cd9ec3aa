"""Figures of the untrained model: Marčenko–Pastur (1), uniform measure (3), kurtosis (5)."""

from __future__ import annotations

import numpy as np

from ..spectra import mp_pdf
from ._common import pyplot, save


def figure_01_marchenko_pastur(mp: dict, out_path):
    """Histogram of the singular values of random initialisations against the MP density.

    ``mp``: {M: Dataset with ``singular_value(init, mode)``} (one panel per M).
    """
    plt = pyplot()
    sizes = sorted(mp)
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.6 * len(sizes), 3.0), squeeze=False)
    for ax, m in zip(axes[0], sizes):
        ds = mp[m]
        s = ds["singular_value"].values.ravel()
        lo, hi = ds.attrs["mp_lower"], ds.attrs["mp_upper"]
        N, sw = int(ds.attrs["n_visible"]), float(ds.attrs["sigma_w"])
        grid = np.linspace(lo, hi, 400)
        ax.hist(s, bins=80, density=True, alpha=0.6, label=f"{ds.sizes['init']} random {N}×{m}")
        ax.plot(grid, mp_pdf(grid, N, m, sigma_w=sw), "k-", lw=1.2, label="Marčenko–Pastur")
        ax.axvline(lo, color="C3", ls=":", lw=1, label=f"λ± = {lo:.3f}, {hi:.3f}")
        ax.axvline(hi, color="C3", ls=":", lw=1)
        ax.set(xlabel="singular value σ (energy units)", ylabel="density", title=f"M = {m}, σ_w = {sw:g}")
        ax.legend(fontsize=7)
    return save(fig, out_path)


def figure_03_uniform_measure(hist, out_path):
    """x_k = (Uᵀv)_k of uniform configurations against N(μ_k, s²), one panel per mode."""
    plt = pyplot()
    modes = hist["mode"].values
    s2 = float(hist.attrs["s2"])
    fig, axes = plt.subplots(2, int(np.ceil(len(modes) / 2)), figsize=(8, 4.4), sharey=True, squeeze=False)
    for ax, k in zip(axes.flat, modes):
        x = hist["x"].sel(mode=k).values
        mu = float(hist["mu_x"].sel(mode=k))
        ax.hist(x, bins=50, density=True, alpha=0.6, label="uniform v")
        g = np.linspace(x.min(), x.max(), 200)
        ax.plot(g, np.exp(-(g - mu) ** 2 / (2 * s2)) / np.sqrt(2 * np.pi * s2), "k-", lw=1, label="N(μ_k, 1/4)")
        ax.set_title(f"mode {k}: kurtosis {float(hist['kurtosis'].sel(mode=k)):.3f}", fontsize=9)
        ax.set_xlabel("x_k (dimensionless)")
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"x_k under the uniform measure, random {hist.attrs['n_visible']}×{hist.attrs['n_hidden']}",
                 fontsize=10)
    return save(fig, out_path)


def figure_05_kurtosis(kurt, out_path):
    """Mean kurtosis of the paired x_k against 1/N (replica mean ± spread), fit and Haar line."""
    plt = pyplot()
    n = kurt["n_visible"].values
    inv = 1.0 / n
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for src, mk in (("exact", "o"), ("sampled", "s")):
        y = kurt[f"kurtosis_{src}"]
        ax.errorbar(inv, y.mean("replica"), yerr=y.std("replica"), fmt=mk, ms=4, capsize=2,
                    label=f"{src} (mean ± sd over {kurt.sizes['replica']} models)")
    b0 = float(kurt["fit_intercept_exact"].mean())
    b1 = float(kurt["fit_slope_exact"].mean())
    g = np.linspace(0, inv.max() * 1.05, 50)
    ax.plot(g, b0 + b1 * g, "C0-", lw=1, label=f"fit (exact): {b0:.4f} {b1:+.2f}/N")
    ax.plot(g, 3 - 6 * g / (1 + 2 * g), "k:", lw=1, label="3 − 6/(N+2)")
    ax.axhline(3.0, color="gray", lw=0.8)
    ax.set(xlabel="1/N", ylabel="kurtosis of x_k (3 = Gaussian)",
           title=f"Kurtosis vs 1/N (M = {kurt.attrs['n_hidden']})")
    ax.legend(fontsize=7)
    return save(fig, out_path)
