"""Figures of a training history: hierarchical learning, mode after mode.

Reads a ``history.nc`` written by ``simulations/train.py`` (or ``pyrbm.training.save_history``)
and draws the leading singular values against the training epoch, with the
Marčenko–Pastur edge of the initialisation and the diffusion threshold 4T, beside the
number of modes above each.

    python analysis/history_figures.py runs/train_mnist_M100_seed0/history.nc [--out docs/figures]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402
from figure_io import save_figure  # noqa: E402


def figure_history(history: xr.Dataset, out: Path, n_modes: int = 12) -> Path:
    """Singular values σ_k(epoch) for the first ``n_modes`` modes and the mode counts."""
    T = 1.0 / float(history.attrs.get("beta", 1.0))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    sv = history.singular_value.isel(mode=slice(0, n_modes))
    for k in range(sv.sizes["mode"]):
        ax.plot(history.epoch, sv.isel(mode=k), lw=1.2, label=f"σ_{k + 1}" if k < 5 else None)
    ax.axhline(float(history.attrs["mp_edge"]), color="gray", ls=":", lw=1, label="MP edge at init")
    ax.axhline(4 * T, color="C3", ls="--", lw=1, label="4T")
    ax.set(xlabel="epoch", ylabel="singular value", yscale="log",
           title=f"{history.attrs.get('data', 'training')[:48]}")
    ax.legend(fontsize=7, ncol=2)
    ax2.step(history.epoch, history.n_above_mp, where="post", label="above MP edge")
    ax2.step(history.epoch, history.n_above_4T, where="post", label="above 4T")
    ax2.set(xlabel="epoch", ylabel="modes", title="symmetry-breaking modes")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = out / "training_singular_values.png"
    save_figure(fig, path)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("history", type=Path)
    p.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with xr.open_dataset(args.history) as history:
        print(f"wrote {figure_history(history.load(), args.out)}")


if __name__ == "__main__":
    main()
