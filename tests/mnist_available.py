"""``needs_mnist``: skip a test, with the reason, when the MNIST IDX files cannot be found.

The files are looked up where :func:`pyrbm.datasets.mnist` looks (``$PYRBM_DATA``, then the
user cache); the default suite passes without them, skipping what needs them.
"""

import pytest

from pyrbm.datasets import MNIST_MD5, mnist_dirs

HAVE_MNIST = any(all((d / name).is_file() for name in MNIST_MD5) for d in mnist_dirs(None))
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="MNIST IDX files not found ($PYRBM_DATA or the cache); "
                                                        "set PYRBM_DATA to run this test")


def require_mnist():
    """Skip the calling test or fixture (with the reason) when MNIST is not available."""
    if not HAVE_MNIST:
        pytest.skip("MNIST IDX files not found ($PYRBM_DATA or the cache); set PYRBM_DATA to run this test")
