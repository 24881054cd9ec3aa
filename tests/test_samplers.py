"""Gibbs and replica-exchange samplers against exact enumeration of tiny RBMs.

The reference distribution is enumerated here, independently of the package: all
2^(N+M) joint states with the energy written out as a double sum, weights
exp(-beta E) normalised with logsumexp.  Statistical tests use scipy's chi-square
(low-count bins merged) and a Monte-Carlo floor of the total-variation distance
computed for the sample size.
"""

import os

import numba
import numpy as np
import pytest
import xarray as xr
from scipy import stats

import pyrbm
import pyrbm.io.storage
from pyrbm import Hamiltonian
from pyrbm.samplers import GibbsSampler, ReplicaExchangeSampler, SamplerState
from pyrbm.io.trajectory import load
from conftest import all_states, joint_energies
from conftest import exact_joint as enumerated_joint


# ----------------------------------------------------------------------------- references
def _states(n, spin):
    return all_states(n, "spin" if spin else "binary")


def exact_joint(W, a, b, beta, spin):
    """p(v, h) and E(v, h) over all joint states; index = v_index * 2^M + h_index (MSB first)."""
    units = "spin" if spin else "binary"
    return enumerated_joint(W, a, b, beta, units).ravel(), joint_energies(W, a, b, units).ravel()


def state_index(x, spin):
    bits = (x > 0).astype(np.int64) if spin else x.astype(np.int64)
    return bits @ (1 << np.arange(x.shape[-1] - 1, -1, -1))


def chisquare_merged(counts, p, min_expected=5.0):
    """Chi-square goodness of fit with bins of expected count < min_expected merged."""
    n = counts.sum()
    expected = n * p
    order = np.argsort(expected)
    e_sorted, c_sorted = expected[order], counts[order]
    small = np.cumsum(e_sorted) < min_expected * 2  # merge the smallest bins into one
    merged_e = [e_sorted[small].sum()] if small.any() else []
    merged_c = [c_sorted[small].sum()] if small.any() else []
    rest = ~small
    big_e, big_c = e_sorted[rest], c_sorted[rest]
    lo = big_e < min_expected
    if lo.any():
        merged_e.append(big_e[lo].sum())
        merged_c.append(big_c[lo].sum())
    f_exp = np.concatenate([merged_e, big_e[~lo]])
    f_obs = np.concatenate([merged_c, big_c[~lo]])
    keep = f_exp > 0
    f_exp, f_obs = f_exp[keep], f_obs[keep]
    f_exp = f_exp * f_obs.sum() / f_exp.sum()
    return stats.chisquare(f_obs, f_exp).pvalue


def tv_floor(p, n, rng, reps=200, q=0.999):
    """Upper quantile of the total-variation distance of n exact draws from p."""
    tv = [0.5 * np.abs(rng.multinomial(n, p) / n - p).sum() for _ in range(reps)]
    return float(np.quantile(tv, q)) * 1.15


def model(n=5, m=4, units="binary", beta=1.0, seed=0, scale=1.0):
    r = np.random.default_rng(seed)
    W = scale * r.normal(size=(n, m))
    a, b = 0.5 * r.normal(size=n), 0.5 * r.normal(size=m)
    return Hamiltonian(W, a, b, beta=beta, units=units)


def joint_counts(v, h, spin, n_states):
    idx = state_index(v, spin) * (1 << h.shape[-1]) + state_index(h, spin)
    return np.bincount(idx, minlength=n_states)


# ----------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("units", ["binary", "spin"])
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_gibbs_matches_exact_boltzmann_distribution(units, beta):
    # spin units double the effective coupling: weaker W keeps the chains mixing at beta = 2
    ham = model(units=units, beta=beta, seed=int(10 * beta) + (units == "spin"),
                scale=0.3 if units == "spin" else 1.0)
    p, _ = exact_joint(np.array(ham.W), ham.a, ham.b, beta, ham.spin)
    dtype = np.float64 if beta == 1.0 else np.float32
    n_chains = 12_000
    ds, _ = GibbsSampler(n_chains, seed=7, dtype=dtype).run(
        ham, n_steps=1, burn_in=200, observables=[], keep_configs=True)
    v, h = ds.v.values[0].astype(float), ds.h.values[0].astype(float)
    counts = joint_counts(v, h, ham.spin, p.size)
    assert chisquare_merged(counts, p) > 1e-3
    # visible marginal (2^5 states)
    pv = p.reshape(32, 16).sum(axis=1)
    assert chisquare_merged(np.bincount(state_index(v, ham.spin), minlength=32), pv) > 1e-3


