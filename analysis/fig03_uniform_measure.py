"""Figure 3: reciprocal coordinates x_k under the uniform measure against N(μ_k, 1/4).

    python analysis/fig03_uniform_measure.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig03_uniform_measure.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig03_uniform_measure.png", sys.argv[1:]))
