"""Numba kernels: the innermost loops of pyrbm.

Contract (checked by ``tests/test_layering.py``):

* modules here import only ``numpy``, ``numba``, ``math`` and each other, never the rest
  of pyrbm or another library, so they can be compiled, cached and tested on their own;
* code outside this package calls only their public (non-underscore) names, listed in
  each module's ``__all__``; private helpers may change without notice;
* arguments are arrays, scalars and the named tuples the modules define (for example
  :class:`pyrbm._kernels.training.Hyper`), never Python objects of higher layers.
"""