def test_chisquare_detects_a_wrong_temperature():
    """Power check of the test above: the same samples fail against beta * 1.25."""
    ham = model(beta=1.0, seed=3)
    ds, _ = GibbsSampler(20_000, seed=8).run(ham, n_steps=1, burn_in=40, observables=[], keep_configs=True)
    p_wrong, _ = exact_joint(np.array(ham.W), ham.a, ham.b, 1.25, False)
    counts = joint_counts(ds.v.values[0].astype(float), ds.h.values[0].astype(float), False, p_wrong.size)
    assert chisquare_merged(counts, p_wrong) < 1e-6


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_exact_draws_stay_exact(units):
    """Stationarity: TV distance after 1, 4, 16 sweeps stays within the Monte-Carlo floor."""
    ham = model(units=units, beta=1.0, seed=5, scale=1.5)
    p, _ = exact_joint(np.array(ham.W), ham.a, ham.b, 1.0, ham.spin)
    pv = p.reshape(32, 16).sum(axis=1)
    n_chains = 20_000
    r = np.random.default_rng(11)
    v0 = _states(5, ham.spin)[r.choice(32, size=n_chains, p=pv)]
    floor = tv_floor(p, n_chains, r)
    sampler = GibbsSampler(n_chains, seed=12, dtype=np.float64)
    state = sampler.init_state(ham, v0=v0)
    done = 0
    for k in (0, 1, 4, 16):
        state = sampler.advance(ham, state=state, n_steps=k - done)
        done = k
        counts = joint_counts(state.v, state.h, ham.spin, p.size)
        tv = 0.5 * np.abs(counts / n_chains - p).sum()
        assert tv < floor, (k, tv, floor)
    assert state.step == 16


def _bimodal(units="spin"):
    """Strong ferromagnetic couplings with a small field: two modes of unequal weight."""
    W = np.full((5, 4), 1.2)
    a = np.full(5, -0.06)
    b = np.zeros(4)
    return Hamiltonian(W, a, b, beta=1.0, units=units)


def test_replica_exchange_matches_exact_distribution_where_gibbs_is_stuck():
    ham = _bimodal()
    p, _ = exact_joint(np.array(ham.W), ham.a, ham.b, 1.0, True)
    pv = p.reshape(32, 16).sum(axis=1)
    n_chains = 6_000
    v0 = np.ones(5)  # every chain starts in the minority mode
    # plain Gibbs from the wrong mode is far from equilibrium
    g = GibbsSampler(n_chains, seed=1, dtype=np.float64)
    st = g.advance(ham, state=g.init_state(ham, v0=v0), n_steps=30)
    vc = np.bincount(state_index(st.v, True), minlength=32)
    assert 0.5 * np.abs(vc / n_chains - pv).sum() > 0.2
    # replica exchange on a ladder down to beta = 0.05 equilibrates
    betas = np.geomspace(0.05, 1.0, 8)
    re = ReplicaExchangeSampler(n_chains, betas=betas, seed=2, dtype=np.float64)
    ds, state = re.run(ham, state=re.init_state(ham, v0=v0), n_steps=1, burn_in=150, observables=[],
                       keep_configs=True)
    v = ds.v.values[0].astype(float)
    assert chisquare_merged(np.bincount(state_index(v, True), minlength=32), pv) > 1e-3
    assert state.betas.tolist() == betas.tolist()
    assert ds.attrs["sampler"] == "replica_exchange" and ds.attrs["n_replicas"] == 8


