"""Figure 10: rotation-test JS divergence against 1/M with the untrained level.

    python analysis/fig10_js_divergence.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/fig10_js_divergence.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("fig10_js_divergence.png", sys.argv[1:]))
