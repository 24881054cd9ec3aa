"""Training data: MNIST from the original IDX files, a synthetic hierarchy, validation.

MNIST is read from the four original gzip-compressed IDX files
(``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``). The IDX header is
parsed here with numpy: a big-endian magic number ``0x00 0x00 <type> <ndim>``
(``0x803`` for the uint8 image tensors, ``0x801`` for the uint8 label vectors),
then ``ndim`` big-endian int32 sizes, then the data.

The directory holding the files is resolved in this order: the ``root`` argument,
the ``PYRBM_DATA`` environment variable, then the user cache directory
(``$XDG_CACHE_HOME/pyrbm/mnist``, by default ``~/.cache/pyrbm/mnist``).
Nothing is downloaded unless ``download=True`` is passed; downloads are checked
against the published md5 sums.

The synthetic set (:func:`hierarchical`) is a tree of binary prototypes whose
features (flipped blocks) have a known strength ordering, so that the order in
which a trained RBM learns its modes can be compared with the planted order.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["mnist", "mnist_dirs", "read_idx", "hierarchical", "HierarchicalData", "validate_data"]

#: File names of the two splits: (images, labels).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: Published md5 sums of the compressed files.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Mirrors tried in order by ``download=True``.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_IDX_IMAGES = 0x803  # unsigned byte, 3 dimensions
_IDX_LABELS = 0x801  # unsigned byte, 1 dimension


# --------------------------------------------------------------------------- MNIST


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyrbm" / "mnist"


def mnist_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for the MNIST files, in order.

    Parameters
    ----------
    root : path-like, optional
        Explicit directory; when given it is the only place searched.

    Returns
    -------
    list of Path
        ``[root]`` if ``root`` is given, else ``[$PYRBM_DATA, cache]`` (the
        environment variable only when set).
    """
    if root is not None:
        return [Path(root).expanduser()]
    dirs = []
    env = os.environ.get("PYRBM_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(_cache_dir())
    return dirs


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(name: str, directory: Path) -> Path:
    """Fetch one file from the mirrors into ``directory``, checking its md5."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    errors = []
    for mirror in MNIST_MIRRORS:
        tmp = directory / f".{name}.part"
        try:
            with urllib.request.urlopen(mirror + name, timeout=60) as r, open(tmp, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
            digest = _md5(tmp)
            if digest != MNIST_MD5[name]:
                raise OSError(f"md5 {digest} != expected {MNIST_MD5[name]}")
            os.replace(tmp, target)
            return target
        except OSError as exc:  # URLError is an OSError
            errors.append(f"{mirror}{name}: {exc}")
            tmp.unlink(missing_ok=True)
    raise OSError("could not download MNIST file %s:\n  %s" % (name, "\n  ".join(errors)))


def _find(names: tuple[str, ...], root, download: bool) -> list[Path]:
    dirs = mnist_dirs(root)
    for d in dirs:
        if all((d / n).is_file() for n in names):
            return [d / n for n in names]
    if download:
        target = dirs[0]
        return [target / n if (target / n).is_file() else _download(n, target) for n in names]
    looked = "\n".join(f"  {d}  (missing: {', '.join(n for n in names if not (d / n).is_file())})"
                       for d in dirs)
    raise FileNotFoundError(
        "MNIST files not found. Looked in:\n" + looked + "\n"
        "Get them by one of:\n"
        "  * set PYRBM_DATA to a directory holding the four original IDX .gz files "
        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz);\n"
        "  * pass root=<that directory>;\n"
        f"  * call pyrbm.datasets.mnist(..., download=True) to fetch them into {dirs[0]} "
        "(md5-checked)."
    )


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes.

    Parameters
    ----------
    path : path-like
        The ``.gz`` file.
    magic : int, optional
        Expected magic number (``0x803`` images, ``0x801`` labels).

    Returns
    -------
    ndarray of uint8
        Shape given by the header, e.g. (60000, 28, 28).
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a complete gzip-compressed IDX file ({err}); the file is "
                         "truncated or damaged: delete it and fetch it again "
                         "(pyrbm.datasets.mnist(download=True) checks the md5)") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file")
    head = int.from_bytes(raw[:4], "big")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: magic 0x{head:08x} is not an unsigned-byte IDX file")
    if magic is not None and head != magic:
        raise ValueError(f"{path}: magic 0x{head:x}, expected 0x{magic:x}")
    ndim = raw[3]
    shape = tuple(int(x) for x in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} = {int(np.prod(shape))} bytes, "
                         f"file holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def mnist(split: str = "train", *, root=None, binarize: float | None = 0.5, digits=None,
          download: bool = False, stochastic: bool = False, seed=None,
          return_labels: bool = False):
    """MNIST handwritten digits as flat visible configurations.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test images.
    root : path-like, optional
        Directory with the four IDX ``.gz`` files; default ``$PYRBM_DATA``, then
        the user cache (``$XDG_CACHE_HOME/pyrbm/mnist`` or ``~/.cache/pyrbm/mnist``).
    binarize : float or None
        Threshold on the grey level ``x = pixel/255``: ``v = 1[x >= binarize]``, a number
        in (0, 1]. ``None`` returns the grey levels as float32 in [0, 1].
    digits : int or sequence of int, optional
        Keep only these digits (in file order).
    download : bool
        Fetch missing files from the canonical mirrors (md5-checked) into the
        first directory searched. Never done implicitly.
    stochastic : bool
        Binarise stochastically instead: ``v ~ Bernoulli(x)``, reproducible with ``seed``.
    seed : int, optional
        Seed of the stochastic binarisation.
    return_labels : bool
        Also return the labels.

    Returns
    -------
    images : ndarray, shape (n, 784)
        uint8 in {0, 1} when binarised, float32 in [0, 1] when ``binarize=None``.
    labels : ndarray of uint8, shape (n,)
        Only with ``return_labels=True``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if binarize is not None and not stochastic:
        if (isinstance(binarize, (bool, np.bool_)) or not isinstance(binarize, (int, float, np.number))
                or not 0.0 < binarize <= 1.0):
            raise ValueError(f"binarize must be a grey-level threshold in (0, 1] (e.g. 0.5) or None "
                             f"for grey levels, got {binarize!r}; outside (0, 1] every pixel would "
                             "be 0 (or 1)")
    if stochastic and binarize is None:
        raise ValueError("stochastic=True binarises; it cannot be combined with binarize=None")
    if digits is not None:
        digits = np.atleast_1d(np.asarray(digits))
        if digits.size == 0 or not np.all(np.isin(digits, np.arange(10))):
            raise ValueError(f"digits must be integers in 0..9, got {digits.tolist()}")
    img_path, lab_path = _find(MNIST_FILES[split], root, download)
    images = read_idx(img_path, magic=_IDX_IMAGES)
    labels = read_idx(lab_path, magic=_IDX_LABELS)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{img_path} holds {images.shape[0]} images but {lab_path} "
                         f"holds {labels.shape[0]} labels")
    images = images.reshape(images.shape[0], -1)
    if digits is not None:
        keep = np.isin(labels, digits)
        images, labels = images[keep], labels[keep]
    if stochastic:
        rng = np.random.default_rng(seed)
        out = np.empty(images.shape, dtype=np.uint8)
        for i in range(0, images.shape[0], 8192):  # bounded float temporaries
            block = images[i:i + 8192]
            out[i:i + 8192] = rng.random(block.shape, dtype=np.float32) * 255.0 < block
    elif binarize is None:
        out = images.astype(np.float32) / np.float32(255.0)
    else:
        # x >= t  <=>  pixel >= 255 t, evaluated on the exact grey level pixel/255.
        out = (images.astype(np.float64) / 255.0 >= binarize).astype(np.uint8)
    return (out, labels.copy()) if return_labels else out


