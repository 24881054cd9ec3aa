"""Observables against direct formulas, exact enumeration and an independent numpy SVD."""


import numpy as np
import pytest
from conftest import all_states
import xarray as xr

import pyrbm
from pyrbm.io import trajectory as tr
from pyrbm.observables import (
    Energy,
    FreeEnergy,
    Magnetization,
    ModeProjection,
    Observable,
    OrderParameter,
    as_observable,
    default_observables,
)

N, M, C = 7, 5, 11


def make_ham(units="binary", beta=0.7, seed=3, n=N, m=M):
    rng = np.random.default_rng(seed)
    return pyrbm.Hamiltonian(rng.normal(0, 0.6, (n, m)), rng.normal(0, 0.5, n), rng.normal(0, 0.5, m),
                             beta=beta, units=units)


def configs(ham, n_chains=C, seed=4):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 2, (n_chains, ham.n_visible)).astype(np.float64)
    h = rng.integers(0, 2, (n_chains, ham.n_hidden)).astype(np.float64)
    if ham.units == "spin":
        v, h = 2 * v - 1, 2 * h - 1
    return v, h


@pytest.fixture(params=["binary", "spin"])
def setup(request):
    ham = make_ham(units=request.param)
    v, h = configs(ham)
    return ham, v, h


# ---------------------------------------------------------------------- energies
def test_energy_matches_direct_formula(setup):
    ham, v, h = setup
    W, a, b = np.array(ham.W), np.array(ham.a), np.array(ham.b)
    direct = np.array([-(a @ v[c]) - (b @ h[c]) - v[c] @ W @ h[c] for c in range(C)])
    out = Energy().compute(ham, v, h)
    assert out.shape == (C,)
    np.testing.assert_allclose(out, direct, rtol=1e-12, atol=1e-12)


def test_free_energy_matches_enumeration_of_hidden_layer(setup):
    ham, v, h = setup
    W, a, b, beta = np.array(ham.W), np.array(ham.a), np.array(ham.b), ham.beta
    hs = all_states(M, ham.units)  # all 2^M hidden states
    ref = []
    for c in range(C):
        e = -(a @ v[c]) - hs @ b - hs @ (W.T @ v[c])
        ref.append(-np.log(np.sum(np.exp(-beta * e))) / beta)
    out = FreeEnergy().compute(ham, v, h)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)


def test_magnetization(setup):
    ham, v, h = setup
    np.testing.assert_allclose(Magnetization("visible").compute(ham, v, h), v.sum(axis=1) / N)
    np.testing.assert_allclose(Magnetization("hidden").compute(ham, v, h), h.sum(axis=1) / M)


# ---------------------------------------------------------------------- reciprocal space
def independent_modes(ham):
    """numpy SVD, aligned to the Hamiltonian's sign convention column by column.

    Returns U (N,N), s (K,), V (M,M) and the signs used; only the paired columns are
    sign-aligned (the free columns span a subspace and are not unique).
    """
    U, s, Vt = np.linalg.svd(np.array(ham.W), full_matrices=True)
    V = Vt.T
    K = s.size
    sign = np.sign(np.sum(U[:, :K] * ham.modes.U[:, :K], axis=0))
    U[:, :K] *= sign
    V[:, :K] *= sign
    return U, s, V


