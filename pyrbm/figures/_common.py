"""Shared figure plumbing: lazy matplotlib, atomic PNG output."""

from __future__ import annotations

from pathlib import Path

from .._optional import require
from ..io.netcdf import atomic_path

DPI = 80


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend (imported on first use)."""
    require("matplotlib", purpose="drawing figures")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out_path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG to ``out_path`` (temporary file renamed into place) and close it."""
    plt = pyplot()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.tight_layout()
        with atomic_path(out_path, overwrite=True) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return out_path


def digit_grid(ax, v, title: str, n_cols: int | None = None):
    """Draw rows of ``v`` (n, 784) as a grid of 28×28 images."""
    import numpy as np

    v = np.asarray(v, dtype=float)
    n = v.shape[0]
    side = int(round(np.sqrt(v.shape[1])))
    n_cols = n_cols or int(np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / n_cols))
    grid = np.ones((n_rows * (side + 1), n_cols * (side + 1)))
    for i in range(n):
        r, c = divmod(i, n_cols)
        grid[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = \
            1.0 - v[i].reshape(side, side)
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