# --------------------------------------------------------------------------- synthetic


@dataclass(frozen=True)
class HierarchicalData:
    """A synthetic data set with planted hierarchical features.

    Attributes
    ----------
    data : ndarray of uint8, shape (n_samples, n_visible)
    leaf : ndarray of int, shape (n_samples,)
        Leaf (prototype) each sample was drawn from.
    prototypes : ndarray of uint8, shape (n_leaves, n_visible)
    directions : ndarray of float64, shape (n_features, n_visible)
        Planted directions: exact principal axes (unit vectors) of the data
        covariance inside the span of the flipped blocks, ordered by variance.
    variances : ndarray, shape (n_features,)
        Exact data variance along each direction (descending). Every direction
        orthogonal to all of them has the noise variance ``noise (1 - noise)``.
    block_directions : ndarray, shape (n_features, n_visible)
        Unit sign vectors of the individual flipped blocks, in tree
        (breadth-first) order: ``(1 - 2 p_root)`` on the block, 0 elsewhere.
    block_depth : ndarray of int, shape (n_features,)
        Depth of the tree node that flips each block (1 = child of the root).
    block : ndarray of int, shape (n_visible,)
        Index of the block each unit belongs to (-1: none).
    """

    data: np.ndarray
    leaf: np.ndarray
    prototypes: np.ndarray
    directions: np.ndarray
    variances: np.ndarray
    block_directions: np.ndarray
    block_depth: np.ndarray
    block: np.ndarray


