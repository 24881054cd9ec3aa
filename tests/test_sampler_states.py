"""Typed sampler states: hand-built states are checked before any kernel sees them;
absurd chain counts are refused before allocation; progress and divergence are reported."""

import tracemalloc

import numpy as np
import pytest

import pyrbm
from pyrbm import GibbsState, LangevinState, TemperingState
from pyrbm._kernels.rng import make_streams
from pyrbm.samplers import state_from_dataset


def model(n=5, m=4, seed=0):
    rng = np.random.default_rng(seed)
    return pyrbm.Hamiltonian(rng.standard_normal((n, m)), 0.2 * rng.standard_normal(n), 0.2 * rng.standard_normal(m))


def gibbs_arrays(rows=4, n=5, m=4, dtype=np.float32):
    rng = np.random.default_rng(1)
    return dict(v=(rng.random((rows, n)) < 0.5).astype(dtype), h=(rng.random((rows, m)) < 0.5).astype(dtype),
                streams=make_streams(3, rows))


def test_states_are_typed_and_frozen():
    ham = model()
    st = pyrbm.GibbsSampler(4, seed=1).init_state(ham)
    assert type(st) is GibbsState and st.n_chains == 4 and st.step == 0 and st.seed == 1
    with pytest.raises(Exception):
        st.step = 3
    tst = pyrbm.ReplicaExchangeSampler(4, betas=[0.5, 1.0], seed=1).init_state(ham)
    assert type(tst) is TemperingState and tst.n_chains == 4 and tst.v.shape == (8, 5)
    lst = pyrbm.LangevinSampler(3, seed=1).init_state(ham)
    assert type(lst) is LangevinState and lst.x.shape == (3, 5) and lst.y.shape == (3, 4)
    assert not hasattr(lst, "v") and lst.divergence_step.shape == (3, 4)
    with pytest.raises(TypeError, match="base class"):
        pyrbm.SamplerState(streams=make_streams(0, 2))


@pytest.mark.parametrize("make", [
    lambda ham: pyrbm.GibbsSampler(4, seed=2).init_state(ham),
    lambda ham: pyrbm.ReplicaExchangeSampler(3, betas=[0.3, 1.0], seed=2, dtype=np.float64).init_state(ham),
    lambda ham: pyrbm.LangevinSampler(3, seed=2).init_state(ham),
])
def test_state_dataset_round_trip(make):
    st = make(model())
    back = state_from_dataset(st.to_dataset())
    assert type(back) is type(st) and back.step == st.step and back.seed == st.seed
    for name in st._evolving:
        assert np.array_equal(getattr(back, name), getattr(st, name))
        assert getattr(back, name).dtype == getattr(st, name).dtype


def test_hand_built_states_are_checked_on_construction():
    good = gibbs_arrays()
    GibbsState(**good)
    with pytest.raises(ValueError, match="h: expected"):
        GibbsState(**{**good, "h": good["h"][:3]})                       # rows disagree with the streams
    with pytest.raises(ValueError, match="streams"):
        GibbsState(**{**good, "streams": good["streams"][:, :3]})
    with pytest.raises(ValueError, match="streams"):
        GibbsState(**{**good, "streams": good["streams"].astype(np.int64)})
    with pytest.raises(ValueError, match="v: configurations"):
        GibbsState(**{**good, "v": np.full((4, 5), 0.5, np.float32)})
    with pytest.raises(ValueError, match="v, h: dtypes differ"):
        GibbsState(**{**good, "v": good["v"].astype(np.float64)})
    with pytest.raises(ValueError, match="step"):
        GibbsState(**good, step=-1)
    with pytest.raises(ValueError, match="betas"):
        TemperingState(**good, betas=np.array([0.2, 0.5, 1.0]))           # 3 does not divide 4 rows
    x = np.zeros((4, 5))
    y = np.zeros((4, 4))
    div = np.full((4, 4), -1, np.int64)
    LangevinState(x=x, y=y, divergence_step=div, streams=make_streams(0, 4))
    with pytest.raises(ValueError, match="x: expected finite"):
        LangevinState(x=np.full((4, 5), np.nan), y=y, divergence_step=div, streams=make_streams(0, 4))
    with pytest.raises(ValueError, match="divergence_step"):
        LangevinState(x=x, y=y, divergence_step=div.astype(np.int32), streams=make_streams(0, 4))
    with pytest.raises(ValueError, match="divergence_step"):
        LangevinState(x=x, y=y, divergence_step=div[:, :2], streams=make_streams(0, 4))


