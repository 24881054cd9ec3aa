"""Figure 2: singular-value densities of the trained models per hidden size (log-y).

    python analysis/fig02_trained_spectra.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig02_trained_spectra.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig02_trained_spectra.png", sys.argv[1:]))
