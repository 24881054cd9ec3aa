"""AIS and reverse AIS against exact enumeration, closed forms and plain-numpy formulas."""

import itertools

import numba
import numpy as np
import pytest
from numba import prange
from scipy.special import expit, logsumexp

import pyrbm
import pyrbm.annealing as ais_module
from pyrbm import Hamiltonian, ais, annealing_schedule, compare_log_z, reverse_ais
from pyrbm._kernels.annealing import log_weight_step
from mnist_available import require_mnist


# ----------------------------------------------------------------------------- references
def _configs(n, units):
    c = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    return 2 * c - 1 if units == "spin" else c


def _brute_log_p_visible(ham):
    """Unnormalised ln p(v) of every visible configuration, summing −βE over every (v, h)."""
    V, H = _configs(ham.n_visible, ham.units), _configs(ham.n_hidden, ham.units)
    E = -(V @ ham.a)[:, None] - (H @ ham.b)[None, :] - V @ ham.W @ H.T
    return V, logsumexp(-ham.beta * E, axis=1)


def _exact_and_samples(ham, n_samples, seed):
    """Exact ln Z and exact samples of p(v) by enumeration of (v, h)."""
    V, logp = _brute_log_p_visible(ham)
    log_z = logsumexp(logp)
    idx = np.random.default_rng(seed).choice(len(V), size=n_samples, p=np.exp(logp - log_z))
    return log_z, V[idx]


def _model(n, m, sigma_w, bias, seed, units="binary", beta=1.0):
    rng = np.random.default_rng(seed)
    return Hamiltonian(sigma_w * rng.standard_normal((n, m)), bias * rng.standard_normal(n),
                       bias * rng.standard_normal(m), beta=beta, units=units)


# ----------------------------------------------------------------------------- small models
@pytest.mark.parametrize("units,beta", [("binary", 1.0), ("spin", 0.7)])
def test_bracket_exact_and_converge_on_small_models(units, beta):
    """AIS ≤ exact ≤ reverse AIS within the spread; both approach exact as the schedule grows."""
    ham = _model(10, 8, 1.5, 0.5, seed=5, units=units, beta=beta)
    exact, samples = _exact_and_samples(ham, 300, seed=1)
    assert abs(float(pyrbm.exact_log_z(ham)) - exact) < 1e-9 * abs(exact)
    errors, stds = [], []
    for n_betas in (5, 50, 1000):
        fwd = ais(ham, n_chains=300, n_betas=n_betas, schedule="linear", seed=2)
        rev = reverse_ais(ham, samples, n_betas=n_betas, schedule="linear", seed=3)
        assert fwd.method == "ais" and rev.method == "reverse_ais"
        for res in (fwd, rev):  # flagged when a few chains carry the estimate, no error bar when one does
            assert np.isnan(res.std) == (res.ess < 1.5) and res.valid == (res.ess >= 20), res
            assert res.ess >= 20 or "a few chains carry the estimate" in res.reason
        assert fwd.log_z <= exact + 3 * fwd.std_delta, (n_betas, fwd.log_z, fwd.std, exact)
        assert rev.log_z >= exact - 3 * rev.std_delta, (n_betas, rev.log_z, rev.std, exact)
        assert fwd.log_z_low <= fwd.log_z <= fwd.log_z_high and rev.log_z_low <= rev.log_z <= rev.log_z_high
        errors.append(max(abs(fwd.log_z - exact), abs(rev.log_z - exact)))
        stds.append(max(fwd.std_delta, rev.std_delta))
    assert errors[-1] < errors[0] / 5 and stds[-1] < stds[0] / 5, (errors, stds)
    assert errors[-1] < 0.03, errors
    # the longest schedule: almost every chain counts
    assert fwd.ess > 250 and rev.ess > 250 and fwd.valid and rev.valid


