"""Tests of pyrbm.datasets: MNIST IDX reading against the published reference numbers,
the synthetic hierarchy against its sample covariance, and data validation."""

import gzip

import numpy as np
import pytest

from pyrbm import datasets
from pyrbm.datasets import hierarchical, mnist, validate_data
from mnist_available import require_mnist

# Reference numbers of the original files (published with the data set).
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MEAN_PIXEL = {"train": 33.3184, "test": 33.7912}


def _load(**kw):
    require_mnist()
    return mnist(**kw)


@pytest.fixture(scope="module")
def train_grey():
    return _load(split="train", binarize=None, return_labels=True)


@pytest.fixture(scope="module")
def test_grey():
    return _load(split="test", binarize=None, return_labels=True)


def test_mnist_shapes_counts_and_mean(train_grey, test_grey):
    for (x, y), n, counts, split in ((train_grey, 60000, TRAIN_COUNTS, "train"),
                                     (test_grey, 10000, TEST_COUNTS, "test")):
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert y.shape == (n,)
        assert np.bincount(y, minlength=10).tolist() == counts
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert abs(x.mean(dtype=np.float64) * 255 - MEAN_PIXEL[split]) < 5e-4


def test_mnist_binarize_threshold_and_digits(test_grey):
    grey, labels = test_grey
    v = _load(split="test", binarize=0.5)
    assert v.dtype == np.uint8 and v.shape == (10000, 784)
    # v = 1[pixel/255 >= 0.5], i.e. pixel >= 128 on the integer grey levels.
    np.testing.assert_array_equal(v, (np.rint(grey * 255) >= 128).astype(np.uint8))
    v3, y3 = _load(split="test", digits=[3, 7], return_labels=True)
    assert set(np.unique(y3)) == {3, 7} and len(y3) == TEST_COUNTS[3] + TEST_COUNTS[7]
    np.testing.assert_array_equal(v3, v[np.isin(labels, [3, 7])])


def test_mnist_stochastic_binarisation(test_grey):
    grey, _ = test_grey
    s1 = _load(split="test", stochastic=True, seed=3)
    s2 = _load(split="test", stochastic=True, seed=3)
    s3 = _load(split="test", stochastic=True, seed=4)
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    assert set(np.unique(s1)) <= {0, 1}
    # E[v] = pixel/255: the mean over 7.84e6 Bernoulli draws is within a few standard errors.
    p = grey.astype(np.float64)
    se = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(s1.mean() - p.mean()) < 5 * se
    assert np.all(s1[grey == 0] == 0) and np.all(s1[grey == 1] == 1)