def hierarchical(*, n_samples: int = 2000, n_visible: int = 20, depth: int = 2,
                 branching: int = 2, noise: float = 0.05, block_sizes=None,
                 seed=None) -> HierarchicalData:
    r"""Binary data drawn from a tree of prototypes with planted features.

    The root prototype :math:`p_0` is a random binary pattern. Every internal
    node has ``branching`` children; the first child inherits its parent's
    pattern, each other child flips one block of units (blocks are disjoint over
    the whole tree). A sample is a uniformly chosen leaf's pattern with every
    bit flipped independently with probability ``noise``. There are
    :math:`F = b^D - 1` features; feature :math:`f` (node at depth :math:`d_f`)
    is carried by :math:`z_f = 1[\text{leaf under node } f]` with
    :math:`P(z_f) = b^{-d_f}`.

    The exact covariance of the data is
    :math:`C = (1-2\eta)^2 E G E^T + \eta(1-\eta) I` with :math:`E` the unit block
    directions and :math:`G_{fg} = \sqrt{|B_f||B_g|}\,\mathrm{Cov}(z_f, z_g)`,
    so the planted directions (eigenvectors of :math:`E G E^T`) are exact
    principal axes of the data; an RBM started at small weights learns them as
    modes in order of decreasing variance.

    Parameters
    ----------
    n_samples : int
    n_visible : int
        Number of units N; must be at least the number of features.
    depth : int
        Tree depth D >= 1.
    branching : int
        Children per node b >= 2.
    noise : float
        Independent bit-flip probability in [0, 0.5).
    block_sizes : sequence of int, optional
        Size of each feature's block in breadth-first order (sum <= N). Default:
        distinct sizes decreasing geometrically (ratio 0.8) filling all N units,
        which makes every planted variance distinct.
    seed : int, optional

    Returns
    -------
    HierarchicalData
    """
    for name, val, lo in (("n_samples", n_samples, 1), ("n_visible", n_visible, 1),
                          ("depth", depth, 1), ("branching", branching, 2)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}")
    if not (np.isscalar(noise) and 0.0 <= noise < 0.5):
        raise ValueError(f"noise must be a probability in [0, 0.5), got {noise!r}")
    n_feat = branching**depth - 1
    if block_sizes is None:
        if n_visible < n_feat:
            raise ValueError(f"n_visible={n_visible} is smaller than the number of features "
                             f"{n_feat} = branching**depth - 1; raise n_visible or lower depth")
        w = 0.8 ** np.arange(n_feat)
        sizes = np.maximum(1, np.floor(n_visible * w / w.sum())).astype(int)
        sizes[0] += n_visible - sizes.sum()  # fill all units
    else:
        sizes = np.asarray(block_sizes, dtype=int)
        if sizes.shape != (n_feat,) or np.any(sizes < 1) or sizes.sum() > n_visible:
            raise ValueError(f"block_sizes must be {n_feat} positive integers summing to at most "
                             f"n_visible={n_visible}, got {list(np.atleast_1d(block_sizes))}")
    rng = np.random.default_rng(seed)
    root = rng.integers(0, 2, n_visible).astype(np.uint8)
    block = np.full(n_visible, -1, dtype=int)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for f in range(n_feat):
        block[starts[f]:starts[f + 1]] = f

    # Nodes in breadth-first order; node id = index in the full b-ary tree (root 0).
    # Feature index of non-first children, in breadth-first order.
    n_nodes = (branching ** (depth + 1) - 1) // (branching - 1)
    feat_of_node = np.full(n_nodes, -1, dtype=int)
    depth_of_node = np.zeros(n_nodes, dtype=int)
    f = 0
    for node in range(1, n_nodes):
        depth_of_node[node] = depth_of_node[(node - 1) // branching] + 1
        if (node - 1) % branching != 0:
            feat_of_node[node] = f
            f += 1
    first_leaf = n_nodes - branching**depth
    n_leaves = branching**depth
    # Which features are on for each leaf (ancestors' features, including itself).
    z = np.zeros((n_leaves, n_feat), dtype=np.float64)
    for leaf in range(n_leaves):
        node = first_leaf + leaf
        while node > 0:
            if feat_of_node[node] >= 0:
                z[leaf, feat_of_node[node]] = 1.0
            node = (node - 1) // branching
    sign = 1.0 - 2.0 * root  # direction of a flip from the root pattern
    flips = z[:, block].astype(bool) & (block >= 0)  # (n_leaves, N)
    prototypes = (root[None, :] ^ flips).astype(np.uint8)

    leaf = rng.integers(0, n_leaves, n_samples)
    data = prototypes[leaf] ^ (rng.random((n_samples, n_visible)) < noise)
    data = data.astype(np.uint8)

    E = np.zeros((n_feat, n_visible))
    for f in range(n_feat):
        on = block == f
        E[f, on] = sign[on] / np.sqrt(on.sum())
    covz = z.T @ z / n_leaves - np.outer(z.mean(0), z.mean(0))  # exact: leaves uniform
    root_sizes = np.sqrt(sizes.astype(float))
    G = covz * np.outer(root_sizes, root_sizes)
    lam, Q = np.linalg.eigh(G)
    order = np.argsort(lam)[::-1]
    lam, Q = lam[order], Q[:, order]
    directions = Q.T @ E
    # Deterministic signs: largest-|value| entry positive.
    idx = np.argmax(np.abs(directions), axis=1)
    directions *= np.sign(directions[np.arange(n_feat), idx])[:, None]
    variances = (1 - 2 * noise) ** 2 * lam + noise * (1 - noise)
    block_depth = np.array([depth_of_node[n] for n in range(n_nodes) if feat_of_node[n] >= 0])
    return HierarchicalData(data=data, leaf=leaf, prototypes=prototypes, directions=directions,
                            variances=variances, block_directions=E, block_depth=block_depth,
                            block=block)


# --------------------------------------------------------------------------- validation


def validate_data(data, *, n_visible: int | None = None, labels=None, name: str = "data",
                  binary: bool = True) -> np.ndarray:
    """Check training data before any work is done.

    Parameters
    ----------
    data : array_like, shape (n_samples, n_visible)
        Binary configurations (values exactly 0 or 1).
    n_visible : int, optional
        Required number of features (columns).
    labels : array_like, optional
        Labels that go with ``data``; must be one per sample.
    name : str
        Argument name used in error messages.
    binary : bool
        Require values in {0, 1}.

    Returns
    -------
    ndarray
        ``data`` as a 2-D array (no copy when already an ndarray of a numeric dtype).

    Raises
    ------
    TypeError, ValueError
        Each naming ``name``, what was expected and what to do.
    """
    if data is None:
        if labels is not None:
            raise ValueError(f"{name} is None but labels were given: pass the images "
                             f"(n_samples, n_visible) as {name}, not only their labels")
        raise TypeError(f"{name} must be an array of shape (n_samples, n_visible), got None")
    if isinstance(data, tuple):
        raise TypeError(f"{name} is a tuple of {len(data)} items; pass the image array only "
                        f"(e.g. images, labels = mnist(return_labels=True); use images)")
    arr = np.asarray(data)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 1:
        hint = (" - these look like labels without images; pass the images"
                if arr.size and np.issubdtype(arr.dtype, np.integer) and arr.max(initial=0) > 1
                else "; reshape to (1, n) for a single sample")
        raise ValueError(f"{name} must be 2-D (n_samples, n_visible), got a 1-D array of "
                         f"shape {arr.shape}{hint}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_visible), got shape {arr.shape}; "
                         f"flatten images with {name}.reshape(len({name}), -1)")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples); training needs at least one sample")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features; expected shape (n_samples, n_visible)")
    if n_visible is not None and arr.shape[1] != n_visible:
        raise ValueError(f"{name} has {arr.shape[1]} features (columns) but the model has "
                         f"n_visible={n_visible}; pass data with {n_visible} columns")
    if labels is not None:
        lab = np.asarray(labels)
        if lab.ndim != 1 or lab.shape[0] != arr.shape[0]:
            raise ValueError(f"labels must be 1-D with one entry per sample of {name} "
                             f"({arr.shape[0]}), got shape {lab.shape}")
    if binary and arr.dtype != bool:
        # One cheap pass over the data, no float copy: for integers the range, for floats
        # the 0/1 test (NaN fails it); the diagnosis below runs only on bad data.
        if np.issubdtype(arr.dtype, np.integer):
            ok = arr.size == 0 or (arr.max() <= 1 and (arr.dtype.kind == "u" or arr.min() >= 0))
        else:
            ok = bool(np.all((arr == 0) | (arr == 1)))
        if ok:
            return arr
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(f"{name} holds {int(bad.sum())} non-finite values (NaN/inf), first "
                             f"at [{r}, {c}]; remove or impute them before training")
    if binary and arr.dtype != bool:
        nonbin = (arr != 0) & (arr != 1)
        if nonbin.any():
            r, c = np.argwhere(nonbin)[0]
            raise ValueError(f"{name} must be binary (0/1) but holds {int(nonbin.sum())} other "
                             f"values, first {arr[r, c]!r} at [{r}, {c}]; binarise it, e.g. "
                             f"({name} >= 0.5) or pyrbm.datasets.mnist(binarize=0.5)")
    return arr
