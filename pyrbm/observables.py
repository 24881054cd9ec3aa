r"""Measurements made on the chains during sampling.

An :class:`Observable` turns the current configurations of all chains into
one row of a trajectory variable:

* ``compute(ham, v, h)`` with ``v`` (n_chains, N) and ``h`` (n_chains, M)
  float arrays in the Hamiltonian's units returns an array
  ``(n_chains, *extra)``;
* ``dims`` names the extra axes (the sampler prepends ``chain`` and adds ``step``);
* ``coords(ham)`` gives the coordinates of the extra axes;
* ``name`` becomes the variable name and ``attrs`` (``long_name``, ``units``,
  ``formula`` in LaTeX) its attributes.

Built-ins: :class:`Energy`, :class:`FreeEnergy`, :class:`Magnetization`,
:class:`ModeProjection` (``x``, ``y``, ``u``, ``w``) and :class:`OrderParameter`.
Any function ``f(ham, v, h) -> (n_chains,)`` is accepted too (see
:func:`as_observable`) and named after itself.
"""

from __future__ import annotations

import inspect
import keyword

import numpy as np

from ._checks import check_modes

__all__ = [
    "Observable",
    "Energy",
    "FreeEnergy",
    "Magnetization",
    "ModeProjection",
    "OrderParameter",
    "as_observable",
    "default_observables",
]