def test_missing_files_error_lists_every_place(tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    monkeypatch.setenv("PYRBM_DATA", str(env_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as info:
        mnist("test")
    msg = str(info.value)
    assert str(env_dir) in msg and str(tmp_path / "cache" / "pyrbm" / "mnist") in msg
    assert "PYRBM_DATA" in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        mnist("test", root=tmp_path / "nowhere")


def test_idx_header_is_checked(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([2, 3, 4], dtype=">i4").tobytes() + good.tobytes())
    np.testing.assert_array_equal(datasets.read_idx(path, magic=0x803), good)
    with pytest.raises(ValueError, match="expected 0x801"):
        datasets.read_idx(path, magic=0x801)
    with gzip.open(path, "wb") as f:  # truncated data
        f.write(bytes([0, 0, 8, 1]) + np.array([10], dtype=">i4").tobytes() + b"\x01\x02")
    with pytest.raises(ValueError, match="header says"):
        datasets.read_idx(path)


def test_truncated_gzip_file_is_named(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([2, 3, 4], dtype=">i4").tobytes() + good.tobytes())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 12])          # cut inside the compressed stream
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*truncated"):
        datasets.read_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        datasets.read_idx(path)


def test_mnist_binarize_threshold_is_checked():
    for bad in (2, 1.5, 0, -0.1, float("nan"), True, "0.5", [0.5]):
        with pytest.raises(ValueError, match=r"binarize .*\(0, 1\]"):
            mnist("train", binarize=bad, root="/nonexistent")


def test_validate_data_is_one_cheap_pass():
    """Binary uint8 data are validated without copies (no float64 or bool temporaries)."""
    import tracemalloc

    data = (np.random.default_rng(0).random((20000, 784)) < 0.2).astype(np.uint8)  # 15.7 MB
    tracemalloc.start()
    try:
        assert validate_data(data) is data
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    for dtype in (np.int64, np.float32, np.float64, bool):
        assert validate_data(data.astype(dtype)).dtype == dtype
    with pytest.raises(ValueError, match="binary"):
        validate_data(np.where(data == 1, 2, 0).astype(np.int8))
    with pytest.raises(ValueError, match="binary"):
        validate_data(-data.astype(np.int16))


def test_mnist_argument_errors():
    with pytest.raises(ValueError, match="split"):
        mnist("validation")
    with pytest.raises(ValueError, match="digits"):
        mnist(digits=[11])


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("PYRBM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.mnist_dirs() == [tmp_path / "pyrbm" / "mnist"]
    monkeypatch.setenv("PYRBM_DATA", "/some/where")
    assert datasets.mnist_dirs()[0] == datasets.Path("/some/where")
    assert datasets.mnist_dirs("/explicit") == [datasets.Path("/explicit")]


# --------------------------------------------------------------------------- synthetic


def test_hierarchical_planted_directions_are_principal_axes():
    h = hierarchical(n_samples=40000, n_visible=24, depth=2, branching=2, noise=0.1, seed=1)
    F = 3
    assert h.data.shape == (40000, 24) and set(np.unique(h.data)) <= {0, 1}
    assert h.directions.shape == (F, 24) and h.variances.shape == (F,)
    np.testing.assert_allclose(h.directions @ h.directions.T, np.eye(F), atol=1e-12)
    assert np.all(np.diff(h.variances) < 0)
    # Independent reference: eigen-decomposition of the sample covariance.
    cov = np.cov(h.data.T.astype(float), bias=True)
    lam, vec = np.linalg.eigh(cov)
    lam, vec = lam[::-1], vec[:, ::-1]
    overlap = np.abs(h.directions @ vec[:, :F])
    assert np.all(np.diag(overlap) > 0.99), overlap
    np.testing.assert_allclose(lam[:F], h.variances, rtol=0.03)
    # Every other direction carries only the noise variance eta (1 - eta) = 0.09.
    np.testing.assert_allclose(lam[F:], 0.09, atol=0.01)
    # Prototypes: leaves differ from the root by their ancestors' blocks.
    assert h.prototypes.shape == (4, 24)
    assert np.all(h.block_depth == [1, 2, 2])


def test_hierarchical_noise_free_samples_are_prototypes():
    h = hierarchical(n_samples=200, n_visible=30, depth=3, branching=2, noise=0.0, seed=5)
    np.testing.assert_array_equal(h.data, h.prototypes[h.leaf])
    assert h.directions.shape == (7, 30)
    # Sibling leaves differ exactly on one block.
    diff = h.prototypes[0] != h.prototypes[1]
    assert len(np.unique(h.block[diff])) == 1


def test_hierarchical_errors():
    with pytest.raises(ValueError, match="n_visible"):
        hierarchical(n_visible=5, depth=3)
    with pytest.raises(ValueError, match="block_sizes"):
        hierarchical(n_visible=10, depth=2, block_sizes=[5, 5, 5])
    with pytest.raises(ValueError, match="noise"):
        hierarchical(noise=0.7)


# --------------------------------------------------------------------------- validation


def test_validate_data_errors_name_the_argument():
    good = np.zeros((5, 4), dtype=np.uint8)
    assert validate_data(good, n_visible=4) is good
    with pytest.raises(ValueError, match=r"data must be binary.*0\.5"):
        validate_data(np.full((3, 4), 0.5))
    nan = np.zeros((3, 4))
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"data holds 1 non-finite.*\[1, 2\]"):
        validate_data(nan)
    with pytest.raises(ValueError, match="data has 4 features.*n_visible=5"):
        validate_data(good, n_visible=5)
    with pytest.raises(ValueError, match="data is empty"):
        validate_data(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="labels without images"):
        validate_data(np.array([3, 1, 4, 1, 5, 9]))
    with pytest.raises(ValueError, match="not only their labels"):
        validate_data(None, labels=np.arange(3))
    with pytest.raises(TypeError, match="tuple"):
        validate_data((good, np.arange(5)))
    with pytest.raises(ValueError, match="labels must be 1-D with one entry per sample"):
        validate_data(good, labels=np.arange(4))
    with pytest.raises(ValueError, match="train_x must be 2-D"):
        validate_data(np.zeros((2, 3, 4)), name="train_x")

