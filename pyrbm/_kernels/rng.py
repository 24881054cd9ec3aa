"""Per-chain counter-based random streams.

Every chain ``c`` owns one row of a ``uint64`` state array ``streams`` of shape
``(n_chains, 4)``:

======  =====================================================================
column  meaning
======  =====================================================================
0       key: the stream's offset, derived from ``(seed, c)``
1       gamma: the stream's odd increment, derived from ``(seed, c)``
2       counter: how many 64-bit words the stream has produced so far
3       reserved (0)
======  =====================================================================

Word number ``n`` of stream ``c`` is

.. math::

    r_{c,n} = \\mathrm{mix}(\\mathrm{key}_c + n\\,\\gamma_c) \\bmod 2^{64},

with ``mix`` the NASAM bijective 64-bit mixer (two multiplications, rotations and
xor-shifts; it passes PractRand on plain counters).  The key and gamma come from
SplitMix64 applied to ``(seed, c)``; gamma is odd and has its bit transitions
balanced as in SplitMix64's ``mixGamma``.  Because a word depends only on
``(seed, c, n)``, a kernel may draw the words of one chain in any order (the Gibbs
kernels evaluate a whole row at once with SIMD instructions), and results never
depend on the number of threads, the split of chains among them, or on whether a
run is done in one call or continued from its returned state.

Conversions:

* float32 uniforms take 23 bits: :math:`u = (2k+1)\\,2^{-24}` with
  :math:`k \\in [0, 2^{23})`, so :math:`u \\in [2^{-24}, 1-2^{-24}]`, exact in float32;
  one 64-bit word gives two of them.
* float64 uniforms take 52 bits: :math:`u = (2k+1)\\,2^{-53}`, :math:`u\\in(0,1)`.
* normals: Box-Muller, two float64 uniforms give two independent N(0, 1) draws.

This module imports only numpy, numba and math.
"""

import math

import numba
import numpy as np

__all__ = [
    "make_streams",
    "mix64",
    "splitmix64",
    "word",
    "next_u64",
    "row_start",
    "uniform",
    "uniform32",
    "normal",
    "u64_to_unit64",
    "u32_to_unit32",
    "unit32_pair",
    "STREAM_WIDTH",
]

STREAM_WIDTH = 4

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SM1 = np.uint64(0xBF58476D1CE4E5B9)
_SM2 = np.uint64(0x94D049BB133111EB)
_NM1 = np.uint64(0x9E6C63D0676A9A99)
_NM2 = np.uint64(0x9E6D62D06F6A9A9B)
_AAAA = np.uint64(0xAAAAAAAAAAAAAAAA)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)

_S1 = np.uint64(1)
_S9 = np.uint64(9)
_S12 = np.uint64(12)
_S17 = np.uint64(17)
_S23 = np.uint64(23)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_S39 = np.uint64(39)
_S41 = np.uint64(41)
_S47 = np.uint64(47)
_S51 = np.uint64(51)

# seed mixing constant so that seed 0 does not start from the all-zero SplitMix state
_SEED_SALT = np.uint64(0x6A09E667F3BCC909)


@numba.njit(inline="always", cache=True)
def splitmix64(z):
    """SplitMix64 finaliser (Stafford variant 13) of a uint64 ``z``."""
    z = (z ^ (z >> _S30)) * _SM1
    z = (z ^ (z >> _S27)) * _SM2
    return z ^ (z >> _S31)


@numba.njit(inline="always", cache=True)
def mix64(x):
    """NASAM bijective mixer of a uint64 ``x`` (Evensen 2020)."""
    x ^= ((x >> _S25) | (x << _S39)) ^ ((x >> _S47) | (x << _S17))
    x *= _NM1
    x ^= (x >> _S23) ^ (x >> _S51)
    x *= _NM2
    x ^= (x >> _S23) ^ (x >> _S51)
    return x


@numba.njit(inline="always", cache=True)
def word(key, gamma, n):
    """Word ``n`` of the stream with ``key`` and ``gamma`` (all uint64)."""
    return mix64(key + n * gamma)


@numba.njit(cache=True)
def _popcount64(x):
    c = 0
    while x != 0:
        x &= x - _ONE
        c += 1
    return c


