"""Figure 8: Gibbs samples and Gaussian-surrogate samples as digit grids.

    python analysis/fig08_samples.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig08_samples.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig08_samples.png", sys.argv[1:]))
