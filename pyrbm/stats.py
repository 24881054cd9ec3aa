"""Statistics of Markov-chain trajectories.

Every function accepts an :class:`xarray.DataArray` or a NumPy array, and never guesses
which axis is which:

* DataArrays are addressed by dimension name: ``step`` is the time dimension and
  ``chain`` (optional) the chain dimension (other names with ``step_axis=``,
  ``chain_axis=``); every other dimension is carried through and kept in the result.
  Trajectory files store ``(step, chain, ...)``; pass ``ds["energy"]``, not ``.values``.
* NumPy arrays need the axes spelled out: ``step_axis=`` (required unless the array is
  1-D, a single chain) and ``chain_axis=`` (optional; without it the other axes are
  carried through as independent series). A numpy array of two or more dimensions
  without ``step_axis`` is refused.

The estimators are the standard ones of the Monte-Carlo literature:

* :func:`autocorrelation` -- normalised autocorrelation function, by FFT.
* :func:`tau_int` -- integrated autocorrelation time with Sokal's automatic
  window (A. Sokal, *Monte Carlo Methods in Statistical Mechanics*, 1997).
* :func:`ess` -- effective sample size ``n_chains * n_steps / tau_int``.
* :func:`split_rhat` -- split-R-hat (Gelman et al., *BDA3*, 2013), by default
  rank-normalised and folded (Vehtari et al., *Bayesian Analysis* 16, 2021).
* :func:`blocking_error` -- standard error of the mean by Flyvbjerg-Petersen
  blocking (J. Chem. Phys. 91, 461, 1989) with the automatic choice of the
  blocking level of M. Jonsson (Phys. Rev. E 98, 043304, 2018).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.fft
import scipy.special
import xarray as xr

__all__ = [
    "autocorrelation",
    "tau_int",
    "ess",
    "split_rhat",
    "blocking_error",
]

STEP_DIM = "step"
CHAIN_DIM = "chain"


# ----------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------
def _as_float_array(name: str, x) -> np.ndarray:
    if isinstance(x, (xr.Dataset,)):
        raise TypeError(
            f"{name}: expected a numpy array or an xarray.DataArray, got an xarray.Dataset; "
            f"select one variable first, e.g. ds['energy']"
        )
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name}: expected an array of real numbers, got {type(x).__name__} ({exc})"
        ) from None
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected at least one dimension (the step axis), got a scalar")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name}: contains NaN or infinite values; drop or fill them before computing statistics"
        )
    return arr


def _check_steps(name: str, n: int, minimum: int) -> None:
    if n < minimum:
        raise ValueError(
            f"{name}: needs at least {minimum} steps along the step axis, got {n}; "
            f"record a longer trajectory"
        )


def _axis(arg: str, axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise TypeError(f"{arg}: expected an integer axis of the numpy array, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{arg}: axis {axis} out of range for an array with {ndim} dimensions")
    return int(axis) % ndim


def _core_dims(x: xr.DataArray, name: str, step_axis, chain_axis):
    """Names of the step and chain dims of a DataArray (chain None when there is none)."""
    step = STEP_DIM if step_axis is None else step_axis
    if not isinstance(step, str) or step not in x.dims:
        raise ValueError(
            f"{name}: DataArray has dims {x.dims}; expected a {step!r} dimension (the Markov-chain time) "
            f"and optionally {CHAIN_DIM!r}; name them with step_axis=..., chain_axis=..."
        )
    if chain_axis is None:
        chain = CHAIN_DIM if CHAIN_DIM in x.dims else None
    elif not isinstance(chain_axis, str) or chain_axis not in x.dims or chain_axis == step:
        raise ValueError(f"chain_axis: expected a dimension name of the DataArray {x.dims} other than "
                         f"{step!r}, got {chain_axis!r}")
    else:
        chain = chain_axis
    return step, chain


def _numpy_chain_step(name: str, x, step_axis, chain_axis) -> np.ndarray:
    """A numpy array moved to (..., chain, step), the axes given explicitly."""
    arr = _as_float_array(name, x)
    if step_axis is None:
        if arr.ndim != 1:
            raise ValueError(
                f"{name}: a numpy array of shape {arr.shape} has no named axes; say which is which with "
                f"step_axis= (the Markov-chain time) and chain_axis= (independent chains), e.g. "
                f"step_axis=0, chain_axis=1 for the (step, chain) layout of trajectory files, or pass the "
                f"xarray.DataArray itself (ds['energy'], not ds['energy'].values)"
            )
        step_axis = 0
    st = _axis("step_axis", step_axis, arr.ndim)
    if chain_axis is None:
        return np.moveaxis(arr, st, -1)[..., None, :]
    ch = _axis("chain_axis", chain_axis, arr.ndim)
    if ch == st:
        raise ValueError(f"chain_axis: must differ from step_axis, both are {st}")
    return np.moveaxis(arr, (ch, st), (-2, -1))


def _apply_chain_step(func, x, name: str, step_axis=None, chain_axis=None):
    """Apply ``func(arr (..., chain, step)) -> tuple of arrays (...)`` to numpy or DataArray input.

    Returns a tuple with one result per output of ``func``: numpy arrays (0-d
    results as NumPy scalars) for array input, DataArrays over the remaining
    dims (coords kept) for DataArray input.
    """
    if isinstance(x, xr.DataArray):
        step, chain = _core_dims(x, name, step_axis, chain_axis)
        core = [chain, step] if chain is not None else [step]
        data = x.transpose(..., *core)
        arr = _as_float_array(name, data.values)
        if len(core) == 1:
            arr = arr[..., None, :]
        outs = func(arr)
        other = [d for d in data.dims if d not in core]
        coords = {k: v for k, v in x.coords.items() if set(v.dims) <= set(other)}
        return tuple(xr.DataArray(o, dims=other, coords=coords, name=x.name) for o in outs)
    arr = _numpy_chain_step(name, x, step_axis, chain_axis)
    outs = func(arr)
    return tuple(o[()] if np.ndim(o) == 0 else o for o in outs)


def _check_c(c) -> float:
    if isinstance(c, bool) or not isinstance(c, Real) or not np.isfinite(c) or c <= 0:
        raise ValueError(f"c: expected a positive finite number (Sokal window factor, typically 5), got {c!r}")
    return float(c)


# ----------------------------------------------------------------------------
# autocorrelation
# ----------------------------------------------------------------------------
def _autocov(arr: np.ndarray) -> np.ndarray:
    """Autocovariance along the last axis, normalised by n (biased estimator)."""
    n = arr.shape[-1]
    xc = arr - arr.mean(axis=-1, keepdims=True)
    nfft = scipy.fft.next_fast_len(2 * n, real=True)
    f = scipy.fft.rfft(xc, n=nfft, axis=-1)
    acov = scipy.fft.irfft(f * np.conj(f), n=nfft, axis=-1)[..., :n]
    return acov / n


def autocorrelation(x, *, step_axis: int | str | None = None):
    r"""Normalised autocorrelation function, computed by FFT.

    .. math::

        \rho(t) = \frac{\sum_{i=0}^{n-1-t} (x_i - \bar x)(x_{i+t} - \bar x)}
                       {\sum_{i=0}^{n-1} (x_i - \bar x)^2}, \qquad t = 0, \dots, n-1

    (the standard biased estimator, positive semi-definite; zero-padded FFT, so
    there is no circular wrap-around).

    Parameters
    ----------
    x : array_like or xarray.DataArray
        Time series. Any shape; the autocorrelation is taken along the step axis
        independently for every other index (no averaging over chains).
    step_axis : int or str, optional
        Time axis: for a DataArray a dimension name (default ``"step"``); for a numpy
        array an integer, required unless the array is 1-D.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Same shape as ``x``; ``rho[..., 0] == 1``. A constant series gives NaN.
    """
    if isinstance(x, xr.DataArray):
        dim, _ = _core_dims(x, "x", step_axis, None)
        _as_float_array("x", x.values)
        _check_steps("x", x.sizes[dim], 2)
        out = xr.apply_ufunc(
            lambda a: autocorrelation(a, step_axis=-1),
            x,
            input_core_dims=[[dim]],
            output_core_dims=[[dim]],
        )
        out.attrs = {"long_name": "normalised autocorrelation", "units": "1"}
        return out.transpose(*x.dims)
    arr = _as_float_array("x", x)
    if step_axis is None and arr.ndim != 1:
        _numpy_chain_step("x", arr, None, None)  # raises: the axes must be named
    axis = _axis("step_axis", 0 if step_axis is None else step_axis, arr.ndim)
    arr = np.moveaxis(arr, axis, -1)
    _check_steps("x", arr.shape[-1], 2)
    acov = _autocov(arr)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = acov / acov[..., :1]
    return np.moveaxis(rho, -1, axis)


# ----------------------------------------------------------------------------
# integrated autocorrelation time, ESS
# ----------------------------------------------------------------------------
def _tau_core(arr: np.ndarray, c: float):
    """arr (..., chain, step) -> tau (...), window (...), error (...)."""
    n_chains, n = arr.shape[-2], arr.shape[-1]
    acov = _autocov(arr).mean(axis=-2)  # average over chains, (..., n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = acov / acov[..., :1]
    taus = 2.0 * np.cumsum(rho, axis=-1) - 1.0  # taus[W] = 1 + 2 sum_{t=1}^{W} rho(t)
    lags = np.arange(n)
    ok = lags >= c * taus
    found = ok.any(axis=-1)
    window = np.where(found, np.argmax(ok, axis=-1), n - 1)
    tau = np.take_along_axis(taus, window[..., None], axis=-1)[..., 0]
    const = ~np.isfinite(rho[..., 0])
    if np.any(~found & ~const):
        warnings.warn(
            f"tau_int: Sokal's window condition W >= c*tau(W) was never met in {n} steps; "
            f"the trajectory is shorter than c*tau_int and the estimate is a lower bound. "
            f"Record more steps (at least ~50 tau_int).",
            RuntimeWarning,
            stacklevel=3,
        )
    elif np.any((n < 50.0 * tau) & ~const):
        warnings.warn(
            f"tau_int: {n} steps is less than 50 tau_int (tau_int ~ {np.nanmax(tau):.3g}); "
            f"the estimate is unreliable (biased low). Record more steps.",
            RuntimeWarning,
            stacklevel=3,
        )
    n_total = n_chains * n
    err = tau * np.sqrt(2.0 * (2.0 * window + 1.0) / n_total)
    return tau, window, err


def tau_int(x, *, step_axis=None, chain_axis=None, c: float = 5.0, full_output: bool = False):
    r"""Integrated autocorrelation time with Sokal's automatic window.

    .. math::

        \tau_\mathrm{int}(W) = 1 + 2 \sum_{t=1}^{W} \bar\rho(t), \qquad
        W = \min\{\, W : W \ge c\,\tau_\mathrm{int}(W) \,\}

    where :math:`\bar\rho` is the chain-averaged autocovariance (each chain's
    own mean subtracted) normalised at lag 0. With this convention an AR(1)
    process :math:`x_t = \phi x_{t-1} + \xi_t` has
    :math:`\tau_\mathrm{int} = (1+\phi)/(1-\phi)` and uncorrelated samples have
    :math:`\tau_\mathrm{int} = 1`; the variance of the mean of ``n``
    correlated samples is :math:`\sigma^2 \tau_\mathrm{int} / n`.

    Parameters
    ----------
    x : xarray.DataArray or array_like
        Trajectory; a DataArray needs a ``step`` dim and may have a ``chain`` dim.
    step_axis, chain_axis : int or str, optional
        Which axis is the Markov-chain time and which enumerates chains: dimension
        names for a DataArray (default ``"step"`` and ``"chain"`` if present), integers
        for a numpy array (``step_axis`` required unless 1-D; without ``chain_axis`` the
        other axes are independent series).
    c : float, default 5.0
        Window factor (Sokal recommends 4 to 10).
    full_output : bool, default False
        Also return the window ``W`` and Sokal's statistical error
        :math:`\delta\tau \approx \tau \sqrt{2(2W+1)/(n_\mathrm{chains} n_\mathrm{steps})}`.

    Returns
    -------
    tau : float, ndarray (...) or DataArray (remaining dims)
        In units of recorded steps.
    window, error : same type as ``tau``
        Only with ``full_output=True``.

    Warns
    -----
    RuntimeWarning
        When the trajectory is shorter than 50 tau_int or the window condition
        is never met: the estimate is then unreliable.
    """
    c = _check_c(c)

    def core(arr):
        _check_steps("x", arr.shape[-1], 4)
        return _tau_core(arr, c)

    tau, window, err = _apply_chain_step(core, x, "x", step_axis, chain_axis)
    if isinstance(tau, xr.DataArray):
        tau = tau.rename("tau_int").assign_attrs(long_name="integrated autocorrelation time", units="steps")
        window = window.rename("window").assign_attrs(long_name="Sokal window", units="steps")
        err = err.rename("tau_int_error").assign_attrs(long_name="error of tau_int", units="steps")
    else:
        window = np.asarray(window).astype(int)
        window = window[()] if window.ndim == 0 else window
    if full_output:
        return tau, window, err
    return tau


def ess(x, *, step_axis=None, chain_axis=None, c: float = 5.0):
    r"""Effective sample size.

    .. math:: n_\mathrm{eff} = \frac{n_\mathrm{chains}\, n_\mathrm{steps}}{\tau_\mathrm{int}}

    with :math:`\tau_\mathrm{int}` from :func:`tau_int` (chain-averaged
    autocorrelation, Sokal window ``c``).

    Parameters
    ----------
    x : xarray.DataArray or array_like
        Trajectory (``step`` and optional ``chain`` dims for a DataArray).
    step_axis, chain_axis : int or str, optional
        Which axis is the Markov-chain time and which enumerates chains: dimension
        names for a DataArray (default ``"step"`` and ``"chain"`` if present), integers
        for a numpy array (``step_axis`` required unless 1-D; without ``chain_axis`` the
        other axes are independent series).
    c : float, default 5.0
        Sokal window factor.

    Returns
    -------
    float, ndarray (...) or DataArray (remaining dims)
        Number of effectively independent samples.
    """
    c = _check_c(c)

    def core(arr):
        _check_steps("x", arr.shape[-1], 4)
        tau = _tau_core(arr, c)[0]
        return (arr.shape[-2] * arr.shape[-1] / tau,)

    (out,) = _apply_chain_step(core, x, "x", step_axis, chain_axis)
    if isinstance(out, xr.DataArray):
        out = out.rename("ess").assign_attrs(long_name="effective sample size", units="1")
    return out


# ----------------------------------------------------------------------------
# split R-hat
# ----------------------------------------------------------------------------
def _split_chains(arr: np.ndarray) -> np.ndarray:
    """(..., m, n) -> (..., 2m, n//2); the middle draw is dropped when n is odd."""
    n = arr.shape[-1]
    half = n // 2
    return np.concatenate([arr[..., :half], arr[..., n - half:]], axis=-2)


def _rhat_basic(z: np.ndarray) -> np.ndarray:
    n = z.shape[-1]
    chain_mean = z.mean(axis=-1)
    w = z.var(axis=-1, ddof=1).mean(axis=-1)
    b_over_n = chain_mean.var(axis=-1, ddof=1)
    var_plus = (n - 1) / n * w + b_over_n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(var_plus / w)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties given their average rank; a row holding a NaN is all NaN."""
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    n = x.shape[-1]
    new = np.ones(xs.shape, dtype=bool)
    new[..., 1:] = xs[..., 1:] != xs[..., :-1]
    group = np.cumsum(new, axis=-1) - 1                       # tie group of each sorted position
    pos = np.broadcast_to(np.arange(n, dtype=np.float64), xs.shape)
    first = np.maximum.accumulate(np.where(new, pos, 0.0), axis=-1)   # first position of the group
    flat_group = group.reshape(-1, n) + n * np.arange(group.size // n)[:, None]
    last = np.zeros(flat_group.size)
    np.maximum.at(last, flat_group.ravel(), pos.reshape(-1))
    avg = (first + last[flat_group].reshape(xs.shape)) / 2.0 + 1.0
    ranks = np.empty(x.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, avg, axis=-1)
    return np.where(np.isnan(x).any(axis=-1, keepdims=True), np.nan, ranks)


def _z_scale(z: np.ndarray) -> np.ndarray:
    """Rank-normalise over all chains and draws (Blom offsets), then probit."""
    shape = z.shape
    flat = z.reshape(*shape[:-2], shape[-2] * shape[-1])
    ranks = _average_ranks(flat)
    s = flat.shape[-1]
    return scipy.special.ndtri((ranks - 0.375) / (s + 0.25)).reshape(shape)


def split_rhat(x, *, step_axis=None, chain_axis=None, rank_normalize: bool = True):
    r"""Split potential scale reduction factor :math:`\hat R`.

    Each of the ``m`` chains is split into halves of ``n = n_steps // 2``
    draws (the middle draw is dropped when ``n_steps`` is odd), giving ``2m``
    chains; then, with :math:`\bar z_j` and :math:`s_j^2` the mean and
    (ddof = 1) variance of split chain ``j``,

    .. math::

        W = \frac{1}{2m}\sum_j s_j^2, \qquad
        \frac{B}{n} = \mathrm{Var}_j(\bar z_j), \qquad
        \hat R = \sqrt{\frac{\frac{n-1}{n} W + \frac{B}{n}}{W}}

    (Gelman et al., BDA3). With ``rank_normalize=True`` (default) this is the
    rank-normalised R-hat of Vehtari et al. (2021): ``z`` are the normal
    scores :math:`\Phi^{-1}((r - 3/8)/(S + 1/4))` of the pooled ranks ``r`` of
    the ``S`` draws, and the result is the larger of the values for ``x`` and
    for the folded draws :math:`|x - \mathrm{median}(x)|` (which detects
    differences in scale). With ``rank_normalize=False`` it is the classic
    split-R-hat of the raw draws.

    Parameters
    ----------
    x : xarray.DataArray or array_like
        Draws (``chain`` and ``step`` dims for a DataArray). Needs at least 4 steps.
    step_axis, chain_axis : int or str, optional
        Which axis is the Markov-chain time and which enumerates chains: dimension
        names for a DataArray (default ``"step"`` and ``"chain"`` if present), integers
        for a numpy array (``step_axis`` required unless 1-D; without ``chain_axis`` the
        other axes are independent series).
    rank_normalize : bool, default True
        Rank-normalised and folded (Vehtari et al. 2021) or classic split-R-hat.

    Returns
    -------
    float, ndarray (...) or DataArray (remaining dims)
        :math:`\hat R \ge 1` approximately; values above 1.01 flag chains that
        have not mixed. NaN if every draw is identical.
    """
    if not isinstance(rank_normalize, (bool, np.bool_)):
        raise TypeError(f"rank_normalize: expected True or False, got {rank_normalize!r}")

    def core(arr):
        _check_steps("x", arr.shape[-1], 4)
        if not rank_normalize:
            return (_rhat_basic(_split_chains(arr)),)
        split = _split_chains(arr)
        bulk = _rhat_basic(_z_scale(split))
        flat = arr.reshape(*arr.shape[:-2], -1)
        med = np.median(flat, axis=-1)[..., None, None]
        tail = _rhat_basic(_z_scale(_split_chains(np.abs(arr - med))))
        return (np.fmax(bulk, tail),)

    (out,) = _apply_chain_step(core, x, "x", step_axis, chain_axis)
    if isinstance(out, xr.DataArray):
        out = out.rename("rhat").assign_attrs(long_name="split R-hat", units="1")
    return out


# ----------------------------------------------------------------------------
# blocking
# ----------------------------------------------------------------------------
def _blocking_core(arr: np.ndarray, alpha: float):
    """arr (..., chain, n) -> variance of each chain's mean (..., chain), chosen level (...)."""
    n_chains, n = arr.shape[-2], arr.shape[-1]
    d = int(np.floor(np.log2(n)))  # number of levels with at least 2 points
    s2 = []
    gam = []
    nk = []
    y = arr
    for _ in range(d):
        m = y.shape[-1]
        yc = y - y.mean(axis=-1, keepdims=True)
        s2.append((yc * yc).mean(axis=-1))
        gam.append((yc[..., :-1] * yc[..., 1:]).sum(axis=-1) / m)
        nk.append(m)
        m2 = m - (m % 2)
        y = 0.5 * (y[..., 0:m2:2] + y[..., 1:m2:2])
    s2 = np.stack(s2, axis=-1)  # (..., chain, d)
    gam = np.stack(gam, axis=-1)
    nk = np.asarray(nk, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(s2 > 0, nk * (gam / s2) ** 2, 0.0).sum(axis=-2)  # pooled over chains
    m_stat = np.cumsum(terms[..., ::-1], axis=-1)[..., ::-1]  # M_j = sum_{k>=j} terms_k
    dof = n_chains * (d - np.arange(d))
    q = scipy.special.chdtri(dof, alpha)   # the chi-square quantile at 1 - alpha
    ok = m_stat < q
    found = ok.any(axis=-1)
    level = np.where(found, np.argmax(ok, axis=-1), d - 1)
    if np.any(~found):
        warnings.warn(
            f"blocking_error: no blocking level passed the plateau test with {n} steps; "
            f"the error is taken from the deepest level and is unreliable. Record more steps.",
            RuntimeWarning,
            stacklevel=3,
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        rho1 = np.where(s2 > 0, gam / s2, 0.0)
    # lag-1 correction: once blocks are longer than the correlation time only the
    # nearest-neighbour correlation of block means survives (exact for AR(1) to O(phi^b))
    var_mean = s2 / (nk - 1.0) * np.maximum(1.0 + 2.0 * rho1 * (1.0 - 1.0 / nk), 0.0)
    idx = np.broadcast_to(level[..., None, None], var_mean.shape[:-1] + (1,))
    return np.take_along_axis(var_mean, idx, axis=-1)[..., 0], level


def blocking_error(x, *, step_axis=None, chain_axis=None, alpha: float = 0.01):
    r"""Standard error of the mean by Flyvbjerg-Petersen blocking.

    Each chain is repeatedly coarse-grained, :math:`x'_i = (x_{2i} + x_{2i+1})/2`
    (the last point is dropped when the length is odd), giving levels
    :math:`k = 0, \dots, d-1` with :math:`n_k` points, variance
    :math:`s_k^2` (ddof = 0) and lag-1 autocovariance :math:`\gamma_k`.
    The level is chosen automatically (Jonsson 2018) as the first ``j`` with

    .. math::

        M_j = \sum_{k=j}^{d-1} n_k \left(\frac{\gamma_k}{s_k^2}\right)^2
              < \chi^2_{d-j}(1-\alpha),

    with the test statistic pooled over chains (``n_chains (d-j)`` degrees of
    freedom), and the variance of chain ``c``'s mean is taken at that level as

    .. math::

        \sigma^2_c = \frac{s_{j,c}^2}{n_j - 1}
            \left(1 + 2\,\frac{\gamma_{j,c}}{s_{j,c}^2}\,\frac{n_j - 1}{n_j}\right),

    i.e. Flyvbjerg-Petersen's :math:`s_j^2/(n_j-1)` with the surviving
    nearest-neighbour correlation of block means added back (once blocks are
    longer than the correlation time only that one survives; without it the
    automatically chosen level underestimates the error by several per cent).
    For several chains (independent, equal length) the standard error of the
    grand mean is

    .. math::

        \mathrm{SE}(\bar x) = \frac{1}{n_\mathrm{chains}} \sqrt{\sum_c \sigma^2_c} .

    Parameters
    ----------
    x : xarray.DataArray or array_like
        Trajectory (``step`` and optional ``chain`` dims for a DataArray). Needs
        at least 16 steps; the method is reliable for ``n_steps`` well above
        ``100 tau_int``.
    step_axis, chain_axis : int or str, optional
        Which axis is the Markov-chain time and which enumerates chains: dimension
        names for a DataArray (default ``"step"`` and ``"chain"`` if present), integers
        for a numpy array (``step_axis`` required unless 1-D; without ``chain_axis`` the
        other axes are independent series).
    alpha : float, default 0.01
        Significance level of the plateau test.

    Returns
    -------
    float, ndarray (...) or DataArray (remaining dims)
        Standard error of the mean over all chains and steps, in the units of ``x``.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a significance level strictly between 0 and 1, got {alpha!r}")

    def core(arr):
        _check_steps("x", arr.shape[-1], 16)
        var_mean, _ = _blocking_core(arr, float(alpha))
        return (np.sqrt(var_mean.sum(axis=-1)) / arr.shape[-2],)

    (out,) = _apply_chain_step(core, x, "x", step_axis, chain_axis)
    if isinstance(out, xr.DataArray):
        out = out.rename("blocking_error").assign_attrs(
            long_name="standard error of the mean (blocking)", units=x.attrs.get("units", "")
        )
    return out
