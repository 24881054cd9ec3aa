"""``python -m pyrbm``: the ``pyrbm`` command (:mod:`pyrbm.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
