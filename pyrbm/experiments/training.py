r"""The training point of the paper reproduction: one PCD replica and its per-epoch measurements.

For one (n_hidden, seed) the point trains through one :meth:`pyrbm.Trainer.fit` with a
record callback (a checkpoint at every epoch, so a killed point resumes bit for bit) and at
every epoch e measures, with the model of that epoch, by library calls only
(docs/physics.md §11, §13):

- :func:`pyrbm.symmetry.model_order_parameters` (origin frame): u_k, w_k of the test images
  of one digit and of Gibbs samples (``gibbs_chains`` chains after ``gibbs_sweeps`` sweeps),
  with the saddle and the uniform-measure mean, for the top ``track_modes`` modes in rank
  order, each sign fixed by the overlap with the previous epoch's vectors; the vectors are
  kept so that :func:`pyrbm.symmetry.align_replicas` can match replicas when the study is
  read back;
- every ``ais_every`` epochs (and at the first and last): the rotation-test JS divergence of
  W, and the test log-likelihood by :func:`pyrbm.test_log_likelihood`: forward AIS, reverse
  AIS from replica-exchange samples, RAISE on a subset and the rigorous lower bound on ln Z,
  each with its standard error, ESS and validity, and the interval they defend together
  (``ll_low``, ``ll_high``, ``ll_interval_valid``, ``ll_interval_reason``); exact ln Z as
  well when min(N, M) ≤ 20.

Finished epochs are files ``epoch_XXXX.nc`` in ``<scan root>/_work/M<M>_seed<seed>/`` beside the
training checkpoint; a rerun skips them. At the end the point writes ``history.nc`` (the
training history with the final model) and ``result.nc`` (measurements over epochs plus the
final model's samples for figures 4, 6, 8 and 9).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import xarray as xr

from .. import datasets
from ..freeenergy import exact_log_z, log_likelihood
from ..io.history import save_history
from ..likelihood import test_log_likelihood
from ..observables import Energy
from ..probing import gaussian_surrogate, probe_modes
from ..samplers import GibbsSampler
from ..symmetry import model_order_parameters, rotation_divergence
from ..training import Trainer, _subseed
from .results import RESULT, _a, _labels, read_dataset, write_dataset

__all__ = ["training_point"]


@functools.lru_cache(maxsize=2)
def _mnist(n_samples: int, test_images: int):

    train = np.ascontiguousarray(datasets.mnist("train")[:n_samples])
    test, labels = datasets.mnist("test", return_labels=True)
    return train, np.ascontiguousarray(test[:test_images]), labels[:test_images].copy()


def _gibbs(ham, p, seed):
    """Visible and hidden states of ``gibbs_chains`` chains after ``gibbs_sweeps`` sweeps."""

    n = int(p["gibbs_sweeps"])
    _, st = GibbsSampler(int(p["gibbs_chains"]), seed=seed).run(ham, n_steps=n, thin=n, observables=[Energy()],
                                                               progress=False)
    return np.asarray(st.v, dtype=np.float64), np.asarray(st.h, dtype=np.float64)


def _hidden(ham, v, rng):
    return (rng.random((v.shape[0], ham.n_hidden)) < ham.p_h_given_v(v)).astype(np.float64)


#: Estimators of :func:`pyrbm.test_log_likelihood` kept per epoch, as ``ll_<name>`` (nats per image).
_ESTIMATORS = {"ais": "forward AIS", "reverse_ais": "reverse AIS (replica-exchange start)",
               "raise": "RAISE on a subset of the test images", "lower_bound": "the rigorous lower bound on ln Z"}


def _budget(p: dict, n_test: int) -> dict:
    """The likelihood work of one evaluation, from the profile's AIS settings."""
    n_betas, n_chains = int(p["ais_betas"]), int(p["ais_chains"])
    return {"n_betas": (max(2, n_betas // 4), n_betas), "n_chains": n_chains, "n_sweeps": int(p["gibbs_sweeps"]),
            "n_replicas": 8, "raise_examples": min(n_test, max(10, n_chains // 2)), "raise_chains": 2,
            "raise_betas": n_betas}


def _likelihood(ham, p, test, seed, train) -> dict:
    """JS of the rotation test and the test log-likelihood verdict (:func:`pyrbm.test_log_likelihood`)."""
    out = {"js": float(rotation_divergence(ham.W, seed=seed, n_bins=int(p["js_bins"]))["js"])}
    if ham.modes.n_modes <= 20:
        out["ll_exact"] = float(log_likelihood(ham, test, log_z=exact_log_z(ham)))
    v = test_log_likelihood(ham, test, train=train, budget=_budget(p, test.shape[0]), seed=seed)
    for name in _ESTIMATORS:
        e = v.sel(estimator=name)
        out[f"ll_{name}"] = float(e.log_likelihood)
        out[f"ll_{name}_std"] = float(e.log_z_std)
        out[f"ll_{name}_ess"] = float(e.ess)
        out[f"ll_{name}_valid"] = float(bool(e.valid))
    out.update(ll_low=float(v.ll_low), ll_high=float(v.ll_high), ll_interval_valid=float(bool(v.interval_valid)),
               ll_tolerance=float(v.attrs["tolerance"]), ll_interval_reason=str(v.attrs["interval_reason"]))
    return out


_LL_VARS = {"js": _a("Jensen-Shannon divergence of the rotation test", "nats"),
            "ll_exact": _a("test log-likelihood per image with exact ln Z", "nats"),
            "ll_low": _a("lower end of the defended test log-likelihood interval", "nats per image"),
            "ll_high": _a("upper end of the defended test log-likelihood interval", "nats per image"),
            "ll_interval_valid": _a("1 when the interval holds every check of pyrbm.test_log_likelihood, else 0"),
            "ll_tolerance": _a("interval tolerance", "nats per image")}
for _name, _what in _ESTIMATORS.items():
    _LL_VARS.update({
        f"ll_{_name}": _a(f"test log-likelihood per image from {_what}", "nats"),
        f"ll_{_name}_std": _a(f"standard error of ll_{_name}", "nats"),
        f"ll_{_name}_ess": _a(f"effective sample size of {_what} (NaN where none)"),
        f"ll_{_name}_valid": _a(f"1 when {_what} is valid for this model, else 0")})


def _epoch(ham, epoch: int, p: dict, train, test, labels, reference) -> xr.Dataset:
    """The measurements of one epoch: library calls composed into one dataset."""

    nt = min(int(p["track_modes"]), ham.modes.n_modes)
    digit = test[labels == int(p["test_digit"])]
    op = model_order_parameters(ham, data=digit, modes=nt, reference=reference, match=False,
                                n_chains=int(p["gibbs_chains"]), n_steps=int(p["gibbs_sweeps"]), frame="origin",
                                seed=_subseed(p["seed"], 7, epoch))
    op = op.assign_coords(source=[f"test digit {int(p['test_digit'])}", "gibbs"])
    op["U"], op["V"] = op["U"].astype(np.float32), op["V"].astype(np.float32)
    every, last = int(p["ais_every"]), int(p["n_epochs"])
    ll = (_likelihood(ham, p, test, _subseed(p["seed"], 8, epoch), train)
          if epoch % every == 0 or epoch == last else {})
    for k, attrs in _LL_VARS.items():
        op[k] = ((), ll.get(k, np.nan), attrs)
    op["ll_interval_reason"] = ((), ll.get("ll_interval_reason", ""),
                                _a("why the interval is not defended (empty when it is, or not evaluated)"))
    op.attrs = {}
    return op.assign_coords(epoch=epoch)


def _final(ham, p: dict, test, labels) -> xr.Dataset:

    md = ham.modes
    K = md.n_modes
    seed = _subseed(p["seed"], 9)
    rng = np.random.default_rng(seed)
    vg, hg = _gibbs(ham, p, seed)
    L = _labels(p["landscape_modes"], K)
    digit = test[labels == int(p["test_digit"])]
    nu = int(p["n_uniform"])
    v_uni = (rng.random((nu, ham.n_visible)) < 0.5).astype(np.float64)
    h_uni = (rng.random((nu, ham.n_hidden)) < 0.5).astype(np.float64)
    xs, ys, eps = md.saddle()
    n_show = min(int(p["n_show"]), vg.shape[0])
    top = _labels(p["probe_top"], K)
    mid = np.arange(int(p["probe_mid"][0]), int(p["probe_mid"][1]) + 1)
    mid = mid[mid <= K]
    if mid.size < 2:
        mid = np.arange(max(1, K - 1), K + 1)
    pt = probe_modes(ham, hg[:n_show], modes=top, operation="flip", seed=seed)
    pm = probe_modes(ham, hg[:n_show], modes=mid, operation="rotate", seed=seed)
    sur = gaussian_surrogate(ham, vg, hg, n_samples=n_show, seed=seed)
    i8 = np.int8
    dv = {
        "landscape_sigma": ("lmode", md.s[L - 1], _a("singular value sigma_k", "k_B T at beta = 1")),
        "landscape_a_tilde": ("lmode", md.a_tilde[L - 1], _a("visible bias U^T a", "k_B T at beta = 1")),
        "landscape_b_tilde": ("lmode", md.b_tilde[L - 1], _a("hidden bias V^T b", "k_B T at beta = 1")),
        "landscape_x_saddle": ("lmode", xs[L - 1], _a("saddle x*_k = -b~_k/sigma_k")),
        "landscape_y_saddle": ("lmode", ys[L - 1], _a("saddle y*_k = -a~_k/sigma_k")),
        "landscape_mu_x": ("lmode", md.mu_x[L - 1], _a("uniform-measure mean of x_k")),
        "landscape_mu_y": ("lmode", md.mu_y[L - 1], _a("uniform-measure mean of y_k")),
        "x_gibbs": (("chain", "lmode"), md.x(vg)[:, L - 1], _a("x_k of the final Gibbs samples")),
        "y_gibbs": (("chain", "lmode"), md.y(hg)[:, L - 1], _a("y_k of the final Gibbs samples")),
        "x_data": (("test_sample", "lmode"), md.x(digit)[:, L - 1], _a("x_k of the test digit images")),
        "y_data": (("test_sample", "lmode"), md.y(_hidden(ham, digit, rng))[:, L - 1],
                   _a("y_k of those, h ~ p(h|v)")),
        "x_uniform": (("uniform_sample", "lmode"), md.x(v_uni)[:, L - 1], _a("x_k of uniform visible configurations")),
        "y_uniform": (("uniform_sample", "lmode"), md.y(h_uni)[:, L - 1], _a("y_k of uniform hidden configurations")),
        "v_gibbs": (("show", "visible"), vg[:n_show].astype(i8), _a("final Gibbs samples")),
        "v_surrogate": (("show", "visible"), sur["v"].values.astype(i8), _a("Gaussian-surrogate samples")),
        "v_probe_reference": (("show", "visible"), pt["v_reference"].values.astype(i8),
                              _a("visibles regenerated from y = V^T h with U")),
        "v_probe_top": (("show", "visible"), pt["v"].values.astype(i8), _a("regenerated with the top modes flipped")),
        "v_probe_mid": (("show", "visible"), pm["v"].values.astype(i8),
                        _a("regenerated with intermediate modes rotated")),
        "hamming_probe_top": ((), float(pt["hamming"].mean()), _a("mean units changed by flipping the top modes")),
        "hamming_probe_mid": ((), float(pm["hamming"].mean()),
                              _a("mean units changed by rotating the intermediate modes")),
    }
    return xr.Dataset(dv, coords={"lmode": L}, attrs={"probe_top": ",".join(map(str, top)),
                                                     "probe_mid": ",".join(map(str, mid))})


def training_point(params: dict, out) -> None:
    """Train one PCD replica and measure it at every epoch (module docstring).

    ``params``: the training profile keys (:data:`pyrbm.experiments.config.SCHEMA`) with
    scalar ``n_hidden`` and ``seed``; optionally ``work_dir`` (checkpoint, finished epochs;
    default ``_work`` beside ``out``, i.e. in the scan's root).
    """

    p = dict(params)
    M, seed = int(p["n_hidden"]), int(p["seed"])
    train, test, labels = _mnist(int(p["n_samples"]), int(p["test_images"]))
    work = Path(p.get("work_dir") or Path(out).parent / "_work") / f"M{M}_seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    ck = work / "checkpoint.npz"
    n_epochs = int(p["n_epochs"])
    trainer = Trainer(method="pcd", k=int(p["k"]), optimizer=p["optimizer"], lr=float(p["lr"]),
                      batch_size=int(p["batch_size"]), n_chains=int(p["n_chains"]), n_epochs=n_epochs, seed=seed,
                      monitor_size=int(p["monitor_size"]), progress=False)

    def path(e):
        return work / f"epoch_{e:04d}.nc"

    def measure(ham, record, state):
        e = int(round(state.epoch))
        if path(e).is_file():
            return
        reference = None
        if e > 0:
            prev = read_dataset(path(e - 1))
            reference = (prev["U"].values.astype(np.float64), prev["V"].values.astype(np.float64))
        write_dataset(_epoch(ham, e, p, train, test, labels, reference), path(e))

    ham, history = trainer.fit(train, n_hidden=M, resume=ck if ck.is_file() else None, checkpoint=ck,
                               callbacks=[measure])
    result = xr.concat([read_dataset(path(e)) for e in range(n_epochs + 1)], dim="epoch")
    final = _final(ham, p, test, labels)
    result = xr.merge([result, final])
    result.attrs = {**final.attrs, "n_visible": ham.n_visible, "n_hidden": M, "seed": seed, "n_epochs": n_epochs,
                    "likelihood": "pyrbm.test_log_likelihood",
                    **{f"config_{k}": v if not isinstance(v, list) else ",".join(map(str, v))
                       for k, v in p.items() if k not in ("work_dir",)}}
    save_history(history, Path(out) / "history.nc", hamiltonian=ham, overwrite=True)
    write_dataset(result, Path(out) / RESULT)
