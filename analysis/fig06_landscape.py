"""Figure 6: energy landscape of single modes with saddle, samples and test data.

    python analysis/fig06_landscape.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig06_landscape.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig06_landscape.png", sys.argv[1:]))