@numba.njit(cache=True)
def _make_streams(seed, n_chains):
    out = np.zeros((n_chains, STREAM_WIDTH), dtype=np.uint64)
    base = splitmix64(seed ^ _SEED_SALT)
    for c in range(n_chains):
        i = np.uint64(c)
        key = splitmix64(base + (np.uint64(2) * i + _ONE) * _GOLDEN)
        gamma = splitmix64(base + (np.uint64(2) * i + np.uint64(2)) * _GOLDEN) | _ONE
        # SplitMix64 mixGamma: avoid increments with too few bit transitions
        if _popcount64(gamma ^ (gamma >> _S1)) < 24:
            gamma ^= _AAAA
        out[c, 0] = key
        out[c, 1] = gamma
        out[c, 2] = np.uint64(0)
        out[c, 3] = np.uint64(0)
    return out


def make_streams(seed, n_chains):
    """Independent random streams for ``n_chains`` chains from one integer seed.

    Parameters
    ----------
    seed : int
        Non-negative integer below :math:`2^{64}`.
    n_chains : int
        Number of chains (rows), >= 0.

    Returns
    -------
    streams : ndarray of uint64, shape (n_chains, 4)
        Row ``c`` is the state of chain ``c``'s stream (key, gamma, counter=0, 0).
        It depends only on ``(seed, c)``: the first ``k`` rows for ``n_chains=k`` equal
        the first ``k`` rows for any larger ``n_chains``.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed: expected a non-negative integer, got {type(seed).__name__}; "
            "pass e.g. seed=0")
    seed = int(seed)
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed}")
    if isinstance(n_chains, (bool, np.bool_)) or not isinstance(n_chains, (int, np.integer)):
        raise TypeError(f"n_chains: expected an integer, got {type(n_chains).__name__}")
    n_chains = int(n_chains)
    if n_chains < 0:
        raise ValueError(f"n_chains: expected an integer >= 0, got {n_chains}")
    return _make_streams(np.uint64(seed), n_chains)


@numba.njit(inline="always", cache=True)
def u32_to_unit32(k32):
    """float32 uniform in [2^-24, 1-2^-24] from the low 32 bits of a uint64 ``k32``."""
    k = np.int32((k32 & _LOW32) >> _S9)
    return np.float32(2 * k + 1) * np.float32(5.9604644775390625e-08)


@numba.njit(inline="always", cache=True)
def unit32_pair(r):
    """Two float32 uniforms from one uint64 ``r``: from its low and its high 32 bits."""
    return u32_to_unit32(r), u32_to_unit32(r >> _S32)


@numba.njit(inline="always", cache=True)
def u64_to_unit64(r):
    """float64 uniform in (0, 1) from the top 52 bits of a uint64 ``r``."""
    k = np.int64(r >> _S12)
    return np.float64(2 * k + 1) * 1.1102230246251565e-16


@numba.njit(inline="always", cache=True)
def next_u64(state, c):
    """Next 64-bit word of chain ``c``'s stream; advances ``state[c, 2]`` by one."""
    n = state[c, 2]
    state[c, 2] = n + _ONE
    return mix64(state[c, 0] + n * state[c, 1])


@numba.njit(inline="always", cache=True)
def row_start(state, c):
    """``(start, gamma, n)``: chain ``c``'s counter ``n`` and ``start = key + n gamma``.

    Word ``n + j`` of the stream is ``mix64(start + j * gamma)``; the state is not advanced.
    """
    gamma = state[c, 1]
    n = state[c, 2]
    return state[c, 0] + n * gamma, gamma, n


@numba.njit(inline="always", cache=True)
def uniform(state, c):
    """float64 uniform in (0, 1) from chain ``c``'s stream (one word)."""
    return u64_to_unit64(next_u64(state, c))


@numba.njit(inline="always", cache=True)
def uniform32(state, c):
    """float32 uniform in (0, 1) from chain ``c``'s stream (one word)."""
    return u32_to_unit32(next_u64(state, c) >> _S32)


@numba.njit(inline="always", cache=True)
def normal(state, c):
    """One N(0, 1) float64 draw from chain ``c``'s stream (Box-Muller, two words)."""
    u1 = uniform(state, c)
    u2 = uniform(state, c)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