def test_swap_acceptance_matches_its_exact_expectation():
    """Recorded acceptance vs E[min(1, exp(dbeta dE))] over independent exact draws."""
    ham = model(units="binary", beta=1.0, seed=21, scale=1.0)
    betas = np.array([0.4, 0.7, 1.0])
    n_chains = 4000
    re = ReplicaExchangeSampler(n_chains, betas=betas, seed=3, dtype=np.float64)
    ds, _ = re.run(ham, n_steps=60, burn_in=40, observables=[])
    acc = ds.swap_acceptance.mean("step").values
    for r in range(2):
        p1, E = exact_joint(np.array(ham.W), ham.a, ham.b, betas[r], False)
        p2, _ = exact_joint(np.array(ham.W), ham.a, ham.b, betas[r + 1], False)
        alpha = np.minimum(1.0, np.exp((betas[r] - betas[r + 1]) * (E[:, None] - E[None, :])))
        expected = p1 @ alpha @ p2
        # odd pairs are attempted after the even ones, from already exchanged states:
        # at stationarity both see independent exact draws; error bar from chain blocks
        block = ds.swap_acceptance.isel(pair=r).values
        se = 3 * block.std() / np.sqrt(block.size) + 3 * np.sqrt(expected * (1 - expected) / (n_chains * 60))
        assert abs(acc[r] - expected) < 4 * se + 0.005, (r, acc[r], expected)


# ----------------------------------------------------------------------------- reproducibility
def _run(sampler_factory, ham, n_steps, threads, **kw):
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return sampler_factory().run(ham, n_steps=n_steps, observables=["energy"], keep_configs=True, **kw)
    finally:
        numba.set_num_threads(old)


@pytest.mark.parametrize("kind", ["gibbs", "tempering"])
def test_runs_identical_for_one_and_two_threads(kind):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba was started with a single thread")
    ham = model(n=7, m=6, seed=4)
    make = (lambda: GibbsSampler(37, seed=5)) if kind == "gibbs" else \
        (lambda: ReplicaExchangeSampler(37, betas=[0.5, 0.75, 1.0], seed=5))
    d1, s1 = _run(make, ham, 12, 1)
    d2, s2 = _run(make, ham, 12, 2)
    xr.testing.assert_identical(d1.drop_attrs(), d2.drop_attrs())
    assert np.array_equal(s1.v, s2.v) and np.array_equal(s1.streams, s2.streams)


