"""Digit grids: Gibbs vs Gaussian-surrogate samples (8), hierarchical probing (9)."""

from __future__ import annotations

from ._common import digit_grid, pyplot, save


def figure_08_samples(result, out_path):
    """Final Gibbs samples beside samples of their Gaussian surrogate, decoded to visibles."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(6, 3.3))
    digit_grid(axes[0], result["v_gibbs"].values, "Gibbs samples")
    digit_grid(axes[1], result["v_surrogate"].values, "Gaussian surrogate")
    fig.suptitle(f"M = {result.attrs['n_hidden']}, seed {result.attrs['seed']}", fontsize=9)
    return save(fig, out_path)


def figure_09_probing(result, out_path):
    """Visibles regenerated from y = Vᵀh with U, with the top modes flipped, with middle modes rotated."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    digit_grid(axes[0], result["v_probe_reference"].values, "unchanged U")
    digit_grid(axes[1], result["v_probe_top"].values,
               f"modes {result.attrs['probe_top']} flipped\n({float(result['hamming_probe_top']):.0f} units changed)")
    mid = result.attrs["probe_mid"].split(",")
    digit_grid(axes[2], result["v_probe_mid"].values,
               f"modes {mid[0]}–{mid[-1]} rotated\n({float(result['hamming_probe_mid']):.0f} units changed)")
    return save(fig, out_path)
