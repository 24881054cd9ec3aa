"""Figure output shared by the analysis scripts: PNGs written atomically."""

from pathlib import Path

from pyrbm._io import atomic_path


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Write ``fig`` as a PNG to ``path`` through a temporary file renamed into place."""
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)
