"""Cython kernels of cnnprop. Private: call the public functions of cnnprop instead.

Only the layer modules (conv, pool, activation, affine) import from here; they
validate every argument first, because the kernels run without bounds checks.
"""
