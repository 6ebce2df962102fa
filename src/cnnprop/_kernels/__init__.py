"""Cython kernels of cnnprop. Private: call the public functions of cnnprop instead.

Only the layer modules (conv, pool, activation, affine) import from here; they
validate every argument first, because the kernels run without bounds checks.
"""
import os as _os

# GNU libgomp's idle threads spin for a long while after each parallel region
# (OMP_WAIT_POLICY unset) waiting for the next one. On a machine whose cores
# other processes keep busy, those spinning threads and a descheduled team
# member made a small call on 2 threads take 30-70 ms instead of 40 us
# (docs/conventions.md, "Fork, Ctrl-C and Python threads"). Passive waiting
# (sleep at once) removes that; libgomp reads the variable once, when it is
# loaded by the first kernel module, just below. It is set for that moment
# only, unless the user chose a policy, and never leaks to child processes.
_CHOSEN = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
_set_here = not any(name in _os.environ for name in _CHOSEN)
if _set_here:
    _os.environ["OMP_WAIT_POLICY"] = "passive"
try:
    from . import _support  # noqa: E402,F401  (loads the OpenMP runtime)
finally:
    if _set_here:
        del _os.environ["OMP_WAIT_POLICY"]
del _os, _CHOSEN, _set_here
