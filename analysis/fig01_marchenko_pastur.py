"""Figure 1: singular values of random initialisations against the Marčenko–Pastur law.

    python analysis/fig01_marchenko_pastur.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig01_marchenko_pastur.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig01_marchenko_pastur.png", sys.argv[1:]))
