"""Singular values against epoch with the MP edge and 4T (hierarchical learning).

    python analysis/history_singular_values.py STUDY_DIR [--out PATH.png]

STUDY_DIR is a directory written by ``simulations/paper.py``; the default output is
STUDY_DIR/figures/history_singular_values.png. The drawing code is ``pyrbm.figures``.
"""

import sys

from pyrbm.figures import figure_main

if __name__ == "__main__":
    sys.exit(figure_main("history_singular_values.png", sys.argv[1:]))
