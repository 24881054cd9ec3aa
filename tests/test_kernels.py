"""Random streams and fused Gibbs kernels against independent references.

References: the stream words recomputed with Python integers from the documented
formula, ``numpy.exp``/``scipy.special.expit`` for the exponential and the sigmoid,
binomial statistics (scipy) for the Bernoulli draws.
"""

import numba
import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from pyrbm._kernels import gibbs, ieee, rng
from pyrbm._threads import workers

MASK = (1 << 64) - 1


# ----------------------------------------------------------------------------- references
def _splitmix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _ror(x, k):
    return ((x >> k) | (x << (64 - k))) & MASK


def _nasam(x):
    x ^= _ror(x, 25) ^ _ror(x, 47)
    x = (x * 0x9E6C63D0676A9A99) & MASK
    x ^= (x >> 23) ^ (x >> 51)
    x = (x * 0x9E6D62D06F6A9A9B) & MASK
    return x ^ (x >> 23) ^ (x >> 51)


def _ref_stream(seed, c):
    base = _splitmix((seed ^ 0x6A09E667F3BCC909) & MASK)
    key = _splitmix((base + (2 * c + 1) * 0x9E3779B97F4A7C15) & MASK)
    gamma = _splitmix((base + (2 * c + 2) * 0x9E3779B97F4A7C15) & MASK) | 1
    if bin(gamma ^ (gamma >> 1)).count("1") < 24:
        gamma ^= 0xAAAAAAAAAAAAAAAA
    return key, gamma


def _ref_word(key, gamma, n):
    return _nasam((key + n * gamma) & MASK)


def _ref_u32(bits32):
    return (2 * (bits32 >> 9) + 1) * 2.0 ** -24


def _ref_u64(word):
    return (2 * (word >> 12) + 1) * 2.0 ** -53


def _ref_samples(seed, field, bias, beta, spin, n0=0, dtype=np.float64):
    """Row samples from the documented stream layout, with p from scipy's expit."""
    C, n = field.shape
    lam = 2.0 if spin else 1.0
    out = np.empty((C, n))
    for c in range(C):
        key, gamma = _ref_stream(seed, c)
        p = expit(lam * beta * (field[c].astype(np.float64) + bias))
        if dtype == np.float32:
            m = n // 2
            u = np.empty(n)
            for j in range(m):
                w = _ref_word(key, gamma, n0 + j)
                u[j], u[j + m] = _ref_u32(w & 0xFFFFFFFF), _ref_u32(w >> 32)
            if n % 2:
                u[n - 1] = _ref_u32(_ref_word(key, gamma, n0 + m) & 0xFFFFFFFF)
        else:
            u = np.array([_ref_u64(_ref_word(key, gamma, n0 + j)) for j in range(n)])
        out[c] = np.where(u < p, 1.0, -1.0 if spin else 0.0)
    return out


# ----------------------------------------------------------------------------- streams
def test_streams_match_the_documented_splitmix_derivation():
    st = rng.make_streams(2024, 6)
    assert st.dtype == np.uint64 and st.shape == (6, 4)
    for c in range(6):
        key, gamma = _ref_stream(2024, c)
        assert int(st[c, 0]) == key and int(st[c, 1]) == gamma
        assert int(st[c, 2]) == 0 and int(st[c, 1]) % 2 == 1
    # chain c's stream depends on (seed, c) only
    assert np.array_equal(rng.make_streams(2024, 3), st[:3])
    assert not np.array_equal(rng.make_streams(2025, 6)[:, :2], st[:, :2])