class Observable:
    """Base class of a measurement on the chains.

    Subclasses set ``name``, ``dims`` and ``attrs`` and implement
    :meth:`compute` (and :meth:`coords` when ``dims`` is not empty).

    Attributes
    ----------
    name : str
        Variable name in the trajectory (a valid identifier).
    dims : tuple of str
        Extra dimensions beyond ``("chain",)``; ``()`` for one number per chain.
    attrs : dict
        ``long_name``, ``units`` and ``formula`` (LaTeX) of the variable; flat
        str/int/float values only (netCDF attributes).
    """

    name: str = "observable"
    dims: tuple = ()
    attrs: dict = {}

    def compute(self, ham, v: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Measure every chain.

        Parameters
        ----------
        ham : pyrbm.Hamiltonian
            The model being sampled.
        v : ndarray, shape (n_chains, N)
            Visible configurations (float, in ``ham.units``).
        h : ndarray, shape (n_chains, M)
            Hidden configurations (float, in ``ham.units``).

        Returns
        -------
        ndarray, shape (n_chains, *extra)
            ``extra`` are the sizes of :attr:`dims`.
        """
        raise NotImplementedError(f"{type(self).__name__}.compute is not implemented")

    def coords(self, ham) -> dict:
        """Coordinates of the extra dims, ``{name: values or (dims, values)}``."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dims={self.dims!r})"


# ----------------------------------------------------------------------------
# scalar built-ins
# ----------------------------------------------------------------------------
class Energy(Observable):
    r"""Energy of the joint configuration.

    .. math:: E(v, h) = -a^\top v - b^\top h - v^\top W h

    Shape (n_chains,), in the energy units of the parameters.
    """

    name = "energy"
    dims = ()
    attrs = {
        "long_name": "energy E(v, h)",
        "units": "1",
        "description": "energy of the joint configuration (in units of k_B T at beta = 1)",
        "formula": r"E(v,h) = -a^\top v - b^\top h - v^\top W h",
    }

    def compute(self, ham, v, h):
        return ham.energy(v, h)


class FreeEnergy(Observable):
    r"""Free energy of the visible configuration, hidden layer summed out.

    .. math:: F(v) = -a^\top v - \frac{1}{\beta}\sum_j \ln\left(1 + e^{\beta(b_j + (W^\top v)_j)}\right)

    in binary units (spin units: :math:`\ln 2\cosh` instead of softplus).
    Shape (n_chains,).
    """

    name = "free_energy"
    dims = ()
    attrs = {
        "long_name": "free energy F(v)",
        "units": "1",
        "description": "free energy of the visible configuration, hidden layer summed out "
                       "(in units of k_B T at beta = 1)",
        "formula": r"F(v) = -a^\top v - \beta^{-1} \sum_j \ln(1 + e^{\beta (b_j + (W^\top v)_j)})",
    }

    def compute(self, ham, v, h):
        return ham.free_energy(v)


class Magnetization(Observable):
    r"""Mean activity of one layer.

    .. math:: m_v = \frac{1}{N}\sum_i v_i \quad\text{or}\quad m_h = \frac{1}{M}\sum_j h_j

    In [0, 1] for binary units, [-1, 1] for spin units. Shape (n_chains,).

    Parameters
    ----------
    layer : {"visible", "hidden"}
    """

    dims = ()

    def __init__(self, layer: str = "visible"):
        if layer not in ("visible", "hidden"):
            raise ValueError(f"layer: expected 'visible' or 'hidden', got {layer!r}")
        self.layer = layer
        self.name = f"m_{layer}"
        sym = "v" if layer == "visible" else "h"
        n = "N" if layer == "visible" else "M"
        self.attrs = {
            "long_name": f"magnetization $m_{sym}$",
            "units": "1",
            "description": f"{layer} magnetization (mean activity of the {layer} layer)",
            "formula": rf"m_{sym} = \frac{{1}}{{{n}}} \sum_i {sym}_i",
        }

    def compute(self, ham, v, h):
        return np.mean(v if self.layer == "visible" else h, axis=-1, dtype=np.float64)

    def __repr__(self) -> str:
        return f"Magnetization({self.layer!r})"


# ----------------------------------------------------------------------------
# reciprocal-space built-ins
# ----------------------------------------------------------------------------
#: kind: (long_name, description, formula)
_KINDS = {
    "x": ("reciprocal coordinate x", "visible reciprocal coordinate x_k = (U^T v)_k", r"x_k = (U^\top v)_k"),
    "y": ("reciprocal coordinate y", "hidden reciprocal coordinate y_k = (V^T h)_k", r"y_k = (V^\top h)_k"),
    "u": (
        "normal coordinate u",
        "downhill (soft) normal coordinate about the saddle",
        r"u_k = \left[(x_k - x^*_k) + (y_k - y^*_k)\right]/\sqrt{2}",
    ),
    "w": (
        "normal coordinate w",
        "uphill (stiff) normal coordinate about the saddle",
        r"w_k = \left[(y_k - y^*_k) - (x_k - x^*_k)\right]/\sqrt{2}",
    ),
}


class ModeProjection(Observable):
    r"""Configurations projected on the sign-fixed SVD modes of W.

    With ``W = U Σ Vᵀ`` (``ham.modes``), ``x = Uᵀv``, ``y = Vᵀh`` and the
    saddle ``x*_k = −b̃_k/σ_k``, ``y*_k = −ã_k/σ_k`` (docs/physics.md §2):

    .. math::

        x_k = (U^\top v)_k, \quad y_k = (V^\top h)_k, \quad
        u_k = \frac{\delta x_k + \delta y_k}{\sqrt 2}, \quad
        w_k = \frac{\delta y_k - \delta x_k}{\sqrt 2}, \quad
        \delta x = x - x^*, \ \delta y = y - y^* .

    Parameters
    ----------
    kind : {"x", "y", "u", "w"}
        Which coordinate; it is also the variable name.
    modes : int or sequence of int, default 1
        The top ``modes`` modes (by descending singular value), or explicit
        1-based labels (1 is σ₁). ``x`` has N modes, ``y`` M, ``u``/``w`` K = min(N, M)
        (indices beyond K of ``x``/``y`` are the free modes, singular value 0).

    Notes
    -----
    Output shape (n_chains, n_modes), dims ``("mode",)``, coordinates ``mode``
    (the 1-based label) and ``singular_value(mode)``. Only the selected
    columns of U and V are used, so the cost is O(n_chains · N · n_modes).
    u and w need σ_k > 0 (a mode with σ_k = 0 has no saddle and gives inf/NaN).
    """

    dims = ("mode",)

    def __init__(self, kind: str, modes=1):
        if kind not in _KINDS:
            raise ValueError(
                f"kind: unknown mode projection {kind!r}; expected one of {sorted(_KINDS)} "
                f"(x = U^T v, y = V^T h, u/w = rotated coordinates about the saddle)"
            )
        self.kind = kind
        if not isinstance(modes, (int, np.integer)) or isinstance(modes, bool):
            modes = tuple(modes) if np.iterable(modes) and not isinstance(modes, (str, bytes)) else modes
        check_modes(modes, 1 << 62)  # form and labels now; their range once the model is known
        self.modes = modes
        self.name = kind
        long_name, description, formula = _KINDS[kind]
        self.attrs = {"long_name": long_name, "units": "1", "description": description, "formula": formula}

    def _index(self, ham) -> np.ndarray:
        m = ham.modes
        limit = {"x": m.U.shape[0], "y": m.V.shape[0]}.get(self.kind, m.n_modes)
        return check_modes(self.modes, limit)

    def _uw(self, ham, v, h, idx):
        m = ham.modes
        return m.uw(np.asarray(v, dtype=np.float64) @ m.U[:, idx], np.asarray(h, dtype=np.float64) @ m.V[:, idx],
                    modes=idx + 1)

    def compute(self, ham, v, h):
        idx = self._index(ham)
        m = ham.modes
        if self.kind == "x":
            return np.asarray(v, dtype=np.float64) @ m.U[:, idx]
        if self.kind == "y":
            return np.asarray(h, dtype=np.float64) @ m.V[:, idx]
        u, w = self._uw(ham, v, h, idx)
        return u if self.kind == "u" else w

    def coords(self, ham) -> dict:
        idx = self._index(ham)
        s = np.zeros(idx.size)
        paired = idx < ham.modes.n_modes
        s[paired] = ham.modes.s[idx[paired]]
        return {"mode": ("mode", idx.astype(np.int64) + 1,
                         {"long_name": "mode k", "units": "1",
                          "description": "mode label k (1 = largest singular value)"}),
                "singular_value": ("mode", s, {"long_name": r"singular value $\sigma$", "units": "1",
                                               "description": "singular value sigma_k (0 for free modes)"})}

    def __repr__(self) -> str:
        return f"ModeProjection({self.kind!r}, modes={self.modes!r})"


class OrderParameter(ModeProjection):
    r"""Landau order parameter of each paired mode: the displacement from the saddle along u.

    For chain ``c`` and paired mode ``k`` (docs/physics.md §2, §4)

    .. math::

        m_k = u_k = \frac{(x_k - x^*_k) + (y_k - y^*_k)}{\sqrt 2},
        \qquad x = U^\top v,\ y = V^\top h,\
        x^*_k = -\tilde b_k/\sigma_k,\ y^*_k = -\tilde a_k/\sigma_k,

    the coordinate along the downhill (soft) direction of the saddle, measured
    from the saddle. In the Gaussian-DOS picture its effective potential is
    :math:`\Phi(m) \approx \tfrac12(1/s^2 - \beta\sigma_k) m^2 - (\mu_{u,k}/s^2) m + g_k m^4`,
    so the chain average :math:`\langle m_k\rangle` is the order parameter,
    :math:`r_k = \beta\sigma_k s^2` the control parameter (critical at 1:
    one well below, a double well above) and

    .. math::

        \mu_{u,k} = \frac{(\mu_{x,k} - x^*_k) + (\mu_{y,k} - y^*_k)}{\sqrt 2}

    (the uniform-measure mean in the same coordinate) the symmetry-breaking
    field. Both are stored as coordinates, ``control(mode)`` and
    ``field(mode)``, next to ``mode`` and ``singular_value``; the Landau
    profile is ``ds.rbm.landau("order_parameter", mode=k)``.

    Parameters
    ----------
    modes : int or sequence of int, default 1
        The top ``modes`` paired modes or explicit 1-based labels (≤ min(N, M)).
    """

    def __init__(self, modes=1):
        super().__init__("u", modes)
        self.name = "order_parameter"
        self.attrs = {
            "long_name": "order parameter m",
            "units": "1",
            "description": "order parameter: displacement from the saddle along the downhill mode",
            "formula": r"m_k = \left[(x_k - x^*_k) + (y_k - y^*_k)\right]/\sqrt{2}",
        }

    def coords(self, ham) -> dict:
        out = super().coords(ham)
        m = ham.modes
        idx = out["mode"][1] - 1
        field = m.uw(m.mu_x[idx], m.mu_y[idx], modes=idx + 1)[0]
        out["control"] = ("mode", ham.beta * m.s[idx] * m.s2,
                          {"long_name": "control parameter $r$", "units": "1",
                           "description": "control parameter beta sigma_k s^2 (critical at 1)"})
        out["field"] = ("mode", field, {"long_name": "symmetry-breaking field", "units": "1",
                                        "description": "symmetry-breaking field: uniform-measure mean of u_k"})
        return out

    def __repr__(self) -> str:
        return f"OrderParameter(modes={self.modes!r})"


# ----------------------------------------------------------------------------
# user-defined observables
# ----------------------------------------------------------------------------
class _FunctionObservable(Observable):
    """A plain function ``f(ham, v, h) -> (n_chains,)`` as an Observable."""

    dims = ()

    def __init__(self, func, name: str):
        self.func = func
        self.name = name
        doc = inspect.getdoc(func)
        long_name = doc.splitlines()[0] if doc else name
        self.attrs = {"long_name": long_name, "units": "1"}

    def compute(self, ham, v, h):
        out = np.asarray(self.func(ham, v, h))
        n_chains = np.shape(v)[0]
        if out.shape != (n_chains,):
            raise ValueError(
                f"observable {self.name!r}: returned shape {out.shape}, expected ({n_chains},) (one value "
                f"per chain); for extra dims subclass pyrbm.observables.Observable and set dims/coords"
            )
        if out.dtype.kind not in "iufb":
            raise ValueError(f"observable {self.name!r}: returned dtype {out.dtype}, expected real numbers")
        return out

    def __repr__(self) -> str:
        return f"as_observable({self.name})"


_BY_NAME = {
    "energy": Energy,
    "free_energy": FreeEnergy,
    "m_visible": lambda: Magnetization("visible"),
    "m_hidden": lambda: Magnetization("hidden"),
}


def as_observable(obj) -> Observable:
    """Turn ``obj`` into an :class:`Observable`.

    Parameters
    ----------
    obj : Observable, Observable subclass, str or callable
        An instance is returned as is; a subclass is instantiated without
        arguments; a name picks a built-in (``"energy"``, ``"free_energy"``,
        ``"m_visible"``, ``"m_hidden"``); a function ``f(ham, v, h) ->
        (n_chains,)`` becomes an observable named ``f.__name__`` (its
        docstring's first line is the ``long_name``).

    Returns
    -------
    Observable

    Raises
    ------
    TypeError
        ``obj`` is not callable, or a subclass needs constructor arguments.
    ValueError
        Unknown built-in name, or a function without a usable name (a lambda):
        use ``def`` or subclass :class:`Observable`.
    """
    if isinstance(obj, Observable):
        _check_name(obj.name, obj)
        return obj
    if isinstance(obj, type) and issubclass(obj, Observable):
        try:
            inst = obj()
        except TypeError as exc:
            raise TypeError(
                f"observables: {obj.__name__} needs arguments ({exc}); pass an instance, e.g. {obj.__name__}(...)"
            ) from None
        _check_name(inst.name, inst)
        return inst
    if isinstance(obj, str):
        if obj not in _BY_NAME:
            raise ValueError(
                f"observables: unknown observable {obj!r}; built-in names are {sorted(_BY_NAME)}, "
                f"or pass an Observable such as ModeProjection('u', modes=5)"
            )
        return _BY_NAME[obj]()
    if isinstance(obj, type) or not callable(obj):
        raise TypeError(
            f"observables: expected an Observable, a built-in name or a function f(ham, v, h) -> (n_chains,), "
            f"got {type(obj).__name__} {obj!r}"
        )
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(
            f"observables: cannot name the callable {obj!r} (got name {name!r}); define it with "
            f"`def my_name(ham, v, h): ...` or subclass pyrbm.observables.Observable"
        )
    return _FunctionObservable(obj, name)


def _check_name(name, obj) -> None:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"observables: {obj!r} has an invalid name {name!r}; use a non-empty str without '/'")


def default_observables() -> list[Observable]:
    """``[Energy(), FreeEnergy(), Magnetization("visible"), Magnetization("hidden")]``."""
    return [Energy(), FreeEnergy(), Magnetization("visible"), Magnetization("hidden")]