@pytest.mark.parametrize("kind", ["x", "y", "u", "w"])
def test_mode_projection_matches_numpy_svd(setup, kind):
    ham, v, h = setup
    U, s, V = independent_modes(ham)
    K = s.size
    # the pair (U_k, V_k) flips together: the aligned V must agree with the Hamiltonian's
    np.testing.assert_allclose(V[:, :K], ham.modes.V[:, :K], atol=1e-10)
    a_t, b_t = U.T @ np.array(ham.a), V.T @ np.array(ham.b)
    x, y = v @ U, h @ V
    x_star, y_star = -b_t[:K] / s, -a_t[:K] / s
    dx, dy = x[:, :K] - x_star, y[:, :K] - y_star
    ref = {"x": x[:, :K], "y": y[:, :K], "u": (dx + dy) / np.sqrt(2), "w": (dy - dx) / np.sqrt(2)}[kind]
    obs = ModeProjection(kind, modes=K)
    out = obs.compute(ham, v, h)
    assert out.shape == (C, K) and obs.dims == ("mode",) and obs.name == kind
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    coords = obs.coords(ham)
    np.testing.assert_array_equal(coords["mode"][1], np.arange(1, K + 1))   # 1-based labels
    np.testing.assert_allclose(coords["singular_value"][1], s, rtol=1e-12)
    # an explicit list picks those modes, in that order
    sel = ModeProjection(kind, modes=[4, 1]).compute(ham, v, h)   # labels 4 and 1
    np.testing.assert_allclose(sel, ref[:, [3, 0]], rtol=1e-9, atol=1e-9)


def test_rotated_energy_identity(setup):
    """E_k = eps_k - sigma_k (u_k^2 - w_k^2)/2 summed over modes reproduces E (docs/physics.md §2)."""
    ham, v, h = setup
    U, s, V = independent_modes(ham)
    K = s.size
    u = ModeProjection("u", modes=K).compute(ham, v, h)
    w = ModeProjection("w", modes=K).compute(ham, v, h)
    a_t, b_t = U.T @ np.array(ham.a), V.T @ np.array(ham.b)
    x_free = (v @ U)[:, K:]
    e = np.sum(a_t[:K] * b_t[:K] / s - 0.5 * s * (u**2 - w**2), axis=1) - x_free @ a_t[K:]
    np.testing.assert_allclose(e, Energy().compute(ham, v, h), rtol=1e-9, atol=1e-9)


def test_free_modes_of_x_span_the_null_space(setup):
    ham, v, h = setup
    U, s, V = independent_modes(ham)
    K = s.size
    obs = ModeProjection("x", modes=[K + 1, K + 2])  # N > M: the free visible modes
    x_free = obs.compute(ham, v, h)
    # rotation-invariant reference: squared norm of the projection on the left null space
    null_proj = v - (v @ U[:, :K]) @ U[:, :K].T
    np.testing.assert_allclose(np.sum(x_free**2, axis=1), np.sum(null_proj**2, axis=1), atol=1e-9)
    np.testing.assert_array_equal(obs.coords(ham)["singular_value"][1], [0.0, 0.0])