@pytest.mark.parametrize("seed", [-1, 2 ** 64, 1.5, "7", True])
def test_streams_refuse_bad_seeds(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        rng.make_streams(seed, 2)


def test_streams_refuse_bad_chain_count():
    with pytest.raises(ValueError, match="n_chains"):
        rng.make_streams(0, -1)


@numba.njit
def _draw_uniforms(state, n):
    out = np.empty((state.shape[0], n))
    for c in range(state.shape[0]):
        for i in range(n):
            out[c, i] = rng.uniform(state, c)
    return out


def test_scalar_uniform_draws_follow_the_stream_and_are_uniform():
    st = rng.make_streams(5, 3)
    u = _draw_uniforms(st, 4000)
    assert np.all(st[:, 2] == 4000)
    key, gamma = _ref_stream(5, 1)
    assert u[1, 17] == _ref_u64(_ref_word(key, gamma, 17))
    assert np.all((u > 0) & (u < 1))
    for c in range(3):
        assert stats.kstest(u[c], "uniform").pvalue > 1e-3
    # streams of neighbouring chains are uncorrelated
    r = np.corrcoef(u)[np.triu_indices(3, 1)]
    assert np.all(np.abs(r) < 5 / np.sqrt(4000))


# ----------------------------------------------------------------------------- exp and sigmoid
@numba.njit
def _exp_both(x32, x64):
    o32 = np.empty_like(x32)
    o64 = np.empty_like(x64)
    for i in range(x32.size):
        o32[i] = ieee.exp32(x32[i])
    for i in range(x64.size):
        o64[i] = ieee.exp64(x64[i])
    return o32, o64


def test_polynomial_exponentials_match_numpy():
    x32 = np.linspace(-87.0, 87.0, 100_001).astype(np.float32)
    x64 = np.linspace(-708.0, 708.0, 100_001)
    e32, e64 = _exp_both(x32, x64)
    assert np.max(np.abs(e32 / np.exp(x32.astype(np.float64)) - 1)) < 2.5e-7
    assert np.max(np.abs(e64 / np.exp(x64) - 1)) < 1e-15


@pytest.mark.parametrize("dtype,tol", [(np.float32, 3e-7), (np.float64, 1e-15)])
@pytest.mark.parametrize("spin", [False, True])
def test_prob_layer_is_the_sigmoid(dtype, tol, spin):
    r = np.random.default_rng(0)
    field = (20 * r.normal(size=(33, 17))).astype(dtype)
    bias = r.normal(size=17)
    beta = np.linspace(0.1, 3.0, 33)
    out = np.empty_like(field)
    gibbs.prob_layer(field, bias, beta, spin, out)
    ref = expit((2.0 if spin else 1.0) * beta[:, None] * (field.astype(np.float64) + bias.astype(dtype)))
    assert out.dtype == dtype
    assert np.max(np.abs(out - ref)) < tol


# ----------------------------------------------------------------------------- Bernoulli draws
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spin", [False, True])
def test_samples_equal_the_reference_stream_construction(dtype, spin):
    r = np.random.default_rng(1)
    C, n = 4, 9  # odd n exercises the unpaired last unit of float32 rows
    field = r.normal(size=(C, n)).astype(dtype)
    bias = r.normal(size=n)
    st = rng.make_streams(77, C)
    out = np.empty_like(field)
    gibbs.sample_layer(field, bias, 0.8, spin, st, out)
    ref = _ref_samples(77, field, bias.astype(dtype), 0.8, spin, dtype=dtype)
    assert np.array_equal(out, ref)
    used = (n + 1) // 2 if dtype == np.float32 else n
    assert np.all(st[:, 2] == used)
    # second call continues the stream
    gibbs.sample_layer(field, bias, 0.8, spin, st, out)
    ref2 = _ref_samples(77, field, bias.astype(dtype), 0.8, spin, n0=used, dtype=dtype)
    assert np.array_equal(out, ref2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spin", [False, True])
def test_bernoulli_frequencies_match_the_sigmoid(dtype, spin):
    C = 40_000
    t = np.linspace(-4, 4, 9)
    field = np.tile(t, (C, 1)).astype(dtype)
    bias = np.full(9, 0.25)
    st = rng.make_streams(3, C)
    out = np.empty_like(field)
    gibbs.sample_layer(field, bias, 0.6, spin, st, out)
    assert set(np.unique(out)) <= ({-1.0, 1.0} if spin else {0.0, 1.0})
    k = np.sum(out == 1.0, axis=0)
    p = expit((2.0 if spin else 1.0) * 0.6 * (t + 0.25))
    pvals = [stats.binomtest(int(ki), C, pi).pvalue for ki, pi in zip(k, p)]
    # Bonferroni over 9 columns x 4 parametrisations
    assert min(pvals) > 1e-4 / 36


def test_extreme_fields_give_deterministic_units():
    field = np.array([[-1e30, -200.0, 200.0, 1e30]] * 1000, dtype=np.float32)
    out = np.empty_like(field)
    gibbs.sample_layer(field, np.zeros(4), 1.0, False, rng.make_streams(0, 1000), out)
    assert np.all(out == [0, 0, 1, 1])


def _run_rows(dtype, threads):
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        r = np.random.default_rng(2)
        field = r.normal(size=(64, 37)).astype(dtype)
        st = rng.make_streams(11, 64)
        out = np.empty_like(field)
        res = []
        for _ in range(3):
            gibbs.sample_layer(field, np.zeros(37), 1.0, False, st, out)
            res.append(out.copy())
        return np.stack(res), st
    finally:
        numba.set_num_threads(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_identical_for_one_and_two_threads(dtype):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba was started with a single thread")
    a, sa = _run_rows(dtype, 1)
    b, sb = _run_rows(dtype, 2)
    assert np.array_equal(a, b) and np.array_equal(sa, sb)


def test_in_place_and_misaligned_buffers_give_identical_samples():
    r = np.random.default_rng(4)
    field = r.normal(size=(16, 101)).astype(np.float32)
    ref = np.empty_like(field)
    gibbs.sample_layer(field, np.ones(101), 1.3, True, rng.make_streams(9, 16), ref)
    # in place: out is field
    f2 = field.copy()
    gibbs.sample_layer(f2, np.ones(101), 1.3, True, rng.make_streams(9, 16), f2)
    assert np.array_equal(f2, ref)
    # rows starting at an address that is not 16-byte aligned
    raw = np.empty(16 * 101 + 1, dtype=np.float32)
    f3 = raw[1:].reshape(16, 101)
    f3[...] = field
    o3 = np.empty_like(raw)[1:].reshape(16, 101)
    gibbs.sample_layer(f3, np.ones(101), 1.3, True, rng.make_streams(9, 16), o3)
    assert np.array_equal(o3, ref)


def test_sample_layer_refuses_mismatched_arguments():
    f = np.zeros((3, 4), np.float32)
    st = rng.make_streams(0, 3)
    with pytest.raises(ValueError, match="out"):
        gibbs.sample_layer(f, np.zeros(4), 1.0, False, st, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="bias"):
        gibbs.sample_layer(f, np.zeros(5), 1.0, False, st, f)
    with pytest.raises(ValueError, match="streams"):
        gibbs.sample_layer(f, np.zeros(4), 1.0, False, st[:2], f)
    with pytest.raises(ValueError, match="beta"):
        gibbs.sample_layer(f, np.zeros(4), np.ones(2), False, st, f)
    with pytest.raises(TypeError, match="field"):
        gibbs.sample_layer(f.astype(np.int32), np.zeros(4), 1.0, False, st, f)


# ----------------------------------------------------------------------------- tiled sweeps
def _dyadic_model(n_rows, n, m, dtype, spin, seed=5):
    """Couplings k/64 with |k| <= 8: every product ``v @ W`` is exact in float32 and
    float64, whatever order BLAS sums in (BLAS may sum a row differently in a small
    tile than in the whole matrix), so tiled and untiled fields agree exactly."""
    r = np.random.default_rng(seed)
    W = (r.integers(-8, 9, size=(n, m)) / 64.0).astype(dtype)
    a = r.normal(scale=0.5, size=n).astype(dtype)
    b = r.normal(scale=0.5, size=m).astype(dtype)
    betas = r.uniform(0.3, 2.0, size=n_rows)  # one inverse temperature per row
    v = r.integers(0, 2, size=(n_rows, n)).astype(dtype)
    if spin:
        v = 2 * v - 1
    return W, a, b, betas, v


def _untiled_sweeps(v, W, a, b, betas, spin, streams, n_sweeps):
    """The untiled sweep: full-size products, then the fused kernel on all rows."""
    v = v.copy()
    h = np.empty((v.shape[0], W.shape[1]), v.dtype)
    for _ in range(n_sweeps):
        fh = v @ W
        gibbs.sample_layer(fh, b, betas, spin, streams, h)
        fv = h @ W.T
        gibbs.sample_layer(fv, a, betas, spin, streams, v)
    energy = -(v.astype(np.float64) @ a.astype(np.float64) + h.astype(np.float64) @ b.astype(np.float64)
               + np.einsum("ri,ij,rj->r", v.astype(np.float64), W.astype(np.float64), h.astype(np.float64)))
    return v, h, energy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spin", [False, True])
@pytest.mark.parametrize("tile_rows", [1, 7, 23, 30])
def test_tiled_sweeps_equal_the_untiled_sweep(dtype, spin, tile_rows):
    n_rows, n, m, n_sweeps = 23, 13, 9, 3  # odd sizes: a short last tile, unpaired float32 units
    W, a, b, betas, v0 = _dyadic_model(n_rows, n, m, dtype, spin)
    ref_v, ref_h, ref_e = _untiled_sweeps(v0, W, a, b, betas, spin, rng.make_streams(3, n_rows), n_sweeps)
    ref_st = rng.make_streams(3, n_rows)
    _untiled_sweeps(v0, W, a, b, betas, spin, ref_st, n_sweeps)

    v, h = v0.copy(), np.zeros((n_rows, m), dtype)
    st = rng.make_streams(3, n_rows)
    ws = gibbs.make_workspace(n_rows, n, m, dtype, tile_rows=tile_rows)
    assert ws.tile_rows == min(tile_rows, n_rows) and ws.field_h.shape == (ws.tile_rows, m)
    energy = np.empty(n_rows)
    gibbs.block_gibbs_sweeps(v, h, W, a, b, betas, spin, st, n_sweeps, ws, energy=energy,
                             energy_biases=(a.astype(np.float64), b.astype(np.float64)))
    assert np.array_equal(v, ref_v) and np.array_equal(h, ref_h) and np.array_equal(st, ref_st)
    np.testing.assert_allclose(energy, ref_e, rtol=1e-12, atol=1e-12)
    assert np.unique(v).size == 2 and np.unique(h).size == 2  # both values drawn: a test that can fail


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_sweep_follows_the_reference_streams(dtype):
    """One sweep at per-row betas against the stream words recomputed with Python integers."""
    n_rows, n, m = 11, 7, 5
    W, a, b, betas, v0 = _dyadic_model(n_rows, n, m, dtype, False, seed=8)
    v, h = v0.copy(), np.zeros((n_rows, m), dtype)
    gibbs.block_gibbs_sweeps(v, h, W, a, b, betas, False, rng.make_streams(21, n_rows), 1,
                             gibbs.make_workspace(n_rows, n, m, dtype, tile_rows=4))
    ref_h = np.stack([_ref_samples(21, (v0 @ W)[:c + 1], b, betas[c], False, dtype=dtype)[c] for c in range(n_rows)])
    used = (m + 1) // 2 if dtype == np.float32 else m
    ref_v = np.stack([_ref_samples(21, (ref_h @ W.T)[:c + 1], a, betas[c], False, n0=used, dtype=dtype)[c]
                      for c in range(n_rows)])
    assert np.array_equal(h, ref_h) and np.array_equal(v, ref_v)


@pytest.mark.parametrize("spin", [False, True])
def test_tiled_start_equals_the_untiled_start(spin):
    """sample_uniform and sample_hidden: the zero-field draw and h ~ p(h|v) of the untiled code."""
    n_rows, n, m = 19, 13, 9
    W, a, b, betas, _ = _dyadic_model(n_rows, n, m, np.float32, spin)
    st_ref = rng.make_streams(4, n_rows)
    v_ref = np.empty((n_rows, n), np.float32)
    gibbs.sample_layer(np.zeros((n_rows, n), np.float32), np.zeros(n), betas, spin, st_ref, v_ref)
    h_ref = np.empty((n_rows, m), np.float32)
    gibbs.sample_layer(v_ref @ W, b, betas, spin, st_ref, h_ref)
    st = rng.make_streams(4, n_rows)
    v, h = np.empty((n_rows, n), np.float32), np.empty((n_rows, m), np.float32)
    ws = gibbs.make_workspace(n_rows, n, m, np.float32, tile_rows=5)
    gibbs.sample_uniform(v, h, betas, spin, st, ws)
    gibbs.sample_hidden(v, h, W, b, betas, spin, st, ws)
    assert np.array_equal(v, v_ref) and np.array_equal(h, h_ref) and np.array_equal(st, st_ref)


def test_default_tiles_are_balanced_and_bounded():
    for rows, n, m, dt in [(1000, 784, 500, np.float32), (10_000, 784, 500, np.float32),
                           (100_000, 784, 500, np.float32), (100_000, 784, 500, np.float64), (7, 3, 2, np.float64)]:
        t = gibbs.default_tile_rows(rows, n, m, dt)
        n_tiles = -(-rows // t)
        assert t * (n + m) * np.dtype(dt).itemsize <= gibbs.TILE_BYTES or t == 1
        assert rows - (n_tiles - 1) * t >= t - n_tiles  # the last tile is about as long as the others
        ws = gibbs.make_workspace(rows, n, m, dt)
        assert ws.field_h.nbytes + ws.field_v.nbytes <= gibbs.TILE_BYTES
    assert gibbs.default_tile_rows(5000, 100, 60, np.float32) == 5000  # fits: one tile, the untiled sweep


def test_tiled_sweeps_refuse_mismatched_arguments():
    W, a, b, betas, v = _dyadic_model(6, 5, 4, np.float32, False)
    h, st = np.zeros((6, 4), np.float32), rng.make_streams(0, 6)
    ws = gibbs.make_workspace(6, 5, 4, np.float32, tile_rows=2)
    args = [v, h, W, a, b, betas, False, st, 1, ws]
    for i, name in [(0, "v"), (1, "h"), (2, "W"), (3, "a"), (4, "b"), (5, "beta_rows"), (7, "streams")]:
        bad = list(args)
        bad[i] = args[i][:-1] if args[i].ndim == 1 else args[i][:, :-1]
        with pytest.raises((ValueError, TypeError), match=name):
            gibbs.block_gibbs_sweeps(*bad)
    with pytest.raises(ValueError, match="workspace"):
        gibbs.block_gibbs_sweeps(*args[:9], gibbs.make_workspace(6, 5, 4, np.float64))
    with pytest.raises(ValueError, match="n_sweeps"):
        gibbs.block_gibbs_sweeps(*args[:8], -1, ws)
    with pytest.raises(ValueError, match="energy"):
        gibbs.block_gibbs_sweeps(*args, energy=np.empty(6))
    with pytest.raises(ValueError, match="tile_rows"):
        gibbs.make_workspace(6, 5, 4, np.float32, tile_rows=0)


# ----------------------------------------------------------------------------- the sampler on tiles
GOLDEN = __import__("pathlib").Path(__file__).parent / "golden" / "before_redesign.npz"


def test_gibbs_with_many_chains_reproduces_the_golden_arrays():
    """5000 chains of a 100x60 model, recorded by the code before the tiled sweeps."""
    import pyrbm
    from pyrbm import GibbsSampler, Hamiltonian

    rng_ = np.random.default_rng(2)
    ham = Hamiltonian(0.05 * rng_.standard_normal((100, 60)), 0.3 * rng_.standard_normal(100),
                      0.3 * rng_.standard_normal(60))
    ds, state = GibbsSampler(5000, seed=9).run(ham, n_steps=4, thin=2, observables=[pyrbm.Energy()])
    with np.load(GOLDEN) as z:
        for key, got in [("energy", ds["energy"].values), ("state_v", state.v), ("state_h", state.h),
                         ("state_streams", state.streams)]:
            want = z["gibbs_f32_many/" + key]
            assert got.dtype == want.dtype and np.array_equal(got, want), key


def test_gibbs_memory_grows_only_with_the_chains_state():
    """advance allocates a copy of the chains and one tile of fields per thread, not fields for every chain."""
    import tracemalloc

    from pyrbm import GibbsSampler, Hamiltonian

    ham = Hamiltonian.random(60, 40, sigma_w=0.1, seed=1)
    sampler = GibbsSampler(100_000, seed=1)
    state = sampler.init_state(ham)
    own = state.v.nbytes + state.h.nbytes + state.streams.nbytes  # 43 MB; all fields: 40 MB
    tracemalloc.start()
    try:
        sampler.advance(ham, state=state, n_steps=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 1.05 * own + workers() * gibbs.TILE_BYTES, (peak, own)


# ----------------------------------------------------------------------------- thread policy
def test_run_tiles_runs_every_tile_once_with_one_blas_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from pyrbm._threads import run_tiles

    seen, blas_threads, numba_threads = [], set(), set()

    def fn(tile, slot):
        seen.append((tile, slot))
        blas_threads.update(i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
        numba_threads.add(numba.get_num_threads())

    run_tiles(fn, 13)
    assert sorted(t for t, _ in seen) == list(range(13))
    assert {s for _, s in seen} <= set(range(workers()))
    assert blas_threads == {1} and numba_threads == {1}  # never BLAS and numba spread inside a tile


def test_run_tiles_reraises_the_error_of_a_tile():
    from pyrbm._threads import run_tiles

    def fn(tile, slot):
        if tile == 3:
            raise KeyError("tile 3")

    with pytest.raises(KeyError, match="tile 3"):
        run_tiles(fn, 8)


def test_small_products_stay_one_tile_and_large_ones_are_shared():
    # 200x100, 64 chains (1.3e6 multiply-adds a product): one tile, one thread (no split to wait on)
    assert gibbs.default_tile_rows(64, 200, 100, np.float32) == 64
    # AIS at 784x500, 100 chains: two tiles of 50 (a thread each on two cores)
    assert gibbs.default_tile_rows(100, 784, 500, np.float32) == 50
    # 10,000 chains: tiles whose fields fit in TILE_BYTES, at least MAX_SPLIT of them
    t = gibbs.default_tile_rows(10_000, 784, 500, np.float32)
    assert -(-10_000 // t) >= gibbs.MAX_SPLIT and t * (784 + 500) * 4 <= gibbs.TILE_BYTES


@pytest.mark.parametrize("spin", [False, True])
def test_ais_identical_for_one_and_two_threads(spin):
    """Tiles on two threads or one: the same log-weights bit for bit (chains own their streams)."""
    import pyrbm

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba was started with a single thread")
    ham = pyrbm.Hamiltonian.random(784, 500, sigma_w=0.05, seed=2, units="spin" if spin else "binary")
    assert gibbs.default_tile_rows(100, 784, 500, np.float32) < 100  # really split into tiles
    old = numba.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            out.append(pyrbm.ais(ham, n_chains=100, n_betas=30, schedule="linear", seed=4).log_weights)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(out[0], out[1]) and np.unique(out[0]).size == 100