@pytest.mark.parametrize("schedule,n_betas", [("three_piece", 2001), ("geometric", 2001), ("linear", 2001)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_schedules_and_precisions_reach_exact(schedule, n_betas, dtype):
    ham = _model(9, 7, 1.0, 0.8, seed=7)
    exact = logsumexp(_brute_log_p_visible(ham)[1])
    fwd = ais(ham, n_chains=100, n_betas=n_betas, schedule=schedule, seed=8, dtype=dtype)
    assert abs(fwd.log_z - exact) < max(3 * fwd.std, 1e-3), (fwd.log_z, fwd.std, exact)
    assert fwd.std < 0.02 and fwd.schedule.shape == (n_betas,) and fwd.log_weights.dtype == np.float64


def test_data_fitted_base_model():
    """Base model fitted to data: ln Z_0 by enumeration of the base, and AIS reaches exact ln Z."""
    ham = _model(10, 6, 1.2, 1.0, seed=9)
    exact, data = _exact_and_samples(ham, 2000, seed=10)
    fwd = ais(ham, n_chains=100, n_betas=300, schedule="linear", seed=11, data=data)
    p_up = (data.sum(axis=0) + 0.5) / (len(data) + 1.0)
    np.testing.assert_allclose(fwd.base_bias, np.log(p_up / (1 - p_up)), rtol=1e-12)
    V = _configs(10, "binary")
    assert abs(fwd.log_z_base - (logsumexp(V @ fwd.base_bias) + 6 * np.log(2))) < 1e-10
    assert abs(fwd.log_z - exact) < 3 * fwd.std
    # fitted to data, the base is closer to the model than its own biases: smaller spread
    own = ais(ham, n_chains=100, n_betas=300, schedule="linear", seed=11)
    assert fwd.std < own.std


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_uncoupled_model_is_exact_with_zero_spread(units):
    """W = 0 and the base = the model's own visible biases: every chain has the same weight."""
    rng = np.random.default_rng(12)
    n, m, beta = 30, 20, 1.7
    ham = Hamiltonian(np.zeros((n, m)), rng.standard_normal(n), rng.standard_normal(m), beta=beta, units=units)
    if units == "binary":
        closed = np.logaddexp(0, beta * ham.a).sum() + np.logaddexp(0, beta * ham.b).sum()
    else:
        closed = np.log(2 * np.cosh(beta * ham.a)).sum() + np.log(2 * np.cosh(beta * ham.b)).sum()
    for fn in (lambda: ais(ham, n_chains=10, n_betas=50, seed=1),
               lambda: reverse_ais(ham, np.ones((10, n)), n_betas=50, seed=1)):
        res = fn()
        assert abs(res.log_z - closed) < 1e-10 and res.std < 1e-12 and abs(res.ess - 10) < 1e-9


@pytest.mark.parametrize("units", ["binary", "spin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_weight_kernel_equals_numpy(units, dtype):
    """ln f_new(v) − ln f_old(v) from the numpy free energy, fields up to ±1000 (no overflow)."""
    rng = np.random.default_rng(13)
    n, m, c_rows = 37, 300, 6
    spin = units == "spin"
    v = (rng.random((c_rows, n)) < 0.5).astype(dtype)
    if spin:
        v = 2 * v - 1
    field = (rng.standard_normal((c_rows, m)) * np.array([[1.0], [10.0], [100.0], [1000.0], [0.01], [3.0]])
             ).astype(dtype)
    b, c = rng.standard_normal(m), rng.standard_normal(n)
    g = (lambda z: np.logaddexp(z, -z)) if spin else (lambda z: np.logaddexp(0, z))
    # large steps (two exponentials per unit) and the small steps of long schedules (series)
    for s_new, s_old in ((0.7, 0.3), (0.3, 0.7), (1.0, 0.0), (0.5 + 3e-6, 0.5), (0.9, 0.9 + 1e-7), (1e-5, 0.0)):
        logw = np.full(c_rows, 5.0)
        log_weight_step(field, v, b, c, s_new, s_old, s_new - s_old, spin, logw, np.empty((c_rows, 2 * m + n)))
        y = field.astype(np.float64) + b
        ref = 5.0 + (s_new - s_old) * (v.astype(np.float64) @ c) + (g(s_new * y) - g(s_old * y)).sum(axis=1)
        np.testing.assert_allclose(logw, ref, rtol=1e-12, atol=1e-9)


def test_same_seed_same_bits():
    ham = _model(12, 9, 1.0, 0.5, seed=14)
    samples = _exact_and_samples(ham, 20, seed=15)[1]
    for dtype in (np.float32, np.float64):
        a1 = ais(ham, n_chains=20, n_betas=100, seed=3, dtype=dtype)
        a2 = ais(ham, n_chains=20, n_betas=100, seed=3, dtype=dtype)
        r1 = reverse_ais(ham, samples, n_betas=100, seed=3, dtype=dtype)
        r2 = reverse_ais(ham, samples, n_betas=100, seed=3, dtype=dtype)
        assert a1.log_weights.tobytes() == a2.log_weights.tobytes() and a1.log_z == a2.log_z
        assert r1.log_weights.tobytes() == r2.log_weights.tobytes()
        assert not np.array_equal(a1.log_weights, ais(ham, n_chains=20, n_betas=100, seed=4).log_weights)
    assert ais(ham, n_chains=5, n_betas=10).seed is not None  # a drawn seed is recorded


def test_result_is_a_log_z():
    ham = _model(6, 5, 0.5, 0.5, seed=16)
    res = ais(ham, n_chains=10, n_betas=20, seed=0)
    assert isinstance(res, ais_module.LogZ) and float(res) == res.log_z
    assert abs(res.free_energy + res.log_z / ham.beta) < 1e-12
    assert res.log_weights.shape == (10,) and res.n_chains == 10 and 1 <= res.ess <= 10
    assert abs(logsumexp(res.log_weights) - np.log(10) + res.log_z_base - res.log_z) < 1e-12


# ----------------------------------------------------------------------------- schedules
def test_classic_three_piece_schedule():
    s = annealing_schedule("three_piece")
    assert s.size == 14_501 and s[0] == 0 and s[-1] == 1
    steps = np.diff(s)
    np.testing.assert_allclose(steps[:500], 1e-3, rtol=1e-9)
    np.testing.assert_allclose(steps[500:4500], 1e-4, rtol=1e-8)
    np.testing.assert_allclose(steps[4500:], 1e-5, rtol=1e-7)
    assert abs(s[500] - 0.5) < 1e-15 and abs(s[4500] - 0.9) < 1e-15
    for kind in ("linear", "geometric", "three_piece"):
        t = annealing_schedule(kind, n_betas=7)
        assert t.size == 7 and t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)
    g = annealing_schedule("geometric", n_betas=11)
    np.testing.assert_allclose(g[2:] / g[1:-1], g[2] / g[1])


# ----------------------------------------------------------------------------- bad input
def test_bad_input_refused_before_work(monkeypatch):
    ham = _model(6, 4, 0.5, 0.5, seed=17)

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(ais_module, "_anneal", no_work)
    monkeypatch.setattr(ais_module, "make_streams", no_work)
    good = np.ones((4, 6))
    cases = [
        (lambda: reverse_ais(ham, np.where(np.eye(4, 6) > 0, np.nan, 1.0)), "samples: expected finite values"),
        (lambda: reverse_ais(ham, np.full((4, 6), np.inf)), "samples: expected finite"),
        (lambda: reverse_ais(ham, np.full((4, 6), 0.5)), "samples: binary units take the values 0 and 1"),
        (lambda: reverse_ais(ham, np.ones((4, 5))), r"samples: expected configurations of shape \(\.\.\., 6\)"),
        (lambda: reverse_ais(ham, np.ones((1, 6))), "samples: expected at least 2"),
        (lambda: ais(ham, schedule=[0.1, 0.5, 1.0], n_betas=None), "schedule: .*start at exactly 0.*first 0.1"),
        (lambda: ais(ham, schedule=[0.0, 0.5, 0.99], n_betas=None), "schedule: .*end at exactly 1.*last 0.99"),
        (lambda: reverse_ais(ham, good, schedule=[0, 0.6, 0.4, 1], n_betas=None), "schedule: expected strictly"),
        (lambda: ais(ham, schedule=[0.0, np.nan, 1.0], n_betas=None), "schedule: expected finite"),
        (lambda: ais(ham, schedule=[0.0, 1.0], n_betas=10), "n_betas: got 10 with an explicit schedule"),
        (lambda: ais(ham, schedule="cosine"), "schedule: expected one of"),
        (lambda: ais(ham, n_betas=1, schedule="linear"), "n_betas: expected an integer ≥ 2"),
        (lambda: ais(ham, n_chains=1), "n_chains: expected an integer ≥ 2"),
        (lambda: ais(ham, data=good, base_bias=np.zeros(6)), "data, base_bias: give at most one"),
        (lambda: ais(ham, base_bias=np.zeros(5)), r"base_bias: expected shape \(6\)"),
        (lambda: ais(ham, data=np.full((3, 6), np.nan)), "data: expected finite"),
        (lambda: ais(ham, seed=-1), "seed: expected an integer ≥ 0"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(TypeError, match="ham: expected a pyrbm.Hamiltonian"):
        ais("model")
    with pytest.raises(TypeError, match="dtype"):
        ais(ham, dtype=np.int32)
    with pytest.raises(ValueError, match="methods: expected distinct names"):
        compare_log_z(ham, methods=("exact", "bogus"))
    with pytest.raises(ValueError, match="test: expected finite"):
        compare_log_z(ham, test=np.full((2, 6), np.nan))


# ----------------------------------------------------------------------------- side by side
def test_compare_log_z_table():
    ham = _model(12, 8, 0.2, 0.2, seed=18)
    exact = logsumexp(_brute_log_p_visible(ham)[1])
    test = (np.random.default_rng(19).random((40, 12)) < 0.5).astype(float)
    ds = compare_log_z(ham, test=test, n_betas=300, schedule="linear", n_chains=50, n_gibbs=50, seed=1)
    assert list(ds.estimator.values) == ["exact", "gaussian", "mean_field", "tap", "lower_bound", "ais", "reverse_ais"]
    # mean field is 0.103 nats low here (enumeration): its own estimate, 0.102, is above the default
    # max_error = 0.1, so it is not valid; every other estimator is
    assert list(ds.valid.values) == [m != "mean_field" for m in ds.estimator.values] and np.all(ds.seconds >= 0)
    assert "estimated error 0.102" in str(ds.reason.sel(estimator="mean_field").values)
    assert abs(ds.log_z.sel(estimator="exact") - exact) < 1e-9
    for m in ("ais", "reverse_ais"):
        assert abs(ds.log_z.sel(estimator=m) - exact) < 3 * ds.log_z_std.sel(estimator=m) + 1e-3
    assert abs(ds.log_z.sel(estimator="gaussian") - exact) < 0.05 and abs(ds.log_z.sel(estimator="tap") - exact) < 0.05
    assert float(ds.log_z.sel(estimator="mean_field")) <= exact + 1e-9  # Gibbs–Bogoliubov lower bound
    bound = float(ds.log_z.sel(estimator="lower_bound"))
    assert float(ds.log_z.sel(estimator="mean_field")) - 1e-9 <= bound <= exact + 1e-9
    assert "Gibbs sweeps" in str(ds.reason.sel(estimator="reverse_ais").values)
    V, logp = _brute_log_p_visible(ham)
    ll = np.mean([logp[int(np.dot(t, 2 ** np.arange(12)[::-1]))] for t in test]) - exact  # V is in binary order
    assert abs(float(ds.log_likelihood.sel(estimator="exact")) - ll) < 1e-9

    # unstable modes and large biases: the Gaussian row says why it does not hold
    strong = _model(12, 8, 3.0, 3.0, seed=20)
    ds = compare_log_z(strong, methods=("exact", "gaussian", "ais"), n_betas=200, schedule="linear", seed=2)
    assert not bool(ds.valid.sel(estimator="gaussian")) and np.isnan(ds.log_z.sel(estimator="gaussian"))
    assert "sigma" in str(ds.reason.sel(estimator="gaussian").values)
    big_bias = _model(12, 8, 0.05, 4.0, seed=21)
    ds = compare_log_z(big_bias, methods=("gaussian",), seed=3)
    assert not bool(ds.valid.sel(estimator="gaussian")) and str(ds.reason.sel(estimator="gaussian").values)
    huge = _model(30, 30, 0.1, 0.1, seed=22)
    ds = compare_log_z(huge, methods=("exact",), seed=4)
    assert not bool(ds.valid.sel(estimator="exact")) and "not enumerable" in str(ds.reason.values[0])


# ----------------------------------------------------------------------------- MNIST 784 x 20
@numba.njit(parallel=True, cache=True)
def _softplus_row_sums(z, out):
    for r in prange(z.shape[0]):
        s = 0.0
        for i in range(z.shape[1]):
            x = z[r, i]
            s += max(x, 0.0) + np.log1p(np.exp(-abs(x)))
        out[r] = s


def _log_p_hidden(ham):
    """Unnormalised ln p(h) = βb·h + Σ_i softplus(β(a + Wh)_i) for all 2^M hidden configurations."""
    m = ham.n_hidden
    total, block = 1 << m, 1 << 13
    out = np.empty(total)
    shifts = np.arange(m)
    for start in range(0, total, block):
        idx = np.arange(start, min(start + block, total))
        H = ((idx[:, None] >> shifts) & 1).astype(np.float64)
        _softplus_row_sums(ham.beta * (ham.a + H @ ham.W.T), out[start:start + idx.size])
        out[start:start + idx.size] += ham.beta * (H @ ham.b)
    return out


@pytest.fixture(scope="module")
def mnist_model():
    """A 784×20 RBM trained briefly on MNIST, its exact ln Z and 100 exact samples."""
    require_mnist()
    data = pyrbm.datasets.mnist("train")[:6000]
    trainer = pyrbm.Trainer(method="pcd", k=1, optimizer="adam", lr=0.01, batch_size=100, n_epochs=2, seed=0,
                            progress=False, monitor_size=100)
    ham, _ = trainer.fit(data, n_hidden=20)
    logp = _log_p_hidden(ham)
    exact = logsumexp(logp)
    rng = np.random.default_rng(1)
    hidx = rng.choice(logp.size, size=100, p=np.exp(logp - exact))
    H = ((hidx[:, None] >> np.arange(20)) & 1).astype(np.float64)
    samples = (rng.random((100, 784)) < expit(ham.beta * (ham.a + H @ ham.W.T))).astype(np.float64)
    return ham, data, exact, samples


def _check_mnist_bracket(mnist_model, n_betas):
    ham, data, exact, samples = mnist_model
    assert np.linalg.norm(ham.W, 2) > 4  # trained beyond the Gaussian regime
    fwd = ais(ham, n_chains=100, n_betas=n_betas, seed=2, data=data)
    rev = reverse_ais(ham, samples, n_betas=n_betas, seed=3, data=data)
    assert fwd.log_z <= exact + 3 * fwd.std and rev.log_z >= exact - 3 * rev.std, (fwd.log_z, exact, rev.log_z)
    assert abs(fwd.log_z - exact) < 0.1 and abs(rev.log_z - exact) < 0.1, (fwd.log_z, exact, rev.log_z)
    return fwd, rev


def test_mnist_784x20_bracket(mnist_model):
    """AIS and reverse AIS (from exact samples) within 0.1 nats of ln Z by hidden-layer enumeration."""
    _check_mnist_bracket(mnist_model, 2001)


@pytest.mark.slow
def test_mnist_784x20_bracket_classic_schedule(mnist_model):
    fwd, rev = _check_mnist_bracket(mnist_model, 14_501)
    assert abs(float(pyrbm.exact_log_z(mnist_model[0])) - mnist_model[2]) < 1e-8 * mnist_model[2]
    assert fwd.std < 0.05 and rev.std < 0.05


# ----------------------------------------------------------------------------- a missed mode
def test_ais_missing_a_mode_is_marked_invalid_by_the_lower_bound():
    """Planted crossing modes: forward AIS settles in the mode that dominates at small β_k and lands ~10
    nats below the exact ln Z with an ESS that looks healthy; the rigorous lower bound from exact samples
    (or data) exposes it, and `valid` is false with the reason. Without the check it would read valid."""
    from likmodels import crossing, hidden_enumeration

    ham = crossing()
    exact, sample = hidden_enumeration(ham)
    samples = sample(50, seed=0)
    bound = pyrbm.log_z_lower_bound(ham, starts=samples, seed=0)
    assert bound.log_z <= exact and exact - bound.log_z < 0.5
    for n_betas in (100, 1000):
        unchecked = ais(ham, n_chains=100, n_betas=n_betas, schedule="linear", seed=1, lower_bound=None)
        assert unchecked.log_z < exact - 5 and unchecked.ess > 50 and unchecked.valid, unchecked
        fwd = ais(ham, n_chains=100, n_betas=n_betas, schedule="linear", seed=1, lower_bound=bound)
        assert fwd.log_z == unchecked.log_z and not fwd.valid and "below the rigorous lower bound" in fwd.reason
        assert fwd.lower_bound == bound.check_value
        # the automatic check without data: starts at the uniform point and the uncoupled means only
        auto = ais(ham, n_chains=100, n_betas=n_betas, schedule="linear", seed=1, base_bias=np.zeros(60),
                   data=None, lower_bound="auto")
        assert auto.lower_bound < exact - 5  # from the uniform point alone the bound sees mode A only
    # a base fitted to data in mode B starts the chains there: AIS is right and the check lets it pass
    fitted = ais(ham, n_chains=100, n_betas=100, schedule="linear", seed=1, data=samples)
    assert fitted.valid and abs(fitted.log_z - exact) < 0.1 and fitted.lower_bound > exact - 0.5, fitted


# ----------------------------------------------------------------------------- honest error bars
def _coverage(results, exact):
    """Fraction of runs whose ±2·std interval holds the exact value (no error bar: not covered)."""
    est = np.array([r.log_z for r in results])
    return (float(np.mean(np.abs(est - exact) <= 2 * np.array([r.std for r in results]))),
            float(np.mean(np.abs(est - exact) <= 2 * np.array([r.std_delta for r in results]))))


def test_error_bars_cover_exact_ln_z_on_a_trained_model():
    """Heavy-tailed weights (short schedule, ESS ≈ 9 of 100): over 60 seeds ±2·std holds the exact ln Z in
    ≥ 80 % of runs; the delta method alone (the former std) does not."""
    from likmodels import trained_small

    ham, _ = trained_small()
    exact = float(pyrbm.exact_log_z(ham))
    runs = [ais(ham, n_chains=100, n_betas=3, schedule="linear", seed=s, lower_bound=None) for s in range(60)]
    honest, delta = _coverage(runs, exact)
    assert honest >= 0.8 and delta < 0.8, (honest, delta)
    assert all(r.valid == (r.ess >= 20) for r in runs)


@pytest.fixture(scope="module")
def mnist_784x18():
    """A 784×18 RBM trained hard on MNIST (σ₁ ≈ 30: AIS weights heavy-tailed at 1,000 β's) and its exact ln Z."""
    require_mnist()
    data = pyrbm.datasets.mnist("train")[:10000]
    trainer = pyrbm.Trainer(method="pcd", k=1, lr=0.1, batch_size=100, n_epochs=40, seed=0, progress=False)
    ham, _ = trainer.fit(data, n_hidden=18)
    return ham, data, logsumexp(_log_p_hidden(ham))


@pytest.mark.slow
def test_error_bars_cover_exact_ln_z_on_mnist_784x18(mnist_784x18):
    """20 seeds at 1,000 β's: ±2·std covers the exact ln Z (hidden-layer enumeration) in ≥ 80 % of seeds;
    the lower bound lies below it."""
    ham, data, exact = mnist_784x18
    assert np.linalg.norm(ham.W, 2) > 20
    bound = pyrbm.log_z_lower_bound(ham, starts=data, seed=0)
    assert bound.log_z <= exact and bound.log_z_sampled <= exact
    runs = [ais(ham, n_chains=100, n_betas=1000, seed=s, data=data, lower_bound=bound) for s in range(20)]
    honest, delta = _coverage(runs, exact)
    assert honest >= 0.8, (honest, delta, [(r.log_z - exact, r.std, r.ess) for r in runs])


@pytest.mark.slow
def test_raise_on_mnist_784x20_classic_schedule(mnist_model):
    """RAISE at 14,501 β's: mean per-example log-likelihood ≤ exact + 2 SE and within 3 nats of it."""
    ham, data, exact, samples = mnist_model
    test = pyrbm.datasets.mnist("test")[:20]
    ds = pyrbm.raise_log_likelihood(ham, test, n_betas=14_501, n_chains=5, seed=4, train=data)
    exact_ll = float(np.mean(-ham.beta * ham.free_energy(test))) - exact
    mean, se = float(ds.ll_mean), float(ds.std_mc)
    assert mean <= exact_ll + 2 * se and abs(mean - exact_ll) < 3.0, (mean, se, exact_ll)