def test_hand_built_state_not_matching_the_model_is_refused_before_the_kernels():
    ham = model()
    g = pyrbm.GibbsSampler(4, seed=1)
    wrong_n = GibbsState(**gibbs_arrays(n=6))
    with pytest.raises(ValueError, match=r"state: v .* shape \(4, 5\)"):
        g.advance(ham, state=wrong_n, n_steps=1)
    with pytest.raises(ValueError, match="state: v .* dtype float32"):
        g.run(ham, state=GibbsState(**gibbs_arrays(dtype=np.float64)), n_steps=1)
    with pytest.raises(TypeError, match="GibbsState"):
        g.run(ham, state=pyrbm.LangevinSampler(4).init_state(ham), n_steps=1)
    with pytest.raises(TypeError, match="TemperingState"):
        pyrbm.ReplicaExchangeSampler(2, betas=[0.5, 1.0]).advance(ham, state=GibbsState(**gibbs_arrays()), n_steps=1)


def test_absurd_chain_counts_are_refused_before_allocating():
    ham = pyrbm.Hamiltonian.random(784, 500, seed=0)
    tracemalloc.start()
    try:
        for n in (10**8, 10**9):
            with pytest.raises(MemoryError, match=f"n_chains: {n} chains of a 784x500 model need"):
                pyrbm.GibbsSampler(n, seed=0).init_state(ham)
            with pytest.raises(MemoryError, match="n_chains"):
                pyrbm.LangevinSampler(n, seed=0).run(ham, n_steps=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


def test_progress_bar_over_records(capfd):
    ham = model()
    pyrbm.GibbsSampler(4, seed=1).run(ham, n_steps=6, thin=2)        # stderr is not a terminal: no bar
    assert capfd.readouterr().err == ""
    pyrbm.GibbsSampler(4, seed=1).run(ham, n_steps=6, thin=2, progress=True)
    err = capfd.readouterr().err
    assert "gibbs" in err and "3/3" in err
    with pytest.raises(TypeError, match="progress"):
        pyrbm.GibbsSampler(4).run(ham, n_steps=1, progress="yes")


def test_langevin_divergence_warns_and_names_the_modes():
    ham = pyrbm.Hamiltonian.from_modes([6.0, 1.0], 6, 4, seed=3)     # sigma_1 = 6 > 4T, sigma_2 below
    sampler = pyrbm.LangevinSampler(8, dt=0.01, seed=1, bound=50.0)
    with pytest.warns(pyrbm.DivergenceWarning, match=r"modes \[1\] past the threshold"):
        _, st = sampler.run(ham, n_steps=3000, thin=100)
    assert st.diverged[:, 0].all() and not st.diverged[:, 1:].any()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                 # nothing new diverges: no warning
        sampler.advance(ham, state=st, n_steps=10)


def test_keyword_only_api():
    ham = model()
    with pytest.raises(TypeError):
        pyrbm.GibbsSampler(4, 1)                                       # seed is keyword-only
    with pytest.raises(TypeError):
        pyrbm.GibbsSampler(4).run(ham, None, n_steps=1)                # state is keyword-only
    with pytest.raises(TypeError, match="n_steps"):
        pyrbm.GibbsSampler(4).run(ham)                                 # n_steps is required
    with pytest.raises(TypeError):
        pyrbm.LangevinSampler(4, T=1.0)                                # temperature is beta everywhere


def test_a_long_in_memory_run_that_cannot_fit_names_n_steps():
    """Before: n_steps=10**12 without out= ended in a bare MemoryError from numpy."""
    ham = pyrbm.Hamiltonian.random(6, 4, sigma_w=0.1, seed=0)
    with pytest.raises(MemoryError, match=r"n_steps: 1000000000000 records .* pass out=path"):
        pyrbm.GibbsSampler(2, seed=0).run(ham, n_steps=10**12)


@pytest.mark.parametrize("bad", ["floaty", None, "int32", np.float16, "complex128"])
def test_unknown_dtypes_are_refused(bad):
    """Before: check_float_dtype("floaty") returned None (np.dtype("f8") == None is True)."""
    with pytest.raises(TypeError, match="dtype: expected numpy.float32 or numpy.float64"):
        pyrbm._checks.check_float_dtype(bad)
    with pytest.raises(TypeError, match="dtype"):
        pyrbm.GibbsSampler(2, dtype=bad)


@pytest.mark.parametrize("make, what", [
    (lambda w: w + 1j, "complex"),
    (lambda w: w.astype("datetime64[s]"), "datetime"),
    (lambda w: w.astype(str), "string"),
    (lambda w: [[str(x) for x in row] for row in w.tolist()], "str"),
])
def test_non_real_model_arrays_are_refused(make, what):
    """Before: complex W lost its imaginary part (a numpy warning only); datetimes and numeric strings loaded."""
    W = np.arange(6.0).reshape(3, 2) / 10
    with pytest.raises(TypeError, match=f"W: expected real numbers.*{what}"):
        pyrbm.Hamiltonian(make(W), np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError, match="a: expected real numbers"):
        pyrbm.Hamiltonian(W, np.zeros(3) + 0j, np.zeros(2))
