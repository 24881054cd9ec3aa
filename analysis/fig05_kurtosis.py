"""Figure 5: kurtosis of x_k against 1/N with a linear fit.

    python analysis/fig05_kurtosis.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig05_kurtosis.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig05_kurtosis.png", sys.argv[1:]))
