"""Langevin diffusion below and above the threshold 4T.

    python analysis/langevin_divergence.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/langevin_divergence.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("langevin_divergence.png", sys.argv[1:]))