def test_order_parameter_definition_and_landau_coords(setup):
    ham, v, h = setup
    U, s, V = independent_modes(ham)
    K = s.size
    mu, s2 = (0.0, 1.0) if ham.units == "spin" else (0.5, 0.25)
    a_t, b_t = U.T @ np.array(ham.a), V.T @ np.array(ham.b)
    x_star, y_star = -b_t[:K] / s, -a_t[:K] / s
    x, y = v @ U, h @ V
    ref = ((x[:, :3] - x_star[:3]) + (y[:, :3] - y_star[:3])) / np.sqrt(2)
    obs = OrderParameter(modes=3)
    assert obs.name == "order_parameter" and obs.dims == ("mode",)
    np.testing.assert_allclose(obs.compute(ham, v, h), ref, rtol=1e-9, atol=1e-9)
    coords = obs.coords(ham)
    np.testing.assert_allclose(coords["control"][1], ham.beta * s[:3] * s2, rtol=1e-12)
    mu_x, mu_y = U.T @ np.full(N, mu), V.T @ np.full(M, mu)
    field = ((mu_x[:3] - x_star[:3]) + (mu_y[:3] - y_star[:3])) / np.sqrt(2)
    np.testing.assert_allclose(coords["field"][1], field, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------- as_observable
def my_fraction(ham, v, h):
    """fraction of active visible units"""
    return v.mean(axis=1)


class Overlap(Observable):
    name = "overlap"
    dims = ("pattern",)
    attrs = {"long_name": "overlap with stored patterns", "units": "1", "formula": r"q_p = \xi_p \cdot v / N"}

    def compute(self, ham, v, h):
        return v @ np.eye(ham.n_visible)[:, :2] / ham.n_visible

    def coords(self, ham):
        return {"pattern": ("pattern", np.arange(2), {"long_name": "stored pattern p", "units": "1"})}


def test_as_observable_accepts_instances_classes_names_functions():
    e = Energy()
    assert as_observable(e) is e
    assert isinstance(as_observable(Energy), Energy)
    assert isinstance(as_observable("free_energy"), FreeEnergy)
    assert as_observable("m_hidden").name == "m_hidden"
    f = as_observable(my_fraction)
    assert f.name == "my_fraction" and f.dims == () and f.attrs["long_name"] == "fraction of active visible units"
    ham = make_ham()
    v, h = configs(ham)
    np.testing.assert_allclose(f.compute(ham, v, h), v.mean(axis=1))
    assert isinstance(as_observable(Overlap), Overlap)
    assert [o.name for o in default_observables()] == ["energy", "free_energy", "m_visible", "m_hidden"]


def test_user_observable_lands_in_dataset(tmp_path):
    """Build a trajectory the way a sampler does and check dims/attrs survive the file."""
    ham = make_ham()
    obs = [as_observable(o) for o in (Overlap, my_fraction, ModeProjection("u", modes=2))]
    rows = {o.name: [] for o in obs}
    for step in range(3):
        v, h = configs(ham, seed=step)
        for o in obs:
            rows[o.name].append(o.compute(ham, v, h))
    ds = xr.Dataset(attrs={"units": ham.units})
    for o in obs:
        ds[o.name] = xr.Variable(("step", "chain", *o.dims), np.stack(rows[o.name]), o.attrs)
        ds = ds.assign_coords(o.coords(ham))
    bare = ds.assign_coords(pattern=("pattern", np.arange(2)))   # a coordinate nobody described
    with pytest.raises(ValueError, match="coordinate 'pattern': needs a 'long_name'"):
        tr.save(bare, tmp_path / "bare.nc", hamiltonian=ham)
    back = tr.load(tr.save(ds, tmp_path / "run.nc", hamiltonian=ham))
    assert back["overlap"].dims == ("step", "chain", "pattern")
    assert back["overlap"].attrs["formula"] == r"q_p = \xi_p \cdot v / N"
    assert back["u"].dims == ("step", "chain", "mode")
    np.testing.assert_allclose(back["singular_value"].values, ham.modes.s[:2])
    np.testing.assert_allclose(back["my_fraction"].values, np.stack(rows["my_fraction"]))


def test_bad_observables_are_refused():
    with pytest.raises(ValueError, match="kind: unknown mode projection 'z'"):
        ModeProjection("z")
    with pytest.raises(ValueError, match="unknown observable 'energie'"):
        as_observable("energie")
    with pytest.raises(TypeError, match="observables: expected an Observable"):
        as_observable(42)
    with pytest.raises(ValueError, match="cannot name the callable"):
        as_observable(lambda ham, v, h: v.sum(1))
    with pytest.raises(TypeError, match="ModeProjection needs arguments"):
        as_observable(ModeProjection)
    with pytest.raises(ValueError, match="layer"):
        Magnetization("middle")
    with pytest.raises(TypeError, match="modes"):
        ModeProjection("x", modes="all")
    with pytest.raises(ValueError, match="modes"):
        ModeProjection("x", modes=[1, 1])
    with pytest.raises(ValueError, match="modes"):
        ModeProjection("u", modes=0)
    ham = make_ham()
    v, h = configs(ham)
    with pytest.raises(ValueError, match=r"modes: a count of modes must lie in \[1, 5\]"):
        ModeProjection("u", modes=6).compute(ham, v, h)
    with pytest.raises(ValueError, match=r"modes: mode labels are 1-based and must lie in \[1, 7\], got \[8\]"):
        ModeProjection("x", modes=[8]).coords(ham)

    def two_values(ham, v, h):
        return v[:, :2]

    with pytest.raises(ValueError, match="returned shape"):
        as_observable(two_values).compute(ham, v, h)
