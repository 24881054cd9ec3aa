"""Figure 7: u_1 and w_1 against epoch (saddle, uniform mean, test data, Gibbs samples).

    python analysis/fig07_order_parameters.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig07_order_parameters.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig07_order_parameters.png", sys.argv[1:]))
