"""Figure 4: x_k against y_k, uniform measure versus Gibbs samples.

    python analysis/fig04_xy_scatter.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig04_xy_scatter.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig04_xy_scatter.png", sys.argv[1:]))
