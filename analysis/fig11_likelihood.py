"""Figure 11: AIS and reverse-AIS test log-likelihood against epoch per hidden size.

    python analysis/fig11_likelihood.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig11_likelihood.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig11_likelihood.png", sys.argv[1:]))