@pytest.mark.parametrize("kind", ["gibbs", "tempering"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_continued_run_equals_single_run(kind, dtype):
    ham = model(n=6, m=9, units="spin", seed=6)
    make = (lambda: GibbsSampler(25, seed=9, dtype=dtype)) if kind == "gibbs" else \
        (lambda: ReplicaExchangeSampler(25, betas=[1.0, 0.6, 0.3], seed=9, dtype=dtype))
    full, s_full = make().run(ham, n_steps=14, thin=2, observables=["energy"], keep_configs=True)
    a, s_a = make().run(ham, n_steps=6, thin=2, observables=["energy"], keep_configs=True)
    b, s_b = make().run(ham, state=s_a, n_steps=8, thin=2, observables=["energy"], keep_configs=True)
    joined = xr.concat([a, b], dim="step", data_vars="minimal")
    for name in ("energy", "v", "h"):
        assert np.array_equal(joined[name].values, full[name].values)
    assert np.array_equal(joined.step.values, full.step.values)
    assert np.array_equal(s_b.v, s_full.v) and np.array_equal(s_b.h, s_full.h)
    assert np.array_equal(s_b.streams, s_full.streams) and s_b.step == s_full.step == 14
    # advance() is the same dynamics without records
    s_adv = make().advance(ham, state=make().init_state(ham), n_steps=14)
    assert np.array_equal(s_adv.v, s_full.v)


def test_state_is_immutable_and_reusable():
    ham = model(seed=2)
    g = GibbsSampler(10, seed=1)
    s0 = g.init_state(ham)
    assert isinstance(s0, SamplerState) and s0.kind == "gibbs" and s0.n_chains == 10
    with pytest.raises(ValueError):
        s0.v[0, 0] = 1.0
    s1 = g.advance(ham, state=s0, n_steps=3)
    s1b = g.advance(ham, state=s0, n_steps=3)
    assert np.array_equal(s1.v, s1b.v) and s0.step == 0 and s1.step == 3


def test_init_state_seed_and_dtype():
    ham = model(units="spin", seed=2)
    g = GibbsSampler(1000, seed=4, dtype=np.float64)
    s = g.init_state(ham)
    assert s.v.dtype == np.float64 and set(np.unique(s.v)) == {-1.0, 1.0}
    # uniform start: every unit is +1 with probability 1/2
    assert abs(s.v.mean()) < 4 / np.sqrt(s.v.size)
    assert np.array_equal(g.init_state(ham).v, s.v)
    assert not np.array_equal(g.init_state(ham, seed=5).v, s.v)
    unseeded = GibbsSampler(3)
    st = unseeded.init_state(ham)
    assert isinstance(st.seed, int) and st.seed >= 0


# ----------------------------------------------------------------------------- datasets and files
def test_dataset_layout_and_attributes():
    ham = model(seed=1)
    ds, state = GibbsSampler(8, seed=3).run(ham, n_steps=10, thin=3, burn_in=2, keep_configs=True)
    assert ds.sizes["step"] == 3 and ds.sizes["chain"] == 8
    assert ds.step.values.tolist() == [5, 8, 11] and state.step == 12
    assert ds.energy.dims == ("step", "chain") and ds.v.dims == ("step", "chain", "visible")
    assert ds.v.dtype == np.int8 and ds.h.dtype == np.int8
    for key in ("sampler", "beta", "seed", "n_chains", "thin", "burn_in", "dtype", "units",
                "n_visible", "n_hidden", "pyrbm_version"):
        assert key in ds.attrs
        assert isinstance(ds.attrs[key], (str, int, float))
    # recorded energies are those of the recorded configurations (independent formula)
    v, h = ds.v.values.astype(float), ds.h.values.astype(float)
    e = -(v @ ham.a) - (h @ ham.b) - np.einsum("sci,ij,scj->sc", v, np.array(ham.W), h)
    assert np.allclose(ds.energy.values, e)
    pyrbm.io.trajectory.validate(ds)


def test_streamed_run_equals_in_memory_run(tmp_path):
    ham = model(seed=1)
    mem, s_mem = ReplicaExchangeSampler(6, betas=[0.5, 1.0], seed=3).run(ham, n_steps=9, keep_configs=True)
    path = tmp_path / "run.nc"
    disk, s_disk = ReplicaExchangeSampler(6, betas=[0.5, 1.0], seed=3).run(ham, n_steps=9, keep_configs=True, out=path)
    assert path.is_file()
    for name in mem.data_vars:
        assert np.array_equal(mem[name].values, disk[name].values), name
    assert np.array_equal(s_mem.v, s_disk.v)
    assert pyrbm.load_hamiltonian(path).W.tolist() == ham.W.tolist()


def test_streaming_writes_several_chunks(tmp_path, monkeypatch):

    monkeypatch.setattr(pyrbm.io.storage, "BUFFER_BYTES", 256)
    ham = model(seed=1)
    path = tmp_path / "run.nc"
    ds, _ = GibbsSampler(4, seed=3).run(ham, n_steps=23, thin=2, keep_configs=True, out=path)
    mem, _ = GibbsSampler(4, seed=3).run(ham, n_steps=23, thin=2, keep_configs=True)
    assert ds.sizes["step"] == 11
    assert np.array_equal(ds.v.values, mem.v.values) and np.array_equal(ds.energy.values, mem.energy.values)


# ----------------------------------------------------------------------------- bad input
def _no_temporaries(directory):
    return [p for p in os.listdir(directory) if ".tmp-" in p] == []


def test_bad_input_is_refused_before_work(tmp_path):
    ham = model(seed=1)
    g = GibbsSampler(4, seed=1)
    with pytest.raises(ValueError, match="n_chains"):
        GibbsSampler(0)
    with pytest.raises(TypeError, match="n_chains"):
        GibbsSampler(2.5)
    with pytest.raises(TypeError, match="dtype"):
        GibbsSampler(2, dtype=np.int32)
    with pytest.raises(ValueError, match="seed"):
        GibbsSampler(2, seed=-3)
    with pytest.raises(ValueError, match="v0"):
        g.init_state(ham, v0=np.zeros((4, 6)))
    with pytest.raises(ValueError, match="v0"):
        g.init_state(ham, v0=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="v0"):
        g.init_state(ham, v0=np.full((4, 5), 0.5))
    with pytest.raises(ValueError, match="v0"):
        g.init_state(model(units="spin"), v0=np.zeros((4, 5)))
    with pytest.raises(TypeError, match="ham"):
        g.run("not a model", n_steps=1)
    with pytest.raises(ValueError, match="n_steps"):
        g.run(ham, n_steps=0)
    with pytest.raises(ValueError, match="n_steps"):
        g.run(ham, n_steps=3, thin=5)
    with pytest.raises(ValueError, match="burn_in"):
        g.run(ham, n_steps=1, burn_in=-1)
    with pytest.raises(ValueError, match="state"):
        g.run(ham, state=GibbsSampler(5, seed=1).init_state(ham), n_steps=1)
    with pytest.raises(ValueError, match="state"):
        g.run(model(n=6), state=g.init_state(ham), n_steps=1)
    with pytest.raises(ValueError, match="dtype"):
        g.run(ham, state=GibbsSampler(4, seed=1, dtype=np.float64).init_state(ham), n_steps=1)
    with pytest.raises(ValueError, match="betas"):
        ReplicaExchangeSampler(4, betas=[1.0])
    with pytest.raises(ValueError, match="betas"):
        ReplicaExchangeSampler(4, betas=[0.5, 1.0, 0.7])
    with pytest.raises(ValueError, match="beta"):
        ReplicaExchangeSampler(4, betas=[0.5, 0.9]).init_state(ham)
    # files: existing output refused unless overwrite, unwritable locations refused
    existing = tmp_path / "exists.nc"
    existing.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        g.run(ham, n_steps=2, out=existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(FileNotFoundError):
        g.run(ham, n_steps=2, out=tmp_path / "missing" / "run.nc")
    with pytest.raises(IsADirectoryError):
        g.run(ham, n_steps=2, out=tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anywhere
            with pytest.raises(PermissionError):
                g.run(ham, n_steps=2, out=locked / "run.nc")
    finally:
        locked.chmod(0o700)
    if os.path.isdir("/proc/sys") and not os.access("/proc/sys", os.W_OK):  # read-only even for root
        with pytest.raises(PermissionError, match="writable"):
            g.run(ham, n_steps=2, out="/proc/sys/pyrbm-run.nc")
    assert _no_temporaries(tmp_path)
    ds, _ = g.run(ham, n_steps=2, out=existing, overwrite=True)
    assert load(existing).sizes["step"] == 2


def test_failing_observable_leaves_no_file(tmp_path):
    ham = model(seed=1)

    def broken(ham, v, h):
        raise RuntimeError("observable failed")

    path = tmp_path / "run.nc"
    with pytest.raises(RuntimeError, match="observable failed"):
        GibbsSampler(4, seed=1).run(ham, n_steps=5, observables=[broken], out=path)
    assert not path.exists() and _no_temporaries(tmp_path)


def test_conflicting_observable_coordinates_are_refused_before_work(tmp_path):
    from pyrbm.observables import ModeProjection, OrderParameter

    ham = model(n=8, m=6, seed=1)
    path = tmp_path / "run.nc"
    with pytest.raises(ValueError, match="coordinates"):
        GibbsSampler(4, seed=1).run(ham, n_steps=3, observables=[ModeProjection("u", modes=3),
                                                                 OrderParameter(modes=2)], out=path)
    assert not path.exists()

    def active(ham, v, h):
        """number of active visible units"""
        return v.sum(axis=1)

    ds, _ = GibbsSampler(4, seed=1).run(ham, n_steps=3, observables=[active, ModeProjection("u", modes=2)])
    assert ds.active.dims == ("step", "chain") and ds.u.dims == ("step", "chain", "mode")
    assert ds.active.attrs["long_name"] == "number of active visible units"


@pytest.mark.slow
@pytest.mark.parametrize("units", ["binary", "spin"])
def test_replica_exchange_is_exact_at_every_rung(units):
    base = model(units=units, seed=31, scale=0.8 if units == "binary" else 0.4)
    betas = np.array([0.25, 0.5, 1.0, 2.0])
    re = ReplicaExchangeSampler(20_000, betas=betas, seed=4, dtype=np.float64)
    state = None
    for beta in betas:
        ham = base.replace(beta=beta)
        ds, state = re.run(ham, state=state, n_steps=1, burn_in=200, observables=[], keep_configs=True)
        p, _ = exact_joint(np.array(ham.W), ham.a, ham.b, beta, ham.spin)
        counts = joint_counts(ds.v.values[0].astype(float), ds.h.values[0].astype(float), ham.spin, p.size)
        assert chisquare_merged(counts, p) > 1e-3, beta


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gibbs_result_does_not_depend_on_blas_threads(dtype):
    """Same seed, same chains whether the matrix products run on 1 or 2 BLAS threads."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    ham = Hamiltonian.random(320, 300, sigma_w=0.05, seed=3)
    runs = []
    for n_threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=n_threads, user_api="blas"):
            sampler = GibbsSampler(n_chains=256, seed=7, dtype=dtype)
            state = sampler.advance(ham, state=sampler.init_state(ham), n_steps=20)
        runs.append(state)
    assert np.array_equal(runs[0].v, runs[1].v) and np.array_equal(runs[0].h, runs[1].h)


# ----------------------------------------------------------------------------- donation
@pytest.mark.parametrize("kind", ["gibbs", "tempering"])
def test_donated_state_gives_the_same_chains_and_is_spent(kind):
    ham = model(n=7, m=6, seed=11)
    make = (lambda: GibbsSampler(29, seed=3)) if kind == "gibbs" else \
        (lambda: ReplicaExchangeSampler(29, betas=[0.5, 1.0], seed=3))
    s0 = make().init_state(ham)
    v0 = s0.v.copy()
    ref_ds, ref = make().run(ham, state=s0, n_steps=9, thin=3, observables=["energy"])
    assert np.array_equal(s0.v, v0) and s0.step == 0  # not donated: unchanged, reusable
    ds, new = make().run(ham, state=s0, n_steps=9, thin=3, observables=["energy"], donate=True)
    xr.testing.assert_identical(ds.drop_attrs(), ref_ds.drop_attrs())
    assert np.array_equal(new.v, ref.v) and np.array_equal(new.streams, ref.streams) and new.step == 9
    assert np.shares_memory(new.v, s0.v)  # the buffers were handed on, not copied
    with pytest.raises(ValueError):
        new.v[0, 0] = 1.0  # the new state is as immutable as any
    for call in (lambda: make().run(ham, state=s0, n_steps=1), lambda: make().advance(ham, state=s0, n_steps=1)):
        with pytest.raises(ValueError, match="donate"):
            call()
    adv = make().advance(ham, state=new, n_steps=4, donate=True)  # the successor of a donated state is usable
    ref_adv = make().advance(ham, state=ref, n_steps=4)
    assert np.array_equal(adv.v, ref_adv.v) and np.array_equal(adv.h, ref_adv.h) and adv.step == 13
    with pytest.raises(TypeError, match="donate"):
        make().advance(ham, state=make().init_state(ham), n_steps=1, donate="yes")


def test_donated_run_of_many_chains_allocates_little_beyond_their_state():
    """100,000 chains: with donation a run allocates per-thread field tiles only (no copy of the chains)."""
    import tracemalloc

    from pyrbm._kernels.gibbs import TILE_BYTES
    from pyrbm._threads import workers

    ham = Hamiltonian.random(200, 100, sigma_w=0.05, seed=1)
    sampler = GibbsSampler(100_000, seed=1)
    state = sampler.init_state(ham)
    own = state.v.nbytes + state.h.nbytes + state.streams.nbytes  # 123 MB
    tracemalloc.start()
    try:
        _, state = sampler.run(ham, state=state, n_steps=2, observables=[], donate=True)
        peak_donated = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sampler.advance(ham, state=state, n_steps=1)
        peak_copy = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_donated <= 0.2 * own and peak_donated <= workers() * TILE_BYTES + 0.02 * own, (peak_donated, own)
    assert peak_copy >= own  # without donation the chains are copied: the check above can fail
